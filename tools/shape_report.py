"""The shape of the package, measured from its source text with `ast`: import cycles between detr_nb modules,
private names (`_name`) imported or used across modules (in detr_nb, tests and tools), module sizes, and the
longest functions.

    python tools/shape_report.py [--root .] [--max-lines 400] [--max-function 60]

Exit status 1 when there is an import cycle or a private name crosses a module, else 0."""
from __future__ import annotations
import argparse, ast, sys
from pathlib import Path

def module_name(path:Path, root:Path) -> str:
    "`detr_nb/x.py` -> 'detr_nb.x', `tests/test_x.py` -> 'tests.test_x'."
    return '.'.join(path.relative_to(root).with_suffix('').parts)

def resolve(node:ast.ImportFrom, here:str) -> str|None:
    "The absolute module an ImportFrom reads from (relative imports resolved against `here`)."
    if node.level == 0:
        return node.module
    base = here.split('.')[:-node.level]
    return '.'.join(base + ([node.module] if node.module else []))

def _runtime_nodes(tree:ast.AST):
    "Every node except those under `if TYPE_CHECKING:` (annotations only: no import at run time)."
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, 'id', None) == 'TYPE_CHECKING':
                stack.extend(child.orelse)
            else:
                stack.append(child)

def imports(tree:ast.AST, here:str) -> list[tuple[str, str, int]]:
    """(module, name or '', line) of every import anywhere in the file, function bodies included (those under
    `if TYPE_CHECKING:` left out)."""
    out = []
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, '', node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = resolve(node, here)
            out += [(mod, a.name, node.lineno) for a in node.names]
    return out

def package_edges(files:dict[str, ast.AST], pkg:str='detr_nb') -> dict[str, set[str]]:
    "Module -> the package modules it imports (at the top or inside functions)."
    mods = {m for m in files if m.startswith(pkg + '.')}
    edges = {m: set() for m in mods}
    for m in mods:
        for mod, name, _ in imports(files[m], m):
            for target in (f'{mod}.{name}', mod):  # `from detr_nb import export` names a module
                if target in mods and target != m:
                    edges[m].add(target)
                    break
    return edges

def cycles(edges:dict[str, set[str]]) -> list[list[str]]:
    "The strongly connected components with more than one module (Tarjan), each sorted."
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out

def private_uses(files:dict[str, ast.AST], pkg:str='detr_nb') -> list[str]:
    """`file:line module._name` for each private name of a package module imported (`from m import _x`) or read as
    an attribute (`m._x`, `detr_nb.m._x`) by another file."""
    out = []
    for here, tree in files.items():
        aliases = {}  # local name -> package module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = resolve(node, here)
                if not mod or not (mod == pkg or mod.startswith(pkg + '.')):
                    continue
                for a in node.names:
                    if a.name.startswith('_') and not a.name.startswith('__') and mod != here:
                        out.append(f"{here}:{node.lineno} {mod}.{a.name}")
                    if mod == pkg:
                        aliases[a.asname or a.name] = f'{pkg}.{a.name}'
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith(pkg + '.') and a.asname:
                        aliases[a.asname] = a.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith('_') and not node.attr.startswith('__'):
                v = node.value
                target = None
                if isinstance(v, ast.Name) and v.id in aliases:
                    target = aliases[v.id]
                elif isinstance(v, ast.Attribute) and isinstance(v.value, ast.Name) and v.value.id == pkg:
                    target = f'{pkg}.{v.attr}'
                if target and target != here:
                    out.append(f"{here}:{node.lineno} {target}.{node.attr}")
    return sorted(set(out))

def functions(tree:ast.AST) -> list[tuple[int, str]]:
    "(lines, name) of every function and method, nested ones included."
    return [(n.end_lineno - n.lineno + 1, n.name) for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--root', default=Path(__file__).resolve().parent.parent, type=Path)
    ap.add_argument('--max-lines', type=int, default=400)
    ap.add_argument('--max-function', type=int, default=60)
    args = ap.parse_args(argv)
    root = args.root
    paths = [p for d in ('detr_nb', 'tests', 'tools') for p in sorted((root / d).glob('*.py'))
             if p.name != '_modidx.py']
    files = {module_name(p, root): ast.parse(p.read_text(), str(p)) for p in paths}
    cyc, priv = cycles(package_edges(files)), private_uses(files)
    print(f"import cycles: {len(cyc)}")
    for c in cyc:
        print('  ' + ' <-> '.join(c))
    print(f"private names used across modules: {len(priv)}")
    for p in priv:
        print('  ' + p)
    sizes = sorted(((len((root / 'detr_nb' / f'{m.split(".")[1]}.py').read_text().splitlines()), m)
                    for m in files if m.startswith('detr_nb.')), reverse=True)
    big = [(n, m) for n, m in sizes if n > args.max_lines]
    print(f"modules over {args.max_lines} lines: {len(big)}" + ''.join(f"\n  {m} {n}" for n, m in big))
    long = sorted(((n, f'{m}.{f}') for m in files if m.startswith('detr_nb.') for n, f in functions(files[m])
                   if n > args.max_function), reverse=True)
    print(f"functions over {args.max_function} lines in detr_nb: {len(long)}"
          + ''.join(f"\n  {f} {n}" for n, f in long))
    return 1 if cyc or priv else 0

if __name__ == '__main__':
    sys.exit(main())
