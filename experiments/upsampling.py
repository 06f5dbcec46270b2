"""Upsampling: fit a SIREN to an image downsampled by 2 and 4, render it at full resolution and
compare PSNR / SSIM with Pillow's nearest and bicubic upsampling of the same low-res image.

    python -m experiments.upsampling --workdir=runs/upsampling [--images=camera,kodim23,tiny] \\
        --factors=2,4 --steps=300 \\
        --variants=default,model.first_omega_0=15,model.first_omega_0=10,model.depth=1,model.width=64

(those are also the defaults). Writes table.md, table.json and one figure per image (<image>.png: a
crop of ground truth, nearest, bicubic and every SIREN variant, one row per factor) to --workdir. Every
fit is a normal run directory (<case>/siren_<variant>/, with upsampled.png, its full-resolution render),
so it can be inspected, rendered or resumed; re-running the command skips completed fits and only
recomputes the table and figures. A finished fit of another config is refused; a larger --steps continues
the finished fits from their last checkpoint, as siren_jax.sweep does (a new --workdir starts afresh).
A fit that diverges is a "diverged" row (it is retried on the next run).

Cases (each image x each factor):
* ``camera`` and other scikit-image built-ins or file paths: ground truth = the image with its shorter
  side resized to --size (default 256, so cameraman is fitted at 128x128 and 64x64). --size=512 keeps
  cameraman native, the public re-implementation's 256 -> 512 setting (31.8 dB against bicubic's
  33.2 dB); its factor-2 fit is then 256x256 (minibatches of 24576 pixels, ~1.5x the step time).
* ``kodimNN``: ground truth at the native size (512x768, HxW, for kodim23) or with the shorter side at
  --kodak_size.
* ``tiny``: the CIFAR-like case, where the *input* is --tiny_input (32) pixels square: ground truth is
  --tiny_source (astronaut, squashed to a square if it is not one) at 32·factor pixels square, so
  factor 2 compares 64x64 renders and factor 4 128x128 ones.
Ground truths are cropped (centred) to a multiple of every factor, so one image has one ground truth
across factors (the ``tiny`` case excepted: its ground truth grows with the factor).

Protocol. Everything is 8-bit, as images on disk are: the ground truth is quantised to uint8; the low-res
input is the ground truth resized by Pillow bicubic with antialiasing in float (``data.load_image``'s
path) and quantised to uint8 (``<case>/input.png``); nearest and bicubic upsample that uint8 image with
Pillow; the SIREN is fitted to the same PNG (config ``data.image``) and rendered to uint8 at the ground
truth's size (``image_render.render_array``, as a saved PNG would be). PSNR (``metrics.psnr``) and SSIM
(``skimage.metrics.structural_similarity``, data_range 1, 7x7 uniform window, channels averaged) are
against the 8-bit ground truth. Pillow and siren_jax share the pixel-centre convention (pixel i of n at
(2i + 1)/n - 1 on [-1, 1]), so all methods sample the same image extent; tests/test_upsampling.py
checks that on a linear ramp.

Variants (--variants): ``default`` is configs/default.py's recipe (omega_0 = 30, 3x256, Adam 1.5e-3 with
cosine decay, batches of 24576 pixels or the whole image when it is smaller) for --steps steps; any
other variant is that recipe with config overrides, ``FIELD=VALUE`` joined by ``+``, e.g.
``model.first_omega_0=10+model.depth=1`` or ``train.num_steps=100`` (early stopping). A derivative
regulariser is not offered: ``train.supervision`` Laplacian and gradient terms take their targets from
the low-res image's finite differences, which is supervision at the input pixels, not a smoothness
prior; a proper one (e.g. |Laplacian|^2 towards 0 at off-grid points) needs a new loss term.

Run time of the command above on the project's 2-core CPU: an estimate, extrapolated, not measured. A
3x256 training step costs ~11 us a pixel (benchmarks/RESULTS.md: 731 ms for a 65,536-pixel step), so
0.18 s for the 128x128 cameraman input, 0.046 s at 64x64, 0.27 s for kodim23's 24576-pixel batches (x2:
minibatches of its 384x256 input; x4: its whole 192x128 input) and ~0.01 s for the 32x32 inputs: ~0.8 s
a step over the six cases, ~4 min for 300 steps. The two omega_0 variants cost the same, depth=1 about
0.4x (one hidden matmul instead of three) and width=64 about 0.15x: ~14 min of training for the 30
fits. Each fit adds a fixed ~6-12 s (compilation, evaluations, the run's plots, the render; measured on
tiny 2x32 fits here, with another job on the CPU), ~4-6 min in all: about 20 min on a quiet machine,
longer if the CPU is shared. Re-running after a finished run takes ~1 min (renders, tables, figures).

This module builds the cases, fits and scores the SIRENs and holds the command line; table.md,
table.json and the figures are experiments/upsampling_tables.py's (two modules: each under 400 lines).
"""

