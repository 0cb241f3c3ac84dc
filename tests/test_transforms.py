"""detr_nb.transforms end to end: training and validation targets on real COCO images equal what the official DETR
pipeline's rules make of them for the same random draws, and the cases that used to lose boxes (a box on the image
edge after a resize, tiny boxes shrunk below a pixel, a validation size above the longest-side cap).

The reference below is written from the rules the DETR paper and the official `datasets/transforms.py` document
(not from their code): load = drop crowd, clamp to the image, drop boxes without area; flip = x -> W - x;
resize = shorter side `size`, lowered to round(max_size * short / long) when the longer side would exceed max_size,
longer side int(size * long / short), boxes and areas scaled by the size ratios; crop = shift, clamp to the crop,
area = cropped box area, drop boxes without area; finally normalized cxcywh."""
import json

import numpy as np
import pytest, torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from detr_nb.config import apply_overrides, get_preset
from detr_nb.data import CocoDetection, dataset_from_config, make_transforms
from detr_nb.transforms import RandomResize, RandomSizeCrop

from real_data import COCO_REAL as REAL, COCO_REAL_WHERE  # noqa: E402
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f'the real COCO subset is absent: {COCO_REAL_WHERE}')


# ---------------------------------------------------------------- the reference rules

def ref_load(anns, h, w):
    "Target of the official loader: non-crowd annotations, xyxy clamped to the image, boxes without area dropped."
    anns = [a for a in anns if not a.get('iscrowd', 0)]
    b = torch.tensor([a['bbox'] for a in anns], dtype=torch.float32).reshape(-1, 4)
    b[:, 2:] += b[:, :2]
    b[:, 0::2] = b[:, 0::2].clamp(0, w)
    b[:, 1::2] = b[:, 1::2].clamp(0, h)
    keep = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    return {'boxes': b[keep], 'labels': torch.tensor([a['category_id'] for a in anns], dtype=torch.int64)[keep],
            'area': torch.tensor([float(a['area']) for a in anns], dtype=torch.float32)[keep],
            'iscrowd': torch.zeros(int(keep.sum()), dtype=torch.int64)}


def ref_size(h, w, size, max_size):
    short, long = float(min(h, w)), float(max(h, w))
    if max_size is not None and long / short * size > max_size:
        size = int(round(max_size * short / long))
    if min(h, w) == size:
        return h, w
    return (int(size * h / w), size) if w < h else (size, int(size * w / h))


def ref_resize(t, h, w, size, max_size):
    oh, ow = ref_size(h, w, size, max_size)
    rw, rh = ow / w, oh / h
    return {**t, 'boxes': t['boxes'] * torch.tensor([rw, rh, rw, rh]), 'area': t['area'] * (rw * rh)}, oh, ow


def ref_hflip(t, w):
    b = t['boxes']
    return {**t, 'boxes': torch.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], 1)}


def ref_crop(t, top, left, height, width):
    b = (t['boxes'] - torch.tensor([left, top, left, top], dtype=torch.float32)).reshape(-1, 2, 2)
    b = torch.min(b, torch.tensor([width, height], dtype=torch.float32)).clamp(min=0)
    area = (b[:, 1] - b[:, 0]).prod(1)
    keep = (b[:, 1] > b[:, 0]).all(1)
    return {'boxes': b.reshape(-1, 4)[keep], 'labels': t['labels'][keep], 'area': area[keep],
            'iscrowd': t['iscrowd'][keep]}


def ref_normalized(t, h, w):
    b = t['boxes']
    cxcywh = torch.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)
    return cxcywh / torch.tensor([w, h, w, h], dtype=torch.float32)


# ---------------------------------------------------------------- the draws of detr_nb's pipeline

