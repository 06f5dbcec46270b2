"""The image task: what an image fit is trained on, how it is scored and what it writes. A plain fit,
a fit to gradients or Laplacians and a Poisson blend differ only here; the training loop
(``siren_jax.engine.run``) sees coordinates, targets and loss terms (``siren_jax.engine.task.Task``).

Coordinates are pixel centres in [-1, 1] (``data.grid_coords``), targets are on [-1, 1], and the
headline metric is PSNR under the protocol the supervision determines (``supervision``), or outside
the mask for a blend.
"""

import dataclasses
import os
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np

from siren_jax import configuration
from siren_jax.engine import metrics, supervision
from siren_jax.engine.task import Capabilities
from siren_jax.errors import UserError
from siren_jax.io import outputs, plots, progress
from siren_jax.signals.image import data, figures, targets

IN_FEATURES = 2  # (y, x)


@dataclasses.dataclass
class ImageTask(Capabilities):
  """An image to fit. ``arrays`` are the flattened per-pixel training arrays (``coords`` (N, 2) and the
  targets of ``terms``); ``reference01`` (H, W, C) in [0, 1] is what PSNR compares against."""
  name: str
  source: str
  reference01: np.ndarray
  arrays: Dict[str, np.ndarray]
  terms: Dict[str, float]
  crop_border: int = 0
  gradient_target: str = "sobel"
  laplacian_target: str = "5point"
  blend: Optional[dict] = None  # background, source (both [0, 1]), mask, naive paste
  native_shape: tuple = ()  # the image's (H, W) before resizing

  @property
  def shape(self):
    return self.reference01.shape

  @property
  def out_features(self) -> int:
    return self.shape[-1]

  @property
  def grid_shape(self) -> tuple:
    return self.shape[:2]

  @property
  def headline_name(self) -> str:
    return "psnr_outside_mask" if self.blend is not None else supervision.headline_protocol(self.terms)

  def describe(self) -> str:
    h, w, c = self.shape
    resized = (f" (resized from {self.native_shape[0]}x{self.native_shape[1]})"
               if self.native_shape not in ((), (h, w)) else "")
    return f"image {self.name} ({self.source}): {h}x{w} (HxW){resized}, {c} channel(s)"

  def prediction(self, values: np.ndarray) -> np.ndarray:
    """The network's flat output at ``arrays["coords"]`` as an unclipped (H, W, C) image in [0, 1]."""
    return data.to_unit(values.reshape(self.shape))

  def headline(self, pred01: np.ndarray) -> float:
    if self.blend is not None:
      return blend_psnr_outside(pred01, self.blend, self.crop_border)
    protocol = supervision.headline_protocol(self.terms)
    return metrics.psnr(supervision.aligned(pred01, self.reference01, protocol), self.reference01,
                        self.crop_border)

  def summary_fields(self) -> Dict[str, Any]:
    h, w, c = self.shape
    return {"image": self.name, "source": self.source, "height": h, "width": w, "channels": c,
            "supervision": self.terms, "psnr_protocol": self.headline_name,
            "psnr_crop_border": self.crop_border}

  def finish(self, workdir: str, pred01: np.ndarray, rows: Sequence[dict], summary: Dict[str, Any],
             render_derivatives: Callable) -> Dict[str, Any]:
    """Final metrics into ``summary`` and the image outputs into ``workdir``.
    ``render_derivatives()`` gives the network's (values, |gradient|, Laplacian) at the pixels."""
    shown = self._final_metrics(workdir, pred01, summary)
    outputs.write_png(os.path.join(workdir, "reconstruction.png"), shown)
    outputs.write_png(os.path.join(workdir, "original.png"), self.reference01)
    if self.blend is not None:  # the background is the reference only outside the mask
      figures.write_error_heatmap(os.path.join(workdir, "error.png"), shown, self.reference01,
                                  compared="blend − background", mask=self.blend["mask"])
    else:
      figures.write_error_heatmap(os.path.join(workdir, "error.png"), shown, self.reference01)
    terms = " + ".join(f"{w:g}·{name}" if w != 1 else name for name, w in self.terms.items())
    plots.write_curves(os.path.join(workdir, "curves.png"), rows,
                         title=f"{self.name}: {summary['psnr']:.2f} dB ({summary['psnr_protocol']}) "
                               f"after {summary['steps']} steps",
                         loss_label=f"training loss (MSE of {terms})")
    h, w, c = self.shape
    with progress.phase(f"derivatives.png: the network's gradient and Laplacian at {h}x{w} pixels"):
      _, grad_mag, lap = render_derivatives()
      image01, grad_ref, lap_ref, top_titles = panel_targets(self)
      figures.write_derivative_panel(
          os.path.join(workdir, "derivatives.png"), image01, shown, grad_ref, grad_mag.reshape(h, w, c),
          lap_ref, lap.reshape(h, w, c), gradient_name=self.gradient_target,
          laplacian_name=self.laplacian_target, top_titles=top_titles,
          title=f"{self.name}: image, |gradient| and Laplacian, target (top) and network (bottom)",
          note=unsupervised_note(self.terms))
    return summary

  def _final_metrics(self, workdir: str, pred01: np.ndarray, summary: Dict[str, Any]) -> np.ndarray:
    """Every PSNR protocol into ``summary``; returns the image shown as the reconstruction."""
    if self.blend is not None:
      summary["psnr"] = summary["psnr_outside_mask"] = blend_psnr_outside(pred01, self.blend,
                                                                          self.crop_border)
      shown = blend_result(pred01, self.blend)
      figures.write_blend_panel(os.path.join(workdir, "blend.png"), self.blend, shown)
      return shown
    protocol = supervision.headline_protocol(self.terms)
    protocols = supervision.evaluate(pred01, self.reference01, self.crop_border)
    summary.update(protocols)
    summary["psnr_raw"] = protocols["psnr"]  # the reconstruction as it is, before any alignment
    summary["psnr"] = protocols[protocol]
    return np.clip(supervision.aligned(pred01, self.reference01, protocol), 0.0, 1.0)


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


