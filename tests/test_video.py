"""Video: the readers (frame directories, animated GIFs, video files through PyAV, the built-in clip),
the (t, y, x) coordinates the step gathers, a tiny fit's outputs, resume, sweep, render (slow motion,
single frames), the report, and bad input (one line, exit 2, nothing written)."""

import json
import os
import shutil
import signal
import sys

import ml_collections
import numpy as np
import pytest
from PIL import Image

from siren_jax import configuration, report, sweep
from siren_jax.engine import step, train, trained
from siren_jax.errors import UserError
from siren_jax.signals.image import data
from siren_jax.signals.video import (clips as video, files as video_files, render as video_render,
                                     task as video_task)
import forkserver
from conftest import ROOT
from floatbounds import EPS32, assert_within
from test_report import browser  # noqa: F401  (the fixture: Chromium through playwright)

T, H, W = 6, 12, 16
VIDEO_CONFIG = os.path.join(ROOT, "configs", "video.py")


def moving_frames(t=T, h=H, w=W) -> np.ndarray:
  """uint8 (t, h, w, 3): a smooth colour pattern drifting right by one pixel a frame."""
  y, x = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
  frames = [np.stack([np.sin((x - i) / 3.0 + c) * np.cos(y / 4.0 - c) for c in range(3)], -1)
            for i in range(t)]
  return np.round((np.stack(frames) + 1.0) * 127.5).astype(np.uint8)


def write_dir(path, frames, names=None):
  os.makedirs(path, exist_ok=True)
  for i, f in enumerate(frames):
    Image.fromarray(f).save(os.path.join(path, names[i] if names else f"f{i:03d}.png"))
  return str(path)


def write_lossless_mp4(path, frames, fps=12):
  import av
  with av.open(str(path), "w") as c:
    s = c.add_stream("libx264rgb", rate=fps)
    s.width, s.height, s.pix_fmt, s.options = frames.shape[2], frames.shape[1], "rgb24", {"qp": "0"}
    for f in frames:
      c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
    c.mux(s.encode())
  return str(path)


def tiny_video_config(source, **overrides):
  config = configuration.load_config(VIDEO_CONFIG)
  config.data.video = source
  config.data.height = config.data.width = 0
  config.model.width, config.model.depth = 32, 2
  config.train.num_steps, config.train.batch_size = 40, 256
  config.train.log_every, config.train.checkpoint_every = 20, 20
  config.eval.chunk_size = 256
  for key, value in overrides.items():
    section, field = key.split("__")
    setattr(config[section] if section != "top" else config, field, value)
  return config


# ----------------------------------------------------------------------------------------- readers


def test_frame_directory_is_read_in_name_order_exactly(tmp_path):
  frames = moving_frames()
  names = [f"frame_{i:02d}.png" for i in range(T)]
  order = [3, 0, 5, 1, 4, 2]  # written out of order: reading must sort by name
  for i in order:
    Image.fromarray(frames[i]).save(tmp_path / names[i])
  (tmp_path / "notes.txt").write_text("not a frame")
  clip = video.load_clip(str(tmp_path))
  assert clip.frames.dtype == np.uint8 and np.array_equal(clip.frames, frames)


