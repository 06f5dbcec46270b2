"""An inversion's outputs: velocity.png (true, starting and recovered velocity, the recovered one's
error and its change from the starting medium, with the sources, receivers, the PML's inner edge and the edge of the free medium marked),
fields.png (real part and magnitude of each source's fitted field), inversion.npz (the numbers),
curves.png and summary.json."""

import os
from typing import Any, Dict, Sequence

import numpy as np

from siren_jax.io import outputs, plots
from siren_jax.signals.pde.helmholtz import outputs as helmholtz_outputs


def _marks(ax, task, line: str = "k") -> None:
  """Sources (white triangles), receivers (green dots), the PML's inner edge (dashed) and the edge
  beyond which m is held at 1 (dotted)."""
  inner, fixed = 1.0 - task.loss.pml_width, task.loss.fixed_beyond
  ax.plot([-inner, inner, inner, -inner, -inner], [-inner, -inner, inner, inner, -inner], line + "--",
          lw=0.8)
  ax.plot([-fixed, fixed, fixed, -fixed, -fixed], [-fixed, -fixed, fixed, fixed, -fixed], line + ":",
          lw=0.8)
  s, r = task.survey.sources, task.survey.receivers
  ax.plot(s[:, 0], s[:, 1], "w^", ms=6, mec="k", mew=0.6)
  ax.plot(r[:, 0], r[:, 1], "o", ms=3, mfc="lime", mec="k", mew=0.4)


def write_velocity_figure(path: str, task, velocity: np.ndarray, summary: Dict[str, Any]) -> None:
  """One colour scale for the three velocity maps (the true one's range); the error, and the change
  from the starting medium, each on its own (a small change is invisible on the true one's scale)."""
  plt = plots.pyplot()
  n = task.eval_size
  lo, hi = float(task.true_velocity.min()), float(task.true_velocity.max())
  lo, hi = (lo - 0.5, hi + 0.5) if hi - lo < 1e-6 else (lo, hi)
  err = np.abs(velocity - task.true_velocity)
  change = velocity - task.start_velocity
  reach = max(float(np.abs(change[task.mask]).max()), 1e-12)
  panels = [(task.true_velocity, "true velocity", "viridis", lo, hi),
            (task.start_velocity, f"starting velocity (error {summary['initial_velocity_error']:.3g})",
             "viridis", lo, hi),
            (velocity, f"recovered velocity (error {summary['velocity_error']:.3g})", "viridis", lo, hi),
            (err, f"|recovered − true| (max in region {err[task.mask].max():.2g})", "inferno", 0.0,
             max(float(err[task.mask].max()), 1e-12)),
            (change, "recovered − starting (own scale: where the inversion moved)", "RdBu_r",
             -reach, reach)]
  fig, axes = plt.subplots(1, 5, figsize=(22.5, 4.8))
  for ax, (img, label, cmap, vmin, vmax) in zip(axes, panels):
    im = ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax, origin="lower", interpolation="nearest",
                   extent=helmholtz_outputs.extent(n))
    _marks(ax, task, "k" if cmap == "RdBu_r" else "w")  # visible on the map's background
    ax.set_title(label, fontsize=9)
    ax.set_axis_off()
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
  fig.suptitle(f"Full-waveform inversion, k = {task.loss.k:g}, after {summary.get('steps', '?')} "
               f"steps ({task.loss.pretrain_steps} pretrain). Triangles: sources; green dots: receivers; "
               "dashed: inner edge of the PML (error scored inside it); dotted: m held at 1 beyond",
               fontsize=10)
  fig.tight_layout()
  plots.save_figure(fig, path)


def write_fields_figure(path: str, task, fields: np.ndarray) -> None:
  """Real part (top) and magnitude (bottom) of each source's fitted field, one scale per source set
  by the physical region outside the source disks (the field peaks at its source)."""
  plt = plots.pyplot()
  s, n = fields.shape[0], task.eval_size
  grid = task.grid.reshape(n, n, 2)
  near = np.zeros((n, n), bool)
  for src in task.survey.sources:
    near |= np.hypot(grid[..., 0] - src[0], grid[..., 1] - src[1]) < task.loss.source_radius
  fig, axes = plt.subplots(2, s, figsize=(3.6 * s, 7), squeeze=False)
  for i, field in enumerate(fields):
    lim = max(float(np.percentile(np.abs(field[task.mask & ~near]), 99.5)), 1e-12)
    for row, (img, name, cmap, vmin) in enumerate([(field.real, "real", "RdBu_r", -lim),
                                                   (np.abs(field), "magnitude", "magma", 0.0)]):
      ax = axes[row, i]
      ax.imshow(img, cmap=cmap, vmin=vmin, vmax=lim, origin="lower", interpolation="nearest",
                extent=helmholtz_outputs.extent(n))
      _marks(ax, task, "w" if row else "k")
      ax.plot(*task.survey.sources[i], "r^", ms=8, mec="k", mew=0.6)
      ax.set_title(f"source {i}: {name}", fontsize=9)
      ax.set_axis_off()
  fig.suptitle("Fitted wavefields per source (red: the source firing; green: receivers); colour limits "
               "from the region inside the dashed PML edge, outside the source disks", fontsize=10)
  fig.tight_layout()
  plots.save_figure(fig, path)


def write_all(workdir: str, task, fit, rows: Sequence[dict], summary: Dict[str, Any]) -> Dict[str, Any]:
  path = lambda name: os.path.join(workdir, name)
  velocity, fields = fit.velocity, fit.fields
  write_velocity_figure(path("velocity.png"), task, velocity, summary)
  write_fields_figure(path("fields.png"), task, fields)
  with outputs.atomic_path(path("inversion.npz")) as tmp, open(tmp, "wb") as f:
    np.savez_compressed(f, velocity=velocity.astype(np.float32),
                        true_velocity=task.true_velocity.astype(np.float32),
                        start_velocity=task.start_velocity.astype(np.float32),
                        fields=fields.astype(np.complex64), scored=task.mask,
                        sources=task.survey.sources, receivers=task.survey.receivers,
                        data=task.survey.data.astype(np.complex64),
                        fitted_data=fit.at_receivers().astype(np.complex64))
  title = (f"Full-waveform inversion: velocity error {summary['velocity_error']:.3g} (starting medium "
           f"{summary['initial_velocity_error']:.3g}) after {summary.get('steps', '?')} steps")
  plots.write_curves(path("curves.png"), rows, title=title, loss_label="loss (mean)",
                       metric="velocity_error", metric_label="velocity relative L2 error")
  return summary
