"""Pascal VOC and YOLO folders in every layout the labelling tools write, built here from tiny images: what is read
(counts, pixel boxes, class names, splits), every broken-file finding by file, `convert` and its refusals, the
`coco_files` cache, and the real raccoon set (skipped when `data/raccoon_voc` is absent)."""
import csv, json, shutil
from pathlib import Path

import pytest
from PIL import Image

from detr_nb.data import CocoDetection, validate_coco
from detr_nb.formats import FormatDataset, coco_files, convert, detect_format, fraction_split, load_dataset
from detr_nb.voc_yolo import FORMAT_PROBLEMS, Finding, read_split_list

from real_data import RACCOON, RACCOON_WHERE  # noqa: E402


# ---------------------------------------------------------------- fixture writers

def img(path, w=40, h=30):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new('RGB', (w, h), (90, 120, 30)).save(path)
    return path

def xml(path, filename, objects=(), size=(40, 30), raw=None):
    "A Pascal VOC XML as labelImg writes it; `objects` = [(name, xmin, ymin, xmax, ymax)]; `size` None: no <size>."
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        path.write_text(raw)
        return path
    s = f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>" if size else ''
    objs = ''.join(f"<object><name>{n}</name><difficult>0</difficult><bndbox><xmin>{a}</xmin><ymin>{b}</ymin>"
                   f"<xmax>{c}</xmax><ymax>{d}</ymax></bndbox></object>" for n, a, b, c, d in objects)
    path.write_text(f"<annotation><folder>x</folder><filename>{filename}</filename>{s}{objs}</annotation>")
    return path

def txt(path, *lines):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(line + '\n' for line in lines))
    return path

def kinds(ds:FormatDataset) -> dict:
    "kind -> sorted files with that finding"
    out = {}
    for f in ds.findings:
        out.setdefault(f.kind, []).append(f.file)
    return {k: sorted(v) for k, v in out.items()}

def boxes(d, name):
    "[(category name, bbox)] of the image `name` in COCO dict `d`"
    cats = {c['id']: c['name'] for c in d['categories']}
    iid = next(i['id'] for i in d['images'] if i['file_name'] == name)
    return [(cats[a['category_id']], a['bbox']) for a in d['annotations'] if a['image_id'] == iid]

def names(d): return sorted(i['file_name'] for i in d['images'])


# ---------------------------------------------------------------- Pascal VOC

