"""Every task's shipped config, shortened, before and after a change: same headline, same weights?

    python -m benchmarks.task_behaviour --out=before.json [--workdir=DIR]
    python -m benchmarks.task_behaviour --compare before.json after.json

``benchmarks.behaviour`` covers the image path (fit, sweep, Poisson, compression) bit for bit; this
runs each config of ``configs/`` that ships with the project (the Kodak one on kodim23 when
../shared/data/kodak holds it, the Bunny one when the mesh is there) through ``python -m
siren_jax.main`` only (no siren_jax import, so it works across refactors of the internal APIs), each
shortened to a few steps on a small grid, then records summary.json's headline (the config's own key),
its steps and the SHA-256 of the newest checkpoint's parameters (``behaviour.checkpoint_digests``).
Compare mode prints each config's headline before and after and ends with IDENTICAL (exit 0: every
headline and every parameter digest equal) or DIFFERENT (exit 1).
"""

import json
import os
import shutil
import sys
import tempfile

from absl import app, flags

from benchmarks import behaviour

ROOT = behaviour.ROOT
SHORT = ("--config.train.num_steps=12", "--config.train.log_every=6", "--config.train.checkpoint_every=6")
# Per config: what makes it small (its defaults are paper-sized) and its headline key.
RUNS = {
    "default": (("--config.data.height=64", "--config.data.width=64"), "psnr"),
    "kodak": (("--config.data.height=64", "--config.data.width=96", "--config.model.width=64",
               "--config.train.sampling_every=6", "--config.train.batch_size=2048"), "psnr"),
    "poisson_gradient": (("--config.data.height=48", "--config.data.width=48"), "psnr"),
    "poisson_laplacian": (("--config.data.height=48", "--config.data.width=48"), "psnr"),
    "poisson_blend": (("--config.data.height=48", "--config.data.width=48"), "psnr"),
    "audio": ((), "snr"),
    "audio_paper": (("--config.model.width=64",), "snr"),
    "video": (("--config.data.frames=6", "--config.data.height=24", "--config.data.width=24",
               "--config.train.batch_size=2048"), "psnr"),
    "sdf": (("--config.model.width=64", "--config.sdf.mesh_resolution=24",
             "--config.sdf.render_size=24"), "surface_error"),
    "sdf_bunny": (("--config.model.width=64", "--config.sdf.mesh_resolution=24",
                   "--config.sdf.render_size=24"), "surface_error"),
    "helmholtz": (("--config.model.width=64",), "rel_l2"),
    "wave": (("--config.model.width=64", "--config.pde.pretrain_steps=4"), "rel_l2"),
    "helmholtz_inverse": (("--config.model.width=64", "--config.pde.pretrain_steps=4"),
                          "velocity_error"),
}
NEEDS = {"kodak": os.path.join(ROOT, "..", "shared", "data", "kodak", "kodim23.png"),
         "sdf_bunny": os.path.join(ROOT, "..", "shared", "data", "shapes", "stanford-bunny")}


def define_flags() -> None:
  flags.DEFINE_string("out", None, "JSON file to write the snapshot to (run mode).")
  flags.DEFINE_string("workdir", None, "Directory for the runs (empty or absent); default: temporary.")
  flags.DEFINE_bool("compare", False, "Compare two snapshots: --compare A.json B.json.")
  flags.DEFINE_list("only", [], "Run only these configs (names in RUNS).")


def record(name: str, key: str, run_dir: str) -> dict:
  with open(os.path.join(run_dir, "summary.json")) as f:
    summary = json.load(f)
  step, state = behaviour.latest_checkpoint(run_dir)
  return {"headline_key": key, "headline": behaviour.exact(summary[key]), "steps": summary.get("steps"),
          "checkpoint_step": step, **behaviour.checkpoint_digests(state)}


def run_mode(out: str, workdir: str, only) -> None:
  base = workdir or tempfile.mkdtemp(prefix="task_behaviour_")
  results = {}
  for name, (extra, key) in RUNS.items():
    if only and name not in only:
      continue
    if name in NEEDS and not os.path.exists(NEEDS[name]):
      print(f"[task_behaviour] {name}: skipped ({NEEDS[name]} absent)", file=sys.stderr)
      continue
    run_dir = os.path.join(base, name)
    try:
      seconds = behaviour.launch(name, ["-m", "siren_jax.main", f"--config=configs/{name}.py",
                                        f"--workdir={run_dir}", *SHORT, *extra], base)
    except SystemExit as e:  # recorded, so that compare mode reports it; the other runs go on
      print(e, file=sys.stderr)
      results[name] = {"headline_key": key, "headline": "failed", "params_sha256": "", "steps": None}
      continue
    results[name] = {**record(name, key, run_dir), "seconds": round(seconds, 1)}
  snapshot = {"git": behaviour.git_commit(), "machine": behaviour.machine(),
              "runs": results}
  with open(out, "w") as f:
    json.dump(snapshot, f, indent=1)
  if not workdir:
    shutil.rmtree(base, ignore_errors=True)
  print(f"[task_behaviour] wrote {out} ({len(results)} runs)", file=sys.stderr)


def compare_mode(a_path: str, b_path: str) -> int:
  with open(a_path) as f:
    a = json.load(f)["runs"]
  with open(b_path) as f:
    b = json.load(f)["runs"]
  same = True
  for name in sorted(set(a) | set(b)):
    ra, rb = a.get(name), b.get(name)
    if ra is None or rb is None:
      print(f"{name}: only in {'the first' if rb is None else 'the second'} snapshot")
      same = False
      continue
    ok = (ra["headline"] == rb["headline"] and ra["params_sha256"] == rb["params_sha256"]
          and ra["steps"] == rb["steps"])
    same &= ok
    print(f"{name}: {ra['headline_key']} {ra['headline']} -> {rb['headline']}, params "
          f"{'equal' if ra['params_sha256'] == rb['params_sha256'] else 'DIFFERENT'}")
  print("IDENTICAL" if same else "DIFFERENT")
  return 0 if same else 1


def main(argv):
  if flags.FLAGS.compare:
    sys.exit(compare_mode(*argv[1:3]))
  if not flags.FLAGS.out:
    raise app.UsageError("--out is required in run mode")
  run_mode(flags.FLAGS.out, flags.FLAGS.workdir, flags.FLAGS.only)


if __name__ == "__main__":
  define_flags()
  app.run(main)
