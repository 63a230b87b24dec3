"""The tour writes an HTML report whose every figure loads in a real browser (headless Chromium)."""
import re
import shutil
import subprocess

import pytest

from deepbasic.report import run_tour
from deepbasic.report.chapters import CHAPTERS


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("tour")
    path = run_tour(str(out), quick=True, log=lambda *a: None)
    return out, path


def test_report_has_every_chapter_with_numbers_and_figures(report):
    out, path = report
    html = open(path).read()
    for chapter in CHAPTERS:
        assert f'id="{chapter.key}"' in html
        assert chapter.command.split()[0] in html
    assert 'class="error"' not in html, "a chapter failed"
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) >= 3
    for name in images:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert "test accuracy" in html


def test_every_figure_loads_in_headless_chromium(report):
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (CI installs Debian's chromium)")
    out, path = report
    n_images = len(re.findall(r"<img ", open(path).read()))
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         f"--user-data-dir={out / 'chromium-profile'}", "--virtual-time-budget=5000",
         "--dump-dom", f"file://{path}"],
        capture_output=True, text=True, timeout=120)
    assert f'data-images="ok:{n_images}"' in result.stdout, result.stderr[-2000:]


def test_unknown_chapter_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unknown chapters"):
        run_tour(str(tmp_path), only=["nope"], log=lambda *a: None)
