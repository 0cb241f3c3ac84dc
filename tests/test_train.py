"""Training loop: one-batch overfit, exact accumulation, NaN guard, early stopping, resume after a real kill,
the papermill job."""
import re, signal, subprocess, sys, textwrap, warnings
from pathlib import Path
import pytest
import torch
from detr_nb.config import get_preset, apply_overrides
from detr_nb.data import make_shapes
from detr_nb.model import DETR
from detr_nb.loss import SetCriterion
import detr_nb.train as T
from detr_nb.convergence import TrainingExtras
from detr_nb.dense import DenseHead

REPO = Path(__file__).resolve().parents[1]
SMALL = ['data.scales=[64]', 'data.max_size=80', 'data.val_size=64', 'data.crop_resize=[64]', 'data.crop_min=48',
         'data.crop_max=64', 'data.batch_size=2', 'data.num_workers=0', 'train.device=cpu']

@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    return make_shapes(tmp_path_factory.mktemp('shapes'), n_train=8, n_val=4, seed=0, min_size=64, max_size=80)

def small_cfg(root, out, name, *more):
    return apply_overrides(get_preset('tiny'), SMALL + [f'data.root={root}', f'out_dir={out}', f'name={name}', *more])

def toy_batch(b, seed, size=64, q=20):
    "b images of one size (no padding differences) with 1..3 boxes each."
    g = torch.Generator().manual_seed(seed)
    tg = []
    for _ in range(b):
        n = int(torch.randint(1, 4, (1,), generator=g))
        tg.append({'labels': torch.randint(1, 4, (n,), generator=g),
                   'boxes': torch.cat([torch.rand(n, 2, generator=g) * .5 + .25,
                                       torch.rand(n, 2, generator=g) * .3 + .1], 1)})
    return torch.randn(b, 3, size, size, generator=g), torch.zeros(b, size, size, dtype=torch.bool), tg

def _tiny_for_toys():
    "The tiny preset with the 4 classes of the toy batches (labels 1..3); an experiment would read them from its data."
    cfg = get_preset('tiny')
    return T.replace(cfg, model=T.replace(cfg.model, num_classes=4))

def test_one_batch_overfit():
    torch.manual_seed(0)
    cfg = _tiny_for_toys()
    model = DETR(cfg.model)
    crit = SetCriterion.from_config(cfg.model, cfg.train)
    opt = T.make_optimizer(model, T.replace(cfg.train, lr=1e-3, lr_backbone=1e-4))
    batch = toy_batch(2, seed=1)
    losses = []
    for _ in range(40):  # ~10 s on 2 idle cores
        losses.append(T.train_step(model, crit, opt, [batch], torch.device('cpu'), clip_max_norm=0.1)['loss'].item())
    assert losses[-1] < losses[0] / 3, losses[::5]

def test_accumulation_is_one_large_batch():
    cfg = _tiny_for_toys()  # dropout 0 in the tiny preset
    torch.manual_seed(0)
    a = DETR(cfg.model)
    b = DETR(cfg.model)
    b.load_state_dict(a.state_dict())
    w0 = a.class_embed.weight.detach().clone()
    crit = SetCriterion.from_config(cfg.model, cfg.train)
    # plain SGD: the update is the gradient itself (Adam would amplify float noise in parameters whose exact
    # gradient is 0, such as the key biases of attention)
    oa, ob = torch.optim.SGD(a.parameters(), lr=0.1), torch.optim.SGD(b.parameters(), lr=0.1)
    for step in range(2):
        m1, m2 = toy_batch(2, seed=10 * step), toy_batch(2, seed=10 * step + 1)
        big = (torch.cat([m1[0], m2[0]]), torch.cat([m1[1], m2[1]]), m1[2] + m2[2])
        ra = T.train_step(a, crit, oa, [m1, m2], torch.device('cpu'), clip_max_norm=0.)
        rb = T.train_step(b, crit, ob, [big], torch.device('cpu'), clip_max_norm=0.)
        assert abs(ra['loss'].item() - rb['loss'].item()) < 1e-4 * abs(rb['loss'].item())
        torch.testing.assert_close(ra['grad_norm'], rb['grad_norm'], rtol=1e-4, atol=1e-6)
    for (n, pa), pb in zip(a.named_parameters(), b.parameters()):
        # float sums in another order (a batch of 4 vs 2 + 2) differ in the last bits; a wrong normalization
        # or a lost micro-batch differs by far more
        torch.testing.assert_close(pa, pb, rtol=1e-4, atol=1e-5, msg=n)
    assert (a.class_embed.weight - w0).abs().max() > 1e-4  # the steps did move the weights