def test_voc_side_by_side_fraction_split_and_broken_files(tmp_path):
    "labelImg's default: jpg and xml side by side; no split, so every 5th image by sorted name goes to val."
    r = tmp_path / 'sbs'
    for i in range(10):
        img(r / f'im{i}.jpg')
        xml(r / f'im{i}.xml', f'im{i}.jpg', [('dog', 1, 2, 11, 22), ('cat', 5, 5, 9, 9)])
    xml(r / 'im1.xml', 'im1.jpg', [('dog', -5, 2, 11, 40), ('cat', 9, 9, 5, 12), ('cat', 3, 3, 3, 9),
                                    ('dog', 50, 50, 60, 60)])             # clipped, inverted, empty, outside
    xml(r / 'im2.xml', 'im2.jpg', [('dog', 1, 2, 11, 22)], size=None)    # no size
    xml(r / 'im3.xml', 'im3.jpg', [('dog', 1, 2, 11, 22)], size=(80, 60))  # size differs from the file
    xml(r / 'im4.xml', '', raw='<annotation><object><name>dog</name><bndbox><xmin>a</xmin></bndbox></object>')
    xml(r / 'im5.xml', '', raw='<annotation><object><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>4</xmax>'
                                  '<ymax>4</ymax></bndbox></object><object><name>cat</name><bndbox><xmin>1</xmin>'
                                  '<ymin>x</ymin><xmax>4</xmax><ymax>4</ymax></bndbox></object></annotation>')
    xml(r / 'im6.xml', '', raw='<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "boom">]><annotation>&e;</annotation>')
    (r / 'im7.xml').unlink()                                              # background image
    xml(r / 'ghost.xml', 'ghost.jpg', [('dog', 1, 1, 5, 5)])              # no image
    (r / 'im8.jpg').write_bytes(b'not a jpeg')                            # unreadable image
    assert detect_format(r) == 'voc'
    ds = load_dataset(r)
    k = kinds(ds)
    assert k['unreadable label file'] == ['im4.xml', 'im6.xml']           # not well-formed; DTD refused
    assert k['box outside image'] == ['im1.xml']
    assert k['inverted box'] == ['im1.xml'] and k['non-positive box'] == ['im1.xml', 'im1.xml']
    assert k['missing size'] == ['im2.xml', 'im5.xml']
    assert k['size mismatch'] == ['im3.xml']
    assert k['malformed label'] == ['im5.xml', 'im5.xml']
    assert k['image without label file'] == ['im7.jpg']
    assert k['label file without image'] == ['ghost.xml']
    assert k['unreadable image'] == ['im8.jpg']
    assert ds.n_skipped == 3                                              # im4, im6 (unreadable xml), im8
    # 10 images sorted: val = im4, im9 (the 5th and 10th); im4 skipped
    assert names(ds.coco['val']) == ['im9.jpg'] and len(ds.coco['train']['images']) == 6
    tr = ds.coco['train']
    assert [c['name'] for c in tr['categories']] == ['cat', 'dog']        # no class list: sorted names
    assert boxes(tr, 'im1.jpg') == [('dog', [0.0, 2.0, 11.0, 28.0])]
    assert boxes(tr, 'im0.jpg') == [('dog', [1.0, 2.0, 10.0, 20.0]), ('cat', [5.0, 5.0, 4.0, 4.0])]
    assert boxes(tr, 'im5.jpg') == [] and boxes(tr, 'im7.jpg') == []
    assert next(i for i in tr['images'] if i['file_name'] == 'im3.jpg')['width'] == 40   # the file's size wins
    assert [a['id'] for a in tr['annotations']] == list(range(1, len(tr['annotations']) + 1))
    assert all(a['iscrowd'] == 0 and a['area'] == a['bbox'][2] * a['bbox'][3] for a in tr['annotations'])
    assert 'fraction_split' in ds.split_source
    assert all(f.severity == FORMAT_PROBLEMS.get(f.kind, ('', ''))[0] or f.kind in
               ('size mismatch', 'box outside image', 'non-positive box', 'unreadable image') for f in ds.findings)

def test_voc_any_folder_names_class_list_and_split_lists(tmp_path):
    "images/ + annotations/ under any names; labels.txt fixes the class order; a split as lists of file names."
    r = tmp_path / 'named'
    for i in range(6):
        img(r / 'pics' / f'p{i}.png', 64, 48)
        xml(r / 'xmls' / f'p{i}.xml', f'p{i}.png', [('Zebra Crossing', 2, 3, 30, 40), ('car', 0, 0, 64, 48)],
            size=(64, 48))
    xml(r / 'xmls' / 'p5.xml', 'p5.png', [('bus', 1, 1, 9, 9)], size=(64, 48))
    txt(r / 'labels.txt', 'car', 'Zebra Crossing')
    ds = load_dataset(r, split_files={'train': ['p0.png', 'p1.png', 'p2', 'p3.png'], 'val': ['p4.png', 'nope.png']})
    assert [c['name'] for c in ds.coco['train']['categories']] == ['car', 'Zebra Crossing']
    assert names(ds.coco['train']) == ['p0.png', 'p1.png', 'p2.png', 'p3.png'] and names(ds.coco['val']) == ['p4.png']
    assert ds.image_roots['train'] == r / 'pics'
    assert boxes(ds.coco['val'], 'p4.png') == [('Zebra Crossing', [2.0, 3.0, 28.0, 37.0]), ('car', [0, 0, 64, 48])]
    assert kinds(ds) == {'missing file': ['nope.png']}                    # p5 (unknown class 'bus') in no list
    assert '1 images in neither list' in ds.split_source
    ds = load_dataset(r, split_files={'train': ['p5.png'], 'val': ['p4.png']})
    assert kinds(ds) == {'unknown class': ['xmls/p5.xml']} and boxes(ds.coco['train'], 'p5.png') == []
    # the same split written as the raccoon author's CSVs, found by name in a data/ folder
    for split, ns in (('train', ['p0.png', 'p1.png', 'p2.png']), ('test', ['p3.png', 'p4.png'])):
        with open(r / 'data' / f'{split}_labels.csv' if (r / 'data').is_dir() else
                  (r / 'data').mkdir() or r / 'data' / f'{split}_labels.csv', 'w', newline='') as f:
            w = csv.writer(f)
            w.writerow(['filename', 'width', 'height', 'class', 'xmin', 'ymin', 'xmax', 'ymax'])
            for n in ns:
                w.writerows([[n, 64, 48, 'car', 0, 0, 64, 48]] * 2)      # one row per box
    ds = load_dataset(r)
    assert names(ds.coco['train']) == ['p0.png', 'p1.png', 'p2.png'] and names(ds.coco['val']) == ['p3.png', 'p4.png']
    assert 'data/train_labels.csv' in ds.split_source and 'data/test_labels.csv' in ds.split_source
    assert read_split_list(r / 'data' / 'test_labels.csv') == {'p3.png', 'p4.png'}

