"""A set of images in one command: ``--config.data.image=kodak`` (the 24 Kodak images), a
comma-separated list (``camera,astronaut,/path/a.png``) or a glob of paths (``'photos/*.jpg'``; "kodak"
and globs may appear in a list too).

Each image is an ordinary run in ``WORKDIR/NAME/`` (the usual outputs, resumable and renderable alone),
trained one after another with the same config. Everything is checked first (each image loaded, each
existing run directory compared with the config), so a bad member stops the set before anything is
written. Members are ordered by shape (Kodak's landscape 512x768 and portrait 768x512 images each
together). A member that diverges keeps its summary (status "diverged") and the others train on; a
re-run of the set skips it (remove its directory to try again) and resumes the rest. The set's
directory gets ``results.csv`` and ``results.md`` (per image and the mean over the images that finished:
PSNR, SSIM of the 8-bit reconstruction, training seconds, parameters) and ``report.html`` linking each
member's report.

Members are not trained together in one program: images of one shape could share a vmapped step as a
sweep's points do, but a sweep's points share their data and images do not, and on a CPU one run already
fills the cores (``train.vmap_width``'s auto rule), so it would not pay there.
"""

import csv
import glob
import os
from typing import Any, Dict, List, Sequence

import numpy as np
from absl import logging
from PIL import Image

from siren_jax import configuration
from siren_jax.engine import train
from siren_jax.errors import UserError
from siren_jax.io import outputs, rundir
from siren_jax.signals.image import data

COLUMNS = ("point", "image", "height", "width", "psnr", "ssim", "steps", "train_seconds", "num_params",
           "status")


def is_set(spec: str) -> bool:
  """Whether ``data.image`` names several images (then ``fit_set`` runs, not a single fit)."""
  return spec == "kodak" or "," in spec or glob.has_magic(spec)


def expand(spec: str) -> List[str]:
  """The image specs ``spec`` names, in order, each once (a repeat is refused: one directory each)."""
  specs = []
  for part in (p.strip() for p in spec.split(",")):
    if not part:
      raise UserError(f"data.image={spec!r} has an empty entry")
    if part == "kodak":
      specs += list(data.KODAK_NAMES)
    elif glob.has_magic(part):
      matches = sorted(glob.glob(os.path.expanduser(part)))
      if not matches:
        raise UserError(f"data.image: {part!r} matches no file")
      specs += matches
    else:
      specs.append(part)
  seen = set()
  for s in specs:
    if s in seen:
      raise UserError(f"data.image names {s!r} twice")
    seen.add(s)
  return specs


def plan(config, workdir: str):
  """[(name, config, member workdir, (task, mesh))] ordered by image shape, every check done; refuses
  two images with one name (they would share a directory)."""
  members = []
  for spec in expand(config.data.image):
    member = config.copy_and_resolve_references()
    member.data.image = spec
    try:
      checked = train.preflight([member])
    except UserError as e:
      raise UserError(f"image {spec}: {e}") from None
    members.append((checked[0].name, member, checked))
  names = [m[0] for m in members]
  clash = sorted({n for n in names if names.count(n) > 1})
  if clash:
    raise UserError(f"data.image: several images are named {', '.join(clash)}; each needs its own "
                    f"directory {workdir}/NAME, so rename or list them apart")
  planned = []
  for name, member, checked in sorted(members, key=lambda m: m[2][0].shape):
    member_dir = os.path.join(workdir, name)
    train.check_workdir(configuration.to_dict(member), member_dir)
    planned.append((name, member, member_dir, checked))
  return planned


def fit(config, workdir: str) -> None:
  """The image signal's ``fit`` hook: a set's every image, or the one image of ``config``."""
  if is_set(config.data.image):
    fit_set(config, workdir)
  else:
    train.train_and_evaluate(config, workdir)


