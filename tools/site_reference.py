#!/usr/bin/env python
"""Reference pages of the user guide, generated from the code so they cannot go stale.

- the config reference: one table per section (`model` = `DETRConfig`, `data` = `DataConfig`, `train` =
  `TrainConfig`, and the top level `ExperimentConfig`): key, type, default, allowed values and meaning. The meaning is
  the trailing comment of the field in `detr_nb/config.py` (read with `tokenize`), the allowed values come from the
  checks of `__post_init__` (read with `ast`: `_check_choice` with its constant, `_check_positive`, `_check_int`,
  `_check_sizes`, and the single-field comparisons that raise);
- the command-line reference: one page per `detr_nb` command with every option, read from the `argparse` parser
  itself (`detr_nb.cli.make_parser`, or the parser `main` builds), sub-commands of sub-commands included;
- the architecture figure of DETR, drawn with matplotlib.

`tools/build_docs.py` writes these pages into the site; `tools/check_docs.py` checks the rendered pages against the
same sources. Run alone, `python tools/site_reference.py FIGURE.png` draws the architecture figure.
"""
from __future__ import annotations
import argparse, ast, dataclasses, html, inspect, io, re, sys, textwrap, tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECTIONS = (('', 'ExperimentConfig'), ('model', 'DETRConfig'), ('data', 'DataConfig'), ('train', 'TrainConfig'))
CONFIG_PAGE = 'reference/config'
CLI_PAGE = 'reference/cli'


# ---------------------------------------------------------------- config reference
def field_comments(cls) -> dict[str, str]:
    "`{field: trailing comment}` of the fields declared in the body of the dataclass `cls` (read from its source)."
    src = textwrap.dedent(inspect.getsource(cls))
    tree = ast.parse(src)
    body = tree.body[0].body
    line_of = {n.target.id: n.end_lineno for n in body if isinstance(n, ast.AnnAssign) and
               isinstance(n.target, ast.Name)}
    comments = {}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip('#').strip()
    return {name: comments.get(line, '') for name, line in line_of.items()}


def _keys_of(node, loop_keys: dict[str, list[str]]) -> list[str]:
    "Field names a check's value argument refers to: `self.x`, or `getattr(self, k)` with `k` a loop variable."
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == 'self':
        return [node.attr]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'getattr' and \
            len(node.args) == 2 and isinstance(node.args[1], ast.Name):
        return loop_keys.get(node.args[1].id, [])
    return []


def _const(node, module) -> object:
    "The value of a constant expression or a module-level name (`PRECISIONS`), else raise ValueError."
    if isinstance(node, ast.Name) and hasattr(module, node.id):
        return getattr(module, node.id)
    return ast.literal_eval(node)


_NEGATE = {ast.Lt: '>=', ast.LtE: '>', ast.Gt: '<=', ast.GtE: '<', ast.Eq: '!=', ast.NotEq: '==',
           ast.In: 'not in', ast.NotIn: 'in'}
_OPS = {ast.Lt: '<', ast.LtE: '<=', ast.Gt: '>', ast.GtE: '>=', ast.Eq: '==', ast.NotEq: '!=', ast.In: 'in',
        ast.NotIn: 'not in'}


def _fmt(v) -> str:
    if isinstance(v, (tuple, list)):
        return ', '.join(map(_fmt, v))
    return repr(v) if isinstance(v, str) else str(v)