def validate_config(config) -> None:
  """The image fields of ``config.data`` (one-line UserError)."""
  d = config.data
  if not (d.height >= 0 and d.width >= 0):
    raise UserError("data.height and data.width must be >= 0 (0 = native size)")
  if d.get("resize", "exact") not in data.RESIZE_MODES:
    raise UserError(f"data.resize must be one of {data.RESIZE_MODES}, got {d.get('resize')!r}")
  if d.max_pixels < 4:
    raise UserError(f"data.max_pixels must be >= 4, got {d.max_pixels}")
  if d.blend_mode not in ("replace", "mixed"):
    raise UserError(f"data.blend_mode must be 'replace' or 'mixed', got {d.blend_mode!r}")
  t = config.train
  if t.gradient_target not in targets.GRADIENT_TARGETS:
    raise UserError(f"train.gradient_target must be one of {tuple(targets.GRADIENT_TARGETS)}, got "
                    f"{t.gradient_target!r}")
  if t.laplacian_target not in targets.LAPLACIAN_TARGETS:
    raise UserError(f"train.laplacian_target must be one of {tuple(targets.LAPLACIAN_TARGETS)}, got "
                    f"{t.laplacian_target!r}")
  if config.eval.crop_border < 0:
    raise UserError(f"eval.crop_border must be >= 0, got {config.eval.crop_border}")


def check_loaded(config, task: ImageTask, num_devices: int) -> None:
  """Checks that depend on the loaded image and the machine."""
  h, w, _ = task.shape
  c = config.eval.crop_border
  if 2 * c >= min(h, w):
    raise UserError(f"eval.crop_border={c} leaves nothing of a {h}x{w} (HxW) image")
  configuration.check_batch(config, h * w, num_devices)


def prepare(config) -> ImageTask:
  """The task ``config.data`` and ``config.train.supervision`` describe (one-line errors)."""
  d, t = config.data, config.train
  terms = supervision.parse(t.supervision)
  image = data.load_image(d.image, d.kodak_dir, d.height, d.width, d.max_pixels, d.resize)
  h, w, c = image.shape
  arrays = {"coords": data.grid_coords(h, w)}
  signed = data.to_signed(image.pixels)
  blend = None
  if d.blend_source:
    reference, blend = _blend(config, terms, image, arrays)
  else:
    reference = image.pixels
    if "values" in terms:
      arrays["values"] = signed.reshape(h * w, c)
    if "gradient" in terms:
      arrays["gradient"] = targets.gradient_target(signed, t.gradient_target).reshape(h * w, c, 2)
    if "laplacian" in terms:
      arrays["laplacian"] = targets.laplacian_target(signed, t.laplacian_target).reshape(h * w, c)
  return ImageTask(name=image.name, source=image.source, reference01=np.ascontiguousarray(reference),
                   arrays=arrays, terms=terms, crop_border=config.eval.crop_border,
                   gradient_target=t.gradient_target, laplacian_target=t.laplacian_target,
                   blend=blend, native_shape=image.native_shape)


