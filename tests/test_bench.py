"""The bench runs once at a tiny size and writes JSON with its fields (a smoke test, never a timed test)."""
import json
import pytest, torch
from detr_nb.bench import bench, bench_data
from real_data import COCO_REAL, COCO_REAL_WHERE


def test_bench_tiny_json(tmp_path):
    out = tmp_path / 'bench.json'
    r = bench('tiny', batch_size=2, image_size='64x64', boxes=3, steps=2, warmup=1, out=out)
    saved = json.loads(out.read_text())
    assert saved['settings'] == r['settings'] and saved['settings']['image_size'] == [64, 64]
    assert {'settings', 'machine', 'torch', 'date', 'train', 'infer'} <= set(saved)
    assert saved['machine']['torch'] == torch.__version__
    for mode in ('train', 'infer'):
        m = saved[mode]
        for k in ('images_per_s', 'ms_median', 'ms_mean', 'ms_min', 'peak_memory_mib', 'memory_kind', 'ops',
                  'aten_events', 'timed_steps'):
            assert k in m, (mode, k)
        assert m['images_per_s'] > 0 and m['ops'] > 0 and m['timed_steps'] == 2
    # a result that is there is not replaced unless asked, and the refusal comes before any timing
    with pytest.raises(FileExistsError, match='bench.json exists'):
        bench('tiny', steps=1, warmup=0, out=out)
    assert json.loads(out.read_text()) == saved
    bench('tiny', batch_size=1, image_size='48x64', boxes=1, steps=1, warmup=0, modes='infer', ops=False, flops=False,
          out=out, overwrite=True)
    assert json.loads(out.read_text())['settings']['image_size'] == [48, 64]

def test_bench_switches_cpu():
    r = bench('tiny', batch_size=1, image_size=64, boxes=2, steps=1, warmup=1, modes='train', fused_adamw=False,
              channels_last=True, precision='bf16', ops=False)
    assert 'infer' not in r and r['train']['ms_median'] > 0 and 'ops' not in r['train']
    assert r['settings']['channels_last'] and r['settings']['precision'] == 'bf16'
    # bf16 on a CPU: the arithmetic is counted, but an emulated bf16 product has no meaningful peak to compare with
    assert r['train']['gflop'] > 0 and ('floor_ms' not in r['train']) == (not torch.cuda.is_available())

def test_bench_bad_arguments():
    with pytest.raises(ValueError, match='precision'):
        bench('tiny', precision='fp8')
    with pytest.raises(ValueError, match='modes'):
        bench('tiny', modes='learn')
    with pytest.raises(ValueError, match='HxW'):
        bench('tiny', image_size='big')
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match='GPU-only'):
            bench('tiny', device='cpu', cuda_graphs=True)

def test_bench_data_shapes(tmp_path):
    rows = bench_data(workers=(0,), batch_size=2, batches=2, workdir=tmp_path)
    assert rows and {'source', 'workers', 'images_per_s', 'decode'} <= set(rows[0])
    assert all(r['images_per_s'] > 0 for r in rows)

def test_bench_data_real_subset():
    root = COCO_REAL
    if not (root / 'annotations').is_dir():
        pytest.skip(f'the real COCO subset is absent: {COCO_REAL_WHERE}')
    rows = bench_data(root=root, workers=(0,), batch_size=2, batches=1, split='val')
    assert rows[0]['source'] == str(root) and rows[0]['images_per_s'] > 0
