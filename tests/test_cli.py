"""Bad input through the real command line: one line on stderr, a non-zero exit, and an existing
workdir left exactly as it was."""

import hashlib
import importlib.util
import os
import sys

import numpy as np
import pytest
from PIL import Image

from siren_jax import configuration
import forkserver
from conftest import ROOT, run_main, tiny_flags


def _snapshot(directory):
  out = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      out[os.path.relpath(path, directory)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
  return out


@pytest.fixture(scope="module")
def finished_workdir(tmp_path_factory):
  """A completed tiny run whose files every bad invocation below must leave untouched."""
  d = tmp_path_factory.mktemp("cli")
  img = d / "img.png"
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(img)
  workdir = d / "run"
  proc = run_main(workdir, *tiny_flags(str(img), train__num_steps=20, train__log_every=10,
                                       train__checkpoint_every=10))
  assert proc.returncode == 0, proc.stderr[-2000:]
  return str(img), str(workdir), d


def _bad_files(d):
  not_image = d / "notes.png"
  not_image.write_text("not an image")
  full = d / "full.png"
  Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(full)
  trunc = d / "trunc.png"
  trunc.write_bytes(full.read_bytes()[:400])
  one = d / "one.png"
  Image.fromarray(np.zeros((1, 1), np.uint8)).save(one)
  return {"not_image": str(not_image), "trunc": str(trunc), "one": str(one), "full": str(full)}


BAD = [
    ("missing file", {"data__image": "/nonexistent/x.png"}, "not found"),
    ("not an image", {"data__image": "{not_image}"}, "not an image"),
    ("truncated png", {"data__image": "{trunc}"}, "truncated or corrupt"),
    ("1x1 image", {"data__image": "{one}"}, "at least 2x2"),
    ("over pixel limit", {"data__image": "{full}", "data__max_pixels": 1000}, "max_pixels"),
    ("unknown config key", {"model__colour": 3}, "colour"),
    ("omega_0 zero", {"model__omega_0": 0.0}, "omega_0 must be > 0"),
    ("omega_0 negative", {"model__omega_0": -30.0}, "omega_0 must be > 0"),
    ("width 0", {"model__width": 0}, "model.width must be >= 1"),
    ("depth 0", {"model__depth": 0}, "model.depth must be >= 1"),
    ("negative steps", {"train__num_steps": -5}, "num_steps must be >= 0"),
    ("lr zero", {"train__learning_rate": 0.0}, "learning_rate must be > 0"),
    ("lr negative", {"train__learning_rate": -1e-3}, "learning_rate must be > 0"),
    ("wrong type", {"model__width": "wide"}, "width"),
    ("bad supervision", {"train__supervision": "edges"}, "unknown term 'edges'"),
    ("blend needs gradient", {"data__blend_source": "camera"}, "needs train.supervision=gradient"),
]


@pytest.mark.parametrize("name,overrides,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_and_loses_nothing(finished_workdir, name, overrides, message):
  img, workdir, d = finished_workdir
  files = _bad_files(d)
  before = _snapshot(workdir)
  overrides = {k: (v.format(**files) if isinstance(v, str) else v) for k, v in overrides.items()}
  flags = tiny_flags(img, **{"train__num_steps": 20, "train__log_every": 10,
                             "train__checkpoint_every": 10, **overrides})
  proc = run_main(workdir, *flags)
  assert proc.returncode != 0, name
  lines = [l for l in proc.stderr.splitlines() if l.strip() and "libtpu" not in l and "tpu" not in l]
  error_lines = [l for l in lines if l.startswith("error:")]
  assert len(error_lines) == 1, proc.stderr
  assert message in error_lines[0], proc.stderr
  assert "Traceback" not in proc.stderr
  assert _snapshot(workdir) == before, f"{name} changed the workdir"


def test_a_batch_larger_than_the_image_uses_the_whole_image(tmp_path, image_path):
  """The default batch (24,576 pixels) on a 32x32 image trains full-batch and says so."""
  proc = run_main(tmp_path / "w", *tiny_flags(image_path, train__batch_size=24576, train__num_steps=4,
                                              train__log_every=2, train__checkpoint_every=4))
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "(full batch)" in proc.stderr


def test_bad_input_into_fresh_workdir_creates_nothing(tmp_path):
  proc = run_main(tmp_path / "new", *tiny_flags("/nonexistent.png"))
  assert proc.returncode != 0 and not (tmp_path / "new").exists()


def test_missing_workdir_flag():
  import sys  # pylint: disable=g-import-not-at-top
  from conftest import ROOT
  proc = forkserver.run([sys.executable, "-m", "siren_jax.main", f"--config={ROOT}/configs/default.py"],
                        cwd=ROOT, capture_output=True, text=True)
  assert proc.returncode != 0 and "error: --workdir is required" in proc.stderr


def test_help_exits_0_and_lists_the_configs_and_the_other_commands():
  for module in ("siren_jax.main", "siren_jax.sweep"):
    proc = forkserver.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("siren_jax.sweep", "siren_jax.render", "siren_jax.report", "experiments.compression"):
      assert f"python -m {name}" in proc.stdout, name
    for name in sorted(os.listdir(os.path.join(ROOT, "configs"))):
      if name.endswith(".py") and not name.startswith("_"):
        assert f"configs/{name}" in proc.stdout, name


def test_no_arguments_names_every_missing_flag_at_once():
  proc = forkserver.run([sys.executable, "-m", "siren_jax.main"], cwd=ROOT, capture_output=True,
                        text=True)
  assert _one_error_line(proc).startswith("error: --config and --workdir are required")


def _one_error_line(proc) -> str:
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
  return lines[0]


def test_missing_config_file(tmp_path):
  proc = forkserver.run([sys.executable, "-m", "siren_jax.main", "--config=configs/nope.py",
                         "--config.model.omega_0=60", f"--workdir={tmp_path / 'w'}"], cwd=ROOT,
                        capture_output=True, text=True)
  assert _one_error_line(proc) == "error: config file not found: configs/nope.py"
  assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("content,message", [
    ("def get_config(:\n", "is not valid Python (line 1"),
    ("x = 1\n", "defines no get_config() function"),
    ("import no_such_module_zz\n", "failed to load: ModuleNotFoundError"),
    ("def get_config():\n  return 3\n", "must return an ml_collections.ConfigDict"),
    ("\x89PNG\x00binary", "config file"),
])
def test_broken_config_file_is_one_line(tmp_path, content, message):
  path = tmp_path / "cfg.py"
  path.write_text(content)
  proc = forkserver.run([sys.executable, "-m", "siren_jax.main", f"--config={path}",
                         f"--workdir={tmp_path / 'w'}"], cwd=ROOT, capture_output=True, text=True)
  assert message in _one_error_line(proc)
  assert not (tmp_path / "w").exists()


def test_misspelled_field_names_the_field_and_the_suggestion(tmp_path):
  proc = forkserver.run([sys.executable, "-m", "siren_jax.main", f"--config={ROOT}/configs/default.py",
                         "--config.model.omega=60", f"--workdir={tmp_path}"], cwd=ROOT,
                        capture_output=True, text=True)
  line = _one_error_line(proc)
  assert "unknown config field 'omega'" in line and "did you mean 'omega_0'?" in line, line
  assert "\\" not in line and "\\n" not in line


def test_resuming_with_a_different_config_is_refused(finished_workdir):
  img, workdir, _ = finished_workdir
  before = _snapshot(workdir)
  proc = run_main(workdir, *tiny_flags(img, train__num_steps=20, train__log_every=10,
                                       train__checkpoint_every=10, model__omega_0=60.0))
  assert proc.returncode != 0 and "different config (model.omega_0" in proc.stderr
  assert _snapshot(workdir) == before


def test_rerunning_a_finished_run_changes_nothing_but_is_fine(finished_workdir):
  img, workdir, _ = finished_workdir
  before = _snapshot(workdir)
  proc = run_main(workdir, *tiny_flags(img, train__num_steps=20, train__log_every=10,
                                       train__checkpoint_every=10))
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "already complete" in proc.stderr
  assert _snapshot(workdir) == before


MODULES = sorted(f"{d}.{n[:-3]}" for d in ("experiments", "benchmarks")
                 for n in os.listdir(os.path.join(ROOT, d))
                 if n.endswith(".py") and n not in ("__init__.py", "common.py"))


def _has_main(module):
  with open(os.path.join(ROOT, *module.split(".")) + ".py") as f:
    return "\ndef main(" in f.read()


# Scripts are the modules with a main(); the others (probe_runner, behaviour_compare, ...) are their
# library parts.
SCRIPTS = [m for m in MODULES if _has_main(m)]


@pytest.mark.parametrize("module", SCRIPTS)
def test_every_script_starts(module):
  # Scripts run as modules (python -m experiments.compression), so no script's folder is on the path:
  # experiments/compression.py once shadowed Python 3.14's `compression`, which jax imports. --help
  # imports everything and prints the flags.
  proc = forkserver.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True,
                        text=True, timeout=120)
  out = proc.stdout + proc.stderr
  assert "Traceback" not in out and "flags:" in out, out[-2000:]


def test_no_script_edits_sys_path():
  for module in MODULES:
    with open(os.path.join(ROOT, *module.split(".")) + ".py") as f:
      assert "sys.path" not in f.read(), module


# Every config a user runs; a leading underscore marks a base the others load (configs/_base.py).
CONFIGS = sorted(n[:-3] for n in os.listdir(os.path.join(ROOT, "configs"))
                 if n.endswith(".py") and not n.startswith("_"))


@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_loads_and_validates(name):
  # Runs a config's get_config() and the same checks main runs before training, without training.
  path = os.path.join(ROOT, "configs", f"{name}.py")
  config = configuration.load_config(path)
  configuration.validate(config)
  doc = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(doc)
  doc.loader.exec_module(module)
  assert module.__doc__ and f"--config=configs/{name}.py" in module.__doc__  # its launch command


# An override each task must refuse before writing, and the error it must give: a missing input file
# for the tasks that read one, an unknown medium for the PDEs (which read no file).
BAD_OVERRIDE = {"image": ("data.image=/nonexistent/x.png", "image file not found: /nonexistent/x.png"),
                "audio": ("data.audio=/nonexistent/x.wav", "audio file not found: /nonexistent/x.wav"),
                "video": ("data.video=/nonexistent/x.mp4", "video not found: /nonexistent/x.mp4"),
                "sdf": ("data.shape=/nonexistent/x.ply", "shape file not found: /nonexistent/x.ply"),
                "helmholtz": ("pde.velocity=marble", "pde.velocity must be one of"),
                "wave": ("pde.velocity=marble", "pde.velocity must be one of"),
                "helmholtz_inverse": ("pde.velocity=marble", "pde.velocity must be one of")}


@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_loads_from_another_directory(tmp_path, name):
  """A relative --config from outside the checkout, with an override: the config loads (derived
  configs need no importable `configs` package) and the run stops at the bad override, before writing."""
  config = os.path.relpath(os.path.join(ROOT, "configs", f"{name}.py"), tmp_path)
  override, message = BAD_OVERRIDE[configuration.repo_config(name).get("task", "image")]
  env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
  proc = forkserver.run([sys.executable, "-m", "siren_jax.main", f"--config={config}",
                         f"--config.{override}", "--workdir=w"],
                        cwd=tmp_path, capture_output=True, text=True, env=env)
  assert message in _one_error_line(proc)
  assert not (tmp_path / "w").exists()