def _blend(config, terms, image, arrays):
  """Poisson blending: the composite gradient target into ``arrays``; returns (reference, blend)."""
  d = config.data
  h, w, c = image.shape
  if set(terms) != {"gradient"}:
    raise UserError("Poisson blending (data.blend_source) needs train.supervision=gradient")
  signed = data.to_signed(image.pixels)
  src = data.load_image(d.blend_source, d.kodak_dir, h, w, d.max_pixels).pixels
  if src.shape[-1] != c:  # grey with colour: promote the grey one to 3 channels
    c = max(c, src.shape[-1])
    src, image_pixels = np.broadcast_to(src, (h, w, c)), np.broadcast_to(image.pixels, (h, w, c))
    signed = data.to_signed(np.ascontiguousarray(image_pixels))
  mask = _load_mask(d.blend_mask, h, w, d.max_pixels)
  if not mask.any():
    raise UserError(f"data.blend_mask {d.blend_mask!r} selects no pixel")
  arrays["gradient"] = targets.blended_gradient(signed, data.to_signed(np.asarray(src)), mask,
                                                d.blend_mode, config.train.gradient_target
                                                ).reshape(h * w, c, 2)
  background = data.to_unit(signed)
  naive = np.where(mask[..., None], src, background)
  return background, {"background": background, "source": np.asarray(src), "mask": mask,
                      "naive": naive}


def unsupervised_note(terms: Dict[str, float]) -> str:
  """What derivatives.png shows that the loss never saw (empty when both derivatives were trained)."""
  missing = [name for name in ("gradient", "laplacian") if name not in terms]
  if not missing:
    return ""
  what = " and ".join({"gradient": "gradient", "laplacian": "Laplacian"}[m] for m in missing)
  return (f"Not supervised: this run's loss never saw the {what} (supervision "
          f"{', '.join(terms)}); the network's {what} is whatever fitting the rest left")


def panel_targets(fit):
  """(image, |gradient|, Laplacian, top-row titles or None) for derivatives.png's top row: the run's
  own targets (the ones it fits, or would fit, under gradient or Laplacian supervision), so the two rows
  compare like with like. A Poisson blend trains on a composite gradient field that no image has: the
  row shows that field's magnitude, its divergence (the Laplacian the fit approaches) and the
  copy-paste composite, not the background's."""
  h, w, c = fit.shape
  if fit.blend is not None:
    field = fit.arrays["gradient"].reshape(h, w, c, 2)
    return (fit.blend["naive"], np.sqrt(np.sum(field ** 2, axis=-1)), targets.divergence(field),
            ["copy-paste (not a target)", f"trained on: blended |gradient| ({fit.gradient_target})",
             "divergence of the blended gradient"])
  ref_signed = data.to_signed(fit.reference01)
  return (fit.reference01,
          np.sqrt(np.sum(targets.gradient_target(ref_signed, fit.gradient_target) ** 2, axis=-1)),
          targets.laplacian_target(ref_signed, fit.laplacian_target), None)


def blend_result(pred01: np.ndarray, blend: dict) -> np.ndarray:
  """The blend, offset so it matches the background outside the mask (gradients fix it up to a
  constant), clipped to [0, 1]."""
  outside = ~blend["mask"]
  offset = (blend["background"][outside] - pred01[outside]).mean(axis=0)
  return np.clip(pred01 + offset, 0.0, 1.0)


def blend_psnr_outside(pred01: np.ndarray, blend: dict, crop_border: int = 0) -> float:
  """How faithfully the blend keeps the background where it should: PSNR outside the mask."""
  result = blend_result(pred01, blend)
  outside = ~blend["mask"]
  if crop_border:
    outside = outside.copy()
    outside[:crop_border] = outside[-crop_border:] = False
    outside[:, :crop_border] = outside[:, -crop_border:] = False
  return metrics.psnr(result[outside], blend["background"][outside])
