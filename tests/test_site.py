"""The user guide's tooling: the generated reference pages (tools/site_reference.py), the docs check
(tools/check_docs.py) and the parts of the build (tools/build_docs.py) that shape the site. Fast: no site build."""
import argparse, dataclasses, importlib, json, sys, types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'tools'))
import build_docs, check_docs, site_reference  # noqa: E402


# ---------------------------------------------------------------- config reference
def test_every_config_field_has_a_meaning_type_and_default():
    from detr_nb import config as C
    sections = site_reference.config_sections()
    assert [s['class'] for s in sections] == ['ExperimentConfig', 'DETRConfig', 'DataConfig', 'TrainConfig']
    for s in sections:
        names = [f.name for f in dataclasses.fields(getattr(C, s['class']))]
        assert [r['name'] for r in s['rows']] == names
        for r in s['rows']:
            assert r['meaning'], f"{r['key']} has no meaning (a trailing comment in nbs/00_config.ipynb)"
            assert r['type'] and r['default'], r
    rows = {r['key']: r for s in sections for r in s['rows']}
    assert rows['model.backbone']['allowed'] == 'one of ' + ', '.join(map(repr, C.BACKBONES))
    assert rows['train.precision']['allowed'] == 'one of ' + ', '.join(map(repr, C.PRECISIONS))
    assert rows['train.monitor']['allowed'] == 'one of ' + ', '.join(map(repr, C.MONITORS))
    assert rows['train.lr_schedule']['allowed'] == "one of 'step', 'cosine'"
    assert rows['model.dropout']['allowed'] == 'in [0, 1)'
    assert rows['train.max_dets']['allowed'] == '>= 10'
    assert rows['model.feature_stride']['allowed'] == 'one of 16, 32'
    assert rows['train.epochs']['allowed'] == 'a whole number >= 0'
    assert rows['data.num_workers']['allowed'] == 'a finite number >= 0'
    # the experiment's own defaults, with the class default named where they differ
    assert rows['model.num_classes']['default'] == 'null (none) (DETRConfig() alone: 91)'
    assert rows['data.scales']['default'] == '[' + ', '.join(map(str, range(480, 801, 32))) + ']'


def _module(tmp_path, name, source):
    (tmp_path / f'{name}.py').write_text(source)
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


def test_comments_and_rules_are_read_from_the_source(tmp_path):
    m = _module(tmp_path, 'cfg_probe', '''
from dataclasses import dataclass
KINDS = ('a', 'b')
def _check_choice(section, key, value, allowed): pass
def _check_positive(section, key, value, allow_zero=False): pass
@dataclass
class Probe:
    kind: str = 'a'      # which kind
    size: int = 3        # how big
    ratio: float = 0.5
    def __post_init__(self):
        _check_choice('p', 'kind', self.kind, KINDS)
        for k in ('size',):
            _check_positive('p', k, getattr(self, k), allow_zero=True)
        if not 0 < self.ratio <= 1:
            raise ValueError('bad')
''')
    assert site_reference.field_comments(m.Probe) == {'kind': 'which kind', 'size': 'how big', 'ratio': ''}
    assert site_reference.allowed_values(m.Probe) == {'kind': ["one of 'a', 'b'"], 'size': ['a finite number >= 0'],
                                                      'ratio': ['in (0, 1]']}


# ---------------------------------------------------------------- CLI reference
def test_every_command_and_option_of_the_parser_is_listed():
    from detr_nb.cli import make_parser
    parser = make_parser()
    commands = site_reference.cli_commands(parser)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {w[0] for w, _, _ in commands} == set(sub.choices)
    pages = site_reference.cli_reference_pages()
    for words, p, _ in commands:
        text = '\n'.join(pages[site_reference.cli_page(words)])
        for a in p._actions:
            for opt in a.option_strings or [a.dest]:
                assert opt in text, (words, opt)


def test_cli_reference_follows_added_and_nested_commands():
    parser = argparse.ArgumentParser(prog='tool')
    sub = parser.add_subparsers()
    p = sub.add_parser('new', help='a new command')
    p.add_argument('--speed', type=float, default=2.0, help='how fast (default %(default)s)')
    inner = p.add_subparsers().add_parser('deeper', help='nested')
    inner.add_argument('path', nargs='+', help='files')
    commands = site_reference.cli_commands(parser)
    assert [w for w, _, _ in commands] == [('new',), ('new', 'deeper')]
    rows = {r['names']: r for r in site_reference.option_rows(commands[0][1])}
    assert rows['--speed']['value'] == 'SPEED (float)' and rows['--speed']['default'] == '2.0'
    assert rows['--speed']['help'] == 'how fast (default 2.0)'
    assert site_reference.option_rows(commands[1][1])[-1]['value'] == 'path [path ...]'


def test_parser_found_through_main_when_there_is_no_builder():
    def main(argv=None):
        parser = argparse.ArgumentParser(prog='x')
        parser.add_argument('--only')
        return parser.parse_args(argv)
    fake = types.SimpleNamespace(main=main)
    p = site_reference.cli_parser(fake)
    assert [a.dest for a in p._actions] == ['help', 'only']


