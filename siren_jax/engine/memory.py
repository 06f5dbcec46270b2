"""A run's memory need, estimated from its config before anything is allocated, so that a typo such as
``model.width=100000`` is refused with a figure instead of an out-of-memory crash (or minutes of
swapping) after the run has started."""

import os
from typing import Optional

from siren_jax.errors import UserError
from siren_jax import configuration
from siren_jax.engine import supervision
from siren_jax.nets import kinds

_BYTES = 4  # float32


def num_params_estimate(model_config, channels: int, in_features: int = 2) -> int:
  """Parameters of the MLP families (the encodings' own widths included)."""
  w, d = model_config.width, model_config.depth
  fan_in = kinds.get(model_config.kind).input_features(model_config, in_features)
  return fan_in * w + w + d * (w * w + w) + w * channels + channels


def training_bytes(config, num_pixels: int, channels: int, num_points: int = 1,
                   microbatch: int = 0, in_features: int = 2, data_bytes: Optional[int] = None,
                   input_derivatives: Optional[bool] = None) -> int:
  """Parameters, gradients and Adam's two moments (4 copies), plus the activations of one chunk of
  pixels: each layer keeps its pre-activation and sine (and cosine, derivatives) for the backward
  pass; a loss of input derivatives carries about three times as many (``input_derivatives``; None:
  whether ``train.supervision`` asks for any). The data is per-sample float arrays unless
  ``data_bytes`` says what it takes (a compact video: a host and a device copy)."""
  params = num_params_estimate(config.model, channels, in_features)
  batch = configuration.effective_batch_size(config, num_pixels) or num_pixels
  pixels = min(batch, microbatch) if microbatch else batch
  pixels = max(pixels, min(config.eval.chunk_size, num_pixels))
  per_pixel = 4 * config.model.width * (config.model.depth + 1)
  if input_derivatives is None:
    input_derivatives = set(supervision.parse(config.train.supervision)) != {"values"}
  if input_derivatives:
    per_pixel *= 3
  data = num_pixels * 16 * _BYTES if data_bytes is None else 2 * data_bytes
  return num_points * (4 * params + pixels * per_pixel) * _BYTES + data


def available_bytes() -> int:
  """Memory of the first device: its allocator's limit on accelerators, physical RAM on the CPU."""
  import jax  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  if device.platform != "cpu":
    stats = device.memory_stats() or {}
    if stats.get("bytes_limit"):
      return int(stats["bytes_limit"])
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(config, num_pixels: int, channels: int, num_points: int = 1,
               microbatch: int = 0, in_features: int = 2, data_bytes: Optional[int] = None,
               input_derivatives: Optional[bool] = None) -> None:
  need = training_bytes(config, num_pixels, channels, num_points, microbatch, in_features, data_bytes,
                        input_derivatives)
  have = available_bytes()
  if need > have:
    m = config.model
    raise UserError(f"model.width={m.width}, depth={m.depth} ({num_points} point(s), {num_pixels} "
                    f"samples) needs about {need / 1e9:.1f} GB for parameters, optimiser state and "
                    f"activations, more than the {have / 1e9:.1f} GB this device has")
