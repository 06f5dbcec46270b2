"""The probe's files: the input image and bad files the cases name, snapshots of directories (SHA-256
of every file), and records of finished runs (metrics rows, final checkpoint digests) compared with
the references'. Part of benchmarks/probe.py."""

import functools
import hashlib
import json
import os
import re
import struct
import threading
import zlib
from typing import Dict, List, Tuple

ROW_KEYS = ("step", "loss", "psnr", "snr", "surface_error", "lr")  # each signal's headline (its Signal.headline)
HEADLINE_KEYS = ("psnr", "snr", "surface_error")
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}(?P<ext>(\.[^.]*)?)$")  # siren_jax.io.outputs'


def write_bytes(path: str, data: bytes) -> None:
  with open(path, "wb") as f:
    f.write(data)


def write_inputs(data: str) -> Dict[str, str]:
  """The image every run fits and the bad files the cases name, in ``data``: template name -> path."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  os.makedirs(data, exist_ok=True)
  p = functools.partial(os.path.join, data)
  y, x = np.mgrid[0:32, 0:32] / 32.0
  rgb = np.stack([np.sin(3 * x + 2 * y), np.cos(4 * y - x), np.sin(5 * x * y)], -1)
  Image.fromarray(((rgb + 1) * 127.5).astype(np.uint8)).save(p("img.png"))
  Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
      p("noise.png"))
  with open(p("noise.png"), "rb") as f:
    write_bytes(p("trunc.png"), f.read()[:400])
  write_bytes(p("notimage.png"), b"not an image\n")
  write_bytes(p("empty.png"), b"")
  Image.fromarray(np.zeros((1, 1), np.uint8)).save(p("one.png"))
  nan = np.full((8, 8), 0.5, np.float32)
  nan[2, 3] = np.nan
  Image.fromarray(nan).save(p("nan.tif"))
  Image.fromarray(np.arange(-32, 32, dtype=np.int32).reshape(8, 8) * 1000).save(p("i32.tif"))
  os.mkfifo(p("fifo.png"))
  os.symlink(p("loop_b.png"), p("loop_a.png"))
  os.symlink(p("loop_a.png"), p("loop_b.png"))
  os.mkdir(p("dir.png"))
  configs = {"CFG_SYNTAX": b"def get_config(:\n", "CFG_NOGET": b"x = 1\n",
             "CFG_BINARY": b"\x89PNG\r\n\x1a\n\x00binary", "CFG_IMPORT": b"import no_such_module_zz\n",
             "CFG_RETURNS3": b"def get_config():\n  return 3\n"}
  for name, text in configs.items():
    write_bytes(p(f"{name.lower()}.py"), text)
  files = {name: p(f"{name.lower()}.py") for name in configs}
  files.update(IMG=p("img.png"), TRUNC=p("trunc.png"), NOTIMAGE=p("notimage.png"),
               EMPTY=p("empty.png"), ONE=p("one.png"), NAN_TIF=p("nan.tif"), I32_TIF=p("i32.tif"),
               FIFO=p("fifo.png"), LOOP=p("loop_a.png"), DIRIMG=p("dir.png"))
  files.update(_audio_inputs(p), **_video_inputs(p, rgb), **_shape_inputs(p))
  return files


def _wav(channels: int, payload: bytes, rate: int = 8000, declared: int = -1) -> bytes:
  """A 16-bit PCM WAV of ``payload`` whose data chunk declares ``declared`` bytes (-1: its size)."""
  block = 2 * channels
  fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, 16)
  size = len(payload) if declared < 0 else declared
  body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", size) + payload
  return b"RIFF" + struct.pack("<I", len(body)) + body


def _audio_inputs(p) -> Dict[str, str]:
  """WAVE = the clip the audio runs fit (2000 samples of a chirp), and bad WAVs."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  t = np.arange(2000) / 8000.0
  clip = (0.5 * np.sin(2 * np.pi * (200 + 600 * t) * t) * 32767).astype("<i2").tobytes()
  wavs = {"WAV": _wav(1, clip), "WAV_NODATA": _wav(1, b"")[:-8], "WAV_ZEROCH": _wav(0, clip),
          "WAV_SHORT": _wav(1, clip[:100], declared=16000),
          "WAV_HOURS": _wav(1, clip[:100], declared=10 * 3600 * 8000 * 2),
          "WAV_CUT": _wav(1, clip)[:2000], "WAV_SILENT": _wav(1, bytes(4000)),
          "WAV_NOTWAV": b"RIFF\x10\x00\x00\x00garbage-not-wave"}
  for name, content in wavs.items():
    write_bytes(p(f"{name.lower()}.wav"), content)
  os.mkfifo(p("fifo.wav"))
  os.mkdir(p("dir.wav"))
  return dict({name: p(f"{name.lower()}.wav") for name in wavs}, WAV_FIFO=p("fifo.wav"),
              WAV_DIR=p("dir.wav"))


