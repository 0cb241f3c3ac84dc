"""detr_nb.data outside the notebook: `download_coco` against archives served from 127.0.0.1 by the test (resume with
HTTP Range, size and MD5 verification, corrupt archives, extraction into the COCO layout), and the bad-data matrix:
every problem kind of `validate_coco` on a small broken copy of the shapes dataset, and loading the same data
(no crash mid-epoch, clear errors for what cannot be loaded at all)."""
import hashlib, io, json, shutil, socket, threading, warnings, zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest, torch
import torch.distributed as dist
from PIL import Image
from torch.utils.data import DistributedSampler

from detr_nb.config import get_preset
from detr_nb.data import (PROBLEMS, CocoDetection, category_names, check_labels, collate_fn, download_coco, label_names,
                          make_loader, make_shapes, num_classes_of, read_image, transforms_from_config, validate_coco)

from real_data import COCO_REAL as REAL, COCO_REAL_WHERE  # noqa: E402
TINY = get_preset('tiny').data


# ---------------------------------------------------------------- download_coco against a local server

class _Server:
    "Serves `files` (name -> bytes) on 127.0.0.1 with `Range: bytes=N-` support; can cut its next response in half."
    def __init__(self, files):
        self.files, self.requests, self.cut_next, self.ignore_range = files, [], False, False
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a): pass

            def do_GET(self):
                name = self.path.lstrip('/')
                rng = self.headers.get('Range')
                srv.requests.append((name, rng))
                if name not in srv.files:
                    return self.send_error(404)
                data, start = srv.files[name], 0
                if rng and not srv.ignore_range:
                    start = int(rng.split('=')[1].split('-')[0])
                    if start >= len(data):
                        return self.send_error(416)
                    self.send_response(206)
                    self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                if srv.cut_next:  # announce everything, send half, hang up
                    srv.cut_next = False
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}'
        threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _zip(folder: Path, members) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        for m in members:
            z.write(folder / m, m)
    return buf.getvalue()


@pytest.fixture(scope='module')
def archives(tmp_path_factory):
    "Small val2017.zip and annotations_trainval2017.zip with the layout of the official ones."
    src = make_shapes(tmp_path_factory.mktemp('src'), n_train=3, n_val=5, seed=1)
    val = _zip(src, sorted(str(p.relative_to(src)) for p in (src / 'val2017').iterdir()))
    ann = _zip(src, ['annotations/instances_train2017.json', 'annotations/instances_val2017.json'])
    # a large member, so that half an archive is a real partial download
    noise = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    buf = io.BytesIO(val)
    with zipfile.ZipFile(buf, 'a') as z:
        z.writestr('val2017/padding.bin', noise)
    return {'val2017.zip': buf.getvalue(), 'annotations_trainval2017.zip': ann}


@pytest.fixture
def server(archives):
    s = _Server(dict(archives))
    yield s
    s.close()


def _urls(server): return {'val': f'{server.url}/val2017.zip',
                           'annotations': f'{server.url}/annotations_trainval2017.zip'}
def _md5(b): return hashlib.md5(b).hexdigest()


def test_download_extracts_into_coco_layout(tmp_path, server, archives):
    md5 = {'val': _md5(archives['val2017.zip']), 'annotations': _md5(archives['annotations_trainval2017.zip'])}
    root = download_coco(tmp_path / 'coco', splits=['val'], urls=_urls(server), md5=md5, progress=False)
    assert (root / 'annotations' / 'instances_val2017.json').is_file()
    assert len(list((root / 'val2017').glob('*.jpg'))) == 5
    assert not list(root.glob('*.zip')) and not list(root.glob('*.part'))  # archives removed after extraction
    ds = CocoDetection(root / 'val2017', root / 'annotations' / 'instances_val2017.json')
    assert len(ds) == 5 and validate_coco(ds.ann_file, root / 'val2017').ok
    n = len(server.requests)
    download_coco(root, splits=['val'], urls=_urls(server), md5=md5, progress=False)  # done: nothing fetched again
    assert len(server.requests) == n


def test_download_resumes_partial_file(tmp_path, server, archives):
    data = archives['val2017.zip']
    server.cut_next = True
    with pytest.raises(OSError, match='run download_coco again to resume'):
        download_coco(tmp_path, splits=['val'], annotations=False, urls=_urls(server), progress=False)
    part = tmp_path / 'val2017.zip.part'
    assert 0 < part.stat().st_size < len(data)
    have = part.stat().st_size
    download_coco(tmp_path, splits=['val'], annotations=False, urls=_urls(server), md5={'val': _md5(data)},
                  sizes={'val': len(data)}, keep_archives=True, progress=False)
    assert server.requests[-1] == ('val2017.zip', f'bytes={have}-')  # only the rest was asked for
    assert (tmp_path / 'val2017.zip').read_bytes() == data
    assert (tmp_path / 'val2017' / 'padding.bin').stat().st_size == 300_000


