#!/usr/bin/env python
"""Run the notebooks' tests as `nbdev_test` does, longest notebook first, one torch thread per worker; print counts.

Each notebook runs in nbdev's own `test_nb` (the same cell rules: cells flagged with settings.ini's `tst_flags`,
`slow` and `gpu`, are skipped unless `--flags` names them; `#| eval: false` cells and `skip_exec` notebooks too), in
a pool of worker processes, one per core. Two things differ from `nbdev_test`, both for speed:
- the notebooks start longest first (the seconds of the last run, kept in `.cache/nbtest_seconds.json`, else the
  table below), so a long notebook never starts last while the other core sits idle;
- every worker's torch uses one thread (`OMP_NUM_THREADS=1`): with one worker per core, more threads only fight.

`nbdev_test` prints only `Success.` or the names of the failing notebooks; CI logs need `N passed, M failed`.

Usage: `python tools/nbtest.py` (what `make test` runs); `python tools/nbtest.py --flags slow --flagged` (what
`make test-slow` runs: the notebooks that have `#| slow` cells, with those cells); `--path nbs/05_train.ipynb
nbs/06_eval.ipynb` for some.
"""
import argparse, json, os, re, shutil, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECONDS_CACHE = ROOT / '.cache' / 'nbtest_seconds.json'
# seconds of CPU of the notebooks measured on 2026-12-05 without their slow cells (a warm worker: imports not counted);
# only the order matters, and a notebook missing here starts first
SECONDS = {
    'nbs/05_train.ipynb': 6.5,
    'nbs/tutorials/04_why_miss.ipynb': 3.6,
    'nbs/06_eval.ipynb': 2.9,
    'nbs/05b_convergence.ipynb': 1.9,
    'nbs/05_step.ipynb': 1.7,
    'nbs/05a_checkpoint.ipynb': 1.6,
    'nbs/05c_memory.ipynb': 1.3,
    'nbs/05d_queries.ipynb': 0.7,
    'nbs/06_matching.ipynb': 0.7,
}


def eligible_notebooks(paths: list[str] | None = None) -> list[Path]:
    "The notebooks `nbdev_test` would run in `paths` (default nbs/; its glob and `.notest` rule), absolute, sorted."
    from nbdev.config import get_config
    from nbdev.doclinks import nbglob
    from nbdev.test import _keep_file
    files = [f for p in (paths or [get_config().nbs_path]) for f in nbglob(p, as_path=True)]
    return sorted({f.absolute() for f in files if _keep_file(f, '.notest')})


def has_flag(nb: Path, flag: str) -> bool:
    "Whether a code cell of `nb` has the directive `#| flag` (nbdev's test flags)."
    cells = json.loads(nb.read_text())['cells']
    pat = re.compile(rf'^#\|\s*{re.escape(flag)}\s*$', re.M)
    return any(c['cell_type'] == 'code' and pat.search(''.join(c['source'])) for c in cells)


def longest_first(nbs: list[Path]) -> list[Path]:
    "`nbs` ordered by their expected seconds, longest first (unknown ones first of all)."
    known = dict(SECONDS)
    if SECONDS_CACHE.is_file():
        known.update(json.loads(SECONDS_CACHE.read_text()))
    return sorted(nbs, key=lambda p: -known.get(rel(p), float('inf')))


def rel(nb: Path) -> str:
    return str(nb.relative_to(ROOT))


RUNNING = ROOT / '.cache' / 'nbtest_running'  # one file per worker: the notebook it runs now


def importable_test_one():
    "`test_one` as an attribute of the module `nbtest` (tools/ on the path), so a worker process can import it by name."
    sys.path.insert(0, str(ROOT / 'tools'))
    import nbtest
    return nbtest.test_one


def test_one(nb: Path, **kwargs):
    "nbdev's `test_nb` of `nb`, its name kept in `RUNNING` meanwhile, so a worker that dies is named with it."
    from nbdev.test import test_nb
    mark = RUNNING / str(os.getpid())
    mark.write_text(rel(nb))
    result = test_nb(nb, **kwargs)
    mark.unlink()
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--path', nargs='+', help='notebooks or folders (default: every notebook under nbs/)')
    ap.add_argument('--flags', default='', help='space-separated test flags to run, e.g. "slow"')
    ap.add_argument('--flagged', action='store_true', help='only the notebooks that have a cell with one of --flags')
    ap.add_argument('--n_workers', type=int, default=len(os.sched_getaffinity(0)),
                    help='worker processes (default: one per core this process may use)')
    a = ap.parse_args(argv)
    if a.n_workers > 1:  # before any worker imports torch; one thread each, one worker per core
        for var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
            os.environ[var] = '1'
    from concurrent.futures.process import BrokenProcessPool
    from fastcore.parallel import parallel
    from fastcore.xtras import working_directory
    from nbdev.config import get_config
    cfg = get_config()
    force = a.flags.split()
    skip = cfg.tst_flags.split()
    nbs = eligible_notebooks(a.path)
    if a.flagged:
        nbs = [nb for nb in nbs if any(has_flag(nb, f) for f in force)]
    if not nbs:
        print(f'nbtest: no notebook to run (path {" ".join(a.path or [str(cfg.nbs_path)])}, flags {a.flags!r})')
        return 1
    order = longest_first(nbs)
    t0 = time.time()
    shutil.rmtree(RUNNING, ignore_errors=True)
    RUNNING.mkdir(parents=True)
    try:
        with working_directory(cfg.nbs_path):
            results = parallel(importable_test_one(), order, skip_flags=skip, force_flags=force,
                               basepath=cfg.config_path, n_workers=min(a.n_workers, len(order)), pause=0.01)
    except BrokenProcessPool:  # a worker died in native code (a segmentation fault, the OOM killer): say where
        running = sorted(p.read_text() for p in RUNNING.iterdir())
        print(f"nbtest: a worker process died while running {' or '.join(running) or 'a notebook'}; run that notebook "
              f"alone with `python -X faulthandler tools/nbtest.py --n_workers 1 --path ...` to see where",
              file=sys.stderr)
        return 1
    seconds = {rel(nb): round(t, 1) for nb, (_, t) in zip(order, results)}
    failed = [rel(nb) for nb, (ok, _) in zip(order, results) if not ok]
    for name, t in sorted(seconds.items(), key=lambda kv: -kv[1])[:15]:
        print(f'{name}: {t:.0f} s')
    if not force and not a.path:  # the order of the next full run
        SECONDS_CACHE.parent.mkdir(parents=True, exist_ok=True)
        SECONDS_CACHE.write_text(json.dumps(seconds, indent=1, sort_keys=True))
    skipped = ' and '.join(f for f in skip if f not in force)
    print(f'nbtest: {len(order) - len(failed)} passed, {len(failed)} failed ({len(order)} notebooks, '
          f'{a.n_workers} workers, {time.time() - t0:.0f} s; cells flagged {skipped or "(none)"} skipped)')
    if failed:
        print('failed: ' + ' '.join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