def test_nan_guard_stops_and_keeps_checkpoint(shapes, tmp_path, monkeypatch):
    cfg = small_cfg(shapes, tmp_path, 'nan', 'train.epochs=1', 'train.eval_every=5')
    cfg = apply_overrides(cfg, ["train.max_nonfinite_steps=3"])
    T.train(cfg, progress=False)
    last = tmp_path / 'nan' / 'model' / 'last.pth'
    before = last.read_bytes()
    cfg.train.epochs = 3
    orig = SetCriterion.total_loss
    monkeypatch.setattr(SetCriterion, 'total_loss', lambda self, losses: orig(self, losses) * float('nan'))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        r = T.train(cfg, resume='auto', progress=False)
    assert r['stopped'] == 'nonfinite' and r['step'] == 4 + 3, r
    msg = ' '.join(str(x.message) for x in w)
    assert 'train.max_nonfinite_steps' in msg and 'precision=bf16' in msg and 'train.lr' in msg
    assert last.read_bytes() == before

def test_early_stopping_keeps_best(shapes, tmp_path):
    # mode=max on val_loss: the falling loss never "improves" after the first evaluation, so patience 1 stops at epoch 2
    cfg = small_cfg(shapes, tmp_path, 'es', 'train.epochs=4', 'train.eval_every=1', 'train.monitor=val_loss',
                    'train.mode=max', 'train.patience=1')
    r = T.train(cfg, progress=False)
    assert r['stopped'] == 'early_stop' and r['epoch'] == 2, r
    best, last = (T.load_checkpoint(tmp_path / 'es' / 'model' / f) for f in ('best.pth', 'last.pth'))
    assert best['epoch'] == 1 and last['epoch'] == 2 and best['best'] == r['best']
    assert (tmp_path / 'es' / 'result' / 'loss.png').is_file() and (tmp_path / 'es' / 'params.yaml').is_file()
    # num_classes was None in the preset: the run took it from the shapes (ids 1..3) and recorded it
    from detr_nb.config import load_config
    assert cfg.model.num_classes is None and load_config(tmp_path / 'es' / 'params.yaml').model.num_classes == 4
    assert best['config']['model']['num_classes'] == 4 and best['model']['class_embed.weight'].shape[0] == 5
    # a second fresh run with the same name refuses to overwrite those checkpoints, and writes nothing
    before = {p.name: p.read_bytes() for p in (tmp_path / 'es' / 'model').iterdir()}
    with pytest.raises(FileExistsError, match="already holds the checkpoints.*resume='auto'"):
        T.train(cfg, progress=False)
    assert {p.name: p.read_bytes() for p in (tmp_path / 'es' / 'model').iterdir()} == before

RUNNER = textwrap.dedent('''
    import sys, time, torch
    torch.set_num_threads(1)
    from detr_nb.config import get_preset, apply_overrides
    import detr_nb.train as T
    cfg = apply_overrides(get_preset('tiny'), sys.argv[3:])
    cfg = apply_overrides(cfg, ['train.checkpoint_every=3'])
    orig = T.train_step
    def step(*a, **k):
        r = orig(*a, **k); print('STEP', flush=True); time.sleep(float(sys.argv[2])); return r
    T.train_step = step
    r = T.train(cfg, resume=None if sys.argv[1] == 'none' else sys.argv[1], progress=False)
    print('DONE', r['stopped'], r['step'], flush=True)
''')