def test_voc_imagesets_layout(tmp_path):
    "VOCdevkit: JPEGImages + Annotations + ImageSets/Main/{train,val}.txt (per-class lists ignored)."
    b = tmp_path / 'VOCdevkit' / 'VOC2007'
    for i in ('000001', '000002', '000003', '000004'):
        img(b / 'JPEGImages' / f'{i}.jpg', 50, 40)
        xml(b / 'Annotations' / f'{i}.xml', f'{i}.jpg', [('person', 10.5, 4, 20.25, 30)], size=(50, 40))
    txt(b / 'ImageSets' / 'Main' / 'train.txt', '000001', '000002')
    txt(b / 'ImageSets' / 'Main' / 'val.txt', '000003', '000009')
    txt(b / 'ImageSets' / 'Main' / 'person_train.txt', '000001  1', '000004 -1')
    ds = load_dataset(tmp_path)
    assert names(ds.coco['train']) == ['000001.jpg', '000002.jpg'] and names(ds.coco['val']) == ['000003.jpg']
    assert boxes(ds.coco['val'], '000003.jpg') == [('person', [10.5, 4.0, 9.75, 26.0])]   # CVAT's float corners
    assert kinds(ds) == {'missing file': ['VOCdevkit/VOC2007/JPEGImages/000009.jpg']}
    assert 'ImageSets/Main/{train,val}.txt' in ds.split_source and ds.n_skipped == 1

def test_voc_roboflow_split_folders(tmp_path):
    "Roboflow's VOC export: train/ valid/ test/, each with jpg + xml side by side; test left out when valid exists."
    r = tmp_path / 'rf'
    for split, n in (('train', 3), ('valid', 2), ('test', 1)):
        for i in range(n):
            name = f'{split}{i}_jpg.rf.abc{i}'
            img(r / split / f'{name}.jpg')
            xml(r / split / f'{name}.xml', f'{name}.jpg', [('helmet', 1, 1, 20, 20)])
    txt(r / 'README.roboflow.txt', 'exported')
    (r / 'train' / '._train0_jpg.rf.abc0.xml').write_bytes(b'\x00\x05\x16\x07')   # macOS metadata: hidden, skipped
    (r / 'train' / '._train0_jpg.rf.abc0.jpg').write_bytes(b'\x00\x05\x16\x07')
    ds = load_dataset(r)
    assert len(ds.coco['train']['images']) == 3 and len(ds.coco['val']['images']) == 2
    assert ds.image_roots['val'] == r / 'valid' and 'test left out' in ds.split_source
    assert names(ds.coco['val']) == ['valid0_jpg.rf.abc0.jpg', 'valid1_jpg.rf.abc1.jpg'] and ds.findings == []
    shutil.rmtree(r / 'valid')
    ds = load_dataset(r)
    assert names(ds.coco['val']) == ['test0_jpg.rf.abc0.jpg'] and 'test used as val' in ds.split_source