def record(transforms):
    "Wrap `make_params` of every flip / resize / crop in `transforms`; returns the list the draws are appended to."
    draws = []

    def wrap(t, kind):
        inner = t.make_params
        def make_params(flat_inputs):
            p = inner(flat_inputs)
            draws.append((kind, p))
            return p
        t.make_params = make_params

    def walk(t):
        if isinstance(t, v2.RandomHorizontalFlip):
            wrap(t, 'flip')  # make_params runs only when the flip happens
        elif isinstance(t, RandomResize):
            wrap(t, 'resize')
        elif isinstance(t, RandomSizeCrop):
            wrap(t, 'crop')
        for sub in getattr(t, 'transforms', []):
            walk(sub)
    walk(transforms)
    return draws


def replay(draws, anns, h, w, max_size=1333, crop=(384, 600)):
    """The reference target and size for the recorded `draws`, checking that each draw is one the official pipeline
    can make. A resize right before a crop is the uncapped one of the crop branch; every other resize is capped."""
    t = ref_load(anns, h, w)
    for i, (kind, p) in enumerate(draws):
        if kind == 'flip':
            t = ref_hflip(t, w)
        elif kind == 'resize':
            before_crop = i + 1 < len(draws) and draws[i + 1][0] == 'crop'
            t, h, w = ref_resize(t, h, w, p['size'], None if before_crop else max_size)
            assert (p['height'], p['width']) == (h, w), (p, h, w)
        else:
            lo, hi = crop
            assert lo <= p['height'] <= min(h, hi) and lo <= p['width'] <= min(w, hi), (p, h, w)
            assert 0 <= p['top'] <= h - p['height'] and 0 <= p['left'] <= w - p['width'], (p, h, w)
            t = ref_crop(t, p['top'], p['left'], p['height'], p['width'])
            h, w = p['height'], p['width']
    return t, h, w


def check_sample(sample, ref, h, w):
    image, target = sample
    assert tuple(image.shape[-2:]) == (h, w) and target['size'].tolist() == [h, w]
    assert target['labels'].tolist() == ref['labels'].tolist()
    assert target['iscrowd'].tolist() == ref['iscrowd'].tolist()
    torch.testing.assert_close(target['boxes'], ref_normalized(ref, h, w).clamp(0, 1), atol=2e-6, rtol=0)
    torch.testing.assert_close(target['area'], ref['area'], rtol=1e-5, atol=1e-3)


@needs_real
@pytest.mark.parametrize('split', ['train', 'val'])
def test_targets_equal_the_official_pipeline(split):
    ann_file, folder = REAL / 'annotations' / f'instances_{split}2017.json', REAL / f'{split}2017'
    d = json.loads(ann_file.read_text())
    anns = {i['id']: [a for a in d['annotations'] if a['image_id'] == i['id']] for i in d['images']}
    transforms = make_transforms(split)                       # the paper's sizes: 480..800 / 1333, val 800
    draws = record(transforms)
    ds = CocoDetection(folder, ann_file, transforms)
    kinds, n = set(), 0
    for k, image_id in enumerate(ds.ids):
        rec = ds.coco.imgs[image_id]
        with Image.open(folder / rec['file_name']) as im:
            w, h = im.size
        for j in range(2 if split == 'train' else 1):
            torch.manual_seed(1000 * k + j)
            draws.clear()
            sample = ds[k]
            check_sample(sample, *replay(list(draws), anns[image_id], h, w))
            kinds.add(tuple(kind for kind, _ in draws))
            n += 1
    if split == 'train':  # both branches, with and without the flip, were compared
        assert {('resize',), ('flip', 'resize'), ('resize', 'crop', 'resize'),
                ('flip', 'resize', 'crop', 'resize')} <= kinds, kinds
    else:
        assert kinds == {('resize',)}
    assert n == len(ds) * (2 if split == 'train' else 1)


# ---------------------------------------------------------------- boxes that used to be lost