# ---------------------------------------------------------------- the docs check on small pages
def _page(body: str, scripts: str = '') -> 'object':
    from bs4 import BeautifulSoup
    return BeautifulSoup(f'<html><body><main><article>{body}</article></main>{scripts}</body></html>', 'html.parser')


def _out(html: str) -> str:
    return f'<div class="cell"><div class="cell_output"><div class="output text_html">{html}</div></div></div>'


def test_truncated_cells_and_text_tables_fail():
    art = check_docs._article(_page(_out('<table><tr><td>http://images.cocodataset.org/anno...</td></tr></table>')))
    assert [m.split(':')[0] for m in check_docs.check_truncated(art)] == ['truncated']
    art = check_docs._article(_page(_out('<table><tr><td>[480, …, 736]</td><td>full</td></tr></table>')))
    assert len(check_docs.check_truncated(art)) == 1
    text = ('<div class="cell_output"><div class="output text_plain"><pre>   a  ...  z\n0  1  ...  2\n1  3  ...  4'
            '</pre></div></div>')
    assert len(check_docs.check_truncated(check_docs._article(_page(text)))) == 1
    assert check_docs.check_truncated(check_docs._article(_page(_out('<table><tr><td>1.5 s</td></tr></table>')))) \
        == []


def test_warnings_and_tracebacks_in_outputs_fail_but_not_in_prose():
    page = _page('<p>A UserWarning: explained in prose is fine.</p>' + _out(
        '<pre>x.py:3: UserWarning: Converting a tensor\nTraceback (most recent call last):\n  File "x"</pre>'))
    kinds = [m.split(':')[0] for m in check_docs.check_warnings(check_docs._article(page))]
    assert kinds == ['warning', 'traceback']


@pytest.mark.parametrize('text', ["passes the issue's target", 'a prototype run outside this project',
                                  'as chapter 07b shows', 'see 05b_convergence.ipynb', 'run it under flock',
                                  'taskset -c 1 python', 'written to /tmp/tmpab12cd34/run',
                                  'this machine has no internet access', 'measured in this session'])
def test_internal_phrases_fail(text):
    assert len(check_docs.check_internal(check_docs._article(_page(f'<p>{text}</p>')))) == 1


def test_chapter_links_and_helper_functions_pass():
    page = _page('<p>See <a href="export.html">chapter 07b</a>; a helper function reads the file.</p>')
    assert check_docs.check_internal(check_docs._article(page)) == []


def test_widget_view_without_state_fails():
    view = '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "abc"}</script>'
    state = ('<script type="application/vnd.jupyter.widget-state+json">{"state": {"abc": {}}, '
             '"version_major": 2, "version_minor": 0}</script>')
    assert len(check_docs.check_widgets(_page(view))) == 1
    assert check_docs.check_widgets(_page(view, state)) == []


def test_headline_figure_must_match_its_result_file(tmp_path, monkeypatch):
    site = tmp_path / 'site'
    site.mkdir()
    (site / 'index.html').write_text('<main><article><p>ends near AP50 0.620</p></article></main>')
    (site / 'train.html').write_text('<main><article><p>ends at AP50 0.733</p></article></main>')
    readme = tmp_path / 'README.md'
    readme.write_text('ends at AP50 0.733')
    monkeypatch.setattr(check_docs, 'FIGURES', {'demo': ('the demo AP50', lambda: '0.733',
                                                         ['index', 'train', 'README.md'])})
    fails = check_docs.check_figures(site, readme)
    assert len(fails) == 1 and fails[0].startswith('index.html: figure: demo = 0.733') and '0.620' in fails[0]


def test_findings_name_the_notebook_cell(tmp_path, monkeypatch):
    nb = tmp_path / 'x.ipynb'
    nb.write_text(json.dumps({'cells': [{'cell_type': 'markdown', 'source': 'intro'},
                                        {'cell_type': 'code', 'source': 'df', 'outputs': [{'output_type': 'stream',
                                         'text': ['written to /tmp/tmpab12cd34/run\n']}]}]}))
    monkeypatch.setattr(check_docs, 'ROOT', tmp_path)
    msg = 'internal: a temporary-folder path: "...written to /tmp/tmpab12cd34/run..."'
    assert check_docs.locate(nb, msg) == ' [x.ipynb cell 1]'
    assert check_docs.locate(nb, 'internal: "...nowhere to be found..."') == ''


def test_registered_figures_can_be_read():
    for fid, (what, read, pages) in check_docs.FIGURES.items():
        assert read(), fid
        assert pages, fid


def _reference_site(tmp_path) -> Path:
    "The generated reference pages as plain HTML (their tables are raw HTML already), without Jupyter Book."
    site = tmp_path / 'site'
    for page, nb in site_reference.reference_notebooks().items():
        path = site / f'{page}.html'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('<main><article>' + '\n'.join(c['source'] for c in nb['cells']) + '</article></main>')
    return site


