"""Dataset formats on the command line (issue 23): `detr_nb convert` and `detr_nb validate --data` on Pascal VOC and
YOLO folders, as a user runs them in-process (`main`), with their exit statuses and one-line errors."""
import contextlib, io, json
from pathlib import Path

import pytest
from PIL import Image
from detr_nb.cli import main


def img(path, w=40, h=30):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new('RGB', (w, h), (90, 120, 30)).save(path)
    return path


def xml(path, filename, objects=(), size=(40, 30)):
    "A Pascal VOC XML as labelImg writes it; `objects` = [(name, xmin, ymin, xmax, ymax)]."
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    s = f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>" if size else ''
    objs = ''.join(f"<object><name>{n}</name><difficult>0</difficult><bndbox><xmin>{a}</xmin><ymin>{b}</ymin>"
                   f"<xmax>{c}</xmax><ymax>{d}</ymax></bndbox></object>" for n, a, b, c, d in objects)
    path.write_text(f"<annotation><folder>x</folder><filename>{filename}</filename>{s}{objs}</annotation>")
    return path


def voc(root, n=5, broken=False):
    "labelImg's `images/` + `annotations/`: n images with one raccoon each; `broken`: one box inverted (xmax < xmin)."
    for i in range(n):
        img(root / 'images' / f'r{i}.jpg')
        box = (30, 5, 10, 20) if broken and i == 0 else (5, 5, 20 + i, 20)
        xml(root / 'annotations' / f'r{i}.xml', f'r{i}.jpg', [('raccoon', *box)])
    return root


def yolo(root, n=5, broken=False):
    "images/ + labels/ with a classes.txt; `broken`: a label line with four fields."
    (root / 'classes.txt').parent.mkdir(parents=True, exist_ok=True)
    (root / 'classes.txt').write_text('cat\ndog\n')
    for i in range(n):
        img(root / 'images' / f'y{i}.jpg', 100, 50)
        lab = root / 'labels' / f'y{i}.txt'
        lab.parent.mkdir(parents=True, exist_ok=True)
        lab.write_text('0 0.5 0.5 0.2 0.4\n1 0.2 0.2 0.1 0.1\n' + ('0 0.5 0.5 0.2\n' if broken and i == 0 else ''))
    return root


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def test_convert_voc_then_validate_the_coco_layout(tmp_path):
    src = voc(tmp_path / 'voc')
    status, out, err = run('convert', src, tmp_path / 'coco', '--val-fraction', '0.4', '--no-progress')
    assert status == 0, err
    assert f"wrote {tmp_path / 'coco'}" in out and 'voc' in out.lower()
    train = json.loads((tmp_path / 'coco' / 'annotations' / 'instances_train2017.json').read_text())
    val = json.loads((tmp_path / 'coco' / 'annotations' / 'instances_val2017.json').read_text())
    assert len(train['images']) + len(val['images']) == 5 and len(val['images']) == 2
    assert [c['name'] for c in train['categories']] == ['raccoon']
    status, out, err = run('validate', '--data', tmp_path / 'coco')
    assert status == 0 and '== train' in out and '== val' in out, out + err
    # a second convert into the same folder: refused in one line, the first kept; --overwrite replaces it
    status, out, err = run('convert', src, tmp_path / 'coco')
    assert status == 1 and len(err.strip().splitlines()) == 1 and 'not empty' in err, err
    assert run('convert', src, tmp_path / 'coco', '--overwrite', '--copy')[0] == 0


def test_convert_with_split_lists(tmp_path):
    src = voc(tmp_path / 'voc')
    (tmp_path / 'train.txt').write_text('r0\nr1\nr2\n')
    (tmp_path / 'val.txt').write_text('r3\nr4\n')
    status, out, err = run('convert', src, tmp_path / 'coco', '--train-list', tmp_path / 'train.txt',
                           '--val-list', tmp_path / 'val.txt')
    assert status == 0, err
    val = json.loads((tmp_path / 'coco' / 'annotations' / 'instances_val2017.json').read_text())
    assert sorted(i['file_name'] for i in val['images']) == ['r3.jpg', 'r4.jpg']