def _run(tmp_path, name, shapes, resume='none', sleep=0., kill_after=None, sig=None):
    script = tmp_path / 'runner.py'
    script.write_text(RUNNER)
    args = [sys.executable, str(script), resume, str(sleep)] + SMALL + [
        f'data.root={shapes}', f'out_dir={tmp_path}', f'name={name}', 'train.epochs=2', 'train.eval_every=5']
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    steps, out = 0, []
    for line in p.stdout:
        out.append(line)
        if line.startswith('STEP'):
            steps += 1
            if kill_after and steps == kill_after:
                p.send_signal(sig)
    p.wait(timeout=120)
    return p.returncode, ''.join(out)

def _weights(path):
    return T.load_checkpoint(path)['model']

@pytest.mark.slow  # five training processes (34 s of CPU): make test-slow
def test_resume_after_kill_is_bitwise(shapes, tmp_path):
    rc, out = _run(tmp_path, 'ref', shapes)
    assert rc == 0 and 'DONE completed 8' in out, out[-2000:]
    # SIGKILL after step 5: the last checkpoint is at step 3 (checkpoint_every=3)
    rc, out = _run(tmp_path, 'killed', shapes, sleep=0.3, kill_after=5, sig=signal.SIGKILL)
    assert rc == -signal.SIGKILL and 'DONE' not in out
    assert T.load_checkpoint(tmp_path / 'killed' / 'model' / 'last.pth')['step'] == 4  # end of epoch 1 (4 steps)
    rc, out = _run(tmp_path, 'killed', shapes, resume='auto')
    assert rc == 0 and 'DONE completed 8' in out, out[-2000:]
    # SIGTERM after step 6: saved at once, in the middle of epoch 2
    rc, out = _run(tmp_path, 'term', shapes, sleep=0.3, kill_after=6, sig=signal.SIGTERM)
    assert rc == 0 and 'DONE interrupted' in out, out[-2000:]
    ck = T.load_checkpoint(tmp_path / 'term' / 'model' / 'last.pth')
    assert ck['micro_in_epoch'] > 0 and ck['step'] >= 6
    rc, out = _run(tmp_path, 'term', shapes, resume='auto')
    assert rc == 0 and 'DONE completed 8' in out, out[-2000:]
    ref = _weights(tmp_path / 'ref' / 'model' / 'last.pth')
    for name in ('killed', 'term'):
        got = _weights(tmp_path / name / 'model' / 'last.pth')
        assert all(torch.equal(ref[k], got[k]) for k in ref), name

def test_papermill_job(shapes, tmp_path):
    papermill = pytest.importorskip('papermill')
    nb = REPO / 'nbs' / 'jobs' / 'train.ipynb'
    out = tmp_path / 'job' / 'result' / 'train.ipynb'  # where `detr_nb job train` writes it
    out.parent.mkdir(parents=True)
    papermill.execute_notebook(str(nb), str(out), kernel_name='python3', progress_bar=False, cwd=str(nb.parent),
                               parameters=dict(name='job', out_dir=str(tmp_path), data_root=str(shapes), epochs=1,
                                               overrides=SMALL))
    exp = tmp_path / 'job'
    assert (exp / 'params.yaml').is_file() and (exp / 'model' / 'last.pth').is_file()
    assert (exp / 'result' / 'loss.png').is_file() and (exp / 'result' / 'train.ipynb').is_file()
    assert (exp / 'log' / 'metrics.csv').is_file()


# ---------------------------------------------------------------- issue 12: settings honoured, early stops

def _metrics(exp):
    return T.read_metrics(exp)