import copy
import dataclasses
import json
import math
import os
import re
import shlex
import sys
import time
from typing import Dict, List, Sequence, Tuple

# Not this folder on the path: its compression.py would shadow Python 3.14's stdlib `compression`
# package, which jax imports; the repository root instead.

import numpy as np
from absl import flags, logging
from PIL import Image

from experiments import upsampling_tables as tables
from siren_jax import cli, configuration, sweep
from siren_jax.engine import metrics, train, trained
from siren_jax.errors import UserError
from siren_jax.io import outputs
from siren_jax.signals.image import data, render as image_render

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line's flags, defined only when run as a program (as siren_jax/sweep.py does), so that
  importing this module (the tests, other experiments) leaves the importer's flags alone."""
  flags.DEFINE_list("images", [],
                    "Built-in names, kodimNN, file paths, or 'tiny' (the 32x32-input case). Default: "
                    "camera, kodim23 (when the Kodak directory is found) and tiny.")
  flags.DEFINE_list("factors", ["2", "4"], "Integer downsampling factors (>= 2).")
  flags.DEFINE_string("workdir", None, "Output directory (one subdirectory per case).")
  flags.DEFINE_list("variants", ["default", "model.first_omega_0=15", "model.first_omega_0=10",
                                 "model.depth=1", "model.width=64"],
                    "SIREN variants: 'default' or FIELD=VALUE overrides joined by '+'.")
  flags.DEFINE_integer("steps", 300, "Training steps of every fit (unless a variant sets them).")
  flags.DEFINE_integer("size", 256, "Shorter side of built-in / file ground truths (0 = native).")
  flags.DEFINE_integer("kodak_size", 0, "Shorter side of Kodak ground truths (0 = native).")
  flags.DEFINE_string("kodak_dir", "", "Where kodimNN.png live ('' = the default places).")
  flags.DEFINE_string("tiny_source", "astronaut", "Image behind the 'tiny' case.")
  flags.DEFINE_integer("tiny_input", 32, "Side of the 'tiny' case's low-res input.")
  flags.DEFINE_string("crop", "0.25,0.75,0.25,0.75",
                      "Figure crop y0,y1,x0,x1 as fractions of the image ('tiny' is shown whole).")


BASELINES = {"nearest": Image.Resampling.NEAREST, "bicubic": Image.Resampling.BICUBIC}
MIN_INPUT_SIDE = 4


@dataclasses.dataclass(frozen=True)
class Case:
  """One image at one factor: the 8-bit ground truth and the 8-bit low-res input, both (H, W, C)."""
  image: str  # as the table shows it
  label: str  # file-name form of the image (its figure is <label>.png)
  key: str  # subdirectory name: unique per image, sizes and factor
  source: str
  factor: int
  ground_truth: np.ndarray
  low: np.ndarray
  tiny: bool = False  # the CIFAR-like case: its figure shows whole images, not a crop


def parse_factors(values: Sequence[str]) -> List[int]:
  factors = []
  for v in values:
    try:
      f = int(str(v).strip())
    except ValueError:
      raise UserError(f"--factors: {v!r} is not an integer") from None
    if f < 2:
      raise UserError(f"--factors: a downsampling factor must be >= 2, got {f}")
    if f in factors:
      raise UserError(f"--factors: {f} given twice")
    factors.append(f)
  if not factors:
    raise UserError("--factors: give at least one factor")
  return factors


def _u8(pixels01: np.ndarray) -> np.ndarray:
  """(H, W, C) floats in [0, 1] -> uint8 (H, W, C), keeping the channel axis."""
  return np.round(np.clip(pixels01, 0.0, 1.0) * 255.0).astype(np.uint8)


def _unit(u8: np.ndarray) -> np.ndarray:
  return u8.astype(np.float32) / 255.0