def test_gif_and_lossless_mp4_read_back_exactly(tmp_path):
  frames = moving_frames()
  grey_levels = (frames // 64 * 64).astype(np.uint8)  # few colours: a GIF palette holds them exactly
  Image.fromarray(grey_levels[0]).save(tmp_path / "a.gif", save_all=True,
                                       append_images=[Image.fromarray(f) for f in grey_levels[1:]],
                                       duration=100, loop=0)
  gif = video.load_clip(str(tmp_path / "a.gif"))
  assert np.array_equal(gif.frames, grey_levels) and gif.fps == pytest.approx(10.0)
  mp4 = video.load_clip(write_lossless_mp4(tmp_path / "a.mp4", frames))
  assert np.array_equal(mp4.frames, frames) and mp4.fps == pytest.approx(12.0)


def test_cuts_frames_step_and_size(tmp_path):
  frames = moving_frames(t=9)
  clip = video.load_clip(write_dir(tmp_path / "d", frames), num_frames=3, frame_step=2)
  assert np.array_equal(clip.frames, frames[[0, 2, 4]])
  small = video.load_clip(str(tmp_path / "d"), height=6, width=8, resize="exact")
  assert small.shape == (9, 6, 8, 3) and small.native_shape == (H, W)


def test_builtin_clip_is_deterministic_and_moves():
  a = video.load_clip("astronaut_pan", num_frames=4, height=32, width=32)
  b = video.load_clip("astronaut_pan", num_frames=4, height=32, width=32)
  assert a.shape == (4, 32, 32, 3) and np.array_equal(a.frames, b.frames)
  assert all(not np.array_equal(a.frames[i], a.frames[i + 1]) for i in range(3))  # every frame moves
  ends = video.load_clip("astronaut_pan", frame_step=video.SYNTH_FRAMES - 1, height=32, width=32)
  assert ends.shape[0] == 2  # first and last: different views (zoom 70 % -> 45 %), not a still
  assert np.abs(ends.frames[0].astype(int) - ends.frames[1].astype(int)).mean() > 20


def test_writers_round_trip(tmp_path):
  frames = moving_frames()
  assert video_files.write_clip(str(tmp_path / "c.webp"), frames, 12) == T
  with Image.open(tmp_path / "c.webp") as im:
    assert im.n_frames == T and im.size == (W, H)
  assert video_files.write_clip(str(tmp_path / "pngs") + "/", frames, 12) == T
  assert np.array_equal(video.load_clip(str(tmp_path / "pngs")).frames, frames)  # PNG is lossless
  video_files.write_clip(str(tmp_path / "c.mp4"), frames, 12)  # H.264 in yuv420p: lossy
  back = video.load_clip(str(tmp_path / "c.mp4")).frames
  # A coarse check that these are the same pictures in the same order (a swapped channel or frame is
  # far below): chroma subsampling and quantisation of a smooth 12x16 pattern stay above 25 dB.
  assert back.shape == frames.shape
  assert all(data_psnr(b, f) > 25 for b, f in zip(back, frames))


def data_psnr(a, b):
  from siren_jax.engine import metrics
  return metrics.psnr(a / 255.0, b / 255.0)


# ------------------------------------------------------------------------------------- coordinates


def test_gather_gives_the_frame_coordinates_and_targets(tmp_path):
  task = video_task.prepare(tiny_video_config(write_dir(tmp_path / "d", moving_frames())))
  idx = np.array([0, 5, W, H * W, H * W + 7, T * H * W - 1], np.int32)
  batch = video_task.gather({k: np.asarray(v) for k, v in task.arrays.items()}, idx)
  t, rest = idx // (H * W), idx % (H * W)
  for j in range(idx.size):  # exactly the coordinates evaluation renders frame t at
    np.testing.assert_array_equal(np.asarray(batch["coords"][j]),
                                  video.frame_coords(task.arrays["t"][t[j]], H, W)[rest[j]])
  expected = data.to_signed(task.frames.reshape(-1, 3)[idx].astype(np.float32) / 255.0)
  assert_within(batch["values"], expected, 3 * EPS32, "targets")  # /255, *2, -1: three roundings
  assert np.all(np.abs(batch["coords"]) < 1) and np.asarray(batch["weights"]).sum() == idx.size
  centres = data.pixel_centres(T)
  np.testing.assert_array_equal(task.arrays["t"], centres)
  np.testing.assert_allclose(video_render.frame_times(T), centres, atol=EPS32)


def test_sample_indices_are_a_pure_function_of_key_and_step():
  import jax
  key = jax.random.PRNGKey(3)
  a, b = step.sample_indices(key, 5, 64, 1000), step.sample_indices(key, 5, 64, 1000)
  assert np.array_equal(a, b) and not np.array_equal(a, step.sample_indices(key, 6, 64, 1000))
  assert 0 <= int(a.min()) and int(a.max()) < 1000
  assert np.array_equal(step.sample_indices(key, 0, 0, 7), np.arange(7))


def test_time_omega_scales_only_the_time_coordinate(tmp_path):
  config = tiny_video_config(write_dir(tmp_path / "d", moving_frames()), model__time_omega_0=60.0)
  task = video_task.prepare(config)
  assert task.time_scale == 2.0
  np.testing.assert_array_equal(task.arrays["t"], data.pixel_centres(T) * np.float32(2.0))
  np.testing.assert_allclose(task.arrays["y"], data.pixel_centres(H), atol=2 * EPS32)


# ----------------------------------------------------------------------------- a fit and its files


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  d = tmp_path_factory.mktemp("video")
  config = tiny_video_config(write_dir(d / "frames", moving_frames()), model__time_omega_0=45.0)
  train.train_and_evaluate(config, str(d / "run"))
  return str(d / "run")


def test_outputs_and_per_frame_metrics(run_dir):
  with open(os.path.join(run_dir, "summary.json")) as f:
    summary = json.load(f)
  with open(os.path.join(run_dir, "frame_metrics.json")) as f:
    frames = json.load(f)
  psnrs = [r["psnr"] for r in frames]
  assert len(frames) == T == summary["frames"]
  assert summary["psnr"] == pytest.approx(np.mean(psnrs), rel=4 * EPS32)
  assert summary["psnr_frame_std"] == pytest.approx(np.std(psnrs), rel=1e-9, abs=1e-9)
  assert 0 < summary["ssim"] <= 1 and summary["psnr_protocol"] == "psnr_frame_mean"
  rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
  assert rows[-1]["psnr"] == summary["psnr"]  # the logged headline is the same per-frame mean
  assert summary["psnr"] > rows[0]["psnr"] + 3  # it learned
  for name in ("frames.png", "frame_metrics.png", "curves.png", "error.png", "original.png"):
    assert os.path.getsize(os.path.join(run_dir, name)) > 0
  for name in ("original.webm", "reconstruction.webm"):  # the report's clips: every frame, full size
    assert video.load_clip(os.path.join(run_dir, name)).frames.shape == (T, H, W, 3)


def test_render_reproduces_training_frames_and_slow_motion(run_dir, tmp_path):
  run = trained.load_run(run_dir)
  middle = np.asarray(Image.open(os.path.join(run_dir, "reconstruction.png")))
  frames = list(video_render.iter_frames(run, video_render.frame_times(T), H, W))
  assert len(frames) == T and np.abs(frames[T // 2].astype(int) - middle).max() <= 1
  slow = list(video_render.iter_frames(run, video_render.frame_times(2 * T), H, W))
  assert len(slow) == 2 * T and slow[0].shape == (H, W, 3)
  assert not np.array_equal(slow[0], slow[-1])  # time is an input: the clip moves
  flags = _render_flags(run_dir, str(tmp_path / "still.png"), t=float(video_render.frame_times(T)[T // 2]),
                        size="24x32")
  video_render.command(flags)
  assert np.asarray(Image.open(tmp_path / "still.png")).shape == (24, 32, 3)


def _render_flags(workdir, out, **kw):
  values = dict(workdir=workdir, out=out, scale=None, size="", window="", chunk_size=0, frames=0,
                time="", t=None, fps=0.0)
  values.update(kw)
  return type("Flags", (), values)()


def test_render_command_writes_slow_motion_gif(run_dir, tmp_path):
  out = tmp_path / "slow.gif"
  proc = forkserver.run([sys.executable, "-m", "siren_jax.render", f"--workdir={run_dir}",
                         f"--out={out}", f"--frames={3 * T}", "--scale=2"], cwd=ROOT,
                        capture_output=True, text=True)
  assert proc.returncode == 0, proc.stderr
  with Image.open(out) as im:
    assert im.n_frames == 3 * T and im.size == (2 * W, 2 * H)
  proc = forkserver.run([sys.executable, "-m", "siren_jax.render", f"--workdir={run_dir}",
                         f"--out={tmp_path / 'x.gif'}", "--rate=8000"], cwd=ROOT, capture_output=True,
                        text=True)  # an audio flag: did nothing before
  assert proc.returncode == 2 and proc.stderr.startswith("error: --rate: not a flag for video")
  assert proc.stderr.count("\n") == 1 and not (tmp_path / "x.gif").exists()


def test_resume_continues_with_the_same_batches(run_dir, tmp_path):
  copy = tmp_path / "resumed"
  shutil.copytree(run_dir, copy)
  shutil.rmtree(copy / "checkpoints" / "40")
  os.remove(copy / "summary.json")
  config = ml_collections.ConfigDict(json.load(open(os.path.join(run_dir, "config.json"))))
  resumed = train.train_and_evaluate(config, str(copy))
  original = json.load(open(os.path.join(run_dir, "summary.json")))
  assert resumed["psnr"] == original["psnr"]  # batches are a function of seed and step


def test_report_plays_both_clips(run_dir, request):
  chromium = request.getfixturevalue("browser")  # test_report's: no Chromium skips (fails in CI)
  path = report.write_report(run_dir)
  page = open(path, encoding="utf-8").read()
  assert page.count('src="data:video/webm;base64,') == 2 and 'id="video"' in page
  tab = chromium.new_page()
  tab.goto("file://" + os.path.abspath(path))
  tab.wait_for_load_state("load")
  tab.wait_for_function("[...document.querySelectorAll('#video video')].every(v => v.readyState >= 2)",
                        timeout=20000)
  clips = tab.eval_on_selector_all(
      "#video video", "els => els.map(e => [e.videoWidth, e.videoHeight, e.controls, e.duration])")
  tab.click("#video .next")  # one frame on: both clips step together
  tab.wait_for_function("[...document.querySelectorAll('#video video')].every(v => !v.seeking)")
  times = tab.eval_on_selector_all("#video video", "els => els.map(e => e.currentTime)")
  tab.wait_for_function("document.querySelector('#video .time').textContent === 'frame 2'", timeout=5000)
  tab.close()
  fps = json.load(open(os.path.join(run_dir, "summary.json")))["fps"]
  # Both clips decode in the browser, from the page alone, with controls, and last T frames.
  assert [c[:3] for c in clips] == [[W, H, True], [W, H, True]]
  assert all(abs(c[3] - T / fps) <= 1.0 / fps for c in clips)
  assert times[0] == times[1] and 1 / fps <= times[0] < 2 / fps


def test_sweep_over_omega_trains_points_together(tmp_path):
  frames = write_dir(tmp_path / "d", moving_frames(t=3, h=8, w=8))
  base = tiny_video_config(frames, train__num_steps=4, train__log_every=2, train__checkpoint_every=4)
  results = sweep.run_sweep(base, str(tmp_path / "s"), ["model.omega_0=20,30"])
  assert [r["status"] for r in results] == ["done", "done"]
  assert all(r["trained_together"] == 2 and r["image"] == "d" for r in results)
  assert os.path.exists(tmp_path / "s" / "results.csv")


# ---------------------------------------------------------------------------------------- bad input


def _bad_inputs(tmp_path):
  frames = moving_frames()
  empty = tmp_path / "empty"
  empty.mkdir()
  (empty / "readme.txt").write_text("no frames here")
  mixed = write_dir(tmp_path / "mixed", frames[:2])
  Image.fromarray(moving_frames(t=1, h=H + 2)[0]).save(tmp_path / "mixed" / "z.png")
  single = tmp_path / "one.gif"
  Image.fromarray(frames[0]).save(single)
  garbage = tmp_path / "bad.mp4"
  garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
  return [(str(empty), "holds no image files"), (mixed, "all frames must have one size"),
          (str(single), "at least 2"), (str(garbage), "cannot"),
          (unknown_codec_avi(tmp_path / "unknown.avi"), "codec is not supported"),
          (str(tmp_path / "missing.mp4"), "not found")]


def unknown_codec_avi(path):
  """An AVI whose video stream's FourCC no decoder knows (an MPEG-4 file with its tag renamed)."""
  video_files.write_clip(str(path), moving_frames(t=3), 10)
  payload = path.read_bytes()
  assert payload.count(b"FMP4") > 0
  path.write_bytes(payload.replace(b"FMP4", b"ZZZZ"))
  return str(path)


def test_bad_inputs_are_one_line_errors(tmp_path):
  for source, message in _bad_inputs(tmp_path):
    with pytest.raises(UserError, match=message):
      train.preflight([tiny_video_config(source)])


def _truncated(path, frames):
  """An animated file (GIF or APNG, by ``path``'s extension) cut two thirds of the way through."""
  Image.fromarray(frames[0]).save(path, save_all=True, duration=40,
                                  append_images=[Image.fromarray(f) for f in frames[1:]])
  payload = path.read_bytes()
  path.write_bytes(payload[:len(payload) * 2 // 3])
  return str(path)


class Blocked(BaseException):
  """Not an OSError (TimeoutError is one), so that no reader's handler takes it for a bad file."""


@pytest.fixture
def alarm():
  """Fails a test that blocks (reading a FIFO) instead of hanging the suite."""
  def timeout(signum, frame):
    raise Blocked("blocked for 30 s")
  previous = signal.signal(signal.SIGALRM, timeout)
  signal.alarm(30)
  yield
  signal.alarm(0)
  signal.signal(signal.SIGALRM, previous)


def test_special_damaged_and_oversized_sources_are_one_line_errors(tmp_path, alarm, monkeypatch):
  """A FIFO named like a video is refused without blocking; a truncated GIF or APNG, and frames over
  data.max_pixels or Pillow's own limit, are one-line errors (tracebacks before)."""
  frames = moving_frames(t=4, h=32, w=32)
  fifo = tmp_path / "pipe.mp4"
  os.mkfifo(fifo)
  cases = [(str(fifo), "not a regular file"),
           (_truncated(tmp_path / "cut.gif", frames), "truncated or corrupt"),
           (_truncated(tmp_path / "cut.png", frames), "truncated or corrupt")]
  for source, message in cases:
    with pytest.raises(UserError, match=message):
      video.load_clip(source)
  directory = write_dir(tmp_path / "d", frames)
  gif = tmp_path / "a.gif"
  Image.fromarray(frames[0]).save(gif, save_all=True, append_images=[Image.fromarray(f) for f in frames])
  for source in (directory, str(gif)):
    with pytest.raises(UserError, match="over data.max_pixels=1000"):
      video.load_clip(source, max_pixels=1000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow refuses over twice this
    with pytest.raises(UserError, match="refused by Pillow as too large"):
      video.load_clip(source)
    monkeypatch.undo()


def test_a_damaged_frame_is_one_error_and_no_warnings(tmp_path, recwarn, caplog):
  """A frame directory whose second TIFF points its first IFD past the end of the file: Pillow warns
  (corrupt EXIF data) and logs before failing; only the error may come out."""
  directory = write_dir(tmp_path / "d", moving_frames(t=3), names=["a.tif", "b.tif", "c.tif"])
  path = tmp_path / "d" / "b.tif"
  payload = bytearray(path.read_bytes())
  payload[4:8] = b"\xff" * 4  # the offset of the first IFD (TIFF 6.0, section 2)
  path.write_bytes(bytes(payload))
  with pytest.raises(UserError, match="b.tif"):
    video.load_clip(directory)
  assert not recwarn.list and not [r for r in caplog.records if r.name.startswith("PIL")]


def test_too_many_frames_stop_decoding(tmp_path):
  directory = write_dir(tmp_path / "d", moving_frames())
  with pytest.raises(UserError, match="3 frames of 12x16 .* over 500 samples"):
    video.load_clip(directory, max_samples=500)


def test_bad_input_on_the_command_line_writes_nothing(tmp_path):
  workdir = tmp_path / "run"
  proc = forkserver.run([sys.executable, "-m", "siren_jax.main", f"--config={VIDEO_CONFIG}",
                         f"--workdir={workdir}", f"--config.data.video={_bad_inputs(tmp_path)[1][0]}"],
                        cwd=ROOT, capture_output=True, text=True)
  assert proc.returncode == 2 and proc.stderr.startswith("error: ")
  assert len(proc.stderr.strip().splitlines()) == 1 and not workdir.exists()


@pytest.mark.parametrize("overrides,message", [
    ({"data__frame_step": 0}, "frame_step"), ({"train__supervision": "gradient"}, "values only"),
    ({"model__kind": "relu", "model__time_omega_0": 30.0}, "SIREN setting")])
def test_bad_video_configs(tmp_path, overrides, message):
  with pytest.raises(UserError, match=message):
    configuration.validate(tiny_video_config("astronaut_pan", **overrides))


def test_an_image_config_switched_to_video_names_the_missing_fields():
  config = configuration.load_config(os.path.join(ROOT, "configs", "default.py"))
  config.task = "video"
  with pytest.raises(UserError, match="needs data.video, data.frames.*configs/video.py"):
    configuration.validate(config)