def allowed_values(cls) -> dict[str, list[str]]:
    """`{field: [rule, ...]}` read from the checks of `cls.__post_init__` (rules on one field only; rules that
    relate two fields are left to the field's meaning and to the error message)."""
    import importlib
    module = importlib.import_module(cls.__module__)
    if '__post_init__' not in cls.__dict__:
        return {}
    fn = ast.parse(textwrap.dedent(inspect.getsource(cls.__post_init__))).body[0]
    rules: dict[str, list[str]] = {}
    def add(keys, rule):
        for k in keys:
            if rule not in rules.setdefault(k, []):
                rules[k].append(rule)
    def walk(stmts, loop_keys):
        for st in stmts:
            if isinstance(st, ast.For) and isinstance(st.target, ast.Name):
                try:
                    keys = list(_const(st.iter, module))
                except (ValueError, TypeError, SyntaxError):
                    keys = []
                walk(st.body, {**loop_keys, st.target.id: keys})
                continue
            if isinstance(st, ast.Expr) and isinstance(st.value, ast.Call) and isinstance(st.value.func, ast.Name):
                call, name = st.value, st.value.func.id
                if len(call.args) < 3:
                    continue
                keys = _keys_of(call.args[2], loop_keys)
                if name == '_check_choice' and len(call.args) >= 4:
                    try:
                        add(keys, 'one of ' + _fmt(_const(call.args[3], module)))
                    except (ValueError, TypeError, SyntaxError):
                        pass
                elif name == '_check_positive':
                    zero = any(k.arg == 'allow_zero' and isinstance(k.value, ast.Constant) and k.value.value
                               for k in call.keywords) or (len(call.args) > 3 and isinstance(call.args[3], ast.Constant)
                                                           and call.args[3].value)
                    add(keys, 'a finite number >= 0' if zero else 'a finite number > 0')
                elif name == '_check_int':
                    add(keys, 'a whole number')
                elif name == '_check_sizes':
                    add(keys, 'a non-empty list of positive pixel sizes')
                continue
            if isinstance(st, ast.If) and st.body and isinstance(st.body[0], ast.Raise):
                test, negate = st.test, True
                if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                    test, negate = test.operand, False
                if not isinstance(test, ast.Compare):
                    continue
                parts = [test.left, *test.comparators]
                fields_in = [k for p in parts for k in _keys_of(p, loop_keys)]
                field_parts = [p for p in parts if _keys_of(p, loop_keys)]
                if len(field_parts) != 1:
                    continue
                try:
                    values = [None if p is field_parts[0] else _const(p, module) for p in parts]
                except (ValueError, TypeError, SyntaxError):
                    continue
                if negate and len(test.ops) == 1:
                    op = _NEGATE[type(test.ops[0])]
                    other = values[1] if values[0] is None else values[0]
                    if values[0] is not None:  # constant on the left: flip the comparison
                        op = {'<': '>', '<=': '>=', '>': '<', '>=': '<='}.get(op, op)
                    rule = f'one of {_fmt(other)}' if op == 'in' else f'{op} {_fmt(other)}'
                    add(fields_in[:1] if values[0] is None else fields_in, rule)
                elif not negate:
                    text = ''
                    for i, p in enumerate(parts):
                        text += ('x' if values[i] is None else _fmt(values[i]))
                        if i < len(test.ops):
                            text += f' {_OPS[type(test.ops[i])]} '
                    if len(test.ops) == 2 and values[1] is None:  # a <= x < b -> in [a, b)
                        lo = '[' if isinstance(test.ops[0], ast.LtE) else '('
                        hi = ']' if isinstance(test.ops[1], ast.LtE) else ')'
                        text = f'in {lo}{_fmt(values[0])}, {_fmt(values[2])}{hi}'
                    add(fields_in, text)
            if isinstance(st, (ast.If, ast.With, ast.Try)):
                walk(getattr(st, 'body', []), loop_keys)
    walk(fn.body, {})
    for k, rs in rules.items():  # 'a whole number' + 'a finite number > 0' -> 'a whole number > 0'
        if 'a whole number' in rs:
            bound = [r for r in rs if r.startswith('a finite number ')]
            if bound:
                rs[:] = [r for r in rs if r != 'a whole number' and r not in bound[:1]]
                rs.insert(0, 'a whole number ' + bound[0][len('a finite number '):])
    return rules


def _default_text(v) -> str:
    "A default as a user writes it in `params.yaml` (full lists: never elided)."
    if v is None:
        return 'null (none)'
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, (list, tuple)):
        return '[' + ', '.join(map(str, v)) + ']'
    return str(v)


