"DDP: 2 CPU processes (gloo) reach the same weights as 1 process with the doubled batch."
import os, socket
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP
from detr_nb.config import get_preset
from detr_nb.model import DETR
from detr_nb.loss import SetCriterion
import detr_nb.train as T

STEPS, MICRO, ACCUM = 3, 2, 2  # per process: 3 optimizer steps of 2 micro-batches of 2 images

class ToyShapes(torch.utils.data.Dataset):
    "Fixed-size images (no padding differences between batchings) with 1..3 boxes each."
    def __len__(self): return 32
    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        n = int(torch.randint(1, 4, (1,), generator=g))
        return torch.randn(3, 64, 64, generator=g), {
            'labels': torch.randint(1, 4, (n,), generator=g),
            'boxes': torch.cat([torch.rand(n, 2, generator=g) * .5 + .25, torch.rand(n, 2, generator=g) * .3 + .1], 1)}

def _train(rank, world, micro, out):
    torch.set_num_threads(1)
    cfg = get_preset('tiny')
    torch.manual_seed(0)
    model = DETR(cfg.model)
    crit = SetCriterion.from_config(cfg.model, cfg.train)
    net = DDP(model) if world > 1 else model
    opt = T.make_optimizer(net, cfg.train)
    loader = T.make_train_loader(ToyShapes(), micro, seed=1, rank=rank, world_size=world)
    loader.batch_sampler.sampler.set_epoch(0)
    it = iter(loader)
    for _ in range(STEPS):
        mbs = [next(it) for _ in range(ACCUM)]
        T.train_step(net, crit, opt, mbs, torch.device('cpu'), clip_max_norm=0.1)
    if rank == 0: torch.save(model.state_dict(), out)

def _worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try: _train(rank, world, MICRO, out)
    finally: dist.destroy_process_group()

def test_two_processes_equal_one_with_double_batch(tmp_path):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    mp.spawn(_worker, args=(2, port, str(tmp_path / 'ddp.pt')), nprocs=2, join=True)
    _train(0, 1, 2 * MICRO, str(tmp_path / 'one.pt'))
    ddp, one = torch.load(tmp_path / 'ddp.pt', weights_only=True), torch.load(tmp_path / 'one.pt', weights_only=True)
    torch.manual_seed(0)
    init = DETR(get_preset('tiny').model).state_dict()
    moved = [k for k in one if one[k].is_floating_point() and not torch.equal(one[k], init[k])]
    assert moved, "training changed no weight"
    for k in one: torch.testing.assert_close(ddp[k], one[k], rtol=1e-4, atol=1e-5, msg=k)
