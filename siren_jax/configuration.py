"""Config checks: every bad value is caught here, before anything touches the workdir."""

import importlib.machinery
import importlib.util
import json
import math
import os

import ml_collections

from siren_jax import paths
from siren_jax.engine import registry, supervision
from siren_jax.errors import UserError
from siren_jax.io import checkpoints
from siren_jax.nets import derivatives, kinds

SCHEDULES = ("constant", "cosine", "exponential")
# Fields that may change between an interrupted run and its resumption (they change how long or how
# often, not what is computed).
RESUMABLE_CHANGES = ("train.num_steps", "train.log_every", "train.checkpoint_every",
                     "train.max_checkpoints", "eval.chunk_size", "data.kodak_dir", "train.vmap_width")


def load_config(path: str) -> ml_collections.ConfigDict:
  """``get_config()`` of the config file at ``path``, whatever the working directory, with one-line
  errors. Configs derive from others by loading them through this function by path (see
  configs/kodak.py), so no config needs the ``configs`` directory to be importable."""
  path = os.path.expanduser(path)
  if not os.path.exists(path):
    raise UserError(f"config file not found: {path}")
  if not os.path.isfile(path):
    raise UserError(f"config file is not a file: {path}")
  name = "siren_jax_config_" + os.path.splitext(os.path.basename(path))[0]
  try:
    spec = importlib.util.spec_from_loader(
        name, importlib.machinery.SourceFileLoader(name, os.path.abspath(path)))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
  except UserError:
    raise
  except SyntaxError as e:
    raise UserError(f"config file {path} is not valid Python (line {e.lineno}: {e.msg})") from None
  except Exception as e:  # pylint: disable=broad-except  (any failure of the user's file is one line)
    raise UserError(f"config file {path} failed to load: {type(e).__name__}: {e}") from None
  if not callable(getattr(module, "get_config", None)):
    raise UserError(f"config file {path} defines no get_config() function")
  try:
    config = module.get_config()
  except Exception as e:  # pylint: disable=broad-except
    raise UserError(f"config file {path}: get_config() failed: {type(e).__name__}: {e}") from None
  if not isinstance(config, ml_collections.ConfigDict):
    raise UserError(f"config file {path}: get_config() must return an ml_collections.ConfigDict, "
                    f"got {type(config).__name__}")
  return config


def repo_config(name: str) -> ml_collections.ConfigDict:
  """A config shipped in the checkout's ``configs/`` (beside the ``siren_jax`` package), for the
  experiments and benchmarks, which run from a checkout."""
  return load_config(os.path.join(paths.CHECKOUT, "configs", f"{name}.py"))


def _require(cond: bool, message: str) -> None:
  if not cond:
    raise UserError(message)


def validate(config) -> None:
  """Raises UserError with one line naming the first invalid field: the signal's own fields first
  (its ``validate_config``), then the engine's (model, train and eval)."""
  registry.validate_config(config)
  _validate_model(config.model)
  _validate_train(config.train)
  _validate_numbers(config)
  _require(config.eval.chunk_size >= 1, f"eval.chunk_size must be >= 1, got {config.eval.chunk_size}")


def _validate_model(m) -> None:
  for name in ("omega_0", "first_omega_0", "hidden_omega_0"):
    value = m.get(name)
    if value is not None:
      _require(isinstance(value, (int, float)) and math.isfinite(value) and value > 0,
               f"model.{name} must be > 0, got {value}")
  kinds.get(m.kind)  # a UserError naming the kinds if it is none of them
  _require(m.sine in ("fast", "xla"), f"model.sine must be 'fast' or 'xla', got {m.sine!r}")
  _require(m.width >= 1, f"model.width must be >= 1, got {m.width}")
  _require(m.depth >= 1, f"model.depth must be >= 1, got {m.depth}")


def _validate_train(t) -> None:
  _require(t.num_steps >= 0, f"train.num_steps must be >= 0, got {t.num_steps}")
  _require(math.isfinite(t.learning_rate) and t.learning_rate > 0,
           f"train.learning_rate must be > 0, got {t.learning_rate}")
  _require(t.schedule in SCHEDULES, f"train.schedule must be one of {SCHEDULES}, got {t.schedule!r}")
  _require(t.warmup_steps >= 0, f"train.warmup_steps must be >= 0, got {t.warmup_steps}")
  _require(0.0 <= t.final_lr_fraction <= 1.0,
           f"train.final_lr_fraction must be in [0, 1], got {t.final_lr_fraction}")
  _require(t.batch_size >= 0, f"train.batch_size must be >= 0 (0 = full batch), got {t.batch_size}")
  _require(t.microbatch >= -1, f"train.microbatch must be >= -1 (-1 = auto), got {t.microbatch}")
  _require(t.get("vmap_width", -1) >= -1,
           f"train.vmap_width must be >= -1 (-1 = auto, 0 = all points), got {t.get('vmap_width')}")
  _require(t.log_every >= 1, f"train.log_every must be >= 1, got {t.log_every}")
  _require(t.checkpoint_every >= 1, f"train.checkpoint_every must be >= 1, got {t.checkpoint_every}")
  _require(t.max_checkpoints >= 1, f"train.max_checkpoints must be >= 1, got {t.max_checkpoints}")