def test_validate_reads_voc_and_yolo_folders(tmp_path):
    for make, fmt in ((voc, 'voc'), (yolo, 'yolo')):
        status, out, err = run('validate', '--data', make(tmp_path / fmt))
        assert status == 0, out + err
        root = tmp_path / fmt
        assert f'== train: {root} ({fmt} labels, train split)' in out and f'== val: {root} ({fmt} labels, val' in out
        assert out.strip().splitlines()[-1] == f'=> OK: no errors in {fmt} labels, train, val; exit status 0'


def test_validate_ends_on_a_verdict_that_agrees_with_the_status(tmp_path):
    "Fault 7: the last line is the verdict of the whole run; no table of zeros; no temporary json named."
    import numpy as np
    root = voc(tmp_path / 'voc', n=5, broken=True)
    noise = np.random.RandomState(0).randint(0, 255, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(noise).save(root / 'images' / 'r2.jpg', quality=95)
    cut = (root / 'images' / 'r2.jpg').read_bytes()
    (root / 'images' / 'r2.jpg').write_bytes(cut[:len(cut) // 2])  # the header reads, the pixels do not
    status, out, err = run('validate', '--data', root)
    lines = out.strip().splitlines()
    assert status == 1 and err == ''
    assert lines[-1] == '=> 2 errors (voc labels: 1, train: 1); exit status 1'
    assert '=> OK' in out  # the clean val split says so; the verdict of the run is the last line
    assert ' 0  ' not in out and 'count' in out  # rows only for the kinds found
    assert 'instances_' not in out and 'formats/' not in out  # no json of the conversion cache is named
    assert 'unreadable image' in out and 'r2.jpg (OSError' in out
    status, out, err = run('validate', '--data', root, '--split', 'val')
    assert status == 1 and out.strip().splitlines()[-1] == '=> 1 error (voc labels: 1); exit status 1'
    coco = windows_coco(tmp_path / 'coco')
    status, out, err = run('validate', '--images', coco / 'train2017', '--annotations',
                           coco / 'annotations' / 'instances_train2017.json')
    assert status == 0 and out.strip().splitlines()[-1] == '=> OK: no errors in custom; exit status 0'
    assert 'file name rewritten              2  warning' in out and ' 0  ' not in out


def test_validate_names_the_faults_of_each_format_with_status_1(tmp_path):
    status, out, err = run('validate', '--data', voc(tmp_path / 'voc', broken=True))
    assert status == 1 and 'r0.xml' in out, out + err
    status, out, err = run('validate', '--data', yolo(tmp_path / 'yolo', broken=True))
    assert status == 1 and 'y0.txt' in out, out + err
    assert 'Traceback' not in err


def truncated_voc(root, n=4):
    "A VOC folder whose JPEGs are cut in half: the header reads, the pixels do not."
    import numpy as np
    voc(root, n=n)
    for p in sorted((root / 'images').glob('*.jpg')):
        noise = np.random.RandomState(0).randint(0, 255, (30, 40, 3), dtype=np.uint8)
        Image.fromarray(noise).save(p, quality=95)
        p.write_bytes(p.read_bytes()[:p.stat().st_size // 2])
    return root


def test_train_on_unreadable_images_names_the_users_folder_and_a_file(tmp_path, monkeypatch):
    "Fault 1: the one-line error names the user's image folder and one of its files, not the cached COCO json."
    monkeypatch.setenv('DETR_NB_CACHE', str(tmp_path / 'cache'))
    root = truncated_voc(tmp_path / 'voc')
    status, out, err = run('train', '--set', f'data.root={root}', '--set', 'train.epochs=1', '--set',
                           f'out_dir={tmp_path / "exp"}', '--set', 'data.batch_size=2', '--set', 'data.num_workers=0',
                           '--no-progress')
    line = err.strip().splitlines()[-1]
    assert status == 1 and line.startswith('detr_nb train: error: none of the 4 images in ')
    assert f"{root / 'images'} can be read (e.g. {root / 'images'}/r" in line and 'truncated' in line
    assert 'instances_' not in line and 'cache' not in line
    for p in (root / 'images').glob('*.jpg'):  # headers unreadable too: the json has no image at all
        p.write_bytes(b'junk')
    status, out, err = run('train', '--set', f'data.root={root}', '--set', f'out_dir={tmp_path / "exp2"}',
                           '--no-progress')
    assert status == 1 and err.strip().splitlines()[-1] == (
        f"detr_nb train: error: the training split has no usable image (image folder {root}); "
        f"detr_nb validate --data {root} names each problem by file")


def windows_coco(root):
    "A COCO root whose json writes file_name with Windows separators (images\\img_000.jpg) under train2017/images/."
    for s in ('train', 'val'):
        for i in range(2):
            img(root / f'{s}2017' / 'images' / f'img_{i:03d}.jpg')
        d = {'images': [{'id': i + 1, 'file_name': f'images\\img_{i:03d}.jpg', 'width': 40, 'height': 30}
                        for i in range(2)],
             'annotations': [{'id': i + 1, 'image_id': i + 1, 'category_id': 1, 'bbox': [2, 3, 10, 12], 'area': 120,
                              'iscrowd': 0} for i in range(2)],
             'categories': [{'id': 1, 'name': 'thing'}]}
        (root / 'annotations').mkdir(parents=True, exist_ok=True)
        (root / 'annotations' / f'instances_{s}2017.json').write_text(json.dumps(d))
    return root


def test_convert_accepts_windows_separators_like_validate(tmp_path):
    "Fault 2: file_name 'images\\img_000.jpg' is read as images/img_000.jpg by convert, as by validate and training."
    root = windows_coco(tmp_path / 'win')
    assert run('validate', '--data', root)[0] == 0
    status, out, err = run('convert', root, tmp_path / 'out')
    assert (status, err) == (0, '')
    assert out.strip().splitlines()[-1] == f"wrote {tmp_path / 'out'} (train 2 images, val 2 images); no image left out"
    d = json.loads((tmp_path / 'out' / 'annotations' / 'instances_train2017.json').read_text())
    assert [r['file_name'] for r in d['images']] == ['images/img_000.jpg', 'images/img_001.jpg']
    assert (tmp_path / 'out' / 'train2017' / 'images' / 'img_001.jpg').is_file() and len(d['annotations']) == 2
    assert run('validate', '--data', tmp_path / 'out')[0] == 0
    (root / 'val2017' / 'images' / 'img_001.jpg').unlink()  # a name that is not there: left out, named
    status, out, err = run('convert', root, tmp_path / 'out2')
    assert status == 0 and out.strip().splitlines()[-1] == (
        f"wrote {tmp_path / 'out2'} (train 2 images, val 1 images); 1 image(s) left out: "
        f"val2017/images/img_001.jpg (missing file)")


def test_convert_decodes_every_image_and_names_the_ones_it_leaves_out(tmp_path):
    "Fault 3: a truncated JPEG and a 32-bit TIFF with no 8-bit reading are named by file and not copied."
    import numpy as np
    root = voc(tmp_path / 'voc', n=5)
    noise = np.random.RandomState(0).randint(0, 255, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(noise).save(root / 'images' / 'r1.jpg', quality=95)
    (root / 'images' / 'r1.jpg').write_bytes((root / 'images' / 'r1.jpg').read_bytes()[:600])
    (root / 'images' / 'r2.jpg').unlink()
    Image.fromarray(np.full((30, 40), -5.0, np.float32), 'F').save(root / 'images' / 'r2.tif')
    status, out, err = run('convert', root, tmp_path / 'out', '--copy')
    assert status == 0 and err == ''
    assert 'unreadable image: 2 (error; image skipped' in out
    assert '    images/r1.jpg: OSError: Truncated File Read\n' in out
    assert '    images/r2.tif: ValueError: image mode F (32-bit float) with values -5..-5: only 0..1 or 0..255' in out
    assert out.strip().splitlines()[-1] == (f"wrote {tmp_path / 'out'} (train 2 images, val 1 images); 2 image(s) "
                                            f"left out: images/r1.jpg (unreadable image), images/r2.tif "
                                            f"(unreadable image)")
    copied = sorted(p.name for p in (tmp_path / 'out').rglob('r*.*'))
    assert copied == ['r0.jpg', 'r3.jpg', 'r4.jpg']
    d = json.loads((tmp_path / 'out' / 'annotations' / 'instances_train2017.json').read_text())
    assert len(d['images']) == len(d['annotations']) == 2


def test_a_data_yaml_that_cannot_be_used_is_one_line_naming_file_key_and_line(tmp_path):
    "Fault 4: data.yaml with a syntax error, without names, or naming a split folder that is not there."
    cases = {'syntax': ("names: [cat, dog\ntrain: images\n",
                        "data.yaml, line 2: not a readable YAML file (expected ',' or ']', but got ':')"),
             'nonames': ("train: images\nval: images\n", "data.yaml: no 'names' key; a YOLO dataset yaml names its"),
             'noval': ("names: [cat, dog]\ntrain: images\nval: valid/images\n",
                       "data.yaml: val: 'valid/images' is not a folder, an image list (.txt) or an image (looked for "),
             'notrain': ("names: [cat, dog]\ntrain: [images, more/images]\nval: images\n",
                         "data.yaml: train: 'more/images' is not a folder"),
             'empty': ("names: [cat, dog]\ntrain: images\nval: valid\n",
                       "data.yaml: val: 'valid': the folder ")}
    for case, (text, expected) in cases.items():
        root = yolo(tmp_path / case, n=3)
        (root / 'valid').mkdir() if case == 'empty' else None
        (root / 'data.yaml').write_text(text)
        for argv in (('validate', '--data', root), ('convert', root, tmp_path / f'{case}_out'),
                     ('train', '--set', f'data.root={root}', '--set', f'out_dir={tmp_path / "exp"}')):
            status, out, err = run(*argv)
            assert status == 1 and len(err.strip().splitlines()) == 1, (case, argv, err)
            assert f"error: {root / 'data.yaml'}" in err and expected in err, (case, err)
    root = yolo(tmp_path / 'other', n=3)   # another yaml that cannot be read, and no yaml with names: said too
    (root / 'classes.yaml').write_text("names: {0: cat\n")
    status, out, err = run('validate', '--data', root)
    assert status == 1 and f"error: {root / 'classes.yaml'}, line 2: not a readable YAML file" in err
    root = yolo(tmp_path / 'rf', n=3)     # test: optional, a missing one is left out and said
    (root / 'data.yaml').write_text("names: [cat, dog]\ntrain: images\nval: images\ntest: ../test/images\n")
    status, out, err = run('validate', '--data', root)
    assert "split: data.yaml (train, val, test: '../test/images' not found, left out)" in out


def test_voc_class_list_rule_and_the_classes_option(tmp_path, monkeypatch):
    "Fault 5: with a class list (--classes, data.classes, classes.txt) another name is an error naming XML and name."
    monkeypatch.setenv('DETR_NB_CACHE', str(tmp_path / 'cache'))
    root = voc(tmp_path / 'voc', n=5)
    xml(root / 'annotations' / 'r3.xml', 'r3.jpg', [('racoon', 5, 5, 20, 20)])  # a typo
    status, out, err = run('validate', '--data', root)  # no list: collected, sorted, and said
    assert status == 0 and "2 classes (no class list (classes.txt, labels.txt or --classes): the XML files' names, " \
                           "sorted: raccoon, racoon)" in out
    refused = ("1 labels in 1 files are of a class not in the given class list (raccoon), e.g. annotations/r3.xml: "
               "object 1: 'racoon' is not in the given class list (raccoon); add their names to the list")
    for command in (('convert', root, tmp_path / 'out'), ('validate', '--data', root)):  # the help: "an error"
        status, out, err = run(*command, '--classes', 'raccoon')
        assert status == 1 and len(err.strip().splitlines()) == 1 and refused in err, err
    assert not (tmp_path / 'out').exists()  # nothing written
    status, out, err = run('convert', root, tmp_path / 'out', '--classes', 'raccoon,racoon')
    assert status == 0 and "2 classes (the given class list)" in out
    d = json.loads((tmp_path / 'out' / 'annotations' / 'instances_train2017.json').read_text())
    assert d['categories'] == [{'id': 1, 'name': 'raccoon'}, {'id': 2, 'name': 'racoon'}]
    (tmp_path / 'names.txt').write_text('raccoon\nracoon\n')
    status, out, err = run('validate', '--data', root, '--classes', tmp_path / 'names.txt')
    assert status == 0 and '2 classes (the given class list)' in out
    (root / 'annotations' / 'classes.txt').write_text('raccoon\n')  # labelImg's classes.txt beside the XMLs
    status, out, err = run('validate', '--data', root)
    assert status == 1 and "'racoon' is not in the class list annotations/classes.txt (raccoon)" in out
    for bad, message in ((('--classes', 'a,,b'), "argument --classes: 'a,,b': '' is not a class name; give each "
                                                 "name once"),
                         (('--classes', 'a,a'), "argument --classes: 'a,a': a given more than once"),
                         (('--classes', tmp_path / 'no.txt'), f"argument --classes: {tmp_path / 'no.txt'}: no such "
                                                              f"file")):
        status, out, err = run('convert', root, tmp_path / 'out2', *bad)
        assert status == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    coco = windows_coco(tmp_path / 'coco')
    status, out, err = run('validate', '--data', coco, '--classes', 'a')
    assert status == 1 and 'error: --classes: ' in err and 'is for Pascal VOC and YOLO folders' in err
    status, out, err = run('config', '--set', 'data.classes=[a, a]')
    assert status == 1 and err.strip() == 'detr_nb config: error: data.classes: a given more than once; give each ' \
                                          'name once'
    from dataclasses import replace
    from detr_nb.config import get_preset
    cfg = get_preset('tiny')
    images, ann = replace(cfg.data, root=str(root), classes=['racoon', 'raccoon']).split_paths('train')  # train's path
    assert json.loads(ann.read_text())['categories'] == [{'id': 1, 'name': 'racoon'}, {'id': 2, 'name': 'raccoon'}]


def test_a_voc_folder_read_for_training_is_named_by_its_folder(tmp_path, monkeypatch):
    "Fault 1, same kind: what the training dataset says of a VOC folder names the folder, never the cached json."
    import pytest
    from dataclasses import replace
    from detr_nb.config import get_preset
    from detr_nb.data import check_labels, dataset_from_config
    monkeypatch.setenv('DETR_NB_CACHE', str(tmp_path / 'cache'))
    root = voc(tmp_path / 'voc', n=5)
    xml(root / 'annotations' / 'r1.xml', 'r1.jpg', [('dog', 5, 5, 20, 20)])
    ds = dataset_from_config(replace(get_preset('tiny').data, root=str(root)), 'train')
    assert ds.source == str(root) and 'cache' in str(ds.ann_file)
    outside = f"^3 annotation\\(s\\) of {root} have labels outside \\[0, 2\\); first: r0.jpg"
    with pytest.raises(ValueError, match=outside):
        check_labels(ds, 2)
    with pytest.raises(IndexError, match=f"out of range for 4 images of {root}$"):
        ds[10]


def test_a_class_list_that_is_not_text_is_one_line_naming_it(tmp_path):
    "Fault 4, same kind: classes.txt (or a split list) that is not UTF-8 text: one line naming the file, exit 1."
    root = yolo(tmp_path / 'y', n=3)
    (root / 'classes.txt').write_bytes(b'cat\n\xff\xfedog\n')
    status, out, err = run('validate', '--data', root)
    assert status == 1 and err == (f"detr_nb validate: error: {root / 'classes.txt'}: not a UTF-8 text file (byte 4); "
                                   f"expected one class name a line\n")


def hidden(folder):
    "The hidden entries of `folder`: a swap's `.NAME.tmp-PID` / `.NAME.old-PID` left behind would show here."
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith('.'))


def test_make_shapes_refuses_a_folder_with_files_and_overwrite_writes_it_whole(tmp_path):
    "F1 (issue 26): a second, smaller make-shapes is refused; --overwrite keeps nothing of the first (or the user's)."
    s = tmp_path / 's'
    assert run('make-shapes', '--out', s, '--n-train', 8, '--n-val', 4)[0] == 0
    (s / 'train2017' / 'mine.txt').write_text('mine')
    before = sorted((p.relative_to(s), p.stat().st_mtime_ns) for p in s.rglob('*'))
    status, out, err = run('make-shapes', '--out', s, '--n-train', 3, '--n-val', 1)
    assert status == 1 and err == (f"detr_nb make-shapes: error: {s} is not empty; give a new or empty folder, or pass "
                                   f"overwrite=True (--overwrite) to replace it as a whole (everything in it is "
                                   f"removed)\n"), err
    assert sorted((p.relative_to(s), p.stat().st_mtime_ns) for p in s.rglob('*')) == before
    assert run('make-shapes', '--out', s, '--n-train', 3, '--n-val', 1, '--overwrite')[0] == 0
    assert sorted(p.name for p in (s / 'train2017').iterdir()) == [f'{k:012d}.jpg' for k in (1, 2, 3)]
    assert sorted(p.name for p in (s / 'val2017').iterdir()) == ['000000000004.jpg']
    train = json.loads((s / 'annotations' / 'instances_train2017.json').read_text())
    assert [i['file_name'] for i in train['images']] == [f'{k:012d}.jpg' for k in (1, 2, 3)]
    assert hidden(tmp_path) == []


def test_convert_overwrite_replaces_out_as_a_whole_as_its_help_says(tmp_path, capsys):
    "F3 (issue 26): --overwrite removes everything in OUT; the help and the library's documentation say so."
    from detr_nb.cli import make_parser
    from detr_nb.formats import convert
    out = tmp_path / 'cv3'
    (out / 'sub').mkdir(parents=True)
    (out / 'notes.txt').write_text('mine')
    (out / 'sub' / 'keep.txt').write_text('x')
    assert run('convert', voc(tmp_path / 'v'), out, '--copy', '--overwrite', '--no-progress')[0] == 0
    assert sorted(p.name for p in out.iterdir()) == ['annotations', 'train2017', 'val2017']
    with pytest.raises(SystemExit):
        make_parser().parse_args(['convert', '--help'])
    helped = ' '.join(capsys.readouterr().out.split())
    assert 'replace a non-empty OUT as a whole: everything in it is removed' in helped
    documented = ' '.join(convert.__doc__.split())
    assert "replaced as a whole: every file in it, the user's own included, is removed" in documented


def test_convert_interrupted_during_the_final_swap_finishes_it_and_says_so(tmp_path, monkeypatch):
    "F4 (issue 26): a Ctrl-C while the earlier OUT is deleted: no leftovers, exit 0, a line saying OUT is complete."
    import os, shutil, signal
    import detr_nb.files
    src, out = voc(tmp_path / 'v'), tmp_path / 'cv1'
    assert run('convert', src, out, '--copy', '--no-progress')[0] == 0
    rmtree = shutil.rmtree
    def interrupted_rmtree(path, *args, **kwargs):
        if '.old-' in str(path):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C half-way through deleting the earlier cv1
        return rmtree(path, *args, **kwargs)
    monkeypatch.setattr(detr_nb.files.shutil, 'rmtree', interrupted_rmtree)
    with pytest.warns(UserWarning) as said:  # the command line prints it as `detr_nb convert: warning: ...`
        status, stdout, err = run('convert', src, out, '--copy', '--overwrite', '--no-progress')
    assert status == 0, err
    assert [str(w.message) for w in said] == [f"SIGINT came during the final rename, too late to stop it: {out} holds "
                                              f"the new COCO layout, complete"]
    assert f"wrote {out}" in stdout and hidden(tmp_path) == []
    assert sorted(p.name for p in out.iterdir()) == ['annotations', 'train2017', 'val2017']


def test_convert_interrupted_while_building_keeps_the_earlier_out(tmp_path, monkeypatch):
    "F4's other half: a Ctrl-C before the swap leaves OUT as it was and nothing hidden; exit 130."
    import detr_nb.formats
    src, out = voc(tmp_path / 'v'), tmp_path / 'cv1'
    assert run('convert', src, out, '--copy', '--no-progress')[0] == 0
    before = sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob('*'))
    def ctrl_c(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(detr_nb.formats, '_place', ctrl_c)
    status, stdout, err = run('convert', src, out, '--copy', '--overwrite', '--no-progress')
    assert status == 130 and err == 'detr_nb convert: interrupted\n'
    assert sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob('*')) == before
    assert hidden(tmp_path) == []


def test_a_folder_given_as_the_wrong_format_is_refused_naming_it_and_the_format_seen(tmp_path):
    "F7 (issue 26): a VOC folder given as YOLO (and a YOLO one as VOC) has no label file of that format: exit 1."
    v, y = voc(tmp_path / 'v'), yolo(tmp_path / 'y')
    status, out, err = run('convert', v, tmp_path / 'c5', '--format', 'yolo')
    assert status == 1 and err == (f"detr_nb convert: error: {v}: read as YOLO, but none of its 5 images has a label "
                                   f"file (.txt in labels/ or beside the image); the format detected in it: Pascal "
                                   f"VOC ('voc')\n"), err
    status, out, err = run('convert', y, tmp_path / 'c6', '--format', 'voc')
    assert status == 1 and err == (f"detr_nb convert: error: {y}: read as Pascal VOC, but none of its 5 images has an "
                                   f"XML file; the format detected in it: YOLO ('yolo')\n"), err
    assert not (tmp_path / 'c5').exists() and not (tmp_path / 'c6').exists()
