#!/usr/bin/env python
"""Render the detr_nb user guide from `nbs/` into `docs/` without Quarto.

`nbdev_docs` needs the Quarto binary, which cannot be installed from PyPI. This script produces the same
content with Jupyter Book 1 (Sphinx + myst-nb), offline:

1. every notebook under `nbs/` (names starting with `_` or `.` skipped) goes through nbdev's own documentation
   processors (`FilterDefaults`: hides `#| hide` / `#| export` cells, renders `show_doc` for exported names,
   links backticked names), exactly what nbdev hands to Quarto;
2. the Quarto-only syntax left after that is turned into MyST (front matter -> title, `#|` display options ->
   cell tags, callouts -> admonitions, `show_doc` markup -> plain HTML/Markdown, absolute doc links -> relative);
3. pages are named as nbdev names them (`01_data.ipynb` -> `data`), `_toc.yml` lists them in reading order
   (one captioned part per subfolder), and Jupyter Book builds the HTML with warnings as errors, so a broken
   page fails the build;
4. MathJax, require.js and the ipywidgets HTML manager are served from the site itself (fetched once from the
   npm registry into `.cache/`), so the site works from `file://` with no network.

Usage: `python tools/build_docs.py [--out docs] [--no-assets]` (what `make docs` runs).
"""
from __future__ import annotations
import argparse, json, os, re, shutil, subprocess, sys, tarfile, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import site_reference  # noqa: E402  (tools/site_reference.py: the generated reference pages and the DETR figure)
NBS = ROOT / 'nbs'
CACHE = ROOT / '.cache' / 'docs'
# subfolder -> caption, in reading order ('' = the chapters): first what DETR is and the tutorials, then the chapters,
# then the generated reference (tools/site_reference.py) and the batch jobs
PARTS = {'start': 'Start here', 'tutorials': 'Tutorials', '': 'User guide', 'reference': 'Reference',
         'jobs': 'Batch jobs (papermill)'}
NPM_ASSETS = {  # npm package -> files (glob, relative to the package folder) the site serves itself
    'mathjax@3.2.2': ['es5/tex-chtml.js', 'es5/output/chtml/fonts/woff-v2/*.woff'],
    'requirejs@2.3.8': ['require.js'],
    '@jupyter-widgets/html-manager@1.0.6': ['dist/embed-amd.js'],
}


def page_name(nb: Path) -> str:
    "nbdev's page name: `01_data.ipynb` -> `data` (a leading number and underscore are dropped)."
    return re.sub(r'^\d+[a-z]?_', '', nb.stem)


def find_notebooks() -> list[Path]:
    "Every notebook nbdev would document, in reading order (top level first, then each subfolder)."
    def keep(p: Path):
        return not any(part.startswith(('_', '.')) for part in p.relative_to(NBS).parts) and \
            '.ipynb_checkpoints' not in p.parts
    nbs = sorted(p for p in NBS.rglob('*.ipynb') if keep(p))
    return sorted(nbs, key=lambda p: (len(p.relative_to(NBS).parts) > 1, str(p.relative_to(NBS).parent), p.name))


# ---------------------------------------------------------------- nbdev processing
def mixed_import_cells(nb_path: Path) -> list[str]:
    """Code cells that import and also run other code, outside `#| export` cells.

    nbdev's docs step re-executes every cell that imports (to make `show_doc` work) and would run such a cell
    without the cells before it; the page then fails or loses its outputs. Keep imports in cells of their own."""
    import ast
    from execnb.nbio import read_nb
    bad = []
    for i, cell in enumerate(read_nb(nb_path).cells):
        if cell.cell_type != 'code' or re.search(r'^#\|\s*(export|exports|exporti|exec_doc)\b', cell.source, re.M):
            continue
        if re.search(r'^#\|\s*eval:\s*false', cell.source, re.M):
            continue
        try:
            tree = ast.parse('\n'.join(l for l in cell.source.splitlines() if not l.lstrip().startswith(('%', '!'))))
        except SyntaxError:
            continue
        nodes = list(ast.walk(tree))
        if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in nodes) and \
           any(isinstance(n, (ast.Expr, ast.Assign)) for n in nodes):
            bad.append(f'{nb_path.relative_to(ROOT)} cell {i}: {cell.source.strip().splitlines()[0][:80]}')
    return bad


