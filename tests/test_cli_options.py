"""Every option of every `detr_nb` command, given a value a user can get wrong: refused before any work, in one line
on stderr, with a non-zero exit status, no traceback and nothing written (issue 26, kind 1)."""
import contextlib, importlib, io, os, subprocess
from pathlib import Path

import pytest
import torch
from detr_nb.cli import main
from detr_nb.config import apply_overrides, get_preset
from detr_nb.data import make_shapes
from detr_nb.jobs import check_params
from detr_nb.train import train

SMALL = ['data.scales=[64]', 'data.max_size=80', 'data.val_size=64', 'data.crop_resize=[64]', 'data.crop_min=48',
         'data.crop_max=64', 'data.batch_size=2', 'data.num_workers=0', 'train.device=cpu']


@pytest.fixture(scope='module')
def fx(tmp_path_factory):
    "A one-epoch training run on 4 small shapes images (its checkpoint and dataset), a file and a folder."
    d = tmp_path_factory.mktemp('options')
    shapes = make_shapes(d / 'shapes', n_train=4, n_val=3, seed=0, min_size=64, max_size=80)
    cfg = apply_overrides(get_preset('tiny'), SMALL + [f'data.root={shapes}', f'out_dir={d}', 'name=run',
                                                      'train.epochs=1', 'train.monitor=val_loss'])
    torch.manual_seed(0)
    train(cfg, progress=False)
    (d / 'afile.txt').write_text('not a dataset\n')
    (d / 'adir').mkdir()
    (d / 'params.yaml').write_text('train:\n  epochs: 1\n')
    (d / 'report').mkdir()
    (d / 'report' / 'summary.txt').write_text('my notes\n')  # a user's file where eval --out points
    return {'ckpt': d / 'run' / 'model' / 'best.pth', 'shapes': shapes, 'file': d / 'afile.txt', 'dir': d / 'adir',
            'yaml': d / 'params.yaml', 'root': d, 'report': d / 'report'}


def snapshot(*folders):
    return {(str(p), p.stat().st_mtime_ns, p.stat().st_size if p.is_file() else 0)
            for f in folders for p in Path(f).rglob('*')}


