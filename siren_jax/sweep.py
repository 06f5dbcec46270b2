"""Sweeps: the Cartesian product of config values, each point a normal run in its own subdirectory.

    python -m siren_jax.sweep --config=configs/default.py --workdir=runs/sweep \\
        --sweep=model.omega_0=10,20,30,60,90 --sweep=model.depth=2,3,5,8 [--config.FIELD=VALUE ...]

Points that differ only in values that change no array shape (seed, learning rate, omega_0s: see
``hyper.VMAPPABLE_FIELDS``) are trained together as one vmapped, once-compiled program. The other points
(depth, width, ...) run group after group. Each point's subdirectory holds the usual outputs, so any
point can be inspected or resumed like a single run. Re-running a sweep skips completed points and
resumes interrupted ones.

The sweep workdir gets results.csv and results.md (one row per point: the swept values, final PSNR,
steps, training seconds, parameters, status), heatmap.png (over the first two swept axes, one panel per
combination of any others), or psnr.png (one axis), and
curves.png (every point's PSNR against step); the plots' titles say what the points share (image and
size, steps, recipe, model). The sweep's report.html links to each point's report.
"""

import copy
import csv
import itertools
import json
import os
from typing import Any, Dict, List, Sequence, Tuple

from absl import flags, logging
from ml_collections import config_flags

from siren_jax import cli, configuration, sweep_figures
from siren_jax.engine import hyper, registry, train
from siren_jax.engine.loop import NO_PROGRESS_DB
from siren_jax.errors import UserError
from siren_jax.io import checkpoints, outputs, rundir

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line's flags, defined only when run as a program so that importing this module (as
  experiments do) leaves the importer's flags alone."""
  config_flags.DEFINE_config_file("config", None, "Base experiment config (configs/*.py).",
                                  lock_config=True)
  flags.DEFINE_string("workdir", None, "Sweep directory; each point gets a subdirectory.")
  flags.DEFINE_multi_string("sweep", [], "FIELD=V1,V2,... (repeatable): values of one config field.")


def field_type(config, field: str, flag: str = "--sweep") -> type:
  """The type of config field 'a.b.c' (one-line UserError naming ``flag`` when there is none)."""
  *parents, leaf = field.split(".")
  node = config
  try:
    for p in parents:
      node = node[p]
    return node.get_type(leaf)
  except (KeyError, AttributeError):
    raise UserError(f"{flag} {field}: no such config field (see configs/default.py)") from None


def parse_value(text: str, kind: type, field: str, flag: str = "--sweep"):
  """``text`` as a value of a field of type ``kind`` (one-line UserError naming ``flag`` otherwise)."""
  text = text.strip()
  try:
    if kind is bool:
      if text.lower() in ("true", "1", "yes"):
        return True
      if text.lower() in ("false", "0", "no"):
        return False
      raise ValueError(text)
    return kind(text)
  except ValueError:
    raise UserError(f"{flag} {field}: {text!r} is not a valid {kind.__name__}") from None


def parse_sweeps(specs: Sequence[str], config) -> List[Tuple[str, list]]:
  """['model.omega_0=10,20'] -> [('model.omega_0', [10.0, 20.0])], typed like the config field."""
  axes = []
  for spec in specs:
    field, sep, values = spec.partition("=")
    field = field.strip()
    if not sep or not values.strip():
      raise UserError(f"--sweep {spec!r}: expected FIELD=V1,V2,...")
    kind = field_type(config, field)
    if any(f == field for f, _ in axes):
      raise UserError(f"--sweep {field} given twice")
    parsed = [parse_value(v, kind, field) for v in values.split(",")]
    if len(set(parsed)) != len(parsed):
      raise UserError(f"--sweep {field}: repeated values")
    axes.append((field, parsed))
  if not axes:
    raise UserError("give at least one --sweep=FIELD=V1,V2,...")
  return axes


def _short_names(fields: Sequence[str]) -> Dict[str, str]:
  leaves = [f.split(".")[-1] for f in fields]
  return {f: (leaf if leaves.count(leaf) == 1 else f) for f, leaf in zip(fields, leaves)}


def _fmt(value) -> str:
  return f"{value:g}" if isinstance(value, float) else str(value)


def make_points(base, axes) -> List[Tuple[str, Dict[str, Any], Any]]:
  """(subdirectory name, {field: value}, config) for every point of the Cartesian product."""
  short = _short_names([f for f, _ in axes])
  points = []
  for values in itertools.product(*[vals for _, vals in axes]):
    config = copy.deepcopy(base)
    assignment = dict(zip([f for f, _ in axes], values))
    with config.unlocked():
      for field, value in assignment.items():
        *parents, leaf = field.split(".")
        node = config
        for p in parents:
          node = node[p]
        setattr(node, leaf, value)
    name = ",".join(f"{short[f]}={_fmt(v)}" for f, v in assignment.items())
    points.append((name, assignment, config))
  return points


