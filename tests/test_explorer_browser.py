"""The attention explorer as a user meets it: a real JupyterLab server on 127.0.0.1, a headless Chromium driven by
Playwright (the system's browser, through `executable_path`), a notebook that opens the explorer, the threshold
slider moved with the keyboard, and the number of drawn boxes and the picture checked to change."""
import json, os, secrets, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
from browser import CHROMIUM, NEEDS_BROWSER, sync_playwright

pytestmark = NEEDS_BROWSER


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _notebook(cells: list[str]) -> dict:
    return {'cells': [{'cell_type': 'code', 'metadata': {}, 'source': c, 'execution_count': None, 'outputs': []}
                      for c in cells],
            'metadata': {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}},
            'nbformat': 4, 'nbformat_minor': 5}


@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server on 127.0.0.1 serving `tmp_path`, with a random-weight tiny checkpoint and 4 shapes images."
    from dataclasses import replace
    from detr_nb.config import get_preset
    from detr_nb.data import make_shapes
    from detr_nb.model import DETR
    from detr_nb.checkpoint import save_checkpoint
    shapes = make_shapes(tmp_path / 'shapes', n_train=1, n_val=4, seed=0)
    cfg = get_preset('tiny')
    cfg = replace(cfg, model=replace(cfg.model, num_classes=4))
    torch.manual_seed(0)
    save_checkpoint(tmp_path / 'model.pth', DETR(cfg.model), cfg=cfg,
                    categories=[{'label': i, 'id': i, 'name': n} for i, n in ((1, 'circle'), (2, 'square'),
                                                                             (3, 'triangle'))])
    (tmp_path / 'explore.ipynb').write_text(json.dumps(_notebook([
        "from detr_nb.attention import explore\n"
        f"explore('model.pth', '{shapes / 'val2017'}', threshold=0.0, device='cpu')"])))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]),
           'JUPYTER_RUNTIME_DIR': str(tmp_path / 'runtime'), 'JUPYTERLAB_WORKSPACES_DIR': str(tmp_path / 'ws')}
    cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--ip', '127.0.0.1', '--port', str(port),
           f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={tmp_path}', '--ServerApp.open_browser=False']
    if hasattr(os, 'geteuid') and os.geteuid() == 0:
        cmd.append('--allow-root')
    log = open(tmp_path / 'lab.log', 'w')
    server = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f'http://127.0.0.1:{port}/api/status?token={token}', timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{(tmp_path / 'lab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield f'http://127.0.0.1:{port}/lab/tree/explore.ipynb?token={token}'
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_threshold_slider_changes_the_drawn_boxes(lab, tmp_path):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox'])
        try:
            page = browser.new_page(viewport={'width': 1400, 'height': 1000})
            page.goto(lab)
            page.wait_for_selector('.jp-Notebook .jp-Cell', timeout=120_000)
            # run the cell once the kernel is up (a run requested while it starts can be dropped)
            page.wait_for_function("document.body.innerText.includes('| Idle')", timeout=120_000)
            page.click('.jp-Notebook .jp-Cell .jp-InputArea-editor')
            page.keyboard.press('Shift+Enter')
            try:
                count = page.wait_for_selector('.detr-nb-count', timeout=240_000)  # kernel start, torch, a forward
            except Exception:
                page.screenshot(path=str(tmp_path / 'failed.png'))
                outputs = page.locator('.jp-OutputArea').all_inner_texts()
                pytest.fail(f"the explorer did not appear (screenshot {tmp_path / 'failed.png'}); cell outputs: "
                            f"{outputs}; server log: {(tmp_path / 'lab.log').read_text()[-2000:]}")
            page.wait_for_function("document.querySelector('.detr-nb-count').innerText.includes('boxes drawn')",
                                   timeout=60_000)
            n_before = int(count.inner_text().split()[0])
            img_before = page.locator('.widget-image').first.get_attribute('src')
            assert n_before > 0, count.inner_text()
            page.click('.widget-slider .noUi-handle')
            for _ in range(20):  # one step of 0.05 per key press, until the count changes
                page.keyboard.press('ArrowRight')
                time.sleep(0.3)
                if int(count.inner_text().split()[0]) != n_before:
                    break
            page.wait_for_function(f"parseInt(document.querySelector('.detr-nb-count').innerText) < {n_before}",
                                   timeout=30_000)
            n_after = int(count.inner_text().split()[0])
            page.wait_for_function("src => document.querySelector('.widget-image').getAttribute('src') !== src",
                                   arg=img_before, timeout=30_000)
            page.screenshot(path=str(tmp_path / 'explorer.png'))
        finally:
            browser.close()
    assert n_after < n_before
