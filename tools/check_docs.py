#!/usr/bin/env python
"""Check the rendered user guide (`docs/`, built by `tools/build_docs.py`) for what a reader must not meet.

Each failure is one line, `PAGE: KIND: what is wrong`; the command exits 1 when there is any (`make docs` runs it
after the build). The kinds:

- `truncated`: a table cell of an output that pandas cut (`...` or `…` in the cell), or a pandas text table with
  elided rows or columns;
- `warning` / `traceback`: a Python warning (`UserWarning`, `DeprecationWarning`, ...) or a traceback in an output;
- `internal`: words about how the project is made rather than about DETR ("the issue", "this session", "helper",
  a prototype run outside the project, bare chapter numbers such as "chapter 07b" that are not links, `flock` /
  `taskset` commands, temporary-folder paths such as `/tmp/...`, "no internet access", how the notebooks are
  tested ("skipped by CI"), the timing of the notebook's own run);
- `figure`: a headline figure quoted on a page that disagrees with the result file it comes from (the registry
  `FIGURES` below: figure -> result file and key -> pages that must quote it);
- `config-reference`: a config field without a row or without a meaning on the configuration reference page;
- `cli-reference`: a command without its page, or an option of the `detr_nb` parser missing from it;
- `widget`: a widget view embedded in a page without its saved state (it renders as an empty box);
- `raw-float`: a cell of a printed table (an output) that shows a number as Python or pandas print it by default
  rather than as a reader reads it: more than 4 decimals with more than 4 significant digits or zero padding
  (`7.460033`, `100.000000`), a scientific mantissa with 4 or more decimals (`4.172325e-07`, `0.000000e+00`), or
  `NaN` / `None` for a missing value (format the column with fixed decimals, its unit in the header, and "—" for
  missing values);
- `raw-markdown`: Markdown shown as text (a backtick, `**`, a `](` link or a `#` heading mark in the prose outside
  code), as when a generated HTML table holds Markdown that is never rendered;
- `broken-link`: a link inside the site to a page or anchor that does not exist (raw HTML links, which Sphinx
  does not check).

Usage: `python tools/check_docs.py [--site docs] [--readme README.md] [--summary] [--warn-only]`.
"""
from __future__ import annotations
import argparse, copy, csv, json, re, statistics, sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import site_reference  # noqa: E402

RESULTS = ROOT / 'nbs' / 'bench_results'
SKIP_PAGES = {'search.html', 'genindex.html', 'py-modindex.html'}
# kinds whose lines name the notebook cell that holds the text
LOCATED = {'truncated', 'warning', 'internal', 'raw-markdown', 'raw-float'}


# ---------------------------------------------------------------- the figures the prose quotes
def _csv_last(name: str, column: str) -> float:
    rows = list(csv.DictReader(open(RESULTS / name)))
    return float(rows[-1][column])


def _seed_mean_std() -> str:
    "AP50 of the demo recipe over its seeds: the first run's last point and each seed run's last point."
    runs = json.loads((RESULTS / 'demo_recipe_seeds.json').read_text())['runs']
    values = [_csv_last('demo_time_to_ap.csv', 'AP50')] + [r['curve'][-1]['AP50'] for r in runs]
    return f'{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}'


# id -> (what it is, how to read it from its result file, the pages that quote it). A page is a path of the site
# without `.html` (`index`, `tutorials/memory`) or `README.md`. Add a row when the prose quotes a new headline figure.
FIGURES = {
    'demo_ap50': ('AP50 of the demo recipe after its 10-minute run (nbs/bench_results/demo_time_to_ap.csv, last '
                  'row, AP50)', lambda: f"{_csv_last('demo_time_to_ap.csv', 'AP50'):.3f}",
                  ['index', 'README.md', 'train']),
    'demo_ap': ('AP of the demo recipe after its 10-minute run (nbs/bench_results/demo_time_to_ap.csv, last row, AP)',
                lambda: f"{_csv_last('demo_time_to_ap.csv', 'AP'):.3f}", ['train']),
    'demo_ap50_seeds': ('AP50 of the demo recipe, mean ± standard deviation over its seeds '
                        '(demo_time_to_ap.csv and demo_recipe_seeds.json)', _seed_mean_std,
                        ['train', 'convergence']),
}