# (argv with {ckpt} {shapes} {file} {dir} {yaml} {new}, a word the one-line message must hold)
CASES = [
    # eval: model settings (the three), and every other option
    ('eval --checkpoint {ckpt} --model nhead=8', 'unknown key model.nhead'),
    ('eval --checkpoint {ckpt} --model num_queries=5', 'a training checkpoint, whose config fixes them'),
    ('eval --checkpoint {ckpt} --model nheads=2', 'a training checkpoint, whose config fixes them'),
    ('eval --checkpoint {ckpt} --set model.nheads=2', 'a training checkpoint, whose config fixes them'),
    ('eval --checkpoint {ckpt} --model nheads=two', "model.nheads = 'two' has the wrong type"),
    ('eval --checkpoint {ckpt} --model nheads', 'is not of the form key=value'),
    ('eval --checkpoint {ckpt} --set train.lr=1', 'eval takes model settings only'),
    ('eval --checkpoint {new}/x.pth', '--checkpoint'),
    ('eval --checkpoint {dir}', 'is a folder; give a file'),
    ('eval --checkpoint {file}', 'not a checkpoint'),
    ('eval --checkpoint ', 'an empty value'),
    ('eval --checkpoint {ckpt} --data {new}/nowhere', '--data'),
    ('eval --checkpoint {ckpt} --data {file}', 'is a file; give a folder'),
    ('eval --checkpoint {ckpt} --batch-size 0', 'argument --batch-size'),
    ('eval --checkpoint {ckpt} --batch-size -1', 'argument --batch-size'),
    ('eval --checkpoint {ckpt} --batch-size two', 'argument --batch-size'),
    ('eval --checkpoint {ckpt} --max-dets 0', 'argument --max-dets'),
    ('eval --checkpoint {ckpt} --max-dets 5', 'argument --max-dets'),
    ('eval --checkpoint {ckpt} --data {shapes} --out {report}', 'holds summary.txt, which the report'),  # issue 26 F2
    ('eval --checkpoint {ckpt} --data {shapes} --out {file}', 'is a file; give a folder'),
    ('eval --checkpoint {ckpt} --device gpu7', "--device = 'gpu7' is not a device"),
    ('eval --checkpoint {ckpt} --images {shapes}/val2017', '--images and --annotations go together'),
    ('eval --checkpoint {ckpt} --data {shapes} --images {shapes}/val2017 '
     '--annotations {shapes}/annotations/instances_val2017.json', 'not both'),
    ('eval --checkpoint {ckpt} --images {shapes}/val2017 --annotations {shapes}/annotations',
     'is a folder; give a file'),
    ('eval --checkpoint {ckpt} --out {file}', '--out'),
    ('eval --checkpoint {ckpt} --precision fp8', 'argument --precision'),
    ('eval --checkpoint {ckpt} --split test', 'argument --split'),
    # job: parameters the job does not have, of the wrong type, out of range, paths
    ('job train -p lr 0.5', 'lr: not a parameter of the train job; its parameters are config, preset'),
    ('job train -p epochs two', "-p epochs 'two': the train job's epochs is int, not str"),
    ('job train -p epochs 0', '-p epochs 0'),
    ('job train -p epochs -1', '-p epochs -1'),
    ('job train -p epochs 1.5', 'is int, not float'),
    ('job train -p epochs .nan', 'is int, not float'),
    ('job train -p epochs 2 -p epochs 3', 'given more than once'),
    ('job train -p preset huge', "-p preset 'huge': choose one of"),
    ('job train -p config {new}/none.yaml', '-p config'),
    ('job train -p config {dir}', 'the train job\'s config is a file'),
    ('job train -p data_root {new}/nowhere', '-p data_root'),
    ('job train -p data_root {file}', "data_root is a folder"),
    ('job train -p resume {new}/last.pth', '-p resume'),
    ('job train -p overrides train.lrr=1', 'unknown key train.lrr'),
    ('job train -p overrides [train.epochs=-3]', 'train.epochs'),
    ('job train --set train.lr=abc', 'train.lr'),
    ('job train -p name "[a"', 'not a value YAML can read'),
    ('job train -p out_dir {file}', 'give a folder'),
    ('job evaluate -p checkpoint {new}/ckpt.pth', '-p checkpoint'),
    ('job evaluate -p precision fp8', "-p precision 'fp8': choose one of"),
    ('job evaluate -p split test', "-p split 'test'"),
    ('job evaluate -p batch_size 0', '-p batch_size 0'),
    ('job evaluate -p figures maybe', "figures is bool, not str"),
    ('job evaluate -p device gpu7', "'gpu7' is not a device"),
    ('job evaluate --set train.lr=1', 'takes no config overrides'),
    ('job nosuch', 'unknown job'),
    ('job train --grid train.lr=1,2', 'option(s) of `job sweep`'),
    # job train: the experiment (F5) and every value the config checks (F6) before the kernel starts
    ('job train -p out_dir {root} -p name run', 'holds the checkpoints of an earlier run (last.pth, best.pth); '
                                                'continue it with -p resume auto'),
    ('job train -p name ../../escape -p out_dir {new}/joby', "name = '../../escape'; an experiment name must"),
    ('job train -p name .. -p out_dir {new}/joby', "name = '..'"),
    ('job train -p out_dir {new}/joby --set data.crop_min=1', 'data.crop_min = 1'),
    # image sides below the backbone's stride (F12), as predict --canvas and bench --size
    ('train --set data.scales=[1]', 'data.scales = [1]; it must be a non-empty list of pixel sizes, each >= 32'),
    ('train --set data.val_size=10', 'data.val_size = 10; it must be a whole number of pixels >= 32'),
    ('config --set data.max_size=1', 'data.max_size = 1'), ('config --set data.crop_resize=[16]', 'crop_resize'),
    # nan and inf of a number setting: its own rule answers, not a complaint about the type (round 2)
    ('train --set train.dense_coef=nan', 'train.dense_coef = nan; it must be a finite number >= 0'),
    ('config --set train.lr=inf', 'train.lr = inf; it must be a finite number > 0'),
    ('train --set train.giou_loss_coef=-Infinity', 'train.giou_loss_coef = -inf; it must be a finite number >= 0'),
    ('config --set train.set_cost_bbox=.nan', 'train.set_cost_bbox = nan; it must be a finite number >= 0'),
    ('config --set model.dropout=NaN', 'model.dropout = nan'),
    ('job train -p out_dir {new}/joby --set train.ema_decay=inf', 'train.ema_decay = inf; it must be in [0, 1)'),
    ('train --set train.epochs=2.5', 'train.epochs = 2.5 has the wrong type; expected a whole number'),
    ('config --set train.channels_last=often', "channels_last = 'often' has the wrong type; expected true or false"),
    # bench --set model.*: checked on the chosen preset's model (F13)
    ('bench --preset tiny --set model.nheads=3', 'model.hidden_dim = 64 is not divisible by model.nheads = 3'),
    ('bench --preset r50 --set model.hidden_dim=36', 'model.hidden_dim = 36 is not divisible by model.nheads = 8'),
    # sweep
    ('job sweep --grid train.lrr=1e-4,2e-4 --out {new}/sw', "no key 'lrr'"),
    ('job sweep --grid train.lr=abc --out {new}/sw', 'train.lr'),
    ('job sweep --grid train.lr=1e-4 --grid train.lr=2e-4 --out {new}/sw', 'given twice'),
    ('job sweep --grid train.lr=1e-4, --out {new}/sw', 'non-empty values'),
    ('job sweep --out {new}/sw', 'give the grid'),
    ('job sweep --grid train.lr=1e-4 --metric APX --out {new}/sw', 'metric'),
    ('job sweep --grid train.lr=1e-4 -p lr 0.5 --out {new}/sw', 'not a parameter of the train job'),
    ('job sweep --grid train.lr=1e-4 -p name x --out {new}/sw', 'leave them out'),
    ('job sweep --grid train.lr=1e-4 -p epochs 0 --out {new}/sw', '-p epochs 0'),
    ('job sweep --grid train.lr=1e-4 --out {file}', 'is a file; give a folder'),
    # bench
    ('bench --size 64', None), ('bench --size axb', '--size axb'), ('bench --size 0x64', '--size 0x64'),
    ('bench --batch-size 0', 'argument --batch-size'), ('bench --steps 0', 'argument --steps'),
    ('bench --warmup -1', 'argument --warmup'), ('bench --boxes -1', 'argument --boxes'),
    ('bench --threads 0', 'argument --threads'), ('bench --modes foo', "--modes 'foo'"),
    ('bench --modes train,train', "--modes 'train,train'"), ('bench --set model.nhead=2', 'unknown key model.nhead'),
    ('bench --set model.nheads=two', 'has the wrong type'), ('bench --device gpu7', "--device = 'gpu7'"),
    ('bench --cuda-graphs --device cpu', '--cuda-graphs'), ('bench --out {dir}', 'is a folder; give a file'),
    ('bench --data {new}/nowhere', '--data'), ('bench --data {shapes} --workers -1', 'argument --workers'),
    ('bench --gpu-decode', '--gpu-decode'), ('bench --precision fp8', 'argument --precision'),
    # time-to-ap
    ('time-to-ap --minutes 0', 'argument --minutes'), ('time-to-ap --minutes nan', 'argument --minutes'),
    ('time-to-ap --minutes inf', 'argument --minutes'), ('time-to-ap --minutes -1', 'argument --minutes'),
    ('time-to-ap --eval-every-steps 0', 'argument --eval-every-steps'),
    ('time-to-ap --set train.lrr=1', 'unknown key train.lrr'),
    ('time-to-ap --config {new}/p.yaml', '--config'), ('time-to-ap --config {dir}', 'is a folder; give a file'),
    ('time-to-ap --config {yaml} --preset tiny', 'give one starting config'),
    ('time-to-ap --set data.root={new}/nowhere', 'data.root'), ('time-to-ap --out {file}', 'give a folder'),
    ('bench --time-to-ap --minutes 0', 'argument --minutes'),
    # train and config
    ('train --set train.lrr=1', 'unknown key train.lrr'), ('train --set train.epochs=-1', 'train.epochs'),
    ('train --set train.lr=nan', 'train.lr'), ('train --set model.nhead=2', 'unknown key model.nhead'),
    ('train --set data.root={new}/nowhere', 'data.root'), ('train --set data.root={file}', 'data.root'),
    ('train --set data.root={shapes} --resume {new}/last.pth', '--resume'),
    ('train --config {new}/p.yaml', '--config'), ('train --config {yaml} --preset r50', 'give one starting config'),
    ('train --preset r18', 'argument --preset'), ('train --set epochs', 'not of the form section.key=value'),
    ('config --set train.epoch=2', 'unknown key train.epoch'), ('config --out {dir}', 'is a folder; give a file'),
    ('config --out {file}', 'exists'), ('config --config {dir}', 'is a folder; give a file'),
    ('config --out ', 'an empty value'),
    # validate, make-shapes, demo
    ('validate', 'give --data'), ('validate --data {new}/nowhere', 'no such folder'),
    ('validate --data {file}', 'is a file; give a folder'), ('validate --data {dir}', '{dir}'),
    ('validate --images {shapes}/val2017', '--images and --annotations go together'),
    ('validate --data {shapes} --images {shapes}/val2017', 'not both'),
    ('validate --images {shapes}/val2017 --annotations {new}/a.json', '--annotations'),
    ('validate --data {shapes} --max-dets 0', 'argument --max-dets'),
    ('make-shapes --out {new}/s --n-train 0', 'argument --n-train'),
    ('make-shapes --out {new}/s --n-val -1', 'argument --n-val'),
    ('make-shapes --out {file}', 'is a file; give a folder'),
    ('demo --epochs 0 --out {new}/d', 'argument --epochs'), ('demo --out {file}', 'is a file; give a folder'),
    # predict and export: messages in the words of the options
    ('predict {ckpt} {shapes}/val2017 --out {new}/p --threshold nan', 'argument --threshold'),
    ('predict {ckpt} {shapes}/val2017 --out {new}/p --threshold 1.5', 'argument --threshold'),
    ('predict {ckpt} {shapes}/val2017 --out {new}/p --top-k 0', 'argument --top-k'),
    ('predict {ckpt} {shapes}/val2017 --out {new}/p --batch-size -1', 'argument --batch-size'),
    ('predict {ckpt} {shapes}/val2017 --out {new}/p --canvas 0', 'argument --canvas'),
    ('predict {ckpt} {shapes}/val2017 --out {new}/p --canvas 40', '--canvas 40'),
    ('predict {ckpt} {shapes}/val2017 --out {new}/p --threads 0', 'argument --threads'),
    ('predict {ckpt} {shapes}/val2017 --out {file}', 'is a file; give a folder'),
    ('predict {dir} {shapes}/val2017 --out {new}/p', 'is a folder; give a file'),
    ('predict {new}/x.pth {shapes}/val2017 --out {new}/p', 'no such file'),
    ('predict {ckpt} {shapes}/val2017 --out {new}/p --weights ema', 'holds no EMA weights'),
    ('predict {ckpt} {shapes}/val2017 --out {new}/p --device gpu7', "--device = 'gpu7'"),
    ('predict {ckpt} {shapes}/val2017 --out {new}/p --backend onnxruntime --precision bf16', '--precision'),
    ('export {ckpt} --out {dir}', 'is a folder; give a file'), ('export {ckpt} --out {new}/m.txt', '.onnx'),
    ('export {ckpt} --out {new}/m.onnx --opset 0', 'argument --opset'),
    ('export {ckpt} --out {new}/m.onnx --opset 5', '--opset 5'),
    ('export {new}/x.pth --out {new}/m.onnx', 'no such file'),
    ('export {ckpt} --out {new}/m.onnx --weights ema', 'holds no EMA weights'),
    # convert
    ('convert {new}/nowhere {new}/out', 'SRC'), ('convert {file} {new}/out', 'is a file; give a folder'),
    ('convert {shapes} {file}', 'is a file; give a folder'),
    ('convert {shapes} {new}/out --val-fraction 1.5', 'argument --val-fraction'),
    ('convert {shapes} {new}/out --val-fraction nan', 'argument --val-fraction'),
    ('convert {shapes} {new}/out --val-fraction 0', 'argument --val-fraction'),
    ('convert {shapes} {new}/out --train-list {file}', 'go together'),
    ('convert {shapes} {new}/out --train-list {file} --val-list {new}/v.txt', '--val-list'),
    ('convert {shapes} {new}/out --format pdf', 'argument --format'),
    ('convert {shapes} {shapes}/inner', 'overlap'), ('convert {dir} {new}/out', '{dir}'),
    ('convert {shapes} {new}/out --val-fraction 1', '1 is outside (0, 1)'),  # the library's range, at parse time
    ('convert {shapes} {new}/out --classes ""', "argument --classes: '' is not a class name"),
    ('convert {shapes} {new}/out --classes " "', "argument --classes: ' ' is not a class name"),
    ('convert {shapes} {new}/out --format yolo', "read as YOLO, but none of its 7 images has a label file"),
    ('convert {shapes} {new}/out --format voc', "the format detected in it: COCO ('coco')"),
    # make-shapes: a folder that holds files is not written into
    ('make-shapes --out {shapes} --n-train 3 --n-val 1', '{shapes} is not empty; give a new or empty folder'),
    ('make-shapes --out {new}/s --seed -1', 'argument --seed: -1: give a whole number >= 0'),  # numpy's seeds
    # the parser itself
    ('eval', 'the following arguments are required: --checkpoint'), ('nosuch', 'invalid choice'),
    ('predict {ckpt}', 'the following arguments are required'), ('bench --what', 'unrecognized arguments'),
]
CASES = [c for c in CASES if c[1] is not None]


