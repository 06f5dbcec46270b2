"""Audio in and out: WAV reading (any PCM or float WAV), the embedded synthetic clip, clip cutting,
time coordinates and WAV writing.

Reading goes through ``scipy.io.wavfile`` (scipy is already installed with scikit-image): it reads PCM
of 8 to 64 bits (24-bit included, returned left-justified in int32), 32- and 64-bit float (format tag
3) and WAVE_FORMAT_EXTENSIBLE headers, which the stdlib ``wave`` module cannot (it refuses float).
Samples become float32 in [-1, 1]: signed integers are divided by 2^(bits-1) of their container
(left-justified, so 24-bit in int32 divides by 2^31), unsigned 8-bit is (v - 128) / 128, floats are
kept as they are. Every channel is kept (one network output each) unless a mono mixdown is asked for.

The header is read first (``read_header``, a walk over the RIFF chunks): a file with no ``fmt `` or
``data`` chunk, a format with 0 channels or 0 bytes a frame, or a data chunk declaring more bytes than
the file holds (a truncated file) is refused there, and the clip's length is checked against
``data.max_samples`` before a sample is decoded. Only the cut a config asks for is converted to float
(the decoder maps the file where it can, so a one-hour file cut to a second costs a second).

Coordinates follow the official SIREN code (``dataio.ImplicitAudioWrapper``): sample k of N sits at
``-R + 2 R k / (N - 1)`` (``np.linspace(-R, R, N)``), R the config's ``data.coord_range`` (the paper's
100). A render at another rate samples the same line at its own sample times, so at the training rate
it reproduces the training coordinates exactly.
"""

import os
import stat
import struct
import warnings
from typing import NamedTuple

import numpy as np
from scipy.io import wavfile

from siren_jax import paths
from siren_jax.errors import UserError
from siren_jax.io import outputs

CLIPS = {"bach": "gt_bach.wav", "counting": "gt_counting.wav"}  # the paper's clips (never committed)
DEFAULT_AUDIO_DIR = os.path.join(paths.SHARED_DATA, "audio")
AUDIO_DIR_ENV = "SIREN_JAX_AUDIO_DIR"
SYNTH_RATE = 8000  # the embedded clip's sample rate (Hz) and length (s): small enough to fit quickly
SYNTH_SECONDS = 1.0


class WavHeader(NamedTuple):
  """What a WAV's chunks declare: ``frames`` is the data chunk's size in whole frames."""
  rate: int
  channels: int
  bits: int
  frames: int


class AudioData(NamedTuple):
  """A clip ready to fit: ``samples`` (N, C) float32 in [-1, 1] as decoded (not yet peak-normalised)."""
  samples: np.ndarray
  rate: int
  name: str
  source: str

  @property
  def seconds(self) -> float:
    return self.samples.shape[0] / self.rate


def synth(rate: int = SYNTH_RATE, seconds: float = SYNTH_SECONDS) -> np.ndarray:
  """The embedded default: a deterministic (N, 1) melody of four decaying notes with harmonics and a
  light vibrato over a low drone, so the waveform has attacks, beats and several time scales. It is
  computed, not shipped, and needs no download."""
  t = np.arange(int(round(rate * seconds)), dtype=np.float64) / rate
  notes = (220.0, 277.18, 329.63, 440.0)  # A3, C#4, E4, A4
  signal = 0.15 * np.sin(2 * np.pi * 110.0 * t)  # the drone
  length = seconds / len(notes)
  for i, f in enumerate(notes):
    local = t - i * length
    on = local >= 0
    envelope = np.where(on, np.exp(-np.maximum(local, 0) * 6.0 / length), 0.0)
    phase = 2 * np.pi * f * local + 0.8 * np.sin(2 * np.pi * 5.0 * local)  # vibrato
    tone = sum(np.sin(h * phase) / h ** 1.5 for h in (1, 2, 3, 5))
    signal = signal + envelope * tone * np.minimum(np.maximum(local, 0) * 200.0, 1.0)  # 5 ms attack
  return (0.9 * signal / np.max(np.abs(signal))).astype(np.float32)[:, None]


def audio_dir_candidates(audio_dir: str = "") -> list:
  if audio_dir:
    return [os.path.expanduser(audio_dir)]
  env = os.environ.get(AUDIO_DIR_ENV, "")
  return ([env] if env else []) + [DEFAULT_AUDIO_DIR]


def resolve_path(spec: str, audio_dir: str = "") -> str:
  """The WAV file that ``spec`` names: "bach" or "counting" in the audio directory, or a path."""
  if spec in CLIPS:
    for d in audio_dir_candidates(audio_dir):
      path = os.path.join(d, CLIPS[spec])
      if os.path.isfile(path):
        return path
    raise UserError(f"audio clip {spec!r} ({CLIPS[spec]}) not found in "
                    f"{', '.join(audio_dir_candidates(audio_dir))}; set data.audio_dir or "
                    f"${AUDIO_DIR_ENV}, or give a path")
  return os.path.expanduser(spec)