# ---------------------------------------------------------------- text of a page
def _soup(path: Path):
    from bs4 import BeautifulSoup
    return BeautifulSoup(path.read_text(encoding='utf-8'), 'html.parser')


def _article(soup):
    return soup.select_one('article') or soup.select_one('main') or soup


def _text(node) -> str:
    return re.sub(r'[ \t\r\f\v]+', ' ', node.get_text(' '))


def _prose(article, keep_links: bool = True) -> str:
    "The page's text without code cells' inputs, outputs that are code or text streams, and code blocks."
    a = copy.copy(article)
    for sel in ('div.cell_input', 'div.cell_output div.output.stream', 'div.cell_output div.output.stderr',
                'div.cell_output div.output.text_plain', 'pre', 'script', 'style'):
        for n in a.select(sel):
            n.decompose()
    if not keep_links:
        for n in a.select('a'):
            n.decompose()
    return _text(a)


def _outputs(article) -> list:
    return article.select('div.cell_output')


def _short(s: str, n: int = 90) -> str:
    s = ' '.join(s.split())
    return s if len(s) <= n else s[:n - 3] + '...'


# ---------------------------------------------------------------- the checks (each: page soup -> failure messages)
_ELLIPSIS = re.compile(r'\.\.\.|…')
# a line of a pandas text table with rows or columns left out: `...` between values (`1  ...  2`), a row of
# `..`/`...` marks, or pandas' own size footer
_PANDAS_ELISION = re.compile(r'\S\s+(\.\.\.|…)\s+\S|^\s*(\.\.\.?|…)(\s+(\.\.\.?|…))+\s*$|^\[\d+ rows x \d+ columns\]$')


def check_truncated(article) -> list[str]:
    out = []
    for o in _outputs(article):
        for cell in o.select('td, th'):
            t = cell.get_text(' ').strip()
            if _ELLIPSIS.search(t):
                out.append(f'truncated: a table cell reads {_short(t, 60)!r} (show the whole value: pandas '
                           f'display.max_colwidth / max_columns / max_rows)')
        for pre in o.select('div.output.text_plain pre, div.output.stream pre'):
            bad = [line for line in pre.get_text().splitlines() if _PANDAS_ELISION.search(line)]
            if bad:
                out.append(f'truncated: a pandas text table elides rows or columns: {_short(bad[0], 60)!r}')
    return out


_WARNING = re.compile(r'\b([A-Z]\w*Warning)\b\s*[:(]|\bwarnings\.warn\(')
_TRACEBACK = re.compile(r'Traceback \(most recent call last\)')


def check_warnings(article) -> list[str]:
    out = []
    for o in _outputs(article):
        t = o.get_text('\n')
        for m in _WARNING.finditer(t):
            line = t[t.rfind('\n', 0, m.start()) + 1:t.find('\n', m.end()) if '\n' in t[m.end():] else None]
            out.append(f'warning: an output shows {_short(line, 100)!r}')
        if _TRACEBACK.search(t):
            out.append('traceback: an output shows a Python traceback')
    return out


# phrase -> why a reader cannot act on it; searched in the prose (case-insensitive) unless marked 'all'
INTERNAL = [
    (r'\bthe issue\b', 'prose', '"the issue" (a reader has no issue in front of them)'),
    (r'\bissues? \d+\b', 'all', 'an issue number (a reader has no issue tracker in front of them)'),
    (r'\bprototype run outside (of )?this project\b', 'prose', 'a prototype run outside this project'),
    (r'\bchapters? \d{2}[a-z]?\b', 'prose-nolinks', 'a chapter number the site never shows (link the chapter '
                                                    'by its title)'),
    (r'\b\d{2}[a-z]?_\w+\.ipynb\b', 'prose-nolinks', 'a notebook file name instead of a link to its page'),
    (r'\bflock\b', 'all', 'a `flock` command (how the project shares its machine)'),
    (r'\btaskset\b', 'all', 'a `taskset` command (how the project shares its machine)'),
    (r'(?<![\w.])/tmp/[^\s\'"),;]*|/var/folders/[^\s\'"),;]*|\btmp[a-z0-9_]{8}\b', 'all', 'a temporary-folder path'),
    # a folder made by tempfile.mkdtemp(prefix='name_'): its random 8-character suffix changes on every run
    (r'\b[a-z][a-z_]*_(?=[a-z_]*\d)[a-z0-9_]{8}/', 'all', 'a folder named by tempfile.mkdtemp (a random suffix that '
                                                        'changes on every run: give the folder a fixed name)'),
    (r'\bno internet access\b|\bno network access\b', 'prose', '"no internet access" (the reader\'s machine has it)'),
    (r'\bthis session\b', 'prose', '"this session"'),
    # "helper" alone is mostly a helper function (legitimate); these are the uses about who made the project
    (r'\bhelper (sessions?|agents?|runs?)\b|\b(a|the|another) helper (measured|ran|found|wrote|reported)\b', 'prose',
     '"helper" (who made the project)'),
    (r'\bthe lead\b|\blead developer\b', 'prose', '"the lead" (who made the project)'),
    (r'\.\./shared\b', 'all', 'a `../shared` path (a reader has `data/` of the checkout or DETR_NB_DATA)'),
    (r'\bwhen (the|this) notebook is tested\b|\bskipped by CI\b|\bso CI skips\b', 'prose',
     'how the project tests its notebooks (a reader runs the notebook, not its test suite)'),
    (r'\bthis run of the notebook\b|\bas this saved run measured\b', 'all',
     "bookkeeping of the notebook's own run (hide the cell: `#| hide`)"),
]