@pytest.mark.parametrize('argv, message', CASES, ids=[c[0][:60] for c in CASES])
def test_bad_option_is_one_line_and_writes_nothing(fx, tmp_path, monkeypatch, argv, message):
    import shlex
    new = tmp_path / 'new'
    fill = {k: str(v) for k, v in fx.items()} | {'new': str(new)}
    args = [a.format(**fill) for a in shlex.split(argv.replace('--checkpoint ', '--checkpoint "" ', 1)
                                                  if argv.endswith('--checkpoint ') else argv)]
    if argv.endswith('--out '):
        args.append('')
    monkeypatch.chdir(tmp_path)
    before = snapshot(fx['root'], tmp_path)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(args)
    lines = err.getvalue().strip().splitlines()
    assert status != 0, (args, err.getvalue())
    assert len(lines) == 1 and 'Traceback' not in err.getvalue(), err.getvalue()
    assert message.format(**fill) in lines[0], (message, lines[0])
    assert snapshot(fx['root'], tmp_path) == before, 'something was written'


def test_a_one_string_list_parameter_is_a_list_of_one():
    assert check_params('train', {'overrides': 'train.max_steps=1', 'epochs': 2}) == \
        {'overrides': ['train.max_steps=1'], 'epochs': 2}


def test_jobs_parameters_cells_have_one_parameter_per_line():
    "papermill reads one `name = value` a line: every parameter of each job is seen (n_val was not, issue 26)."
    import papermill as pm
    from detr_nb.jobs import job_notebook
    for job, names in (('train', {'config', 'preset', 'name', 'out_dir', 'data_root', 'epochs', 'resume', 'overrides',
                                  'n_train', 'n_val'}),
                       ('evaluate', {'checkpoint', 'data_root', 'out_dir', 'split', 'device', 'precision',
                                     'batch_size', 'figures', 'n_val', 'overwrite'})):
        assert set(pm.inspect_notebook(str(job_notebook(job)))) == names


