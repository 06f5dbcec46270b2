"""Everything a run writes to its workdir, written atomically (temp file in the same directory, fsync,
rename, fsync of the directory), so neither an interrupted run nor a power loss leaves a half-written
JSON or PNG behind."""

import contextlib
import errno
import fcntl
import itertools
import json
import math
import os
import random
import re
import textwrap
from typing import Iterable, List, Optional, Sequence

import numpy as np
from absl import logging
from PIL import Image

# atomic_path's temp files are ".NAME.XXXXXXXX.EXT" (8 characters of _TEMP_CHARS, tempfile's alphabet,
# so temp files left by earlier versions match too), keeping NAME's extension for writers that infer the
# format from it.
_TEMP_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}(?P<ext>(\.[^.]*)?)$")


def is_temp_name(filename: str) -> bool:
  """Whether ``filename`` (a base name) is one of atomic_path's temporary files."""
  match = _TEMP_NAME.match(filename)
  return bool(match) and os.path.splitext(match["name"])[1] == match["ext"]


def _create_temp(directory: str, name: str, ext: str):
  """(fd, path) of a new empty file ".NAME.XXXXXXXX.EXT" in ``directory``. Created with mode 0666 so
  the umask applies as it does to any plainly created file (mkstemp's 0600 would make outputs private,
  and reading the umask means setting it)."""
  rng = random.SystemRandom()
  for _ in range(100):
    tmp = os.path.join(directory, f".{name}.{''.join(rng.choices(_TEMP_CHARS, k=8))}{ext}")
    try:
      return os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), tmp
    except FileExistsError:
      continue
  raise FileExistsError(errno.EEXIST, "no unused temporary file name", directory)


def _fsync_path(path: str) -> None:
  fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def _fsync_dir(directory: str) -> None:
  """Makes a rename in ``directory`` durable. Some file systems cannot fsync a directory (EINVAL):
  there the rename is as durable as that file system makes it."""
  try:
    _fsync_path(directory)
  except OSError as e:
    if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
      raise