def test_generated_reference_passes_the_check_and_gaps_fail(tmp_path):
    site = _reference_site(tmp_path)
    assert check_docs.check_config_reference(site) == []
    assert check_docs.check_cli_reference(site) == []
    page = site / f'{site_reference.CONFIG_PAGE}.html'
    page.write_text(page.read_text().replace('AdamW learning rate of the transformer and heads', ''))
    assert [f.split(': ', 2)[2] for f in check_docs.check_config_reference(site)] == \
        ['train.lr has no meaning (give the field a trailing comment in nbs/00_config.ipynb)']
    cli = site / f'{site_reference.cli_page(("predict",))}.html'
    cli.write_text(cli.read_text().replace('--top-k', '--top'))
    assert [f.split(': ', 2)[2] for f in check_docs.check_cli_reference(site)] == \
        ['`detr_nb predict` option --top-k is missing']


# ---------------------------------------------------------------- build pieces
def test_commands_in_prose_link_to_their_reference_page():
    nb = {'cells': [{'cell_type': 'markdown', 'source': 'Run `detr_nb train --preset r50`, not `detr_nb` alone.\n'
                                                         '```bash\ndetr_nb train\n```\n'
                                                         'See [`detr_nb eval`](cli.ipynb) and `ls`.'}]}
    build_docs.link_commands(nb, {'detr_nb train': 'reference/cli-train', 'detr_nb eval': 'reference/cli-eval'})
    assert nb['cells'][0]['source'] == ('Run [`detr_nb train --preset r50`](reference/cli-train.ipynb), not '
                                        '`detr_nb` alone.\n```bash\ndetr_nb train\n```\nSee [`detr_nb eval`]'
                                        '(cli.ipynb) and `ls`.')


def test_config_keys_in_prose_link_to_their_row():
    nb = {'cells': [{'cell_type': 'markdown', 'source': 'Set `train.precision=bf16` or `train.nope`; '
                                                         '`model.backbone` too.\n```\ntrain.lr\n```'}]}
    build_docs.link_config_keys(nb, 'tutorials/memory', {'train.precision', 'model.backbone'})
    src = nb['cells'][0]['source']
    assert '<a class="reference internal" href="../reference/config.html#cfg-train-precision"><code ' in src
    assert 'train.precision=bf16</code></a>' in src and '`train.nope`' in src
    assert 'href="../reference/config.html#cfg-model-backbone"' in src and src.endswith('```\ntrain.lr\n```')


def test_links_to_missing_pages_or_anchors_fail(tmp_path):
    site = tmp_path / 'site'
    (site / 'reference').mkdir(parents=True)
    (site / 'reference' / 'config.html').write_text('<main><article><table><tr id="cfg-train-lr"></tr></table>'
                                                    '</article></main>')
    page = site / 'index.html'
    page.write_text('<main><article><a href="reference/config.html#cfg-train-lr">ok</a>'
                    '<a href="reference/config.html#cfg-train-nope">bad</a><a href="gone.html">gone</a>'
                    '<a href="https://arxiv.org/abs/2005.12872">out</a></article></main>')
    fails = check_docs.check_links(site, page, check_docs._soup(page), {})
    assert fails == ['broken-link: reference/config.html#cfg-train-nope (no such anchor)',
                     'broken-link: gone.html (no such page)']


def test_reading_order_starts_here_and_nests_the_command_pages(tmp_path):
    import yaml
    pages = [('', 'index'), ('', 'config'), ('', 'model'), ('jobs', 'jobs/train'), ('start', 'start/detr'),
             ('tutorials', 'tutorials/memory'), ('reference', 'reference/config'), ('reference', 'reference/cli'),
             ('reference', 'reference/cli-train')]
    build_docs.write_toc(tmp_path, pages)
    toc = yaml.safe_load((tmp_path / '_toc.yml').read_text())
    assert [p['caption'] for p in toc['parts']] == ['Start here', 'Tutorials', 'User guide', 'Reference',
                                                    'Batch jobs (papermill)']
    assert toc['parts'][3]['chapters'] == [{'file': 'reference/config'},
                                           {'file': 'reference/cli', 'sections': [{'file': 'reference/cli-train'}]}]


def test_saved_widget_state_reaches_the_page():
    from execnb.nbio import dict2nb
    state = {'application/vnd.jupyter.widget-state+json': {'state': {'abc': {}}, 'version_major': 2,
                                                            'version_minor': 0}}
    nb = dict2nb({'cells': [], 'metadata': {'widgets': state}, 'nbformat': 4, 'nbformat_minor': 5})
    assert build_docs.to_myst(nb, '')['metadata']['widgets'] == state


def test_architecture_figure_is_drawn(tmp_path):
    from PIL import Image
    path = site_reference.draw_architecture(tmp_path / 'arch.png')
    with Image.open(path) as im:
        assert im.width >= 900 and im.height >= 900  # legible at the width of a page's text
    assert json.dumps(site_reference.reference_notebooks())  # pages are plain JSON
