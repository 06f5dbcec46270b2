"""Sweeps: vmapped points equal separate runs, completed points are skipped, outputs are written."""

import csv
import itertools
import json
import os
import re
import urllib.parse

import jax
import pytest
from PIL import Image

from siren_jax import sweep, sweep_figures
from siren_jax.engine import train
from siren_jax.errors import UserError
from siren_jax.io import outputs, plots
import forkserver
from conftest import ROOT, loss_distance, tiny_config


def _base(image_path, **kw):
  return tiny_config(image_path, **{"train__num_steps": 60, "train__batch_size": 256,
                                    "train__log_every": 20, "train__checkpoint_every": 60, **kw})


@pytest.mark.usefixtures("quick_figures")
def test_points_trained_together_match_separate_runs(tmp_path, image_path):
  specs = ["model.omega_0=10,30", "train.learning_rate=1e-3,3e-3"]
  # vmap_width: -1 is the backend's choice (1 on CPU: the points loop inside the program), 0 vmaps all
  # 4, 3 vmaps slices of 3 and loops over them (with a remainder slice of 1).
  expected = {-1: 1 if jax.default_backend() == "cpu" else 4, 0: 4, 3: 3}
  sweeps = {}
  for width in expected:
    results = sweep.run_sweep(_base(image_path, train__vmap_width=width),
                              str(tmp_path / f"sweep{width}"), specs)
    assert len(results) == 4 and all(r["trained_together"] == 4 for r in results)
    assert {json.load(open(tmp_path / f"sweep{width}" / r["point"] / "summary.json"))["vmap_width"]
            for r in results} == {expected[width]}
    # The points really differ (omega and lr reach the traced step).
    assert len({round(r["psnr"], 3) for r in results}) == 4
    sweeps[width] = results
  for i in (0, 3):  # the first point and the remainder slice's, run alone with the same values
    r = sweeps[-1][i]
    config = _base(image_path)
    config.model.omega_0, config.train.learning_rate = r["model.omega_0"], r["train.learning_rate"]
    train.train_and_evaluate(config, str(tmp_path / f"alone_{r['point']}"))
    single = outputs.read_jsonl(str(tmp_path / f"alone_{r['point']}" / "metrics.jsonl"))
    for width, results in sweeps.items():
      assert results[i]["point"] == r["point"]
      together = outputs.read_jsonl(str(tmp_path / f"sweep{width}" / r["point"] / "metrics.jsonl"))
      # Vmapping changes summation order, and training amplifies that beyond any rounding bound; so
      # the point trained together must stay far closer to its own run alone than any other point is.
      assert loss_distance(together, single) < 0.1 * min(
          loss_distance(single, outputs.read_jsonl(str(tmp_path / "sweep-1" / o["point"] / "metrics.jsonl")))
          for j, o in enumerate(sweeps[-1]) if j != i), (width, r["point"])


def test_three_axes_draw_one_heatmap_panel_per_value_of_the_third(tmp_path):
  """The first two axes are each panel's rows and columns; the third picks the panel (side by side)."""
  axes = [("model.omega_0", [10.0, 30.0]), ("train.learning_rate", [1e-3, 3e-3]), ("seed", [0, 1])]
  results = []
  for k, (w, lr, seed) in enumerate(itertools.product(*[v for _, v in axes])):
    point = f"omega_0={w:g},learning_rate={lr:g},seed={seed}"
    (tmp_path / point).mkdir()
    outputs.write_jsonl(str(tmp_path / point / "metrics.jsonl"), [{"step": 10, "psnr": 20.0 + k}])
    results.append({"point": point, "model.omega_0": w, "train.learning_rate": lr, "seed": seed,
                    "psnr": 20.0 + k, "status": "done"})
  sweep_figures.write_sweep_plots(str(tmp_path), axes, results, title="three axes")
  heatmap = Image.open(tmp_path / "heatmap.png")
  assert heatmap.size[0] > 2 * heatmap.size[1]
  assert Image.open(tmp_path / "curves.png").size[0] > 0


