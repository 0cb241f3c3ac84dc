"""DETR's `scratch` preset against torchvision's Faster R-CNN, RetinaNet and FCOS (each from scratch) and the centre-box
floor on a real photo set, at equal training minutes; each (model, seed) run is merged into one JSON:

    taskset -c 1 python tools/compare_real.py --root data/raccoon --name raccoons --minutes 12 --seeds 0 \
        --models centre_box,detr,fcos --out nbs/bench_results/compare_real.json

Every model sees the same images: the training split through the same augmentation at the sizes the `scratch`
preset picks for the photos and the machine (`fit_to_dataset`), batch 8, the seed given. Training minutes exclude the
evaluations. DETR is `detr_nb.train.train` on the preset (plus any `--set` overrides, also recorded); its curve is
the evaluations the budgeted schedule plans (`train.budget_evals`), the last at the end of the budget; its kept
weights (`best.pth`) are also scored on the training photos and the test photos (`best_train_AP`, `best_val_AP`:
how well it fits what it trained on). The detectors
are `detr_nb.compare.train_detector` with torchvision's reference recipe, evaluated every `--detector-eval-every`
steps and at the end.
"""
import argparse, json, os, platform, subprocess, sys, tempfile, time
from dataclasses import replace
from pathlib import Path
import torch
from detr_nb.analysis import evaluate_checkpoint
from detr_nb.checkpoint import read_metrics
from detr_nb.coco_metrics import coco_stats
from detr_nb.compare import DETECTORS, centre_box_results, train_detector
from detr_nb.config import apply_overrides, get_preset
from detr_nb.files import atomic_write
from detr_nb.presets import fit_to_dataset
from detr_nb.train import train

MODELS = ('centre_box', 'detr') + DETECTORS


def cpu_name() -> str:
    for line in Path('/proc/cpuinfo').read_text().splitlines() if Path('/proc/cpuinfo').is_file() else []:
        if line.startswith('model name'):
            return line.split(':', 1)[1].strip()
    return platform.processor() or 'unknown CPU'


def one_category(root, name, work):
    "data overrides that read only category `name` of the COCO root `root`: filtered jsons of the images that have it."
    sets = []
    for split in ('train', 'val'):
        d = json.loads((Path(root) / 'annotations' / f'instances_{split}2017.json').read_text())
        cats = [c for c in d['categories'] if c['name'] == name]
        if not cats:
            raise SystemExit(f"--category {name!r}: {root} has no such category")
        anns = [a for a in d['annotations'] if a['category_id'] == cats[0]['id']]
        keep = {a['image_id'] for a in anns}
        out = Path(work) / f'{name}_{split}.json'
        out.write_text(json.dumps({'images': [i for i in d['images'] if i['id'] in keep], 'annotations': anns,
                                   'categories': cats}))
        sets += [f'data.{split}_images={Path(root) / f"{split}2017"}', f'data.{split}_annotations={out}']
    return sets


def base_config(root, seed, minutes, overrides, out_dir):
    "The scratch preset on `root` with the overrides, a time budget and a seed, its sizes fitted to the CPU."
    cfg = get_preset('scratch')
    cfg = replace(cfg, out_dir=str(out_dir), data=replace(cfg.data, root=str(root)),
                  train=replace(cfg.train, seed=seed, max_minutes=float(minutes)))
    return fit_to_dataset(apply_overrides(cfg, overrides), 'cpu')


def run_detr(cfg, seed):
    r = train(replace(cfg, name=f'detr_s{seed}_{time.strftime("%H%M%S")}'), resume=None, progress=False)
    m = read_metrics(r['exp_dir'])
    m = m[m['val/AP'].notna()] if 'val/AP' in m else m.iloc[:0]
    curve = [{'step': int(row['step']), 'minutes': float(row['val/train_seconds']) / 60, 'AP': float(row['val/AP']),
              'AP50': float(row['val/AP50'])} for _, row in m.iterrows()]
    fit = {}
    best = Path(r['exp_dir']) / 'model' / 'best.pth'
    if best.is_file():  # how well the kept weights fit the photos they trained on, against the test photos
        for split in ('train', 'val'):
            stats, _ = evaluate_checkpoint(best, split=split, out_dir=tempfile.mkdtemp(), figures=False, device='cpu')
            fit.update({f'best_{split}_AP': stats['AP'], f'best_{split}_AP50': stats['AP50']})
    return {'curve': curve, 'steps': int(r['step']), 'AP': curve[-1]['AP'] if curve else None,
            'AP50': curve[-1]['AP50'] if curve else None, 'stopped': r['stopped'], **fit}


