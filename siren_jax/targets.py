"""Derivative targets computed from an image, in the same units as the network's input derivatives.

The network maps [-1, 1] coordinates to [-1, 1] values, and one pixel step along an axis of ``n`` pixels
is ``2/n`` in coordinates. A per-pixel finite difference is therefore scaled by ``n/2`` (first order)
or ``(n/2)^2`` (second order). The official SIREN code instead multiplies by fixed factors (Sobel x10,
Laplacian x1e4) that depend on its array layout. Axes are (y, x), as everywhere in siren_jax.

* gradient: Sobel. It is a central difference smoothed by [1, 2, 1]/4 across the other axis, as in the
  paper.
* Laplacian: the 5-point stencil.

Borders use edge replication, so both targets are defined at every pixel.
"""

import numpy as np


def _pad(img: np.ndarray) -> np.ndarray:
  return np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")


def image_gradient(values: np.ndarray) -> np.ndarray:
  """(H, W, C) -> (H, W, C, 2): d/dy, d/dx per unit of the [-1, 1] coordinate (Sobel)."""
  h, w, _ = values.shape
  p = _pad(np.asarray(values, np.float64))
  smooth_x = (p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]) / 4.0  # (H+2, W, C)
  smooth_y = (p[:-2] + 2 * p[1:-1] + p[2:]) / 4.0  # (H, W+2, C)
  dy = (smooth_x[2:] - smooth_x[:-2]) / 2.0 * (h / 2.0)
  dx = (smooth_y[:, 2:] - smooth_y[:, :-2]) / 2.0 * (w / 2.0)
  return np.stack([dy, dx], axis=-1).astype(np.float32)


def image_laplacian(values: np.ndarray) -> np.ndarray:
  """(H, W, C) -> (H, W, C): the 5-point Laplacian per unit of the [-1, 1] coordinate squared."""
  h, w, _ = values.shape
  p = _pad(np.asarray(values, np.float64))
  c = p[1:-1, 1:-1]
  d2y = (p[2:, 1:-1] - 2 * c + p[:-2, 1:-1]) * (h / 2.0) ** 2
  d2x = (p[1:-1, 2:] - 2 * c + p[1:-1, :-2]) * (w / 2.0) ** 2
  return (d2y + d2x).astype(np.float32)


def ellipse_mask(height: int, width: int, center=(0.0, 0.0), radii=(0.45, 0.35)) -> np.ndarray:
  """(H, W) boolean ellipse in [-1, 1] coordinates (pixel centres), for Poisson blending."""
  from siren_jax.data import pixel_centres  # pylint: disable=g-import-not-at-top
  y, x = np.meshgrid(pixel_centres(height), pixel_centres(width), indexing="ij")
  return ((y - center[0]) / radii[0]) ** 2 + ((x - center[1]) / radii[1]) ** 2 <= 1.0


def blended_gradient(background: np.ndarray, source: np.ndarray, mask: np.ndarray,
                     mode: str = "replace") -> np.ndarray:
  """The composite gradient field of Poisson image editing (Perez et al. 2003; SIREN Fig. 4).

  ``replace``: the source's gradient inside the mask, the background's outside. ``mixed``: inside the
  mask, whichever of the two gradients is larger at each pixel (keeps background texture).
  """
  g_bg, g_src = image_gradient(background), image_gradient(source)
  inside = mask[..., None, None]
  if mode == "replace":
    return np.where(inside, g_src, g_bg)
  if mode == "mixed":
    stronger = (np.sum(g_src ** 2, axis=-1, keepdims=True) > np.sum(g_bg ** 2, axis=-1, keepdims=True))
    return np.where(inside & stronger, g_src, g_bg)
  raise ValueError(f"unknown blend mode {mode!r}")
