"""Weight codecs: a trained network's parameters as a byte string, and back.

A compressed image is the network that renders it, so its size is the length of a byte string that
holds everything a decoder needs besides the (fixed) architecture family: a header and the weights.
Every size reported by ``experiments/compression.py`` is ``len()`` of what ``encode`` returns, never a
formula, and ``decode(encode(params))`` gives exactly the parameters that are rendered and scored.

The byte string is

* a 14-byte header: the codec tag (2 bytes, below), the network's width (u16), depth (u8) and output
  channels (u8), the image height and width (u16 each) and the first and hidden omega_0 (float16 each).
  That is enough to rebuild a SIREN and render it at its native size; the family (SIREN, linear output)
  is implied by the format. A SIREN with a positional encoding in front (``siren_pe``) sets tag bit 13
  and adds one byte, its frequency count L. COIN counts the weights alone; the header is counted here.
* the payload: the parameter leaves in ``jax.tree_util`` order (layers in name order, bias before
  kernel), each in the codec's representation:

  * ``float32`` / ``float16``: the values, little-endian.
  * ``uniform`` (``bits`` per weight, 1..8): affine quantisation with the tensor's own minimum and
    maximum, ``q = round((w - lo) / step)`` with ``step = (hi - lo) / (2**bits - 1)``, decoded as
    ``lo + q * step``, so the error is at most half a step. ``per_channel`` gives every output column
    of a kernel its own ``lo``/``step`` (sharper grids where columns differ in range, at 8 bytes of
    side information per column instead of 8 per tensor). ``lo`` and ``step`` are stored as float32
    and counted. The codes are bit-packed (``bits`` per weight, padded to a byte per tensor).
    Two kinds of tensor are small but sensitive, and are kept at float16 by default:

    * biases (``bias="float16"``): one per unit, and each enters ``sin(omega_0 (W x + b))`` directly;
    * the first layer's kernel (``first="float16"``): 2 x width values that multiply the coordinates
      before the sine, so an error d in one of them shifts that sine's phase by up to omega_0 * d at the
      image edge (30 x half a step). Keeping it costs one extra byte per value (2 x width bytes).

    Measured on 64x64 Kodak crops fitted by 16x3..32x4 SIRENs: quantising the first layer's kernel
    alone to 8 bits cost 0.1-2.9 dB (the more, the better the fit), all the other kernels together
    at most 0.4 dB; a grid per output column recovers as much but costs 8 bytes a column.
    ``bias="uniform"`` / ``first="uniform"`` quantise them like the other kernels.

* ``entropy=True`` then compresses the payload with a generic lossless coder from the standard library:
  raw LZMA2 (preset 9, extreme) or raw DEFLATE (level 9), whichever is shorter, or stores it as it is
  when neither is shorter (near-uniform 8-bit codes hardly compress), the choice recorded in the tag.
  These are generic dictionary coders, not a model of weight statistics, so the result is an upper
  bound on what dedicated entropy coding would give. Before coding, float16 payloads are split into
  byte planes (all low bytes, then all high bytes), which puts the repetitive sign/exponent bytes
  together.

Codec tag (u16, little-endian): bits 0-3 ``bits`` (uniform only), bit 4 per-channel, bit 5 entropy
coding requested, bits 6-7 the coder used (0 stored, 1 DEFLATE, 2 LZMA2), bits 8-9 weight kind (0 float32,
1 float16, 2 uniform), bit 10 biases quantised, bit 11 first-layer kernel quantised, bit 12 codes stored
a byte each rather than bit-packed (tried under entropy coding with fewer than 8 bits, where a
byte-oriented coder can exploit the codes' skewed distribution only if they are byte-aligned).

``fake_quantise`` is the same uniform grid in JAX with a straight-through gradient, for a
quantisation-aware fine-tune: the forward pass sees the decoded weights, the gradient flows to the float
weights as if rounding were the identity.
"""

import dataclasses
import lzma
import math
import struct
import zlib
from typing import Any, List, Tuple

import numpy as np