def test_download_restarts_when_server_ignores_range(tmp_path, server, archives):
    data = archives['val2017.zip']
    server.cut_next = True
    with pytest.raises(OSError):
        download_coco(tmp_path, ['val'], annotations=False, urls=_urls(server), progress=False)
    server.ignore_range = True  # answers 200 with the whole file: the partial file must be overwritten, not appended to
    download_coco(tmp_path, ['val'], annotations=False, urls=_urls(server), md5={'val': _md5(data)}, keep_archives=True,
                  progress=False)
    assert (tmp_path / 'val2017.zip').read_bytes() == data


def test_download_rejects_wrong_checksum(tmp_path, server):
    with pytest.raises(ValueError, match='MD5 .* differs from the expected 0{32}; the corrupt file was deleted'):
        download_coco(tmp_path, ['val'], annotations=False, urls=_urls(server), md5={'val': '0' * 32}, progress=False)
    assert not list(tmp_path.glob('val2017.zip*')) and not (tmp_path / 'val2017').exists()


def test_download_rejects_wrong_size(tmp_path, server, archives):
    with pytest.raises(ValueError, match='the server sends .* bytes but val2017.zip has 12345'):
        download_coco(tmp_path, ['val'], annotations=False, urls=_urls(server), sizes={'val': 12345}, progress=False)


def test_download_rejects_corrupt_archive(tmp_path, server):
    server.files['val2017.zip'] = b'PK this is not a zip archive' * 100
    with pytest.raises(ValueError, match='is not a valid zip archive; it was deleted'):
        download_coco(tmp_path, ['val'], annotations=False, urls=_urls(server), progress=False)
    assert not (tmp_path / 'val2017.zip').exists()


def test_download_errors_are_clear(tmp_path, server):
    with pytest.raises(ValueError, match="unknown COCO archive 'test'"):
        download_coco(tmp_path, ['test'], progress=False)
    with pytest.raises(OSError, match='HTTP 404'):
        download_coco(tmp_path, ['val'], annotations=False, urls={'val': f'{server.url}/nope.zip'}, progress=False)


# ---------------------------------------------------------------- the bad-data matrix

@pytest.fixture(scope='module')
def base(tmp_path_factory):
    return make_shapes(tmp_path_factory.mktemp('base'), n_train=6, n_val=0, seed=5, max_objects=3, empty_frac=0.0)


@pytest.fixture
def broken(base, tmp_path):
    "A fresh copy of the base dataset: (root, ann json path, image folder, parsed json, image paths)."
    root = Path(shutil.copytree(base, tmp_path / 'ds'))
    ann, img = root / 'annotations' / 'instances_train2017.json', root / 'train2017'
    d = json.loads(ann.read_text())
    return root, ann, img, d, [img / i['file_name'] for i in d['images']]


def _first_ann_of(d, k):
    "The first annotation of image k of `d`."
    return next(a for a in d['annotations'] if a['image_id'] == d['images'][k]['id'])


def _rewrite_image(p, fn, fmt='JPEG'):
    im = Image.open(p)
    im.load()
    fn(im).save(p, format=fmt)


def _turn_sideways(p, orientation=6):
    "Store image `p` as a phone does: the pixels turned, with the EXIF orientation that turns them back."
    im = Image.open(p)
    im.load()
    exif = Image.Exif()
    exif[0x0112] = orientation
    turn = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation]
    im.transpose(turn).save(p, format='JPEG', exif=exif.tobytes(), quality=95)


def _string_image_ids(d, f):
    for i in d['images']:
        i['id'] = f"img_{i['id']}"
    for a in d['annotations']:
        a['image_id'] = f"img_{a['image_id']}"


def _windows_names(d, f):
    "File names as a Windows tool writes them, relative to the dataset root (train2017\\x.jpg)."
    for i in d['images']:
        i['file_name'] = 'train2017\\' + i['file_name']


def _as_tiff(p, dtype, scale):
    "Image `p` rewritten as a single-band 32-bit TIFF (under its .jpg name) holding its gray values times `scale`."
    gray = np.asarray(Image.open(p).convert('L')).astype(np.float64)
    Image.fromarray((gray * scale).astype(dtype)).save(p, format='TIFF')