def test_fine_tuning_follows_the_config(shapes, tmp_path):
    src = get_preset('tiny').model
    src = T.replace(src, num_classes=4, num_queries=20, backbone_norm='frozen')
    torch.manual_seed(0)
    torch.save({'model': DETR(src).state_dict()}, tmp_path / 'q20.pth')
    cfg = small_cfg(shapes, tmp_path, 'ft', 'model.num_queries=10', f'train.pretrained={tmp_path / "q20.pth"}',
                    'train.epochs=1', 'train.max_steps=2', 'train.eval_every=5')
    with pytest.warns(UserWarning, match='follows the config, not the checkpoint.*num_queries: 20 -> 10'):
        r = T.train(cfg, progress=False)
    ck = T.load_checkpoint(tmp_path / 'ft' / 'model' / 'last.pth')
    assert ck['model']['query_embed.weight'].shape[0] == 10 and ck['config']['model']['num_queries'] == 10
    from detr_nb.config import load_config
    assert load_config(tmp_path / 'ft' / 'params.yaml').model.num_queries == 10 and r['step'] == 2
    from detr_nb.analysis import evaluate_checkpoint
    stats, _ = evaluate_checkpoint(tmp_path / 'ft' / 'model' / 'last.pth', device='cpu', figures=False)
    assert 0 <= stats['AP'] <= 1


def test_resume_applies_a_changed_learning_rate(shapes, tmp_path, capsys):
    T.train(small_cfg(shapes, tmp_path, 'lr', 'train.epochs=1', 'train.eval_every=5', 'train.lr=1e-4'), progress=False)
    exp = tmp_path / 'lr'
    assert _metrics(exp)['train/lr'].tolist()[-1] == pytest.approx(1e-4)
    # a change it cannot follow stops at the start, naming both values, and writes nothing
    before = (exp / 'params.yaml').read_text()
    with pytest.raises(ValueError, match='model.num_queries: 10 -> 20'):
        T.train(small_cfg(shapes, tmp_path, 'lr', 'train.epochs=2', 'model.num_queries=20'), resume='auto',
                progress=False)
    with pytest.raises(ValueError, match='data.batch_size: 2 -> 4'):
        T.train(small_cfg(shapes, tmp_path, 'lr', 'train.epochs=2', 'data.batch_size=4'), resume='auto', progress=False)
    assert (exp / 'params.yaml').read_text() == before
    # the new rate is used from the first resumed step, said, logged and recorded
    capsys.readouterr()
    T.train(small_cfg(shapes, tmp_path, 'lr', 'train.epochs=2', 'train.eval_every=5', 'train.lr=1e-3'),
            resume='auto', progress=False)
    out = capsys.readouterr().out
    assert 'train.lr: 0.0001 -> 0.001' in out and 'learning rate now 0.001' in out, out
    df = _metrics(exp)
    assert df[df.step > 4]['train/lr'].tolist() == pytest.approx([1e-3] * len(df[df.step > 4]))
    ck = T.load_checkpoint(exp / 'model' / 'last.pth')
    assert ck['optimizer']['param_groups'][0]['lr'] == pytest.approx(1e-3) and ck['config']['train']['lr'] == 1e-3
    from detr_nb.config import load_config
    assert load_config(exp / 'params.yaml').train.lr == 1e-3


def test_sparse_category_ids_train_with_contiguous_labels(shapes, tmp_path):
    import json, shutil
    root = Path(shutil.copytree(shapes, tmp_path / 'sparse'))
    ids = {1: 1, 2: 2, 3: 4_000_000}
    for split in ('train', 'val'):
        p = root / 'annotations' / f'instances_{split}2017.json'
        d = json.loads(p.read_text())
        for c in d['categories']:
            c['id'] = ids[c['id']]
        for a in d['annotations']:
            a['category_id'] = ids[a['category_id']]
        p.write_text(json.dumps(d))
    T.train(small_cfg(root, tmp_path, 'sparse', 'train.epochs=1', 'train.eval_every=1'), progress=False)
    ck = T.load_checkpoint(tmp_path / 'sparse' / 'model' / 'last.pth')
    assert ck['config']['model']['num_classes'] == 3 and ck['model']['class_embed.weight'].shape[0] == 4
    assert ck['categories'] == [{'label': 0, 'id': 1, 'name': 'circle'}, {'label': 1, 'id': 2, 'name': 'square'},
                                {'label': 2, 'id': 4_000_000, 'name': 'triangle'}]
    from detr_nb.analysis import evaluate_checkpoint
    stats, _ = evaluate_checkpoint(tmp_path / 'sparse' / 'model' / 'last.pth', device='cpu', figures=False)
    assert {r['category_id'] for r in stats.results} <= {1, 2, 4_000_000}
    assert 4_000_000 in {r['category_id'] for r in stats.results}