from siren_jax.errors import UserError

KINDS = ("float32", "float16", "uniform")
LEAF_MODES = ("float16", "uniform")  # how biases and the first layer's kernel are stored under uniform
FIRST_LAYER = "layer_0"
HEADER = struct.Struct("<HHBBHHee")  # tag, width, depth, channels, height, width, omega_0s
PE_BIT = 13  # tag bit: a positional encoding's frequency count follows the header (one byte)
# A 4 MiB window covers any stream here (2M float16 weights) and is much faster to set up than preset 9's
# 64 MiB; the decoder needs the same filter chain (raw streams carry no header).
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "dict_size": 1 << 22}]


@dataclasses.dataclass(frozen=True)
class Codec:
  """How the weights are stored. ``name`` is for tables; the rest is written into the tag."""
  kind: str = "float16"  # float32 | float16 | uniform
  bits: int = 8  # uniform only: bits per weight
  per_channel: bool = False  # uniform only: a grid per kernel output column instead of per tensor
  bias: str = "float16"  # uniform only: biases as float16, or quantised like the kernels
  first: str = "float16"  # uniform only: the first layer's kernel as float16, or quantised
  entropy: bool = False  # compress the payload with the smaller of LZMA2 and DEFLATE

  def __post_init__(self):
    if self.kind not in KINDS:
      raise UserError(f"codec kind must be one of {KINDS}, got {self.kind!r}")
    if self.kind == "uniform" and not 1 <= self.bits <= 8:
      raise UserError(f"uniform quantisation needs 1..8 bits, got {self.bits}")
    for field in ("bias", "first"):
      if getattr(self, field) not in LEAF_MODES:
        raise UserError(f"codec {field} must be one of {LEAF_MODES}, got {getattr(self, field)!r}")

  @property
  def name(self) -> str:
    if self.kind == "uniform":
      label = f"{self.bits}-bit" + (" per-channel" if self.per_channel else "")
      label += "" if self.bias == "float16" else " +biases"
      label += "" if self.first == "float16" else " +first layer"
    else:
      label = self.kind
    return label + (" + entropy" if self.entropy else "")


@dataclasses.dataclass(frozen=True)
class Header:
  """What a decoder needs besides the weights: the architecture and the render size."""
  width: int
  depth: int
  channels: int
  height_px: int
  width_px: int
  first_omega_0: float = 30.0
  hidden_omega_0: float = 30.0
  pe_frequencies: int = 0  # > 0: a positional encoding in front (model.kind=siren_pe); one more byte


# ---------------------------------------------------------------------------------------------------
# Parameter trees <-> named leaves


def leaves(params) -> List[Tuple[str, np.ndarray]]:
  """(path, float32 array) of every parameter leaf, in the order the byte string stores them."""
  import jax  # pylint: disable=g-import-not-at-top
  flat, _ = jax.tree_util.tree_flatten_with_path(params)
  return [("/".join(str(getattr(k, "key", k)) for k in path), np.asarray(x, np.float32))
          for path, x in flat]


def with_leaves(template, arrays: List[np.ndarray]):
  """``template`` (a parameter tree) with its leaves replaced, in ``leaves`` order, by ``arrays``."""
  import jax  # pylint: disable=g-import-not-at-top
  flat, treedef = jax.tree_util.tree_flatten(template)
  if len(flat) != len(arrays):
    raise ValueError(f"{len(arrays)} arrays for a tree of {len(flat)} leaves")
  for t, a in zip(flat, arrays):
    if tuple(np.shape(t)) != tuple(a.shape):
      raise ValueError(f"shape {a.shape} does not fit leaf of shape {np.shape(t)}")
  return jax.tree_util.tree_unflatten(treedef, [np.asarray(a, np.float32) for a in arrays])


def _is_bias(name: str) -> bool:
  return name.endswith("bias")


def _keeps_float16(name: str, codec: "Codec") -> bool:
  """Whether a leaf is stored as float16 under a uniform codec (biases, the first layer's kernel)."""
  if _is_bias(name):
    return codec.bias == "float16"
  return codec.first == "float16" and FIRST_LAYER in name.split("/")