def test_two_axis_sweep_groups_by_shape_skips_completed_and_writes_results(tmp_path, image_path,
                                                                           monkeypatch):
  base = _base(image_path)
  calls = []
  real = train.train_points
  monkeypatch.setattr(train, "train_points", lambda cs, ws, *rest: (
      calls.append([os.path.basename(w) for w in ws]) or real(cs, ws, *rest)))
  titles = {}
  real_save = plots.save_figure

  def save_figure(fig, path, dpi=100):
    titles[os.path.relpath(path, tmp_path)] = fig.get_suptitle()
    real_save(fig, path, dpi)

  monkeypatch.setattr(plots, "save_figure", save_figure)
  specs = ["model.omega_0=10,30", "model.depth=1,2"]
  sweep.run_sweep(base, str(tmp_path), specs)
  # The sweep's figures say what its points share (and not the swept values, which the axes show).
  for name in ("heatmap.png", "curves.png"):
    title = titles[name].replace("\n", " ")
    assert title.startswith("smooth 32x32 (HxW), 60 steps, lr 0.001, cosine schedule, batch 256"), title
    assert "omega_0" not in title and "depth" not in title
  # The sweep's report links to every point's report, by a relative path.
  page = open(tmp_path / "report.html", encoding="utf-8").read()
  results, thumbnails = page.split('id="thumbnails"')
  links = re.findall(r'<a href="([^"#]+)">([^<]+)</a>', results)
  assert sorted(re.findall(r'<a href="([^"#]+)">', thumbnails)) == sorted(href for href, _ in links)
  assert sorted(text for _, text in links) == sorted(
      f"omega_0={o},depth={d}" for o in (10, 30) for d in (1, 2))
  for href, text in links:
    assert not os.path.isabs(href) and urllib.parse.unquote(href) == f"{text}/report.html"
    assert (tmp_path / urllib.parse.unquote(href)).is_file()
  # Two groups (one per depth, shapes differ), each training both omegas together.
  assert sorted(map(sorted, calls)) == [["omega_0=10,depth=1", "omega_0=30,depth=1"],
                                        ["omega_0=10,depth=2", "omega_0=30,depth=2"]]
  rows = list(csv.DictReader(open(tmp_path / "results.csv")))
  assert len(rows) == 4 and {r["model.depth"] for r in rows} == {"1", "2"}
  assert all(float(r["psnr"]) > 15 for r in rows)
  assert Image.open(tmp_path / "heatmap.png").size[0] > 200
  assert Image.open(tmp_path / "curves.png").size[0] > 200
  assert "| omega_0 | depth | psnr" in open(tmp_path / "results.md").read().replace(
      "model.", "")
  # Every point is a normal run directory.
  for r in rows:
    assert json.load(open(tmp_path / r["point"] / "summary.json"))["steps"] == 60
  calls.clear()
  sweep.run_sweep(base, str(tmp_path), specs)  # re-run: all complete, nothing trains
  assert calls == []
  # Extending the sweep trains only the new points.
  sweep.run_sweep(base, str(tmp_path), ["model.omega_0=10,30,60", "model.depth=1,2"])
  assert sorted(p for c in calls for p in c) == ["omega_0=60,depth=1", "omega_0=60,depth=2"]


@pytest.mark.parametrize("specs,match", [
    (["model.colour=1,2"], "no such config field"),
    (["model.depth=two"], "not a valid int"),
    (["model.omega_0"], "expected FIELD=V1,V2"),
    (["model.omega_0=10,10"], "repeated values"),
    (["model.omega_0=10,-5"], "sweep point omega_0=-5: model.omega_0 must be > 0"),
    ([], "at least one --sweep"),
])
def test_bad_sweeps(tmp_path, image_path, specs, match):
  with pytest.raises(UserError, match=match):
    sweep.run_sweep(_base(image_path), str(tmp_path), specs)


def test_sweep_cli_one_line_error(tmp_path):
  import sys  # pylint: disable=g-import-not-at-top
  proc = forkserver.run([sys.executable, "-m", "siren_jax.sweep", f"--config={ROOT}/configs/default.py",
                         f"--workdir={tmp_path}", "--sweep=model.nope=1,2"], cwd=ROOT,
                        capture_output=True, text=True)
  assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: --sweep")
  assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("image,specs,message", [
    ("/nonexistent.png", ["model.depth=2,3"], "image file not found"),
    (None, ["data.image=camera,/nonexistent.png"], "image file not found"),
    (None, ["eval.crop_border=0,40"], "leaves nothing"),
])
def test_a_failing_sweep_writes_nothing(tmp_path, image_path, image, specs, message):
  """Every point is checked, its image included, before sweep.json or a point directory is written;
  an existing sweep keeps its files."""
  workdir = tmp_path / "sweep"
  sweep.run_sweep(_base(image_path, train__num_steps=2, train__log_every=1,
                        train__checkpoint_every=2), str(workdir), ["seed=0,1"])
  before = {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()}
  base = _base(image or image_path)
  with pytest.raises(UserError, match=message):
    sweep.run_sweep(base, str(workdir), specs)
  assert {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()} == before