def config_sections() -> list[dict]:
    """The config reference as data: per section, its class, docstring and rows `{key, name, type, default,
    allowed, meaning}`. Defaults are those of a new `ExperimentConfig()` (what a run starts from), with the class
    default noted where the experiment changes it."""
    from detr_nb import config as C
    exp = C.ExperimentConfig()
    out = []
    for section, cls_name in SECTIONS:
        cls = getattr(C, cls_name)
        comments, rules, inst, bare = field_comments(cls), allowed_values(cls), (getattr(exp, section) if section
                                                                                  else exp), None
        try:
            bare = cls()
        except TypeError:
            bare = None
        rows = []
        for f in dataclasses.fields(cls):
            value = getattr(inst, f.name)
            meaning = comments.get(f.name, '')
            if dataclasses.is_dataclass(value):
                meaning = meaning or f'the `{f.name}` section: the {type(value).__name__} table below'
                default = f'{type(value).__name__}(...)'
            else:
                default = _default_text(value)
                if bare is not None and getattr(bare, f.name) != value:
                    default += f' ({cls_name}() alone: {_default_text(getattr(bare, f.name))})'
            rows.append({'key': f'{section}.{f.name}' if section else f.name, 'name': f.name,
                         'type': f.type if isinstance(f.type, str) else getattr(f.type, '__name__', str(f.type)),
                         'default': default, 'allowed': '; '.join(rules.get(f.name, [])), 'meaning': meaning})
        out.append({'section': section, 'class': cls_name, 'doc': inspect.getdoc(cls) or '', 'rows': rows})
    return out


def anchor(key: str) -> str:
    "HTML id of a config key's row: `train.lr` -> `cfg-train-lr`."
    return 'cfg-' + key.replace('.', '-').replace('_', '-')


_BACKTICKS = re.compile(r'`([^`\n]+)`')


def _code(text: str) -> str:
    "`text` as inline code (escaped)."
    return f'<code>{html.escape(str(text))}</code>' if str(text) else ''


def _prose(text: str) -> str:
    "`text` escaped for HTML, its backticked spans shown as code (the table is raw HTML: Markdown is not read there)."
    return _BACKTICKS.sub(lambda m: f'<code>{m.group(1)}</code>', html.escape(str(text), quote=False))


def _html_table(header: list[str], rows: list[list[str]], row_ids: list[str] | None = None) -> str:
    """A reference table in a scroll box: `rows` are lists of HTML cells (made with `_code` / `_prose`); the last
    column is the meaning (`td.meaning`), which the layout of nbs/styles.css keeps in view at the width of the text
    column (the other columns are narrow and wrap)."""
    out = ['<div class="detr-nb-scroll">', '<table class="detr-nb-ref">',
           '<thead><tr>' + ''.join(f'<th>{html.escape(h)}</th>' for h in header) + '</tr></thead>', '<tbody>']
    for i, r in enumerate(rows):
        rid = f' id="{row_ids[i]}"' if row_ids else ''
        cells = [f'<td>{v}</td>' for v in r[:-1]] + [f'<td class="meaning">{r[-1]}</td>']
        out.append(f'<tr{rid}>' + ''.join(cells) + '</tr>')
    out += ['</tbody>', '</table>', '</div>']
    return '\n'.join(out)


def _below(main: str, extra: str, cls: str) -> str:
    "A cell's main content with a second, smaller line under it (the type under the key, the allowed values, ...)."
    return main + (f'<div class="{cls}">{extra}</div>' if extra else '')


def config_reference_cells() -> list[str]:
    "Markdown cells of the config reference page."
    cells = ['# Configuration reference',
             'Every setting of a run, generated from `detr_nb/config.py`: the meaning is the comment the field '
             'carries in the source, the allowed values are the checks the config runs when it is built (a value '
             'outside them stops the run with one line naming the key). A run reads its settings from a preset '
             '(`--preset`), a `params.yaml` (`--config`) and overrides (`--set section.key=value`); '
             '`detr_nb config` prints the resolved result. Defaults are those a new experiment starts from. How the '
             'settings are used is explained in the [Configuration](config.ipynb) chapter; the command line is '
             'in the [command-line reference](reference/cli.ipynb).']
    for s in config_sections():
        title = f'## `{s["section"]}`: {s["class"]}' if s['section'] else f'## Top level: {s["class"]}'
        rows = [[_below(_code(r['key']), _code(r['type']), 'detr-nb-type'), _code(r['default']),
                 _below(_prose(r['meaning']), 'allowed: ' + _prose(r['allowed']) if r['allowed'] else '',
                        'detr-nb-allowed')] for r in s['rows']]
        cells.append(f'{title}\n\n{s["doc"]}\n\n' + _html_table(['key and type', 'default', 'meaning'], rows,
                                                                 [anchor(r['key']) for r in s['rows']]))
    return cells