@contextlib.contextmanager
def atomic_path(path: str):
  """Yields a temporary path beside ``path``; renames it over ``path`` only if the block succeeds.

  The temp file's data is fsynced before the rename and the directory after it: without that a power
  loss can leave ``path`` renamed but empty. While the block runs the temp file is flock-ed, which
  tells ``remove_stale_temps`` that its writer is alive (a killed writer's lock dies with it)."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = _create_temp(directory, os.path.basename(path), os.path.splitext(path)[1])
  try:
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield tmp
    _fsync_path(tmp)  # by path: the block may have replaced the file our fd refers to
    os.replace(tmp, path)
    _fsync_dir(directory)
  except OSError as e:
    if e.filename in (None, tmp):  # name the file being written, not an anonymous temp file
      e.filename = path
    raise
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
    os.close(fd)


def remove_stale_temps(directory: str) -> List[str]:
  """Removes the temp files that writers killed inside ``atomic_path`` left in ``directory`` (not its
  subdirectories) and returns their paths. A temp file whose writer is alive is flock-ed and kept."""
  removed = []
  for name in sorted(os.listdir(directory)):
    if not is_temp_name(name):
      continue
    path = os.path.join(directory, name)
    try:
      fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
      continue  # gone already (its writer finished), or a link: not ours
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      if os.path.isfile(path):
        os.remove(path)
        removed.append(path)
    except BlockingIOError:
      pass  # a live writer
    finally:
      os.close(fd)
  return removed


def _json_default(o):
  if isinstance(o, (np.floating, np.integer)):
    return o.item()
  if isinstance(o, np.ndarray):
    return o.tolist()
  raise TypeError(f"not JSON serialisable: {type(o)}")


def _clean(value):
  """JSON has no inf/nan: write them as strings so every reader can parse the file."""
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)
  if isinstance(value, dict):
    return {k: _clean(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_clean(v) for v in value]
  return value


def write_json(path: str, obj) -> None:
  with atomic_path(path) as tmp, open(tmp, "w") as f:
    json.dump(_clean(obj), f, indent=2, sort_keys=True, default=_json_default)
    f.write("\n")


def read_jsonl(path: str) -> List[dict]:
  """The rows of a JSON-lines file. A line that does not parse as a JSON object (the torn last line of
  a killed run, or damage anywhere) is skipped with one warning; the rows after it are kept."""
  if not os.path.exists(path):
    return []
  rows, bad = [], []
  with open(path, errors="replace") as f:
    for number, line in enumerate(f, 1):
      line = line.strip()
      if not line:
        continue
      try:
        row = json.loads(line)
      except ValueError:
        row = None
      if isinstance(row, dict):
        rows.append(row)
      else:
        bad.append(number)
  if bad:
    logging.warning("%s: skipped %d unreadable line(s) (line %s%s)", path, len(bad), bad[0],
                    " and later" if len(bad) > 1 else "")
  return rows


def finished_run(workdir: str, num_steps: int, allow_diverged: bool = True) -> Optional[dict]:
  """The summary of the run in ``workdir`` if it is finished: done after ``num_steps`` steps, or (with
  ``allow_diverged``) given up as diverged, which more steps would not change. Otherwise None: no run,
  an interrupted one (resumable), or one that stopped short of ``num_steps``."""
  try:
    with open(os.path.join(workdir, "summary.json")) as f:
      summary = json.load(f)
  except (OSError, ValueError):
    return None
  status = summary.get("status", "done")
  if status == "done" and summary.get("steps") == num_steps:
    return summary
  return summary if (allow_diverged and status == "diverged") else None


def write_jsonl(path: str, rows: Iterable[dict]) -> None:
  with atomic_path(path) as tmp, open(tmp, "w") as f:
    for row in rows:
      f.write(json.dumps(_clean(row), default=_json_default) + "\n")


def append_jsonl(path: str, row: dict) -> None:
  """Appends one line and flushes it to disk (a reader never sees a partial line unless we are killed
  mid-write; ``read_jsonl`` skips such a torn line)."""
  with open(path, "a") as f:
    f.write(json.dumps(_clean(row), default=_json_default) + "\n")
    f.flush()
    os.fsync(f.fileno())


def to_uint8(pixels: np.ndarray) -> np.ndarray:
  """(H, W, C) floats in [0, 1] -> uint8 (H, W) or (H, W, 3), rounding to nearest."""
  arr = np.clip(np.asarray(pixels, np.float32), 0.0, 1.0)
  arr = np.round(arr * 255.0).astype(np.uint8)
  return arr[..., 0] if arr.shape[-1] == 1 else arr


def write_png(path: str, pixels: np.ndarray) -> None:
  with atomic_path(path) as tmp:
    Image.fromarray(to_uint8(pixels)).save(tmp, format="PNG")


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def save_figure(fig, path: str, dpi: int = 100) -> None:
  plt = _pyplot()
  with atomic_path(path) as tmp:
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
  plt.close(fig)


def write_error_heatmap(path: str, pred: np.ndarray, target: np.ndarray, title: str = "",
                        compared: str = "reconstruction − original",
                        mask: Optional[np.ndarray] = None) -> None:
  """|pred - target| (mean over channels, in [0, 1] units) as a heatmap with a colour bar. The default
  title names the two images (``compared``). With a (H, W) boolean ``mask`` (a Poisson blend's region,
  where pred is meant to differ from target) the mask is outlined and the mean is taken outside it."""
  plt = _pyplot()
  err = np.abs(np.clip(pred, 0, 1) - target).mean(axis=-1)
  h, w = err.shape
  scale = 6.0 / max(h, w)
  fig, ax = plt.subplots(figsize=(w * scale + 1.5, h * scale + 0.6))
  vmax = max(float(np.percentile(err, 99.5)), 1e-6)  # a few outliers must not wash out the map
  im = ax.imshow(err, cmap="inferno", vmin=0.0, vmax=vmax, interpolation="nearest")
  ax.set_axis_off()
  if mask is not None:
    ax.contour(mask.astype(float), levels=[0.5], colors="cyan", linewidths=1)
    mean = f"mean outside the mask {err[~mask].mean():.2e}" if (~mask).any() else "mean –"
  else:
    mean = f"mean {err.mean():.2e}"
  title = title or f"|{compared}| ({mean}, max {err.max():.2e}; colours clip at p99.5)"
  ax.set_title(textwrap.fill(title, max(40, int(12 * w * scale))), fontsize=9)
  fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
  save_figure(fig, path)


def _finite(value) -> bool:
  """Whether ``value`` is a finite number (metrics rows may lack a value or hold "nan"/"inf")."""
  try:
    return math.isfinite(float(value))
  except (TypeError, ValueError):
    return False


def write_curves(path: str, rows: List[dict], title: str = "", loss_label: str = "loss") -> None:
  """Loss and PSNR against step and against training time, from metrics.jsonl rows."""
  plt = _pyplot()
  rows = [r for r in rows if "step" in r]
  fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
  if rows:
    steps = [r["step"] for r in rows]
    secs = [r.get("train_seconds", r.get("elapsed_s", 0.0)) for r in rows]
    # The step-0 row has no loss (older files wrote the string "nan"): plot the rows that have one.
    has_loss = [_finite(r.get("loss")) for r in rows]
    loss = [float(r["loss"]) for r, ok in zip(rows, has_loss) if ok]
    psnr = [float(r["psnr"]) for r in rows]
    for col, (x, label) in enumerate([(steps, "step"), (secs, "training time (s)")]):
      axes[0, col].semilogy([v for v, ok in zip(x, has_loss) if ok], loss)
      axes[0, col].set_ylabel(loss_label)
      axes[1, col].plot(x, psnr)
      axes[1, col].set_ylabel("PSNR (dB)")
      for row in range(2):
        axes[row, col].set_xlabel(label)
        axes[row, col].grid(True, alpha=0.3)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  save_figure(fig, path)


def _show(ax, img, title, cmap="gray", vmin=0.0, vmax=1.0):
  img = np.asarray(img)
  if img.ndim == 3 and img.shape[-1] == 1:
    img = img[..., 0]
  if img.ndim == 3 and cmap != "gray":
    img = img.mean(-1)
  im = ax.imshow(np.clip(img, vmin, vmax) if cmap == "gray" else img, cmap=cmap, vmin=vmin,
                 vmax=vmax, interpolation="nearest")
  ax.set_title(title, fontsize=9)
  ax.set_axis_off()
  return im


def write_derivative_panel(path: str, image01, fit01, grad_ref, grad_fit, lap_ref, lap_fit,
                           gradient_name: str = "sobel", laplacian_name: str = "5point",
                           top_titles: Optional[Sequence[str]] = None) -> None:
  """2x3 panel: image / gradient magnitude / Laplacian, ground truth (top) vs the fit (bottom).
  Derivatives are per unit of the [-1, 1] coordinate; both rows share each column's colour scale.
  ``top_titles`` (three) replace the top row's titles when it shows something other than the image and
  its derivatives (a Poisson blend's composite gradient field)."""
  plt = _pyplot()
  h, w = np.asarray(image01).shape[:2]
  scale = 3.2 / max(h, w)
  fig, axes = plt.subplots(2, 3, figsize=(3 * w * scale + 1.8, 2 * h * scale + 0.8))
  gmax = max(float(np.percentile(grad_ref, 99.5)), 1e-6)
  lmax = max(float(np.percentile(np.abs(lap_ref), 99.0)), 1e-6)
  for row, (img, g, lap, label) in enumerate([(image01, grad_ref, lap_ref, "image"),
                                              (fit01, grad_fit, lap_fit, "fit")]):
    titles = ([label, f"{label} |gradient| ({gradient_name})", f"{label} Laplacian ({laplacian_name})"]
              if row == 0 else ["fit", "fit |gradient|", "fit Laplacian"])
    if row == 0 and top_titles:
      titles = list(top_titles)
    _show(axes[row, 0], img, titles[0])
    gi = _show(axes[row, 1], np.asarray(g).mean(-1), titles[1], cmap="magma", vmin=0.0, vmax=gmax)
    li = _show(axes[row, 2], np.asarray(lap).mean(-1), titles[2], cmap="RdBu_r", vmin=-lmax, vmax=lmax)
    fig.colorbar(gi, ax=axes[row, 1], fraction=0.046, pad=0.04)
    fig.colorbar(li, ax=axes[row, 2], fraction=0.046, pad=0.04)
  fig.tight_layout()
  save_figure(fig, path)


def write_blend_panel(path: str, blend: dict, result01) -> None:
  """Poisson blending: background, source with the mask outline, naive paste, SIREN blend."""
  plt = _pyplot()
  h, w = blend["mask"].shape
  scale = 3.2 / max(h, w)
  fig, axes = plt.subplots(1, 4, figsize=(4 * w * scale + 0.8, h * scale + 0.7))
  _show(axes[0], blend["background"], "background")
  _show(axes[1], blend["source"], "source (mask outlined)")
  axes[1].contour(blend["mask"].astype(float), levels=[0.5], colors="yellow", linewidths=1)
  _show(axes[2], blend["naive"], "copy-paste")
  _show(axes[3], result01, "SIREN fit to blended gradients")
  fig.tight_layout()
  save_figure(fig, path)


def _heatmap(ax, grid, rows, cols, row_field, col_field, title="", clim=None):
  """PSNR grid with every cell's value written in it (diverged cells say so). ``clim`` (low, high)
  fixes the colour scale, so several panels can share one; by default it spans this grid."""
  finite = grid[np.isfinite(grid)]
  if clim is None:
    clim = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
  im = ax.imshow(grid, cmap="viridis", aspect="auto", vmin=clim[0], vmax=clim[1])
  ax.set_xticks(range(len(cols)), [str(v) for v in cols])
  ax.set_yticks(range(len(rows)), [str(v) for v in rows])
  ax.set_xlabel(col_field)
  ax.set_ylabel(row_field)
  if title:
    ax.set_title(title, fontsize=9)
  mid = 0.5 * (clim[0] + clim[1])  # dark cells (low end of viridis) get white text
  for i in range(len(rows)):
    for j in range(len(cols)):
      text = "diverged" if not np.isfinite(grid[i, j]) else f"{grid[i, j]:.1f}"
      ax.text(j, i, text, ha="center", va="center", fontsize=8,
              color="white" if not np.isfinite(grid[i, j]) or grid[i, j] < mid else "black")
  return im


MAX_HEATMAP_PANELS = 12


def _suptitle(fig, title: str) -> None:
  """``title`` over the whole figure, wrapped to its width (about 11 characters an inch at 9 pt). It sits
  above the figure's top edge, which save_figure's tight bounding box extends to include, so however
  many lines it wraps to it never covers the panels or their titles."""
  if title:
    fig.suptitle(textwrap.fill(title, max(30, int(11 * fig.get_figwidth()))), fontsize=9, y=1.0,
                 va="bottom")


def write_sweep_plots(workdir: str, axes, results, title: str = "") -> None:
  """psnr.png (one swept axis) or heatmap.png (the first two axes; with more, one panel per combination
  of the others, up to MAX_HEATMAP_PANELS), and curves.png: every point's PSNR vs step. ``title`` (what
  the points share: image, steps, recipe) heads each figure."""
  plt = _pyplot()
  fields = [f for f, _ in axes]
  psnr = {tuple(r[f] for f in fields): (r["psnr"] if r["status"] == "done" else float("nan"))
          for r in results}
  if len(axes) == 1:
    (field, values), = axes
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(range(len(values)), [psnr[(v,)] for v in values], "o-")
    ax.set_xticks(range(len(values)), [str(v) for v in values])
    ax.set_xlabel(field)
    ax.set_ylabel("final PSNR (dB)")
    ax.grid(True, alpha=0.3)
    _suptitle(fig, title)
    save_figure(fig, os.path.join(workdir, "psnr.png"))
  else:
    (f0, v0), (f1, v1) = axes[:2]
    rest = list(itertools.product(*[values for _, values in axes[2:]]))
    if len(rest) <= MAX_HEATMAP_PANELS:
      grids = [np.array([[psnr[(a, b) + extra] for b in v1] for a in v0], dtype=float) for extra in rest]
      finite = np.concatenate([g[np.isfinite(g)] for g in grids])
      ncol = min(len(rest), 3)
      nrow = -(-len(rest) // ncol)
      fig, axs = plt.subplots(nrow, ncol, squeeze=False,
                              figsize=(ncol * (1.2 * len(v1) + 2.5), nrow * (0.8 * len(v0) + 1.8)))
      clim = (float(finite.min()), float(finite.max())) if finite.size else None  # shared by all
      for ax, grid, extra in zip(axs.flat, grids, rest):
        panel = ", ".join(f"{f}={v}" for (f, _), v in zip(axes[2:], extra))
        im = _heatmap(ax, grid, v0, v1, f0, f1, panel, clim)
        if ax not in axs[:, 0]:
          ax.set_ylabel("")  # the rows are the same in every panel; their label stays at the left
      for ax in list(axs.flat)[len(rest):]:
        ax.axis("off")
      fig.colorbar(im, ax=axs, label="final PSNR (dB)")
      _suptitle(fig, title)
      save_figure(fig, os.path.join(workdir, "heatmap.png"))
  fig, ax = plt.subplots(figsize=(8, 5))
  colours = plt.get_cmap("tab10" if len(results) <= 10 else "tab20")
  styles = ["-", "--", ":", "-."]  # beyond 20 points colours repeat; the line style tells them apart
  for i, r in enumerate(results):
    rows = read_jsonl(os.path.join(workdir, r["point"], "metrics.jsonl"))
    rows = [row for row in rows if row.get("step", 0) > 0]
    if rows:
      ax.plot([row["step"] for row in rows], [float(row["psnr"]) for row in rows], label=r["point"],
              color=colours(i % colours.N), linestyle=styles[(i // colours.N) % len(styles)])
  ax.set_xlabel("step")
  ax.set_ylabel("PSNR (dB)")
  ax.grid(True, alpha=0.3)
  if len(results) <= 20:
    ax.legend(fontsize=7, ncol=2)
  _suptitle(fig, title)
  save_figure(fig, os.path.join(workdir, "curves.png"))
