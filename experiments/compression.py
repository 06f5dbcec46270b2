"""Compression: SIRENs as image codecs against JPEG, WebP, JPEG 2000, AVIF and published INR codecs,
on one rate–distortion plot.

    python -m experiments.compression --workdir=runs/compression [--images=kodim01,kodim23]
        [--sizes=28x5,40x5,56x5,80x5] [--steps=1500] [--batch=16384] [--bits=8,6]
        [--pe_frequencies=0] [--qat_steps=200 --qat_bits=6] [--jpeg_qualities=...] [--webp_qualities=...]
        [--jp2_ratios=...] [--avif_qualities=...]

For every image and every SIREN size (WIDTHxDEPTH, depth = hidden layers as in ``model.depth``) the
script trains a normal run in ``WORKDIR/IMAGE/WxD[-peL]/`` (skipped when its summary.json says it finished
the same config; a larger --steps continues it) and stores the trained weights with the codecs of
``siren_jax/io/quantize.py``: float32, float16, float16 + entropy coding, and for each --bits B, B-bit
uniform quantisation (a min/max grid per tensor; biases and the first layer's kernel stay float16,
which ``quantize.py`` explains and measures), alone and + entropy coding. Entropy coding is a generic
stdlib coder (LZMA2 or DEFLATE, whichever is shorter, else stored). Every size is the length of the
byte string that ``quantize.decode`` turns back into the rendered weights, its header (14 bytes, 15
with --pe_frequencies: architecture, image size, omega_0) included; kept in ``RUN/compressed/``.

Quantisation-aware choices. At equal bpp an 8-bit network has twice the parameters of a float16 one
(and a 6-bit one 2.7x), so the default sizes step the parameter count by about 2x: the 8-bit point of
each size lands at the bpp of the float16 point of the next, and the plot compares them directly.
--qat_steps > 0 adds a quantisation-aware fine-tune for each --qat_bits width B: rows "B-bit QAT". It
is a run of its own in ``RUN/finetune/from-step-S/qat-Bbit/`` trained by the project's loop from the
run's final weights (``train.init_from``) with the loss seeing the weights on the B-bit grid
(``train.qat_bits``, straight-through gradients): Adam, cosine decay from --qat_lr, batches of --batch
pixels. Those are extra training steps, so the same fine-tune without quantisation in the loop
(``.../plain/``), quantised afterwards, is the control: rows "B-bit +FT"; QAT's own gain is QAT minus
+FT. On by default (6 bits, 200 steps): on Kodak it made 6-bit QAT + entropy the best format at equal bpp.

Rate is bits per pixel, bpp = 8 * bytes / (H * W), COIN's convention (per pixel, not per channel
value). Distortion is PSNR (dB, ``siren_jax.engine.metrics.psnr``) of the decoded 8-bit image against the
original on [0, 1] over the whole image: the SIREN is rendered from the decoded weights and rounded to
8 bits, as a JPEG decoder's output is (summary.json's PSNR is of the unrounded output). The image
codecs come from Pillow on the same 8-bit image, sizes being the whole in-memory file, headers and
tables included: JPEG with Pillow's defaults (4:2:0 chroma subsampling, baseline, no Huffman
optimisation), WebP lossy with ``method=6`` (its slowest, best mode), JPEG 2000 (OpenJPEG; the 9/7
wavelet with the colour transform, the bare codestream) at each --jp2_ratios compression ratio to the
raw 8-bit image (24 / ratio bpp for RGB), AVIF (libavif, 4:2:0, speed 6) at each --avif_qualities. A
codec this Pillow cannot encode (JPEG 2000 and AVIF are optional in Pillow) is skipped with a logged
note, and table.md's header names it.

Writes to --workdir: ``table.md`` and ``table.json`` (every row per image, and the mean over images per
method and size or quality; for each SIREN point the PSNR difference to JPEG and WebP at the same
bpp, read off their curves by linear interpolation in log bpp), ``rd.png`` (mean bpp against mean PSNR
of the SIREN formats and the image codecs; what it leaves off, such as codec points beyond its x range,
is listed under it), and each run's ``compression.json`` (its rows plus the image codecs on its image),
which ``siren_jax.report`` shows as a table. The published curves of experiments/compression_references.py
(COIN, COIN++, Strümpler et al. 2022 basic and meta-learned, with their sources) are Kodak means, so
they are drawn, and COIN and Strümpler et al.'s basic method compared with ("vs COIN", "vs Strümpler
basic" columns), only when every image is a Kodak image; table.md lists them either way. When the
images are Kodak, the image codecs also run on all 24 Kodak images (--kodak_reference), which says how
the chosen subset compares with the full set that the published means are over.

COIN (Dupont et al. 2021: SIREN omega_0 = 30, float16 weights, 50k full-image steps at lr 2e-4) reports
Kodak means from 22.41 dB at 0.037 bpp to 30.64 dB at 1.209 bpp (24.64 dB at 0.160 bpp, 26.41 dB at
0.307 bpp, 28.41 dB at 0.611 bpp). The recipe here is the project's default (Adam 1.5e-3, cosine
decay to 1 %, random-pixel batches) for far fewer steps; it has not been tuned for these small
networks.

Its run time grows with the parameters times the batch pixels times the steps; the measured time of
the defaults is in benchmarks/RESULTS.md. Interrupted, the same command resumes (finished runs are
skipped, others continue from their last checkpoint).

This module fits the SIRENs, encodes and scores their weights and holds the command line;
experiments/compression_tables.py holds the image codecs, the mean rows, table.md and rd.png (two
modules, so that neither exceeds the codebase's 400 lines); experiments/compression_references.py the
published curves.
"""