def nbdev_process(src: Path):
    "Apply nbdev's documentation processors to the notebook `src` (run in its folder, as nbdev does)."
    from execnb.nbio import read_nb
    from nbdev.processors import FilterDefaults
    nb = read_nb(src)
    cwd = os.getcwd()
    os.chdir(src.parent)
    os.environ['IN_TEST'] = '1'
    try:
        FilterDefaults()(nb)
    finally:
        os.chdir(cwd)
        os.environ.pop('IN_TEST', None)
    return nb


# ---------------------------------------------------------------- Quarto -> MyST
_DIRECTIVE_TAGS = {('echo', 'false'): 'remove-input', ('output', 'false'): 'remove-output',
                   ('include', 'false'): 'remove-cell', ('code-fold', 'true'): 'hide-input',
                   ('code-fold', 'show'): 'hide-input'}
_CALLOUT = re.compile(r'^:::\s*\{\.callout-(\w+)[^}]*\}\s*$', re.M)
_SOURCE_LINK = re.compile(r'\[source\]\(([^)]*)\)\{[^}]*\}')
_FENCE = re.compile(r'^(`{3,})([^\n]*\n)(.*?)^\1[ \t]*$', re.S | re.M)
_CODE_LINK = re.compile(r'\[(`[^`\n]+`)\]\([^)\s]*\)')
# the site's CSS: nbs/styles.css (shared with Quarto) holds the rules of this build too (wide tables and code scroll
# with a visible cue, images at their natural size)
SITE_CSS_FILE = NBS / 'styles.css'


def _front_matter(text: str) -> dict:
    import yaml
    m = re.match(r'^---\s*\n(.*?)\n---', text.strip() + '\n', re.S)
    return (yaml.safe_load(m.group(1)) or {}) if m else {}


def _tags_from_directives(source: str) -> tuple[str, list[str]]:
    "Strip `#|` lines from a code cell and return the MyST tags they stand for."
    tags, kept = [], []
    for line in source.splitlines():
        m = re.match(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$', line)
        if m:
            tag = _DIRECTIVE_TAGS.get((m.group(1), m.group(2).lower()))
            if tag:
                tags.append(tag)
            continue
        kept.append(line)
    return '\n'.join(kept).strip('\n'), tags


def _relative_links(text: str, doc_url: str) -> str:
    "nbdev links backticked names to the published site; point them at the page sources so Sphinx checks them."
    if not doc_url:
        return text
    base = re.escape(doc_url.rstrip('/') + '/')
    return re.sub(base + r'([\w/.-]+)\.html(#[\w.-]*)?', lambda m: f'{m.group(1)}.ipynb{m.group(2) or ""}', text)


def _page_links(text: str) -> str:
    "Links between chapters written as `02_model.ipynb` point at the page nbdev names `model`."
    return re.sub(r'\]\((?:\./)?(\d+[a-z]?_[\w-]+)\.ipynb', lambda m: f'](' + page_name(Path(m.group(1))) + '.ipynb',
                  text)


def _unlink_code_blocks(md: str) -> str:
    """nbdev links the backticked names of docments, and a `show_doc` signature is a fenced code block, where a
    Markdown link shows raw (`[`evaluate`](eval.ipynb#evaluate)`): inside fences, keep the backticked name only."""
    return _FENCE.sub(lambda m: m.group(1) + m.group(2) + _CODE_LINK.sub(r'\1', m.group(3)) + m.group(1), md)


def _fix_markdown(text: str, doc_url: str) -> str:
    text = _unlink_code_blocks(text)
    text = _CALLOUT.sub(lambda m: ':::{' + {'tip': 'tip', 'warning': 'warning', 'important': 'important',
                                             'caution': 'caution'}.get(m.group(1), 'note') + '}', text)
    return _page_links(_relative_links(text, doc_url))


def _fix_show_doc(md: str, doc_url: str) -> str:
    "`show_doc` Markdown: `---` rules crash docutils inside outputs, and `{target=...}` is Quarto-only."
    md = _unlink_code_blocks(md)
    md = re.sub(r'^---\s*$', '<hr>', md, flags=re.M)
    # a dunder in a heading (`### CocoDetection.__getitem__`) would render as bold `getitem`: escape its underscores
    md = re.sub(r'^(#{1,6} .*)$', lambda m: m.group(1).replace('__', r'\_\_'), md, flags=re.M)
    md = _SOURCE_LINK.sub(lambda m: f'<a href="{m.group(1)}" target="_blank" style="float:right; '
                                    f'font-size:smaller">source</a>', md)
    return _relative_links(md, doc_url)


def to_myst(nb, doc_url: str) -> dict:
    "Turn an nbdev-processed notebook into a plain notebook that myst-nb renders; returns nbformat JSON."
    cells = []
    for cell in nb.cells:
        src = cell.source
        if cell.cell_type == 'raw' and src.strip().startswith('---'):
            fm = _front_matter(src)
            if fm.get('title'):
                text = f"# {fm['title']}"
                if fm.get('description'):
                    text += f"\n\n*{fm['description'].strip()}*"
                cells.append({'cell_type': 'markdown', 'metadata': {}, 'source': text})
            continue
        if cell.cell_type == 'markdown':
            if src.strip().startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'):
                continue
            cells.append({'cell_type': 'markdown', 'metadata': {}, 'source': _fix_markdown(src, doc_url)})
        elif cell.cell_type == 'code':
            src, tags = _tags_from_directives(src)
            outputs = []
            for o in cell.get('outputs', []):
                o = json.loads(json.dumps(o))  # plain dict copy
                data = o.get('data', {})
                if 'text/markdown' in data:
                    md = ''.join(data['text/markdown']) if isinstance(data['text/markdown'],
                                                                      list) else data['text/markdown']
                    data['text/markdown'] = _fix_show_doc(md, doc_url)
                outputs.append(o)
            md = {'tags': sorted(set(tags + list(cell.get('metadata', {}).get('tags', []))))}
            cells.append({'cell_type': 'code', 'metadata': md, 'source': src, 'outputs': outputs,
                          'execution_count': None})
    for i, c in enumerate(cells):
        c['id'] = f'cell-{i}'
    metadata = {'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'},
                'language_info': {'name': 'python'}}
    widgets = nb.get('metadata', {}).get('widgets')
    if widgets:  # the saved widget state: myst-nb embeds it, so the widgets render on the page
        metadata['widgets'] = json.loads(json.dumps(widgets))
    return {'cells': cells, 'nbformat': 4, 'nbformat_minor': 5, 'metadata': metadata}