# ---------------------------------------------------------------- CLI reference
class _Captured(Exception):
    def __init__(self, parser):
        self.parser = parser


def cli_parser(cli=None) -> argparse.ArgumentParser:
    """The `detr_nb` parser: from a public builder of the module `cli` (default `detr_nb.cli`: `make_parser`,
    `build_parser`, `get_parser`, `parser`), else the one its `main` builds (caught when it parses `--help`)."""
    if cli is None:
        from detr_nb import cli
    for name in ('make_parser', 'build_parser', 'get_parser', 'parser'):
        obj = getattr(cli, name, None)
        if isinstance(obj, argparse.ArgumentParser):
            return obj
        if callable(obj):
            try:
                p = obj()
            except TypeError:
                continue
            if isinstance(p, argparse.ArgumentParser):
                return p
    original = argparse.ArgumentParser.parse_args
    def capture(self, *a, **k):
        raise _Captured(self)
    argparse.ArgumentParser.parse_args = capture
    try:
        cli.main(['--help'])
    except _Captured as c:
        return c.parser
    finally:
        argparse.ArgumentParser.parse_args = original
    raise RuntimeError('detr_nb.cli has no public parser builder and main() parsed no arguments')


def _subparsers(parser) -> list[argparse.Action]:
    return [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]