def check_internal(article) -> list[str]:
    texts = {'prose': _prose(article), 'prose-nolinks': _prose(article, keep_links=False), 'all': _text(article)}
    out = []
    for pattern, where, what in INTERNAL:
        t, seen = texts[where], Counter()
        first = {}
        for m in re.finditer(pattern, t, re.I):
            key = m.group(0).lower()
            seen[key] += 1
            first.setdefault(key, _short(t[max(0, m.start() - 40):m.end() + 40], 110))
        for key, n in seen.items():
            out.append(f'internal: {what}: "...{first[key]}..."' + (f' ({n} times)' if n > 1 else ''))
    return out


_RAW_FIXED = re.compile(r'^[-+]?\d*\.(\d{5,})$')
_RAW_SCI = re.compile(r'^[-+]?\d\.\d{4,}e[-+]?\d+$', re.I)
_MISSING = {'NaN', 'nan', 'None', 'NaT', '<NA>'}


def raw_float(text: str) -> bool:
    "A cell text that is a number or a missing value printed raw (see `raw-float` in the module docstring)."
    t = text.strip()
    if t in _MISSING or _RAW_SCI.match(t):
        return True
    m = _RAW_FIXED.match(t)
    if not m:
        return False
    digits = t.lstrip('+-').replace('.', '').lstrip('0')
    return len(digits) > 4 or m.group(1).endswith('0')


def check_raw_floats(article) -> list[str]:
    out = []
    for table in article.select('div.cell_output table'):  # printed tables (a hand-written one says what it means)
        cells = [c.get_text(' ').strip() for c in table.select('td')]
        bad = [c for c in cells if raw_float(c)]
        if bad:
            head = ' | '.join(h.get_text(' ').strip() for h in table.select('th') if h.get_text().strip())
            out.append(f'raw-float: a table shows {len(bad)} raw value(s) such as {", ".join(bad[:3])!r} '
                       f'(columns: {_short(head, 70)!r})')
    return out


_RAW_MARKDOWN = re.compile(r'`|\*\*\w|\w\*\*|\]\(|^\s*#{1,4} \w', re.M)


def check_raw_markdown(article) -> list[str]:
    "Markdown marks left in the rendered prose (code, maths and outputs that are text left out)."
    a = copy.copy(article)
    for n in a.select('pre, code, kbd, script, style, div.cell_input, div.output.text_plain, div.output.stream, '
                      'div.output.stderr, .math, mjx-container'):
        n.decompose()
    t = a.get_text('\n')
    out = [f'raw-markdown: the heading {_short(h.get_text(" "), 60)!r} lost the underscores of a name to bold text'
           for h in article.select('h1, h2, h3, h4') if h.select_one('strong, em')]
    for m in _RAW_MARKDOWN.finditer(t):
        out.append(f'raw-markdown: {_short(t[max(0, m.start() - 40):m.end() + 40], 100)!r} shows a Markdown mark '
                   f'as text')
    return out[:5]