# ---------------------------------------------------------------------------------------------------
# Uniform quantisation


def uniform_grid(x: np.ndarray, bits: int, per_channel: bool) -> Tuple[np.ndarray, np.ndarray]:
  """(lo, step) as float32, per tensor (shape ()) or per output column of a 2-D kernel (shape (out,)).
  A constant tensor gets step 1 (any step decodes it exactly)."""
  axis = 0 if (per_channel and x.ndim == 2) else None
  lo = np.min(x, axis=axis).astype(np.float32)
  hi = np.max(x, axis=axis).astype(np.float32)
  step = ((hi - lo) / np.float32(2 ** bits - 1)).astype(np.float32)
  step = np.where(step > 0, step, np.float32(1.0)).astype(np.float32)
  return lo, step


def quantise(x: np.ndarray, lo: np.ndarray, step: np.ndarray, bits: int) -> np.ndarray:
  q = np.rint((np.asarray(x, np.float32) - lo) / step)
  return np.clip(q, 0, 2 ** bits - 1).astype(np.uint8)


def dequantise(q: np.ndarray, lo: np.ndarray, step: np.ndarray) -> np.ndarray:
  return (lo + q.astype(np.float32) * step).astype(np.float32)


def pack_bits(q: np.ndarray, bits: int) -> bytes:
  """uint8 codes < 2**bits, ``bits`` each, most significant first, padded to whole bytes."""
  if bits == 8:
    return q.astype(np.uint8).tobytes()
  planes = np.unpackbits(q.astype(np.uint8).reshape(-1, 1), axis=1)[:, 8 - bits:]
  return np.packbits(planes.reshape(-1)).tobytes()


def unpack_bits(buf: bytes, count: int, bits: int) -> np.ndarray:
  raw = np.frombuffer(buf, np.uint8)
  if bits == 8:
    return raw[:count].copy()
  planes = np.unpackbits(raw)[:count * bits].reshape(count, bits)
  return np.packbits(np.pad(planes, ((0, 0), (8 - bits, 0))), axis=1).reshape(count)


def packed_size(count: int, bits: int) -> int:
  return (count * bits + 7) // 8


# ---------------------------------------------------------------------------------------------------
# Encoding and decoding


CODERS = ("stored", "deflate", "lzma2")


def _tag(codec: Codec, coder: str, aligned: bool = False) -> int:
  kind = KINDS.index(codec.kind)
  return ((codec.bits & 0xF) | (codec.per_channel << 4) | (codec.entropy << 5)
          | (CODERS.index(coder) << 6) | (kind << 8) | ((codec.bias == "uniform") << 10)
          | ((codec.first == "uniform") << 11) | (aligned << 12))


def _codec_from_tag(tag: int) -> Tuple[Codec, str, bool]:
  kind, coder = (tag >> 8) & 0x3, (tag >> 6) & 0x3
  if kind >= len(KINDS) or coder >= len(CODERS) or tag >> 14:
    raise UserError(f"not a siren_jax weight stream (codec tag {tag:#06x})")
  codec = Codec(kind=KINDS[kind], bits=(tag & 0xF) or 8, per_channel=bool(tag >> 4 & 1),
                entropy=bool(tag >> 5 & 1), bias="uniform" if tag >> 10 & 1 else "float16",
                first="uniform" if tag >> 11 & 1 else "float16")
  return codec, CODERS[coder], bool(tag >> 12 & 1)


def _float16_shuffled(values: np.ndarray) -> bytes:
  """float16 bytes, all low bytes then all high bytes (byte-plane order, for a generic coder)."""
  return np.ascontiguousarray(values.astype("<f2").view(np.uint8).reshape(-1, 2).T).tobytes()


def _unshuffle_float16(buf: bytes) -> np.ndarray:
  planes = np.frombuffer(buf, np.uint8).reshape(2, -1)
  return np.ascontiguousarray(planes.T).view("<f2").reshape(-1)


