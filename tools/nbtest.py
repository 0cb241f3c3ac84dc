#!/usr/bin/env python
"""Run `nbdev_test` (skipping the `slow` and `gpu` flags, as settings.ini says) and print a count line.

`nbdev_test` prints only `Success.` or the names of the failing notebooks; CI logs need `N passed, M failed`.
Extra arguments go to `nbdev_test` unchanged (e.g. `--flags "slow"` to run the slow cells too).
"""
import re, subprocess, sys
from pathlib import Path

from nbdev.config import get_config
from nbdev.doclinks import nbglob
from nbdev.test import _keep_file

ROOT = Path(__file__).resolve().parents[1]


def eligible_notebooks() -> list[Path]:
    "The notebooks `nbdev_test` will run (the same glob and `.notest` rule)."
    files = nbglob(get_config().nbs_path, as_path=True)
    return sorted(f for f in files if _keep_file(f, '.notest'))


if __name__ == '__main__':
    nbs = eligible_notebooks()
    bin_dir = Path(sys.executable).parent
    res = subprocess.run([str(bin_dir / 'nbdev_test'), '--timing', *sys.argv[1:]], cwd=ROOT, capture_output=True,
                         text=True)
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    failed = set(re.findall(r'^\t(\S+\.ipynb)$', res.stderr, re.M))
    if res.returncode and not failed:
        failed = {'(nbdev_test failed before naming a notebook)'}
    print(f'nbdev_test: {len(nbs) - len(failed & {p.name for p in nbs})} passed, {len(failed)} failed '
          f'({len(nbs)} notebooks; flags slow and gpu skipped unless --flags names them)')
    sys.exit(res.returncode)
