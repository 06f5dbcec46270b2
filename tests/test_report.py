"""report.html: self-contained (no request leaves the page), complete for finished, running and sweep
directories, and interactive in a real headless Chromium (synchronised zoom and pan, split divider)."""

import base64
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from siren_jax import report
from siren_jax.engine import train
from siren_jax.errors import UserError
import forkserver
from conftest import ROOT, smooth_image, tiny_config

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
COMPRESSION = [{"method": "SIREN float32", "bytes": 9228, "bpp": 72.1, "psnr": 25.0},
               {"method": "JPEG q=90", "bytes": 1500, "bpp": 11.7, "psnr": 38.5, "ssim": 0.99}]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  """A finished tiny fit (60 steps) with a compression.json beside it."""
  d = tmp_path_factory.mktemp("report")
  img = d / "smooth.png"
  Image.fromarray((smooth_image() * 255).round().astype(np.uint8)).save(img)
  workdir = d / "run"
  train.train_and_evaluate(tiny_config(str(img)), str(workdir))
  (workdir / "compression.json").write_text(json.dumps(COMPRESSION))
  return str(workdir)


@pytest.fixture(scope="module")
def run_report(run_dir):
  path = report.write_report(run_dir)
  assert path == os.path.join(run_dir, "report.html")
  with open(path, encoding="utf-8") as f:
    return path, f.read()


@pytest.fixture
def sweep_dir(tmp_path):
  (tmp_path / "results.csv").write_text(
      "omega_0,width,psnr,run\n30,64,31.5,a\n60,64,33.25,b\n15,64,28.0,c\n")
  Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(tmp_path / "heatmap.png")
  return str(tmp_path)


def assert_self_contained(page: str) -> None:
  lowered = page.lower()
  for pattern in (r'src\s*=\s*["\']?\s*(https?:|//)', r'href\s*=\s*["\']?\s*(https?:|//)',
                  r"<script[^>]+src", r"<link[^>]+stylesheet", r"url\(\s*['\"]?(https?:|//)",
                  r"@import"):
    assert not re.search(pattern, lowered), pattern


