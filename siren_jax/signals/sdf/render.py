"""Rendering an SDF run (the sdf signal's ``render`` hook): ``--out=*.ply`` writes the zero level set
by marching cubes, ``--out=*.png`` the three sphere-traced views.

    python -m siren_jax.render --workdir=runs/sdf_csg --resolution=512 --out=mesh512.ply
"""

import json
import os

import numpy as np
from absl import logging

from siren_jax.engine import sharding
from siren_jax.engine.trained import load_run
from siren_jax.errors import UserError
from siren_jax.io import rundir
from siren_jax.signals.sdf import shapes, sphere_trace
from siren_jax.signals.sdf.outputs import (MESH_RESOLUTIONS, VIEW_SIZES, field_fn, write_mesh,
                                           write_views)


def command(f) -> None:
  """``siren_jax.render`` for an SDF run (``f``: the command's parsed flags)."""
  check_render_flags(f.out, f.resolution, f.chunk_size)
  rundir.check_output_file(f.out, "--out")
  render(load_run(f.workdir), f.out, f.resolution, log=logging.info, chunk_size=f.chunk_size)


def check_render_flags(out: str, resolution: int, chunk_size: int) -> None:
  """One-line UserErrors for an SDF render's --out, --resolution and --chunk_size."""
  ext = os.path.splitext(out)[1].lower()
  if ext not in (".ply", ".png"):
    raise UserError(f"--out must be a .ply (mesh) or .png (renders) path for an SDF run, got {out!r}")
  lo, hi = MESH_RESOLUTIONS if ext == ".ply" else VIEW_SIZES
  if resolution != 0 and not lo <= resolution <= hi:
    what = "grid points per axis of a mesh" if ext == ".ply" else "pixels per side of a view"
    raise UserError(f"--resolution ({what}) must be 0 (the run's own) or in [{lo}, {hi}], got "
                    f"{resolution}")
  if chunk_size < 0:
    raise UserError(f"--chunk_size must be >= 0 (0 = the run's eval.chunk_size), got {chunk_size}")


def render(run, out: str, resolution: int, log=lambda message: None, chunk_size: int = 0) -> None:
  """``siren_jax.render`` for an SDF run (``trained.TrainedRun``): ``out`` = *.ply writes the zero level
  set at ``resolution``^3 in the input's units (from the run's summary.json), *.png the three
  sphere-traced views at ``resolution`` pixels a side (0: the run's own settings); ``chunk_size``
  points per forward pass (0: the run's eval.chunk_size)."""
  check_render_flags(out, resolution, chunk_size)
  s, ext = run.config.sdf, os.path.splitext(out)[1].lower()
  summary_path = os.path.join(run.workdir, "summary.json")
  try:
    with open(summary_path) as f:
      summary = json.load(f)
  except FileNotFoundError:
    summary = {}
  except (OSError, ValueError) as e:
    raise UserError(f"cannot read {summary_path}: {e}") from None
  if ext == ".ply" and not ("scale" in summary and "center" in summary):
    raise UserError(f"{run.workdir} has no finished summary.json with the shape's normalisation")
  mesh, microbatch = sharding.make_mesh(), sharding.resolve_microbatch(run.config.train.microbatch)
  chunk = chunk_size or int(run.config.eval.chunk_size)
  if ext == ".ply":
    surface = shapes.Surface(name="", source="", points=np.zeros((0, 3)), normals=np.zeros((0, 3)),
                             center=np.asarray(summary["center"]), scale=float(summary["scale"]))
    resolution = resolution or int(s.mesh_resolution)
    log(f"meshing {run.workdir} (step {run.step}) on a {resolution}^3 grid to {out}")
    field = field_fn(run.model, run.params, mesh, chunk, microbatch)
    _, faces = write_mesh(os.path.dirname(os.path.abspath(out)), field, surface, resolution, chunk,
                          name=os.path.basename(out))
    log(f"{len(faces)} triangles")
    return
  size = resolution or int(s.render_size)
  log(f"sphere-tracing three {size}^2 views of {run.workdir} (step {run.step}) to {out}")
  views = sphere_trace.trace_views(run.model, run.params, size, int(s.trace_steps), mesh, chunk,
                                   microbatch)
  write_views(out, views)
