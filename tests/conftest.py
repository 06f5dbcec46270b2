"""Shared fixtures: tiny configs and synthetic images, so every test runs in seconds on 2 CPU cores."""

import os
import shutil
import signal
import sys
import tempfile

# pytest-xdist runs one worker per core and many tests start a command besides: a BLAS thread pool
# per process sized for the whole machine then oversubscribes it, and OpenBLAS's idle threads spin
# while they wait (a sparse FD solve took 15x its time alone). One BLAS thread per process; set before
# numpy loads, and inherited by the commands the tests start.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
  os.environ.setdefault(_var, "1")

import numpy as np
import pytest
from PIL import Image

from siren_jax import configuration
import forkserver

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join(ROOT, "configs", "default.py")


def smooth_image(h=32, w=32, c=3, seed=0) -> np.ndarray:
  """A smooth random RGB image in [0, 1] (a few low-frequency sinusoids): easy to fit quickly."""
  rng = np.random.default_rng(seed)
  y, x = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
  out = np.zeros((h, w, c))
  for ch in range(c):
    for _ in range(3):
      a, b, p = rng.uniform(-3, 3, size=3)
      out[..., ch] += np.sin(a * x + b * y + p)
  out = (out - out.min()) / (out.max() - out.min())
  return out.astype(np.float32)


@pytest.fixture
def image_path(tmp_path):
  path = tmp_path / "smooth.png"
  Image.fromarray((smooth_image() * 255).round().astype(np.uint8)).save(path)
  return str(path)


def tiny_config(image: str, **overrides):
  """configs/default.py shrunk to a 32x32 image and a 2x32 SIREN; ``overrides`` use a__b for a.b."""
  config = configuration.load_config(DEFAULT_CONFIG)
  config.data.image = image
  config.data.height = config.data.width = 0
  config.model.width = 32
  config.model.depth = 2
  config.train.num_steps = 60
  config.train.batch_size = 0
  config.train.learning_rate = 1e-3
  config.train.log_every = 20
  config.train.checkpoint_every = 30
  config.eval.chunk_size = 512
  for key, value in overrides.items():
    section, field = key.split("__")
    setattr(config[section], field, value)
  return config


def tiny_flags(image: str, **overrides):
  """The command-line form of ``tiny_config``."""
  values = {"data.image": image, "data.height": 0, "data.width": 0, "model.width": 32,
            "model.depth": 2, "train.num_steps": 60, "train.batch_size": 0, "train.log_every": 20,
            "train.checkpoint_every": 30, "eval.chunk_size": 512}
  values.update({k.replace("__", "."): v for k, v in overrides.items()})
  return [f"--config.{k}={v}" for k, v in values.items()]


def run_main(workdir, *flags, env=None, timeout=300):
  """Runs ``python -m siren_jax.main`` as a user would; returns the CompletedProcess."""
  cmd = [sys.executable, "-m", "siren_jax.main", f"--config={ROOT}/configs/default.py",
         f"--workdir={workdir}", *flags]
  full_env = dict(os.environ, **(env or {}))
  return forkserver.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=full_env)


def crash_after_save_then_resume(monkeypatch, config, workdir: str, crash_step: int):
  """Trains ``config`` in ``workdir``, crashing right after the step-``crash_step`` checkpoint is written,
  then re-runs it to resume from there (what a crashed run's user does)."""
  from siren_jax.io import checkpoints
  from siren_jax.engine import train  # pylint: disable=g-import-not-at-top
  real_save = checkpoints.Checkpointer.save

  def save_then_crash(self, step, state, meta):
    real_save(self, step, state, meta)
    if step == crash_step:
      raise RuntimeError("simulated crash")

  monkeypatch.setattr(checkpoints.Checkpointer, "save", save_then_crash)
  with pytest.raises(RuntimeError, match="simulated crash"):
    train.train_and_evaluate(config, workdir)
  monkeypatch.setattr(checkpoints.Checkpointer, "save", real_save)
  return train.train_and_evaluate(config, workdir)


def final_state(workdir: str, config=None):
  """(step, train state) of ``workdir``'s newest checkpoint, for a 3-channel fit of ``config``
  (default: ``tiny_config``'s model)."""
  import jax  # pylint: disable=g-import-not-at-top
  from siren_jax.io import checkpoints
  from siren_jax.nets import kinds
  from siren_jax.engine import step  # pylint: disable=g-import-not-at-top
  config = config if config is not None else tiny_config("x")
  model = kinds.build_model(config.model, out_features=3)
  like = step.create_train_state(jax.random.PRNGKey(0), model, config)
  ckpt = checkpoints.Checkpointer(os.path.join(workdir, "checkpoints"), 2)
  try:
    return ckpt.latest_step(), ckpt.restore_latest(like)[0]
  finally:
    ckpt.close()


def loss_distance(rows_a, rows_b) -> float:
  """Largest relative difference between two runs' logged training losses, step by step."""
  a, b = (np.array([r["loss"] for r in rows[1:]]) for rows in (rows_a, rows_b))
  return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))))


_OWNED_CACHE = []


def pytest_configure(config):
  """Most tests compile the same few tiny programs, in this process and in the commands they start: a
  persistent compilation cache for the session compiles each once. The first pytest process (with
  pytest-xdist, the controller) makes its directory and removes it at the end; each worker keeps its
  own subdirectory (JAX's cache files are not written atomically), which the commands a test starts
  inherit through the environment. This runs before the test modules import JAX, which reads these
  variables then."""
  if "SIREN_JAX_TESTS_XLA_CACHE" not in os.environ:
    os.environ["SIREN_JAX_TESTS_XLA_CACHE"] = tempfile.mkdtemp(prefix="siren_jax_tests_xla_")
    _OWNED_CACHE.append(os.environ["SIREN_JAX_TESTS_XLA_CACHE"])
  os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(os.environ["SIREN_JAX_TESTS_XLA_CACHE"],
                                                         os.environ.get("PYTEST_XDIST_WORKER", "main"))
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
  # A suite started in the background by a non-interactive shell (`cmd &`) inherits SIGINT ignored, and
  # so would every command a test starts: the interrupt tests would then test nothing and fail. A
  # handler here is reset to the default in each command at exec, as a user's terminal would give it.
  if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_unconfigure(config):
  for directory in _OWNED_CACHE:
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def quick_figures(monkeypatch):
  """Every matplotlib figure a run writes saved at a tenth of its pixels and without the tight
  bounding box (a second layout pass): a tiny fit's figures cost more than its training. For tests of
  what runs compute and write; tests/test_figures.py and the report tests check the real figures."""
  from siren_jax.io import plots  # pylint: disable=g-import-not-at-top
  from siren_jax.io import outputs  # pylint: disable=g-import-not-at-top

  def save_figure(fig, path, dpi=100):
    with outputs.atomic_path(path) as tmp:
      fig.savefig(tmp, dpi=max(dpi // 10, 8), format="png")
    plots.pyplot().close(fig)

  monkeypatch.setattr(plots, "save_figure", save_figure)