def _check_file(path: str) -> None:
  try:
    st = os.stat(path)
  except FileNotFoundError:
    raise UserError(f"audio file not found: {path}") from None
  except OSError as e:
    raise UserError(f"cannot read audio file {path}: {e.strerror or e}") from None
  if not stat.S_ISREG(st.st_mode):
    raise UserError(f"audio file {path} is not a regular file")
  if st.st_size == 0:
    raise UserError(f"audio file {path} is empty (0 bytes)")


def to_float(raw: np.ndarray) -> np.ndarray:
  """Decoded WAV samples (as scipy returns them) as float32 in [-1, 1], shape (N, C)."""
  raw = raw.reshape(raw.shape[0], -1)
  if raw.dtype == np.uint8:
    return ((raw.astype(np.float32) - 128.0) / 128.0)
  if np.issubdtype(raw.dtype, np.signedinteger):
    return (raw.astype(np.float64) / 2.0 ** (8 * raw.dtype.itemsize - 1)).astype(np.float32)
  if np.issubdtype(raw.dtype, np.floating):
    return raw.astype(np.float32)
  raise UserError(f"unsupported WAV sample type {raw.dtype}")


def _chunks(f, size: int, big_endian: bool):
  """(id, body offset, declared body size) of each chunk after the 12-byte RIFF header."""
  pos = 12
  while pos + 8 <= size:
    f.seek(pos)
    head = f.read(8)
    n = struct.unpack(">I" if big_endian else "<I", head[4:])[0]
    yield head[:4], pos + 8, n
    pos += 8 + n + (n & 1)  # chunks are padded to an even size


def _header_fields(path: str, f, size: int) -> tuple:
  """(fmt fields, data offset, declared data bytes) from the chunks, or one-line UserErrors."""
  riff = f.read(12)
  if len(riff) < 12 or riff[:4] not in (b"RIFF", b"RIFX", b"RF64") or riff[8:] != b"WAVE":
    raise UserError(f"cannot read {path} as a WAV file: it has no RIFF/WAVE header")
  big = riff[:4] == b"RIFX"
  fmt, ds64 = None, None
  for chunk, offset, n in _chunks(f, size, big):
    if chunk == b"ds64" and n >= 16:  # RF64: the 64-bit sizes the 32-bit fields cannot hold
      ds64 = struct.unpack("<Q", (f.read(16))[8:])[0]
    elif chunk == b"fmt ":
      if n < 16 or offset + 16 > size:
        raise UserError(f"cannot read {path} as a WAV file: its fmt chunk is {n} bytes, under 16")
      fmt = struct.unpack((">" if big else "<") + "HHIIHH", f.read(16))
    elif chunk == b"data":
      if fmt is None:
        raise UserError(f"cannot read {path} as a WAV file: its data chunk comes before its fmt chunk")
      return fmt, offset, ds64 if (ds64 is not None and n == 0xFFFFFFFF) else n
  if fmt is None:
    raise UserError(f"cannot read {path} as a WAV file: it has no fmt chunk")
  raise UserError(f"{path} holds no audio samples (it has no data chunk)")