import dataclasses
import json
import os
import re
import sys
import time
from typing import List, Sequence, Tuple

import ml_collections
import numpy as np
from absl import flags, logging

from experiments import compression_references as references
from experiments import compression_tables as tables
from siren_jax import cli, configuration
from siren_jax.engine import hyper, metrics, train, trained
from siren_jax.errors import UserError
from siren_jax.io import outputs, quantize
from siren_jax.nets import models
from siren_jax.signals.image import data, render as image_render

DEFAULT_KODAK = ("kodim01", "kodim23")
DEFAULT_SIZES = ("28x5", "40x5", "56x5", "80x5")

# Parsing ------------------------------------------------------------------------------------------


def parse_sizes(items: Sequence[str]) -> List[Tuple[int, int]]:
  """['40x5', ...] -> [(40, 5), ...]."""
  sizes = []
  for item in items:
    parts = str(item).lower().split("x")
    try:
      w, d = (int(p) for p in parts)
    except ValueError:
      raise UserError(f"--sizes: {item!r} is not WIDTHxDEPTH (e.g. 40x5)") from None
    if not (1 <= w <= 4096 and 1 <= d <= 255):
      raise UserError(f"--sizes: {item!r} needs 1 <= width <= 4096 and 1 <= depth <= 255")
    sizes.append((w, d))
  if not sizes:
    raise UserError("--sizes is empty")
  return sizes


def parse_ints(name: str, items: Sequence[str], lo: int, hi: int) -> List[int]:
  try:
    values = [int(v) for v in items]
  except ValueError:
    raise UserError(f"--{name} must be integers, got {','.join(items)}") from None
  bad = [v for v in values if not lo <= v <= hi]
  if bad:
    raise UserError(f"--{name} values must be in {lo}..{hi}, got {bad}")
  return values


def default_images(kodak_dir: str) -> List[str]:
  return list(DEFAULT_KODAK) if data.resolve_kodak_dir(kodak_dir) else ["camera"]


def siren_codecs(bits: Sequence[int]) -> List[quantize.Codec]:
  codecs = [quantize.Codec("float32"), quantize.Codec("float16"), quantize.Codec("float16", entropy=True)]
  for b in bits:
    codecs += [quantize.Codec("uniform", bits=b), quantize.Codec("uniform", bits=b, entropy=True)]
  return codecs


# ---------------------------------------------------------------------------------------------------
# One run: train, then compress


