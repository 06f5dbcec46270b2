"""A Helmholtz run's outputs: field.png (real part, imaginary part and magnitude of the fitted field
beside the reference and the error, the PML and the source disk outlined), field.npz (both complex
fields and the scored mask), curves.png and summary.json."""

import os
from typing import Any, Dict, Sequence

import numpy as np

from siren_jax.io import outputs, plots

PARTS = (("real", np.real), ("imaginary", np.imag), ("magnitude", np.abs))


def extent(n: int):
  """imshow's extent of an n x n grid of nodes from -1 to 1 (each pixel centred on its node)."""
  h = 1.0 / (n - 1)
  return (-1 - h, 1 + h, -1 - h, 1 + h)


def outline(ax, inner: float, source, radius: float) -> None:
  """The PML's inner edge (dashed) and the source disk, in (x, y) units."""
  ax.plot([-inner, inner, inner, -inner, -inner], [-inner, -inner, inner, inner, -inner], "w--",
          lw=0.8)
  theta = np.linspace(0, 2 * np.pi, 64)
  ax.plot(source[0] + radius * np.cos(theta), source[1] + radius * np.sin(theta), "w-", lw=0.6)


def write_field_figure(path: str, field: np.ndarray, reference: np.ndarray, mask: np.ndarray,
                       inner: float, source, radius: float, title: str) -> None:
  """Rows: real, imaginary, magnitude; columns: fit, reference (one colour scale per row, set by the
  reference in the scored region) and |fit - reference|."""
  plt = plots.pyplot()
  n = field.shape[0]
  fig, axes = plt.subplots(3, 3, figsize=(11, 10.5))
  for row, (name, part) in enumerate(PARTS):
    ref, fit = part(reference), part(field)
    lim = float(np.max(np.abs(ref[mask])))
    cmap, vmin = ("magma", 0.0) if name == "magnitude" else ("RdBu_r", -lim)
    err = np.abs(fit - ref)
    panels = [(fit, f"fit: {name}", cmap, vmin, lim), (ref, f"reference: {name}", cmap, vmin, lim),
              (err, f"|fit − reference| ({name}; max in region {err[mask].max():.2e})", "inferno",
               0.0, max(float(np.percentile(err[mask], 99.5)), 1e-12))]
    for col, (img, label, cm, lo, hi) in enumerate(panels):
      ax = axes[row, col]
      im = ax.imshow(img, cmap=cm, vmin=lo, vmax=hi, origin="lower", interpolation="nearest",
                     extent=extent(n))
      outline(ax, inner, source, radius)
      ax.set_title(label, fontsize=9)
      ax.set_axis_off()
      fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
  fig.suptitle(title + "\ndashed: inner edge of the PML (outside it the field is damped, not scored); "
               "circle: source disk (not scored)", fontsize=10)
  fig.tight_layout()
  plots.save_figure(fig, path)


def write_all(workdir: str, task, field: np.ndarray, rows: Sequence[dict],
              summary: Dict[str, Any]) -> Dict[str, Any]:
  p = task.problem
  path = lambda name: os.path.join(workdir, name)
  title = (f"Helmholtz, {p.velocity} medium, k = {p.k:g}: rel_l2 {summary['rel_l2']:.3g} against the "
           f"{task.reference_kind} after {summary.get('steps', '?')} steps")
  write_field_figure(path("field.png"), field, task.reference, task.mask, 1.0 - p.pml_width,
                     p.source_xy, task.loss.source_radius, title)
  with outputs.atomic_path(path("field.npz")) as tmp, open(tmp, "wb") as f:
    np.savez_compressed(f, field=field.astype(np.complex64), reference=task.reference.astype(
        np.complex64), scored=task.mask)
  plots.write_curves(path("curves.png"), rows, title=title, loss_label="loss (mean L1 residual)",
                       metric="rel_l2", metric_label="relative L2 error")
  return summary
