#!/usr/bin/env python
"""Peak memory and images/s of DETR's full training step under each memory technique (tutorial 03_memory).

One row per technique, each measured in its own fresh Python process: on a CPU the peak is the process's peak
resident set size (`ru_maxrss`), which only grows over the life of a process, so rows measured one after another
in one process would each report the largest so far. On a GPU it is `torch.cuda.max_memory_allocated` (tensors
only, not the CUDA context), also read in a fresh process per row. Every row is the training step of
`detr_nb.train.train_step` (forward under autocast, Hungarian matcher, set loss in fp32, backward, clipping at 0.1,
fused AdamW with the official two parameter groups) on random images of one size and random boxes
(`detr_nb.bench.synthetic_batch`): memory and speed do not depend on what the pixels show.

The measurement of the tutorial, on core 1 of the 2-core machine with 1 thread:

    cd nbs/tutorials && flock /tmp/core1.lock taskset -c 1 nice -n 5 python ../../tools/memory_techniques.py \\
        --out ../bench_results/memory_cpu.json

On a GPU: `python tools/memory_techniques.py --device cuda --batch-size 8 --steps 10 --warmup 3 --out memory_gpu.json`.
"""
import argparse, json, os, platform, resource, shlex, statistics, subprocess, sys, time
from datetime import datetime, timezone
from pathlib import Path

# name -> switches of that row; every row has the same effective batch (images per optimizer step)
TECHNIQUES = {
    'fp32': {},
    'bf16 autocast': {'precision': 'bf16'},
    'fp16 autocast + GradScaler': {'precision': 'fp16'},
    'activation checkpointing': {'checkpoint_activations': True},
    'micro-batches of 1 + accumulation': {'micro_batch': 1},
    'frozen backbone (lr_backbone=0)': {'freeze_backbone': True},
    'find_batch_size': {'find_batch_size': True},
    'find_batch_size under a memory cap': {'find_batch_size': True, 'memory_cap': 'auto'},
}
# the order they are measured in: the slow rows (bf16/fp16 on a CPU without bf16 units) last, with fewer steps
ORDER = ['fp32', 'activation checkpointing', 'micro-batches of 1 + accumulation', 'frozen backbone (lr_backbone=0)',
         'find_batch_size', 'find_batch_size under a memory cap', 'bf16 autocast', 'fp16 autocast + GradScaler']


def _vm_mib() -> float:
    "Virtual memory size of this process now (VmSize), MiB: what RLIMIT_AS caps."
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmSize:'):
            return int(line.split()[1]) / 1024
    return float('nan')


def _rss_mib() -> float:
    "Resident set size of this process now (VmRSS), MiB."
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    return float('nan')