def test_max_steps_below_log_every_ends_with_its_summary(shapes, tmp_path):
    r = T.train(small_cfg(shapes, tmp_path, 'short', 'train.max_steps=1', 'train.log_every=10', 'train.eval_every=5'),
                progress=False)
    assert r['stopped'] == 'max_steps' and r['step'] == 1, r
    exp = tmp_path / 'short'
    df = _metrics(exp)
    assert df.step.tolist() == [1] and df['train/loss'].notna().all()
    assert (exp / 'result' / 'loss.png').is_file() and (exp / 'model' / 'last.pth').is_file()


def test_ctrl_c_before_the_first_log_row(shapes, tmp_path, monkeypatch):
    import os
    orig, calls = T.train_step, []
    def step(*a, **k):
        calls.append(1)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # the handler of the loop turns it into a request to stop
        return orig(*a, **k)
    monkeypatch.setattr(T, 'train_step', step)
    r = T.train(small_cfg(shapes, tmp_path, 'ctrlc', 'train.log_every=10', 'train.eval_every=5'), progress=False)
    assert r['stopped'] == 'interrupted' and r['step'] == 1, r
    exp = tmp_path / 'ctrlc'
    assert _metrics(exp).step.tolist() == [1]
    assert (exp / 'result' / 'loss.png').is_file() and T.load_checkpoint(exp / 'model' / 'last.pth')['step'] == 1


def test_resume_with_the_convergence_switches_follows_a_changed_rate(shapes, tmp_path, capsys, monkeypatch):
    "Group/denoising queries and the EMA come back from the checkpoint while the changed learning rate is followed."
    switches = ['train.group_queries=2', 'train.dn_groups=1', 'train.ema_decay=0.9', 'train.eval_every=5']
    T.train(small_cfg(shapes, tmp_path, 'conv', 'train.epochs=1', 'train.lr=1e-4', *switches), progress=False)
    exp = tmp_path / 'conv'
    first = T.load_checkpoint(exp / 'model' / 'last.pth')
    assert {'train_queries', 'ema', 'categories'} <= set(first) and first['step'] == 4
    with pytest.raises(ValueError, match='train.group_queries: 2 -> 3'):
        T.train(small_cfg(shapes, tmp_path, 'conv', 'train.epochs=2', 'train.lr=1e-4', *switches,
                          'train.group_queries=3'), resume='auto', progress=False)
    resumed, step = [], T.train_step
    def first_step(model, criterion, optimizer, *a, extras=None, **k):  # what the resumed run's first step starts with
        if not resumed:
            copy = lambda module: {k: v.clone() for k, v in module.state_dict().items()}
            resumed.append((copy(extras.queries), copy(extras.ema.module), optimizer.param_groups[0]['lr']))
        return step(model, criterion, optimizer, *a, extras=extras, **k)
    monkeypatch.setattr(T, 'train_step', first_step)
    capsys.readouterr()
    T.train(small_cfg(shapes, tmp_path, 'conv', 'train.epochs=2', 'train.lr=1e-3', *switches), resume='auto',
            progress=False)
    assert 'train.lr: 0.0001 -> 0.001' in capsys.readouterr().out
    queries, ema, lr = resumed[0]
    assert all(torch.equal(v, first['train_queries'][k]) for k, v in queries.items())
    assert all(torch.equal(v, first['ema'][k]) for k, v in ema.items()) and lr == pytest.approx(1e-3)
    last = T.load_checkpoint(exp / 'model' / 'last.pth')
    assert last['step'] == 8 and last['optimizer']['param_groups'][0]['lr'] == pytest.approx(1e-3)


