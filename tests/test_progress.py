"""Progress reporting: time-based progress lines between metrics rows (log only: outputs and
parameters stay bit-identical), sweep progress lines that name their points, and a step-0 metrics row
without a made-up loss."""

import logging
import math
import os

import jax
import numpy as np
import pytest

from siren_jax.engine import step, train
from siren_jax.io import checkpoints, outputs, plots, progress
from siren_jax.nets import kinds
from conftest import tiny_config


def _final_state(workdir, config):
  ck = checkpoints.Checkpointer(os.path.join(workdir, "checkpoints"), 2)
  model = kinds.build_model(config.model, out_features=3)
  like = step.create_train_state(jax.random.PRNGKey(0), model, config)
  return ck.restore_latest(like)[0]


def _progress_lines(caplog):
  return [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]


@pytest.mark.usefixtures("quick_figures")
def test_time_based_progress_lines_change_no_output(tmp_path, image_path, monkeypatch, caplog):
  config = tiny_config(image_path, train__num_steps=40, train__log_every=20,
                       train__checkpoint_every=40)
  caplog.set_level(logging.INFO)
  monkeypatch.setattr(progress, "PROGRESS_FIRST_SECONDS", math.inf)  # rows only
  train.train_and_evaluate(config, str(tmp_path / "rows"))
  assert [line.split()[1] for line in _progress_lines(caplog)] == ["20/40", "40/40"]
  caplog.clear()
  # A line after every step that writes no row (what ~30 s of slow steps would give).
  monkeypatch.setattr(progress, "PROGRESS_FIRST_SECONDS", 0.0)
  monkeypatch.setattr(progress, "PROGRESS_EVERY_SECONDS", 0.0)
  train.train_and_evaluate(config, str(tmp_path / "chatty"))
  lines = _progress_lines(caplog)
  between = [line for line in lines if "psnr" not in line]
  assert [line.split()[1] for line in between] == [f"{s}/40" for s in range(1, 40) if s != 20]
  assert all(" loss " in line and " steps/s " in line and " ETA " in line for line in between)
  # metrics.jsonl keeps its rows, with the same values; the parameters are bit-identical.
  timing = ("train_seconds", "elapsed_s")
  quiet, chatty = (outputs.read_jsonl(str(tmp_path / d / "metrics.jsonl")) for d in ("rows", "chatty"))
  assert [r["step"] for r in chatty] == [0, 20, 40]
  assert ([{k: v for k, v in r.items() if k not in timing} for r in chatty]
          == [{k: v for k, v in r.items() if k not in timing} for r in quiet])
  for a, b in zip(*(jax.tree_util.tree_leaves(_final_state(str(tmp_path / d), config))
                    for d in ("rows", "chatty"))):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.usefixtures("quick_figures")
def test_step_zero_row_has_no_loss(tmp_path, image_path):
  config = tiny_config(image_path, train__num_steps=20, train__log_every=10,
                       train__checkpoint_every=20)
  train.train_and_evaluate(config, str(tmp_path))
  text = (tmp_path / "metrics.jsonl").read_text()
  assert "nan" not in text.lower()
  rows = outputs.read_jsonl(str(tmp_path / "metrics.jsonl"))
  assert rows[0]["step"] == 0 and "loss" not in rows[0] and "psnr" in rows[0]
  assert all(math.isfinite(r["loss"]) for r in rows[1:])


def test_curves_plot_rows_without_a_loss(tmp_path, monkeypatch):
  """write_curves reads rows as metrics.jsonl has them: step 0 without a loss, older files with "nan"."""
  drawn = []
  monkeypatch.setattr(plots, "save_figure", lambda fig, path, dpi=100: drawn.append(fig))
  rows = [{"step": 0, "psnr": 10.0, "train_seconds": 0.0},
          {"step": 10, "loss": "nan", "psnr": 12.0, "train_seconds": 1.0},
          {"step": 20, "loss": 0.02, "psnr": 20.0, "train_seconds": 2.0},
          {"step": 30, "loss": 0.01, "psnr": 22.0, "train_seconds": 3.0}]
  plots.write_curves(str(tmp_path / "curves.png"), rows)
  (fig,) = drawn
  loss_by_step, psnr_by_step = fig.axes[0].lines[0], fig.axes[2].lines[0]
  assert list(loss_by_step.get_xdata()) == [20, 30] and list(loss_by_step.get_ydata()) == [0.02, 0.01]
  assert list(psnr_by_step.get_xdata()) == [0, 10, 20, 30]


@pytest.mark.usefixtures("quick_figures")
def test_sweep_progress_lines_name_their_points(tmp_path, image_path, caplog):
  caplog.set_level(logging.INFO)
  configs = [tiny_config(image_path, train__num_steps=20, train__log_every=10,
                         train__checkpoint_every=20) for _ in range(2)]
  configs[1].seed = 1
  names = ["seed=0", "seed=1"]
  summaries = train.train_points(configs, [str(tmp_path / n) for n in names])
  rows = [line for line in _progress_lines(caplog) if "psnr" in line]
  assert len(rows) == 2
  for line in rows:
    step = int(line.split()[1].split("/")[0])
    for name in names:
      psnr = outputs.read_jsonl(str(tmp_path / name / "metrics.jsonl"))[step // 10]["psnr"]
      assert f"{name}: {psnr:.2f}" in line, line
  assert summaries[0]["psnr"] != summaries[1]["psnr"]  # the two values shown are the points' own
