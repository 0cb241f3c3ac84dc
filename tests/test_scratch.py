"""The `scratch` preset and the budgeted schedule: datasets in any format under `data.root`, sizes fitted to the
photos, the demo as the preset on the shapes, and a schedule that ends with its time budget (a fake clock)."""
import math
from pathlib import Path
import pytest
import yaml
from PIL import Image
from detr_nb.config import get_preset, apply_overrides, config_to_dict, image_sizes, load_config
from detr_nb.data import make_shapes
from detr_nb.checkpoint import read_metrics
import detr_nb.train as T

SMALL = ['data.scales=[64]', 'data.max_size=80', 'data.val_size=64', 'data.crop_resize=[64]', 'data.crop_min=48',
         'data.crop_max=64', 'data.batch_size=2', 'data.num_workers=0', 'train.device=cpu']


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    return make_shapes(tmp_path_factory.mktemp('shapes'), n_train=8, n_val=4, seed=0, min_size=64, max_size=80)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    "The COCO jsons of VOC/YOLO roots go to a scratch cache, not ~/.cache."
    monkeypatch.setenv('DETR_NB_CACHE', str(tmp_path / 'cache'))


def photo(path, w, h, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new('RGB', (w, h), (40 * seed % 255, 90, 160)).save(path)


def voc_folder(root, n=6, w=80, h=60):
    "labelImg's layout: images and XMLs side by side, one class; no split of its own (every 5th goes to val)."
    for i in range(n):
        photo(root / f'p{i}.jpg', w, h, i)
        (root / f'p{i}.xml').write_text(
            f"<annotation><filename>p{i}.jpg</filename><size><width>{w}</width><height>{h}</height><depth>3</depth>"
            f"</size><object><name>raccoon</name><bndbox><xmin>{10 + i}</xmin><ymin>10</ymin><xmax>50</xmax>"
            f"<ymax>45</ymax></bndbox></object></annotation>")
    return root


def yolo_folder(root, w=80, h=60):
    "ultralytics' layout: images/{train,val} + labels/{train,val} + data.yaml, two classes."
    (root / 'data.yaml').parent.mkdir(parents=True, exist_ok=True)
    (root / 'data.yaml').write_text('train: images/train\nval: images/val\nnames: [cat, dog]\n')
    for split, n in (('train', 4), ('val', 2)):
        for i in range(n):
            photo(root / 'images' / split / f'{split}{i}.jpg', w, h, i)
            lab = root / 'labels' / split / f'{split}{i}.txt'
            lab.parent.mkdir(parents=True, exist_ok=True)
            lab.write_text(f'{i % 2} 0.5 0.5 0.4 0.5\n')
    return root


# ---------------------------------------------------------------- datasets in any format under data.root

@pytest.mark.parametrize('make', [voc_folder, yolo_folder], ids=['voc', 'yolo'])
def test_train_runs_on_a_voc_and_a_yolo_root(tmp_path, make):
    root = make(tmp_path / 'data')
    cfg = apply_overrides(get_preset('tiny'), SMALL + [f'data.root={root}', f'out_dir={tmp_path}', 'name=run',
                                                       'train.max_steps=2', 'train.monitor=val_loss'])
    images, ann = cfg.data.split_paths('train')
    assert Path(images).is_dir() and Path(ann).is_file() and str(tmp_path / 'cache') in str(ann)
    r = T.train(cfg, progress=False)
    assert (r['stopped'], r['step']) == ('max_steps', 2)
    saved = load_config(tmp_path / 'run' / 'params.yaml')
    assert saved.data.root == str(root) and saved.model.num_classes == (2 if make is voc_folder else 3)
    assert root.joinpath('p0.xml').is_file() if make is voc_folder else True  # the dataset folder is only read


def test_coco_root_keeps_its_paths_and_errors(tmp_path):
    cfg = apply_overrides(get_preset('tiny'), [f'data.root={tmp_path / "missing"}'])
    assert cfg.data.split_paths('val') == (tmp_path / 'missing' / 'val2017',
                                           tmp_path / 'missing' / 'annotations' / 'instances_val2017.json')
    with pytest.raises(ValueError, match='data.root is not set and data.train_images'):
        get_preset('tiny').data.split_paths('train')


def test_val_fraction_reaches_the_split(tmp_path):
    root = voc_folder(tmp_path / 'data', n=10)
    for fraction, n_val in ((0.2, 2), (0.5, 5)):
        cfg = apply_overrides(get_preset('tiny'), [f'data.root={root}', f'data.val_fraction={fraction}'])
        ann = yaml.safe_load(Path(cfg.data.split_paths('val')[1]).read_text())
        assert len(ann['images']) == n_val


# ---------------------------------------------------------------- the preset

def test_scratch_preset_from_the_command_line_fits_the_photos(tmp_path, capsys):
    "`detr_nb train --preset scratch --set data.root=DIR`: the sizes come from the photos and are written resolved."
    from detr_nb.cli import main
    root = voc_folder(tmp_path / 'data', w=120, h=90)
    args = ['train', '--preset', 'scratch', '--set', f'data.root={root}', '--set', f'out_dir={tmp_path}',
            '--set', 'name=sc', '--set', 'train.device=cpu', '--set', 'train.max_steps=2',
            '--set', 'train.crop_pretrain_steps=2', '--set', 'data.batch_size=2', '--no-progress']
    assert main(args) == 0
    out = capsys.readouterr().out
    assert 'fit_to_dataset: photos 90 x 120 px (median of 5) on cpu: data.scales=[80, 96, 112]' in out, out
    saved = load_config(tmp_path / 'sc' / 'params.yaml')
    want = image_sizes(90, 120, 'cpu')
    assert {k: getattr(saved.data, k) for k in want} == want and saved.data.auto_size is False
    assert (saved.train.epochs, saved.train.eval_every) == (300, 50)  # 2 steps an epoch: 2,250 steps capped at 300
    assert saved.train.dn_groups == 3 and saved.model.backbone_norm == 'batch'


def todays_demo_config(out_dir, name='demo', epochs=18):
    "demo_config as it was before the scratch preset (main eab663e), rebuilt from the tiny preset."
    cfg = get_preset('tiny')
    R = T.replace
    return R(cfg, name=name, out_dir=str(out_dir), model=R(cfg.model, backbone_norm='batch'),
             data=R(cfg.data, root=str(Path(out_dir) / 'shapes'), scales=[96, 112, 128], max_size=160, val_size=112,
                    crop_resize=[96, 112], crop_min=72, crop_max=112, batch_size=8),
             train=R(cfg.train, epochs=epochs, lr=2e-4, lr_backbone=2e-4, lr_schedule='cosine', warmup_epochs=0.5,
                     min_lr_ratio=0.05, crop_pretrain_steps=150, attn_loss_coef=1., query_lr_scale=20.,
                     group_queries=3, dn_groups=3, ema_decay=0.99, eos_coef=0.3, channels_last=True, eval_every=3))


def test_demo_config_is_the_preset_and_unchanged(tmp_path):
    marker = tmp_path / 'shapes' / 'annotations' / 'instances_val2017.json'  # demo_config then writes no shapes
    marker.parent.mkdir(parents=True)
    marker.write_text('{}')
    for epochs in (18, 8):
        assert config_to_dict(T.demo_config(tmp_path, epochs=epochs)) == \
            config_to_dict(todays_demo_config(tmp_path, epochs=epochs))
    # its sizes are the rule's for the shapes' median sides, and its epochs and evaluations the rule's for 1,000 images
    d = T.demo_config(tmp_path).data
    assert image_sizes(105.4, 118.6) == {k: getattr(d, k) for k in image_sizes(105.4, 118.6)}
    assert (math.ceil(2250 / (1000 // 8)), round(18 / 6)) == (18, 3)


# ---------------------------------------------------------------- the budgeted schedule, with a fake clock

class FakeClock:
    "Training steps take `step_seconds` each and evaluations `eval_seconds`, of a clock that only they move."
    def __init__(self, monkeypatch, step_seconds=60., eval_seconds=1000.):
        self.now, self.lrs = 0., []  # lrs: the learning rate each step trained with
        step, evaluate = T.train_step, T.validation_loss  # one validation loss per evaluation
        def timed_step(model, criterion, optimizer, *a, **k):
            self.now += step_seconds
            self.lrs.append(optimizer.param_groups[0]['lr'])
            return step(model, criterion, optimizer, *a, **k)
        def timed_eval(*a, **k):
            self.now += eval_seconds
            return evaluate(*a, **k)
        monkeypatch.setattr(T, 'train_step', timed_step)
        monkeypatch.setattr(T, 'validation_loss', timed_eval)

    def __call__(self): return self.now


def budget_cfg(shapes, out, name, *more):
    "10 steps of 1 minute fill a 10-minute budget long before the 100 planned epochs."
    return apply_overrides(get_preset('tiny'), SMALL + [
        f'data.root={shapes}', f'out_dir={out}', f'name={name}', 'train.epochs=100', 'train.max_minutes=10',
        'train.lr_schedule=cosine', 'train.budget_evals=5', 'train.log_every=1', 'train.monitor=val_loss', *more])


def test_budget_schedule_ends_with_the_budget(shapes, tmp_path, monkeypatch):
    cfg = budget_cfg(shapes, tmp_path, 'b')
    r = T.train(cfg, progress=False, clock=FakeClock(monkeypatch))
    assert (r['stopped'], r['step']) == ('time_budget', 10)  # evaluations (1000 s each) are not training time
    m = read_metrics(tmp_path / 'b')
    lr = m.dropna(subset=['train/lr']).set_index('step')['train/lr']
    want = [2e-4 * 0.5 * (1 + math.cos(math.pi * s / 10)) for s in range(1, 11)]  # minute s of 10
    assert lr.tolist() == pytest.approx(want, rel=1e-5, abs=1e-12) and lr.iloc[-1] == 0
    assert m.dropna(subset=['val/loss']).step.tolist() == [2, 4, 6, 8, 10]  # 1/5, 2/5, ... of the budget


def test_budget_schedule_resumes(shapes, tmp_path, monkeypatch):
    """Stopped at step 5 (evaluated: the end of a run) and resumed: each step trains at the rate of an uninterrupted
    run's step, and the evaluation plan goes on."""
    cfg = budget_cfg(shapes, tmp_path, 'r')
    with monkeypatch.context() as mp:  # one clock at a time
        whole = FakeClock(mp)
        T.train(budget_cfg(shapes, tmp_path, 'w'), progress=False, clock=whole)
    with monkeypatch.context() as mp:
        first = T.train(apply_overrides(cfg, ['train.max_steps=5']), progress=False, clock=FakeClock(mp))
    assert (first['stopped'], first['step']) == ('max_steps', 5)
    with monkeypatch.context() as mp:
        again = FakeClock(mp)
        r = T.train(cfg, resume='auto', progress=False, clock=again)
    assert len(whole.lrs) == 10 and again.lrs == pytest.approx(whole.lrs[5:], rel=1e-12)
    assert (r['stopped'], r['step']) == ('time_budget', 10)
    m = read_metrics(tmp_path / 'r')
    lr = m.dropna(subset=['train/lr']).set_index('step')['train/lr']
    want = [2e-4 * 0.5 * (1 + math.cos(math.pi * s / 10)) for s in range(6, 11)]
    assert lr.loc[6:].tolist() == pytest.approx(want, rel=1e-5, abs=1e-12)
    assert m.dropna(subset=['val/loss']).step.tolist() == [2, 4, 5, 6, 8, 10]


def test_budget_runs_out_of_steps_first(shapes, tmp_path, monkeypatch):
    "Fast steps (1 s): the 8 planned steps end the schedule first, and the last one is evaluated."
    cfg = budget_cfg(shapes, tmp_path, 's', 'train.epochs=2', 'train.budget_evals=2')
    r = T.train(cfg, progress=False, clock=FakeClock(monkeypatch, step_seconds=1.))
    assert (r['stopped'], r['step']) == ('completed', 8)
    m = read_metrics(tmp_path / 's')
    assert m.dropna(subset=['val/loss']).step.tolist() == [4, 8]
    assert m.dropna(subset=['train/lr'])['train/lr'].iloc[-1] == 0  # the cosine's end at step 8 of 8


def test_too_few_images_for_a_batch_is_said_before_crop_pretraining(tmp_path):
    "5 training photos and batch 8: the error comes at once, not after the minutes of crop pretraining."
    root = voc_folder(tmp_path / 'data')
    cfg = apply_overrides(get_preset('scratch'), [f'data.root={root}', f'out_dir={tmp_path}', 'name=few',
                                                  'train.device=cpu', 'train.crop_pretrain_steps=100000'])
    with pytest.raises(ValueError, match='fewer than data.batch_size = 8'):
        T.train(cfg, progress=False)