def _peak_rss_mib() -> float:
    """Peak resident set size of this process (VmHWM), MiB. Not `ru_maxrss`: that one is kept across fork and exec,
    so a child of a large process (a notebook holding a model) would report its parent's size as a floor."""
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(preset='r50', size=(800, 1066), batch_size=2, boxes=7, precision='fp32', checkpoint_activations=False,
            micro_batch=None, freeze_backbone=False, find_batch_size=False, memory_cap=None, steps=3, warmup=1,
            device='cpu', threads=1, seed=0, report=None) -> dict:
    """One row, in this process: build the model, run `warmup` + `steps` training steps of `batch_size` images
    (as `batch_size // micro_batch` accumulated micro-batches), return times and memory. `memory_cap` (MiB): the
    process may grow by at most this much from here on (CPU: RLIMIT_AS; GPU: the allocator's memory fraction), so
    an allocation beyond it raises `torch.OutOfMemoryError` as a full GPU does. `report(dict)` gets the row so far
    after each step."""
    import torch
    if threads:
        torch.set_num_threads(threads)
    from dataclasses import replace
    from detr_nb.config import get_preset
    from detr_nb.model import DETR
    from detr_nb.loss import SetCriterion
    from detr_nb.bench import synthetic_batch
    from detr_nb.train import make_optimizer, train_step, checkpoint_activations as ckpt, find_batch_size as fbs
    from detr_nb.memory import step_fits_on_device
    device = torch.device(device)
    cfg = get_preset(preset)
    # the official R50 recipe: ImageNet weights with frozen batch norm, the stem and layer1 fixed (random weights here:
    # speed and memory do not depend on them)
    model_cfg = replace(cfg.model, num_classes=cfg.model.num_classes or 91, backbone_norm='frozen')
    tc = replace(cfg.train, lr_backbone=0. if freeze_backbone else cfg.train.lr_backbone, precision=precision)
    torch.manual_seed(seed)
    model = DETR(model_cfg).to(device).train()
    criterion = SetCriterion.from_config(model_cfg, tc).to(device)
    if checkpoint_activations:
        ckpt(model)
    optimizer = make_optimizer(model, tc)  # lr_backbone=0: the backbone's parameters get requires_grad=False
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    images, mask, targets = synthetic_batch(batch_size, size, boxes, model_cfg.num_classes, seed)
    rss_before, peak_before = _rss_mib(), _peak_rss_mib()  # the model, the batch and the libraries
    search, cap = None, None
    if memory_cap is not None and device.type == 'cuda':  # the caching allocator refuses more than this fraction
        used, total_mem = torch.cuda.memory_allocated(device), torch.cuda.get_device_properties(device).total_memory
        cap = {'cap_mib': memory_cap, 'allocated_at_cap_mib': round(used / 2**20, 1)}
        torch.cuda.set_per_process_memory_fraction(min(1., (used + memory_cap * 2**20) / total_mem), device)
    elif memory_cap is not None:
        cap = {'cap_mib': memory_cap, 'vm_at_cap_mib': round(_vm_mib(), 1), 'rss_at_cap_mib': round(_rss_mib(), 1)}
        resource.setrlimit(resource.RLIMIT_AS, (int((_vm_mib() + memory_cap) * 2**20), resource.RLIM_INFINITY))
    if find_batch_size:  # what the training loop does with train.find_batch_size=true
        t0 = time.perf_counter()
        micro_batch, accum = fbs(batch_size, step_fits_on_device(model, criterion, size, precision, device))
        search = {'micro_batch': micro_batch, 'accum_steps': accum, 'seconds': round(time.perf_counter() - t0, 1)}
    micro = micro_batch or batch_size
    if batch_size % micro:
        raise ValueError(f"micro_batch {micro} does not divide batch_size {batch_size}")
    micro_batches = [(images[i:i + micro], mask[i:i + micro], targets[i:i + micro])
                     for i in range(0, batch_size, micro)]
    scaler = torch.amp.GradScaler(device.type) if precision == 'fp16' else None
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == 'cuda' else (lambda: None)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        alloc_before = torch.cuda.memory_allocated(device) / 2**20
    ms, nonfinite, step_peaks = [], 0, []
    r = {'preset': preset, 'image_size': list(size), 'batch_size': batch_size, 'micro_batch': micro,
         'accum_steps': batch_size // micro, 'precision': precision, 'find_batch_size': search, 'memory_cap': cap}
    for i in range(warmup + steps):
        sync()
        t0 = time.perf_counter()
        out = train_step(model, criterion, optimizer, micro_batches, device, precision, scaler=scaler,
                         clip_max_norm=tc.clip_max_norm)
        sync()
        (ms if i >= warmup else r.setdefault('warmup_ms', [])).append(round((time.perf_counter() - t0) * 1000, 1))
        nonfinite += bool(out['nonfinite'])
        step_peaks.append(round(torch.cuda.max_memory_allocated(device) / 2**20 if device.type == 'cuda'
                                else _peak_rss_mib(), 1))
        if report:
            report({**r, 'steps_done': i + 1, 'ms_all': list(ms), 'step_peaks_mib': step_peaks,
                    'before_steps_mib': round(rss_before, 1)})
    med = statistics.median(ms)
    r = {'preset': preset, 'image_size': list(size), 'batch_size': batch_size, 'micro_batch': micro,
         'accum_steps': batch_size // micro, 'precision': precision, 'checkpoint_activations': checkpoint_activations,
         'freeze_backbone': freeze_backbone, 'find_batch_size': search, 'boxes': boxes, 'steps': steps,
         'warmup': warmup, 'threads': torch.get_num_threads(), 'device': str(device),
         'params_total': total, 'params_trainable': trainable,
         'ms_median': round(med, 1), 'ms_all': [round(m, 1) for m in ms],
         'images_per_s': round(batch_size * 1000 / med, 4), 'skipped_steps': nonfinite,
         'loss': float(out['loss']), 'step_peaks_mib': step_peaks, 'warmup_ms': r.get('warmup_ms', []),
         'memory_cap': cap}
    if device.type == 'cuda':
        r.update(peak_mib=round(torch.cuda.max_memory_allocated(device) / 2**20, 1),
                 before_steps_mib=round(alloc_before, 1), memory_kind='cuda max_memory_allocated',
                 gpu=torch.cuda.get_device_name(device))
    else:
        r.update(peak_mib=round(_peak_rss_mib(), 1), before_steps_mib=round(rss_before, 1),
                 peak_before_steps_mib=round(peak_before, 1), memory_kind='peak RSS of the process (VmHWM)')
    r['step_mib'] = round(r['peak_mib'] - r['before_steps_mib'], 1)  # what the training steps added
    return r


def run_rows(names=None, out=None, python=sys.executable, timeout=None, slow_steps=None, **kwargs) -> dict:
    """Each technique row in its own fresh process (`python this_file --row ...`); returns (and writes to `out`)
    {'rows': [...], 'machine': ..., 'date': ..., 'command': ...}. A row that fails or runs past `timeout` seconds is
    kept with its error and what it measured before (the child prints its progress after every step).
    `slow_steps` (e.g. {'steps': 1, 'warmup': 1}) replaces the step counts of the bf16/fp16 rows."""
    import torch
    if str(kwargs.get('device', 'cpu')).startswith('cuda') and not torch.cuda.is_available():
        raise ValueError(f"device = {kwargs['device']!r}, but torch sees no CUDA device here")
    names = list(ORDER) if names is None else list(names)
    unknown = [n for n in names if n not in TECHNIQUES]
    if unknown:
        raise ValueError(f"unknown techniques {unknown}; choose from {list(TECHNIQUES)}")
    slow_steps = slow_steps or {}
    rows = []
    for name in names:
        args = {**kwargs, **TECHNIQUES[name]}
        if args.get('precision', 'fp32') != 'fp32' and slow_steps:
            args.update(slow_steps)
        args['size'] = list(args.get('size', (800, 1066)))
        if args.get('memory_cap') == 'auto':  # halfway between the step's growth at micro-batch 1 and at the full batch
            done = {r['technique']: r for r in rows if 'step_mib' in r}
            full, micro = done.get('fp32'), done.get('micro-batches of 1 + accumulation')
            if not (full and micro):
                rows.append({'technique': name, 'error': 'needs the fp32 and micro-batch rows measured before it'})
                continue
            args['memory_cap'] = round((full['step_mib'] + micro['step_mib']) / 2)
        t0 = time.perf_counter()
        try:
            p = subprocess.run([python, __file__, '--row', json.dumps(args)], capture_output=True, text=True,
                               timeout=timeout)
            stdout, err = p.stdout, None if p.returncode == 0 else \
                (p.stderr.strip().splitlines() or [f'exit status {p.returncode}'])[-1]
        except subprocess.TimeoutExpired as e:
            stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or '')
            err = f'stopped after {timeout:.0f} s (the row timeout)'
        lines = [json.loads(l) for l in stdout.splitlines() if l.startswith('{')]
        row = {'technique': name, 'seconds': round(time.perf_counter() - t0, 1)}
        if lines:
            row.update(lines[-1])  # the finished row, or the last step's progress
        if err:
            row['error'] = err
        print(f"{name}: {row.get('images_per_s', '-')} images/s, peak {row.get('peak_mib', '-')} MiB "
              f"({row['seconds']} s){' ERROR ' + row['error'] if 'error' in row else ''}", file=sys.stderr, flush=True)
        rows.append(row)
    result = {'rows': rows, 'date': datetime.now(timezone.utc).isoformat(timespec='seconds'),
              'machine': {'platform': platform.platform(), 'processor': platform.processor() or platform.machine(),
                          'cpu_count': os.cpu_count(), 'affinity': sorted(os.sched_getaffinity(0)),
                          'python': platform.python_version(), 'torch': torch.__version__},
              'command': 'python ' + ' '.join(shlex.quote(a) for a in sys.argv)}
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix('.tmp')
        tmp.write_text(json.dumps(result, indent=1))
        tmp.replace(out)  # a failed run never leaves half a file in place of the last good one
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--row', help=argparse.SUPPRESS)  # internal: measure one row in this process, print its JSON
    ap.add_argument('--preset', default='r50')
    ap.add_argument('--size', default='800x1066', help="HxW of every image (default: COCO's 640x480 at 800 short side)")
    ap.add_argument('--batch-size', type=int, default=2, help='images per optimizer step (the effective batch)')
    ap.add_argument('--boxes', type=int, default=7, help='boxes per image (COCO has 7.3 on average)')
    ap.add_argument('--steps', type=int, default=3, help='timed steps per row')
    ap.add_argument('--warmup', type=int, default=1, help='untimed steps first')
    ap.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--techniques', default=None, help=f"comma-separated subset of: {', '.join(TECHNIQUES)}")
    ap.add_argument('--timeout', type=float, default=None, help='seconds per row before it is given up')
    ap.add_argument('--slow-steps', default=None, help="'STEPS,WARMUP' for the bf16/fp16 rows (slow on most CPUs)")
    ap.add_argument('--out', default=None, help='JSON file to write')
    a = ap.parse_args(argv)
    if a.row:
        kw = json.loads(a.row)
        kw['size'] = tuple(kw['size'])
        print(json.dumps(measure(**kw, report=lambda r: print(json.dumps(r), flush=True))), flush=True)
        return
    from detr_nb.bench import parse_size
    names = None if a.techniques is None else [n.strip() for n in a.techniques.split(',')]
    slow = None if a.slow_steps is None else dict(zip(('steps', 'warmup'), map(int, a.slow_steps.split(','))))
    run_rows(names, out=a.out, timeout=a.timeout, slow_steps=slow, preset=a.preset, size=parse_size(a.size),
             batch_size=a.batch_size, boxes=a.boxes, steps=a.steps, warmup=a.warmup, threads=a.threads, device=a.device)


if __name__ == '__main__':
    main()