def run_config(image: str, width: int, depth: int, steps: int, batch: int, lr: float, omega_0: float,
               num_pixels: int, kodak_dir: str = "", seed: int = 0, pe_frequencies: int = 0):
  """The default config with this experiment's image, size and recipe (native resolution); a SIREN
  with an L-frequency positional encoding in front (siren_pe) for ``pe_frequencies`` L > 0."""
  config = configuration.repo_config("default")
  if pe_frequencies:
    config.model.kind, config.model.pe_frequencies = "siren_pe", pe_frequencies
  config.seed = seed
  config.data.image = image
  config.data.kodak_dir = kodak_dir
  config.data.height = config.data.width = 0
  config.model.width, config.model.depth, config.model.omega_0 = width, depth, omega_0
  config.train.num_steps = steps
  config.train.batch_size = batch if 0 < batch < num_pixels else 0
  config.train.learning_rate = lr
  config.train.log_every = max(1, steps // 4)
  config.train.checkpoint_every = max(1, steps)
  return config


def finished(config, workdir: str) -> bool:
  """Whether ``workdir`` holds a finished run of exactly ``config`` (then training is skipped)."""
  if outputs.finished_run(workdir, config.train.num_steps, allow_diverged=False) is None:
    return False
  try:
    with open(os.path.join(workdir, "config.json")) as f:
      saved = json.load(f)
  except (OSError, ValueError):
    return False
  current = configuration.to_dict(config)
  for d in (saved, current):
    d.get("data", {}).pop("kodak_dir", None)
  return saved == current


def make_render(run: trained.TrainedRun, height: int, width: int):
  """``params -> (H, W, C) uint8``: ``run``'s network with other weights, rendered on the training
  grid by ``image_render.render_array`` (the render command's own renderer)."""
  return lambda params: image_render.render_array(dataclasses.replace(run, params=params), height,
                                            width).reshape(height, width, -1)


def finetune_config(run: trained.TrainedRun, workdir: str, steps: int, lr: float, batch: int,
                    bits: int, seed: int):
  """``workdir``'s config as a fine-tune of its final weights: ``steps`` of Adam (cosine decay from
  ``lr`` to 1 %) on batches of ``batch`` pixels, the loss seeing the weights on the ``bits``-bit grid
  (QAT, ``train.qat_bits``) or, with 0, as they are (the control)."""
  config = ml_collections.ConfigDict(run.config.to_dict())
  t = config.train
  t.init_from, t.qat_bits = workdir, bits
  t.num_steps, t.learning_rate, t.schedule = steps, lr, "cosine"
  t.warmup_steps, t.final_lr_fraction = 0, 0.01
  t.batch_size = batch if 0 < batch < run.height * run.width else 0
  t.log_every, t.checkpoint_every = max(1, steps // 4), max(1, steps)
  config.seed = seed
  return config


def finetune(run: trained.TrainedRun, workdir: str, steps: int, lr: float, batch: int, bits: int,
             seed: int):
  """The fine-tuned weights, trained (or resumed, or reused) as a run of their own in
  ``workdir/finetune/from-step-S/{qat-Bbit,plain}`` by the project's training loop (S, the step it
  starts from, keeps a fine-tune of older weights from being reused when the run trains on)."""
  name = f"qat-{bits}bit" if bits else "plain"
  ft_dir = os.path.join(workdir, "finetune", f"from-step-{run.step}", name)
  train.train_and_evaluate(finetune_config(run, workdir, steps, lr, batch, bits, seed), ft_dir)
  return trained.load_run(ft_dir).params


def header_of(run: trained.TrainedRun, height: int, width: int) -> quantize.Header:
  m = run.config.model
  first_omega, hidden_omega = hyper.omegas(m)  # the one rule: each defaults to model.omega_0
  return quantize.Header(width=int(m.width), depth=int(m.depth), channels=run.channels,
                         height_px=height, width_px=width, first_omega_0=first_omega,
                         hidden_omega_0=hidden_omega, pe_frequencies=run.model.pe_frequencies)


def _slug(text: str) -> str:
  """'8-bit + entropy' -> '8_bit_entropy' (file names of the byte strings)."""
  return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def compress_run(workdir: str, pixels01: np.ndarray, codecs: Sequence[quantize.Codec],
                 qat_steps: int = 0, qat_bits: Sequence[int] = (), qat_lr: float = 1e-4,
                 qat_batch: int = 0, seed: int = 0, extra_rows: Sequence[dict] = ()) -> List[dict]:
  """Encodes ``workdir``'s trained SIREN with every codec, decodes each byte string, renders and
  scores it against ``pixels01``; writes the byte strings to ``workdir/compressed/`` and the rows (then
  ``extra_rows``, e.g. JPEG and WebP on the same image) to ``workdir/compression.json``."""
  run = trained.load_run(workdir)
  h, w, c = pixels01.shape
  if (run.height, run.width, run.channels) != (h, w, c):
    raise UserError(f"{workdir} was trained on a {run.height}x{run.width}x{run.channels} (HxWxC) image, "
                    f"not {h}x{w}x{c}")
  header = header_of(run, h, w)
  size = f"{header.width}x{header.depth}" + (f" PE{header.pe_frequencies}" if header.pe_frequencies else "")
  n_params = models.num_params(run.params)
  rendered = make_render(run, h, w)
  variants = [(codec, run.params, "") for codec in codecs]
  plain = None
  for bits in (sorted(set(qat_bits), reverse=True) if qat_steps > 0 else ()):
    t0 = time.perf_counter()
    codec = quantize.Codec("uniform", bits=bits)
    tuned = finetune(run, workdir, qat_steps, qat_lr, qat_batch, bits, seed)
    if plain is None:
      # The control: the same fine-tune without quantisation in the loop, quantised afterwards
      # ("+FT"), so that QAT's gain is not confused with the gain of qat_steps more training steps.
      plain = finetune(run, workdir, qat_steps, qat_lr, qat_batch, 0, seed)
    logging.info("%s: %d-bit QAT and control, %d steps, %.1f s", workdir, bits, qat_steps,
                 time.perf_counter() - t0)
    variants += [(codec, plain, " +FT"), (codec, tuned, " QAT"),
                 (dataclasses.replace(codec, entropy=True), tuned, " QAT")]
  rows = []
  for codec, params, tag in variants:
    blob = quantize.encode(params, codec, header)
    _, _, decoded = quantize.decode(blob, run.params)
    name = (codec.name.replace(" + entropy", "") + tag
            + (" + entropy" if codec.entropy else ""))
    path = os.path.join(workdir, "compressed", _slug(name) + ".bin")
    with outputs.atomic_path(path) as tmp, open(tmp, "wb") as f:
      f.write(blob)
    psnr = metrics.psnr(rendered(decoded) / 255.0, pixels01)
    rows.append({"method": f"SIREN {size} {name}", "bytes": len(blob),
                 "bpp": quantize.bits_per_pixel(len(blob), h, w), "psnr": psnr,
                 "family": f"SIREN {name}", "setting": size, "params": n_params})
  outputs.write_json(os.path.join(workdir, "compression.json"), rows + list(extra_rows))
  return rows


# ---------------------------------------------------------------------------------------------------


def _define_flags():
  """Flags exist only when this file runs as a program, so that tests can import it."""
  flags.DEFINE_list("images", None, "Images (built-in, kodimNN or paths); default "
                    f"{','.join(DEFAULT_KODAK)} when Kodak is present, else camera.")
  flags.DEFINE_string("kodak_dir", "", "Kodak directory (default: the usual places).")
  flags.DEFINE_string("workdir", None, "Output directory.")
  flags.DEFINE_list("sizes", list(DEFAULT_SIZES), "SIREN sizes, WIDTHxDEPTH (hidden layers).")
  flags.DEFINE_integer("steps", 1500, "Training steps per SIREN.")
  flags.DEFINE_integer("batch", 16384, "Random pixels per step (0 or >= the image = full).")
  flags.DEFINE_float("lr", 1.5e-3, "Peak Adam learning rate (cosine decay to 1 %).")
  flags.DEFINE_float("omega_0", 30.0, "SIREN omega_0 (COIN uses 30).")
  flags.DEFINE_integer("pe_frequencies", 0, "L > 0: a positional encoding of L frequencies in front of "
                       "each SIREN (model.kind=siren_pe, as Strümpler et al. 2022); 0: plain SIRENs.")
  flags.DEFINE_list("bits", ["8", "6"], "Bit widths of the uniform weight quantisation.")
  flags.DEFINE_integer("qat_steps", 200, "Quantisation-aware fine-tune steps (0 = off).")
  flags.DEFINE_list("qat_bits", ["6"], "Bit widths that get a quantisation-aware fine-tune.")
  flags.DEFINE_float("qat_lr", 1e-4, "Peak learning rate of the fine-tunes (cosine decay).")
  flags.DEFINE_list("jpeg_qualities", ["2", "5", "10", "20", "30", "50", "75", "90"], "JPEG qualities.")
  flags.DEFINE_list("webp_qualities", ["0", "5", "10", "20", "30", "50", "75", "90"], "WebP qualities.")
  # 24 / ratio bpp for RGB: 0.1 to 1.5 bpp (measured on the 24 Kodak images: 0.099 to 1.500), the
  # range of the SIRENs and the published curves.
  flags.DEFINE_list("jp2_ratios", ["16", "24", "32", "48", "64", "96", "128", "192", "240"],
                    "JPEG 2000 compression ratios to the raw 8-bit image (empty: no JPEG 2000).")
  # Measured on the 24 Kodak images: 0.069 to 1.24 bpp in the mean (0.046 to 2.34 per image).
  flags.DEFINE_list("avif_qualities", ["0", "10", "20", "30", "40", "50", "60", "70"],
                    "AVIF qualities (empty: no AVIF).")
  flags.DEFINE_bool("kodak_reference", True, "With Kodak images: the image codecs on all 24 Kodak images "
                    "too, to compare the subset with the full set.")
  flags.DEFINE_integer("seed", 0, "Seed of initialisation and batches.")


def _parse_flags(F):
  """(sizes, bits, qat_bits, codec sweeps) of the flags, every check before work; the sweeps are the
  keyword arguments of ``tables.image_codec_rows`` after the image."""
  sizes = parse_sizes(F.sizes)
  bits = parse_ints("bits", F.bits, 1, 8)
  qat_bits = parse_ints("qat_bits", F.qat_bits, 1, 8)
  sweeps = {"jpeg_qualities": parse_ints("jpeg_qualities", F.jpeg_qualities, 0, 100),
            "webp_qualities": parse_ints("webp_qualities", F.webp_qualities, 0, 100),
            "jp2_ratios": parse_ints("jp2_ratios", F.jp2_ratios, 1, 10000),
            "avif_qualities": parse_ints("avif_qualities", F.avif_qualities, 0, 100)}
  if F.steps < 1 or F.batch < 0 or F.qat_steps < 0 or not 0 <= F.pe_frequencies <= 255:
    raise UserError("--steps must be >= 1, --batch and --qat_steps >= 0, --pe_frequencies in [0, 255]")
  quantize.check_positive("--lr", F.lr)
  quantize.check_positive("--qat_lr", F.qat_lr)
  quantize.check_positive("--omega_0", F.omega_0)
  return sizes, bits, qat_bits, sweeps


def _fit_and_compress(F, names, images, sizes, codecs, qat_bits, sweeps):
  """(rows, runs): the image codecs on each image, then each size trained (or reused) and compressed."""
  workdir = F.workdir
  rows, runs = [], []
  for spec, image in zip(names, images):
    pixels = image.pixels
    h, w, _ = pixels.shape
    baseline = tables.image_codec_rows(pixels, **sweeps)
    rows += [dict(r, image=image.name) for r in baseline]
    for width, depth in sizes:
      size = f"{width}x{depth}" + (f"-pe{F.pe_frequencies}" if F.pe_frequencies else "")
      run_dir = os.path.join(workdir, image.name, size)
      config = run_config(spec, width, depth, F.steps, F.batch, F.lr, F.omega_0,
                          h * w, F.kodak_dir, F.seed, F.pe_frequencies)
      if not finished(config, run_dir):
        print(f"training {image.name} {size} ({F.steps} steps)", file=sys.stderr, flush=True)
        train.train_and_evaluate(config, run_dir)
      with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
      run_rows = compress_run(run_dir, pixels, codecs, F.qat_steps, qat_bits, F.qat_lr,
                              F.batch, F.seed, extra_rows=baseline)
      train.refresh_report(run_dir)
      rows += [dict(r, image=image.name) for r in run_rows]
      runs.append({"image": image.name, "size": size, "params": summary["num_params"],
                   "steps": summary["steps"], "train_seconds": summary["train_seconds"],
                   "psnr": summary["psnr"]})
      print(f"{image.name} {size}: " + ", ".join(
          f"{r['family'][6:]} {r['bpp']:.3f} bpp {r['psnr']:.2f} dB" for r in run_rows),
          file=sys.stderr, flush=True)
  return rows, runs


def _write_results(F, images, rows, runs, bits, qat_bits, kodak, t_start, missing) -> None:
  """table.md, table.json and rd.png in --workdir; the mean table on stdout."""
  workdir = F.workdir
  means = tables.add_comparisons(tables.mean_rows(rows), kodak)
  shown = [r for r in rows if not r["family"].endswith("(all 24 Kodak)")]
  header = (f"Images: {', '.join(i.name for i in images)}; SIREN sizes {', '.join(F.sizes)} "
            f"(width x hidden layers"
            + (f", a {F.pe_frequencies}-frequency positional encoding in front" if F.pe_frequencies else "")
            + f"), omega_0 {F.omega_0:g}, {F.steps} steps of "
            f"{F.batch or 'all'} random pixels, Adam {F.lr:g} cosine"
            + (f", QAT {F.qat_steps} steps at {F.qat_lr:g}" if F.qat_steps else "")
            + f"; {time.perf_counter() - t_start:.0f} s wall time (this invocation)."
            + (f" Not run, this Pillow has no encoder for: {', '.join(missing)}." if missing else ""))
  with outputs.atomic_path(os.path.join(workdir, "table.md")) as tmp, open(tmp, "w") as f:
    f.write(tables.markdown(means, shown, runs, header, kodak))
  outputs.write_json(os.path.join(workdir, "table.json"),
                     {"images": [i.name for i in images], "sizes": F.sizes, "steps": F.steps,
                      "batch": F.batch, "lr": F.lr, "omega_0": F.omega_0,
                      "pe_frequencies": F.pe_frequencies, "bits": bits,
                      "qat_steps": F.qat_steps, "qat_bits": qat_bits, "qat_lr": F.qat_lr,
                      "coin": tables.COIN_POINTS, "coin_compared": kodak,
                      "references": [dataclasses.asdict(r) for r in references.REFERENCES],
                      "references_compared": kodak, "missing_codecs": missing, "runs": runs,
                      "mean": means, "rows": rows})
  tables.plot(os.path.join(workdir, "rd.png"), means,
              f"{', '.join(i.name for i in images)}: mean over {len(images)} image(s), {F.steps} steps",
              kodak)
  print(tables.markdown(means, [], runs, header, kodak))


def main(_):
  F = flags.FLAGS
  sizes, bits, qat_bits, sweeps = _parse_flags(F)
  names = F.images or default_images(F.kodak_dir)
  images = [data.load_image(n, F.kodak_dir) for n in names]  # all errors before any training
  if len({i.name for i in images}) != len(images):
    raise UserError(f"--images: two images share a name ({', '.join(i.name for i in images)}); each "
                    f"needs its own directory WORKDIR/NAME")
  codecs = siren_codecs(bits)
  os.makedirs(F.workdir, exist_ok=True)
  t_start = time.perf_counter()
  rows, runs = _fit_and_compress(F, names, images, sizes, codecs, qat_bits, sweeps)
  kodak = tables.kodak_images(names)
  if kodak and F.kodak_reference:
    rows += tables.kodak_reference_rows(F.kodak_dir, **sweeps)
  missing = tables.missing_codecs(JPEG=sweeps["jpeg_qualities"], WEBP=sweeps["webp_qualities"],
                                  JPEG2000=sweeps["jp2_ratios"], AVIF=sweeps["avif_qualities"])
  _write_results(F, images, rows, runs, bits, qat_bits, kodak, t_start, missing)


if __name__ == "__main__":
  _define_flags()
  cli.run(main, required=("workdir",))