_ANCHOR_LINK = re.compile(r'\[([^\]]*)\]\(([\w/-]+)\.ipynb#([\w.-]+)\)')


def _anchors(nb: dict) -> set[str]:
    "Ids of the `show_doc` headings of a page (Sphinx slugs: lower case)."
    found = set()
    for c in nb['cells']:
        for o in c.get('outputs', []):
            md = o.get('data', {}).get('text/markdown', '')
            found |= {m.lower() for m in re.findall(r'^#{2,4}\s+([\w.]+)\s*$', ''.join(md), re.M)}
    return found


def drop_dead_anchor_links(pages: dict[str, dict]):
    """nbdev links every backticked name it knows, private helpers too, which have no `show_doc` section:
    such a link would be broken, so it becomes plain code."""
    anchors = {page: _anchors(nb) for page, nb in pages.items()}
    def fix(m):
        label, page, anchor = m.groups()
        return m.group(0) if anchor.lower() in anchors.get(page, set()) else label
    for nb in pages.values():
        for c in nb['cells']:
            if c['cell_type'] == 'markdown':
                c['source'] = _ANCHOR_LINK.sub(fix, c['source'])


_ROOT_LINK = re.compile(r'\]\(([\w/-]+)\.ipynb(#[\w.-]*)?\)')


def relink_subfolder_page(nb: dict, page: str, pages: set[str]):
    """Links between pages are written from the site's root, as nbdev writes them (`validate.ipynb#validate_coco`,
    `tutorials/why_miss.ipynb`); Sphinx resolves a link from the page that holds it, so a page in a subfolder
    (`tutorials/coco_gpus`) reaches the others through `../`. Only links to known pages change."""
    up = '../' * page.count('/')
    if not up:
        return
    def fix(m):
        return f'](' + up + m.group(1) + '.ipynb' + (m.group(2) or '') + ')' if m.group(1) in pages else m.group(0)
    for c in nb['cells']:
        if c['cell_type'] == 'markdown':
            c['source'] = _ROOT_LINK.sub(fix, c['source'])
        for o in c.get('outputs', []):
            data = o.get('data', {})
            if 'text/markdown' in data:
                data['text/markdown'] = _ROOT_LINK.sub(fix, ''.join(data['text/markdown']))


