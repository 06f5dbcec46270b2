"""SIREN against the paper's SDF baselines (ReLU, ReLU + positional encoding) on one shape, with the
same loss (paper Eq. 6), steps, batch and learning rate: a table of Chamfer L1/L2, normal consistency,
F-score and seconds, and the three families' renders side by side.

    python -m experiments.sdf_baselines --shape=bunny --steps=500 --workdir=runs/sdf_baselines
        [--kinds=siren,relu,relu_pe] [--width=256] [--mesh_resolution=128] [--num_points=100000]

--shape=bunny is configs/sdf_bunny.py (the Stanford Bunny, read from ../shared/data/shapes/); any other
value is configs/sdf.py with data.shape set to it (an analytic name or a file). Each family is a normal
run (``train.train_and_evaluate``) in --workdir/KIND, so it resumes, and its report.html, mesh.ply and
renders are there. Writes table.md, table.json and renders.png (one row per family) to --workdir.
"""

import os
import sys

import numpy as np
from absl import flags, logging
from PIL import Image

from siren_jax import cli, configuration
from siren_jax.engine import train
from siren_jax.io import outputs, plots

_SHAPE = flags.DEFINE_string("shape", "bunny", "bunny (configs/sdf_bunny.py), an analytic name or a path.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.")
_STEPS = flags.DEFINE_integer("steps", 500, "Training steps for every family.")
_KINDS = flags.DEFINE_list("kinds", ["siren", "relu", "relu_pe"], "Model families.")
_WIDTH = flags.DEFINE_integer("width", 256, "Hidden units per layer (the official SDF network: 256).")
_LR = flags.DEFINE_float("lr", 1e-4, "Learning rate for every family (the official train_sdf.py's).")
_RESOLUTION = flags.DEFINE_integer("mesh_resolution", 128, "Marching-cubes grid per axis.")
_NUM_POINTS = flags.DEFINE_integer("num_points", 0, "Surface samples (0 = the config's).")
_METRIC_POINTS = flags.DEFINE_integer("metric_points", 0, "Samples per surface for the metrics (0 = "
                                      "the config's).")

COLUMNS = (("chamfer_l1", "Chamfer L1"), ("chamfer_l2", "Chamfer L2"),
           ("normal_consistency", "normal consistency"), ("fscore", "F-score"))


def family_config(kind: str):
  """The shape's config for one family; only the model kind differs between families."""
  if _SHAPE.value == "bunny":
    config = configuration.repo_config("sdf_bunny")
  else:
    config = configuration.repo_config("sdf")
    config.data.shape = _SHAPE.value
  config.model.kind = kind
  config.model.width = _WIDTH.value
  config.train.num_steps = _STEPS.value
  config.train.learning_rate = _LR.value
  config.train.log_every = max(1, _STEPS.value // 10)
  config.train.checkpoint_every = _STEPS.value
  config.sdf.mesh_resolution = _RESOLUTION.value
  if _NUM_POINTS.value:
    config.data.num_points = _NUM_POINTS.value
  if _METRIC_POINTS.value:
    config.sdf.metric_points = _METRIC_POINTS.value
  return config


def write_renders(path: str, workdir: str, kinds) -> None:
  """Each family's renders.png as one labelled row."""
  plt = plots.pyplot()  # pylint: disable=protected-access
  images = [np.asarray(Image.open(os.path.join(workdir, k, "renders.png"))) for k in kinds]
  h, w = images[0].shape[:2]
  fig, axes = plt.subplots(len(kinds), 1, figsize=(12, 12 * h / w * len(kinds) + 0.4 * len(kinds)))
  for ax, kind, image in zip(np.atleast_1d(axes), kinds, images):
    ax.imshow(image)
    ax.set_axis_off()
    ax.set_title(kind, fontsize=11)
  plots.save_figure(fig, path)


def main(_):
  logging.set_verbosity(logging.WARNING)
  workdir = _WORKDIR.value
  configs = {kind: family_config(kind) for kind in _KINDS.value}
  for config in configs.values():  # every family's config and the shape checked before any training
    train.preflight([config])
  table = []
  for kind, config in configs.items():
    summary = train.train_and_evaluate(config, os.path.join(workdir, kind))
    table.append({"kind": kind, **{k: summary.get(k) for k, _ in COLUMNS},
                  "fscore_tau": summary.get("fscore_tau"), "train_seconds": summary["train_seconds"],
                  "elapsed_s": summary.get("elapsed_s"), "num_params": summary["num_params"]})
    print(kind, table[-1], file=sys.stderr, flush=True)
  base = next(iter(configs.values()))
  lines = [f"Shape: {_SHAPE.value} ({base.data.shape}); {_STEPS.value} steps, batch "
           f"{base.train.batch_size} on + {base.train.batch_size} off the surface, lr {_LR.value:g}, "
           f"width {_WIDTH.value} depth {base.model.depth}; mesh {_RESOLUTION.value}^3; F-score at "
           f"tau = {table[0]['fscore_tau']:.4g} (input units).", "",
           "| model | " + " | ".join(label for _, label in COLUMNS) + " | training (s) | total (s) | "
           "params |", "|---" * (len(COLUMNS) + 4) + "|"]
  for r in table:
    lines.append(f"| {r['kind']} | " + " | ".join(f"{r[k]:.4g}" for k, _ in COLUMNS)
                 + f" | {r['train_seconds']:.1f} | {r['elapsed_s']:.1f} | {r['num_params']} |")
  with outputs.atomic_path(os.path.join(workdir, "table.md")) as tmp, open(tmp, "w") as f:
    f.write("\n".join(lines) + "\n")
  outputs.write_json(os.path.join(workdir, "table.json"),
                     {"shape": _SHAPE.value, "steps": _STEPS.value, "lr": _LR.value,
                      "width": _WIDTH.value, "mesh_resolution": _RESOLUTION.value, "rows": table})
  write_renders(os.path.join(workdir, "renders.png"), workdir, list(configs))
  print("\n".join(lines))


if __name__ == "__main__":
  flags.mark_flag_as_required("workdir")
  cli.run(main)