def fit_set(config, workdir: str) -> List[Dict[str, Any]]:
  """Fits every image ``config.data.image`` names, each in ``workdir/NAME``; writes the set's results
  and report and returns one result row per image (the mean is in results.md)."""
  configuration.validate(config)
  planned = plan(config, workdir)
  with rundir.own([workdir]):
    outputs.write_json(os.path.join(workdir, "set.json"),
                       {"images": [m[1].data.image for m in planned],
                        "base": configuration.to_dict(config)})
    for i, (name, member, member_dir, checked) in enumerate(planned):
      h, w, _ = checked[0].shape
      logging.info("Image %d/%d: %s (%dx%d)", i + 1, len(planned), name, h, w)
      _fit_member(member, member_dir, checked)
    rows = [result_row(name, member, member_dir) for name, member, member_dir, _ in planned]
    write_results(workdir, rows)
  mean = mean_row(rows)
  if mean["psnr"] is not None:
    logging.info("Mean over %s: %.2f dB PSNR, SSIM %.4f; results in %s; open %s", mean["status"],
                 mean["psnr"], mean["ssim"], os.path.join(workdir, "results.md"),
                 os.path.join(workdir, "report.html"))
  failed = [r["point"] for r in rows if r["status"] != "done"]
  if failed:  # the others' results are written; the exit status says the set is incomplete
    raise UserError(f"{len(failed)} of {len(rows)} images did not finish ({', '.join(failed)}: see their "
                    f"summary.json); results of the rest in {os.path.join(workdir, 'results.md')}")
  return rows


def _fit_member(member, member_dir: str, checked) -> None:
  """One image's run; a member that diverges (now or before) is reported and the set goes on."""
  before = outputs.finished_run(member_dir, member.train.num_steps)
  if before is not None and before.get("status") == "diverged":
    logging.warning("%s diverged before (%s); skipped: remove the directory to try again", member_dir,
                    before.get("message", ""))
    return
  try:
    train.train_points([member], [member_dir], checked)
  except UserError as e:
    after = outputs.finished_run(member_dir, member.train.num_steps)
    if after is None or after.get("status") != "diverged":
      raise
    logging.warning("%s diverged: %s; the other images train on", member_dir, e)


def ssim_of(member_dir: str) -> float:
  """SSIM of the 8-bit reconstruction.png against original.png (scikit-image's, data range 255)."""
  from skimage.metrics import structural_similarity  # pylint: disable=g-import-not-at-top
  ours, ref = (np.asarray(Image.open(os.path.join(member_dir, f)), np.float64)
               for f in ("reconstruction.png", "original.png"))
  return float(structural_similarity(ours, ref, data_range=255.0,
                                     channel_axis=-1 if ref.ndim == 3 else None))


def result_row(name: str, member, member_dir: str) -> Dict[str, Any]:
  summary = outputs.finished_run(member_dir, member.train.num_steps) or {}
  done = summary.get("status") == "done"
  return {"point": name, "image": member.data.image, "height": summary.get("height"),
          "width": summary.get("width"), "psnr": summary.get("psnr") if done else None,
          "ssim": ssim_of(member_dir) if done else None, "steps": summary.get("steps"),
          "train_seconds": summary.get("train_seconds"), "num_params": summary.get("num_params"),
          "status": summary.get("status", "missing")}


def mean_row(rows: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
  """The mean of the finished images' figures; ``image`` holds how many they are."""
  done = [r for r in rows if r["status"] == "done"]
  mean = lambda k: float(np.mean([r[k] for r in done])) if done else None
  return {"point": "mean", "image": f"mean of {len(done)}", "height": None, "width": None, "psnr": mean("psnr"),
          "ssim": mean("ssim"), "steps": None, "train_seconds": mean("train_seconds"),
          "num_params": mean("num_params"), "status": f"{len(done)} of {len(rows)} done"}


def _cell(column: str, value) -> str:
  if value is None:
    return ""
  if column in ("psnr", "train_seconds") and isinstance(value, float):
    return f"{value:.2f}"
  return f"{value:.4f}" if column == "ssim" else str(value)


def write_results(workdir: str, rows: Sequence[Dict[str, Any]]) -> None:
  """results.csv and results.md (per image, then the mean row), then the set's report."""
  table = list(rows) + [mean_row(rows)]
  with outputs.atomic_path(os.path.join(workdir, "results.csv")) as tmp, open(tmp, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(table)
  lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
  lines += ["| " + " | ".join(_cell(c, r[c]) for c in COLUMNS) + " |" for r in table]
  with outputs.atomic_path(os.path.join(workdir, "results.md")) as tmp, open(tmp, "w") as f:
    f.write("\n".join(lines) + "\n")
  train.refresh_report(workdir)