def _crowded(d, f, n=101):
    img = d['images'][0]
    d['annotations'] += [{'id': 10_000 + k, 'image_id': img['id'], 'category_id': 1,
                          'bbox': [k % 10 * 5, k // 10 * 5, 4, 4], 'area': 16, 'iscrowd': 0} for k in range(n)]


# each case: (problem kind, breakage(d, files) -> None; d is written back afterwards)
CASES = {
    'truncated': ('unreadable image', lambda d, f: f[0].write_bytes(f[0].read_bytes()[:500])),
    'corrupt': ('unreadable image', lambda d, f: f[0].write_bytes(b'\x89PNG not really' * 10)),
    'empty file': ('unreadable image', lambda d, f: f[0].write_bytes(b'')),
    'missing file': ('missing file', lambda d, f: f[0].unlink()),
    'zero width': ('non-positive box', lambda d, f: _first_ann_of(d, 0)['bbox'].__setitem__(2, 0)),
    'negative height': ('non-positive box', lambda d, f: _first_ann_of(d, 0)['bbox'].__setitem__(3, -4)),
    'box past the border': ('box outside image', lambda d, f: _first_ann_of(d, 0)['bbox'].__setitem__(2, 10_000)),
    'box left of the image': ('box outside image', lambda d, f: _first_ann_of(d, 0)['bbox'].__setitem__(0, -30)),
    'box entirely outside': ('box outside image', lambda d, f: _first_ann_of(d, 0)['bbox'].__setitem__(0, 5_000)),
    'unknown category': ('unknown category', lambda d, f: _first_ann_of(d, 0).__setitem__('category_id', 42)),
    'duplicate image id': ('duplicate id', lambda d, f: d['images'][1].__setitem__('id', d['images'][0]['id'])),
    'duplicate annotation id': ('duplicate annotation id',
                                lambda d, f: d['annotations'][1].__setitem__('id', d['annotations'][0]['id'])),
    'the same annotation twice': ('repeated annotation',
                                  lambda d, f: d['annotations'].append(dict(d['annotations'][0]))),
    'annotation ids from 0': ('annotation id 0',
                              lambda d, f: [a.__setitem__('id', k) for k, a in enumerate(d['annotations'])]),
    'category id as text': ('number as text', lambda d, f: d['annotations'][0].__setitem__('category_id', '1')),
    'image id as text in an annotation': ('number as text', lambda d, f: d['annotations'][0].__setitem__(
        'image_id', str(d['annotations'][0]['image_id']))),
    # file names written elsewhere (issue 26, kind 3)
    'Windows separators': ('file name rewritten', _windows_names),
    'leading ./': ('file name rewritten', lambda d, f: d['images'][0].__setitem__('file_name', './' + f[0].name)),
    'absolute path of another machine': ('file found by another name', lambda d, f: d['images'][0].__setitem__(
        'file_name', f'/home/alice/data/train2017/{f[0].name}')),
    'file name in another case': ('file found by another name',
                                  lambda d, f: f[0].rename(f[0].with_name(f[0].name.upper()))),
    'float TIFF in 0..1': ('32-bit image', lambda d, f: _as_tiff(f[0], np.float32, 1 / 255)),
    'int32 TIFF in 0..255': ('32-bit image', lambda d, f: _as_tiff(f[0], np.int32, 1)),
    'float TIFF with negative values': ('unsupported image mode', lambda d, f: _as_tiff(f[0], np.float32, -1 / 255)),
    'split without objects': ('split without objects', lambda d, f: d.__setitem__('annotations', [])),
    'file name with another extension': ('file found by another name', lambda d, f: d['images'][0].__setitem__(
        'file_name', f[0].with_suffix('.png').name)),
    'two records, one file': ('duplicate file name', lambda d, f: d['images'].append({**d['images'][0], 'id': 999})),
    'file name as a URL': ('file found by another name', lambda d, f: d['images'][0].__setitem__(
        'file_name', f'http://labels.example/data/upload/1/{f[0].name}')),
    'boxes as fractions (YOLO)': ('boxes in fractions of the image', lambda d, f: [a.__setitem__(
        'bbox', [v / 1000 for v in a['bbox']]) for a in d['annotations']]),
    'duplicate category id': ('duplicate id', lambda d, f: d['categories'].append({'id': 1, 'name': 'disc'})),
    'annotation of unknown image': ('annotation of unknown image',
                                    lambda d, f: d['annotations'][0].__setitem__('image_id', 777)),
    'image without annotations': ('image without annotations',
                                  lambda d, f: d.__setitem__('annotations',
                                                             [a for a in d['annotations']
                                                              if a['image_id'] != d['images'][0]['id']])),
    'annotation without bbox': ('malformed record', lambda d, f: d['annotations'][0].pop('bbox')),
    'bbox of 3 numbers': ('malformed record', lambda d, f: d['annotations'][0].__setitem__('bbox', [1, 2, 3])),
    'image without file_name': ('malformed record', lambda d, f: d['images'][0].pop('file_name')),
    'size mismatch': ('size mismatch', lambda d, f: d['images'][0].__setitem__('width', d['images'][0]['width'] + 7)),
    'grayscale': ('grayscale image', lambda d, f: _rewrite_image(f[0], lambda im: im.convert('L'))),
    'RGBA': ('RGBA or palette image', lambda d, f: _rewrite_image(f[0], lambda im: im.convert('RGBA'), 'PNG')),
    'palette': ('RGBA or palette image', lambda d, f: _rewrite_image(f[0], lambda im: im.convert('P'), 'PNG')),
    'CMYK': ('CMYK image', lambda d, f: _rewrite_image(f[0], lambda im: im.convert('CMYK'))),
    '16-bit': ('16-bit image', lambda d, f: _rewrite_image(
        f[0], lambda im: Image.fromarray(np.asarray(im.convert('L')).astype(np.uint16) * 257), 'PNG')),
    # legal COCO that COCOeval or torch cannot take as it is (issue 12, kind 1)
    'no area': ('missing area', lambda d, f: [a.pop('area') for a in d['annotations']]),
    'no iscrowd': ('missing iscrowd', lambda d, f: [a.pop('iscrowd') for a in d['annotations']]),
    'string image ids': ('non-integer id', _string_image_ids),
    'no annotation id': ('non-integer id', lambda d, f: d['annotations'][0].pop('id')),
    'bbox as text': ('number as text', lambda d, f: d['annotations'][0].__setitem__(
        'bbox', [str(v) for v in d['annotations'][0]['bbox']])),
    'width as text': ('number as text', lambda d, f: d['images'][0].__setitem__('width', str(d['images'][0]['width']))),
    'more objects than max_dets': ('more objects than max_dets', _crowded),
    # a phone photo (kind 4)
    'EXIF orientation 6': ('EXIF orientation', lambda d, f: _turn_sideways(f[0], 6)),
    'EXIF orientation 3': ('EXIF orientation', lambda d, f: _turn_sideways(f[0], 3)),
}


@pytest.mark.parametrize('case', list(CASES))
def test_bad_data_is_reported_and_loading_survives(case, broken):
    kind, breakage = CASES[case]
    root, ann, img, d, files = broken
    breakage(d, files)
    ann.write_text(json.dumps(d))
    img = root if case == 'Windows separators' else img  # its names start with train2017\\
    report = validate_coco(ann, img)
    assert report.counts[kind] >= 1, (case, report.counts)
    text = str(report)
    rows = {k for k in PROBLEMS if f"{k:<28}{report.counts[k]:>6}" in text}  # a row per kind found, no zero rows
    assert rows == {k for k in PROBLEMS if report.counts[k]}, (rows, report.counts)
    line = next(l for l in text.splitlines() if l.startswith(kind))
    assert report.examples[kind][0] in line and f' {report.counts[kind]} ' in line
    assert kind in report._repr_markdown_()
    assert report.ok == (PROBLEMS[kind][0] != 'error')

    # loading: never a crash mid-epoch, every sample well-formed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        ds = CocoDetection(img, ann, transforms_from_config(TINY, 'train'))
        batches = list(make_loader(ds, batch_size=4, train=True))
    messages = [str(w.message) for w in caught]
    assert sum(len(t) for _, _, t in batches) == len(ds)
    for images, mask, targets in batches:
        assert images.dtype == torch.float32 and images.shape[1] == 3
        for t in targets:
            assert t['boxes'].shape == (len(t['labels']), 4) and ((t['boxes'] >= 0) & (t['boxes'] <= 1)).all()
            assert set(t['labels'].tolist()) <= {1, 2, 3}
    if kind in ('unreadable image', 'unsupported image mode'):
        assert any(files[0].name in m and 'cannot read image' in m for m in messages), messages
        assert ds.skipped[files[0].name] == 1
    if kind in ('file name rewritten', 'file found by another name'):
        assert len(ds) == len(d['images'])  # every file found, none substituted
    if PROBLEMS[kind][0] != 'info' and kind not in ('unreadable image', 'size mismatch', 'more objects than max_dets',
                                                    'unsupported image mode', 'split without objects'):
        assert any(kind in m for m in messages), messages  # the construction warning counts it
    if kind == 'EXIF orientation':
        assert report.counts['size mismatch'] == 0  # compared upright
    if kind == 'non-integer id':
        assert all(isinstance(t['image_id'].item(), int) for _, _, tg in batches for t in tg)


def test_bad_boxes_are_dropped_or_clipped(broken):
    root, ann, img, d, files = broken
    a0 = d['annotations'][0]
    n0 = sum(a['image_id'] == a0['image_id'] for a in d['annotations'])
    a0['bbox'] = [-20, -20, 10_000, 10_000]                      # clipped to the whole image
    a1 = next(a for a in d['annotations'] if a['image_id'] != a0['image_id'])
    n1 = sum(a['image_id'] == a1['image_id'] for a in d['annotations'])
    a1['bbox'][2] = 0                                            # dropped
    ann.write_text(json.dumps(d))
    with pytest.warns(UserWarning, match='1 non-positive box .box dropped.*1 box outside image .box clipped'):
        ds = CocoDetection(img, ann)
    t0 = ds[ds.ids.index(a0['image_id'])][1]
    assert len(t0['boxes']) == n0 and torch.allclose(t0['boxes'][0], torch.tensor([0.5, 0.5, 1.0, 1.0]))
    assert len(ds[ds.ids.index(a1['image_id'])][1]['boxes']) == n1 - 1


def test_converted_images_look_right(broken):
    root, ann, img, d, files = broken
    ref = np.asarray(Image.open(files[0]).convert('L'), dtype=np.float32)
    _rewrite_image(files[0], lambda im: Image.fromarray(np.asarray(im.convert('L')).astype(np.uint16) * 257), 'PNG')
    _rewrite_image(files[1], lambda im: im.convert('CMYK'))
    ds = CocoDetection(img, ann)
    x = ds[0][0]
    assert x.shape[0] == 3 and x.dtype == torch.uint8
    assert abs(x.float().mean().item() - ref.mean()) < 2  # 16-bit scaled, not clipped to white
    assert ds[1][0].shape[0] == 3


def test_crowd_kept_only_on_request(broken):
    root, ann, img, d, files = broken
    a = _first_ann_of(d, 0)
    a['iscrowd'] = 1
    ann.write_text(json.dumps(d))
    n = sum(x['image_id'] == a['image_id'] for x in d['annotations'])
    train, ev = CocoDetection(img, ann), CocoDetection(img, ann, keep_crowd=True)
    assert len(train[0][1]['labels']) == n - 1 and train[0][1]['iscrowd'].sum() == 0
    assert len(ev[0][1]['labels']) == n and ev[0][1]['iscrowd'].sum() == 1
    assert validate_coco(ann, img).n_crowd == 1


def test_fatal_problems_fail_at_once(broken, tmp_path):
    root, ann, img, d, files = broken
    bad = tmp_path / 'bad.json'
    for text, msg in [('{"images": [', 'is not valid JSON'), ('', 'is not valid JSON'), ('[1, 2]', 'holds a list'),
                      ('{"images": [], "categories": []}', "has no 'annotations' list"),
                      ('\xff\xfe', 'is not valid JSON')]:
        bad.write_text(text, encoding='latin-1')
        with pytest.raises(ValueError, match=msg):
            CocoDetection(img, bad)
        r = validate_coco(bad, img)
        assert r.counts['invalid annotation file'] == 1 and not r.ok
        assert msg.split()[-1] in r.examples['invalid annotation file'][0]
    with pytest.raises(FileNotFoundError, match='annotation file .* does not exist; expected a COCO instances json'):
        CocoDetection(img, tmp_path / 'nope.json')
    d['categories'][0]['id'] = 'circle'  # a category id that is not an integer: nothing to call its predictions
    bad.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="bad.json: non-integer category id: category 'circle' has id 'circle'"):
        CocoDetection(img, bad)
    r = validate_coco(bad, img)
    assert r.counts['non-integer category id'] == 1 and not r.ok
    with pytest.raises(FileNotFoundError,
                       match='image folder .* does not exist; expected the folder holding the images'):
        CocoDetection(tmp_path / 'no_images', ann)
    assert validate_coco(ann, tmp_path / 'no_images').counts['missing image folder'] == 1
    (tmp_path / 'wrong').mkdir()
    with pytest.raises(FileNotFoundError, match='none of the 6 images .* is it the right image folder'):
        CocoDetection(tmp_path / 'wrong', ann)


def test_all_images_unreadable_is_a_clear_error(broken):
    root, ann, img, d, files = broken
    for f in files:
        f.write_bytes(b'junk')
    ds = CocoDetection(img, ann)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with pytest.raises(OSError, match=r'none of the 6 images in .* can be read \(e.g. .*: '):
            ds[0]


def test_check_labels_and_category_helpers(broken):
    root, ann, img, d, files = broken
    d['categories'].append({'id': 12, 'name': 'hexagon'})
    a = d['annotations'][2]
    a['category_id'] = 12
    ann.write_text(json.dumps(d))
    ds = CocoDetection(img, ann)
    assert category_names(ds) == {1: 'circle', 2: 'square', 3: 'triangle', 12: 'hexagon'} == category_names(ann)
    assert num_classes_of(ds) == 13
    check_labels(ds, 13)
    fname = next(i['file_name'] for i in d['images'] if i['id'] == a['image_id'])
    with pytest.raises(ValueError,
                       match=f"{fname}: annotation {a['id']} has category_id 12 .hexagon.; "
                             f"set model.num_classes to 13"):
        check_labels(ds, 4)


# ---------------------------------------------------------------- loader and collate

def test_loader_settings_and_workers(base):
    ds = CocoDetection(base / 'train2017', base / 'annotations' / 'instances_train2017.json',
                       transforms_from_config(TINY, 'val'))
    dl = make_loader(ds, 3, train=False, num_workers=1, persistent_workers=True, prefetch_factor=2, pin_memory=True)
    assert dl.num_workers == 1 and dl.persistent_workers and dl.prefetch_factor == 2
    ids = [int(t['image_id']) for _ in range(2) for _, _, tg in dl for t in tg]  # two epochs, one worker kept alive
    assert ids == ds.ids * 2
    images, mask, targets = next(iter(dl))
    for im, m, t in zip(images, mask, targets):
        h, w = t['size'].tolist()
        assert not m[:h, :w].any() and m[h:].all() and m[:, w:].all() and im[:, h:].abs().sum() == 0


def test_loader_uses_distributed_sampler_under_torchrun(base, tmp_path):
    ds = CocoDetection(base / 'train2017', base / 'annotations' / 'instances_train2017.json')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=0, world_size=1)
    try:
        dl = make_loader(ds, 2, train=True, seed=3)
        assert isinstance(dl.sampler, DistributedSampler) and dl.sampler.shuffle and dl.sampler.seed == 3
        assert sum(len(t) for _, _, t in dl) == len(ds)
    finally:
        dist.destroy_process_group()
    assert not isinstance(make_loader(ds, 2, train=True).sampler, DistributedSampler)


def test_collate_rejects_empty_batch():
    with pytest.raises(ValueError, match='empty batch'):
        collate_fn([None, None])


# ---------------------------------------------------------------- real COCO images (data/coco_real_subset)

@pytest.mark.skipif(not REAL.is_dir(),
                    reason=f'the real COCO subset is absent: {COCO_REAL_WHERE}')
@pytest.mark.parametrize('split', ['train', 'val'])
def test_real_subset(split):
    ann, img = REAL / 'annotations' / f'instances_{split}2017.json', REAL / f'{split}2017'
    report = validate_coco(ann, img)
    assert report.ok and report.n_images == 80 and report.n_crowd > 0, str(report)
    ds = CocoDetection(img, ann, transforms_from_config(get_preset('r50').data, 'val'))
    x, t = ds[0]
    assert min(x.shape[-2:]) == 800 or max(x.shape[-2:]) == 1333
    assert num_classes_of(ds) == 91
    check_labels(ds, 91)
    crowd = CocoDetection(img, ann, keep_crowd=True)
    assert sum(int(crowd[k][1]['iscrowd'].sum()) for k in range(len(crowd))) == report.n_crowd


def test_duplicate_ids_keep_the_first_image_and_both_objects(broken):
    root, ann, img, d, files = broken
    d['annotations'][1]['id'] = d['annotations'][0]['id']
    d['images'].append({**d['images'][0], 'file_name': files[1].name})  # same id, other file
    ann.write_text(json.dumps(d))
    with pytest.warns(UserWarning, match=r'1 duplicate id .first record kept., 1 duplicate annotation id .renumbered'):
        ds = CocoDetection(img, ann)
    assert len(ds) == 6 and ds.coco.imgs[d['images'][0]['id']]['file_name'] == files[0].name
    assert len(ds.coco.anns) == len(d['annotations']) and 0 not in ds.coco.anns  # two objects, two ids


# ---------------------------------------------------------------- issue 12: string ids, EXIF, sparse category ids

def test_string_image_ids_are_named_and_mapped(broken):
    root, ann, img, d, files = broken
    _string_image_ids(d, files)
    ann.write_text(json.dumps(d))
    report = validate_coco(ann, img)
    assert report.counts['non-integer id'] == 6 and "image 'img_1' (000000000001.jpg) -> " in str(report)
    with pytest.warns(UserWarning, match='6 non-integer id .image/annotation id mapped to an integer.'):
        ds = CocoDetection(img, ann, transforms_from_config(TINY, 'val'))
    assert sorted(ds.image_ids) == [f'img_{k}' for k in range(1, 7)]
    new = ds.image_ids['img_1']
    x, t = ds[ds.ids.index(new)]
    assert t['image_id'].item() == new and ds.coco.imgs[new]['file_name'] == '000000000001.jpg'
    assert len(t['boxes']) == sum(a['image_id'] == 'img_1' for a in d['annotations'])


def test_phone_photo_is_read_upright(tmp_path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from detr_nb.analysis import analyze, draw_image
    from detr_nb.eval import coco_stats
    upright = np.zeros((120, 80, 3), np.uint8)
    upright[10:40, 20:60] = (255, 0, 0)                                  # the object, at the top of a portrait photo
    (tmp_path / 'img').mkdir()
    Image.fromarray(upright).save(tmp_path / 'img' / 'p.jpg', quality=95)
    _turn_sideways(tmp_path / 'img' / 'p.jpg', 6)
    with Image.open(tmp_path / 'img' / 'p.jpg') as raw:
        assert raw.size == (120, 80)                                    # stored landscape
    rec = {'id': 1, 'file_name': 'p.jpg', 'width': 80, 'height': 120}   # as the annotation tool showed it
    box = {'id': 1, 'image_id': 1, 'category_id': 1, 'bbox': [20, 10, 40, 30], 'area': 1200, 'iscrowd': 0}
    (tmp_path / 'ann.json').write_text(json.dumps({'images': [rec], 'categories': [{'id': 1, 'name': 'thing'}],
                                                   'annotations': [box]}))
    report = validate_coco(tmp_path / 'ann.json', tmp_path / 'img')
    assert report.counts['EXIF orientation'] == 1 and report.counts['size mismatch'] == 0 and report.ok
    assert '6: rotated 90° cw, read as 80x120' in str(report)
    x, t = CocoDetection(tmp_path / 'img', tmp_path / 'ann.json')[0]
    assert t['orig_size'].tolist() == [120, 80]
    assert x[0, 10:40, 20:60].float().mean() > 200 and x[1, 10:40, 20:60].float().mean() < 60   # the box is on red
    assert np.asarray(read_image(tmp_path / 'img' / 'p.jpg')).shape == (120, 80, 3)
    det = {'image_id': 1, 'category_id': 1, 'bbox': box['bbox'], 'score': 1.}
    an = analyze(coco_stats(tmp_path / 'ann.json', [det]))
    fig = draw_image(an, 1, tmp_path / 'img', show='ground truth')     # the error analysis draws it upright too
    assert fig.axes[0].images[0].get_array().shape[:2] == (120, 80)
    px = fig.axes[0].images[0].get_array()[20, 40]
    assert px[0] > 200 and px[1] < 60                                   # the photo (red there), not a grey canvas
    plt.close(fig)
    (tmp_path / 'img' / 'p.jpg').rename(tmp_path / 'img' / 'P.JPG')      # found by another name, as the dataset does
    fig = draw_image(an, 1, tmp_path / 'img', show='ground truth')
    px = fig.axes[0].images[0].get_array()[20, 40]
    assert px[0] > 200 and px[1] < 60
    plt.close(fig)
    (tmp_path / 'img' / 'P.JPG').rename(tmp_path / 'img' / 'p.jpg')
    rec_stored = {**rec, 'width': 120, 'height': 80}                    # a json with the stored size: named as such
    (tmp_path / 'ann2.json').write_text(json.dumps({'images': [rec_stored], 'categories': [], 'annotations': []}))
    assert 'the json has the stored size' in str(validate_coco(tmp_path / 'ann2.json', tmp_path / 'img'))


def test_sparse_category_ids_get_contiguous_labels(broken):
    root, ann, img, d, files = broken
    ids = {1: 1, 2: 2, 3: 4_000_000}
    for c in d['categories']:
        c['id'] = ids[c['id']]
    for a in d['annotations']:
        a['category_id'] = ids[a['category_id']]
    ann.write_text(json.dumps(d))
    ds = CocoDetection(img, ann)
    assert num_classes_of(ds) == 3 == num_classes_of(ann)
    assert ds.categories == [{'label': 0, 'id': 1, 'name': 'circle'}, {'label': 1, 'id': 2, 'name': 'square'},
                             {'label': 2, 'id': 4_000_000, 'name': 'triangle'}]
    assert label_names(ds) == {0: 'circle', 1: 'square', 2: 'triangle'}
    labels = torch.cat([ds[k][1]['labels'] for k in range(len(ds))])
    assert set(labels.tolist()) <= {0, 1, 2} and (labels == 2).any()
    check_labels(ds, 3)
    with pytest.raises(ValueError, match='triangle, label 2.; set model.num_classes to 3'):
        check_labels(ds, 2)
    # a split built with another map: its own categories follow that map, unknown ones are left out
    other = [{'label': 0, 'id': 4_000_000, 'name': 'triangle'}, {'label': 1, 'id': 1, 'name': 'circle'}]
    with pytest.warns(UserWarning, match='categories \\[2\\] are not among the given categories'):
        ds2 = CocoDetection(img, ann, categories=other)
    for k in range(len(ds)):
        a, b = ds[k][1]['labels'].tolist(), ds2[k][1]['labels'].tolist()
        assert b == [{0: 1, 2: 0}[x] for x in a if x != 1]


# ------------------------------------------------------- issue 26, kind 3: images and records read as something else

def _tiny_split(root, n, name=lambda i: f'img_{i:03d}.jpg', write=None):
    "`n` 40x30 images under root/images, their json naming them by `name(i)`; `write(i, path)` writes image i."
    (root / 'images').mkdir(parents=True)
    for i in range(n):
        p = root / 'images' / f'img_{i:03d}.jpg'
        write(i, p) if write else Image.new('RGB', (40, 30), (90, 120, 150)).save(p)
    d = {'images': [{'id': i + 1, 'file_name': name(i), 'width': 40, 'height': 30} for i in range(n)],
         'categories': [{'id': 1, 'name': 'thing'}],
         'annotations': [{'id': i + 1, 'image_id': i + 1, 'category_id': 1, 'bbox': [5, 5, 10, 10], 'area': 100,
                          'iscrowd': 0} for i in range(n)]}
    (root / 'ann.json').write_text(json.dumps(d))
    return root / 'ann.json'


@pytest.mark.parametrize('dtype,scale', [(np.float32, 1 / 255), (np.int32, 1), (np.float32, 1.), (np.int32, 257)])
def test_32bit_tiffs_are_read_by_their_range(dtype, scale, tmp_path):
    gray = (np.arange(30 * 40).reshape(30, 40) % 256).astype(np.float64)
    ann = _tiny_split(tmp_path, 1, name=lambda i: 'img_000.tif',
                      write=lambda i, p: Image.fromarray((gray * scale).astype(dtype)).save(p.with_suffix('.tif')))
    image, _ = CocoDetection(tmp_path / 'images', ann)[0]
    # issue 26: mode F in 0..1 and mode I in 0..255 came out black (0 everywhere)
    assert np.abs(image[0].numpy().astype(int) - gray.astype(int)).max() <= 1 and (image[0] == image[2]).all()
    report = validate_coco(ann, tmp_path / 'images')
    assert report.counts['32-bit image'] == 1 and report.ok, str(report)


def test_32bit_tiff_without_a_range_is_refused_by_name(tmp_path):
    ann = _tiny_split(tmp_path, 2, write=lambda i, p: Image.fromarray(
        np.full((30, 40), -3. if i == 0 else .5, np.float32)).save(p, format='TIFF'))
    report = validate_coco(ann, tmp_path / 'images')
    assert report.counts['unsupported image mode'] == 1 and not report.ok
    assert 'img_000.jpg: image mode F (32-bit float) with values -3..-3' in report.examples['unsupported image mode'][0]
    with pytest.raises(ValueError,
                       match=r'img_000.jpg: image mode F \(32-bit float\) with values -3..-3: only 0..1 or 0..255'):
        read_image(tmp_path / 'images' / 'img_000.jpg')


@pytest.mark.parametrize('written', ['images\\img_{i:03d}.jpg', './images/img_{i:03d}.jpg',
                                     '.\\images\\img_{i:03d}.jpg', 'C:\\Users\\ann\\data\\images\\img_{i:03d}.jpg',
                                     '/home/ann/data/images/img_{i:03d}.jpg',
                                     'images/IMG_{i:03d}.JPG', ' images/img_{i:03d}.jpg'])
def test_file_names_written_elsewhere_are_found_and_named(written, tmp_path):
    ann = _tiny_split(tmp_path, 2, name=lambda i: written.format(i=i))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        ds = CocoDetection(tmp_path, ann)  # issue 26: "none of the 2 images ... is in root" for images\img_000.jpg
    assert len(ds) == 2 and [t['image_id'].item() for _, t in ds] == [1, 2]
    said = ' '.join(str(w.message) for w in caught)
    assert 'file name rewritten' in said or 'file found by another name' in said, said
    report = validate_coco(ann, tmp_path)
    assert report.counts['missing file'] == 0 and report.counts['file name rewritten'] + \
        report.counts['file found by another name'] >= 2, str(report)


def test_ambiguous_file_name_is_named_as_missing(tmp_path):
    ann = _tiny_split(tmp_path, 1, name=lambda i: 'images/Img_000.jpg')
    Image.new('RGB', (40, 30)).save(tmp_path / 'images' / 'IMG_000.jpg')
    report = validate_coco(ann, tmp_path)
    assert report.counts['missing file'] == 1
    assert '2 files match it but for case, spaces or extension' in report.examples['missing file'][0]


def test_more_objects_than_queries_is_said(tmp_path):
    from detr_nb.coco import check_objects_per_image
    ann = _tiny_split(tmp_path, 2)
    d = json.loads(ann.read_text())
    d['annotations'] += [{'id': 100 + k, 'image_id': 1, 'category_id': 1, 'bbox': [k * 3, 20, 2, 2], 'area': 4,
                          'iscrowd': 0} for k in range(11)]  # 12 objects in img_000.jpg
    ann.write_text(json.dumps(d))
    ds = CocoDetection(tmp_path / 'images', ann)
    said = (r'1 image\(s\) hold more objects than model.num_queries = 5 \(most: img_000.jpg \(12\)\); '
            r'at most 5 objects .* 7 of the worst can never be found')
    with pytest.warns(UserWarning, match=said):
        assert check_objects_per_image(ds, 5) == [('img_000.jpg', 12)]
    assert check_objects_per_image(ann, 12, warn=False) == []
    report = validate_coco(ann, tmp_path / 'images', num_queries=5)
    assert report.examples['more objects than num_queries'] == [
        'img_000.jpg: 12 objects, num_queries 5 (7 never matched)']