def test_demo_stopped_by_a_signal_is_not_evaluated(fx, tmp_path, monkeypatch, capsys):
    "A demo stopped by SIGTERM exits 143 at once: no evaluation, no drawing, the model so far named (issue 26)."
    import detr_nb.train as T
    small = lambda out_dir, name='demo', epochs=18: apply_overrides(get_preset('tiny'), SMALL + [
        f'data.root={fx["shapes"]}', f'out_dir={out_dir}', f'name={name}', f'train.epochs={epochs}'])

    class TermAtOnce(T.StopOnSignal):  # as if SIGTERM came during the first step
        def __enter__(self):
            super().__enter__()
            self.requested = 'SIGTERM'
            return self
    monkeypatch.setattr(T, 'demo_config', small)
    monkeypatch.setattr(T, 'StopOnSignal', TermAtOnce)
    assert main(['demo', '--out', str(tmp_path / 'd'), '--no-progress']) == 143
    out, err = capsys.readouterr()
    assert 'COCO metrics' not in out and not list((tmp_path / 'd').rglob('predictions.png'))
    assert 'demo: stopped: interrupted (SIGTERM); not evaluated; the model so far: ' in err
    assert (tmp_path / 'd' / 'demo' / 'model' / 'last.pth').is_file()


def test_train_prints_the_best_value_rounded(fx, tmp_path, capsys):
    "The closing line of `detr_nb train` gives the best monitored value to 4 significant digits, not 17."
    import re
    args = [a for s in SMALL + [f'data.root={fx["shapes"]}', f'out_dir={tmp_path}', 'name=r', 'train.epochs=1',
                                'train.monitor=val_loss'] for a in ('--set', s)]
    assert main(['train', '--preset', 'tiny', '--no-progress', *args]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.search(r'stopped: completed  best val_loss: \d+(\.\d{1,4})?$', last), last


def test_bench_model_settings_are_checked_on_the_chosen_preset():
    from detr_nb.options import check_model_settings
    assert check_model_settings({'hidden_dim': 36}, '--set model.*', preset='tiny') == {'hidden_dim': 36}
    with pytest.raises(ValueError, match='model.nheads = 8'):
        check_model_settings({'hidden_dim': 36}, '--set model.*', preset='r50')


def test_a_failed_job_keeps_the_earlier_executed_notebook(tmp_path):
    import json, nbformat
    from detr_nb.jobs import JobError, run_job
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('n = 1', metadata={'tags': ['parameters']}),
                                         nbformat.v4.new_code_cell('assert n > 0\nprint(n)')])
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'python3', 'language': 'python'}
    nbformat.write(nb, tmp_path / 'job.ipynb')
    out = tmp_path / 'result' / 'job.ipynb'
    run_job(tmp_path / 'job.ipynb', out, {'n': 7})
    with pytest.raises(JobError) as e:
        run_job(tmp_path / 'job.ipynb', out, {'n': -1})
    assert e.value.notebook == tmp_path / 'result' / 'job.failed.ipynb'
    assert ''.join(json.loads(out.read_text())['cells'][-1]['outputs'][0]['text']) == '7\n'  # the earlier run, kept
    assert sorted(p.name for p in out.parent.iterdir()) == ['job.failed.ipynb', 'job.ipynb']


