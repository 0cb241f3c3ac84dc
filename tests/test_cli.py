"""The `detr_nb` console script end to end, as a user runs it (a separate process, exit statuses, messages)."""
import json, signal, subprocess, sys, time
from pathlib import Path

import pandas as pd
import pytest
import yaml

BIN = Path(sys.executable).parent / 'detr_nb'


def run(*args, ok=True):
    res = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, timeout=300)
    if ok and res.returncode:
        pytest.fail(f"detr_nb {' '.join(map(str, args))} failed:\n{res.stdout}\n{res.stderr}")
    return res


def test_help_lists_commands():
    out = run('--help').stdout
    for cmd in ('make-shapes', 'validate', 'config'):
        assert cmd in out


def test_no_command_prints_help_and_exits_2():
    res = run(ok=False)
    assert res.returncode == 2 and 'usage: detr_nb' in res.stdout


def test_make_shapes_then_validate(tmp_path):
    run('make-shapes', '--out', tmp_path / 'shapes', '--n-train', 4, '--n-val', 2, '--seed', 1)
    for split, n in (('train', 4), ('val', 2)):
        ann = json.loads((tmp_path / 'shapes' / 'annotations' / f'instances_{split}2017.json').read_text())
        assert len(ann['images']) == n
        assert len(list((tmp_path / 'shapes' / f'{split}2017').glob('*.jpg'))) == n
    res = run('validate', '--data', tmp_path / 'shapes')
    assert '== train' in res.stdout and '== val' in res.stdout and '=> OK' in res.stdout


def test_validate_reports_broken_dataset_with_status_1(tmp_path):
    run('make-shapes', '--out', tmp_path / 's', '--n-train', 3, '--n-val', 1)
    ann_file = tmp_path / 's' / 'annotations' / 'instances_train2017.json'
    ann = json.loads(ann_file.read_text())
    (tmp_path / 's' / 'train2017' / ann['images'][0]['file_name']).unlink()  # a missing image
    ann_file.write_text(json.dumps(ann))
    res = run('validate', '--images', tmp_path / 's' / 'train2017', '--annotations', ann_file, ok=False)
    assert res.returncode == 1
    assert 'missing file' in res.stdout and ann['images'][0]['file_name'] in res.stdout


def test_validate_missing_folder_is_one_line_error(tmp_path):
    res = run('validate', '--data', tmp_path / 'nowhere', ok=False)
    assert res.returncode == 1 and 'no such folder' in res.stderr and 'Traceback' not in res.stderr


def test_config_writes_resolved_yaml(tmp_path):
    out = tmp_path / 'params.yaml'
    run('config', '--preset', 'r50_dc5', '--set', 'train.epochs=3', '--set', 'data.root=/data/coco', '--out', out)
    d = yaml.safe_load(out.read_text())
    assert d['model']['dilation'] is True and d['train']['epochs'] == 3 and d['data']['root'] == '/data/coco'
    # and the written file is enough to re-create the same config
    again = run('config', '--config', out).stdout
    assert yaml.safe_load(again) == d
    # the file is the user's now: replaced only with --overwrite
    res = run('config', '--preset', 'tiny', '--out', out, ok=False)
    assert res.returncode == 1 and f'{out} exists' in res.stderr and yaml.safe_load(out.read_text()) == d
    run('config', '--preset', 'tiny', '--out', out, '--overwrite')
    assert yaml.safe_load(out.read_text())['model']['backbone'] == 'resnet18'


@pytest.mark.parametrize('args, message', [
    (['config', '--set', 'train.lr_backbon=0'], 'unknown key train.lr_backbon'),
    (['config', '--set', 'model.backbone=vgg'], "model.backbone = 'vgg' is not allowed"),
    (['config', '--set', 'epochs'], 'not of the form section.key=value'),
])
def test_bad_config_values_name_the_key(args, message):
    res = run(*args, ok=False)
    assert res.returncode == 1 and message in res.stderr


TINY = ['--set', 'train.epochs=1', '--set', 'data.scales=[64]', '--set', 'data.max_size=80', '--set',
        'data.val_size=64',
        '--set', 'data.crop_resize=[64]', '--set', 'data.crop_min=48', '--set', 'data.crop_max=64',
        '--set', 'data.batch_size=2']


