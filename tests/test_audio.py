"""Audio: WAV readers for every format (files made here, byte by byte), coordinates, the task's outputs,
rendering, the report's players, and bad input (one ``error:`` line, exit 2, nothing written)."""

import json
import os
import shutil
import struct
import sys

import numpy as np
import pytest
from scipy.io import wavfile

from siren_jax import configuration, report
from siren_jax.engine import train, trained
from siren_jax.errors import UserError
from siren_jax.signals.audio import clips as audio, render as audio_render, task as audio_task
import forkserver

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
F32_EPS = float(np.finfo(np.float32).eps)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def wav_bytes(fmt_tag: int, bits: int, channels: int, rate: int, payload: bytes,
              extensible: bool = False) -> bytes:
  """A RIFF/WAVE file: a plain ``fmt `` chunk, or WAVE_FORMAT_EXTENSIBLE carrying ``fmt_tag`` in
  its sub-format GUID."""
  block = channels * bits // 8
  if extensible:
    guid = struct.pack("<H", fmt_tag) + bytes.fromhex("000000001000800000aa00389b71")
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * block, block, bits, 22, bits, 0) + guid
  else:
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
  body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data"
          + struct.pack("<I", len(payload)) + payload)
  return b"RIFF" + struct.pack("<I", len(body)) + body


def _write(tmp_path, name, content: bytes) -> str:
  path = str(tmp_path / name)
  with open(path, "wb") as f:
    f.write(content)
  return path


# Interleaved (frame, channel) integer codes and the floats they must decode to, per format.
PCM_CASES = {
    "pcm8": (8, [0, 128, 255, 64], lambda v: bytes([v]), lambda v: (v - 128) / 128),
    "pcm16": (16, [0, 1, -1, 32767, -32768, 1234], lambda v: struct.pack("<h", v), lambda v: v / 2 ** 15),
    "pcm24": (24, [0, 1, -1, 8388607, -8388608, -4000000], lambda v: struct.pack("<i", v)[:3],
              lambda v: v / 2 ** 23),
    "pcm32": (32, [0, 1, -1, 2 ** 31 - 1, -2 ** 31, 123456789], lambda v: struct.pack("<i", v),
              lambda v: v / 2 ** 31),
}