def group_key(config, start_step) -> str:
  """Points with equal keys share array shapes and a starting step: one vmapped program trains them."""
  flat = configuration.flatten(configuration.to_dict(config))
  for field in hyper.VMAPPABLE_FIELDS:
    flat.pop(field, None)
  return json.dumps({"config": flat, "start": start_step}, sort_keys=True, default=str)


def check_point_config(name: str, point_dir: str, config) -> None:
  """A point directory trained under another config (the base config changed since, say its batch
  size) is neither skipped as complete nor resumed: its results would be reported as the new ones."""
  path = os.path.join(point_dir, "config.json")
  if not os.path.exists(path):
    return
  try:
    with open(path) as f:
      saved = json.load(f)
    configuration.check_resumable(saved, configuration.to_dict(config))
  except (OSError, ValueError) as e:
    raise UserError(f"sweep point {name}: cannot read {path}: {e}") from None
  except UserError as e:
    raise UserError(f"sweep point {name}: {e}") from None


def plan_groups(workdir: str, points, announce: bool = False) -> Dict[str, list]:
  """The points still to train, grouped by ``group_key``: (name, config, point directory) lists.
  Reads the sweep directory but writes nothing (not even an empty checkpoints/ directory)."""
  groups: Dict[str, list] = {}
  for name, _, config in points:
    point_dir = os.path.join(workdir, name)
    check_point_config(name, point_dir, config)
    if outputs.finished_run(point_dir, config.train.num_steps):
      if announce:
        logging.info("Skipping %s: already complete", name)
      continue
    ckpt_dir = os.path.join(point_dir, "checkpoints")
    start = 0
    if os.path.isdir(ckpt_dir):
      start = checkpoints.Checkpointer(ckpt_dir, 1, restore_only=True).likely_resume_step() or 0
    groups.setdefault(group_key(config, start), []).append((name, config, point_dir))
  return groups


def run_sweep(base, workdir: str, specs: Sequence[str]) -> List[Dict[str, Any]]:
  axes = parse_sweeps(specs, base)
  points = make_points(base, axes)
  for name, _, config in points:  # fail on a bad point before training any
    try:
      configuration.validate(config)
    except UserError as e:
      raise UserError(f"sweep point {name}: {e}") from None
  checked = {}  # each group's (task, mesh), loaded once: train_points reuses them
  for members in plan_groups(workdir, points).values():  # the data too, before writing anything
    try:
      checked[tuple(m[0] for m in members)] = train.preflight([m[1] for m in members])
    except UserError as e:
      raise UserError(f"sweep point {members[0][0]}: {e}") from None
  # The sweep directory's lock stops a second sweep from training every point again beside this one;
  # each point's own lock is train_points' to take.
  with rundir.own([workdir]):
    return _run_owned(base, workdir, axes, points, checked)


def _run_owned(base, workdir: str, axes, points, checked) -> List[Dict[str, Any]]:
  """``run_sweep`` once its points are validated and its directory owned."""
  groups = plan_groups(workdir, points, announce=True)  # again: the directory may have changed before we owned it
  outputs.write_json(os.path.join(workdir, "sweep.json"),
                     {"axes": [[f, v] for f, v in axes], "base": configuration.to_dict(base)})
  for gi, members in enumerate(groups.values()):
    logging.info("Group %d/%d: %s", gi + 1, len(groups), ", ".join(m[0] for m in members))
    train.train_points([m[1] for m in members], [m[2] for m in members],
                       checked.get(tuple(m[0] for m in members)))
  results = collect(workdir, axes, points)
  write_results(workdir, axes, results, base)
  return results


NOT_LEARNED = sweep_figures.NOT_LEARNED  # status of a point that finished near its step-0 headline


def collect(workdir: str, axes, points) -> List[Dict[str, Any]]:
  """One result per point; the headline under the task's key ("psnr" for images, "snr" for audio).
  A finished point whose summary warns that it did not learn (``loop.no_progress_warning``) has the
  status ``not learned`` rather than ``done``, in every output."""
  results = []
  for name, assignment, config in points:
    key = registry.headline(config)[0]
    path = os.path.join(workdir, name, "summary.json")
    with open(path) as f:
      summary = json.load(f)
    psnr = summary.get(key)
    status = summary.get("status", "done")
    if status == "done" and summary.get("warning"):  # it ended near its step-0 headline
      status = NOT_LEARNED
    results.append({**assignment, "point": name, key: float(psnr) if psnr is not None else None,
                    "status": status, "steps": summary.get("steps"),
                    "train_seconds": summary.get("train_seconds"),
                    "num_params": summary.get("num_params"),
                    "trained_together": summary.get("trained_together", 1),
                    "image": summary.get(registry.name_of(config)),  # the source: its name
                    "height": summary.get("height"),
                    "width": summary.get("width")})
  return results


