"""The analytic SDF default (configs/sdf.py): does it learn a distance field, or only a surface?

    python -m benchmarks.sdf_recipes --workdir=/tmp/sdf_recipes --recipes=before,cosine \
        --out=benchmarks/results/sdf/recipes.jsonl

Each recipe is configs/sdf.py with BEFORE's values (the config before this benchmark's change, so a
row's overrides say exactly what it ran, whatever configs/sdf.py holds now) and then the recipe's
overrides from RECIPES, trained in ``--workdir/RECIPE`` (a normal run: it resumes, and its renders and
slices are there to look at). Against the exact signed distance of the csg shape it measures:

* ``volume_mean``: mean |f - sdf| at ``--volume_points`` points uniform in [-1, 1]^3 (summary.json's
  ``mean_abs_error_volume`` takes 30,000), and its median and 90th percentile (a few far-off ridges
  against an error everywhere);
* ``mean_abs_error_near`` and ``eikonal_residual`` (``sdf_outputs.analytic_errors``), Chamfer L1,
  normal consistency and F-score (summary.json);
* floaters: connected components of the fitted mesh.ply whose vertices' median |sdf| exceeds
  ``FLOATER_DISTANCE`` (pieces of zero level set off the true surface), their count and their share of
  the mesh's area; and the number of components (the csg shape has 3);
* the headline (mean |f| on the surface sample) at each logged step, to see whether it ends at its best.

One JSON line per recipe is appended to --out as soon as it finishes. ``--seed=N`` runs the recipes
with config.seed N (rows named RECIPE_seedN); ``--table`` prints the markdown table of --out.
"""

import ast
import json
import os
from typing import Any, Dict

import numpy as np
from absl import app, flags

from benchmarks import common
from siren_jax import configuration
from siren_jax.engine import train
from siren_jax.signals.sdf import shapes

RENDER_SIZE = 96
FLOATER_DISTANCE = 0.02  # normalised units: twice the F-score's tau, far beyond a fitted surface's error

# configs/sdf.py before this benchmark's change.
BEFORE: Dict[str, Any] = {"model.omega_0": 30.0, "model.width": 128, "model.depth": 3,
                          "train.num_steps": 1500, "train.learning_rate": 5e-4,
                          "train.schedule": "constant", "train.batch_size": 1400,
                          "sdf.weights": "sdf:3000,normal:100,inter:100,eikonal:50", "sdf.alpha": 100.0}
RECIPES: Dict[str, Dict[str, Any]] = {
    "before": {},
    "cosine": {"train.schedule": "cosine"},
    "omega15": {"model.omega_0": 15.0},
    "eikonal500": {"sdf.weights": "sdf:3000,normal:100,inter:100,eikonal:500"},
    "omega15_cosine": {"model.omega_0": 15.0, "train.schedule": "cosine"},
    "omega15_cosine_eikonal500": {"model.omega_0": 15.0, "train.schedule": "cosine",
                                  "sdf.weights": "sdf:3000,normal:100,inter:100,eikonal:500"},
    "omega10_cosine": {"model.omega_0": 10.0, "train.schedule": "cosine"},
    "omega5_cosine": {"model.omega_0": 5.0, "train.schedule": "cosine"},
    "first10_cosine": {"model.first_omega_0": 10.0, "train.schedule": "cosine"},
    "omega10_cosine_lr1e-3": {"model.omega_0": 10.0, "train.schedule": "cosine",
                              "train.learning_rate": 1e-3},
    "omega10_cosine_4500": {"model.omega_0": 10.0, "train.schedule": "cosine", "train.num_steps": 4500},
    # A weaker alpha spreads the off-surface term's push away from 0 over the volume; with the eikonal
    # term capping the slope at 1, the largest such f is the distance itself.
    "cosine_alpha10": {"train.schedule": "cosine", "sdf.alpha": 10.0},
    "omega15_cosine_alpha10": {"model.omega_0": 15.0, "train.schedule": "cosine", "sdf.alpha": 10.0},
    "omega15_cosine_alpha20": {"model.omega_0": 15.0, "train.schedule": "cosine", "sdf.alpha": 20.0},
    "omega15_cosine_alpha5": {"model.omega_0": 15.0, "train.schedule": "cosine", "sdf.alpha": 5.0},
    "omega10_cosine_alpha10": {"model.omega_0": 10.0, "train.schedule": "cosine", "sdf.alpha": 10.0},
    "after": {"model.omega_0": 10.0, "train.schedule": "cosine", "sdf.alpha": 10.0},  # configs/sdf.py now
}

_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for the recipes' run directories.")
_RECIPES = flags.DEFINE_list("recipes", ["before"], f"Recipes to run: {', '.join(RECIPES)}.")
_OUT = flags.DEFINE_string("out", "benchmarks/results/sdf/recipes.jsonl", "JSON lines appended here.")
_VOLUME_POINTS = flags.DEFINE_integer("volume_points", 200000, "Uniform points for the volume error.")
_SEED = flags.DEFINE_integer("seed", 0, "config.seed for every recipe (0: the config's).")
_TABLE = flags.DEFINE_bool("table", False, "Print the markdown table of --out and run nothing.")
_EXTRA = flags.DEFINE_string("extra", "", "name=field:value;field:value: one more recipe, ad hoc.")


def recipe_config(overrides: Dict[str, Any]):
  config = configuration.repo_config("sdf")
  for key, value in {**BEFORE, **overrides}.items():
    section, field = key.split(".")
    config[section][field] = value
  config.train.log_every = 250
  config.sdf.render_size = RENDER_SIZE  # pictures to look at, cheaply: no metric depends on them
  return config