@pytest.mark.parametrize("extensible", [False, True])
@pytest.mark.parametrize("case", sorted(PCM_CASES))
def test_reads_pcm_exactly(tmp_path, case, extensible):
  bits, codes, pack, expected = PCM_CASES[case]
  channels = 2
  codes = codes if len(codes) % 2 == 0 else codes + codes[:1]
  path = _write(tmp_path, f"{case}.wav",
                wav_bytes(1, bits, channels, 11025, b"".join(pack(v) for v in codes), extensible))
  rate, samples = audio.read_wav(path)
  assert rate == 11025 and samples.shape == (len(codes) // 2, 2) and samples.dtype == np.float32
  want = np.array([expected(v) for v in codes], np.float64).reshape(-1, 2)
  # Each code over a power of two is exact in float32 up to 24 significant bits: one rounding.
  np.testing.assert_allclose(samples, want, rtol=F32_EPS / 2, atol=0)


@pytest.mark.parametrize("dtype,tag,bits", [(np.float32, 3, 32), (np.float64, 3, 64)])
@pytest.mark.parametrize("extensible", [False, True])
def test_reads_float_exactly(tmp_path, dtype, tag, bits, extensible):
  values = np.array([0.0, 0.5, -0.25, 1.0, -1.0, 0.123456789], dtype)
  path = _write(tmp_path, "f.wav", wav_bytes(tag, bits, 1, 44100, values.astype("<" + np.dtype(dtype).str[1:]).tobytes(),
                                             extensible))
  rate, samples = audio.read_wav(path)
  assert rate == 44100 and samples.shape == (6, 1)
  np.testing.assert_array_equal(samples[:, 0], values.astype(np.float32))


def test_reads_what_scipy_writes_multichannel(tmp_path):
  data = (np.arange(30, dtype=np.int16).reshape(10, 3) - 15) * 1000
  path = str(tmp_path / "three.wav")
  wavfile.write(path, 16000, data)
  rate, samples = audio.read_wav(path)
  assert rate == 16000 and samples.shape == (10, 3)
  np.testing.assert_array_equal(samples, data / 32768.0)


@pytest.mark.parametrize("content,needle", [
    (b"", "empty"),
    (b"RIFF\x10\x00\x00\x00garbage-not-wave", "cannot read"),
    (wav_bytes(2, 4, 1, 8000, b"\x00" * 16), "cannot read"),  # ADPCM: an unsupported codec
    (wav_bytes(1, 16, 1, 8000, b""), "no audio samples"),  # a header and no samples
    (wav_bytes(1, 16, 1, 8000, b"\x01\x00" * 32)[:-9], "truncated"),
])
def test_bad_files_are_one_line_errors(tmp_path, content, needle):
  path = _write(tmp_path, "bad.wav", content)
  with pytest.raises(UserError, match=needle):
    audio.read_wav(path)


def _declaring(data_bytes: int, payload: bytes) -> bytes:
  """A 16-bit mono WAV whose data chunk declares ``data_bytes`` but holds ``payload``."""
  whole = wav_bytes(1, 16, 1, 8000, payload)
  at = whole.index(b"data") + 4
  return whole[:at] + struct.pack("<I", data_bytes) + whole[at + 4:]


@pytest.mark.parametrize("content,needle", [
    (wav_bytes(1, 16, 1, 8000, b"")[:-8], "no data chunk"),  # a header and no data chunk at all
    (wav_bytes(1, 16, 0, 8000, b"\x01\x00" * 8), "0 channel"),
    (_declaring(16000, b"\x01\x00" * 50), "truncated"),  # 16,000 bytes declared, 100 present
    (_declaring(10 * 3600 * 8000 * 2, b"\x01\x00" * 50), "truncated"),  # ten hours declared
    (b"RIFF\x04\x00\x00\x00WAVE", "no fmt chunk"),
    (wav_bytes(1, 16, 1, 0, b"\x01\x00" * 8), "sample rate"),
], ids=["no data chunk", "0 channels", "16000 bytes declared", "ten hours declared", "no fmt chunk",
        "rate 0"])
def test_malformed_headers_are_one_line_errors(tmp_path, content, needle):
  """What scipy's reader met with a traceback (no data chunk, 0 channels) or read silently short (a
  data chunk declaring more than the file holds) is refused from the header, in one line."""
  path = _write(tmp_path, "bad.wav", content)
  with pytest.raises(UserError, match=needle):
    audio.read_wav(path)
  with pytest.raises(UserError, match=needle):
    audio.load_audio(path)


def test_the_length_guard_reads_only_the_header(tmp_path, monkeypatch):
  """data.max_samples is checked on the header's length: a clip over it is never decoded."""
  path = _write(tmp_path, "long.wav", wav_bytes(1, 16, 2, 8000, b"\x01\x00" * 2 * 400))

  def no_decoding(*args, **kwargs):
    raise AssertionError("the samples were decoded")

  monkeypatch.setattr(audio.wavfile, "read", no_decoding)
  with pytest.raises(UserError, match="400 samples x 2 channel"):
    audio.load_audio(path, max_samples=799)
  with pytest.raises(UserError, match="100 samples x 1 channel"):
    audio.load_audio(path, start=0.0125, seconds=0.0125, mono=True, max_samples=99)
  monkeypatch.undo()
  clip = audio.load_audio(path, start=0.0125, seconds=0.0125, mono=True, max_samples=100)
  assert clip.samples.shape == (100, 1)


def test_time_coords_follow_the_official_grid_and_render_coords_agree():
  n, r = 9, 100.0
  coords = audio.time_coords(n, r)
  np.testing.assert_array_equal(coords[:, 0], np.linspace(-r, r, n).astype(np.float32))
  # At the clip's own rate a render samples exactly the training coordinates (up to one rounding).
  again = audio.render_coords(n, 8000, 8000, r, 0, n)
  np.testing.assert_allclose(again, coords, rtol=0, atol=r * F32_EPS)
  assert audio.num_render_samples(n, 8000, 8000) == n
  assert audio.num_render_samples(n, 8000, 16000) == 2 * (n - 1) + 1  # both ends kept
  twice = audio.render_coords(n, 8000, 16000, r, 0, 2 * (n - 1) + 1)
  np.testing.assert_allclose(twice[::2], coords, rtol=0, atol=r * F32_EPS)


def test_synth_is_deterministic_and_in_range():
  a, b = audio.synth(), audio.synth()
  np.testing.assert_array_equal(a, b)
  assert a.shape == (audio.SYNTH_RATE * int(audio.SYNTH_SECONDS), 1)
  assert 0.5 < np.max(np.abs(a)) <= 0.9 + F32_EPS


def test_load_cuts_and_mixes_down(tmp_path):
  data = np.stack([np.linspace(-1, 1, 100), np.linspace(1, -1, 100) * 0.5], 1).astype(np.float32)
  path = str(tmp_path / "st.wav")
  wavfile.write(path, 100, data)
  clip = audio.load_audio(path, start=0.1, seconds=0.5, mono=True)
  assert clip.samples.shape == (50, 1) and clip.rate == 100 and clip.name == "st"
  np.testing.assert_allclose(clip.samples[:, 0], data[10:60].mean(axis=1), rtol=0, atol=F32_EPS)
  with pytest.raises(UserError, match="past the end"):
    audio.load_audio(path, start=5.0)
  with pytest.raises(UserError, match="max_samples"):
    audio.load_audio(path, max_samples=50)


def test_named_clips_are_looked_up_in_the_audio_dir(tmp_path, monkeypatch):
  monkeypatch.setenv(audio.AUDIO_DIR_ENV, str(tmp_path))
  monkeypatch.setattr(audio, "DEFAULT_AUDIO_DIR", str(tmp_path / "absent"))
  with pytest.raises(UserError, match="gt_bach.wav"):
    audio.load_audio("bach")
  wavfile.write(str(tmp_path / "gt_bach.wav"), 1000, np.zeros(10, np.float32) + 0.5)
  assert audio.load_audio("bach").source == str(tmp_path / "gt_bach.wav")


def test_metrics():
  ref = np.array([[1.0], [-1.0], [0.5], [0.0]], np.float32)
  pred = ref + np.array([[0.1], [0.0], [-0.1], [0.0]], np.float32)
  assert audio_task.mse(pred, ref) == pytest.approx(0.02 / 4, rel=1e-6)
  assert audio_task.snr_db(pred, ref) == pytest.approx(10 * np.log10(2.25 / 0.02), rel=1e-6)
  assert audio_task.snr_db(ref, ref) == float("inf")


def tiny_config(tmp_path, **data):
  """configs/audio.py on a 300-sample stereo clip written here, a 1x16 SIREN, 6 steps."""
  config = configuration.repo_config("audio")
  t = np.arange(300) / 3000.0
  clip = np.stack([0.5 * np.sin(2 * np.pi * 220 * t), 0.25 * np.sin(2 * np.pi * 440 * t)], 1)
  path = str(tmp_path / "clip.wav")
  wavfile.write(path, 3000, clip.astype(np.float32))
  config.data.audio = path
  config.model.width, config.model.depth = 16, 1
  config.train.num_steps, config.train.log_every, config.train.checkpoint_every = 6, 3, 6
  config.train.learning_rate = 1e-3
  for k, v in data.items():
    config.data[k] = v
  return config


def test_task_arrays_match_the_clip(tmp_path):
  config = tiny_config(tmp_path, coord_range=100.0)
  task = audio_task.prepare(config)
  assert task.reference.shape == (300, 2) and task.out_features == 2 and task.rate == 3000
  clip = audio.read_wav(config.data.audio)[1]
  assert task.scale == float(np.max(np.abs(clip)))
  assert float(np.max(np.abs(task.reference))) == pytest.approx(1.0, abs=F32_EPS)
  np.testing.assert_array_equal(task.arrays["coords"], audio.time_coords(300, 100.0))
  np.testing.assert_array_equal(task.arrays["values"], task.reference)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
  """A finished tiny stereo fit: (workdir, summary, directory for extra files)."""
  tmp_path = tmp_path_factory.mktemp("audio_fit")
  workdir = str(tmp_path / "run")
  return workdir, train.train_and_evaluate(tiny_config(tmp_path), workdir), tmp_path


def test_fit_writes_audio_outputs(fitted):
  workdir, summary, _ = fitted
  for name in ("reconstruction.wav", "original.wav", "waveform.png", "spectrogram.png", "curves.png",
               "report.html", "summary.json", "metrics.jsonl"):
    assert os.path.exists(os.path.join(workdir, name)), name
  assert summary["samples"] == 300 and summary["channels"] == 2 and summary["rate"] == 3000
  rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  assert [r["step"] for r in rows] == [0, 3, 6] and all("snr" in r and "psnr" not in r for r in rows)
  rate, recon = audio.read_wav(os.path.join(workdir, "reconstruction.wav"))
  _, orig = audio.read_wav(os.path.join(workdir, "original.wav"))
  assert rate == 3000 and recon.shape == orig.shape == (300, 2)
  peak = summary["peak"]
  err = (recon.astype(np.float64) - orig) / peak
  assert summary["mse"] == pytest.approx(float(np.mean(err ** 2)), rel=1e-4)
  assert summary["snr"] == pytest.approx(audio_task.snr_db(recon / peak, orig / peak), abs=1e-3)


def test_render_reproduces_the_fit_at_any_rate(fitted):
  """At the clip's rate the render command reproduces reconstruction.wav; at twice the rate, every
  other sample is the same time again."""
  workdir, _, tmp_path = fitted
  _, recon = audio.read_wav(os.path.join(workdir, "reconstruction.wav"))
  assert audio_render.render_to_wav(trained.load_run(workdir), str(tmp_path / "same.wav"), 3000) == 300
  proc = forkserver.run([sys.executable, "-m", "siren_jax.render", f"--workdir={workdir}",
                         f"--out={tmp_path / 'double.wav'}", "--rate=6000"], cwd=ROOT,
                        capture_output=True, text=True, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  _, same = audio.read_wav(str(tmp_path / "same.wav"))
  _, double = audio.read_wav(str(tmp_path / "double.wav"))
  assert double.shape == (599, 2)
  # Chunked vs whole-clip evaluation of the same float32 network: a few roundings of |values| <= ~2.
  tol = 64 * F32_EPS * max(1.0, float(np.max(np.abs(recon))))
  np.testing.assert_allclose(same, recon, rtol=0, atol=tol)
  np.testing.assert_allclose(double[::2], recon, rtol=0, atol=tol)
  proc = forkserver.run([sys.executable, "-m", "siren_jax.render", f"--workdir={workdir}",
                         f"--out={tmp_path / 'x.wav'}", "--resolution=512"], cwd=ROOT,
                        capture_output=True, text=True, check=False)  # an SDF flag: did nothing before
  assert proc.returncode == 2 and proc.stderr.startswith("error: --resolution: not a flag for audio")
  assert proc.stderr.count("\n") == 1 and not (tmp_path / "x.wav").exists()


def test_report_plays_both_clips_in_chromium(fitted):
  workdir, _, _ = fitted
  html = open(report.write_report(workdir), encoding="utf-8").read()
  assert html.count("<audio controls") == 2 and "data:audio/wav;base64," in html
  assert "waveform panel" in html and "spectrograms" in html and "SNR (dB)" in html
  missing = pytest.fail if os.environ.get("CI") else pytest.skip
  try:
    from playwright import sync_api  # pylint: disable=g-import-not-at-top
  except ImportError:
    missing("playwright is not installed (pip install -r requirements-test.txt)")
  if not os.path.exists(CHROMIUM):
    missing(f"no Chromium at {CHROMIUM}")
  with sync_api.sync_playwright() as p:
    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                args=["--headless", "--no-sandbox", "--disable-gpu"])
    page = browser.new_page()
    page.goto("file://" + os.path.join(workdir, "report.html"))
    page.wait_for_function("Array.from(document.querySelectorAll('audio')).every(a => a.readyState >= 1)")
    durations = page.evaluate("Array.from(document.querySelectorAll('audio')).map(a => a.duration)")
    shown = page.evaluate("Array.from(document.querySelectorAll('#audio img')).map(i => i.naturalWidth)")
    browser.close()
  # The browser decoded both embedded WAVs: 300 samples at 3000 Hz.
  assert durations == [pytest.approx(0.1, abs=1 / 3000)] * 2
  assert len(shown) == 2 and all(w > 0 for w in shown)  # waveform panel and spectrograms


def test_resume_continues_an_audio_run(tmp_path):
  config = tiny_config(tmp_path)
  workdir = str(tmp_path / "run")
  config.train.num_steps, config.train.checkpoint_every = 3, 3
  train.train_and_evaluate(config, workdir)
  config.train.num_steps = 6
  summary = train.train_and_evaluate(config, workdir)  # a longer run resumes from step 3
  rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  assert summary["steps"] == 6 and [r["step"] for r in rows] == [0, 3, 6]


def _main(tmp_path, *flags):
  workdir = str(tmp_path / "w")
  proc = forkserver.run([sys.executable, "-m", "siren_jax.main", "--config=configs/audio.py",
                         f"--workdir={workdir}", *flags], cwd=ROOT, capture_output=True, text=True,
                        check=False)
  return proc, workdir


def test_bad_wav_on_the_command_line(tmp_path):
  path = _write(tmp_path, "bad.wav", wav_bytes(7, 8, 1, 8000, b"\x00" * 16))  # mu-law: unsupported
  proc, workdir = _main(tmp_path, f"--config.data.audio={path}")
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert lines[-1].startswith("error: ") and "Traceback" not in proc.stderr
  assert not os.path.exists(workdir)


@pytest.mark.parametrize("content", [b"", b"RIFF\x10\x00\x00\x00garbage-not-wave",
                                     wav_bytes(1, 16, 1, 8000, b"")])
def test_bad_wav_is_refused_before_anything_is_written(tmp_path, content):
  config = tiny_config(tmp_path)
  config.data.audio = _write(tmp_path, "bad.wav", content)
  workdir = str(tmp_path / "w")
  with pytest.raises(UserError):
    train.train_and_evaluate(config, workdir)
  assert not os.path.exists(workdir)


def test_bad_config_values_are_refused(tmp_path):
  for field, value in (("seconds", -1.0), ("coord_range", 0.0), ("start", float("nan"))):
    config = tiny_config(tmp_path)
    config.data[field] = value
    with pytest.raises(UserError, match=f"data.{field}"):
      configuration.validate(config)
  config = tiny_config(tmp_path)
  config.train.supervision = "gradient"
  with pytest.raises(UserError, match="values only"):
    configuration.validate(config)