def cli_commands(parser=None, prefix=()) -> list[tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    "Every command as (words after `detr_nb`, its parser, its one-line help), sub-commands of sub-commands too."
    parser = parser or cli_parser()
    out = []
    for action in _subparsers(parser):
        helps = {c.dest: c.help or '' for c in action._choices_actions}
        seen = set()
        for name, sub in action.choices.items():
            if id(sub) in seen:  # an alias
                continue
            seen.add(id(sub))
            out.append(((*prefix, name), sub, helps.get(name, '')))
            out += cli_commands(sub, (*prefix, name))
    return out


def option_rows(parser) -> list[dict]:
    "The arguments of one command: `{names, value, default, choices, required, help}` each (help and version too)."
    rows = []
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            continue
        names = ', '.join(a.option_strings) if a.option_strings else (a.metavar or a.dest)
        if isinstance(names, tuple):
            names = ' '.join(names)
        if a.nargs == 0:
            value = ''
        else:
            mv = a.metavar or (a.dest.upper() if a.option_strings else a.dest)
            mv = ' '.join(mv) if isinstance(mv, tuple) else mv
            value = {None: mv, '?': f'[{mv}]', '*': f'[{mv} ...]', '+': f'{mv} [{mv} ...]'}.get(
                a.nargs, mv if not isinstance(a.nargs, int) else ' '.join([mv] * a.nargs))
            if a.type is not None and getattr(a.type, '__name__', '') in ('int', 'float'):
                value += f' ({a.type.__name__})'
        help_text = a.help or ''
        if help_text and help_text is not argparse.SUPPRESS and '%' in help_text:
            try:
                help_text = help_text % {**vars(a), 'prog': parser.prog}
            except (KeyError, TypeError, ValueError):
                pass
        if help_text is argparse.SUPPRESS:
            continue
        default = a.default
        if default in (None, False, argparse.SUPPRESS) or (isinstance(default, list) and not default) or \
                a.nargs == 0:
            default = ''
        if not a.option_strings and value == names:
            value = ''
        rows.append({'names': names, 'value': value, 'default': _default_text(default) if default != '' else '',
                     'choices': ', '.join(map(str, a.choices)) if a.choices else '',
                     'required': bool(a.required or not a.option_strings), 'help': help_text,
                     'options': list(a.option_strings) or [names]})
    return rows


def cli_page(words: tuple[str, ...]) -> str:
    "Page of a command: `('train',)` -> `reference/cli-train`."
    return f'{CLI_PAGE}-' + '-'.join(words)


def cli_reference_pages() -> dict[str, list[str]]:
    "`{page: [markdown cells]}`: the command index and one page per command."
    parser = cli_parser()
    commands = cli_commands(parser)
    index = ['# Command-line reference',
             f'`{parser.prog}` is the command line of detr_nb (installed with the package; `python -m detr_nb.cli` '
             'runs the same). Every command and option below is read from the program\'s own argument parser when '
             'this site is built. `detr_nb COMMAND --help` prints the same text in a terminal. The config keys that '
             '`--set` and `--grid` take are in the [configuration reference](reference/config.ipynb); how the '
             'commands work is explained in the [command-line chapter](cli.ipynb).',
             _html_table(['command', 'what it does'],
                         [[_code(f'{parser.prog} {" ".join(w)}'), _prose(h)] for w, _, h in commands])
             + '\n\n' + '\n'.join(f'- [`{parser.prog} {" ".join(w)}`]({cli_page(w)}.ipynb)'
                                  for w, _, _ in commands)]
    pages = {CLI_PAGE: index}
    for words, sub, help_line in commands:
        rows = option_rows(sub)
        usage = sub.format_usage().replace('usage: ', '').strip()
        desc = sub.description or help_line
        table = _html_table(['argument and value', 'default', 'meaning'],
                            [[_below(_code(r['names']), _code(r['value']), 'detr-nb-type'),
                              _code(r['default']) if r['default'] else ('required' if r['required'] else ''),
                              _below(_prose(r['help']), 'choices: ' + _prose(r['choices']) if r['choices'] else '',
                                     'detr-nb-allowed')] for r in rows])
        cells = [f'# {parser.prog} {" ".join(words)}',
                 f'{desc[0].upper() + desc[1:] if desc else ""}.'.replace('..', '.') +
                 '\n\n[All commands](reference/cli.ipynb) · [configuration reference](reference/config.ipynb)',
                 f'## Usage\n\n```text\n{usage}\n```',
                 f'## Arguments\n\n{table}']
        if any(r['names'] in ('--set', '--config', '--preset') for r in rows):
            cells.append('`--set SECTION.KEY=VALUE` takes any key of the '
                         '[configuration reference](reference/config.ipynb), for example `--set train.epochs=3`.')
        pages[cli_page(words)] = cells
    return pages


def reference_notebooks() -> dict[str, dict]:
    """`{page: notebook JSON}` of every generated reference page (markdown only: nothing to execute). Links are
    written from the site's root (`reference/cli.ipynb`), as nbdev writes them; the build makes them relative."""
    pages = {CONFIG_PAGE: config_reference_cells(), **cli_reference_pages()}
    def nb(cells):
        return {'cells': [{'cell_type': 'markdown', 'metadata': {}, 'source': c, 'id': f'cell-{i}'}
                          for i, c in enumerate(cells)], 'nbformat': 4, 'nbformat_minor': 5,
                'metadata': {'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'},
                             'language_info': {'name': 'python'}}}
    return {p: nb(c) for p, c in pages.items()}


