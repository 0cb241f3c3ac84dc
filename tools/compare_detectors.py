"""DETR against torchvision's Faster R-CNN, RetinaNet and FCOS on the demo's synthetic shapes, for the same budget of
training minutes on one CPU thread, all scored by detr_nb's COCO evaluation:

    taskset -c 1 python tools/compare_detectors.py --minutes 8 --detr-epochs 9 \
        --eval-every detr=150,faster_rcnn=15,retinanet=40,fcos=40 --data /tmp/cmp/data \
        --out nbs/bench_results/compare.json --plot nbs/bench_results/compare.png

(the command of the chapter's run: DETR's 9 epochs and the evaluation intervals, about 7 evaluations each, were
set from a 1-minute trial's speeds; about 37 minutes of wall time in all).

DETR is `detr_nb.train.train` on `demo_config` (the demo recipe, every convergence switch on) through
`detr_nb.time_to_ap.time_to_ap`; the detectors are `detr_nb.compare.train_detector` with torchvision's reference recipe.
Every model sees the same 1000 + 100 images through the same augmentation and batch 8; training minutes exclude the
evaluations. After training: parameters, CPU latency (batch 1, the first validation image at the validation size,
1 thread) and the final COCO stats. The JSON is written when every model is done (`<out>.partial` after each one).
"""
import argparse, json, os, platform, subprocess, sys, tempfile, time
from dataclasses import replace
from pathlib import Path
import torch
from detr_nb.checkpoint import read_metrics
from detr_nb.compare import (DETECTORS, RECIPES, SGD_SETTINGS, MILESTONES, count_parameters, latency_ms,
                             to_detector_image, train_detector)
from detr_nb.config import load_config
from detr_nb.data import dataset_from_config
from detr_nb.eval import PostProcess, evaluate
from detr_nb.time_to_ap import plot_time_to_ap, time_to_ap
from detr_nb.train import build_model, demo_config

MODELS = ('detr',) + DETECTORS


def cpu_name() -> str:
    for line in Path('/proc/cpuinfo').read_text().splitlines() if Path('/proc/cpuinfo').is_file() else []:
        if line.startswith('model name'):
            return line.split(':', 1)[1].strip()
    return platform.processor() or 'unknown CPU'


def image_for_latency(cfg):
    "The first validation image after the validation transform (normalized [3,H,W]) and its (h, w)."
    val = dataset_from_config(cfg.data, 'val', keep_crowd=True)
    image, target = val[0]
    return image, target


def run_detr(cfg, minutes, eval_every, epochs, work, image, target):
    "Train the demo recipe for `minutes` and measure it; the final point is the EMA weights at the end of the budget."
    run_cfg = replace(cfg, name='detr', train=replace(cfg.train, epochs=epochs))
    curve = time_to_ap(run_cfg, minutes, eval_every, out_dir=work, progress=True)
    exp = Path(curve.attrs['exp_dir'])
    ckpt = torch.load(exp / 'model' / 'last.pth', map_location='cpu', weights_only=True)
    trained = load_config(exp / 'params.yaml')
    net = build_model(replace(trained, train=replace(trained.train, pretrained=None)))
    net.load_state_dict(ckpt['ema'] if ckpt.get('ema') is not None else ckpt['model'])
    net.eval()
    train_ds = dataset_from_config(trained.data, 'train')
    val_ds = dataset_from_config(trained.data, 'val', keep_crowd=True, categories=train_ds.categories)
    stats = evaluate(net, val_ds, batch_size=8)
    step, seconds = int(ckpt['step']), float(ckpt['train_seconds'])
    per_step = trained.data.batch_size * trained.train.accum_steps
    if curve.empty or int(curve['step'].iloc[-1]) != step:
        curve.loc[len(curve)] = {'step': step, 'minutes': seconds / 60, 'images_seen': step * per_step,
                                 'AP': float(stats['AP']), 'AP50': float(stats['AP50'])}
    rates = read_metrics(exp)['train/img_per_s'].dropna()
    post = PostProcess()
    size = torch.as_tensor(target['size'])[None]
    lat = latency_ms(lambda: post(net([image]), size))
    return {'stats': dict(stats), 'curve': curve.to_dict('records'), 'steps': step, 'train_seconds': seconds,
            'images': step * per_step, 'images_per_s': float(rates.median()), 'stopped': curve.attrs['stopped'],
            'parameters': count_parameters(net), 'latency': lat, 'eval_every_steps': eval_every,
            'recipe': f"demo_config(epochs={epochs}): AdamW lr 2e-4 (backbone 2e-4), cosine over {epochs} epochs "
                      f"with 0.5 warm-up epochs, clip 0.1, crop pretraining 150 steps (counted as training time), "
                      f"cross-attention loss, 3 query groups, EMA 0.99 (evaluated); images/s is the median of the "
                      f"logged detection steps (crop pretraining excluded)"}