def describe_common(base, axes, results: Sequence[Dict[str, Any]]) -> str:
  """What every point shares (image and size, steps, recipe, model), for the plots' titles: a heatmap
  of PSNRs means little without them. Swept fields are left out (the axes show them)."""
  swept = {f for f, _ in axes}
  parts = []
  images = {(r.get("image"), r.get("height"), r.get("width")) for r in results}
  if len(images) == 1 and None not in next(iter(images)):
    name, h, w = images.pop()
    parts.append(f"{name} {h}x{w} (HxW)")
  m, t = base.model, base.train
  batch = f"batch {t.batch_size}" if t.batch_size else "full batch"
  for field, text in (("data.image", None if parts or not base.data.get("image") else
                       f"image {base.data.image}"),
                      ("train.num_steps", f"{t.num_steps} steps"),
                      ("train.learning_rate", f"lr {t.learning_rate:g}"),
                      ("train.schedule", f"{t.schedule} schedule"), ("train.batch_size", batch),
                      ("train.supervision", f"supervision {t.supervision}"), ("model.kind", m.kind),
                      ("model.width", f"width {m.width}"), ("model.depth", f"depth {m.depth}"),
                      ("model.omega_0",
                       f"omega_0 {m.omega_0:g}" if m.kind in ("siren", "siren_pe") else None),
                      ("seed", f"seed {base.seed}")):
    if text and field not in swept:
      parts.append(text)
  return ", ".join(parts)


SECONDS_NOTE = ("`train_seconds`: each point's own share of measured training time. Points trained "
                "together (`trained_together` > 1) run in one compiled program doing the same work for "
                "each, so each is charged an equal share of that program's measured time (the "
                "program's total is `group_train_seconds` in the points' summary.json).")


def write_results(workdir: str, axes, results: List[Dict[str, Any]], base) -> None:
  fields = [f for f, _ in axes]
  key, label = registry.headline(base)
  columns = fields + [key, "steps", "train_seconds", "num_params", "status", "trained_together"]
  with outputs.atomic_path(os.path.join(workdir, "results.csv")) as tmp, open(tmp, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=columns + ["point"])
    writer.writeheader()
    for r in results:
      writer.writerow({c: r.get(c) for c in columns + ["point"]})
  lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
  for r in results:
    cells = [registry.format_headline(base, r[c]).removesuffix(" dB") if c == key and isinstance(r[c], float)
             else str(r.get(c)) for c in columns]
    lines.append("| " + " | ".join(cells) + " |")
  lines += ["", SECONDS_NOTE]
  if any(r["status"] == NOT_LEARNED for r in results):
    lines.append("")
    lines.append(f"`{NOT_LEARNED}`: the point ended less than {NO_PROGRESS_DB:g} dB above its step-0 "
                 f"{label} (its summary.json has the warning): its learning rate or omega_0 is off.")
  with outputs.atomic_path(os.path.join(workdir, "results.md")) as tmp, open(tmp, "w") as f:
    f.write("\n".join(lines) + "\n")
  sweep_figures.write_sweep_plots(workdir, axes, results, title=describe_common(base, axes, results),
                            metric=key, label=label if registry.lower_is_better(base) else f"{label} (dB)")
  train.refresh_report(workdir)


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  results = run_sweep(FLAGS.config, FLAGS.workdir, FLAGS.sweep)
  key = registry.headline(FLAGS.config)[0]
  pick = min if registry.lower_is_better(FLAGS.config) else max  # an error headline: the lowest
  best = pick((r for r in results if r[key] is not None and r["status"] == "done"),
              key=lambda r: r[key], default=None)
  if best is not None:
    logging.info("Best point: %s at %s; results in %s", best["point"],
                 registry.format_headline(FLAGS.config, best[key]), os.path.join(FLAGS.workdir, "results.md"))
  stuck = [r["point"] for r in results if r["status"] == NOT_LEARNED]
  if stuck:
    logging.warning("Not learned (ended within %g dB of step 0): %s", NO_PROGRESS_DB, ", ".join(stuck))
  logging.info("Sweep done: open %s", os.path.join(FLAGS.workdir, "report.html"))


if __name__ == "__main__":
  define_flags()
  cli.run(main, required=("config", "workdir"))
