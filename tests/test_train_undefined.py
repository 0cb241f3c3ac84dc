"""Issue 26, kinds 2 and 3 at training time: a validation split whose COCO metrics are undefined never picks
best.pth nor stops the run early, and images holding more objects than queries are named before the first step."""
import json, warnings
import pytest
from detr_nb.config import get_preset, apply_overrides
from detr_nb.data import make_shapes
from detr_nb.train import train

SMALL = ['data.scales=[64]', 'data.max_size=80', 'data.val_size=64', 'data.crop_resize=[64]', 'data.crop_min=48',
         'data.crop_max=64', 'data.batch_size=2', 'data.num_workers=0', 'train.device=cpu']

@pytest.fixture
def background_val(tmp_path):
    "Shapes whose validation split holds images without any object (every evaluation's AP is undefined)."
    root = make_shapes(tmp_path / 'shapes', n_train=6, n_val=3, seed=0, min_size=64, max_size=80)
    ann = root / 'annotations' / 'instances_val2017.json'
    d = json.loads(ann.read_text())
    ann.write_text(json.dumps({**d, 'annotations': []}))
    return root

def run(root, out, *more):
    cfg = apply_overrides(get_preset('tiny'), SMALL + [f'data.root={root}', f'out_dir={out}', 'name=x', *more])
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter('always')
        r = train(cfg, progress=False)
    return r, [str(w.message) for w in said]

def test_undefined_ap_falls_back_to_val_loss(background_val, tmp_path):
    r, said = run(background_val, tmp_path / 'runs', 'train.epochs=2')
    assert r['stopped'] == 'completed' and r['epoch'] == 2
    assert r['monitor'] == 'val_loss' and r['best'] is not None and r['best'] == r['best']  # a real number
    assert any('best.pth and early stopping follow the validation loss' in s for s in said)
    assert (r['exp_dir'] / 'model' / 'best.pth').is_file()
    text = (r['exp_dir'] / 'result' / 'val_metrics.json').read_text()  # strict JSON: null, never NaN
    record = json.loads(text, parse_constant=lambda c: pytest.fail(f'{c} in val_metrics.json'))
    assert record.get('AP') is None and isinstance(record['val_loss'], float)

def test_undefined_chosen_monitor_is_skipped(background_val, tmp_path):
    r, said = run(background_val, tmp_path / 'runs', 'train.epochs=2', 'train.patience=1', 'train.monitor=AP50')
    assert r['stopped'] == 'completed' and r['best'] is None  # nothing picked on an undefined number, no early stop
    assert any('does not pick best.pth nor count towards train.patience' in s for s in said)

def test_more_objects_than_queries_named_at_start(tmp_path):
    root = make_shapes(tmp_path / 'shapes', n_train=4, n_val=2, seed=0, min_size=64, max_size=80)
    r, said = run(root, tmp_path / 'runs', 'train.max_steps=1', 'model.num_queries=1')
    crowded = [s for s in said if 'hold more objects than model.num_queries = 1' in s]
    assert len(crowded) == 1 and 'can never be found' in crowded[0]
