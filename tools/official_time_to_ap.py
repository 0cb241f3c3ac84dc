"""The reference curve of the time-to-AP chapter: the official facebookresearch/detr recipe trained on the demo's
synthetic shapes, with the tiny preset's model size, evaluated with the COCO metrics after every N epochs:

    python tools/official_time_to_ap.py --official /path/to/detr --epochs 56 \
        --out nbs/bench_results/official_time_to_ap.csv

`--official` is a checkout of facebookresearch/detr; its model, matcher, criterion, post-processing and training
epoch (`models.build_model`, `engine.train_one_epoch`) are imported from there and nothing of it is copied here.
What is the official recipe, from its `main.py` defaults: frozen batch norm, backbone stages 2-4 trained at lr 1e-5,
the rest at 1e-4, AdamW with weight decay 1e-4, gradient clipping at 0.1, step decay after 200 epochs, dropout 0.1,
matching costs 1/5/2, loss weights 1/5/2, no-object weight 0.1, auxiliary losses, no pretrained backbone (none can
be downloaded here; the detr_nb demo has none either). What is ours, so that only the recipe differs: the model size
of the tiny preset (ResNet-18, width 64, 4 heads, 2+2 layers, feed-forward 128, 10 queries; the official code has no
stride-16 ResNet-18, so its map is stride 32), the data (the demo's 1,000 + 100 shapes and its augmentation, batch 8,
through `detr_nb.data`), and the COCO scoring (`detr_nb.eval.evaluate` with the official post-processing).
`num_classes` is 20, what the official build gives every dataset that is not COCO (the shapes use labels 0-2).

The curve has the columns of `detr_nb.time_to_ap.CURVE_COLUMNS`; `minutes` is training time (evaluations
excluded), as in detr_nb's own curves, so the two can be plotted on one axis. The budget is `--epochs` (a number of
steps, which other work on a shared machine cannot shrink) or `--minutes`, whichever ends first; the JSON next to the
CSV records each epoch's seconds, so a slowed epoch shows. Without a checkout the script says
what to pass and exits with status 0.
"""
import argparse, json, random, sys, tempfile, time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parity_official import is_detr_checkout, machine, official_commit, resnets_without_pretrained  # noqa: E402
from detr_nb.data import dataset_from_config, make_loader  # noqa: E402
from detr_nb.eval import evaluate  # noqa: E402
from detr_nb.time_to_ap import CURVE_COLUMNS  # noqa: E402
from detr_nb.train import demo_config  # noqa: E402


def official_args(seed:int) -> argparse.Namespace:
    "The official `main.py` arguments: its defaults, with the tiny preset's model size."
    return argparse.Namespace(
        lr=1e-4, lr_backbone=1e-5, batch_size=8, weight_decay=1e-4, lr_drop=200, clip_max_norm=0.1,
        frozen_weights=None, backbone='resnet18', dilation=False, position_embedding='sine',
        enc_layers=2, dec_layers=2, dim_feedforward=128, hidden_dim=64, dropout=0.1, nheads=4, num_queries=10,
        pre_norm=False, masks=False, aux_loss=True, set_cost_class=1., set_cost_bbox=5., set_cost_giou=2.,
        mask_loss_coef=1., dice_loss_coef=1., bbox_loss_coef=5., giou_loss_coef=2., eos_coef=0.1,
        dataset_file='shapes', device='cpu', seed=seed)


