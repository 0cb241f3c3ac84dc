"DDP: 2 CPU processes (gloo) reach the same weights as 1 process with the doubled batch."
import os, socket
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP
from dataclasses import replace
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
    cfg = replace(cfg, model=replace(cfg.model, num_classes=4))  # the toy labels are 1..3
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
    if rank == 0:
        torch.save(model.state_dict(), out)

def _worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        _train(rank, world, MICRO, out)
    finally:
        dist.destroy_process_group()

def test_two_processes_equal_one_with_double_batch(tmp_path):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(2, port, str(tmp_path / 'ddp.pt')), nprocs=2, join=True)
    _train(0, 1, 2 * MICRO, str(tmp_path / 'one.pt'))
    ddp, one = torch.load(tmp_path / 'ddp.pt', weights_only=True), torch.load(tmp_path / 'one.pt', weights_only=True)
    torch.manual_seed(0)
    init = DETR(get_preset('tiny').model, num_classes=4).state_dict()
    moved = [k for k in one if one[k].is_floating_point() and not torch.equal(one[k], init[k])]
    assert moved, "training changed no weight"
    for k in one:
        torch.testing.assert_close(ddp[k], one[k], rtol=1e-4, atol=1e-5, msg=k)


def _torchrun_train(tmp_path, *settings):
    """`torchrun --nproc_per_node 2 --no-python detr_nb train ...` on 8 shapes images (2 steps an epoch) with more
    `--set` settings; returns the finished process and the experiment folder."""
    import subprocess, sys
    from pathlib import Path
    from detr_nb.data import make_shapes
    make_shapes(tmp_path / 'shapes', n_train=8, n_val=2, seed=0, min_size=64, max_size=80)
    bin_dir = Path(sys.executable).parent
    sets = ['data.scales=[64]', 'data.max_size=80', 'data.val_size=64', 'data.crop_resize=[64]', 'data.crop_min=48',
            'data.crop_max=64', 'data.batch_size=2', f'data.root={tmp_path / "shapes"}', f'out_dir={tmp_path / "exp"}',
            'name=ddp', *settings]
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    cmd = [str(bin_dir / 'torchrun'), '--nproc_per_node', '2', '--master_addr', '127.0.0.1', '--master_port', str(port),
           '--no-python', str(bin_dir / 'detr_nb'), 'train', '--preset', 'tiny', '--no-progress']
    for s_ in sets:
        cmd += ['--set', s_]
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env), tmp_path / 'exp' / 'ddp'


@pytest.mark.slow  # torchrun and two training processes (14 s of CPU): make test-slow
def test_torchrun_launches_the_cli_train(tmp_path):
    "`torchrun --nproc_per_node 2 --no-python detr_nb train ...`: both processes train, only rank 0 writes."
    res, run = _torchrun_train(tmp_path, 'train.max_steps=2', 'train.epochs=1', 'train.eval_every=1')
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (run / 'model' / 'last.pth').is_file() and (run / 'params.yaml').is_file()
    # one writer: a second one would append to metrics.csv under the same header (every (step, tag) twice) and open
    # its own TensorBoard event file
    import csv
    rows = list(csv.DictReader((run / 'log' / 'metrics.csv').open()))
    keys = [(r['step'], r['tag']) for r in rows]
    assert rows and len(keys) == len(set(keys)), 'metrics.csv has rows written twice'
    assert len(list((run / 'log').glob('events.out.tfevents*'))) == 1
    ckpt = torch.load(run / 'model' / 'last.pth', weights_only=True)
    assert ckpt['step'] == 2  # 8 images, 2 processes x 2 images a step: max_steps reached together


@pytest.mark.slow  # torchrun and two training processes (14 s of CPU): make test-slow
def test_torchrun_time_budget_stops_every_process_after_the_same_step(tmp_path):
    """`train.max_minutes` under torchrun: the clock of rank 0 decides for both processes, so they stop after the
    same step (one that stopped alone would leave the other waiting in its gradient all-reduce) and exit 0; the
    evaluations every 2 steps run on both."""
    res, run = _torchrun_train(tmp_path, 'train.epochs=100', 'train.max_minutes=0.05', 'train.eval_every_steps=2',
                               'train.eval_every=100', 'train.monitor=val_loss')
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert res.stdout.count('stopped: time_budget') == 2, res.stdout  # one summary line per process
    step = torch.load(run / 'model' / 'last.pth', weights_only=True)['step']
    val = T.read_metrics(run).dropna(subset=['val/loss'])
    assert step >= 1 and val.step.tolist() == list(range(2, step + 1, 2)), (step, val.step.tolist())