def check_widgets(soup) -> list[str]:
    views, state = [], {}
    for s in soup.find_all('script'):
        kind = s.get('type') or ''
        try:
            if kind == 'application/vnd.jupyter.widget-view+json':
                views.append(json.loads(s.string or '{}').get('model_id'))
            elif kind == 'application/vnd.jupyter.widget-state+json':
                state.update(json.loads(s.string or '{}').get('state', {}))
        except json.JSONDecodeError:
            return ['widget: an embedded widget script is not valid JSON']
    return [f'widget: the widget {v} is embedded without its saved state (it renders as an empty box; save the '
            f'notebook with its widget state and keep it through nbdev_clean)' for v in views if v not in state]


def check_figures(site: Path, readme: Path | None) -> list[str]:
    out = []
    for fid, (what, read, pages) in FIGURES.items():
        try:
            value = read()
        except (OSError, KeyError, ValueError, IndexError) as e:
            out.append(f'{fid}: figure: cannot read {what}: {e}')
            continue
        for page in pages:
            if page == 'README.md':
                if readme is None:
                    continue
                path, text = readme, readme.read_text(encoding='utf-8') if readme.exists() else None
            else:
                path = site / f'{page}.html'
                text = _prose(_article(_soup(path))) if path.exists() else None
            if text is None:
                out.append(f'{page}: figure: the page is missing, so {fid} = {value} cannot be checked')
            elif value not in text:
                said = sorted(set(re.findall(r'AP50?\b[^\n]{0,40}?(\d\.\d{3}(?: ± \d\.\d{3})?)', text)))
                out.append(f'{page if page == "README.md" else page + ".html"}: figure: {fid} = {value} ({what}) is '
                           f'not quoted' + (f'; the page quotes {", ".join(said[:6])}' if said else ''))
    return out


def check_config_reference(site: Path) -> list[str]:
    page = site / f'{site_reference.CONFIG_PAGE}.html'
    name = page.relative_to(site)
    if not page.exists():
        return [f'{name}: config-reference: the configuration reference page is missing']
    soup = _soup(page)
    out = []
    for s in site_reference.config_sections():
        for r in s['rows']:
            row = soup.find(id=site_reference.anchor(r['key']))
            if row is None:
                out.append(f'{name}: config-reference: {r["key"]} ({s["class"]}) has no row')
                continue
            meaning = row.select_one('td.meaning')
            if meaning is not None:
                meaning = copy.copy(meaning)
                for n in meaning.select('.detr-nb-allowed'):
                    n.decompose()
            if meaning is None or not meaning.get_text().strip():
                out.append(f'{name}: config-reference: {r["key"]} has no meaning (give the field a trailing comment '
                           f'in nbs/00_config.ipynb)')
    return out


def check_cli_reference(site: Path) -> list[str]:
    out = []
    parser = site_reference.cli_parser()
    index = site / f'{site_reference.CLI_PAGE}.html'
    if not index.exists():
        return [f'{index.relative_to(site)}: cli-reference: the command-line reference page is missing']
    index_text = _text(_soup(index))
    for words, sub, _ in site_reference.cli_commands(parser):
        cmd = ' '.join((parser.prog, *words))
        page = site / f'{site_reference.cli_page(words)}.html'
        name = page.relative_to(site)
        if cmd not in index_text:
            out.append(f'{index.relative_to(site)}: cli-reference: `{cmd}` is not listed')
        if not page.exists():
            out.append(f'{name}: cli-reference: `{cmd}` has no page')
            continue
        tables = ' '.join(_text(t) for t in _soup(page).select('table'))
        for r in site_reference.option_rows(sub):
            for opt in r['options']:
                if not re.search(r'(?<![\w-])' + re.escape(opt) + r'(?![\w-])', tables):
                    out.append(f'{name}: cli-reference: `{cmd}` option {opt} is missing')
    return out


def check_links(site: Path, page: Path, soup, ids: dict) -> list[str]:
    """Links inside the site to a missing page or anchor. Sphinx checks the links of Markdown; this catches the raw
    HTML ones (the config-key links of the build, hand-written `<a href>`)."""
    from urllib.parse import urldefrag, unquote
    out = []
    for a in _article(soup).select('a[href]'):
        href = a['href']
        if re.match(r'^[a-z]+:|^//|^#?$', href):
            continue
        target, frag = urldefrag(href)
        path = (page.parent / unquote(target)).resolve() if target else page.resolve()
        if not path.is_relative_to(site.resolve()) or path.suffix != '.html':
            continue
        if not path.exists():
            out.append(f'broken-link: {href} (no such page)')
            continue
        if frag:
            if path not in ids:
                ids[path] = {e['id'] for e in _soup(path).select('[id]')}
            if unquote(frag) not in ids[path]:
                out.append(f'broken-link: {href} (no such anchor)')
    return out


