"""A sweep's figures (PNG, ``siren_jax.io.plots``): a heatmap of the headline over two swept fields (one
panel per value of the others), and the headline against one swept field."""

import itertools
import os
from typing import Optional

import numpy as np

from siren_jax.io import plots
from siren_jax.io.outputs import read_jsonl


def _heatmap(ax, grid, rows, cols, row_field, col_field, title="", clim=None, marks=()):
  """PSNR grid with every cell's value written in it (diverged cells say so, and the (row, col) cells
  in ``marks``, points that did not learn, are hatched and say so). ``clim`` (low, high) fixes the
  colour scale, so several panels can share one; by default it spans this grid."""
  finite = grid[np.isfinite(grid)]
  if clim is None:
    clim = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
  im = ax.imshow(grid, cmap="viridis", aspect="auto", vmin=clim[0], vmax=clim[1])
  ax.set_xticks(range(len(cols)), [str(v) for v in cols])
  ax.set_yticks(range(len(rows)), [str(v) for v in rows])
  ax.set_xlabel(col_field)
  ax.set_ylabel(row_field)
  if title:
    ax.set_title(title, fontsize=9)
  mid = 0.5 * (clim[0] + clim[1])  # dark cells (low end of viridis) get white text
  for i in range(len(rows)):
    for j in range(len(cols)):
      text = "diverged" if not np.isfinite(grid[i, j]) else f"{grid[i, j]:.1f}"
      if (i, j) in marks:
        text += f"\n{NOT_LEARNED}"
        ax.add_patch(plots.pyplot().Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//",
                                         edgecolor="red", linewidth=0))
      ax.text(j, i, text, ha="center", va="center", fontsize=8,
              color="white" if not np.isfinite(grid[i, j]) or grid[i, j] < mid else "black")
  return im


MAX_HEATMAP_PANELS = 12


NOT_LEARNED = "not learned"  # a sweep point's status when it ended near its step-0 headline


def numeric_axis(values) -> Optional[str]:
  """How to space swept values on an x axis: "log" (positive numbers spanning a factor of 4 or more:
  omega_0 10, 30, 90; learning rates), "linear" (other numbers), or None (categories: names, bools)."""
  if not values or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
    return None
  if min(values) > 0 and max(values) >= 4 * min(values):
    return "log"
  return "linear"


def _one_axis_plot(path: str, field: str, values, headline: dict, stuck: set, label: str,
                   title: str) -> None:
  """The final headline against the one swept field, its values placed by number (on a log axis when
  they span a wide range) and labelled as given; points that did not learn drawn as red crosses."""
  plt = plots.pyplot()
  fig, ax = plt.subplots(figsize=(6, 4))
  scale = numeric_axis(values)
  xs = list(values) if scale else list(range(len(values)))
  ax.plot(xs, [headline[(v,)] for v in values], "o-")
  bad = [(x, headline[(v,)]) for x, v in zip(xs, values) if (v,) in stuck]
  if bad:
    ax.plot(*zip(*bad), "x", color="red", markersize=10, mew=2, label=NOT_LEARNED)
    ax.legend(fontsize=8)
  if scale == "log":
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(_plain_formatter(""))
  ax.set_xticks(xs, [str(v) for v in values])
  ax.set_xlabel(field + (" (log scale)" if scale == "log" else ""))
  ax.set_ylabel(f"final {label}")
  ax.grid(True, alpha=0.3)
  plots.suptitle(fig, title)
  plots.save_figure(fig, path)


def _plain_formatter(text: str):
  from matplotlib import ticker  # pylint: disable=g-import-not-at-top
  return ticker.FuncFormatter(lambda value, pos: text)


def write_sweep_plots(workdir: str, axes, results, title: str = "", metric: str = "psnr",
                      label: str = "PSNR (dB)") -> None:
  """psnr.png (one swept axis) or heatmap.png (the first two axes; with more, one panel per combination
  of the others, up to MAX_HEATMAP_PANELS), and curves.png: every point's PSNR vs step, from step 0.
  ``title`` (what the points share: image, steps, recipe) heads each figure. ``metric`` is the
  results' and rows' key of the headline (and the name of its one-axis plot), ``label`` its name on
  the axes. Points that did not learn (status ``NOT_LEARNED``) are marked in each figure."""
  plt = plots.pyplot()
  fields = [f for f, _ in axes]
  psnr = {tuple(r[f] for f in fields): (r[metric] if r["status"] in ("done", NOT_LEARNED)
                                        else float("nan")) for r in results}
  stuck = {tuple(r[f] for f in fields) for r in results if r["status"] == NOT_LEARNED}
  if len(axes) == 1:
    (field, values), = axes
    _one_axis_plot(os.path.join(workdir, f"{metric}.png"), field, values, psnr, stuck, label, title)
  else:
    (f0, v0), (f1, v1) = axes[:2]
    rest = list(itertools.product(*[values for _, values in axes[2:]]))
    if len(rest) <= MAX_HEATMAP_PANELS:
      grids = [np.array([[psnr[(a, b) + extra] for b in v1] for a in v0], dtype=float) for extra in rest]
      finite = np.concatenate([g[np.isfinite(g)] for g in grids])
      ncol = min(len(rest), 3)
      nrow = -(-len(rest) // ncol)
      fig, axs = plt.subplots(nrow, ncol, squeeze=False,
                              figsize=(ncol * (1.2 * len(v1) + 2.5), nrow * (0.8 * len(v0) + 1.8)))
      clim = (float(finite.min()), float(finite.max())) if finite.size else None  # shared by all
      for ax, grid, extra in zip(axs.flat, grids, rest):
        panel = ", ".join(f"{f}={v}" for (f, _), v in zip(axes[2:], extra))
        marks = {(i, j) for i, a in enumerate(v0) for j, b in enumerate(v1) if (a, b) + extra in stuck}
        im = _heatmap(ax, grid, v0, v1, f0, f1, panel, clim, marks)
        if ax not in axs[:, 0]:
          ax.set_ylabel("")  # the rows are the same in every panel; their label stays at the left
      for ax in list(axs.flat)[len(rest):]:
        ax.axis("off")
      fig.colorbar(im, ax=axs, label=f"final {label}")
      plots.suptitle(fig, title)
      plots.save_figure(fig, os.path.join(workdir, "heatmap.png"))
  fig, ax = plt.subplots(figsize=(8, 5))
  colours = plt.get_cmap("tab10" if len(results) <= 10 else "tab20")
  styles = ["-", "--", ":", "-."]  # beyond 20 points colours repeat; the line style tells them apart
  for i, r in enumerate(results):
    rows = read_jsonl(os.path.join(workdir, r["point"], "metrics.jsonl"))
    rows = [row for row in rows if "step" in row and plots.finite(row.get(metric))]
    if rows:
      name = r["point"] + (f" ({NOT_LEARNED})" if r["status"] == NOT_LEARNED else "")
      ax.plot([row["step"] for row in rows], [float(row[metric]) for row in rows], label=name,
              color=colours(i % colours.N), linestyle=styles[(i // colours.N) % len(styles)])
  ax.set_xlabel("step")
  ax.set_ylabel(label)
  ax.grid(True, alpha=0.3)
  if len(results) <= 20:
    ax.legend(fontsize=7, ncol=2)
  plots.suptitle(fig, title)
  plots.save_figure(fig, os.path.join(workdir, "curves.png"))
