"""What the browser tests share: the system's Chromium (Playwright's own download is not reachable here) and the marks
that skip a test, saying why, when the browser or Playwright is missing."""
import os, shutil
import pytest

CHROMIUM = next((p for p in (os.environ.get('DETR_NB_CHROMIUM'), shutil.which('chromium'),
                             shutil.which('chromium-browser'), shutil.which('google-chrome')) if p), None)
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the dev requirements install it
    sync_playwright = None

NEEDS_BROWSER = [
    pytest.mark.skipif(sync_playwright is None, reason='playwright is not installed (pip install playwright; it is a '
                                                       'dev requirement of detr_nb)'),
    pytest.mark.skipif(CHROMIUM is None, reason='no Chromium browser installed (apt-get install -y chromium, as '
                                                '.ci/run does when it runs as root; or set DETR_NB_CHROMIUM)'),
]
