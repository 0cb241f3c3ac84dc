"""The convergence switches measured: AP50 against training time on the synthetic shapes, per setting and seed, with
the real training loop. Each setting adds switches to the one before it (a cumulative ablation), from the official
recipe on the tiny model to the full demo recipe; the `*_alone` settings add one switch each to `scratch`:

    python tools/time_to_ap.py --settings official,scratch,crops,attention,queries,ema,denoising,demo --seeds 0,1,2 \
        --steps 500 --eval-every-steps 250 --out nbs/bench_results/time_to_ap.json

Every run is `detr_nb.train.train` on `demo_config` (1000 + 100 shapes) with the setting's switches; its curve is read
from the run's log by `detr_nb.time_to_ap.time_to_ap_curve` (training minutes, evaluations excluded). `--set
KEY=VALUE` (repeatable) changes every setting further, as `detr_nb train --set` does, e.g. the demo with four decoder
layers: `--settings demo --set model.dec_layers=4`.
"""
import argparse, json, platform, shutil, tempfile, time
from dataclasses import replace
from pathlib import Path
import torch
from detr_nb.config import apply_overrides
from detr_nb.train import demo_config, train
from detr_nb.time_to_ap import time_to_ap_curve

# the demo recipe's settings before it gained denoising, a no-object weight of 0.3, a channels-last backbone and two
# more epochs: the settings below keep them, so that their recorded results (run before) are reproduced
EARLIER = dict(dn_groups=0, eos_coef=0.1, channels_last=False, epochs=16)
OFF = dict(EARLIER, crop_pretrain_steps=0, attn_loss_coef=0., query_lr_scale=1., group_queries=1, ema_decay=0.)
SETTINGS = {  # name -> (model changes, train changes); each adds to the previous one
    'official': (dict(backbone_norm='frozen', feature_stride=32), dict(OFF, lr=1e-4, lr_backbone=1e-5)),
    'scratch': (dict(backbone_norm='batch'), dict(OFF)),                                  # trainable BN, stride 16
    'crops': (dict(backbone_norm='batch'), dict(OFF, crop_pretrain_steps=150)),           # + crop pretraining
    'attention': (dict(backbone_norm='batch'), dict(OFF, crop_pretrain_steps=150, attn_loss_coef=1.)),
    'queries': (dict(backbone_norm='batch'), dict(OFF, crop_pretrain_steps=150, attn_loss_coef=1., query_lr_scale=20.,
                                                  group_queries=3)),                      # + query lr, 3 groups
    'ema': ({}, dict(EARLIER)),                   # + EMA: the earlier demo recipe ('demo' in results recorded with it)
    'denoising': ({}, dict(EARLIER, dn_groups=3)),                                        # + 3 denoising groups
    'demo': ({}, {}),     # + no-object weight 0.3, channels-last backbone, 18 epochs: demo_config itself
}
SCRATCH = dict(backbone_norm='batch')
ALONE = {  # each switch alone on the `scratch` setting (trainable BN, stride 16): `--settings` may name these too
    'crops_alone': (SCRATCH, dict(OFF, crop_pretrain_steps=150)),
    'attention_alone': (SCRATCH, dict(OFF, attn_loss_coef=1.)),
    'query_lr_alone': (SCRATCH, dict(OFF, query_lr_scale=20.)),
    'groups_alone': (SCRATCH, dict(OFF, group_queries=3)),
    'ema_alone': (SCRATCH, dict(OFF, ema_decay=0.99)),
    'dn_alone': (SCRATCH, dict(OFF, dn_groups=3)),
}
SETTINGS.update(ALONE)
TOOL_KEYS = ('train.seed', 'train.max_steps', 'train.eval_every_steps', 'name', 'out_dir')  # --set may not change these