def test_train_then_eval_then_evaluate_job(tmp_path):
    "A user's round trip: data, `detr_nb train`, `detr_nb eval` on its checkpoint, the papermill evaluation job."
    run('make-shapes', '--out', tmp_path / 'shapes', '--n-train', 4, '--n-val', 2)
    exp = tmp_path / 'exp'
    res = run('train', '--preset', 'tiny', '--set', f'data.root={tmp_path / "shapes"}', '--set', f'out_dir={exp}',
              '--set', 'name=cli', *TINY, '--no-progress')
    assert res.returncode == 0 and 'stopped: completed' in res.stdout
    run_dir = exp / 'cli'
    for f in ('params.yaml', 'log/metrics.csv', 'model/last.pth', 'model/best.pth'):
        assert (run_dir / f).is_file(), f
    res = run('eval', '--checkpoint', run_dir / 'model' / 'best.pth', '--no-figures')
    stats = json.loads((run_dir / 'result' / 'coco_stats.json').read_text())
    assert 'AP' in res.stdout and set(stats) >= {'AP', 'AP50', 'AR100'}
    run('job', 'evaluate', '-p', 'checkpoint', run_dir / 'model' / 'best.pth', '-p', 'figures', 'false',
        '--no-progress')
    assert (run_dir / 'result' / 'evaluate.ipynb').is_file()
    job = ('job', 'evaluate', '-p', 'checkpoint', run_dir / 'model' / 'best.pth', '-p', 'figures', 'false',
           '-p', 'out_dir', tmp_path / 'report', '--no-progress')
    run(*job)
    again = run(*job, ok=False)  # the earlier report is kept unless the job is told to replace it
    assert again.returncode == 1 and 'overwrite' in again.stdout + again.stderr, again.stdout + again.stderr
    assert (tmp_path / 'report' / 'evaluate.ipynb').is_file()
    run(*job, '-p', 'overwrite', 'true')


def test_eval_missing_checkpoint_and_unknown_job(tmp_path):
    res = run('eval', '--checkpoint', tmp_path / 'none.pth', ok=False)
    assert res.returncode == 1 and f"--checkpoint {tmp_path / 'none.pth'}: no such file" in res.stderr
    res = run('job', 'nosuchjob', ok=False)
    assert res.returncode == 1 and "unknown job 'nosuchjob'" in res.stderr


def test_bench_runs_once_at_a_tiny_size(tmp_path):
    "CI runs the benchmark once only to check that it works (it is never a timed test)."
    out = tmp_path / 'bench.json'
    res = run('bench', '--preset', 'tiny', '--batch-size', 1, '--size', '48x64', '--steps', 1, '--warmup', 0, '--out',
              out)
    r = json.loads(out.read_text())
    assert 'images/s' in res.stdout and 'floor ms' in res.stdout
    for mode in ('train', 'infer'):
        assert r[mode]['images_per_s'] > 0 and r[mode]['ops'] > 0
        assert r[mode]['gflop'] > 0 and r[mode]['floor_ms'] > 0 and 0 < r[mode]['of_peak']
    assert r['train']['gflop'] > 2 * r['infer']['gflop']  # forward + backward vs forward



def test_bench_time_to_ap_writes_its_csv_and_plot(tmp_path):
    """`bench --time-to-ap` on a tiny config for a 3-second budget, evaluated after every step: it stops on the budget
    (a step is evaluated before the budget is checked, so there is at least one row) and writes the curve."""
    import pandas as pd
    run('make-shapes', '--out', tmp_path / 'shapes', '--n-train', 4, '--n-val', 2)
    res = run('bench', '--time-to-ap', '--minutes', 0.05, '--eval-every-steps', 1, '--preset', 'tiny',
              '--set', f'data.root={tmp_path / "shapes"}', '--set', 'train.device=cpu', *TINY,
              '--set', 'train.epochs=100', '--out', tmp_path / 'exp', '--no-progress')
    exp = tmp_path / 'exp' / 'tiny-time_to_ap'
    assert 'stopped: time_budget' in res.stdout, res.stdout
    assert f"wrote {exp / 'time_to_ap.csv'} and {exp / 'time_to_ap.png'}" in res.stdout, res.stdout
    curve = pd.read_csv(exp / 'time_to_ap.csv')
    assert list(curve.columns) == ['step', 'minutes', 'images_seen', 'AP', 'AP50']
    assert len(curve) >= 1 and curve.step.tolist() == list(range(1, len(curve) + 1)), curve
    assert (curve.images_seen == 2 * curve.step).all() and (curve.minutes > 0).all(), curve
    assert (exp / 'time_to_ap.png').stat().st_size > 10_000

# -- the exit status of `detr_nb train` for every way a run stops (the table in the CLI chapter)

@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    from detr_nb.data import make_shapes
    return make_shapes(tmp_path_factory.mktemp('shapes'), n_train=4, n_val=2, seed=0, min_size=64, max_size=80)