def test_step_evaluations_are_not_training_time(shapes, tmp_path, monkeypatch):
    """On a fake clock where a step takes 1 s and an evaluation 1000 s: the training time logged with each of the
    evaluations after steps 1..4 (every step; step 4 ends the epoch) counts the steps only, and so does the speed."""
    clock = [0.]
    monkeypatch.setattr(T.time, 'perf_counter', lambda: clock[0])
    step, val_loss = T.train_step, T.validation_loss
    def timed_step(*a, **k):
        clock[0] += 1.
        return step(*a, **k)
    def timed_validation_loss(*a, **k):
        clock[0] += 1000.
        return val_loss(*a, **k)
    monkeypatch.setattr(T, 'train_step', timed_step)
    monkeypatch.setattr(T, 'validation_loss', timed_validation_loss)
    r = T.train(small_cfg(shapes, tmp_path, 'clock', 'train.epochs=1', 'train.eval_every_steps=1',
                          'train.monitor=val_loss', 'train.log_every=10'), progress=False)
    df = _metrics(tmp_path / 'clock')
    assert r['step'] == 4 and df['val/train_seconds'].tolist() == [1., 2., 3., 4.], df
    assert df['train/img_per_s'].dropna().tolist() == [8 / 4]  # 8 images in 4 s of steps
    assert T.load_checkpoint(tmp_path / 'clock' / 'model' / 'last.pth')['train_seconds'] == 4.


def test_early_stopping_counts_step_evaluations(shapes, tmp_path):
    """mode=max on a falling val_loss with patience 1 and an evaluation every step: the run stops in the middle of
    its first epoch (4 steps), after step 2, keeping best.pth of step 1 and last.pth of step 2."""
    cfg = small_cfg(shapes, tmp_path, 'es_steps', 'train.epochs=2', 'train.eval_every_steps=1', 'train.eval_every=5',
                    'train.monitor=val_loss', 'train.mode=max', 'train.patience=1')
    r = T.train(cfg, progress=False)
    assert (r['stopped'], r['step'], r['epoch']) == ('early_stop', 2, 0), r
    best, last = (T.load_checkpoint(tmp_path / 'es_steps' / 'model' / f) for f in ('best.pth', 'last.pth'))
    assert (best['step'], last['step'], last['bad_evals']) == (1, 2, 1)
    assert _metrics(tmp_path / 'es_steps').dropna(subset=['val/loss']).step.tolist() == [1, 2]


# the public names of the modules that the redesign of issue 25 split, as on main ea17528
NAMES_BEFORE_SPLIT = {
    'train': ['seed_everything', 'param_groups', 'make_optimizer', 'lr_factor', 'make_scheduler', 'ResumableSampler',
              'make_train_loader', 'fused_clip_step', 'clip_and_step', 'train_step', 'checkpoint_activations',
              'find_batch_size', 'validation_loss', 'resolve_num_classes', 'build_model', 'StopReason',
              'TrainSummary', 'RunState', 'experiment_dir', 'train', 'demo_config', 'free_name', 'demo'],
    'model': ['BACKBONE_NORMS', 'nested_pad', 'CachedFrozenBatchNorm2d', 'PlainBatchNorm2d', 'Backbone',
              'PositionEmbeddingSine', 'PositionEmbeddingLearned', 'Attention', 'EncoderLayer', 'DecoderLayer',
              'Encoder', 'Decoder', 'Transformer', 'MLP', 'Joiner', 'DETR', 'LoadReport', 'infer_config',
              'load_official', 'resnet_weights_url', 'load_backbone_weights', 'DETRConfig'],
    'convergence': ['resolve_backbone_norm', 'object_crops', 'pretrain_backbone', 'crop_pretrain',
                    'query_attention_mask', 'Denoising', 'noise_targets', 'box_sine_code', 'QueryPlan',
                    'TrainingQueries', 'training_queries', 'sync_gradients', 'denoising_losses', 'training_losses',
                    'attention_weights', 'cells_inside', 'CrossAttentionGuide', 'ema_decay_at', 'make_ema'],
}