def setting(cfg, name:str):
    "`cfg` (the demo config) with the switches of setting `name`."
    if name not in SETTINGS:
        raise SystemExit(f"unknown setting {name!r}; choose from {', '.join(SETTINGS)}")
    model, tr = SETTINGS[name]
    return replace(cfg, model=replace(cfg.model, **model), train=replace(cfg.train, **tr))

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--settings', default=','.join(SETTINGS))
    p.add_argument('--seeds', default='0,1,2')
    p.add_argument('--steps', type=int, default=500, help='optimizer steps of each run')
    p.add_argument('--eval-every-steps', type=int, default=250)
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: torch chooses)')
    p.add_argument('--data', default=None, help='parent folder of the shapes (default: a temporary one)')
    p.add_argument('--set', action='append', default=None, metavar='KEY=VALUE', dest='overrides',
                   help='config override applied to every setting after its switches, e.g. model.dec_layers=4 '
                        '(repeatable; recorded with each run)')
    p.add_argument('--out', default='time_to_ap.json', help='results JSON (the chapter reads nbs/bench_results/)')
    a = p.parse_args()
    try:
        seeds = [int(s) for s in a.seeds.split(',')]
    except ValueError:
        raise SystemExit(f"--seeds {a.seeds!r}: expected comma-separated whole numbers, e.g. 0,1,2") from None
    if a.steps < 1 or a.eval_every_steps < 1:
        raise SystemExit('--steps and --eval-every-steps must be at least 1 (0 means "no limit" to train)')
    owned = [o for o in a.overrides or [] if o.split('=')[0].strip() in TOOL_KEYS]
    if owned:
        raise SystemExit(f"--set {owned[0]}: the tool sets {', '.join(TOOL_KEYS)} itself (--seeds, --steps, ...)")
    unknown = [n for n in a.settings.split(',') if n not in SETTINGS]
    if unknown:  # before anything is trained
        raise SystemExit(f"unknown settings {unknown}; choose from {', '.join(SETTINGS)}")
    if a.threads:
        torch.set_num_threads(a.threads)
    work = Path(tempfile.mkdtemp(prefix='time_to_ap_'))
    data = Path(a.data) if a.data else work
    results = {'machine': {'cpu': platform.processor() or platform.machine(), 'threads': torch.get_num_threads(),
                           'torch': torch.__version__, 'date': time.strftime('%Y-%m-%d')},
               'command': 'python tools/time_to_ap.py ' + ' '.join(
                   [f'--{k.replace("_", "-")} {v}' for k, v in vars(a).items() if v is not None and k != 'overrides']
                   + [f'--set {o}' for o in a.overrides or []]), 'runs': []}
    out = Path(a.out)
    try:  # every setting with the overrides, before anything is trained (the first call writes the shapes)
        for name in a.settings.split(','):
            apply_overrides(setting(demo_config(data), name), a.overrides)
    except ValueError as e:
        raise SystemExit(f"--set: {e}") from None
    for seed in seeds:  # seed-major: a cut-off sweep still covers every setting
        for name in a.settings.split(','):
            cfg = apply_overrides(setting(demo_config(data, name=f'{name}-s{seed}'), name), a.overrides)
            cfg = replace(cfg, out_dir=str(work / 'runs'),
                          train=replace(cfg.train, seed=seed, max_steps=a.steps, eval_every_steps=a.eval_every_steps))
            t0 = time.perf_counter()
            summary = train(cfg, progress=False)
            curve = time_to_ap_curve(summary['exp_dir'])
            run = {'setting': name, 'overrides': a.overrides or [], 'seed': seed, 'stopped': summary['stopped'],
                   'wall_seconds': time.perf_counter() - t0, 'steps': summary['step'],
                   'curve': curve.to_dict('records')}
            results['runs'].append(run)
            print(json.dumps({k: v for k, v in run.items() if k != 'curve'}), run['curve'][-1:], flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=1))  # after every run: a cut-off sweep keeps what it measured
            if summary['stopped'] == 'interrupted':  # Ctrl-C / SIGTERM ends the sweep, not just this run
                raise SystemExit(f"interrupted: the runs so far are in {out}")
    shutil.rmtree(work / 'runs', ignore_errors=True)

if __name__ == '__main__':
    main()
