"""The parity table of the model chapter (nbs/02_model.ipynb, "Measured against the official code, every
configuration"): the official facebookresearch/detr model and ours, given the same seeded weights, compared output
by output on a padded batch of two images, for every configuration of the official key list and a few variants:

    nice -n 15 python tools/parity_official.py --official /path/to/detr

`--official` is a checkout of facebookresearch/detr: its `models` package is imported from there (nothing of it is
copied into this repository). Without it, or when it is not a detr checkout, the script says what to pass and exits
with status 0, so nothing else depends on it. `--reference` is the folder holding `official_detr_state_dict_keys.json`
and `seeded_weights.py` (default: data/reference of this checkout, or reference/ in the folder DETR_NB_DATA names, as
the chapter's fixture cell uses).

Every configuration is run in fp32, eval mode, on the CPU. Weights: `seeded_state_dict(keys, salt='shared-')`, every
tensor derived from its key name and shape only; `keys` are the official model's names and shapes, which for the five
keyed configurations are checked to be the key list's (the variants add `transformer.encoder.norm.*` with pre-norm and
`backbone.1.row_embed/col_embed` with learned positions). Images: the two of `seeded_images()` (3x200x256 and
3x160x224), except the heavy-padding row (3x96x320 and 3x288x64, `torch.randn` with generator seed 1). The script also
checks that both models' state dicts have the same keys, in the same order, with the same shapes, and that the
official model of each keyed configuration has exactly the keys and shapes of the key list. It prints a markdown table
of the largest absolute differences with the machine, torch version and date, and exits with status 1 when a
difference exceeds `--tol` or a state dict differs.
"""
import argparse, contextlib, datetime, functools, importlib.util, json, os, platform, subprocess, sys, time
from pathlib import Path

import torch, torchvision

from detr_nb.model import DETR, DETRConfig

RESNETS = ('resnet18', 'resnet34', 'resnet50', 'resnet101')
# configuration name -> (key list entry, model settings); heads are not in the key list (attention weights are packed)
BASES = {
    'r50': dict(backbone='resnet50', hidden_dim=256, nheads=8, enc_layers=6, dec_layers=6, dim_feedforward=2048,
                num_queries=100),
    'r101': dict(backbone='resnet101', hidden_dim=256, nheads=8, enc_layers=6, dec_layers=6, dim_feedforward=2048,
                 num_queries=100),
    'r50_dc5': dict(backbone='resnet50', dilation=True, hidden_dim=256, nheads=8, enc_layers=6, dec_layers=6,
                    dim_feedforward=2048, num_queries=100),
    'r18_small': dict(backbone='resnet18', hidden_dim=64, nheads=4, enc_layers=2, dec_layers=3, dim_feedforward=128,
                      num_queries=20),
    'tiny': dict(backbone='resnet18', hidden_dim=32, nheads=2, enc_layers=1, dec_layers=2, dim_feedforward=96,
                 num_queries=10),
}
DESCRIPTIONS = {
    'r50': 'ResNet-50, 256 wide, 8 heads, 6+6 layers, 100 queries',
    'r101': 'ResNet-101, as r50',
    'r50_dc5': 'ResNet-50 dilated last stage, as r50',
    'r18_small': 'ResNet-18, 64 wide, 4 heads, 2+3 layers, 20 queries',
    'tiny': 'ResNet-18, 32 wide, 2 heads, 1+2 layers, 10 queries',
}
# row -> (key list entry, changes to its settings, images, label in the table);
# images 'seeded' = seeded_images(), 'padded' = the heavy-padding pair
ROWS = {
    'r50': ('r50', {}, 'seeded', '`r50`'),
    'r101': ('r101', {}, 'seeded', '`r101`'),
    'r50_dc5': ('r50_dc5', {}, 'seeded', '`r50_dc5`'),
    'r18_small': ('r18_small', {}, 'seeded', '`r18_small`'),
    'tiny': ('tiny', {}, 'seeded', '`tiny`'),
    'prenorm': ('r18_small', dict(pre_norm=True), 'seeded', '`r18_small`, pre-norm'),
    'learned': ('r18_small', dict(position_embedding='learned'), 'seeded', '`r18_small`, learned position embedding'),
    'prenorm_learned': ('r18_small', dict(pre_norm=True, position_embedding='learned'), 'seeded',
                        '`r18_small`, pre-norm + learned'),
    'padding': ('r18_small', {}, 'padded', '`r18_small`, images 3x96x320 + 3x288x64 (heavy padding)'),
}