def _dataset(tmp_path, size, boxes, transforms):
    "A one-image COCO dataset of a `size` = (w, h) JPEG with `boxes` (xywh pixels, category 1)."
    w, h = size
    (tmp_path / 'img').mkdir(exist_ok=True)
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(tmp_path / 'img' / 'a.jpg')
    anns = [{'id': k + 1, 'image_id': 1, 'category_id': 1, 'bbox': b, 'area': b[2] * b[3], 'iscrowd': 0}
            for k, b in enumerate(boxes)]
    (tmp_path / 'ann.json').write_text(json.dumps({'images': [{'id': 1, 'file_name': 'a.jpg', 'width': w, 'height': h}],
                                                   'categories': [{'id': 1, 'name': 'thing'}], 'annotations': anns}))
    return CocoDetection(tmp_path / 'img', tmp_path / 'ann.json', transforms)


@pytest.mark.parametrize('transforms, size', [(make_transforms('val'), (800, 1066)),
                                              (v2.Compose([RandomResize([768], 1333)]), (768, 1024)),
                                              (v2.Compose([RandomResize([800], 1333)]), (800, 1066))])
def test_box_on_the_edge_survives_the_resize(tmp_path, transforms, size):
    ds = _dataset(tmp_path, (500, 375), [[300, 200, 200, 175]], transforms)  # x + w = 500, y + h = 375
    image, t = ds[0]
    assert tuple(image.shape[-2:]) == size
    assert len(t['boxes']) == 1 and t['labels'].tolist() == [1]
    torch.testing.assert_close(t['boxes'][0, 0] + t['boxes'][0, 2] / 2, torch.tensor(1.0))   # right edge at 1
    torch.testing.assert_close(t['boxes'][0, 1] + t['boxes'][0, 3] / 2, torch.tensor(1.0))   # bottom edge at 1


def test_tiny_objects_are_kept_through_a_6x_shrink(tmp_path):
    transforms = make_transforms('train', scales=[150], max_size=1333)
    draws = record(transforms)
    ds = _dataset(tmp_path, (1200, 900), [[100, 100, 3, 4], [500, 300, 4, 3], [900, 600, 3.5, 3.5]], transforms)
    seen = 0
    for seed in range(40):
        torch.manual_seed(seed)
        draws.clear()
        image, t = ds[0]
        if any(kind == 'crop' for kind, _ in draws):
            continue  # a crop may cut objects away; the official pipeline drops those too
        seen += 1
        assert min(image.shape[-2:]) == 150 and t['labels'].tolist() == [1, 1, 1], (seed, t)
        assert ((t['boxes'][:, 2:] > 0) & (t['boxes'][:, 2:] * 200 < 1.2)).all()  # under a pixel wide, still there
    assert seen >= 10


def test_val_size_above_max_size_is_capped(tmp_path):
    cfg = apply_overrides(get_preset('tiny'), ['data.val_size=640', 'data.max_size=640'])
    ds = _dataset(tmp_path, (500, 375), [[10, 10, 50, 50]], None)
    ann, img = tmp_path / 'ann.json', tmp_path / 'img'
    cfg = apply_overrides(cfg, [f'data.val_images={img}', f'data.val_annotations={ann}'])
    image, t = dataset_from_config(cfg.data, 'val')[0]
    assert tuple(image.shape[-2:]) == (480, 640) and len(t['boxes']) == 1
    image, t = CocoDetection(img, ann, make_transforms('val', scales=[96, 128], max_size=160))[0]
    assert tuple(image.shape[-2:]) == (120, 160)
    assert len(ds) == 1


def test_bad_sizes_fail_at_once():
    with pytest.raises(ValueError, match='scales = \\[0, 32\\]'):
        make_transforms('train', scales=[0, 32])
    with pytest.raises(ValueError, match='max_size = -1'):
        RandomResize([100], -1)
    with pytest.raises(ValueError, match='RandomSizeCrop\\(50, 40\\)'):
        RandomSizeCrop(50, 40)
    img = tv_tensors.Image(torch.zeros(3, 30, 20, dtype=torch.uint8))
    assert RandomSizeCrop(384, 600)(img).shape == (3, 30, 20)  # smaller than the crop: kept whole