def _embedded(page: str, element_id: str) -> bytes:
  match = re.search(rf'id="{element_id}" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
  assert match, element_id
  return base64.b64decode(match.group(1))


def test_run_report_is_self_contained_and_complete(run_dir, run_report):
  _, page = run_report
  assert_self_contained(page)
  # The viewer shows the run's own files, byte for byte.
  for name in ("original", "reconstruction"):
    with open(os.path.join(run_dir, f"{name}.png"), "rb") as f:
      assert _embedded(page, f"img-{name}") == f.read()
  for section in ("images", "compare", "error", "derivatives", "curves", "summary", "compression",
                  "config"):
    assert f'<section id="{section}">' in page, section
  assert '<section id="blend">' not in page  # only Poisson-blend runs have blend.png
  assert page.count("data:image/png;base64,") == 5  # original, reconstruction, error, derivatives, curves
  summary = json.load(open(os.path.join(run_dir, "summary.json")))
  assert f"{summary['psnr']:.2f}" in page
  assert "<td>model.width</td><td>32</td>" in page and "<td>train.num_steps</td><td>60</td>" in page
  assert page.count('<polyline points="') == 2  # loss and PSNR charts from metrics.jsonl


def test_compression_table(run_report):
  _, page = run_report
  table = page[page.index('<section id="compression">'):]
  table = table[:table.index("</section>")]
  header = re.findall(r"<th>([^<]*)</th>", table)
  assert header == ["method", "bytes", "bpp", "psnr", "ssim"]
  assert "SIREN float32" in table and "JPEG q=90" in table
  assert '<td class="best" data-sort="38.5">38.5</td>' in table  # the best PSNR is marked


def test_malformed_optional_files_become_warnings(tmp_path, run_dir):
  shutil.copy(os.path.join(run_dir, "config.json"), tmp_path / "config.json")
  (tmp_path / "compression.json").write_text('{"method": "not a list"}')
  (tmp_path / "summary.json").write_text("{truncated")
  page = open(report.write_report(str(tmp_path)), encoding="utf-8").read()
  assert "compression.json: expected a JSON list" in page and "could not read summary.json" in page


def test_blend_panel_when_present(tmp_path, run_dir):
  for name in ("config.json", "summary.json", "original.png", "reconstruction.png"):
    shutil.copy(os.path.join(run_dir, name), tmp_path / name)
  shutil.copy(os.path.join(run_dir, "error.png"), tmp_path / "blend.png")  # any PNG will do
  page = open(report.write_report(str(tmp_path)), encoding="utf-8").read()
  section = page[page.index('<section id="blend">'):]
  payload = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', section).group(1)
  assert base64.b64decode(payload) == open(tmp_path / "blend.png", "rb").read()
  assert '<section id="error">' not in page and '<a href="#blend">' in page


def test_blend_run_captions_say_what_is_compared(tmp_path, run_dir):
  """A Poisson blend is compared with its background and trained on a blended gradient field."""
  for name in ("config.json", "original.png", "reconstruction.png", "error.png", "derivatives.png"):
    shutil.copy(os.path.join(run_dir, name), tmp_path / name)
  summary = json.load(open(os.path.join(run_dir, "summary.json")))
  for blend in (False, True):
    if blend:
      summary["psnr_protocol"] = "psnr_outside_mask"
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    page = open(report.write_report(str(tmp_path)), encoding="utf-8").read()
    error = page[page.index('<section id="error">'):]
    derivatives = page[page.index('<section id="derivatives">'):]
    assert ("|blend - background|" in error[:error.index("</section>")]) == blend
    assert ("blended gradient field" in derivatives[:derivatives.index("</section>")]) == blend


def test_report_of_a_run_in_progress(tmp_path, run_dir):
  """Only config and metrics so far (what a trainer calling write_report mid-run has)."""
  shutil.copy(os.path.join(run_dir, "config.json"), tmp_path / "config.json")
  rows = [{"step": 0, "loss": "nan", "psnr": 12.0}, {"step": 50, "loss": 0.02, "psnr": 20.5}]
  (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
  page = open(report.write_report(str(tmp_path)), encoding="utf-8").read()
  assert_self_contained(page)
  assert "in progress: step 50, 20.5 dB" in page and "written when the run finishes" in page
  assert 'id="compare"' not in page and page.count("<polyline") == 2


def test_sweep_report(sweep_dir):
  page = open(report.write_report(sweep_dir), encoding="utf-8").read()
  assert_self_contained(page)
  assert "Results (3 runs)" in page and page.count("<tr>") == 4
  assert '<td class="best" data-sort="33.25">33.25</td>' in page
  assert page.count("data:image/png;base64,") == 1  # heatmap.png (no curves.png here)


def test_sweep_report_links_point_reports(tmp_path):
  (tmp_path / "results.csv").write_text("omega_0,psnr,point\n30,31.5,\"omega_0=30,depth=2\"\n"
                                        "60,33.25,omega_0=60\n")
  (tmp_path / "omega_0=30,depth=2").mkdir()
  (tmp_path / "omega_0=30,depth=2" / "report.html").write_text("<html></html>")
  (tmp_path / "omega_0=60").mkdir()  # a point without a report yet: named, but no dead link
  page = open(report.write_report(str(tmp_path)), encoding="utf-8").read()
  assert_self_contained(page)
  results, thumbnails = page.split('id="thumbnails"')  # the table, then a card per point
  for part in (results, thumbnails):
    assert re.findall(r'<a href="([^"#]*)">([^<]*)</a>', part) == [
        ("omega_0=30,depth=2/report.html", "omega_0=30,depth=2")]
  assert "<td>omega_0=60</td>" in results and "omega_0=60" in thumbnails


def test_bad_workdirs(tmp_path):
  with pytest.raises(UserError, match="not found"):
    report.write_report(str(tmp_path / "nope"))
  with pytest.raises(UserError, match="neither a run"):
    report.write_report(str(tmp_path))
  proc = forkserver.run([sys.executable, "-m", "siren_jax.report", f"--workdir={tmp_path}/nope"],
                        cwd=ROOT, capture_output=True, text=True, timeout=60)
  assert proc.returncode == 2 and proc.stderr.strip() == f"error: workdir not found: {tmp_path}/nope"


def test_report_does_not_import_jax():
  """The trainer calls write_report periodically: it must stay cheap. A real interpreter (not
  tests/forkserver.py's, which has imported jax already)."""
  proc = subprocess.run([sys.executable, "-c", "import sys, siren_jax.report; "
                         "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'flax')))"],
                        cwd=ROOT, capture_output=True, text=True, timeout=60,
                        env=dict(os.environ, PYTHONPATH=ROOT), check=False)
  assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


# ----------------------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def browser():
  # Locally a missing browser skips; in CI (.ci/run installs both) it is a failure, not a silent skip.
  missing = pytest.fail if os.environ.get("CI") else pytest.skip
  try:
    from playwright import sync_api  # pylint: disable=g-import-not-at-top
  except ImportError:
    missing("playwright is not installed (pip install -r requirements-test.txt)")
  if not os.path.exists(CHROMIUM):
    missing(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
  with sync_api.sync_playwright() as p:
    b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()


def _open(browser, path):
  """A page on ``path`` that records console errors, page errors and every request it makes."""
  page = browser.new_page(viewport={"width": 1280, "height": 900})
  errors, requests = [], []
  page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
  page.on("pageerror", lambda e: errors.append(str(e)))
  page.on("request", lambda r: requests.append(r.url))
  page.goto("file://" + os.path.abspath(path))
  page.wait_for_load_state("load")
  return page, errors, requests


def _transform(page, selector):
  return page.eval_on_selector(selector, "e => e.style.transform")


def _scale(transform: str) -> float:
  return float(re.search(r"scale\(([-0-9.e]+)\)", transform).group(1))


def _box(page, selector):
  return page.eval_on_selector(selector, "e => { const r = e.getBoundingClientRect(); "
                                         "return [r.left, r.top, r.width, r.height]; }")


def test_report_in_browser(browser, run_report, tmp_path):
  path, _ = run_report
  page, errors, requests = _open(browser, path)
  orig, recon = "#img-original", "#img-reconstruction"
  assert _scale(_transform(page, orig)) == 1.0
  view_w = _box(page, "#view-original")[2]
  assert _box(page, orig)[2] == pytest.approx(view_w, abs=1)  # fitted to the viewport

  page.click("#zoom-in")
  page.click("#zoom-in")
  assert _scale(_transform(page, orig)) == pytest.approx(2.25)
  assert _transform(page, recon) == _transform(page, orig)  # both views follow
  assert _box(page, orig)[2] == pytest.approx(2.25 * view_w, abs=1)  # really drawn 2.25x larger
  assert page.eval_on_selector("#view-original", "e => e.classList.contains('pixelated')")
  assert page.eval_on_selector(orig, "e => getComputedStyle(e).imageRendering") == "pixelated"

  before = _box(page, recon)
  x, y, w, h = _box(page, "#view-original")
  page.mouse.move(x + w / 2, y + h / 2)
  page.mouse.down()
  page.mouse.move(x + w / 2 - 80, y + h / 2 - 50, steps=4)
  page.mouse.up()
  after = _box(page, recon)  # dragging the original pans the reconstruction too
  assert after[0] == pytest.approx(before[0] - 80, abs=1) and after[1] == pytest.approx(before[1] - 50, abs=1)

  x, y, w, h = _box(page, "#view-reconstruction")
  page.mouse.move(x + w / 2, y + h / 2)
  page.mouse.wheel(0, -200)
  page.wait_for_function("() => window.sirenReport.state.z > 2.3")
  assert _transform(page, orig) == _transform(page, recon)
  # The split view (a different size on screen) shows the same region: same offsets relative to size.
  offset = lambda img, view: _box(page, img)[0] - _box(page, view)[0]
  assert _scale(_transform(page, "#split img.under")) == _scale(_transform(page, orig))
  assert (offset("#split img.under", "#split") / _box(page, "#split")[2]
          == pytest.approx(offset(orig, "#view-original") / _box(page, "#view-original")[2], abs=1e-3))

  page.dblclick("#view-original")
  assert _scale(_transform(page, orig)) == 1.0

  page.locator("#split").scroll_into_view_if_needed()
  x, y, w, h = _box(page, "#split")
  page.mouse.move(x + w / 2, y + h / 2)
  page.mouse.down()
  page.mouse.move(x + w / 4, y + h / 2, steps=3)
  page.mouse.up()
  clip = page.eval_on_selector("#split .clip", "e => e.style.clipPath")
  assert float(re.search(r"inset\(0(?:px)? ([0-9.]+)%", clip).group(1)) == pytest.approx(75, abs=1)
  assert float(page.eval_on_selector("#split-range", "e => e.value")) == pytest.approx(25, abs=1)

  page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
  shot = Image.open(tmp_path / "report.png")
  assert shot.width == 1280 and shot.height > 2000
  assert errors == []
  assert all(u.startswith(("file:", "data:")) for u in requests), requests
  page.close()


def test_sweep_table_sorts_in_browser(browser, sweep_dir):
  page, errors, _ = _open(browser, report.write_report(sweep_dir))
  column = lambda: page.eval_on_selector_all("table.sortable tbody tr td:first-child",
                                             "cells => cells.map(c => c.textContent)")
  assert column() == ["30", "60", "15"]
  page.click("table.sortable th:first-child")
  assert column() == ["15", "30", "60"]  # numerically, not as text
  page.click("table.sortable th:first-child")
  assert column() == ["60", "30", "15"]
  assert errors == []
  page.close()