def read_header(path: str) -> WavHeader:
  """The WAV's format and length from its chunks, checked before any sample is decoded (see the module
  docstring); one-line UserErrors."""
  _check_file(path)
  try:
    with open(path, "rb") as f:
      size = os.fstat(f.fileno()).st_size
      fmt, offset, declared = _header_fields(path, f, size)
  except (OSError, struct.error) as e:
    raise UserError(f"cannot read {path} as a WAV file: {e}") from None
  _, channels, rate, _, align, bits = fmt
  if channels == 0 or align == 0 or bits == 0:
    raise UserError(f"cannot read {path} as a WAV file: its fmt chunk declares {channels} channel(s) "
                    f"of {bits} bits, {align} bytes a frame")
  if rate == 0:
    raise UserError(f"{path} has an invalid sample rate 0")
  if declared > size - offset:
    raise UserError(f"{path} is truncated: its data chunk declares {declared} bytes but the file holds "
                    f"{max(size - offset, 0)} after the chunk's header")
  if declared < align:
    raise UserError(f"{path} holds no audio samples")
  return WavHeader(rate=int(rate), channels=int(channels), bits=int(bits), frames=declared // align)


def read_wav(path: str, first: int = 0, last: int = -1) -> tuple:
  """(rate, float32 (N, C) samples ``first:last`` (-1: to the end)) of the WAV at ``path``; bad or
  unsupported files are one-line UserErrors."""
  header = read_header(path)
  try:
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter("always", wavfile.WavFileWarning)  # unknown chunks are skipped: fine
      # Mapped rather than read where scipy can (not 24-bit), so only the cut is ever in memory.
      rate, raw = wavfile.read(path, mmap=header.bits in (8, 16, 32, 64))
  except (ValueError, EOFError, OSError, IndexError, TypeError, struct.error) as e:
    raise UserError(f"cannot read {path} as a WAV file: {e}") from None
  truncated = [w for w in caught if "prematurely" in str(w.message)]
  if truncated:  # scipy returns what it got; a cut-off file is corrupt, not a shorter clip
    raise UserError(f"{path} is truncated: {truncated[0].message}")
  if raw.size == 0:
    raise UserError(f"{path} holds no audio samples")
  samples = to_float(raw[first:None if last < 0 else last])
  del raw  # closes the mapping
  if not np.all(np.isfinite(samples)):
    raise UserError(f"{path} holds non-finite samples (NaN or infinity)")
  return int(rate), samples


def cut_range(frames: int, rate: int, start: float, seconds: float, source: str) -> tuple:
  """(first, last) sample of the cut ``start`` + ``seconds`` (0: to the end) of ``frames`` samples."""
  first = int(round(start * rate))
  last = frames if seconds <= 0 else min(frames, first + int(round(seconds * rate)))
  if first >= frames:
    raise UserError(f"data.start={start:g} s is past the end of {source} ({frames / rate:.3f} s)")
  if last - first < 2:
    raise UserError(f"the clip cut from {source} has {last - first} sample(s); at least 2 are needed")
  return first, last


def check_length(frames: int, channels: int, max_samples: int) -> None:
  if max_samples and frames * channels > max_samples:
    raise UserError(f"the clip has {frames} samples x {channels} channel(s), over "
                    f"data.max_samples={max_samples}; cut it (data.seconds) or raise the limit")


def load_audio(spec: str, audio_dir: str = "", start: float = 0.0, seconds: float = 0.0,
               mono: bool = False, max_samples: int = 0) -> AudioData:
  """The clip ``spec`` names ("synth", "bach", "counting" or a path), cut to ``seconds`` (0 = to the
  end) from ``start`` and mixed down to one channel if ``mono``."""
  if spec == "synth":
    source, samples = "siren_jax.signals.audio.clips.synth", synth()
    rate, frames, channels = SYNTH_RATE, samples.shape[0], samples.shape[1]
  else:
    source = resolve_path(spec, audio_dir)
    header = read_header(source)
    rate, frames, channels = header.rate, header.frames, header.channels
  first, last = cut_range(frames, rate, start, seconds, source)
  check_length(last - first, 1 if mono else channels, max_samples)  # before decoding
  if spec == "synth":
    samples = samples[first:last]
  else:
    rate, samples = read_wav(source, first, last)
  if mono and samples.shape[1] > 1:
    samples = samples.mean(axis=1, keepdims=True)
  name = spec if spec == "synth" or spec in CLIPS else os.path.splitext(os.path.basename(spec))[0]
  return AudioData(np.ascontiguousarray(samples, np.float32), rate, name, source)


def time_coords(num_samples: int, coord_range: float) -> np.ndarray:
  """(N, 1) float32 coordinates of N samples: ``np.linspace(-R, R, N)`` (the official code's grid)."""
  return np.linspace(-coord_range, coord_range, num_samples).astype(np.float32)[:, None]


def render_coords(num_samples: int, rate: int, out_rate: int, coord_range: float,
                  first: int = 0, count: int = 0) -> np.ndarray:
  """(M, 1) coordinates of output samples ``first .. first+count`` at ``out_rate`` over the span of a
  clip of ``num_samples`` samples at ``rate``: output sample j sits at time j / out_rate, which is
  coordinate -R + 2 R (j rate / out_rate) / (N - 1)."""
  j = np.arange(first, first + count, dtype=np.float64)
  return (-coord_range + 2.0 * coord_range * (j * rate / out_rate) / (num_samples - 1)
          ).astype(np.float32)[:, None]


def num_render_samples(num_samples: int, rate: int, out_rate: int) -> int:
  """Output samples at ``out_rate`` covering the training span (its last sample included)."""
  return int(np.floor((num_samples - 1) * out_rate / rate + 1e-9)) + 1


def write_wav(path: str, samples: np.ndarray, rate: int) -> None:
  """``samples`` (N, C) as a 32-bit float WAV, atomically."""
  samples = np.asarray(samples, np.float32)
  with outputs.atomic_path(path) as tmp:
    wavfile.write(tmp, int(rate), samples[:, 0] if samples.shape[1] == 1 else samples)


def pcm16(samples: np.ndarray) -> np.ndarray:
  """float samples in [-1, 1] as int16 (clipped, rounded): the compact form a report page embeds."""
  return np.round(np.clip(np.asarray(samples, np.float64), -1.0, 1.0) * 32767.0).astype(np.int16)