# ---------------------------------------------------------------- the architecture figure
def draw_architecture(path) -> Path:
    """Draw DETR's architecture into the PNG `path`: backbone, positional encoding, transformer encoder, decoder fed
    with object queries, prediction heads, then (training only) the Hungarian matcher and the set loss."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch
    # a column that reads top to bottom, so the figure stays legible at the width of a page's text (about 700 px)
    fig, ax = plt.subplots(figsize=(9, 9.6), dpi=150)
    ax.set_xlim(0, 9)
    ax.set_ylim(0, 9.6)
    ax.axis('off')
    def box(x, y, w, h, title, sub, color):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle='round,pad=0.03,rounding_size=0.1', fc=color,
                                    ec='#333333', lw=1.2))
        ax.text(x + w / 2, y + h * 0.68, title, ha='center', va='center', fontsize=12.5, weight='bold')
        ax.text(x + w / 2, y + h * 0.30, sub, ha='center', va='center', fontsize=10, color='#222222')
    def arrow(x0, y0, x1, y1, text='', side='right'):
        ax.annotate('', xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle='-|>', lw=1.5, color='#333333'))
        if text:
            ax.text((x0 + x1) / 2 + (0.12 if side == 'right' else -0.12), (y0 + y1) / 2, text, fontsize=10,
                    color='#444444', va='center', ha='left' if side == 'right' else 'right')
    x, w, h, step = 0.1, 3.7, 0.95, 1.45
    ys = [8.2 - i * step for i in range(6)]
    box(x, ys[0], w, h, 'image', '3 x H x W (+ padding mask)', '#f2f2f2')
    box(x, ys[1], w, h, 'CNN backbone', 'ResNet-50/101, frozen batch norm', '#cfe2f3')
    box(x, ys[2], w, h, 'transformer encoder', '6 layers of self-attention', '#d9ead3')
    box(x, ys[3], w, h, 'transformer decoder', '6 layers: self- and cross-attention', '#d9ead3')
    box(x, ys[4], w, h, 'prediction heads', 'class: linear (C+1) · box: MLP', '#fce5cd')
    box(x, ys[5], w, h, 'N predictions', 'a class and a box (cx, cy, w, h) each', '#f2f2f2')
    labels = ['', 'features, 1x1 conv to d = 256', 'memory: (H/32 · W/32) x d', 'N x d', '']
    for i in range(5):
        arrow(x + w / 2, ys[i], x + w / 2, ys[i + 1] + h, labels[i])
    px = 4.6  # positional encoding and object queries, at the right of the column
    box(px, (ys[2] + ys[3]) / 2 + 0.05, 2.9, h, 'positional encoding', 'sine (x, y), added in attention', '#ead1dc')
    arrow(px, (ys[2] + ys[3]) / 2 + 0.05 + h * 0.75, x + w, ys[2] + h / 2)
    arrow(px, (ys[2] + ys[3]) / 2 + 0.05 + h * 0.25, x + w, ys[3] + h * 0.7)
    box(px, ys[3] - 0.75, 2.9, h * 0.9, 'object queries', 'N = 100 learned embeddings', '#ead1dc')
    arrow(px, ys[3] - 0.75 + h * 0.45, x + w, ys[3] + h * 0.3)
    # training only, at the right of the predictions
    tx, ty = 4.2, 0.05
    ax.plot([tx, 8.9, 8.9, tx, tx], [ty, ty, 2.75, 2.75, ty], ls='--', lw=1, color='#999999')
    ax.text(tx + 0.1, 2.65, 'training only', fontsize=10, color='#666666', va='top', style='italic')
    box(tx + 0.15, 1.35, 2.15, h, 'matcher', 'Hungarian: one predic-\ntion per object', '#fff2cc')
    box(tx + 2.5, 1.35, 2.1, h, 'set loss', 'CE (no-object 0.1)\n+ L1 + GIoU', '#f4cccc')
    box(tx + 0.15, 0.2, 2.15, 0.8, 'ground truth', 'classes + boxes', '#f2f2f2')
    arrow(x + w, ys[5] + h / 2, tx + 0.15, 1.35 + h / 2)
    arrow(tx + 2.3, 1.35 + h / 2, tx + 2.5, 1.35 + h / 2)
    arrow(tx + 1.22, 1.0, tx + 1.22, 1.35)
    ax.text(4.6, 9.0, 'Inference keeps the predictions whose best\nclass is not "no object" and whose score\n'
                            'passes a threshold: no anchors, no non-\nmaximum suppression.',
            fontsize=10, va='top', color='#222222')
    ax.set_title('DETR: a CNN, a transformer and a set loss', fontsize=14, weight='bold', loc='left')
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches='tight', facecolor='white')
    plt.close(fig)
    return path


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description='draw the DETR architecture figure of the user guide')
    ap.add_argument('out', help='the PNG to write')
    print(draw_architecture(ap.parse_args().out))