def run_detector(name, cfg, minutes, every):
    r = train_detector(name, cfg, minutes=minutes, eval_every_steps=every, progress=False)
    curve = [{'step': int(c['step']), 'minutes': float(c['minutes']), 'AP': float(c['AP']), 'AP50': float(c['AP50'])}
             for c in r['curve'].to_dict('records')]
    return {'curve': curve, 'steps': int(r['steps']), 'AP': curve[-1]['AP'], 'AP50': curve[-1]['AP50'],
            'stopped': r['stopped']}


def run_centre_box(cfg):
    gt = json.loads(Path(cfg.data.split_paths('val')[1]).read_text())
    s = coco_stats(gt, centre_box_results(gt))
    return {'curve': [], 'steps': 0, 'AP': float(s['AP']), 'AP50': float(s['AP50'])}


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--root', required=True, help='the photo set: a COCO, Pascal VOC or YOLO folder')
    p.add_argument('--name', required=True, help='name of the photo set in the JSON (e.g. raccoons)')
    p.add_argument('--minutes', type=float, default=12., help='training minutes of each run (evaluations excluded)')
    p.add_argument('--seeds', default='0', help='comma-separated seeds')
    p.add_argument('--models', default=','.join(MODELS))
    p.add_argument('--set', action='append', default=[], metavar='KEY=VALUE', help="DETR config overrides")
    p.add_argument('--label', default=None, help="key of the run in the JSON (default: the model's name), e.g. to "
                                                 "keep DETR variants apart")
    p.add_argument('--detector-eval-every', type=int, default=50, help='steps between the detectors\' evaluations')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--category', default=None, help='train and score only this category of a COCO root (e.g. person)')
    p.add_argument('--out', required=True)
    a = p.parse_args()
    models = a.models.split(',')
    if a.label and len(models) != 1:
        raise SystemExit("--label names the run of one model; give one model in --models")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise SystemExit(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    try:
        seeds = [int(s) for s in a.seeds.split(',')]
    except ValueError:
        raise SystemExit(f"--seeds {a.seeds!r}: expected comma-separated integers")
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    if out.is_file():  # an --out that is not this tool's JSON is refused before any training
        try:
            json.loads(out.read_text())
        except ValueError as e:
            raise SystemExit(f"compare_real.py: error: --out {out}: not a JSON file of earlier runs ({e})")
    work = Path(tempfile.mkdtemp(prefix='compare_real_'))
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
    data_sets = one_category(a.root, a.category, work) if a.category else []
    for seed in seeds:
        cfg = base_config(a.root, seed, a.minutes, data_sets + a.set, work)
        for name in models:
            started = time.time()
            if name == 'detr':
                r = run_detr(cfg, seed)
            elif name == 'centre_box':
                r = run_centre_box(cfg)
            else:
                r = run_detector(name, cfg, a.minutes, a.detector_eval_every)
            r.update(seed=seed, minutes=a.minutes, wall_minutes=(time.time() - started) / 60, commit=commit,
                     date=time.strftime('%Y-%m-%d %H:%M %Z'), threads=a.threads,
                     machine=f"{cpu_name()}, {os.cpu_count()} cores; affinity {sorted(os.sched_getaffinity(0))}",
                     command='python ' + ' '.join(sys.argv), overrides=list(a.set) if name == 'detr' else [],
                     sizes={k: getattr(cfg.data, k) for k in ('scales', 'max_size', 'val_size')})
            print(f"{a.name} {a.label or name} seed {seed}: AP {r['AP']:.3f} AP50 {r['AP50']:.3f} "
                  f"after {r['steps']} steps", flush=True)
            record = json.loads(out.read_text()) if out.is_file() else {}  # runs of other processes kept
            key = a.label or name
            runs = [x for x in record.setdefault(a.name, {}).get(key, []) if x['seed'] != seed or
                    x['minutes'] != a.minutes]
            record[a.name][key] = sorted(runs + [r], key=lambda x: (x['minutes'], x['seed']))
            atomic_write(out, lambda tmp: tmp.write_text(json.dumps(record, indent=1)))


if __name__ == '__main__':
    try:
        main()
    except (ValueError, OSError) as e:  # a bad root, option or --out file: one line, not a traceback
        raise SystemExit(f"compare_real.py: error: {e}")