# ---------------------------------------------------------------- site assets
def _safe_extract(tar:tarfile.TarFile, dest):
    "Extract `tar` into `dest`, refusing links and members that would land outside it (Python < 3.11.4 has no filter=)."
    if hasattr(tarfile, 'data_filter'):
        return tar.extractall(dest, filter='data')
    root = Path(dest).resolve()
    for m in tar.getmembers():
        if m.issym() or m.islnk() or not (root / m.name).resolve().is_relative_to(root):
            raise ValueError(f"refusing to extract {m.name!r} from {tar.name}: a link or a path outside {root}")
    tar.extractall(dest)

def fetch_assets(dest: Path) -> bool:
    "Copy MathJax, require.js and the widget manager into `dest` (from the npm registry, cached). False if offline."
    import glob
    CACHE.mkdir(parents=True, exist_ok=True)
    for spec, patterns in NPM_ASSETS.items():
        name = spec.rsplit('@', 1)[0]
        pkg_dir = CACHE / 'npm' / name.replace('/', '__')
        if not pkg_dir.exists():
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    out = subprocess.run(['npm', 'pack', spec, '--silent'], cwd=tmp, capture_output=True, text=True,
                                         timeout=180)
                except (OSError, subprocess.TimeoutExpired) as e:
                    print(f'docs: could not run npm to fetch {spec} ({e}); the site will load it from a CDN')
                    return False
                tgz = [p for p in Path(tmp).glob('*.tgz')]
                if out.returncode or not tgz:
                    print(f'docs: npm pack {spec} failed ({out.stderr.strip()[:200]}); '
                          f'the site will load it from a CDN')
                    return False
                with tarfile.open(tgz[0]) as t:
                    _safe_extract(t, tmp)
                shutil.copytree(Path(tmp) / 'package', pkg_dir)
        for pat in patterns:
            for f in glob.glob(str(pkg_dir / pat)):
                target = dest / name.replace('/', '__') / Path(f).relative_to(pkg_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, target)
    return True


# ---------------------------------------------------------------- book files
def write_book_config(stage: Path, title: str, local_assets: bool):
    import yaml
    config = {
        'title': title, 'author': 'detr_nb developers', 'only_build_toc_files': True,
        'execute': {'execute_notebooks': 'off'},
        'html': {'home_page_in_navbar': True, 'use_search_button': True},
        'sphinx': {'config': {'nb_render_markdown_format': 'myst', 'html_show_copyright': False,
                              'suppress_warnings': ['mystnb.unknown_mime_type', 'myst.header'],
                              'myst_heading_anchors': 3,
                              'html_use_index': False}},  # no entries are indexed: no empty genindex page
        'parse': {'myst_enable_extensions': ['dollarmath', 'amsmath', 'colon_fence', 'html_image', 'html_admonition']},
    }
    cfg = config['sphinx']['config']
    cfg['html_static_path'] = ['_assets']  # a folder other than _static, or the widget script is loaded twice
    cfg['html_css_files'] = ['detr_nb.css']
    (stage / '_assets').mkdir(exist_ok=True)
    shutil.copy2(SITE_CSS_FILE, stage / '_assets' / 'detr_nb.css')
    if local_assets:
        cfg['mathjax_path'] = 'mathjax/es5/tex-chtml.js'
        cfg['nb_ipywidgets_js'] = {
            'requirejs/require.js': {},
            '@jupyter-widgets__html-manager/dist/embed-amd.js': {'data-jupyter-widgets-cdn-only': 'false'},
        }
    (stage / '_config.yml').write_text(yaml.safe_dump(config, sort_keys=False))


_CONFIG_KEY = re.compile(r'^(model|data|train)\.(\w+)(\s*=.*)?$')


def link_config_keys(nb: dict, page: str, keys: set[str]):
    """Inline code naming a config key (`train.precision`, `train.precision=bf16`) links to the key's row of the
    configuration reference. The rows are not headings, so the link is raw HTML, relative to `page`;
    `tools/check_docs.py` checks that every such anchor exists."""
    import html
    up = '../' * page.count('/')
    def fix(m):
        k = _CONFIG_KEY.match(m.group(1).strip())
        if not k or f'{k.group(1)}.{k.group(2)}' not in keys:
            return m.group(0)
        href = f'{up}{site_reference.CONFIG_PAGE}.html#{site_reference.anchor(k.group(1) + "." + k.group(2))}'
        return (f'<a class="reference internal" href="{href}"><code class="docutils literal notranslate">'
                f'{html.escape(m.group(1))}</code></a>')
    for c in nb['cells']:
        if c['cell_type'] != 'markdown':
            continue
        text, out, last = c['source'], [], 0
        for f in _FENCE.finditer(text):
            out += [_INLINE_CODE.sub(fix, text[last:f.start()]), f.group(0)]
            last = f.end()
        c['source'] = ''.join(out + [_INLINE_CODE.sub(fix, text[last:])])


