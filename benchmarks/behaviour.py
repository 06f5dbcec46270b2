"""Behaviour snapshot: the same small runs before and after a change, compared bit for bit.

    python -m benchmarks.behaviour --out=before.json [--workdir=DIR]
    python -m benchmarks.behaviour --compare before.json after.json

The first form runs, through the command-line entry points only (no siren_jax import, so it works
across refactors of the internal APIs), each as its own subprocess with PYTHONHASHSEED=0 and the same
environment:
  * default: configs/default.py at 64x64, 100 steps of 1024 random pixels, logged every 10,
    checkpoints at 50 and 100;
  * sweep: siren_jax.sweep over model.omega_0=10,20,30,60 at 32x32, 50 full-batch steps;
  * poisson: configs/poisson_gradient.py (gradient supervision) at 64x64, 50 full-batch steps;
  * compression: experiments/compression.py on a 64x64 cameraman (written into the workdir), SIRENs
    16x2 and 24x3, 200 full-batch steps, 8-bit quantisation, JPEG and WebP at q=50 (run as
    ``python -m experiments.compression`` instead when experiments/ is a package and that form works).
From the files the runs write it records, per training run (each sweep point and each compression size
is one): every metrics.jsonl row's step, psnr and loss as exact float reprs (strings; the step-0 row has
no loss, or a "nan" one), summary.json's headline psnr and steps, and SHA-256 digests of the newest
checkpoint (``checkpoints/<step>/state``, restored by orbax without a target tree; each leaf's key path,
dtype, shape and bytes in sorted key-path order): "params_sha256" over the parameters (the checkpoint's
``params`` subtree) and "state_sha256" over everything (optimiser state and step too). For compression
it also records table.json's rows (image, method, family, bytes, bpp, psnr). Timing fields (seconds,
steps/s) are not recorded: they differ between identical runs. The JSON also holds the commit, the
machine, package versions, the environment variables that steer JAX/XLA, the date and wall times.

--workdir keeps the runs' outputs (it must be empty or absent: the entry points resume from what they
find); without it they go to a temporary directory, removed on success.

The second form prints, run by run, whether the parameter digests match, the largest |ΔPSNR| (dB) over
every logged row and summary, the largest relative loss difference and the compression size
differences, then one line: IDENTICAL (exit 0) or DIFFERENT (max |ΔPSNR| = X dB) (exit 1).
Run mode takes 1.5 minutes on the project's 2-core CPU when little else runs (4 when it is busy).
"""

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata

from absl import app, flags, logging

from benchmarks.behaviour_compare import compare_mode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORMAT = 1
PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "pillow", "scikit-image")
ENV_PREFIXES = ("JAX_", "XLA_", "TF_CPP_", "OMP_", "MKL_", "OPENBLAS_", "CUDA_VISIBLE", "SIREN_JAX",
                "PYTHONHASHSEED")
SMALL_64 = ("--config.data.height=64", "--config.data.width=64")


def define_flags() -> None:
  """Flags exist only when this file runs as a program, so that tests can import it."""
  flags.DEFINE_string("out", None, "JSON file to write the snapshot to (run mode).")
  flags.DEFINE_string("workdir", None, "Directory for the runs' outputs (empty or absent); default: a "
                      "temporary directory, removed on success.")
  flags.DEFINE_bool("compare", False, "Compare two snapshots: --compare A.json B.json.")


def run_env() -> dict:
  return dict(os.environ, PYTHONHASHSEED="0")


# ---------------------------------------------------------------------------------------------------
# Run mode: launching


def launch(name: str, args, workdir: str) -> float:
  """Runs ``python ARGS`` in the checkout; its output goes to WORKDIR/logs/NAME.{out,err}. Seconds."""
  logs = os.path.join(workdir, "logs")
  os.makedirs(logs, exist_ok=True)
  out_path, err_path = (os.path.join(logs, f"{name}.{s}") for s in ("out", "err"))
  print(f"[behaviour] {name}: python {' '.join(args)}", file=sys.stderr, flush=True)
  t0 = time.perf_counter()
  with open(out_path, "w") as out, open(err_path, "w") as err:
    rc = subprocess.run([sys.executable, *args], cwd=ROOT, env=run_env(), stdout=out, stderr=err,
                        check=False).returncode
  seconds = time.perf_counter() - t0
  if rc != 0:
    with open(err_path) as f:
      tail = "".join(f.readlines()[-40:])
    raise SystemExit(f"behaviour.py: run {name!r} failed (exit {rc}): python {' '.join(args)}\n"
                     f"--- last lines of its stderr ({err_path}) ---\n{tail}")
  print(f"[behaviour] {name}: done in {seconds:.1f} s", file=sys.stderr, flush=True)
  return seconds