def is_detr_checkout(path) -> bool:
    "Whether `path` looks like a facebookresearch/detr checkout (its model and helper modules are there)."
    return path is not None and all((Path(path) / f).is_file() for f in ('models/detr.py', 'models/backbone.py',
                                                                         'util/misc.py'))


def load_module(path:Path):
    "Import the Python file `path` as a module of its own name."
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def resnets_without_pretrained():
    """While open, torchvision's ResNet constructors accept the official code's `pretrained=` keyword (current
    torchvision rejects it) and build without weights, so nothing is downloaded."""
    originals = {name: getattr(torchvision.models, name) for name in RESNETS}

    def no_weights(constructor, *args, pretrained=False, **kwargs):
        return constructor(*args, **{**kwargs, 'weights': None})
    for name, constructor in originals.items():
        setattr(torchvision.models, name, functools.wraps(constructor)(functools.partial(no_weights, constructor)))
    try:
        yield
    finally:
        for name, constructor in originals.items():
            setattr(torchvision.models, name, constructor)


def official_model(settings:dict) -> torch.nn.Module:
    "The official DETR (91 classes, auxiliary outputs) built by its own modules from `settings` (DETRConfig fields)."
    from models.backbone import build_backbone
    from models.detr import DETR as OfficialDETR
    from models.transformer import build_transformer
    args = argparse.Namespace(backbone=settings['backbone'], dilation=settings.get('dilation', False),
                              position_embedding=settings.get('position_embedding', 'sine'),
                              hidden_dim=settings['hidden_dim'], nheads=settings['nheads'],
                              enc_layers=settings['enc_layers'], dec_layers=settings['dec_layers'],
                              dim_feedforward=settings['dim_feedforward'], dropout=0.1,
                              pre_norm=settings.get('pre_norm', False), lr_backbone=1e-5, masks=False)
    with resnets_without_pretrained():
        return OfficialDETR(build_backbone(args), build_transformer(args), num_classes=91,
                            num_queries=settings['num_queries'], aux_loss=True)


def shapes(state_dict:dict) -> list:
    "The (key, shape) pairs of a state dict, in its order."
    return [(k, tuple(v.shape)) for k, v in state_dict.items()]


def test_images(kind:str, seeded) -> list:
    "The two CHW images of a row: `seeded_images()` or the heavy-padding pair."
    if kind == 'seeded':
        return seeded.seeded_images()
    g = torch.Generator().manual_seed(1)
    return [torch.randn(3, 96, 320, generator=g), torch.randn(3, 288, 64, generator=g)]


def max_differences(ours:dict, official:dict) -> dict:
    "Largest absolute difference of `pred_logits`, `pred_boxes`, and of every auxiliary output (both heads)."
    def diff(a, b):
        return (a - b).abs().max().item()
    aux = [max(diff(a[k], b[k]) for k in ('pred_logits', 'pred_boxes'))
           for a, b in zip(ours['aux_outputs'], official['aux_outputs'], strict=True)]
    return {'pred_logits': diff(ours['pred_logits'], official['pred_logits']),
            'pred_boxes': diff(ours['pred_boxes'], official['pred_boxes']), 'aux': max(aux), 'aux_layers': len(aux)}


def compare(row:str, keys:dict, seeded) -> dict:
    "Build both models of table row `row`, load the same seeded weights, run both and measure the differences."
    base, changes, kind, _ = ROWS[row]
    settings = {**BASES[base], **changes}
    official = official_model(settings).eval()
    if not changes and shapes(official.state_dict()) != [(k, tuple(s)) for k, s in keys[base].items()]:
        raise RuntimeError(f"{row}: the official model does not have the keys and shapes of the key list's {base!r}")
    weights = seeded.seeded_state_dict(dict(shapes(official.state_dict())), salt='shared-')
    ours = DETR(DETRConfig(num_classes=91, aux_loss=True, **settings)).eval()
    same_keys = shapes(ours.state_dict()) == shapes(official.state_dict())
    ours.load_state_dict(weights)
    official.load_state_dict(weights)
    images = test_images(kind, seeded)
    t0 = time.perf_counter()
    with torch.no_grad():
        result = max_differences(ours(images), official(images))
    return {**result, 'same_keys': same_keys, 'seconds': time.perf_counter() - t0}


