"""Learning real photos from scratch: the `scratch` preset trained on the 200 raccoon photos (Pascal VOC, the author's
160/40 split) for a short time budget must beat the constant centre box by far. Slow (minutes of CPU): `make
test-slow` runs it; skipped when the photos are absent (`tests/real_data.py` says where they go)."""
import json
from pathlib import Path
import pytest
import torch
from detr_nb.checkpoint import read_metrics
from detr_nb.coco_metrics import coco_stats
from detr_nb.compare import centre_box_results
from detr_nb.config import apply_overrides, get_preset
from detr_nb.train import train
from real_data import RACCOON, RACCOON_WHERE
MINUTES = 8  # the budget of the test run: its schedule ends there


@pytest.mark.slow
@pytest.mark.skipif(not RACCOON.is_dir(), reason=RACCOON_WHERE)
def test_scratch_preset_learns_the_raccoons(tmp_path, monkeypatch):
    monkeypatch.setenv('DETR_NB_CACHE', str(tmp_path / 'cache'))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        cfg = apply_overrides(get_preset('scratch'), [f'data.root={RACCOON}', f'out_dir={tmp_path}', 'name=raccoons',
                                                      f'train.max_minutes={MINUTES}', 'train.device=cpu'])
        result = train(cfg, progress=False)
    finally:
        torch.set_num_threads(threads)
    m = read_metrics(result['exp_dir'])
    last = m[m['val/AP'].notna()].iloc[-1]  # the evaluation at the end of the budget
    gt = json.loads(Path(cfg.data.split_paths('val')[1]).read_text())
    floor = coco_stats(gt, centre_box_results(gt))  # AP 0.185, AP50 0.560 on this split
    assert last['val/AP'] >= floor['AP'] + 0.06, (last['val/AP'], floor['AP'])
    assert last['val/AP50'] >= floor['AP50'] + 0.05, (last['val/AP50'], floor['AP50'])
