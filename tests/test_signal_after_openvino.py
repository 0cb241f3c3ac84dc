"""A signal after OpenVINO models were compiled and freed is handled, not a segmentation fault (the runtime chapter).

OpenVINO's `compile_model` installs an alternate signal stack on the calling thread; models freed out of order left
it pointing at unmapped memory, and the next SIGTERM or Ctrl-C killed the process (it killed a notebook-test worker
that ran the latency chapter before the checkpoint chapter's SIGTERM check). Each case runs in its own process, so a
crash fails the test instead of the test run."""
import subprocess, sys

import pytest

SCRIPT = """
import os, signal, sys, time
from detr_nb.latency import latency_table
from detr_nb.checkpoint import StopOnSignal
from detr_nb.runtime import signal_stack
before = signal_stack()
latency_table('tiny', size=(64, 96), runs=1, warmup=1, num_classes=4, lower_precision=True)  # 4 OpenVINO/ORT models
assert signal_stack() == before, (before, signal_stack())
with StopOnSignal() as stop:
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    time.sleep(0.2)
print('handled', stop.requested)
"""


@pytest.mark.parametrize('sig', ['SIGTERM', 'SIGINT'])
def test_signal_after_openvino_is_handled(sig):
    r = subprocess.run([sys.executable, '-c', SCRIPT, sig], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and f'handled {sig}' in r.stdout, (r.returncode, r.stderr[-2000:])