def _as_hwc(arr: np.ndarray) -> np.ndarray:
  return arr[..., None] if arr.ndim == 2 else arr


def _save_png(path: str, u8: np.ndarray) -> None:
  outputs.write_png(path, _unit(u8))  # exact: to_uint8(u8 / 255) == u8


def _centre_crop(arr: np.ndarray, multiple: int) -> np.ndarray:
  h, w = arr.shape[:2]
  nh, nw = h - h % multiple, w - w % multiple
  top, left = (h - nh) // 2, (w - nw) // 2
  return arr[top:top + nh, left:left + nw]


def _shorter_side(spec: str, kodak_dir: str, side: int) -> Tuple[int, int]:
  """(height, width) arguments of ``load_image`` that make the shorter side ``side`` (0 = native). A
  ground truth is never upsampled: it would be a bicubic image, and bicubic would look better."""
  h, w, _ = data.load_image(spec, kodak_dir).shape
  if side > min(h, w):
    raise UserError(f"image {spec} is {h}x{w} (HxW): a ground truth with shorter side {side} would be "
                    f"upsampled; use a size of at most {min(h, w)} (0 = native)")
  if not side:
    return 0, 0
  return (side, 0) if h <= w else (0, side)


def downsample(ground_truth: np.ndarray, factor: int, scratch_png: str) -> np.ndarray:
  """The uint8 low-res input: the 8-bit ground truth resized by 1/factor exactly as ``data.load_image``
  resizes a file (Pillow bicubic, antialiased, in float), then quantised."""
  h, w, _ = ground_truth.shape
  _save_png(scratch_png, ground_truth)
  return _u8(data.load_image(scratch_png, height=h // factor, width=w // factor).pixels)


def make_case(spec: str, factor: int, factors: Sequence[int], workdir: str, size: int = 256,
              kodak_size: int = 0, kodak_dir: str = "", tiny_source: str = "astronaut",
              tiny_input: int = 32) -> Case:
  """Loads ``spec``'s ground truth for ``factor`` and writes the case's ground_truth.png and input.png."""
  if spec == "tiny":
    side = tiny_input * factor
    _shorter_side(tiny_source, kodak_dir, side)  # refuses an upsampled ground truth
    gt = _u8(data.load_image(tiny_source, kodak_dir, side, side).pixels)
    image, source = f"tiny ({tiny_source})", tiny_source
  else:
    sizes = _shorter_side(spec, kodak_dir, kodak_size if spec in data.KODAK_NAMES else size)
    loaded = data.load_image(spec, kodak_dir, *sizes)
    gt = _centre_crop(_u8(loaded.pixels), math.lcm(*factors))
    image, source = loaded.name, loaded.source
  h, w, _ = gt.shape
  if min(h, w) // factor < MIN_INPUT_SIDE:
    raise UserError(f"image {spec} at {h}x{w} (HxW) downsampled by {factor} leaves fewer than "
                    f"{MIN_INPUT_SIDE}x{MIN_INPUT_SIDE} pixels; use a smaller factor or a larger size")
  label = re.sub(r"[^A-Za-z0-9_.-]", "_", "tiny-" + tiny_source if spec == "tiny" else image)
  key = f"{label}_{h}x{w}_x{factor}"  # HxW, rows first like every size siren_jax prints
  case_dir = os.path.join(workdir, key)
  low = downsample(gt, factor, os.path.join(case_dir, "ground_truth.png"))
  _save_png(os.path.join(case_dir, "input.png"), low)
  return Case(image=image, label=label, key=key, source=source, factor=factor, ground_truth=gt, low=low,
              tiny=spec == "tiny")


def upsample_pillow(low: np.ndarray, height: int, width: int, method: str) -> np.ndarray:
  """Pillow's resampling of the uint8 low-res image to (height, width), per channel mode L / RGB."""
  img = Image.fromarray(low[..., 0] if low.shape[-1] == 1 else low)
  return _as_hwc(np.asarray(img.resize((width, height), BASELINES[method])))


def score(ground_truth: np.ndarray, pred: np.ndarray) -> Dict[str, float]:
  """PSNR and SSIM of a uint8 prediction against the uint8 ground truth, both on [0, 1] values."""
  from skimage.metrics import structural_similarity  # pylint: disable=g-import-not-at-top
  gt, p = _unit(ground_truth), _unit(pred)
  return {"psnr": metrics.psnr(p, gt),
          "ssim": float(structural_similarity(gt, p, data_range=1.0, channel_axis=-1))}


def base_config(steps: int):
  """configs/default.py's recipe for ``steps`` steps (schedule, learning rate, batch size as there)."""
  config = configuration.repo_config("default")
  config.train.num_steps = steps
  config.train.log_every = max(1, steps // 5)
  config.train.checkpoint_every = max(1, steps)
  return config


def _set_field(config, field: str, text: str) -> None:
  value = sweep.parse_value(text, sweep.field_type(config, field, "--variants:"), field, "--variants:")
  with config.unlocked():
    config.update_from_flattened_dict({field: value})


def parse_variants(specs: Sequence[str], base) -> List[Tuple[str, object]]:
  """(name, config) per variant: 'default' is ``base``; 'a.b=1+c.d=2' is ``base`` with those fields."""
  variants, dirs = [], set()
  for spec in specs:
    spec = spec.strip()
    config = copy.deepcopy(base)
    if spec != "default":
      for part in spec.split("+"):
        field, sep, value = part.partition("=")
        if not sep or not field.strip() or not value.strip():
          raise UserError(f"--variants: {part!r} in {spec!r} is not FIELD=VALUE (or use 'default')")
        _set_field(config, field.strip(), value)
    try:
      configuration.validate(config)
    except UserError as e:
      raise UserError(f"--variants {spec}: {e}") from None
    if config.model.kind != "siren":
      raise UserError(f"--variants {spec}: only SIREN variants (model.kind=siren) belong here")
    directory = run_dir_name(spec)
    if directory in dirs:
      raise UserError(f"--variants: {spec!r} given twice")
    dirs.add(directory)
    variants.append((spec, config))
  if not variants:
    raise UserError("--variants: give at least one variant")
  return variants


def run_dir_name(variant: str) -> str:
  return "siren_" + re.sub(r"[^A-Za-z0-9_.=+,-]", "_", variant)


def method_name(variant: str) -> str:
  return "SIREN " + re.sub(r"\b(model|train)\.", "", variant)


def fit_config(config, input_png: str, num_pixels: int):
  """The variant's config fitting ``input_png`` at its own size: full batch when it is no larger than
  one batch."""
  config = copy.deepcopy(config)
  with config.unlocked():
    config.data.image = os.path.abspath(input_png)
    config.data.height = config.data.width = 0
    if config.train.batch_size >= num_pixels:
      config.train.batch_size = 0
  return config


def fit_complete(run_dir: str, config) -> bool:
  """True when ``run_dir`` holds a finished fit of ``config`` (any input path: the case directory fixes
  the input); a finished fit of another config is an error rather than a silently stale row."""
  if outputs.finished_run(run_dir, config.train.num_steps) is None:
    return False
  with open(os.path.join(run_dir, "config.json")) as f:
    saved = json.load(f)
  current = configuration.to_dict(config)
  current["data"]["image"] = saved.get("data", {}).get("image")
  configuration.check_resumable(saved, current)
  return True


def fit_and_render(case: Case, variant: str, config, case_dir: str) -> Dict:
  """Fits (or reuses) the variant on the case's input.png, renders it at the ground truth's size and
  scores it; returns the table row's SIREN fields."""
  h, w, _ = case.ground_truth.shape
  lh, lw, _ = case.low.shape
  run_dir = os.path.join(case_dir, run_dir_name(variant))
  config = fit_config(config, os.path.join(case_dir, "input.png"), lh * lw)
  t0 = time.perf_counter()
  reused = fit_complete(run_dir, config)
  summary = None
  if not reused:
    try:
      train.train_and_evaluate(config, run_dir)
    except UserError as e:  # one diverged fit is a result (a row), not the end of the experiment
      if not str(e).startswith(("loss became", "parameters became")):
        raise
      print(f"{case.key} {method_name(variant)}: diverged: {e}", file=sys.stderr, flush=True)
      summary = {"status": "diverged", "psnr": float("nan")}
  if summary is None:
    with open(os.path.join(run_dir, "summary.json")) as f:
      summary = json.load(f)
  if summary.get("status") == "diverged":
    result = {"psnr": float("nan"), "ssim": float("nan")}
    pred = None
  else:
    pred = _as_hwc(image_render.render_array(trained.load_run(run_dir), h, w))
    _save_png(os.path.join(run_dir, "upsampled.png"), pred)
    result = score(case.ground_truth, pred)
  print(f"{case.key} {method_name(variant)}: {'reused' if reused else 'fitted'} in "
        f"{time.perf_counter() - t0:.1f} s, fit {summary.get('psnr', float('nan')):.2f} dB on the input, "
        f"upsampled {result['psnr']:.2f} dB / SSIM {result['ssim']:.4f}", file=sys.stderr, flush=True)
  return dict(result, fit_psnr=summary.get("psnr"), steps=summary.get("steps"),
              train_seconds=summary.get("train_seconds"), status=summary.get("status", "done"),
              run_dir=os.path.relpath(run_dir, os.path.dirname(case_dir)), pred=pred)


def run_case(case: Case, variants: Sequence[Tuple[str, object]], workdir: str) -> List[Dict]:
  """Rows of one case: the two Pillow baselines, then every SIREN variant."""
  h, w, c = case.ground_truth.shape
  lh, lw, _ = case.low.shape
  case_dir = os.path.join(workdir, case.key)
  common = {"image": case.image, "source": case.source, "case": case.key, "factor": case.factor,
            "ground_truth_size": [h, w], "input_size": [lh, lw], "channels": c}
  rows = []
  for method in BASELINES:
    pred = upsample_pillow(case.low, h, w, method)
    _save_png(os.path.join(case_dir, f"{method}.png"), pred)
    rows.append(dict(common, method=method, **score(case.ground_truth, pred), fit_psnr=None,
                     steps=None, train_seconds=None, status="done", run_dir=None, pred=pred))
  for variant, config in variants:
    rows.append(dict(common, method=method_name(variant), variant=variant,
                     **fit_and_render(case, variant, config, case_dir)))
  bicubic = rows[1]["psnr"]
  for r in rows:
    r["psnr_vs_bicubic"] = r["psnr"] - bicubic
  return rows


def run_experiment(cases: Sequence[Case], variants: Sequence[Tuple[str, object]], base, workdir: str,
                   crop=(0.25, 0.75, 0.25, 0.75), command: str = "") -> List[Dict]:
  """Every case's rows, then table.md, table.json and one figure per image; returns the rows."""
  rows = [r for case in cases for r in run_case(case, variants, workdir)]
  tables.write_outputs(workdir, rows, cases, variants, base, crop, command)
  return rows


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)
  factors = parse_factors(FLAGS.factors)
  if FLAGS.steps < 1:
    raise UserError(f"--steps must be >= 1, got {FLAGS.steps}")
  if FLAGS.size < 0 or FLAGS.kodak_size < 0 or FLAGS.tiny_input < MIN_INPUT_SIDE:
    raise UserError(f"--size and --kodak_size must be >= 0 and --tiny_input >= {MIN_INPUT_SIDE}")
  if not FLAGS.images:  # the default: the embedded images, and one Kodak image where there is Kodak
    FLAGS.images = ["camera"] + (["kodim23"] if data.resolve_kodak_dir(FLAGS.kodak_dir) else []) + ["tiny"]
  crop = tables.parse_crop(FLAGS.crop)
  base = base_config(FLAGS.steps)
  variants = parse_variants(FLAGS.variants, base)
  workdir = FLAGS.workdir
  if len(set(FLAGS.images)) != len(FLAGS.images):
    raise UserError(f"--images: an image is given twice in {','.join(FLAGS.images)}")
  # Every image is loaded (and every bad name reported) before the first fit starts.
  cases = [make_case(image, f, factors, workdir, FLAGS.size, FLAGS.kodak_size, FLAGS.kodak_dir,
                     FLAGS.tiny_source, FLAGS.tiny_input) for image in FLAGS.images for f in factors]
  keys = [c.key for c in cases]
  if len(set(keys)) != len(keys):
    raise UserError(f"--images: two images share a case directory name ({', '.join(keys)}); rename one")
  command = " ".join(shlex.quote(a) for a in ["python", "-m", "experiments.upsampling", *sys.argv[1:]])
  rows = run_experiment(cases, variants, base, workdir, crop, command)
  print("\n".join(tables.table_lines(rows, [])))


if __name__ == "__main__":
  define_flags()
  flags.mark_flag_as_required("workdir")
  cli.run(main)