# ω₀ scales the sine's argument; past this, float32 arguments keep no fractional phase digits to
# speak of (|ω₀ x| of 1e5 is resolved to about 0.01 rad), so the network is noise.
MAX_OMEGA = 1e5


def _validate_numbers(config) -> None:
  """Values the other checks let through that would end in NaN or a crash after the run starts."""
  m, t = config.model, config.train
  _require(isinstance(config.seed, int) and 0 <= config.seed < 2 ** 32,
           f"seed must be an integer in [0, 2^32), got {config.seed}")
  for name in ("omega_0", "first_omega_0", "hidden_omega_0"):
    value = m.get(name)
    _require(value is None or value <= MAX_OMEGA,
             f"model.{name}={value} is over {MAX_OMEGA:g}: float32 sine arguments lose their phase")
  _require(m.pe_frequencies >= 0, f"model.pe_frequencies must be >= 0 (0 = Nyquist rule), got "
                                  f"{m.pe_frequencies}")
  _require(m.rff_features >= 1, f"model.rff_features must be >= 1, got {m.rff_features}")
  _require(math.isfinite(m.rff_scale) and m.rff_scale > 0,
           f"model.rff_scale must be a finite number > 0, got {m.rff_scale}")
  methods = {"gradient_method": ("auto",) + derivatives.GRADIENT_METHODS,
             "laplacian_method": ("auto",) + derivatives.LAPLACIAN_METHODS}
  for field, allowed in methods.items():
    value = t[field]
    _require(value in allowed, f"train.{field} must be one of {allowed}, got {value!r}")
    _require(value != "propagate" or kinds.get(m.kind).plain_sine,
             f"train.{field}=propagate needs model.kind=siren, not {m.kind!r}")
  supervision.parse(t.supervision)
  qat_bits = t.get("qat_bits", 0)
  _require(qat_bits == 0 or 1 <= qat_bits <= 8, f"train.qat_bits must be 0 (off) or in [1, 8], got "
                                                 f"{qat_bits}")
  init_from = t.get("init_from", "")
  if init_from:
    _require(checkpoints.has_steps(os.path.join(init_from, "checkpoints")),
             f"train.init_from={init_from!r} holds no checkpoint to start from")


def check_batch(config, num_samples: int, num_devices: int) -> None:
  """The batch a task of ``num_samples`` samples gets must split evenly over the devices."""
  b = effective_batch_size(config, num_samples)
  _require(b % num_devices == 0,
           f"train.batch_size={b} must be a multiple of the {num_devices} devices it is sharded over")


def effective_batch_size(config, num_pixels: int) -> int:
  """``train.batch_size``, or 0 (the whole image every step) where it asks for more pixels than the
  image has: what a user running a larger-image config on a small image means."""
  b = config.train.batch_size
  return 0 if b > num_pixels else b


def flatten(d, prefix=""):
  out = {}
  for k, v in d.items():
    key = f"{prefix}{k}"
    if isinstance(v, dict):
      out.update(flatten(v, key + "."))
    else:
      out[key] = v
  return out


def to_dict(config) -> dict:
  """The resolved config as plain JSON-able data."""
  return json.loads(config.to_json_best_effort())


# Image fields that the other signals' configs carried until configs/_base.py held only the engine's:
# a saved run's value of one is ignored where the current config has no such field.
DROPPED_FIELDS = ("train.gradient_target", "train.laplacian_target", "eval.crop_border")
# Fields added after runs were first written, with the value that reproduces those runs: a saved
# config without the field is read as having that value.
LEGACY_VALUES = {"data.resize": "exact", "task": "image", "train.init_from": "", "train.qat_bits": 0,
                 "train.sampling": "uniform", "train.sampling_mix": 0.5, "train.sampling_every": 50}


def check_resumable(saved: dict, current: dict) -> None:
  """Refuses to resume a workdir whose run used a different config (it would silently mix two runs)."""
  b = flatten(current)
  # A legacy default stands in only for a field the current config has: an audio config has no
  # data.resize, and its saved config must not gain one.
  a = {**{k: v for k, v in LEGACY_VALUES.items() if k in b}, **flatten(saved)}
  a = {k: v for k, v in a.items() if k in b or k not in DROPPED_FIELDS}
  for key in sorted(set(a) | set(b)):
    if key in RESUMABLE_CHANGES:
      continue
    if a.get(key) != b.get(key):
      raise UserError(f"the workdir holds a run with a different config ({key}: {a.get(key)!r} there, "
                      f"{b.get(key)!r} now); use a new --workdir, or remove the old one to start over")