def write_toc(stage: Path, pages: list[tuple[str, str]]):
    """`pages`: (folder or '', page path without suffix) in reading order; one captioned part per folder, in the
    order of `PARTS` (other subfolders after them, by name). The command pages are sections of the command index."""
    import yaml
    cli_pages = [p for _, p in pages if p.startswith(site_reference.CLI_PAGE + '-')]
    def chapter(p):
        if p == site_reference.CLI_PAGE and cli_pages:
            return {'file': p, 'sections': [{'file': c} for c in cli_pages]}
        return {'file': p}
    parts = []
    for folder, caption in list(PARTS.items()) + [(f, f.replace('_', ' ').title())
                                                  for f in sorted({f for f, _ in pages} - set(PARTS))]:
        files = [p for f, p in pages if f == folder and p != 'index' and p not in cli_pages]
        if files:
            parts.append({'caption': caption, 'chapters': [chapter(p) for p in files]})
    (stage / '_toc.yml').write_text(yaml.safe_dump({'format': 'jb-book', 'root': 'index', 'parts': parts},
                                                   sort_keys=False))


_INLINE_CODE = re.compile(r'(?<![\[`])`([^`\n]+)`(?![`\]])')


def link_commands(nb: dict, commands: dict[str, str]):
    """Inline code that runs a command (`detr_nb train --preset r50`) links to the command's reference page, written
    from the site's root like nbdev's links (fenced blocks and code already inside a link are left alone)."""
    def fix_text(text):
        def fix(m):
            words = m.group(1).split()
            for n in range(min(3, len(words)), 1, -1):
                page = commands.get(' '.join(words[:n]))
                if page:
                    return f'[`{m.group(1)}`]({page}.ipynb)'
            return m.group(0)
        out, last = [], 0
        for f in _FENCE.finditer(text):
            out += [_INLINE_CODE.sub(fix, text[last:f.start()]), f.group(0)]
            last = f.end()
        return ''.join(out + [_INLINE_CODE.sub(fix, text[last:])])
    for c in nb['cells']:
        if c['cell_type'] == 'markdown':
            c['source'] = fix_text(c['source'])