def test_eval_category_mismatch_names_the_users_folder_and_flag(fx, tmp_path, monkeypatch):
    "Issue 26 M4: a VOC folder of other classes: the message named the cached json and a library-only argument."
    from PIL import Image
    voc = tmp_path / 'v'
    (voc / 'Annotations').mkdir(parents=True)
    (voc / 'JPEGImages').mkdir()
    for i, name in enumerate(('dog', 'cat', 'bird')):
        Image.new('RGB', (64, 48), (200, 10, 10)).save(voc / 'JPEGImages' / f'im{i}.jpg')
        (voc / 'Annotations' / f'im{i}.xml').write_text(
            f"<annotation><filename>im{i}.jpg</filename><size><width>64</width><height>48</height><depth>3</depth>"
            f"</size><object><name>{name}</name><bndbox><xmin>5</xmin><ymin>5</ymin><xmax>30</xmax><ymax>30</ymax>"
            f"</bndbox></object></annotation>")
    monkeypatch.chdir(tmp_path)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(['eval', '--checkpoint', str(fx['ckpt']), '--data', 'v', '--out', 'm4', '--no-figures'])
    lines = err.getvalue().strip().splitlines()
    assert status == 1 and len(lines) == 1, err.getvalue()
    assert lines[0].startswith('detr_nb eval: error: v: the model') and '.cache' not in lines[0], lines[0]
    assert '--allow-category-mismatch' in lines[0], lines[0]
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        status = main(['eval', '--checkpoint', str(fx['ckpt']), '--data', 'v', '--out', 'm4', '--no-figures',
                       '--allow-category-mismatch'])
    assert status == 0 and (tmp_path / 'm4' / 'coco_stats.json').is_file()