def compression_command() -> list:
  """``-m experiments.compression`` when experiments/ is a package, else the script path; whichever
  form's --help works first (the refactor may switch forms)."""
  forms = [["-m", "experiments.compression"], ["experiments/compression.py"]]
  if not os.path.exists(os.path.join(ROOT, "experiments", "__init__.py")):
    forms.reverse()
  outputs = []
  for form in forms:
    proc = subprocess.run([sys.executable, *form, "--help"], cwd=ROOT, env=run_env(),
                          capture_output=True, text=True, check=False)
    text = proc.stdout + proc.stderr
    if "Traceback" not in text and "--sizes" in text:
      return form
    outputs.append(f"python {' '.join(form)} --help:\n{text[-1500:]}")
  raise SystemExit("behaviour.py: neither form of the compression experiment starts:\n"
                   + "\n".join(outputs))


def write_tiny_image(path: str) -> str:
  """A 64x64 cameraman (every 8th pixel of skimage's 512x512), saved as PNG. SHA-256 of its pixels."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import skimage.data  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  pixels = np.ascontiguousarray(skimage.data.camera()[::8, ::8])
  Image.fromarray(pixels).save(path)
  return hashlib.sha256(pixels.tobytes()).hexdigest()


def run_commands(workdir: str, compression: list, image: str) -> dict:
  """name -> (command args, output directory) of the four runs."""
  def w(name):
    return os.path.join(workdir, name)
  return {
      "default": (["-m", "siren_jax.main", "--config=configs/default.py", f"--workdir={w('default')}",
                   *SMALL_64, "--config.train.num_steps=100", "--config.train.log_every=10",
                   "--config.train.checkpoint_every=50", "--config.train.batch_size=1024"], w("default")),
      "sweep": (["-m", "siren_jax.sweep", "--config=configs/default.py", f"--workdir={w('sweep')}",
                 "--sweep=model.omega_0=10,20,30,60", "--config.data.height=32",
                 "--config.data.width=32", "--config.train.num_steps=50", "--config.train.log_every=10",
                 "--config.train.checkpoint_every=50", "--config.train.batch_size=0"], w("sweep")),
      "poisson": (["-m", "siren_jax.main", "--config=configs/poisson_gradient.py",
                   f"--workdir={w('poisson')}", *SMALL_64, "--config.train.num_steps=50",
                   "--config.train.log_every=10", "--config.train.checkpoint_every=50",
                   "--config.train.batch_size=0"], w("poisson")),
      "compression": ([*compression, f"--workdir={w('compression')}", f"--images={image}",
                       "--sizes=16x2,24x3", "--steps=200", "--batch=0", "--bits=8",
                       "--jpeg_qualities=50", "--webp_qualities=50", "--nokodak_reference"],
                      w("compression")),
  }


# ---------------------------------------------------------------------------------------------------
# Run mode: reading what the runs wrote


def exact(value):
  """A number as its exact float repr (a string, so JSON readers cannot round it); strings as they
  are ("nan" is how metrics.jsonl writes a NaN)."""
  return value if isinstance(value, str) else repr(float(value))


def metrics_rows(path: str) -> list:
  rows = []
  with open(path) as f:
    for line in f:
      if line.strip():
        row = json.loads(line)
        rec = {"step": int(row["step"]), "psnr": exact(row["psnr"])}
        if "loss" in row:
          rec["loss"] = exact(row["loss"])
        rows.append(rec)
  return rows


def latest_checkpoint(run_dir: str) -> tuple:
  """(step, path of its state) of the newest ``checkpoints/<step>/`` (other entries ignored)."""
  ckpt = os.path.join(run_dir, "checkpoints")
  steps = [int(n) for n in os.listdir(ckpt) if n.isdigit() and os.path.isdir(os.path.join(ckpt, n))]
  if not steps:
    raise SystemExit(f"behaviour.py: no checkpoint step directory in {ckpt}")
  return max(steps), os.path.join(ckpt, str(max(steps)), "state")


def tree_sha256(tree) -> tuple:
  """(SHA-256 over every leaf's key path, dtype, shape and bytes in sorted key-path order, number of
  values)."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  leaves = [(jax.tree_util.keystr(p), np.asarray(v))
            for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]]
  h = hashlib.sha256()
  for key, arr in sorted(leaves, key=lambda kv: kv[0]):
    h.update(f"{key}|{arr.dtype.str}|{arr.shape}|".encode())
    h.update(np.ascontiguousarray(arr).tobytes())
  return h.hexdigest(), int(sum(arr.size for _, arr in leaves))


def checkpoint_digests(state_path: str) -> dict:
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  state = ocp.StandardCheckpointer().restore(state_path)
  params = state.get("params") if isinstance(state, dict) else None
  out = {}
  if params is not None:
    out["params_sha256"], out["num_params"] = tree_sha256(params)
  else:  # no params subtree: the whole state stands in for it, and says so
    out["params_sha256"], out["num_params"] = tree_sha256(state)
    out["params_note"] = "no 'params' key in the checkpoint; digest of the whole state"
  out["state_sha256"], _ = tree_sha256(state)
  return out