def run_detector(name, cfg, minutes, eval_every, image):
    r = train_detector(name, cfg, minutes=minutes, eval_every_steps=eval_every, progress=True)
    model = r['model'].eval()
    image01 = to_detector_image(image)
    lat = latency_ms(lambda: model([image01]))
    return {'stats': dict(r['stats']), 'curve': r['curve'].to_dict('records'), 'steps': r['steps'],
            'train_seconds': r['train_seconds'], 'images': r['images'], 'images_per_s': r['images_per_s'],
            'stopped': r['stopped'], 'parameters': count_parameters(model), 'latency': lat,
            'eval_every_steps': eval_every,
            'recipe': f"SGD lr {RECIPES[name]['lr']} (batch 8), momentum {SGD_SETTINGS['momentum']}, weight decay "
                      f"{SGD_SETTINGS['weight_decay']}, linear warm-up from 1/1000 over the first epoch, x0.1 at "
                      f"{MILESTONES[0]:.3f} and {MILESTONES[1]:.3f} of the budget, no clipping"}


def parse_every(text, models):
    every = {}
    for part in text.split(','):
        name, _, n = part.partition('=')
        if name not in models or not n.isdigit() or int(n) <= 0:
            raise SystemExit(f"--eval-every {text!r}: expected name=steps pairs for {', '.join(models)}")
        every[name] = int(n)
    missing = [m for m in models if m not in every]
    if missing:
        raise SystemExit(f"--eval-every lacks {', '.join(missing)}")
    return every


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--minutes', type=float, default=8., help='training minutes of each model (evaluations excluded)')
    p.add_argument('--models', default=','.join(MODELS))
    p.add_argument('--eval-every', default='detr=100,faster_rcnn=100,retinanet=100,fcos=100',
                   help='optimizer steps between COCO evaluations, per model')
    p.add_argument('--detr-epochs', type=int, default=16, help="epochs of DETR's cosine schedule (demo: 16)")
    p.add_argument('--data', default=None, help='parent folder of the shapes (default: a temporary one)')
    p.add_argument('--out', default='compare.json')
    p.add_argument('--plot', default='compare.png')
    a = p.parse_args()
    models = a.models.split(',')
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise SystemExit(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    every = parse_every(a.eval_every, models)
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    work = Path(tempfile.mkdtemp(prefix='compare_'))
    data_parent = Path(a.data) if a.data else work
    cfg = replace(demo_config(data_parent), out_dir=str(work))
    image, target = image_for_latency(cfg)
    out = Path(a.out)
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
    record = {'command': 'python ' + ' '.join(sys.argv), 'date': time.strftime('%Y-%m-%d %H:%M %Z'),
              'machine': f"{cpu_name()}, {os.cpu_count()} cores; affinity {sorted(os.sched_getaffinity(0))}",
              'threads': torch.get_num_threads(), 'torch': torch.__version__,
              'torchvision': __import__('torchvision').__version__, 'commit': commit, 'minutes': a.minutes,
              'latency_image': list(image.shape[-2:]), 'data': 'demo_config shapes: 1000 train + 100 val, seed 0',
              'models': {}}
    for name in models:
        started = time.time()
        print(f'== {name}', flush=True)
        if name == 'detr':
            r = run_detr(cfg, a.minutes, every[name], a.detr_epochs, work, image, target)
        else:
            r = run_detector(name, cfg, a.minutes, every[name], image)
        r['wall_minutes'] = (time.time() - started) / 60
        record['models'][name] = r
        s = r['stats']
        print(f"{name}: AP {s['AP']:.3f} AP50 {s['AP50']:.3f} after {r['steps']} steps, "
              f"{r['train_seconds'] / 60:.2f} training min, {r['wall_minutes']:.1f} wall min", flush=True)
        Path(str(out) + '.partial').write_text(json.dumps(record, indent=1, default=float))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix('.tmp')
    tmp.write_text(json.dumps(record, indent=1, default=float))
    tmp.replace(out)
    Path(str(out) + '.partial').unlink(missing_ok=True)
    import pandas as pd
    plot_time_to_ap({n: pd.DataFrame(r['curve']) for n, r in record['models'].items()}, a.plot,
                    title=f"{a.minutes:g} training minutes each, 1 CPU thread, demo shapes")
    print(f'wrote {out} and {a.plot}')


if __name__ == '__main__':
    main()