def test_eval_overwrite_replaces_the_report_only_when_asked(fx, tmp_path, capsys):
    "Issue 26 F2: a --out holding the user's summary.txt: refused (kept) without --overwrite, replaced with it."
    out = tmp_path / 'e18'
    out.mkdir()
    (out / 'summary.txt').write_text('my notes\n')
    argv = ['eval', '--checkpoint', str(fx['ckpt']), '--data', str(fx['shapes']), '--out', str(out), '--no-figures']
    assert main(argv) == 1 and (out / 'summary.txt').read_text() == 'my notes\n'
    assert main(argv + ['--overwrite']) == 0 and (out / 'summary.txt').read_text() != 'my notes\n'


@pytest.fixture
def unwritable(tmp_path):
    """A folder `ro` (with a folder `ro/data` in it) where no file can be made: `chmod 555` for a user, `chattr +i`
    for root (root writes in a read-only folder); undone after."""
    ro = tmp_path / 'ro'
    (ro / 'data').mkdir(parents=True)
    ro.chmod(0o555)
    if os.geteuid() == 0:
        subprocess.run(['chattr', '+i', str(ro)], check=True)
    yield ro
    if os.geteuid() == 0:
        subprocess.run(['chattr', '-i', str(ro)], check=True)
    ro.chmod(0o755)


