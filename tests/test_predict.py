"""Inference end to end: a real (1-step) training run's checkpoints carry the class names; `detr_nb predict` and
`detr_nb export` as a user runs them (separate processes, exit statuses, one-line messages, files written)."""
import json, subprocess, sys
from pathlib import Path

import pytest
import torch
from detr_nb.config import get_preset, apply_overrides
from detr_nb.data import make_shapes
from detr_nb.eval import evaluate_results
from detr_nb.inference import load_detector, predict
from detr_nb.train import train

BIN = Path(sys.executable).parent / 'detr_nb'
SMALL = ['data.scales=[64]', 'data.max_size=80', 'data.val_size=64', 'data.crop_resize=[64]', 'data.crop_min=48',
         'data.crop_max=64', 'data.batch_size=2', 'data.num_workers=0', 'train.device=cpu']
NAMES = ['circle', 'square', 'triangle']


def run(*args):
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
    "A one-epoch training run of the tiny preset on 4 small shapes images, with a validation pass (writes best.pth)."
    d = tmp_path_factory.mktemp('predict')
    shapes = make_shapes(d / 'shapes', n_train=4, n_val=3, seed=0, min_size=64, max_size=80)
    cfg = apply_overrides(get_preset('tiny'), SMALL + [f'data.root={shapes}', f'out_dir={d}', 'name=run',
                                                      'train.epochs=1', 'train.monitor=val_loss'])
    torch.manual_seed(0)
    train(cfg, progress=False)
    return d


def test_training_checkpoints_carry_categories(run_dir):
    for name in ('last.pth', 'best.pth'):
        ck = torch.load(run_dir / 'run' / 'model' / name, map_location='cpu', weights_only=True)
        assert ck['categories'] == [{'label': i + 1, 'id': i + 1, 'name': n} for i, n in enumerate(NAMES)]
    det = load_detector(run_dir / 'run' / 'model' / 'best.pth')
    assert [c['name'] for c in det.categories] == NAMES and det.val_size == 64
    (r,) = predict(det, run_dir / 'shapes' / 'val2017' / '000000000005.jpg', threshold=0.0, top_k=3)
    assert len(r) == 3 and set(r.names) <= set(NAMES)


def test_predict_cli_good_and_bad_inputs(run_dir, tmp_path):
    ck, val = run_dir / 'run' / 'model' / 'best.pth', run_dir / 'shapes' / 'val2017'
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'\xff\xd8\xff this is not a jpeg')
    (tmp_path / 'empty').mkdir()
    res = run('predict', ck, val, bad, tmp_path / 'empty', tmp_path / 'missing.png', '--out', tmp_path / 'out',
              '--threshold', 0, '--top-k', 2, '--device', 'cpu', '--batch-size', 2)
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith('detr_nb predict: ')]
    assert len(errors) == 3 and 'Traceback' not in res.stderr, res.stderr
    assert str(bad) in errors[0] and 'cannot read the image' in errors[0]
    assert str(tmp_path / 'empty') in errors[1] and 'holds no image files' in errors[1]
    assert str(tmp_path / 'missing.png') in errors[2] and 'no such file' in errors[2]
    written = sorted(p.name for p in (tmp_path / 'out').iterdir())
    assert written == ['000000000005.jpg', '000000000006.jpg', '000000000007.jpg', 'detections.json']
    dets = json.loads((tmp_path / 'out' / 'detections.json').read_text())
    assert len(dets) == 6 and {d['file_name'] for d in dets} == {str(val / f'00000000000{k}.jpg') for k in (5, 6, 7)}
    assert {d['drawn'] for d in dets} == {f'00000000000{k}.jpg' for k in (5, 6, 7)}
    # the image ids are the COCO file numbers: the file scores against the split's annotations as it is
    stats = evaluate_results(tmp_path / 'out' / 'detections.json',
                             run_dir / 'shapes' / 'annotations' / 'instances_val2017.json')
    assert 0 <= stats['AP'] <= 1


def test_predict_cli_wrong_checkpoint_kind_is_one_line(run_dir, tmp_path):
    val = run_dir / 'shapes' / 'val2017'
    rn = tmp_path / 'resnet.pth'
    torch.save({'conv1.weight': torch.zeros(64, 3, 7, 7), 'fc.weight': torch.zeros(10, 512)}, rn)
    for ck, what in ((rn, 'not a DETR state dict'), (val / '000000000005.jpg', 'not a checkpoint'),
                     (tmp_path / 'nope.pth', 'no such file')):
        res = run('predict', ck, val, '--out', tmp_path / 'out')
        assert res.returncode == 1 and what in res.stderr and 'Traceback' not in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and str(ck) in res.stderr
        assert not (tmp_path / 'out').exists()