def _png_header(width: int, height: int) -> bytes:
  """A PNG that declares ``width`` x ``height`` and holds no pixels: a reader that trusts the header
  size before decoding refuses it at once."""
  def chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))
  return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
          + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def _video_inputs(p, rgb) -> Dict[str, str]:
  """VIDDIR = the four 16x16 frames the video runs fit, and bad clips."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  frames = [((np.roll(rgb[:16, :16], i, axis=1) + 1) * 127.5).astype(np.uint8) for i in range(4)]
  dirs = {name: p(name.lower()) for name in ("VIDDIR", "BOMBDIR", "BIGDIR", "DAMAGEDDIR", "MIXEDDIR",
                                             "NOFRAMESDIR")}
  for name in ("VIDDIR", "BOMBDIR", "BIGDIR", "DAMAGEDDIR", "MIXEDDIR"):
    os.mkdir(dirs[name])
    for i, f in enumerate(frames[:2] if name != "VIDDIR" else frames):
      Image.fromarray(f).save(os.path.join(dirs[name], f"f{i}.{'tif' if name == 'DAMAGEDDIR' else 'png'}"))
  write_bytes(os.path.join(dirs["BOMBDIR"], "f2.png"), _png_header(20000, 20000))  # Pillow's bomb
  write_bytes(os.path.join(dirs["BIGDIR"], "f2.png"), _png_header(5000, 5000))  # over max_pixels
  tif = os.path.join(dirs["DAMAGEDDIR"], "f1.tif")
  with open(tif, "r+b") as f:
    f.seek(4)  # the first IFD's offset (TIFF 6.0): past the end of the file
    f.write(b"\xff" * 4)
  Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(os.path.join(dirs["MIXEDDIR"], "f2.png"))
  os.mkdir(dirs["NOFRAMESDIR"])
  write_bytes(os.path.join(dirs["NOFRAMESDIR"], "readme.txt"), b"no frames\n")
  images = [Image.fromarray(f) for f in frames]
  for name in ("cut.gif", "cut_apng.png"):
    images[0].save(p(name), save_all=True, append_images=images[1:], duration=40)
    with open(p(name), "rb") as f:
      whole = f.read()
    write_bytes(p(name), whole[:len(whole) * 2 // 3])
  os.mkfifo(p("fifo.mp4"))
  write_bytes(p("garbage.mp4"), b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
  return dict(dirs, GIF_CUT=p("cut.gif"), APNG_CUT=p("cut_apng.png"), VID_FIFO=p("fifo.mp4"),
              MP4_GARBAGE=p("garbage.mp4"))


def _shape_inputs(p) -> Dict[str, str]:
  """Bad shape files: misnamed special files, a truncated binary STL, bad point clouds."""
  texts = {"XYZ_NAN": ("nan.xyz", b"0 0 0 0 0 1\nnan 0 0 0 0 1\n"), "XYZ_COLS": ("cols.xyz", b"0 0 0\n"),
           "XYZ_EMPTY": ("empty.xyz", b""), "XYZ_ZERO": ("zero.xyz", b"0 0 0 0 0 1\n1 0 0 0 0 0\n"),
           "OBJ_NOFACES": ("nofaces.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\n")}
  for name, (file, content) in texts.items():
    write_bytes(p(file), content)
  triangles = 40  # a binary STL: 80-byte header, the count, 50 bytes a triangle; cut in half
  stl = bytes(80) + struct.pack("<I", triangles) + bytes(50 * triangles)
  write_bytes(p("half.stl"), stl[:len(stl) // 2])
  os.mkdir(p("dir.xyz"))
  os.mkfifo(p("fifo.xyz"))
  return dict({name: p(file) for name, (file, _) in texts.items()}, STL_HALF=p("half.stl"),
              XYZ_DIR=p("dir.xyz"), XYZ_FIFO=p("fifo.xyz"))


def _sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def snapshot(directory: str) -> Dict[str, str]:
  """Relative path -> SHA-256 (files), "dir", "link:TARGET" or "special", for everything under
  ``directory`` ({} if it does not exist)."""
  out = {}
  for root, dirs, files in os.walk(directory):
    for name in dirs + files:
      path = os.path.join(root, name)
      rel = os.path.relpath(path, directory)
      if os.path.islink(path):
        out[rel] = "link:" + os.readlink(path)
      elif name in dirs:
        out[rel] = "dir"
      else:
        out[rel] = _sha256(path) if os.path.isfile(path) else "special"
  return out


def describe_diff(before: Dict[str, str], after: Dict[str, str]) -> str:
  added = sorted(set(after) - set(before))
  removed = sorted(set(before) - set(after))
  changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
  parts = [f"{what} {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
           for what, names in (("added", added), ("removed", removed), ("changed", changed)) if names]
  return "; ".join(parts)


def read_rows(path: str) -> Tuple[List[dict], int]:
  """(the rows of a JSON-lines file that parse as objects, reduced to ROW_KEYS; unparsable lines)."""
  rows, bad = [], 0
  with open(path, errors="replace") as f:
    for line in f:
      if not line.strip():
        continue
      try:
        row = json.loads(line)
      except ValueError:
        row = None
      if isinstance(row, dict):
        rows.append({k: row.get(k) for k in ROW_KEYS})
      else:
        bad += 1
  return rows, bad


def checkpoint_steps(run: str) -> List[int]:
  ckpt = os.path.join(run, "checkpoints")
  if not os.path.isdir(ckpt):
    return []
  return sorted(int(n) for n in os.listdir(ckpt) if n.isdigit() and os.path.isdir(os.path.join(ckpt, n)))


_ORBAX = threading.Lock()


def state_digests(state_path: str) -> Dict[str, str]:
  """SHA-256 of a checkpoint's parameters and whole state, restored by orbax without a target."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  from benchmarks import behaviour  # pylint: disable=g-import-not-at-top
  with _ORBAX:
    checkpointer = ocp.StandardCheckpointer()
    try:
      state = checkpointer.restore(state_path)
    finally:
      checkpointer.close()
  return {"params_sha256": behaviour.tree_sha256(state["params"])[0],
          "state_sha256": behaviour.tree_sha256(state)[0]}