def test_voc_split_folders_one_level_down(tmp_path):
    "images/{train,val}/ + annotations/{train,val}/: split folders under the image and XML folders."
    r = tmp_path / 'nested'
    for split, n in (('train', 3), ('val', 2)):
        for i in range(n):
            img(r / 'images' / split / f'{i}.jpg')                      # the same stems in both splits
            xml(r / 'annotations' / split / f'{i}.xml', f'{i}.jpg', [(split, 1, 1, 5 + i, 5)])
    ds = load_dataset(r)
    assert names(ds.coco['train']) == ['0.jpg', '1.jpg', '2.jpg'] and names(ds.coco['val']) == ['0.jpg', '1.jpg']
    assert boxes(ds.coco['val'], '1.jpg') == [('val', [1.0, 1.0, 5.0, 4.0])] and ds.findings == []
    assert ds.image_roots['val'] == r / 'images' / 'val' and 'annotations/val' in ds.split_source

def test_voc_repeated_stems_pair_with_the_nearest_xml(tmp_path):
    "Camera folders that repeat file names, and a.jpg + a.png sharing one XML: each image gets its own XML or none."
    r = tmp_path / 'cams'
    for cam, x0 in (('cam1', 1), ('cam2', 7)):
        img(r / 'images' / cam / '001.jpg')
        xml(r / 'annotations' / cam / '001.xml', '001.jpg', [('car', x0, 1, x0 + 4, 5)])
    img(r / 'images' / 'a.jpg')
    img(r / 'images' / 'a.png')
    xml(r / 'annotations' / 'a.xml', 'a.png', [('car', 2, 2, 3, 3)])
    ds = load_dataset(r, split_files={'train': ['001.jpg', 'a.jpg', 'a.png'], 'val': []})
    d = ds.coco['train']
    assert names(d) == ['a.jpg', 'a.png', 'cam1/001.jpg', 'cam2/001.jpg']
    assert boxes(d, 'cam1/001.jpg') == [('car', [1.0, 1.0, 4.0, 4.0])]
    assert boxes(d, 'cam2/001.jpg') == [('car', [7.0, 1.0, 4.0, 4.0])]
    assert boxes(d, 'a.png') == [('car', [2.0, 2.0, 1.0, 1.0])] and boxes(d, 'a.jpg') == []
    assert kinds(ds) == {'image without label file': ['images/a.jpg']}


def test_voc_xml_filename_pairs_other_stems(tmp_path):
    "An XML named unlike its image is paired through its <filename> (CVAT writes frame names there)."
    r = tmp_path / 'cvat'
    img(r / 'frame_000.jpg')
    xml(r / 'ann_0.xml', 'frame_000.jpg', [('x', 1, 1, 4, 4)])
    ds = load_dataset(r, split_files={'train': ['frame_000.jpg'], 'val': []})
    assert boxes(ds.coco['train'], 'frame_000.jpg') == [('x', [1.0, 1.0, 3.0, 3.0])] and ds.findings == []


# ---------------------------------------------------------------- YOLO

