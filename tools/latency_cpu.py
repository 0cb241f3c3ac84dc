#!/usr/bin/env python
"""The CPU latency table of the latency chapter (nbs/07c_latency.ipynb), side by side in one process.

detr_nb eager (as trained; BN folded + channels-last), detr_nb in onnxruntime and OpenVINO, bf16 and int8 variants
(`detr_nb.latency.latency_table`) and, with `--official DIR`, the official facebookresearch/detr model built from
its own code in DIR (a checkout outside this repository; nothing of it is copied here) with the same weights, run
eager and exported to onnxruntime. Run it on an otherwise idle machine (the JSON records the command and the
process's niceness); writes the JSON the chapter reads:

    cd nbs && python ../tools/latency_cpu.py --official /path/to/detr --runs 15 --out bench_results/latency_cpu.json
"""
import argparse, functools, io, json, os, shlex, sys, time, warnings
from pathlib import Path

import torch, torchvision


def official_variants(official_dir: str, threads: int) -> dict:
    "Two `latency_table` extras: the official model eager and in onnxruntime, built on first use with our weights."
    sys.path.insert(0, official_dir)
    for name in ('resnet18', 'resnet34', 'resnet50', 'resnet101'):  # current torchvision has no `pretrained=`
        fn = getattr(torchvision.models, name)
        setattr(torchvision.models, name, functools.wraps(fn)(lambda *a, pretrained=False, _fn=fn, **k:
                                                             _fn(*a, **{'weights': None, **k})))
    from models.detr import DETR as OfficialDETR
    from models.backbone import build_backbone
    from models.transformer import build_transformer
    import onnxruntime as ort
    built = {}

    def build(model):
        if id(model) not in built:
            c = model.config
            a = argparse.Namespace(backbone=c.backbone, dilation=c.dilation, position_embedding=c.position_embedding,
                                   hidden_dim=c.hidden_dim, nheads=c.nheads, enc_layers=c.enc_layers,
                                   dec_layers=c.dec_layers, dim_feedforward=c.dim_feedforward, dropout=c.dropout,
                                   pre_norm=c.pre_norm, lr_backbone=1e-5, masks=False)
            off = OfficialDETR(build_backbone(a), build_transformer(a), num_classes=c.num_classes,
                               num_queries=c.num_queries, aux_loss=False)
            missing, unexpected = off.load_state_dict(model.state_dict(), strict=False)
            if missing or unexpected:
                raise RuntimeError(f"official model does not take detr_nb's weights: {missing[:3]} {unexpected[:3]}")
            off.eval()

            class Outputs(torch.nn.Module):
                def __init__(self, m):
                    super().__init__()
                    self.m = m

                def forward(self, images):
                    out = self.m(images)
                    return out['pred_logits'], out['pred_boxes']
            buf = io.BytesIO()
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                sample = torch.randn(1, 3, 256, 320)
                # .eval() on the wrapper: the exporter restores the wrapper's mode on every submodule afterwards
                torch.onnx.export(Outputs(off).eval(), (sample,), buf, dynamo=False, opset_version=12,
                                  input_names=['images'], output_names=['pred_logits', 'pred_boxes'],
                                  dynamic_axes={'images': {0: 'batch', 2: 'height', 3: 'width'}})
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
            built[id(model)] = off, ort.InferenceSession(buf.getvalue(), so, providers=['CPUExecutionProvider'])
        return built[id(model)]

    def eager(model, images):
        off, _ = build(model)
        with torch.no_grad():
            out = off(images)
        return out['pred_logits'], out['pred_boxes']

    def onnxruntime(model, images):
        _, sess = build(model)
        logits, boxes = sess.run(None, {'images': images.numpy()})
        return torch.from_numpy(logits), torch.from_numpy(boxes)
    return {'official eager': eager, 'official onnxruntime': onnxruntime}


def model_gflop(preset: str, size: tuple[int, int], num_classes: int = 91) -> float:
    "Floating-point operations (GFLOP, a multiply-add counted as 2) of one forward pass, by torch's flop counter."
    from dataclasses import replace
    from torch.utils.flop_counter import FlopCounterMode
    from detr_nb.config import get_preset
    from detr_nb.model import DETR
    model = DETR(replace(get_preset(preset).model, num_classes=num_classes, aux_loss=False)).eval()
    with FlopCounterMode(display=False) as counter:  # (not under no_grad: its module tracker needs autograd)
        model(torch.randn(1, 3, *size))
    return counter.get_total_flops() / 1e9


def gemm_gflops(threads: int, dtype: torch.dtype, n: int = 4096, runs: int = 5) -> float:
    "What this CPU's matrix product reaches (GFLOP/s, median of `runs`): a ceiling for a convolution network."
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / sorted(times)[runs // 2] / 1e9


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--official', help='a facebookresearch/detr checkout (omit: detr_nb variants only)')
    p.add_argument('--out', required=True, help='JSON to write')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--runs', type=int, default=10)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--presets', default='r50:800x1066,tiny:256x341', help='preset:HxW,...')
    args = p.parse_args()
    from detr_nb.config import get_preset
    from detr_nb.latency import latency_table
    extra = official_variants(args.official, args.threads) if args.official else None
    tables, t0 = [], time.time()
    for spec in args.presets.split(','):
        preset, size = spec.split(':')
        h, w = map(int, size.split('x'))
        # the official code builds only stride-32 backbones (the tiny preset reads layer3, stride 16)
        official_builds = get_preset(preset).model.feature_stride == 32
        t = latency_table(preset, size=(h, w), batch=1, threads=args.threads, runs=args.runs, warmup=args.warmup,
                          extra=extra if official_builds else None)
        t['gflop'] = model_gflop(preset, (h, w))
        tables.append(t)
        for r in t['rows']:
            print(f"{preset:5s} {size:9s} {r['variant']:38s} median {r['median_ms']:8.1f} ms  p95 {r['p95_ms']:8.1f} ms"
                  f"  |dlogits| {r['max_abs_logits']:.1e}  |dboxes| {r['max_abs_boxes']:.1e}", flush=True)
    ceiling = {'fp32': gemm_gflops(args.threads, torch.float32), 'bf16': gemm_gflops(args.threads, torch.bfloat16)}
    print(f"matrix product, {args.threads} threads: " + ', '.join(f'{k} {v:.0f} GFLOP/s' for k, v in ceiling.items()))
    cmd = 'python ../tools/latency_cpu.py ' + ' '.join(shlex.quote(a) for a in sys.argv[1:])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({'command': cmd, 'niceness': os.nice(0), 'seconds': round(time.time() - t0),
                                          'machine': tables[0]['machine'], 'gemm_gflops': ceiling,
                                          'tables': tables}, indent=1))
    print(f"wrote {args.out} in {time.time() - t0:.0f} s")


if __name__ == '__main__':
    main()