def record(run: str) -> dict:
  """What a finished run must share with the reference: metrics rows, final checkpoint, summary."""
  try:
    rows, bad = read_rows(os.path.join(run, "metrics.jsonl"))
    steps = checkpoint_steps(run)
    if not steps:
      return {"error": "no checkpoint"}
    with open(os.path.join(run, "summary.json")) as f:
      summary = json.load(f)
    return {"rows": rows, "unparsable_rows": bad, "checkpoint_step": steps[-1],
            **state_digests(os.path.join(run, "checkpoints", str(steps[-1]), "state")),
            "summary_headline": next((summary[k] for k in HEADLINE_KEYS if k in summary), None),
            "summary_steps": summary.get("steps")}
  except Exception as e:  # pylint: disable=broad-except
    return {"error": f"cannot read the run: {type(e).__name__}: {e}"}


def compare_records(got: dict, ref: dict) -> List[str]:
  """How ``got`` differs from the reference ``ref`` ([] when it does not)."""
  if "error" in got:
    return [got["error"]]
  diffs = []
  steps = [r["step"] for r in got["rows"]]
  if len(set(steps)) != len(steps):
    diffs.append(f"duplicated metrics rows (steps {steps})")
  if got["rows"] != ref["rows"]:
    first = next((i for i, (a, b) in enumerate(zip(got["rows"], ref["rows"])) if a != b),
                 min(len(got["rows"]), len(ref["rows"])))
    diffs.append(f"metrics rows differ from row {first} (steps {steps} vs "
                 f"{[r['step'] for r in ref['rows']]})")
  for key in ("checkpoint_step", "params_sha256", "state_sha256", "summary_headline", "summary_steps"):
    if got[key] != ref[key]:
      diffs.append(f"{key} {str(got[key])[:16]} != {str(ref[key])[:16]}")
  return diffs


def unreadable_files(run: str) -> List[str]:
  """Files under ``run`` that a complete write would have left readable but are not: JSON that does
  not parse, PNGs that do not decode, checkpoint files that differ from their step's digest, and
  complete metrics.jsonl lines that do not parse (an unterminated last line is a torn append, which
  readers skip)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  bad = []
  for rel, kind in sorted(snapshot(run).items()):
    path, name = os.path.join(run, rel), os.path.basename(rel)
    if kind == "dir" or TEMP_NAME.match(name) or ".orbax-checkpoint-tmp" in rel:
      continue
    try:
      if name == "metrics.jsonl":
        with open(path) as f:
          for line in f.read().split("\n")[:-1]:
            if line.strip():
              json.loads(line)
      elif name.endswith(".json") and "/" not in rel:
        with open(path) as f:
          json.load(f)
      elif name.endswith(".png"):
        with Image.open(path) as im:
          im.load()
    except Exception as e:  # pylint: disable=broad-except
      bad.append(f"{rel} ({type(e).__name__})")
  for step in checkpoint_steps(run):
    bad += [f"checkpoints/{step}: {why}" for why in digest_problems(os.path.join(run, "checkpoints",
                                                                                 str(step)))]
  return bad


def digest_problems(step_dir: str) -> List[str]:
  """Files of a checkpoint step that are missing or differ from its siren_digest.json."""
  path = os.path.join(step_dir, "siren_digest.json")
  if not os.path.exists(path):
    return []  # written once the step is complete; a step without one is never counted as verified
  try:
    with open(path) as f:
      files = json.load(f)["files"]
  except (OSError, ValueError, KeyError) as e:
    return [f"its digest is unreadable ({type(e).__name__})"]
  return [rel for rel, entry in sorted(files.items())
          if not os.path.isfile(os.path.join(step_dir, rel))
          or _sha256(os.path.join(step_dir, rel)) != entry["sha256"]]
