"""What the figures say: labelled colour bars, one-line titles, plain log ticks, unsupervised notes."""

import numpy as np
import pytest

from siren_jax.io import plots
from siren_jax.signals.image import figures, task as image_task


@pytest.fixture
def drawn(monkeypatch):
  """Figures are captured instead of saved (after drawing, so tick labels are computed)."""
  figs = []

  def capture(fig, path, dpi=100):
    fig.canvas.draw()
    figs.append(fig)

  monkeypatch.setattr(plots, "save_figure", capture)
  return figs


def test_log_axis_ticks_are_plain_numbers(drawn):
  """A loss spanning less than a decade gets labelled minor ticks; they read 13.5, not 1.35×10¹."""
  rows = [{"step": 0, "psnr": 10.0, "train_seconds": 0.0}] + [
      {"step": s, "loss": 20.0 - s / 10, "psnr": 10.0 + s / 10, "train_seconds": s / 10}
      for s in range(10, 80, 10)]
  plots.write_curves("unused.png", rows)
  labels = [t.get_text() for t in drawn[0].axes[0].yaxis.get_ticklabels(which="both") if t.get_text()]
  assert labels and all("10^" not in l and "times" not in l and "$" not in l for l in labels), labels
  assert all(float(l) for l in labels)  # each parses as a number


def test_error_heatmap_has_a_labelled_bar_and_a_one_line_title(drawn):
  rng = np.random.default_rng(0)
  target = rng.uniform(size=(16, 16, 3))
  figures.write_error_heatmap("unused.png", target + 0.01, target)
  image_axes, bar_axes = drawn[0].axes
  assert "\n" not in image_axes.get_title() and image_axes.get_title()
  assert "absolute error" in bar_axes.get_ylabel()


def test_derivative_panel_says_what_was_not_supervised(drawn):
  assert image_task.unsupervised_note({"gradient": 1.0, "laplacian": 1.0}) == ""
  note = image_task.unsupervised_note({"values": 1.0})
  assert "gradient and Laplacian" in note
  assert "Laplacian" in image_task.unsupervised_note({"gradient": 1.0})
  img = np.zeros((8, 8, 1))
  figures.write_derivative_panel("unused.png", img, img, img, img, img, img, title="t", note=note)
  heading = drawn[0].get_suptitle()
  assert heading.startswith("t\n") and "per unit of the [-1, 1] coordinate" in heading
  assert heading.endswith(note)
  assert any("per unit coordinate" in ax.get_ylabel() for ax in drawn[0].axes)  # the colour bars