@pytest.mark.parametrize('module', sorted(NAMES_BEFORE_SPLIT))
def test_every_public_name_stays_importable(module):
    "Each name is still importable from its old module, with `import *` too (it stays in `__all__`)."
    import importlib
    mod = importlib.import_module(f'detr_nb.{module}')
    names = NAMES_BEFORE_SPLIT[module]
    assert [n for n in names if not hasattr(mod, n)] == [] and [n for n in names if n not in mod.__all__] == []


def test_train_checks_a_config_changed_after_it_was_built(shapes, tmp_path):
    """A field set on the dataclass after it was built is checked when training starts (issue 26, M5): one line
    naming the key, before anything is written; what is not an ExperimentConfig is a TypeError saying so."""
    cfg = apply_overrides(get_preset('tiny'), SMALL + [f'data.root={shapes}', f'out_dir={tmp_path}', 'name=bad'])
    for section, key, value, message in [('train', 'lr', float('nan'), 'train.lr = nan; it must be a finite number'),
                                         ('data', 'batch_size', 0, 'data.batch_size = 0'),
                                         ('data', 'val_size', 1, 'data.val_size = 1')]:
        bad = T.replace(cfg, **{section: T.replace(getattr(cfg, section))})
        setattr(getattr(bad, section), key, value)
        with pytest.raises(ValueError, match=re.escape(message)):
            T.train(bad, progress=False)
    with pytest.raises(TypeError, match='the config is a dict; expected an ExperimentConfig'):
        T.train({'name': 'x'}, progress=False)
    assert not (tmp_path / 'bad').exists()


def test_one_to_many_trains_and_leaves_a_plain_detr(shapes, tmp_path):
    """Hybrid matching (train.one_to_many) trains, and its checkpoint keeps the training-only queries apart from a
    plain DETR's state dict (strict load); one_to_many without extra groups is refused."""
    cfg = small_cfg(shapes, tmp_path, 'o2m', 'train.max_steps=2', 'train.group_queries=2', 'train.one_to_many=3')
    r = T.train(cfg, progress=False)
    assert r['step'] == 2
    ck = T.load_checkpoint(tmp_path / 'o2m' / 'model' / 'last.pth')
    plain = DETR(cfg.model, num_classes=ck['model']['class_embed.bias'].numel() - 1)
    plain.load_state_dict(ck['model'])  # strict: no training-only tensor in the DETR's weights
    assert 'group_embed.weight' in ck['train_queries'] and 'group_embed.weight' not in ck['model']
    with pytest.raises(ValueError, match='train.one_to_many = 3 needs train.group_queries >= 2'):
        small_cfg(shapes, tmp_path, 'bad', 'train.one_to_many=3')