# (argv with {ckpt} {shapes} {ro}, the function that does the command's work: it must not be reached)
UNWRITABLE = [
    ('eval --checkpoint {ckpt} --data {shapes} --out {ro}/report', 'detr_nb.analysis.evaluate_checkpoint'),
    ('bench --steps 1 --warmup 0 --out {ro}/b.json', 'detr_nb.bench.bench'),
    ('bench --time-to-ap --minutes 0.1 --out {ro}/t', 'detr_nb.time_to_ap.time_to_ap'),
    ('export {ckpt} --out {ro}/m.onnx', 'detr_nb.export.export_onnx'),
    ('predict {ckpt} {shapes}/val2017 --out {ro}/p', 'detr_nb.inference.predict_to_folder'),
    ('convert {shapes} {ro}/c', 'detr_nb.formats.load_dataset'),
    ('convert {shapes} {ro}/data --overwrite', 'detr_nb.formats.load_dataset'),  # replaced whole: made beside, in ro
    ('make-shapes --out {ro}/s', 'detr_nb.shapes.replace_folder'),
    ('make-shapes --out {ro}/data --overwrite', 'detr_nb.shapes.replace_folder'),
]


@pytest.mark.parametrize('argv, work', UNWRITABLE, ids=[c[0][:50] for c in UNWRITABLE])
def test_an_out_that_cannot_be_written_is_refused_before_the_work(fx, unwritable, monkeypatch, argv, work):
    "`--out` in a folder no file can be made in: one line naming the user's folder, before any work (issue 26, M3)."
    module, name = work.rsplit('.', 1)
    def never(*args, **kwargs):
        raise AssertionError(f"{work} ran")
    monkeypatch.setattr(importlib.import_module(module), name, never)
    args = argv.format(ckpt=fx['ckpt'], shapes=fx['shapes'], ro=unwritable).split()
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(args)
    lines = err.getvalue().strip().splitlines()
    assert status == 1 and len(lines) == 1, err.getvalue()
    assert f"cannot write in {unwritable} (" in lines[0] and '.tmp-' not in lines[0], lines[0]


def test_demo_with_a_foreign_shapes_folder_names_it_without_an_overwrite_it_lacks(tmp_path, capsys):
    "`demo --out D` where D/shapes holds other files: one line naming that folder; demo has no --overwrite to suggest."
    (tmp_path / 'd' / 'shapes').mkdir(parents=True)
    (tmp_path / 'd' / 'shapes' / 'notes.txt').write_text('mine')
    assert main(['demo', '--out', str(tmp_path / 'd'), '--no-progress']) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"detr_nb demo: error: {tmp_path / 'd' / 'shapes'} holds files but no complete shapes dataset; "
                   f"move that folder away or give demo another --out"), err
    assert (tmp_path / 'd' / 'shapes' / 'notes.txt').read_text() == 'mine'


def test_job_parameter_given_as_empty_text_is_named_as_typed(tmp_path, capsys):
    "`-p name ''` is the empty text the user typed (not YAML's None): the name rule answers, in one line."
    assert main(['job', 'train', '-p', 'name', '', '-p', 'out_dir', str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "name = ''; an experiment name must be non-empty" in err, err
    assert not any(tmp_path.iterdir())