def test_yolo_images_labels_per_split_and_broken_lines(tmp_path):
    "ultralytics: images/{train,val} + labels/{train,val} + data.yaml with names as a list."
    r = tmp_path / 'y'
    txt(r / 'data.yaml', f'path: {r}', 'train: images/train', 'val: images/val', 'names: [person, "traffic light"]')
    for i in range(3):
        img(r / 'images' / 'train' / f't{i}.jpg', 100, 50)
        txt(r / 'labels' / 'train' / f't{i}.txt', '0 0.5 0.5 0.2 0.4', '1 0.1 0.1 0.2 0.2')
    img(r / 'images' / 'val' / 'v0.png', 100, 50)
    txt(r / 'labels' / 'val' / 'v0.txt',
        '0 0.5 0.5 0.2',                 # 4 fields
        '1 a 0.5 0.2 0.2',               # not a number
        '0 0.95 0.5 0.2 0.2',            # values in [0, 1] but the right edge at 1.05: clipped
        '0 1.2 0.5 0.1 0.1',             # centre outside: the box lies wholly outside, dropped
        '7 0.5 0.5 0.2 0.2',             # class not in names
        '0.5 0.5 0.5 0.2 0.2',           # class not an integer
        '1 0.5 0.5 -0.2 0.2',            # negative width: inverted
        '0 0.1 0.1 0.3 0.1 0.3 0.3 0.1 0.3',  # a polygon: its bounding box
        '0 0.5 0.5 0.2 0.2 0.9')         # 6 fields
    img(r / 'images' / 'val' / 'bg.jpg', 100, 50)                         # no label file: background
    txt(r / 'labels' / 'val' / 'orphan.txt', '0 0.5 0.5 0.1 0.1')          # no image
    (r / 'labels' / 'train' / 't2.txt').write_bytes(b'\xff\xfe\x00bad')  # not UTF-8
    assert detect_format(r) == 'yolo'
    ds = load_dataset(r)
    k = kinds(ds)
    assert k.pop('malformed label') == ['labels/val/v0.txt'] * 4
    # 1.2 (wholly outside) and -0.2 (inverted) are dropped: one finding each, not also 'value outside [0, 1]'
    assert k.pop('box outside image') == ['labels/val/v0.txt']            # the edge at 1.05
    assert k.pop('non-positive box') == ['labels/val/v0.txt'] and k.pop('inverted box') == ['labels/val/v0.txt']
    assert k.pop('unknown class') == ['labels/val/v0.txt']
    assert k.pop('image without label file') == ['images/val/bg.jpg']
    assert k.pop('label file without image') == ['labels/val/orphan.txt']
    assert k.pop('unreadable label file') == ['labels/train/t2.txt'] and k == {}
    msgs = [f.message for f in ds.findings if f.file == 'labels/val/v0.txt']
    assert msgs[0].startswith('line 1: 4 fields') and any(m.startswith('line 2: value ') for m in msgs)
    assert names(ds.coco['train']) == ['t0.jpg', 't1.jpg'] and names(ds.coco['val']) == ['bg.jpg', 'v0.png']
    assert boxes(ds.coco['train'], 't0.jpg') == [('person', [40.0, 15.0, 20.0, 20.0]),
                                                 ('traffic light', [0.0, 0.0, 20.0, 10.0])]
    assert boxes(ds.coco['val'], 'v0.png') == [('person', [85.0, 20.0, 15.0, 10.0]),
                                               ('person', [10.0, 5.0, 20.0, 10.0])]
    assert [c['id'] for c in ds.coco['val']['categories']] == [1, 2] and 'data.yaml' in ds.split_source

def test_yolo_roboflow_layout_dict_names(tmp_path):
    "Roboflow / ultralytics export: train/images, train/labels, valid/..., data.yaml with '../train/images'."
    r = tmp_path / 'rf'
    txt(r / 'data.yaml', 'train: ../train/images', 'val: ../valid/images', 'test: ../test/images', 'nc: 3',
        'names:', '  0: cat', '  2: dog')
    for split in ('train', 'valid', 'test'):
        img(r / split / 'images' / f'{split}_a.jpg', 64, 64)
        txt(r / split / 'labels' / f'{split}_a.txt', '2 0.5 0.5 0.5 0.25')
    ds = load_dataset(r)
    assert [(c['id'], c['name']) for c in ds.coco['train']['categories']] == [(1, 'cat'), (3, 'dog')]
    assert boxes(ds.coco['val'], 'valid_a.jpg') == [('dog', [16.0, 24.0, 32.0, 16.0])]
    assert ds.image_roots['train'] == r / 'train' / 'images' and ds.findings == []

