"""Time-to-AP of the convergence switches on the synthetic shapes: train each setting for a fixed number of steps
(several seeds), evaluate every epoch, and write the AP50-vs-training-time curves as JSON for the convergence chapter.

    python tools/time_to_ap.py --settings official,batch,groups,dn,ema,all --seeds 0,1,2 --epochs 6 \
        --out nbs/bench_results/time_to_ap.json

Each run is an ordinary `detr_nb.train.train` run of `demo_config` with one switch set changed; its curve is read
from the run's log (`val/AP50` against `val/train_seconds`, training time without the evaluations).
"""
import argparse, json, platform, shutil, tempfile, time
from dataclasses import replace
from pathlib import Path
import torch
from detr_nb.train import demo_config, train
from detr_nb.checkpoint import read_metrics

def setting(cfg, name:str):
    "The demo config with the switches of setting `name`."
    t, m = cfg.train, cfg.model
    official = dict(group_queries=1, dn_groups=0, ema_decay=0.)
    if name == 'official':  # the official recipe: frozen batch norm, official learning rates, no accelerator
        return replace(cfg, model=replace(m, backbone_norm='frozen'),
                       train=replace(t, lr=1e-4, lr_backbone=1e-5, warmup_epochs=0., **official))
    base = replace(cfg, model=replace(m, backbone_norm='batch'), train=replace(t, **official))
    switches = {'batch': {}, 'groups': dict(group_queries=t.group_queries), 'dn': dict(dn_groups=t.dn_groups),
                'ema': dict(ema_decay=t.ema_decay), 'all': dict(group_queries=t.group_queries,
                                                                  dn_groups=t.dn_groups, ema_decay=t.ema_decay)}
    if name not in switches:
        raise SystemExit(f"unknown setting {name!r}; choose from official, {', '.join(switches)}")
    return replace(base, train=replace(base.train, **switches[name]))

def curve(exp_dir) -> list[dict]:
    "[{'seconds', 'step', 'AP50', 'AP'}] of a finished run, one per evaluation."
    df = read_metrics(exp_dir)
    rows = df.dropna(subset=['val/AP50'])
    return [{'seconds': float(r['val/train_seconds']), 'step': int(r['step']), 'AP50': float(r['val/AP50']),
             'AP': float(r['val/AP'])} for _, r in rows.iterrows()]

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--settings', default='official,batch,groups,dn,ema,all')
    p.add_argument('--seeds', default='0,1,2')
    p.add_argument('--epochs', type=int, default=None, help='epochs of each run (default: the demo config)')
    p.add_argument('--n-train', type=int, default=None, help='training images (default: the demo config)')
    p.add_argument('--data', default=None, help='folder of the shapes (default: a temporary one)')
    p.add_argument('--out', default='nbs/bench_results/time_to_ap.json')
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix='time_to_ap_'))
    data = Path(a.data) if a.data else work
    results = {'machine': {'cpu': platform.processor() or platform.machine(), 'threads': torch.get_num_threads(),
                           'torch': torch.__version__, 'date': time.strftime('%Y-%m-%d')},
               'command': 'python tools/time_to_ap.py ' + ' '.join(
                   f'--{k.replace("_", "-")} {v}' for k, v in vars(a).items() if v is not None), 'runs': []}
    out = Path(a.out)
    for name in a.settings.split(','):
        for seed in [int(s) for s in a.seeds.split(',')]:
            kw = {} if a.n_train is None else {'n_train': a.n_train}
            cfg = demo_config(data, name=f'{name}-s{seed}', **kw)
            cfg = setting(cfg, name)
            cfg = replace(cfg, out_dir=str(work / 'runs'), train=replace(cfg.train, seed=seed,
                          **({} if a.epochs is None else {'epochs': a.epochs})))
            t0 = time.perf_counter()
            summary = train(cfg, progress=False)
            run = {'setting': name, 'seed': seed, 'wall_seconds': time.perf_counter() - t0,
                   'steps': summary['step'], 'curve': curve(summary['exp_dir'])}
            results['runs'].append(run)
            print(json.dumps({k: v for k, v in run.items() if k != 'curve'}), run['curve'][-1:], flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=1))  # after every run: a cut-off sweep keeps what it measured
    shutil.rmtree(work / 'runs', ignore_errors=True)

if __name__ == '__main__':
    main()