def _leaf_bytes(name: str, x: np.ndarray, codec: Codec,
                aligned: bool = False) -> Tuple[bytes, np.ndarray]:
  """One leaf's bytes and the values a decoder will get back (``aligned``: a byte per code)."""
  if codec.kind == "float32":
    return x.astype("<f4").tobytes(), x
  if codec.kind == "float16" or _keeps_float16(name, codec):
    half = x.astype("<f2")
    return half.tobytes(), half.astype(np.float32)
  lo, step = uniform_grid(x, codec.bits, codec.per_channel)
  q = quantise(x, lo, step, codec.bits)
  side = np.concatenate([np.ravel(lo), np.ravel(step)]).astype("<f4").tobytes()
  return side + pack_bits(q.reshape(-1), 8 if aligned else codec.bits), dequantise(q, lo, step)


def entropy_code(payload: bytes) -> Tuple[bytes, str]:
  """(coded bytes, coder): the shortest of raw LZMA2, raw DEFLATE and the payload as it is (generic
  lossless coders from the standard library, not a model of weight statistics)."""
  co = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
  options = {"stored": payload, "deflate": co.compress(payload) + co.flush(),
             "lzma2": lzma.compress(payload, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)}
  coder = min(CODERS, key=lambda k: len(options[k]))
  return options[coder], coder