def test_export_then_predict_with_onnxruntime_and_openvino(run_dir, tmp_path):
    ck, img = run_dir / 'run' / 'model' / 'best.pth', run_dir / 'shapes' / 'val2017' / '000000000006.jpg'
    res = run('export', ck, '--out', tmp_path / 'm.onnx')
    assert res.returncode == 0, res.stderr
    assert 'circle, square, triangle' in res.stdout and (tmp_path / 'm.onnx').is_file()
    outs = {}
    for name, args in (('torch', (ck,)), ('onnx', (tmp_path / 'm.onnx',)),
                       ('on_the_fly', (ck, '--backend', 'onnxruntime')),
                       ('openvino', (tmp_path / 'm.onnx', '--backend', 'openvino')),
                       ('openvino_on_the_fly', (ck, '--backend', 'openvino'))):
        res = run('predict', *args, img, '--out', tmp_path / name, '--threshold', 0, '--top-k', 3, '--device', 'cpu')
        assert res.returncode == 0, res.stderr
        outs[name] = json.loads((tmp_path / name / 'detections.json').read_text())
    for name in ('onnx', 'on_the_fly', 'openvino', 'openvino_on_the_fly'):
        for a, b in zip(outs[name], outs['torch'], strict=True):
            assert a['category_id'] == b['category_id'] and abs(a['score'] - b['score']) < 1e-4
            assert max(abs(u - v) for u, v in zip(a['bbox'], b['bbox'])) < 0.05
    res = run('export', ck, '--out', tmp_path / 'm.pt')
    assert res.returncode == 1 and 'suffix .onnx' in res.stderr


def test_sparse_category_ids_reach_predictions_and_the_export(tmp_path):
    "A checkpoint of sparse ids (labels 0..2 for ids 1, 2, 4000000): predict and the ONNX export give those ids."
    from detr_nb.checkpoint import save_checkpoint
    from detr_nb.export import export_onnx, OnnxDETR
    from detr_nb.model import DETR
    shapes = make_shapes(tmp_path / 'shapes', n_train=1, n_val=1, seed=0, min_size=64, max_size=80)
    cfg = apply_overrides(get_preset('tiny'), SMALL + [f'data.root={shapes}', 'model.num_classes=3'])
    sparse = [{'label': 0, 'id': 1, 'name': 'circle'}, {'label': 1, 'id': 2, 'name': 'square'},
              {'label': 2, 'id': 4_000_000, 'name': 'triangle'}]
    torch.manual_seed(0)
    ck = save_checkpoint(tmp_path / 'sparse.pth', DETR(cfg.model), cfg=cfg, categories=sparse)
    image = next((shapes / 'val2017').iterdir())
    (r,) = predict(ck, image, threshold=0.0, device='cpu')
    by_label = {c['label']: (c['id'], c['name']) for c in sparse}
    assert len(r) and all(by_label[int(k)] == (int(i), n) for k, i, n in zip(r.labels, r.category_ids, r.names))
    assert {d['category_id'] for d in r.to_coco(1)} <= {1, 2, 4_000_000}
    onnx = OnnxDETR(export_onnx(ck, tmp_path / 'sparse.onnx'))
    assert onnx.categories == sparse
    (o,) = predict(tmp_path / 'sparse.onnx', image, threshold=0.0)
    assert o.category_ids.tolist() == r.category_ids.tolist() and o.names == r.names


def test_predict_cli_canvas_gives_batch_independent_results(run_dir, tmp_path):
    "--canvas pads every image to one square: an image's detections are the same alone and in a batch."
    ck, val = run_dir / 'run' / 'model' / 'best.pth', run_dir / 'shapes' / 'val2017'
    dets = {}
    for name, bs in (('alone', 1), ('batched', 3)):
        res = run('predict', ck, val, '--out', tmp_path / name, '--threshold', 0, '--top-k', 3, '--device', 'cpu',
                  '--batch-size', bs, '--canvas', 80, '--no-progress')
        assert res.returncode == 0, res.stderr
        dets[name] = json.loads((tmp_path / name / 'detections.json').read_text())
    for a, b in zip(dets['alone'], dets['batched'], strict=True):
        assert a['image_id'] == b['image_id'] and a['category_id'] == b['category_id']
        assert abs(a['score'] - b['score']) < 1e-5 and max(abs(u - v) for u, v in zip(a['bbox'], b['bbox'])) < 1e-3
    # a canvas smaller than the model's max_size (80 here): one line before anything runs, nothing written
    res = run('predict', ck, val, '--out', tmp_path / 'small', '--canvas', 40, '--no-progress')
    assert res.returncode == 1 and 'Traceback' not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert '--canvas 40' in res.stderr and not (tmp_path / 'small').exists()  # the option's name, as typed