# ---------------------------------------------------------------- where a finding is in the notebooks
def source_notebooks() -> dict[str, Path]:
    "`{page path in the site: source notebook}`, named as the build names pages (`01_data.ipynb` -> `data.html`)."
    import build_docs
    nbs = {}
    for nb in build_docs.find_notebooks():
        rel = nb.relative_to(build_docs.NBS)
        folder = '' if rel.parent == Path('.') else f'{rel.parent}/'
        nbs[f'{folder}{build_docs.page_name(nb)}.html'] = nb
    return nbs


def locate(nb: Path, message: str) -> str:
    """` [nbs/x.ipynb cell N]`: the cell (0-based index of the notebook's cells) whose source or outputs hold the
    text the message quotes, or '' when it cannot be told."""
    m = re.search(r"""(?:'|")(?:\.\.\.)?(.+?)(?:\.\.\.)?(?:'|")(?: \(|$)""", message)
    if not m:
        return ''
    words = [w for w in re.split(r'\W+', m.group(1)) if w]
    words = words[len(words) // 2 - 3:len(words) // 2 + 3] if len(words) > 6 else words
    if not words:
        return ''
    pattern = re.compile(r'\W+'.join(map(re.escape, words)))
    cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
    for i, c in enumerate(cells):
        text = ''.join(c.get('source', ''))
        for o in c.get('outputs', []):
            text += ''.join(o.get('text', ''))
            for v in o.get('data', {}).values():
                text += ''.join(v) if isinstance(v, (str, list)) else ''
        if pattern.search(re.sub(r'<[^>]+>', ' ', text)):
            return f' [{nb.relative_to(ROOT)} cell {i}]'
    return ''


# ---------------------------------------------------------------- driver
def site_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob('*.html') if p.name not in SKIP_PAGES and
                  not any(part.startswith('_') for part in p.relative_to(site).parts))


def check_site(site: Path, readme: Path | None = None) -> list[str]:
    "Every failure of the site in `site` (and of `readme`, for the figures), one line each."
    if not site.is_dir():
        return [f'{site}: the site is not built (run tools/build_docs.py)']
    failures, ids = [], {}
    sources = source_notebooks()
    for page in site_pages(site):
        soup = _soup(page)
        article = _article(soup)
        name = str(page.relative_to(site))
        for msg in check_truncated(article) + check_warnings(article) + check_internal(article) + \
                check_raw_markdown(article) + check_raw_floats(article) + check_widgets(soup) + \
                check_links(site, page, soup, ids):
            where = locate(sources[name], msg) if name in sources and msg.split(':')[0] in LOCATED else ''
            failures.append(f'{name}: {msg}{where}')
    failures += check_figures(site, readme)
    failures += check_config_reference(site)
    failures += check_cli_reference(site)
    return failures


def summary(failures: list[str]) -> str:
    kinds = Counter(f.split(': ')[1] for f in failures if ': ' in f)
    pages = Counter(f.split(': ')[0] for f in failures)
    return ('docs check: ' + ', '.join(f'{k} {n}' for k, n in kinds.most_common()) +
            f' ({len(failures)} in all, on {len(pages)} pages)')


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--site', default=str(ROOT / 'docs'), help='the built site (default docs/)')
    ap.add_argument('--readme', default=str(ROOT / 'README.md'), help="the README whose figures are checked too "
                                                                      "('' to skip)")
    ap.add_argument('--summary', action='store_true', help='also print the failures counted by kind and by page')
    ap.add_argument('--warn-only', action='store_true', help='print the failures but exit 0 (while content is fixed)')
    a = ap.parse_args()
    fails = check_site(Path(a.site), Path(a.readme) if a.readme else None)
    for f in fails:
        print(f)
    if fails:
        print(summary(fails))
        if a.summary:
            for page, n in Counter(f.split(': ')[0] for f in fails).most_common():
                print(f'  {page}: {n}')
        sys.exit(0 if a.warn_only else 1)
    print(f'docs check: {len(site_pages(Path(a.site)))} pages, no failures')