def volume_errors(workdir: str, config, n: int) -> Dict[str, float]:
  """|f - sdf| at n uniform points of the cube, from the run's last checkpoint."""
  from siren_jax.engine import trained
  from siren_jax.signals.sdf import outputs as sdf_outputs
  from siren_jax.engine import sharding  # pylint: disable=g-import-not-at-top
  run = trained.load_run(workdir)
  mesh, microbatch = sharding.make_mesh(), sharding.resolve_microbatch(config.train.microbatch)
  field = sdf_outputs.field_fn(run.model, run.params, mesh, int(config.eval.chunk_size), microbatch)
  points = np.random.default_rng(123).uniform(-1.0, 1.0, size=(n, 3))
  error = np.abs(field(points) - shapes.csg_sdf(points))
  return {"volume_mean": float(error.mean()), "volume_median": float(np.median(error)),
          "volume_p90": float(np.quantile(error, 0.9)), "volume_points": n}


def floaters(path: str) -> Dict[str, Any]:
  """Connected components of the mesh and those lying off the true (csg) surface."""
  from scipy.sparse import coo_matrix  # pylint: disable=g-import-not-at-top
  from scipy.sparse.csgraph import connected_components  # pylint: disable=g-import-not-at-top
  import trimesh  # pylint: disable=g-import-not-at-top
  m = trimesh.load(path, process=False)
  v, f = np.asarray(m.vertices, np.float64), np.asarray(m.faces)
  edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
  graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(len(v), len(v)))
  count, labels = connected_components(graph, directed=False)
  distance = np.abs(shapes.csg_sdf(v))  # analytic shapes: normalised = input units
  area = np.asarray(m.area_faces)
  face_label = labels[f[:, 0]]
  off = [c for c in range(count) if np.median(distance[labels == c]) > FLOATER_DISTANCE]
  return {"components": int(count), "floaters": len(off),
          "floater_area_share": float(area[np.isin(face_label, off)].sum() / max(area.sum(), 1e-30))}


def headline_curve(workdir: str):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  return [[r["step"], round(r["surface_error"], 6)] for r in rows if "surface_error" in r]


def run_recipe(name: str, overrides: Dict[str, Any]) -> Dict[str, Any]:
  config = recipe_config(overrides)
  if _SEED.value:  # another initialisation, batch order and off-surface stream: a row of its own
    config.seed = _SEED.value
    name = f"{name}_seed{_SEED.value}"
  workdir = os.path.join(_WORKDIR.value, name)
  summary = train.train_and_evaluate(config, workdir)
  keys = ("mean_abs_error_volume", "mean_abs_error_near", "eikonal_residual", "chamfer_l1",
          "normal_consistency", "fscore", "surface_error", "train_seconds", "elapsed_s")
  return {"recipe": name, "overrides": {**BEFORE, **overrides}, "seed": config.seed,
          **{k: summary.get(k) for k in keys},
          **volume_errors(workdir, config, _VOLUME_POINTS.value),
          **floaters(os.path.join(workdir, "mesh.ply")), "headline_curve": headline_curve(workdir),
          "machine": common.machine(), "git": common.git_rev()}


def parse_extra(spec: str):
  """'name=field:value;field:value' -> (name, overrides); values are Python literals or strings."""
  name, _, body = spec.partition("=")
  overrides = {}
  for part in filter(None, body.split(";")):
    key, _, value = part.partition(":")
    try:
      overrides[key] = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      overrides[key] = value
  return name, overrides


TABLE = (("volume_mean", "mean \\|f − sdf\\| volume", ".3f"), ("volume_median", "median", ".3f"),
         ("volume_p90", "90th pct", ".3f"), ("mean_abs_error_near", "near band", ".4f"),
         ("eikonal_residual", "eikonal residual", ".3f"), ("floaters", "floaters", "d"),
         ("components", "mesh pieces", "d"), ("chamfer_l1", "Chamfer L1", ".4f"),
         ("normal_consistency", "normal consistency", ".3f"), ("fscore", "F-score", ".3f"),
         ("surface_error", "mean \\|f\\| on surface", ".2e"), ("train_seconds", "train s", ".1f"))


def table(path: str) -> str:
  """The markdown table of every recipe in ``path`` (the last row of each name), in file order."""
  rows = {}
  with open(path) as f:
    for line in f:
      if line.strip():
        row = json.loads(line)
        rows[row["recipe"]] = row
  changed = lambda r: ", ".join(f"{k}={v}" for k, v in r["overrides"].items() if BEFORE.get(k) != v)
  lines = ["| recipe | changes | " + " | ".join(label for _, label, _ in TABLE) + " |",
           "|---" * (len(TABLE) + 2) + "|"]
  for name, r in rows.items():
    lines.append(f"| {name} | {changed(r) or '(configs/sdf.py before)'} | "
                 + " | ".join(format(r[k], fmt) for k, _, fmt in TABLE) + " |")
  return "\n".join(lines)


def main(_):
  common.git_rev()
  if _TABLE.value:
    print(table(_OUT.value))
    return
  recipes = {name: RECIPES[name] for name in _RECIPES.value if name}
  if _EXTRA.value:
    name, overrides = parse_extra(_EXTRA.value)
    recipes[name] = overrides
  for name, overrides in recipes.items():
    row = run_recipe(name, overrides)
    print(json.dumps({k: v for k, v in row.items() if k not in ("machine", "headline_curve")}),
          flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
    with open(_OUT.value, "a") as f:
      f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
  flags.mark_flag_as_required("workdir")
  app.run(main)