def training_record(run_dir: str) -> dict:
  with open(os.path.join(run_dir, "summary.json")) as f:
    summary = json.load(f)
  step, state_path = latest_checkpoint(run_dir)
  return {"metrics": metrics_rows(os.path.join(run_dir, "metrics.jsonl")),
          "summary": {"psnr": exact(summary["psnr"]), "steps": int(summary["steps"])},
          "checkpoint_step": step, **checkpoint_digests(state_path)}


def training_dirs(top: str) -> list:
  """Every directory under ``top`` holding a run (summary.json and metrics.jsonl), sorted."""
  found = []
  for dirpath, dirnames, filenames in os.walk(top):
    dirnames[:] = sorted(d for d in dirnames if d != "checkpoints")
    if "summary.json" in filenames and "metrics.jsonl" in filenames:
      found.append(dirpath)
  return sorted(found)


def compression_table(path: str) -> list:
  with open(path) as f:
    table = json.load(f)
  return [{"image": r["image"], "method": r["method"], "family": r["family"], "bytes": int(r["bytes"]),
           "bpp": exact(r["bpp"]), "psnr": exact(r["psnr"])} for r in table["rows"]]


def collect(name: str, out_dir: str) -> dict:
  """name -> record of every run that the command ``name`` wrote under ``out_dir``."""
  if name in ("default", "poisson"):
    return {name: training_record(out_dir)}
  records = {}
  if name == "compression":
    records["compression"] = {"table": compression_table(os.path.join(out_dir, "table.json"))}
  runs = training_dirs(out_dir)
  if not runs:
    raise SystemExit(f"behaviour.py: {name} wrote no run (summary.json + metrics.jsonl) in {out_dir}")
  for run_dir in runs:
    records[f"{name}/{os.path.relpath(run_dir, out_dir)}"] = training_record(run_dir)
  return records


# ---------------------------------------------------------------------------------------------------
# Run mode: context and main


def git_commit() -> dict:
  def git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                          check=False).stdout.strip()
  return {"commit": git("rev-parse", "HEAD"), "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
          "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def machine() -> dict:
  cpu = ""
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
  except OSError:
    pass
  versions = {}
  for package in PACKAGES:
    try:
      versions[package] = metadata.version(package)
    except metadata.PackageNotFoundError:
      versions[package] = None
  return {"cpu": cpu, "cores": os.cpu_count(), "python": sys.version.split()[0], "versions": versions}


def snapshot(workdir: str) -> dict:
  t_start = time.perf_counter()
  image = os.path.join(workdir, "tiny.png")
  image_sha = write_tiny_image(image)
  result = {"benchmark": "behaviour", "format": FORMAT, "git": git_commit(), "machine": machine(),
            "jax": metadata.version("jax"),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "env": {k: v for k, v in sorted(run_env().items()) if k.startswith(ENV_PREFIXES)},
            "compression_input_sha256": image_sha, "commands": {}, "seconds": {}, "runs": {}}
  commands = run_commands(workdir, compression_command(), image)
  for name, (args, out_dir) in commands.items():
    result["seconds"][name] = round(launch(name, args, workdir), 1)
    result["commands"][name] = "python " + " ".join(args).replace(workdir, "WORKDIR")
    result["runs"].update(collect(name, out_dir))
  result["seconds"]["total"] = round(time.perf_counter() - t_start, 1)
  return result


def run_mode(out: str, workdir_flag: str) -> None:
  if not out:
    raise SystemExit("behaviour.py: --out=FILE.json is required (or --compare A.json B.json)")
  workdir = os.path.abspath(workdir_flag or tempfile.mkdtemp(prefix="behaviour_"))
  if workdir_flag:
    if os.path.exists(workdir) and os.listdir(workdir):
      raise SystemExit(f"behaviour.py: --workdir={workdir} is not empty; the entry points would resume "
                       f"from what is there. Give an empty or new directory.")
    os.makedirs(workdir, exist_ok=True)
  result = snapshot(workdir)
  with open(out, "w") as f:
    json.dump(result, f, indent=1, sort_keys=True)
    f.write("\n")
  if not workdir_flag:
    shutil.rmtree(workdir, ignore_errors=True)
  print(f"[behaviour] wrote {out}: {len(result['runs'])} runs, {result['seconds']['total']:.0f} s in all",
        file=sys.stderr)


def main(argv):
  logging.set_verbosity(logging.WARNING)
  F = flags.FLAGS
  if F.compare:
    sys.exit(compare_mode(argv[1:]))
  if len(argv) > 1:
    raise SystemExit(f"behaviour.py: unexpected arguments {' '.join(argv[1:])} (--compare A.json B.json?)")
  run_mode(F.out, F.workdir)


if __name__ == "__main__":
  define_flags()
  app.run(main)
