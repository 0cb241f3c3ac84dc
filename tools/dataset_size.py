"""The epochs-by-dataset-size table of the convergence chapter: the demo recipe trained for the same number of
optimizer steps on 250, 1,000 and 4,000 synthetic shapes images, evaluated with the COCO metrics every N steps:

    python tools/dataset_size.py --sizes 250,1000,4000 --seeds 0 --steps 2000 --eval-every-steps 250 \
        --out nbs/bench_results/dataset_size.json

The training sets are prefixes of one another (`make_shapes` draws each split from its own seeded generator, so the
first 250 images of the 4,000 are the 250) and the 100 validation images are the same for every size. The schedule
is the demo's, stretched over the run: as many epochs as the steps need (`steps x batch / size`, rounded up) and the
demo's warm-up length in steps (62.5), so the sizes differ only in how often each image comes back. (The training
loader drops an incomplete last batch: 250 images make 31 steps an epoch, so their 64 epochs are 1,984 steps.)
Each run's curve (`detr_nb.time_to_ap.time_to_ap_curve`) gains an `epochs` column (images seen / size).
"""
import argparse, json, math, platform, shutil, tempfile, time
from dataclasses import replace
from pathlib import Path
import torch
from detr_nb.config import apply_overrides
from detr_nb.train import demo_config, train
from detr_nb.time_to_ap import time_to_ap_curve

DEMO_IMAGES, DEMO_WARMUP_EPOCHS = 1000, 0.5
SCHEDULE_KEYS = ('train.epochs', 'train.max_steps', 'train.warmup_epochs', 'train.eval_every', 'train.eval_every_steps',
                 'train.seed')  # the demo's warm-up: half an epoch of its 1,000 images


def sized_config(data:Path, n_train:int, seed:int, steps:int, eval_every_steps:int):
    "The demo recipe on the first `n_train` shapes images, with its schedule stretched over `steps` optimizer steps."
    cfg = demo_config(data / f'shapes{n_train}', name=f'n{n_train}-s{seed}', n_train=n_train)
    epochs = math.ceil(steps * cfg.data.batch_size / n_train)
    return replace(cfg, train=replace(cfg.train, seed=seed, epochs=epochs, max_steps=steps, eval_every=epochs,
                                      eval_every_steps=eval_every_steps,
                                      warmup_epochs=DEMO_WARMUP_EPOCHS * DEMO_IMAGES / n_train))


def int_list(text:str, what:str, least:int) -> list[int]:
    "The comma-separated whole numbers of `text`, each at least `least`; `SystemExit` naming `what` otherwise."
    try:
        values = [int(v) for v in text.split(',')]
    except ValueError:
        raise SystemExit(f"--{what} {text!r}: expected comma-separated whole numbers, e.g. 250,1000,4000") from None
    if any(v < least for v in values):
        raise SystemExit(f"--{what} {text!r}: every value must be at least {least}")
    return values


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--sizes', default='250,1000,4000', help='training images of each run, comma-separated')
    p.add_argument('--seeds', default='0')
    p.add_argument('--steps', type=int, default=2000, help='optimizer steps of each run')
    p.add_argument('--eval-every-steps', type=int, default=250)
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: torch chooses)')
    p.add_argument('--data', default=None, help='parent folder of the shapes (default: a temporary one)')
    p.add_argument('--set', action='append', default=None, metavar='KEY=VALUE', dest='overrides',
                   help='config override of every run (repeatable), e.g. train.dn_groups=0; the schedule (epochs, '
                        'warm-up, steps) stays the tool\'s')
    p.add_argument('--out', default='dataset_size.json', help='results JSON (the chapter reads nbs/bench_results/)')
    a = p.parse_args()
    sizes, seeds = int_list(a.sizes, 'sizes', 8), int_list(a.seeds, 'seeds', 0)  # 8: one batch of the demo
    if a.steps < 1 or a.eval_every_steps < 1:
        raise SystemExit('--steps and --eval-every-steps must be at least 1')
    bad = [o for o in a.overrides or [] if o.split('=')[0].strip() in SCHEDULE_KEYS]
    if bad:
        raise SystemExit(f"--set {bad[0]}: the tool sets {', '.join(SCHEDULE_KEYS)} from --steps and each size")
    if a.threads:
        torch.set_num_threads(a.threads)
    work = Path(tempfile.mkdtemp(prefix='dataset_size_'))
    data = Path(a.data) if a.data else work
    out = Path(a.out)
    results = {'machine': {'cpu': platform.processor() or platform.machine(), 'threads': torch.get_num_threads(),
                           'torch': torch.__version__, 'date': time.strftime('%Y-%m-%d')},
               'command': 'python tools/dataset_size.py ' + ' '.join(
                   [f'--{k.replace("_", "-")} {v}' for k, v in vars(a).items() if v is not None and k != 'overrides']
                   + [f'--set {o}' for o in a.overrides or []]), 'runs': []}
    try:  # a bad override is refused before anything is trained
        apply_overrides(sized_config(data, sizes[0], seeds[0], a.steps, a.eval_every_steps), a.overrides)
    except ValueError as e:
        raise SystemExit(f"--set: {e}") from None
    for seed in seeds:
        for n in sizes:
            cfg = apply_overrides(sized_config(data, n, seed, a.steps, a.eval_every_steps), a.overrides)
            cfg = replace(cfg, out_dir=str(work / 'runs'))
            t0 = time.perf_counter()
            summary = train(cfg, progress=False)
            curve = time_to_ap_curve(summary['exp_dir'])
            curve['epochs'] = curve['images_seen'] / n
            run = {'n_train': n, 'overrides': a.overrides or [], 'seed': seed, 'epochs': cfg.train.epochs,
                   'stopped': summary['stopped'],
                   'wall_seconds': time.perf_counter() - t0,
                   'steps': summary['step'], 'curve': curve.to_dict('records')}
            results['runs'].append(run)
            print(json.dumps({k: v for k, v in run.items() if k != 'curve'}), run['curve'][-1:], flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=1))  # after every run: a cut-off sweep keeps what it measured
            if summary['stopped'] == 'interrupted':  # Ctrl-C / SIGTERM ends the sweep, not just this run
                raise SystemExit(f"interrupted: the runs so far are in {out}")
    shutil.rmtree(work / 'runs', ignore_errors=True)


if __name__ == '__main__':
    main()