def machine() -> str:
    "CPU model, cores and threads torch uses, e.g. 'AMD EPYC (x86_64), 2 cores, 2 torch threads'."
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        models = [ln.split(':', 1)[1].strip() for ln in Path('/proc/cpuinfo').read_text().splitlines()
                  if ln.startswith('model name')]
        name = f"{models[0]} ({platform.machine()})" if models else name
    return f"{name}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def official_commit(path:Path) -> str:
    "The checkout's git commit, or a note that it is not a git work tree."
    out = subprocess.run(['git', '-C', str(path), 'rev-parse', 'HEAD'], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else 'not a git work tree'


def table(results:dict) -> str:
    "The markdown table of the chapter."
    header = ('configuration', 'model', '`pred_logits`', '`pred_boxes`', 'aux outputs (all layers)',
              'same state dict keys')
    lines = ['| ' + ' | '.join(header) + ' |', '|' + ' --- |' * len(header)]
    for row, r in results.items():
        label = ROWS[row][3]
        if 'error' in r:
            lines.append(f"| {label} | {DESCRIPTIONS.get(row, '')} | not run: {r['error']} | | | |")
            continue
        layers = f"{r['aux_layers']} layer{'s' if r['aux_layers'] != 1 else ''}"
        lines.append(f"| {label} | {DESCRIPTIONS.get(row, '')} | {r['pred_logits']:.1e} | {r['pred_boxes']:.1e} | "
                     f"{r['aux']:.1e} ({layers}) | {'yes' if r['same_keys'] else 'NO'} |")
    return '\n'.join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--official', help='a checkout of facebookresearch/detr')
    data = Path(os.environ.get('DETR_NB_DATA') or Path(__file__).resolve().parents[1] / 'data')
    p.add_argument('--reference', default=str(data / 'reference'),
                   help='folder with official_detr_state_dict_keys.json and seeded_weights.py')
    p.add_argument('--rows', default=','.join(ROWS), help='table rows to run, comma-separated')
    p.add_argument('--tol', type=float, default=1e-4, help='largest allowed absolute difference')
    args = p.parse_args()
    if not is_detr_checkout(args.official):
        print(f"parity_official: skipped: pass --official DIR, a checkout of facebookresearch/detr "
              f"(got {args.official!r}, which has no models/detr.py, models/backbone.py and util/misc.py)")
        return 0
    reference = Path(args.reference)
    needed = ('seeded_weights.py', 'official_detr_state_dict_keys.json')
    if not all((reference / f).is_file() for f in needed):
        print(f"parity_official: skipped: {reference} lacks seeded_weights.py or official_detr_state_dict_keys.json; "
              f"pass --reference DIR")
        return 0
    rows = args.rows.split(',')
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    sys.path.insert(0, str(Path(args.official).resolve()))
    seeded = load_module(reference / 'seeded_weights.py')
    keys = json.loads((reference / 'official_detr_state_dict_keys.json').read_text())
    results = {}
    for row in rows:
        try:
            results[row] = compare(row, keys, seeded)
            print(f"{row}: done in {results[row]['seconds']:.1f} s", file=sys.stderr, flush=True)
        except Exception as e:  # one configuration that cannot run is a row of the table, not the end of it
            results[row] = {'error': f"{type(e).__name__}: {e}"}
            print(f"{row}: not run: {results[row]['error']}", file=sys.stderr, flush=True)
    command = 'python tools/parity_official.py --official <checkout>' + (
        f" --rows {args.rows}" if rows != list(ROWS) else '')
    print(f"Machine: {machine()}; torch {torch.__version__}, torchvision {torchvision.__version__}; "
          f"{datetime.date.today().isoformat()}; official commit {official_commit(Path(args.official))}; "
          f"command `{command}`; fp32, eval mode, CPU.\n")
    print(table(results))
    ran = [r for r in results.values() if 'error' not in r]
    bad = [row for row, r in results.items() if 'error' not in r and
           (not r['same_keys'] or max(r['pred_logits'], r['pred_boxes'], r['aux']) > args.tol)]
    if bad:
        print(f"\nparity_official: above the tolerance {args.tol:g} or different state dicts: {', '.join(bad)}")
    return 1 if bad or len(ran) < len(results) else 0


if __name__ == '__main__':
    sys.exit(main())