def test_yolo_flat_classes_txt_and_no_class_list(tmp_path):
    "images/ + labels/ with no split and a classes.txt: names in its order; without one, classes named by number."
    r = tmp_path / 'flat'
    for i in range(5):
        img(r / 'images' / f'{i:02d}.jpg', 10, 10)
        txt(r / 'labels' / f'{i:02d}.txt', f'{i % 2} 0.5 0.5 1 1')
    txt(r / 'classes.txt', 'b-class', 'a-class')
    ds = load_dataset(r)
    assert detect_format(r) == 'yolo' and names(ds.coco['val']) == ['04.jpg'] and len(ds.coco['train']['images']) == 4
    assert [c['name'] for c in ds.coco['train']['categories']] == ['b-class', 'a-class']
    assert boxes(ds.coco['val'], '04.jpg') == [('b-class', [0.0, 0.0, 10.0, 10.0])]
    ds = load_dataset(r, classes=['zero', 'one'], progress=True)       # a class list given instead
    assert [c['name'] for c in ds.coco['train']['categories']] == ['zero', 'one']
    (r / 'classes.txt').unlink()
    ds = load_dataset(r, val_fraction=0.4)
    assert kinds(ds) == {'no class list': ['.']} and [c['name'] for c in ds.coco['val']['categories']] == ['0', '1']
    assert names(ds.coco['val']) == ['02.jpg', '04.jpg']     # floor(3 * 0.4) > floor(2 * 0.4), floor(5 * 0.4) > ...
    txt(r / 'data.yaml', 'names: [x, y]')                                  # a yaml with names only: folders split
    ds = load_dataset(r)
    assert [c['name'] for c in ds.coco['val']['categories']] == ['x', 'y'] and names(ds.coco['val']) == ['04.jpg']
    assert ds.findings == [] and len(ds.coco['train']['images']) == 4

def test_yolo_side_by_side_and_txt_lists(tmp_path):
    "data.yaml with a `path:` key and splits given as .txt lists of image paths; labels beside the images."
    r = tmp_path / 'lists'
    for i in range(4):
        img(r / 'all' / f'{i}.jpg', 20, 20)
        txt(r / 'all' / f'{i}.txt', '0 0.25 0.25 0.5 0.5')
    txt(r / 'train.txt', './all/0.jpg', './all/1.jpg', './all/2.jpg')
    txt(r / 'val.txt', './all/3.jpg')
    txt(r / 'data.yaml', 'path: /home/someone/datasets/lists', 'train: train.txt', 'val: val.txt', 'names: [thing]')
    ds = load_dataset(r)                                                  # a path: from another machine
    assert names(ds.coco['train']) == ['0.jpg', '1.jpg', '2.jpg'] and names(ds.coco['val']) == ['3.jpg']
    assert boxes(ds.coco['val'], '3.jpg') == [('thing', [0.0, 0.0, 10.0, 10.0])] and ds.findings == []


# ---------------------------------------------------------------- rules, detection and errors

def test_fraction_split_rule():
    tr, va = fraction_split([f'{i:03d}' for i in range(20)][::-1], 0.2)
    assert va == ['004', '009', '014', '019'] and len(tr) == 16
    assert fraction_split(list('abcd'), 0.5) == (['a', 'c'], ['b', 'd'])
    with pytest.raises(ValueError, match='val_fraction'):
        fraction_split(['a'], 1.0)

def test_detect_format_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        detect_format(tmp_path / 'nope')
    img(tmp_path / 'only.jpg')
    with pytest.raises(ValueError, match='no dataset format recognised'):
        detect_format(tmp_path)
    with pytest.raises(ValueError, match="needs the keys 'train' and 'val'"):
        xml(tmp_path / 'only.xml', 'only.jpg', [('a', 1, 1, 4, 4)])
        load_dataset(tmp_path, split_files={'train': ['only.jpg']})
    with pytest.raises(ValueError, match='unknown finding kind'):
        Finding('oops', 'f', 'm')


def test_xml_without_defusedxml(tmp_path, monkeypatch):
    "Without defusedxml a byte check refuses DTDs and entities before the standard parser reads the file."
    import detr_nb.voc_yolo as V
    monkeypatch.setattr(V, '_defused', None)
    bomb = xml(tmp_path / 'bomb.xml', '', raw='<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
               '<!ENTITY lol2 "&lol;&lol;&lol;">]><annotation><filename>&lol2;</filename></annotation>')
    with pytest.raises(ValueError, match='DTD or entities'):
        V.parse_xml(bomb)
    p, found = V.read_voc_xml(bomb, 'bomb.xml')
    assert p is None and found[0].kind == 'unreadable label file' and 'refused' in found[0].message
    p, found = V.read_voc_xml(xml(tmp_path / 'ok.xml', 'ok.jpg', [('a', 1, 2, 3, 4)]), 'ok.xml')
    assert p['objects'] == [('a', (1.0, 2.0, 3.0, 4.0))] and found == []