def test_dense_head_trains_resumes_and_leaves_a_plain_detr(shapes, tmp_path, monkeypatch):
    """The dense head (train.dense_coef) adds 'loss_dense', its weights travel in last.pth apart from the DETR's
    (strict load into a plain DETR), a resumed run starts from them, and a negative weight is refused."""
    cfg = small_cfg(shapes, tmp_path, 'dense', 'train.max_steps=2', 'train.dense_coef=1')
    r = T.train(cfg, progress=False)
    assert r['step'] == 2
    ck = T.load_checkpoint(tmp_path / 'dense' / 'model' / 'last.pth')
    plain = DETR(cfg.model, num_classes=ck['model']['class_embed.bias'].numel() - 1)
    plain.load_state_dict(ck['model'])  # strict: no training-only tensor in the DETR's weights
    assert {'cls.0.weight', 'box.2.bias'} <= set(ck['dense_head']) and not any('cls.' in k for k in ck['model'])
    seen, step = [], T.train_step
    def first_step(model, criterion, optimizer, *a, extras=None, **k):  # the resumed run's head, before its first step
        if not seen:
            seen.append({k: v.clone() for k, v in extras.dense.state_dict().items()})
        out = step(model, criterion, optimizer, *a, extras=extras, **k)
        seen.append(sorted(out))
        return out
    monkeypatch.setattr(T, 'train_step', first_step)
    T.train(small_cfg(shapes, tmp_path, 'dense', 'train.max_steps=3', 'train.dense_coef=1'), resume='auto',
            progress=False)
    assert all(torch.equal(v, ck['dense_head'][k]) for k, v in seen[0].items())
    with pytest.raises(ValueError, match='train.dense_coef'):
        small_cfg(shapes, tmp_path, 'bad', 'train.dense_coef=-1')


def test_dense_loss_of_a_micro_batch_is_weighted_by_its_share_of_the_step():
    "Accumulated micro-batches give the dense loss a mean over the step: each is weighted by its share of the boxes."
    torch.manual_seed(0)
    net = DETR(get_preset('tiny').model, num_classes=3).train()
    extras = TrainingExtras(dense=DenseHead(net).attach(net), dense_coef=1.)
    images, mask = torch.randn(2, 3, 64, 64), torch.zeros(2, 64, 64, dtype=torch.bool)
    tg = [{'labels': torch.tensor([1]), 'boxes': torch.tensor([[.5, .5, .4, .4]])}] * 2
    crit = SetCriterion(3)
    norms = {**crit.normalizers(tg, net.config.num_queries), 'num_boxes': 4.}  # a step of 4 boxes, 2 of them here
    terms, _ = extras.losses(crit, net(images, mask), tg, None, norms)
    net(images, mask)
    assert torch.allclose(terms['loss_dense'], extras.dense.loss(tg) * 2 / 4)


def test_missing_pretrained_is_said_before_the_data_is_read(tmp_path, monkeypatch):
    "A train.pretrained that names no file is refused before the (possibly slow) dataset read, in one line."
    read = []
    monkeypatch.setattr(T, 'fit_to_dataset', lambda *a, **k: read.append(1))
    monkeypatch.setattr(T, 'dataset_from_config', lambda *a, **k: read.append(1))
    cfg = small_cfg(tmp_path / 'no_data', tmp_path, 'pre', f'train.pretrained={tmp_path}/detr-r50.pth')
    with pytest.raises(FileNotFoundError, match=r"^train.pretrained = '.*detr-r50.pth' does not exist; give a local"):
        T.train(cfg, progress=False)
    assert not read and not (tmp_path / 'pre').exists()


def test_loss_figure_at_most_once_a_minute_and_at_the_end(shapes, tmp_path, monkeypatch):
    "result/loss.png: drawn at the first epoch end, then once a minute of training clock has passed, and at the end."
    drawn, now = [], [0.]
    monkeypatch.setattr(T, 'plot_losses', lambda exp: drawn.append((now[0], len(drawn))))
    def clock():  # every reading of the clock is 2 s later
        now[0] += 2.
        return now[0]
    cfg = small_cfg(shapes, tmp_path, 'plots', 'train.epochs=8', 'train.eval_every=100', 'train.monitor=val_loss')
    T.train(cfg, progress=False, clock=clock)
    times = [t for t, _ in drawn]
    assert 2 <= len(times) < 8, times                          # not at every one of the 8 epoch ends
    assert all(b - a > 60 for a, b in zip(times, times[1:-1])), times  # a minute apart, but for the last
    assert times[-1] == now[0] or now[0] - times[-1] < 10, (times, now[0])  # the run's end is drawn
