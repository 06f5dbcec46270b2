"""What a run fits: the image, the training targets its supervision needs, and what it is evaluated
against. A plain fit, a derivative-supervised fit and a Poisson blend differ only here."""

import dataclasses
from typing import Dict, Optional

import numpy as np

from siren_jax import data, supervision, targets
from siren_jax.errors import UserError


@dataclasses.dataclass
class FitData:
  name: str
  source: str
  reference01: np.ndarray  # (H, W, C) in [0, 1]: what PSNR compares against
  arrays: Dict[str, np.ndarray]  # flattened per-pixel training arrays (coords + targets)
  terms: Dict[str, float]  # supervision weights
  blend: Optional[dict] = None  # background, source (both [0, 1]), mask, for Poisson blending
  native_shape: tuple = ()  # the image's (H, W) before resizing

  @property
  def shape(self):
    return self.reference01.shape


def _load_mask(spec: str, height: int, width: int, max_pixels: int) -> np.ndarray:
  """"ellipse" (centred), "ellipse:cy,cx,ry,rx" (in [-1, 1] coordinates), or a mask image path."""
  if spec == "ellipse":
    return targets.ellipse_mask(height, width)
  if spec.startswith("ellipse:"):
    try:
      cy, cx, ry, rx = (float(v) for v in spec.split(":", 1)[1].split(","))
    except ValueError:
      raise UserError(f"data.blend_mask {spec!r}: expected ellipse:cy,cx,ry,rx") from None
    if ry <= 0 or rx <= 0:
      raise UserError(f"data.blend_mask {spec!r}: radii must be > 0")
    return targets.ellipse_mask(height, width, center=(cy, cx), radii=(ry, rx))
  mask = data.load_image(spec, height=height, width=width, max_pixels=max_pixels).pixels.mean(-1)
  return mask > 0.5


def prepare(config) -> FitData:
  d, t = config.data, config.train
  terms = supervision.parse(config.train.supervision)
  image = data.load_image(d.image, d.kodak_dir, d.height, d.width, d.max_pixels, d.resize)
  h, w, c = image.shape
  arrays = {"coords": data.grid_coords(h, w)}
  signed = data.to_signed(image.pixels)
  blend = None
  if d.blend_source:
    if set(terms) != {"gradient"}:
      raise UserError("Poisson blending (data.blend_source) needs train.supervision=gradient")
    src = data.load_image(d.blend_source, d.kodak_dir, h, w, d.max_pixels).pixels
    if src.shape[-1] != c:  # grey with colour: promote the grey one to 3 channels
      c = max(c, src.shape[-1])
      src, image_pixels = np.broadcast_to(src, (h, w, c)), np.broadcast_to(image.pixels, (h, w, c))
      signed = data.to_signed(np.ascontiguousarray(image_pixels))
    mask = _load_mask(d.blend_mask, h, w, d.max_pixels)
    if not mask.any():
      raise UserError(f"data.blend_mask {d.blend_mask!r} selects no pixel")
    arrays["gradient"] = targets.blended_gradient(signed, data.to_signed(np.asarray(src)), mask,
                                                  d.blend_mode, t.gradient_target).reshape(h * w, c, 2)
    background = data.to_unit(signed)
    naive = np.where(mask[..., None], src, background)
    blend = {"background": background, "source": np.asarray(src), "mask": mask, "naive": naive}
    reference = background
  else:
    reference = image.pixels
    if "values" in terms:
      arrays["values"] = signed.reshape(h * w, c)
    if "gradient" in terms:
      arrays["gradient"] = targets.gradient_target(signed, t.gradient_target).reshape(h * w, c, 2)
    if "laplacian" in terms:
      arrays["laplacian"] = targets.laplacian_target(signed, t.laplacian_target).reshape(h * w, c)
  return FitData(name=image.name, source=image.source, reference01=np.ascontiguousarray(reference),
                 arrays=arrays, terms=terms, blend=blend,
                 native_shape=image.native_shape)