class NestedBatches:
    "detr_nb's `(images, mask, targets)` batches as the official `(NestedTensor, targets)`, padding mask unchanged."
    def __init__(self, loader, nested_tensor): self.loader, self.nested_tensor = loader, nested_tensor
    def __len__(self): return len(self.loader)
    def __iter__(self):
        for images, mask, targets in self.loader:
            yield self.nested_tensor(images, mask), [{k: v for k, v in t.items() if k in ('boxes', 'labels')}
                                                    for t in targets]


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--official', help='a checkout of facebookresearch/detr')
    p.add_argument('--minutes', type=float, default=None, help='training-time budget (evaluations excluded)')
    p.add_argument('--epochs', type=int, default=None, help='epochs budget (125 steps each)')
    p.add_argument('--eval-every-epochs', type=int, default=2)
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: torch chooses)')
    p.add_argument('--seed', type=int, default=42, help="the official default seed")
    p.add_argument('--data', default=None, help='parent folder of the shapes (default: a temporary one)')
    p.add_argument('--out', default='official_time_to_ap.csv', help='curve CSV (the chapter reads nbs/bench_results/)')
    a = p.parse_args()
    if a.minutes is None and a.epochs is None:
        p.error('give a budget: --epochs N or --minutes M (or both: whichever ends first)')
    if (a.epochs is not None and a.epochs < 1) or (a.minutes is not None and not a.minutes > 0) \
            or a.eval_every_epochs < 1:
        p.error('--epochs and --eval-every-epochs must be at least 1, and --minutes above 0')
    if not is_detr_checkout(a.official):
        print(f"official_time_to_ap: skipped: pass --official DIR, a checkout of facebookresearch/detr "
              f"(got {a.official!r})")
        return 0
    if a.threads:
        torch.set_num_threads(a.threads)
    sys.path.insert(0, str(Path(a.official).resolve()))
    from engine import train_one_epoch
    from models import build_model
    from util.misc import NestedTensor

    cfg = demo_config(Path(a.data) if a.data else Path(tempfile.mkdtemp(prefix='official_tta_')))
    train_ds, val_ds = dataset_from_config(cfg.data, 'train'), dataset_from_config(cfg.data, 'val')
    args = official_args(a.seed)
    torch.manual_seed(a.seed), np.random.seed(a.seed), random.seed(a.seed)  # as main.py seeds
    with resnets_without_pretrained():
        model, criterion, postprocessors = build_model(args)
    param_dicts = [  # main.py's two groups
        {'params': [p for n, p in model.named_parameters() if 'backbone' not in n and p.requires_grad]},
        {'params': [p for n, p in model.named_parameters() if 'backbone' in n and p.requires_grad],
         'lr': args.lr_backbone}]
    optimizer = torch.optim.AdamW(param_dicts, lr=args.lr, weight_decay=args.weight_decay)
    lr_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, args.lr_drop)
    loader = NestedBatches(make_loader(train_ds, args.batch_size, train=True, seed=a.seed), NestedTensor)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows, seconds, epoch, epoch_seconds = [], 0., 0, []

    def spent():
        return (a.minutes is not None and seconds >= a.minutes * 60) or (a.epochs is not None and epoch >= a.epochs)
    meta = {'machine': machine(), 'threads': torch.get_num_threads(), 'torch': torch.__version__,
            'date': time.strftime('%Y-%m-%d'),
            'official_commit': official_commit(Path(a.official)), 'command': ' '.join(sys.argv),
            'minutes_budget': a.minutes, 'epochs_budget': a.epochs, 'steps_per_epoch': len(loader)}
    while not spent():
        t0 = time.perf_counter()
        train_one_epoch(model, criterion, loader, optimizer, torch.device('cpu'), epoch, args.clip_max_norm)
        lr_scheduler.step()
        epoch_seconds.append(time.perf_counter() - t0)
        seconds += epoch_seconds[-1]
        epoch += 1
        if epoch % a.eval_every_epochs == 0 or spent():
            stats = evaluate(model, val_ds, postprocess=postprocessors['bbox'], batch_size=8)
            step = epoch * len(loader)
            rows.append({'step': step, 'minutes': seconds / 60, 'images_seen': step * args.batch_size,
                         'AP': stats['AP'], 'AP50': stats['AP50']})
            pd.DataFrame(rows, columns=list(CURVE_COLUMNS)).to_csv(out, index=False)
            log = {**meta, 'epochs': epoch, 'epoch_seconds': epoch_seconds}
            out.with_suffix('.json').write_text(json.dumps(log, indent=1))
            print(f"[official] epoch {epoch} step {step} {seconds / 60:.2f} min AP50 {stats['AP50']:.4f} "
                  f"AP {stats['AP']:.4f}", file=sys.stderr, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