def train_args(shapes, out, name, *settings):
    "`detr_nb train` arguments for a tiny CPU run on `shapes` (2 steps an epoch) with more `--set` settings."
    more = [a for s in settings for a in ('--set', s)]
    return ['train', '--set', f'data.root={shapes}', '--set', f'out_dir={out}', '--set', f'name={name}',
            '--set', 'train.device=cpu', *TINY, *more, '--no-progress']


@pytest.mark.parametrize('name, settings, stopped, status', [
    ('max_steps', ['train.epochs=3', 'train.max_steps=3', 'train.eval_every=5', 'train.monitor=val_loss'],
     'max_steps', 0),
    # a budget of 0.06 ms of training time: the run stops after its first step
    ('time_budget', ['train.epochs=3', 'train.max_minutes=1.0e-6', 'train.eval_every=5'], 'time_budget', 0),
    # mode=max on a falling val_loss: the second evaluation does not improve, and patience is 1
    ('early_stop', ['train.epochs=4', 'train.eval_every=1', 'train.monitor=val_loss', 'train.mode=max',
                    'train.patience=1'], 'early_stop', 0),
    # a learning rate of 1e30 overflows the weights at once: every later step is NaN/Inf
    ('nonfinite', ['train.epochs=3', 'train.lr=1.0e+30', 'train.lr_backbone=1.0e+30', 'train.max_nonfinite_steps=2',
                   'train.eval_every=5'], 'nonfinite', 1),
])
def test_train_exit_status(shapes, tmp_path, capsys, name, settings, stopped, status):
    "In the process (faster): `main` returns what the console script exits with."
    from detr_nb.cli import main
    assert main(train_args(shapes, tmp_path, name, *settings)) == status
    assert f'stopped: {stopped}' in capsys.readouterr().out


def test_train_interrupted_by_sigterm_exits_143(shapes, tmp_path):
    "A real SIGTERM to `detr_nb train`: it saves last.pth, says how to resume and exits 128 + 15."
    args = train_args(shapes, tmp_path, 'term', 'train.epochs=200', 'train.log_every=1', 'train.eval_every=500')
    proc = subprocess.Popen([str(BIN), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / 'term' / 'log' / 'metrics.csv'
    deadline = time.monotonic() + 240
    # a logged step: the run is inside its epochs, where the signal handler is installed
    while not (metrics.is_file() and len(metrics.read_text().splitlines()) > 1):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 128 + signal.SIGTERM == 143, (out, err)
    assert 'stopped: interrupted' in out and "resume with resume='auto'" in out
    assert (tmp_path / 'term' / 'model' / 'last.pth').is_file()


def test_train_job_fails_when_the_run_does_not_finish(shapes, tmp_path):
    "The papermill training job raises on a nonfinite run, so `detr_nb job train` exits 1."
    overrides = ['train.lr=1.0e+30', 'train.lr_backbone=1.0e+30', 'train.max_nonfinite_steps=2', 'train.eval_every=5',
                 'train.device=cpu'] + TINY[3::2]  # TINY without its train.epochs
    res = run('job', 'train', '-p', 'name', 'nan', '-p', 'out_dir', tmp_path, '-p', 'data_root', shapes,
              '-p', 'epochs', 3, '-p', 'overrides', json.dumps(overrides), '--no-progress', ok=False)
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert 'the run did not finish: stopped = nonfinite' in res.stderr
    assert (tmp_path / 'nan' / 'result' / 'train.ipynb').is_file()


def test_job_sweep_records_a_diverging_run_and_runs_the_others(shapes, tmp_path):
    """`detr_nb job sweep`: a setting whose run diverges (NaN loss, the job fails) is recorded in the table with its
    error and executed notebook, the other setting still runs, and the exit status is 1."""
    overrides = ['train.max_nonfinite_steps=2', 'train.device=cpu'] + TINY[3::2]  # TINY without its train.epochs
    res = run('job', 'sweep', '--grid', 'train.lr=1.0e+30,1.0e-4', '-p', 'data_root', shapes, '-p', 'epochs', 2,
              '-p', 'overrides', json.dumps(overrides), '--out', tmp_path / 'sw', '--metric', 'val_loss',
              '--no-progress', ok=False)
    assert res.returncode == 1, (res.stdout, res.stderr)
    table = pd.read_csv(tmp_path / 'sw' / 'sweep.csv')
    assert table['run'].tolist() == ['lr_1.0e+30', 'lr_1.0e-4']
    assert table['status'].tolist() == ['failed', 'ok'], table
    assert 'stopped = nonfinite' in table['error'][0] and table['val_loss'][1] > 0
    for run_name in table['run']:
        assert (tmp_path / 'sw' / run_name / 'result' / 'train.ipynb').is_file()
    assert (tmp_path / 'sw' / 'sweep.png').stat().st_size > 0
    assert '1 run(s) ok, 1 failed' in res.stdout