# ---------------------------------------------------------------- convert and coco_files

def _voc_set(r, n=10):
    for i in range(n):
        img(r / 'images' / f'r{i}.jpg', 60, 40)
        xml(r / 'annotations' / f'r{i}.xml', f'r{i}.jpg', [('raccoon', 5, 6, 50, 36)], size=(60, 40))
    return r

def test_convert_writes_the_coco_layout(tmp_path):
    src, out = _voc_set(tmp_path / 'src'), tmp_path / 'out'
    ds = convert(src, out)
    assert sorted(p.name for p in out.iterdir()) == ['annotations', 'train2017', 'val2017']
    assert sorted(p.name for p in (out / 'val2017').iterdir()) == ['r4.jpg', 'r9.jpg']
    assert (out / 'train2017' / 'r0.jpg').read_bytes() == (src / 'images' / 'r0.jpg').read_bytes()
    d = json.loads((out / 'annotations' / 'instances_val2017.json').read_text())
    assert d == ds.coco['val'] and boxes(d, 'r9.jpg') == [('raccoon', [5.0, 6.0, 45.0, 30.0])]
    rep = validate_coco(out / 'annotations' / 'instances_train2017.json', out / 'train2017')
    assert rep.ok and rep.n_images == 8 and rep.counts['size mismatch'] == 0
    image, target = CocoDetection(out / 'val2017', out / 'annotations' / 'instances_val2017.json')[0]
    assert target['boxes'].shape == (1, 4)
    assert detect_format(out) == 'coco' and load_dataset(out).coco['val'] == d
    with pytest.raises(FileExistsError, match='not empty'):
        convert(src, out)
    xml(src / 'annotations' / 'r0.xml', 'r0.jpg', [('raccoon', 1, 1, 2, 2)], size=(60, 40))
    convert(src, out, overwrite=True, link=False)
    d = json.loads((out / 'annotations' / 'instances_train2017.json').read_text())
    assert boxes(d, 'r0.jpg') == [('raccoon', [1.0, 1.0, 1.0, 1.0])]
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out', 'src']    # no temporary folder left
    with pytest.raises(ValueError, match='overlap'):
        convert(src, src / 'coco')