def build(out: Path, assets: bool = True) -> Path:
    from configparser import ConfigParser
    cfg = ConfigParser(delimiters=['='])
    cfg.read(ROOT / 'settings.ini')
    s = cfg['DEFAULT']
    doc_url = s.get('doc_host', '') + s.get('doc_baseurl', '')
    bad = [b for nb in find_notebooks() for b in mixed_import_cells(nb)]
    if bad:
        raise SystemExit('docs: these cells mix imports with other code; nbdev re-runs them alone when it renders '
                         'the page, so move the imports into a cell of their own:\n  ' + '\n  '.join(bad))
    stage = Path(tempfile.mkdtemp(prefix='detr_nb_docs_'))
    pages, processed = [], {}
    for nb in find_notebooks():
        rel = nb.relative_to(NBS)
        folder = str(rel.parent) if rel.parent != Path('.') else ''
        name = page_name(nb)
        page = f'{folder}/{name}' if folder else name
        print(f'docs: processing {rel}', flush=True)
        (stage / page).parent.mkdir(parents=True, exist_ok=True)
        processed[page] = to_myst(nbdev_process(nb), doc_url)
        for extra in nb.parent.glob('*.png'):  # images referenced from markdown cells
            shutil.copy2(extra, (stage / page).parent / extra.name)
        pages.append((folder, page))
    for page, nb_json in site_reference.reference_notebooks().items():  # generated from the code, never stored
        print(f'docs: generating {page}', flush=True)
        (stage / page).parent.mkdir(parents=True, exist_ok=True)
        processed[page] = nb_json
        pages.append((page.split('/')[0], page))
    parser = site_reference.cli_parser()
    commands = {' '.join((parser.prog, *w)): site_reference.cli_page(w)
                for w, _, _ in site_reference.cli_commands(parser)}
    keys = {r['key'] for sec in site_reference.config_sections() for r in sec['rows'] if sec['section']}
    for page, nb_json in processed.items():
        if not page.startswith(site_reference.CLI_PAGE):
            link_commands(nb_json, commands)
        if page != site_reference.CONFIG_PAGE:
            link_config_keys(nb_json, page, keys)
    # the architecture figure of the Start here page, drawn by the project (tools/site_reference.py)
    site_reference.draw_architecture(stage / 'start' / 'detr_architecture.png')
    drop_dead_anchor_links(processed)
    for page, nb_json in processed.items():
        relink_subfolder_page(nb_json, page, set(processed))
    for page, nb_json in processed.items():
        (stage / f'{page}.ipynb').write_text(json.dumps(nb_json, indent=1))
    if not any(p == 'index' for _, p in pages):
        raise SystemExit('docs: nbs/index.ipynb is missing; it is the home page and the source of README.md')
    local_assets = assets and fetch_assets(stage / '_assets')
    write_book_config(stage, s.get('title', 'detr_nb'), local_assets)
    hand_toc = NBS / '_toc.yml'
    if hand_toc.exists():
        shutil.copy2(hand_toc, stage / '_toc.yml')
    else:
        write_toc(stage, pages)
    build_dir = Path(tempfile.mkdtemp(prefix='detr_nb_docs_build_'))
    jb = Path(sys.executable).parent / 'jupyter-book'  # the one of this environment, whether or not it is on PATH
    cmd = [str(jb) if jb.exists() else 'jupyter-book', 'build', str(stage), '--path-output', str(build_dir), '-W', '-n',
           '--keep-going', '-q']
    print('docs:', ' '.join(cmd), flush=True)
    res = subprocess.run(cmd)
    if res.returncode:
        raise SystemExit(f'docs: the build failed (a broken page or a Sphinx warning, see above); '
                         f'the staged sources are in {stage}')
    html = build_dir / '_build' / 'html'
    missing = [p for _, p in pages if not (html / f'{p}.html').exists()]
    if missing:
        raise SystemExit(f'docs: these pages were not rendered: {", ".join(missing)}')
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(html, out, ignore=shutil.ignore_patterns('.buildinfo', '.doctrees'))
    (out / '.nojekyll').touch()
    shutil.rmtree(stage, ignore_errors=True)
    shutil.rmtree(build_dir, ignore_errors=True)
    print(f'docs: {len(pages)} pages written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}')
    return out


def make_readme(dest: Path = ROOT / 'README.md'):
    "README.md from `nbs/index.ipynb`, processed like the docs (what `nbdev_readme` does with Quarto)."
    nb = to_myst(nbdev_process(NBS / 'index.ipynb'), '')
    parts = []
    for c in nb['cells']:
        if c['cell_type'] == 'markdown':
            parts.append(c['source'])
        elif 'remove-cell' not in c['metadata'].get('tags', []):
            if c['source'] and 'remove-input' not in c['metadata'].get('tags', []):
                parts.append(f"```python\n{c['source']}\n```")
            for o in c['outputs']:
                text = o.get('text') or o.get('data', {}).get('text/markdown') or o.get('data', {}).get('text/plain')
                if text:
                    parts.append(f"```\n{''.join(text).rstrip()}\n```")
    # links between pages point at the rendered site in docs/ (the README is read outside the site)
    body = re.sub(r'\]\(([\w/-]+)\.ipynb(#[\w.-]*)?\)', lambda m: f'](docs/{m.group(1)}.html{m.group(2) or ""})',
                  '\n\n'.join(parts))
    dest.write_text('<!-- generated from nbs/index.ipynb by tools/build_docs.py --readme; do not edit -->\n\n'
                    + body + '\n')
    print(f'docs: wrote {dest.relative_to(ROOT)}')


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=str(ROOT / 'docs'), help='output folder of the HTML site')
    ap.add_argument('--no-assets', action='store_true', help='load MathJax / widgets from CDNs instead of the site')
    ap.add_argument('--readme', action='store_true', help='only regenerate README.md from nbs/index.ipynb')
    a = ap.parse_args()
    if a.readme:
        make_readme()
    else:
        build(Path(a.out).resolve(), assets=not a.no_assets)