def test_a_changed_base_config_is_not_reported_as_done(tmp_path, image_path):
  """Re-running a finished sweep with another base batch size must not skip its points as complete
  (their results are for the old config): it refuses, naming the field, and changes nothing."""
  workdir = tmp_path / "sweep"
  base = _base(image_path, train__num_steps=2, train__log_every=1, train__checkpoint_every=2)
  sweep.run_sweep(base, str(workdir), ["seed=0,1"])
  before = {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()}
  base.train.batch_size = 128
  with pytest.raises(UserError, match=r"sweep point seed=0: .*train.batch_size: 256 there, 128 now"):
    sweep.run_sweep(base, str(workdir), ["seed=0,1"])
  assert {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()} == before


def test_points_get_their_own_seconds_and_a_point_that_did_not_learn_is_marked(tmp_path, image_path,
                                                                               monkeypatch):
  """Two points trained together in one program: each is charged its share of the measured time (the
  shares add up to the program's), and the one whose rate is too small to learn anything is marked
  ``not learned`` in results.csv, results.md, the figures and the report."""
  figs = {}
  real_save = plots.save_figure

  def save_figure(fig, path, dpi=100):
    ax = fig.axes[0]
    if os.path.basename(path) in ("psnr.png", "curves.png"):
      figs[os.path.basename(path)] = {"xscale": ax.get_xscale(),
                                      "x0": min(min(line.get_xdata()) for line in ax.lines),
                                      "labels": [line.get_label() for line in ax.lines]}
    real_save(fig, path, dpi)

  monkeypatch.setattr(plots, "save_figure", save_figure)
  workdir = tmp_path / "sweep"
  results = sweep.run_sweep(_base(image_path), str(workdir), ["train.learning_rate=1e-9,1e-3"])
  summaries = [json.load(open(workdir / r["point"] / "summary.json")) for r in results]
  group = summaries[0]["group_train_seconds"]
  assert all(s["trained_together"] == 2 and s["group_train_seconds"] == group for s in summaries)
  # Each share is rounded to 1 ms, as is the program's total.
  assert abs(sum(s["train_seconds"] for s in summaries) - group) <= 1.5e-3
  assert all(0 < s["train_seconds"] < group for s in summaries)
  for r, s in zip(results, summaries):
    last = outputs.read_jsonl(str(workdir / r["point"] / "metrics.jsonl"))[-1]
    assert r["train_seconds"] == s["train_seconds"]
    assert abs(last["train_seconds"] - s["train_seconds"]) <= 1e-3
  assert [r["status"] for r in results] == [sweep.NOT_LEARNED, "done"]
  rows = list(csv.DictReader(open(workdir / "results.csv")))
  assert [r["status"] for r in rows] == [sweep.NOT_LEARNED, "done"]
  md = open(workdir / "results.md").read()
  assert md.count(f"| {sweep.NOT_LEARNED} |") == 1 and "share" in md
  # The one-axis plot spaces 1e-9 and 1e-3 by value (log axis) and crosses out the stuck point; the
  # curves start at step 0 and their legend marks it.
  assert figs["psnr.png"]["xscale"] == "log" and sweep.NOT_LEARNED in figs["psnr.png"]["labels"]
  assert figs["curves.png"]["x0"] == 0
  assert f"learning_rate=1e-09 ({sweep.NOT_LEARNED})" in figs["curves.png"]["labels"]
  page = open(workdir / "report.html", encoding="utf-8").read()
  assert "<title>siren_jax sweep: train.learning_rate</title>" in page
  thumbnails = page[page.index('id="thumbnails"'):]
  assert thumbnails.count("<img") == 2 and thumbnails.count(sweep.NOT_LEARNED) == 1


def test_one_axis_spacing_follows_the_values():
  assert sweep_figures.numeric_axis([10.0, 30.0, 90.0]) == "log"
  assert sweep_figures.numeric_axis([1, 2, 3]) == "linear"
  assert sweep_figures.numeric_axis([-1.0, 1.0]) == "linear"
  assert sweep_figures.numeric_axis(["siren", "relu"]) is None
  assert sweep_figures.numeric_axis([True, False]) is None