def test_convert_failure_leaves_nothing(tmp_path, monkeypatch):
    import detr_nb.formats as F
    src, out = _voc_set(tmp_path / 'src'), tmp_path / 'out'
    calls = []
    def broken(s, d, link):
        calls.append(d)
        if len(calls) == 3:
            raise OSError('disk full')
        d.parent.mkdir(parents=True, exist_ok=True)
        d.write_bytes(s.read_bytes())
    monkeypatch.setattr(F, '_place', broken)
    with pytest.raises(OSError, match='disk full'):
        convert(src, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['src']

def test_coco_files_cache(tmp_path):
    src, cache = _voc_set(tmp_path / 'src'), tmp_path / 'cache'
    files = coco_files(src, cache_dir=cache)
    img_dir, ann = files['train']
    assert img_dir == (src / 'images').resolve() and len(json.loads(ann.read_text())['images']) == 8
    t = ann.stat().st_mtime_ns
    assert coco_files(src, cache_dir=cache)['train'][1].stat().st_mtime_ns == t      # read again, not rewritten
    xml(src / 'annotations' / 'r0.xml', 'r0.jpg', [('raccoon', 1, 1, 2, 2), ('raccoon', 3, 3, 9, 9)],
        size=(60, 40))
    ann2 = coco_files(src, cache_dir=cache)['train'][1]
    assert ann2 != ann and len(json.loads(ann2.read_text())['annotations']) == 9
    assert CocoDetection(*files['val'])[1][1]['boxes'].shape == (1, 4)
    out = tmp_path / 'coco'
    convert(src, out)
    assert coco_files(out) == {s: (out / f'{s}2017', out / 'annotations' / f'instances_{s}2017.json')
                               for s in ('train', 'val')}


# ---------------------------------------------------------------- the real raccoon set

@pytest.mark.skipif(not RACCOON.is_dir(), reason=f'the raccoon photos are absent: {RACCOON_WHERE}')
def test_raccoon_voc_author_split():
    ds = load_dataset(RACCOON)
    assert ds.format == 'voc' and ds.findings == [] and ds.n_skipped == 0
    tr, va = ds.coco['train'], ds.coco['val']
    assert (len(tr['images']), len(va['images'])) == (160, 40)
    assert len(tr['annotations']) + len(va['annotations']) == 217
    assert tr['categories'] == [{'id': 1, 'name': 'raccoon'}]
    for split, csv_name in (('train', 'train_labels.csv'), ('val', 'test_labels.csv')):
        rows = list(csv.DictReader(open(RACCOON / 'data' / csv_name)))
        d = ds.coco[split]
        assert names(d) == sorted({r['filename'] for r in rows})
        got = sorted((i['file_name'], *a['bbox']) for i in d['images'] for a in d['annotations']
                     if a['image_id'] == i['id'])
        want = sorted((r['filename'], float(r['xmin']), float(r['ymin']), float(r['xmax']) - float(r['xmin']),
                       float(r['ymax']) - float(r['ymin'])) for r in rows)
        assert got == want                                                # the author's boxes, in pixels
        sizes = {r['filename']: (int(r['width']), int(r['height'])) for r in rows}
        assert all(sizes[i['file_name']] == (i['width'], i['height']) for i in d['images'])


def test_yolo_train_and_val_the_same_folder_counts_each_fault_once(tmp_path):
    "Fault 6: train and val naming one folder: each fault once, and one warning that the splits are the same images."
    from detr_nb.formats import load_dataset
    from PIL import Image
    r = tmp_path / 'same'
    (r / 'images').mkdir(parents=True)
    (r / 'labels').mkdir()
    for i in range(3):
        Image.new('RGB', (100, 50)).save(r / 'images' / f'a{i}.jpg')
        (r / 'labels' / f'a{i}.txt').write_text('0 0.5 0.5 0.2 0.2\n' + ('0 0.5 0.5 0.2\n' if i == 0 else ''))
    (r / 'data.yaml').write_text('names: [cat]\ntrain: images\nval: images\n')
    ds = load_dataset(r)
    assert [(f.kind, f.file, f.message) for f in ds.findings] == [
        ('image in train and val', '.', 'train and val are the same 3 images'),
        ('malformed label', 'labels/a0.txt', 'line 2: 4 fields, expected 5 (class cx cy w h) or a polygon '
                                             '(class x1 y1 x2 y2 x3 y3 ...)')]
    assert [len(ds.coco[s]['images']) for s in ('train', 'val')] == [3, 3]
    (r / 'data.yaml').write_text('names: [cat]\ntrain: [images]\nval: [images/a1.jpg, images/a2.jpg]\n')
    assert [str(f) for f in load_dataset(r).findings if f.kind == 'image in train and val'] == [
        "warning: .: 2 images are in both train and val (e.g. images/a1.jpg, images/a2.jpg) (kept in both: the val "
        "score includes images trained on)"]


def test_a_yolo_box_outside_the_image_is_one_finding(tmp_path):
    "Fault 6: cx = 1.5 (wholly outside) is one 'non-positive box' finding (dropped), not also 'outside [0, 1]'."
    from detr_nb.voc_yolo import read_yolo_labels
    (tmp_path / 'a.txt').write_text('0 1.5 0.5 0.2 0.2\n0 1.02 0.5 0.2 0.2\n')
    objs, found = read_yolo_labels(tmp_path / 'a.txt', 'a.txt', 100, 50, {0: 'cat'})
    assert objs == [(0, [92.0, 20.0, 8.0, 10.0])]
    assert [(f.kind, f.message) for f in found] == [
        ('non-positive box', 'line 1: (140, 20, 160, 30) wholly outside the 100x50 image'),
        ('value outside [0, 1]', "line 2: 1.02 in '0 1.02 0.5 0.2 0.2'")]