def entropy_decode(coded: bytes, coder: str) -> bytes:
  if coder == "lzma2":
    return lzma.decompress(coded, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
  if coder == "deflate":
    return zlib.decompress(coded, -15)
  return coded


def encode(params, codec: Codec, header: Header) -> bytes:
  """The complete byte string (header and payload) for ``params`` under ``codec``."""
  named = leaves(params)
  options = []
  for aligned in ((False, True) if codec.entropy and codec.kind == "uniform" and codec.bits < 8
                  else (False,)):
    payload = b"".join(_leaf_bytes(name, x, codec, aligned)[0] for name, x in named)
    if codec.entropy and codec.kind == "float16":
      payload = _float16_shuffled(np.frombuffer(payload, "<f2"))
    coder = "stored"
    if codec.entropy:
      payload, coder = entropy_code(payload)
    options.append(pack_header(header, _tag(codec, coder, aligned)) + payload)
  return min(options, key=len)


def pack_header(header: Header, tag: int) -> bytes:
  for field, limit in (("width", 0xFFFF), ("depth", 0xFF), ("channels", 0xFF), ("height_px", 0xFFFF),
                       ("width_px", 0xFFFF)):
    value = getattr(header, field)
    if not 0 <= value <= limit:
      raise UserError(f"header field {field}={value} does not fit the format (max {limit})")
  if not 0 <= header.pe_frequencies <= 0xFF:
    raise UserError(f"header field pe_frequencies={header.pe_frequencies} does not fit the format "
                    f"(max 255)")
  # Tag bit 13 marks an encoding's frequency count in one byte after the fixed header, so streams
  # without one keep the 14-byte header they always had.
  pe = bytes([header.pe_frequencies]) if header.pe_frequencies else b""
  return HEADER.pack(tag | (bool(pe) << PE_BIT), header.width, header.depth, header.channels,
                     header.height_px, header.width_px, header.first_omega_0,
                     header.hidden_omega_0) + pe


def read_header(blob: bytes) -> Tuple[Codec, str, bool, Header]:
  """(codec, coder used, whether codes are byte-aligned, header) of a byte string from ``encode``."""
  if len(blob) < HEADER.size:
    raise UserError(f"weight stream of {len(blob)} bytes is shorter than its {HEADER.size}-byte header")
  tag, w, d, c, hp, wp, o1, o2 = HEADER.unpack_from(blob)
  codec, coder, aligned = _codec_from_tag(tag & ~(1 << PE_BIT))
  pe = blob[HEADER.size] if tag >> PE_BIT & 1 and len(blob) > HEADER.size else 0
  if tag >> PE_BIT & 1 and not pe:
    raise UserError("weight stream's header announces a positional encoding but gives no frequency "
                    "count")
  return codec, coder, aligned, Header(w, d, c, hp, wp, float(o1), float(o2), int(pe))


def header_size(header: Header) -> int:
  """Bytes before the payload: the fixed header, and one more for an encoding's frequency count."""
  return HEADER.size + (1 if header.pe_frequencies else 0)


def decode(blob: bytes, template) -> Tuple[Codec, Header, Any]:
  """(codec, header, parameter tree): the inverse of ``encode``; ``template`` supplies the shapes
  (build it from the header's architecture)."""
  codec, coder, aligned, header = read_header(blob)
  code_bits = 8 if aligned else codec.bits
  payload = blob[header_size(header):]
  try:
    payload = entropy_decode(payload, coder)
  except (lzma.LZMAError, zlib.error) as e:
    raise UserError(f"corrupt entropy-coded weight stream: {e}") from None
  names = leaves(template)
  if codec.entropy and codec.kind == "float16":
    payload = _unshuffle_float16(payload).tobytes()
  arrays, pos = [], 0
  for name, t in names:
    n = t.size
    if codec.kind == "float32":
      size, read = 4 * n, lambda b: np.frombuffer(b, "<f4")
    elif codec.kind == "float16" or _keeps_float16(name, codec):
      size, read = 2 * n, lambda b: np.frombuffer(b, "<f2")
    else:
      groups = t.shape[1] if (codec.per_channel and t.ndim == 2) else 1
      size = 8 * groups + packed_size(n, code_bits)

      def read(b, groups=groups, n=n):
        side = np.frombuffer(b[:8 * groups], "<f4")
        lo, step = side[:groups], side[groups:]
        if groups == 1:
          lo, step = lo[0], step[0]
        return dequantise(unpack_bits(b[8 * groups:], n, code_bits).reshape(t.shape), lo, step)
    if pos + size > len(payload):
      raise UserError(f"weight stream too short for leaf {name} (needs {pos + size} bytes, has "
                      f"{len(payload)})")
    arrays.append(np.asarray(read(payload[pos:pos + size]), np.float32).reshape(t.shape))
    pos += size
  if pos != len(payload):
    raise UserError(f"weight stream has {len(payload) - pos} bytes left over: wrong architecture?")
  return codec, header, with_leaves(template, arrays)


def roundtrip(params, codec: Codec) -> Any:
  """The parameters a decoder gets back from ``codec`` (without building the byte string)."""
  return with_leaves(params, [_leaf_bytes(name, x, codec)[1] for name, x in leaves(params)])


def bits_per_pixel(num_bytes: int, height: int, width: int) -> float:
  """COIN's convention: bits per pixel (not per channel value)."""
  return 8.0 * num_bytes / (height * width)


# ---------------------------------------------------------------------------------------------------
# Quantisation-aware training


def fake_quantise(params, codec: Codec):
  """The decoded weights in the forward pass, identity in the backward pass (straight-through), on
  the same grid as ``encode`` (its lo/step recomputed from the current weights; float16 leaves are
  rounded to float16). A JAX function of a parameter tree."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  def leaf(path, x):
    name = "/".join(str(getattr(k, "key", k)) for k in path)
    if codec.kind == "float32":
      return x
    if codec.kind == "float16" or _keeps_float16(name, codec):
      decoded = x.astype(jnp.float16).astype(jnp.float32)
    else:
      axis = 0 if (codec.per_channel and x.ndim == 2) else None
      lo = jnp.min(x, axis=axis)
      step = (jnp.max(x, axis=axis) - lo) / (2 ** codec.bits - 1)
      step = jnp.where(step > 0, step, 1.0)
      q = jnp.clip(jnp.round((x - lo) / step), 0, 2 ** codec.bits - 1)
      decoded = lo + q * step
    return x + jax.lax.stop_gradient(decoded - x)

  return jax.tree_util.tree_map_with_path(leaf, params)


def check_positive(name: str, value: float) -> float:
  if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
    raise UserError(f"{name} must be a positive number, got {value}")
  return float(value)
