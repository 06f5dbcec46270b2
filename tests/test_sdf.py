"""The SDF task: analytic shapes, readers, marching cubes, metrics, the loss, sphere tracing, bad input
and a tiny end-to-end fit."""

import json
import os
import re
import sys

import numpy as np
import pytest
from PIL import Image

from siren_jax import configuration
from siren_jax.errors import UserError
from siren_jax.signals.sdf import (meshing, outputs as sdf_outputs, shapes, sphere_trace,
                                   task as sdf_task)
import forkserver
from tests.conftest import ROOT
from tests.test_report import browser  # noqa: F401  (the fixture: Chromium through playwright)

EPS64 = np.finfo(np.float64).eps
EPS32 = float(np.finfo(np.float32).eps)


class ExactSphere:
  """A stand-in network: f(x) = |x| - r, the exact SDF (``apply`` like a flax module's)."""

  def __init__(self, r):
    self.r = r

  def apply(self, params, x):
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
    return (jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True)) - self.r) * params["s"]


# --- analytic shapes -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", shapes.ANALYTIC)
def test_analytic_samples_lie_on_the_zero_level_with_outward_unit_normals(name):
  points, normals = shapes.sample_analytic(name, 500, seed=1)
  sdf = shapes.analytic_sdf(name)
  # float64 closed forms of unit-order values: a few dozen rounded operations each
  np.testing.assert_array_less(np.abs(sdf(points)), 64 * EPS64)
  np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=16 * EPS64)
  # an exact SDF grows by exactly h along the outward normal (h below every radius of curvature and
  # every gap between parts); the normals' own error is O(eps_fd^2) from central differences
  h = 1e-3
  np.testing.assert_allclose(sdf(points + h * normals), h, atol=1e-8)
  if name in ("sphere", "torus"):  # inwards too where smooth (inside a box near an edge it is less)
    np.testing.assert_allclose(sdf(points - h * normals), -h, atol=1e-8)


def test_csg_parts_are_apart_so_the_union_is_exact():
  # the union's SDF is exact when no part reaches another: every part's sample is > 0 for the others
  for i, (kind, t, s) in enumerate(shapes.CSG_PARTS):
    pts = s * shapes._sample_primitive(kind, 400, np.random.default_rng(i)) + np.array(t)
    for j, (k2, t2, s2) in enumerate(shapes.CSG_PARTS):
      if j != i:
        assert (s2 * shapes._PRIMITIVES[k2]((pts - np.array(t2)) / s2) > 0.05).all()


# --- readers -------------------------------------------------------------------------------------


def _cloud(n=300, seed=0):
  p, nrm = shapes.sample_analytic("sphere", n, seed)
  return p * 3.0 + np.array([10.0, -2.0, 5.0]), nrm  # input units: radius 1.8 around (10, -2, 5)


def test_xyz_round_trip_and_normalisation(tmp_path):
  p, nrm = _cloud()
  path = tmp_path / "cloud.xyz"
  np.savetxt(path, np.concatenate([p, nrm], axis=1))
  s = shapes.load_surface(str(path), 0, extent=0.9)
  back = s.points.astype(np.float64) * s.scale + s.center
  np.testing.assert_allclose(back, p, atol=4 * EPS32 * np.abs(p).max())  # float32 storage
  assert np.abs(s.points).max() == pytest.approx(0.9, rel=4 * EPS32)  # longest side spans ±extent
  np.testing.assert_allclose(s.normals, nrm, atol=4 * EPS32)


def test_ply_point_cloud_with_normals(tmp_path):
  p, nrm = _cloud(50)
  path = tmp_path / "cloud.ply"
  rows = "".join(" ".join(f"{v:.9g}" for v in np.r_[a, b]) + "\n" for a, b in zip(p, nrm))
  header = ("ply\nformat ascii 1.0\nelement vertex 50\n" + "".join(
      f"property float {c}\n" for c in ("x", "y", "z", "nx", "ny", "nz")) + "end_header\n")
  path.write_text(header + rows)
  s = shapes.load_surface(str(path), 0, extent=1.0)
  np.testing.assert_allclose(s.points * s.scale + s.center, p, atol=8 * EPS32 * np.abs(p).max())
  np.testing.assert_allclose(s.normals, nrm, atol=8 * EPS32)


@pytest.mark.parametrize("ext", [".obj", ".stl", ".ply"])
def test_mesh_readers_sample_the_surface_with_outward_normals(tmp_path, ext):
  import trimesh  # pylint: disable=g-import-not-at-top
  box = trimesh.creation.box(extents=(2.0, 1.0, 0.5))
  box.invert()  # inward-facing triangles: the reader must turn them outwards
  path = str(tmp_path / f"box{ext}")
  box.export(path)
  s = shapes.load_surface(path, 2000, extent=1.0, seed=3)
  assert s.faces is not None and len(s.faces) == 12
  # normalised: the 2 x 1 x 0.5 box becomes 2 x 1 x 0.5 (longest side onto [-1, 1])
  half = np.array([1.0, 0.5, 0.25])
  np.testing.assert_allclose(shapes.box_sdf(s.points.astype(np.float64), half), 0.0, atol=8 * EPS32)
  assert (np.sum(s.points * s.normals, axis=1) > 0).all()  # convex and centred: outward = away from 0
  # uniform by area: the share on the two largest faces (area 2 each of total 7) is binomial
  on_big = np.mean(np.abs(np.abs(s.points[:, 2]) - 0.25) < 1e-5)
  assert abs(on_big - 4 / 7) < 5 * np.sqrt((4 / 7) * (3 / 7) / 2000)


def _bad(tmp_path, name, text):
  path = tmp_path / name
  path.write_text(text)
  return str(path)


@pytest.mark.parametrize("name,text,message", [
    ("empty.xyz", "", "empty"),
    ("nan.xyz", "0 0 0 0 0 1\nnan 0 0 0 0 1\n", "finite"),
    ("zero.xyz", "0 0 0 0 0 1\n1 0 0 0 0 0\n", "zero length"),
    ("cols.xyz", "0 0 0\n", "6 columns"),
    ("nofaces.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no faces"),
    ("shape.off", "OFF\n", "ending in"),
])
def test_bad_input_is_one_line(tmp_path, name, text, message):
  with pytest.raises(UserError, match=message):
    shapes.load_surface(_bad(tmp_path, name, text), 100, 0.9)


def test_misnamed_and_truncated_shape_files_say_what_they_are(tmp_path):
  """A directory or a FIFO named *.xyz is not "not found" (and a FIFO must not block); a binary STL
  cut in half is truncated, not a missing module or a mesh with no faces."""
  import trimesh  # pylint: disable=g-import-not-at-top
  (tmp_path / "dir.xyz").mkdir()
  os.mkfifo(tmp_path / "pipe.xyz")
  whole = tmp_path / "whole.stl"
  trimesh.creation.icosphere(subdivisions=1).export(str(whole))
  payload = whole.read_bytes()
  (tmp_path / "half.stl").write_bytes(payload[:len(payload) // 2])
  for name, message in (("dir.xyz", "is a directory"), ("pipe.xyz", "not a regular file"),
                        ("half.stl", "truncated or unreadable binary STL")):
    with pytest.raises(UserError, match=message):
      shapes.load_surface(str(tmp_path / name), 100, 0.9)
  assert shapes.load_surface(str(whole), 100, 0.9).points.shape == (100, 3)


def test_the_points_guard_reads_no_coordinates(tmp_path, monkeypatch):
  """A cloud over shapes.MAX_POINTS is refused from its line count (.xyz) or header (.ply) before a
  coordinate is parsed."""
  points, normals = _cloud(n=10)
  xyz = tmp_path / "ten.xyz"
  np.savetxt(xyz, np.hstack([points, normals]))
  ply = tmp_path / "ten.ply"
  ply.write_text("ply\nformat ascii 1.0\nelement vertex 10\nproperty float x\nproperty float y\n"
                 "property float z\nproperty float nx\nproperty float ny\nproperty float nz\nend_header\n"
                 + "".join(" ".join(map(str, row)) + "\n" for row in np.hstack([points, normals])))
  for path in (xyz, ply):
    assert len(shapes.load_surface(str(path), 100, 0.9).points) == 10
  monkeypatch.setattr(shapes, "MAX_POINTS", 9)
  monkeypatch.setattr(np, "loadtxt", lambda *a, **k: pytest.fail("parsed"))
  monkeypatch.setattr(shapes, "_trimesh_load", lambda *a, **k: pytest.fail("parsed"))
  for path, what in ((xyz, "10 lines"), (ply, "10 vertices")):
    with pytest.raises(UserError, match=f"holds {what}, over the 9 points"):
      shapes.load_surface(str(path), 100, 0.9)


@pytest.mark.parametrize("field,value", [("slice_size", 0), ("slice_size", -3), ("render_size", 4),
                                         ("trace_steps", 10 ** 9), ("fscore_tau", float("inf")),
                                         ("metric_points", 10 ** 9), ("mesh_resolution", 1)])
def test_output_settings_are_checked_before_training(field, value):
  """Fields used only once training is over (meshing, views, slices, metrics) are refused up front:
  sdf.slice_size=0 used to train, then die before summary.json, on every re-run."""
  config = configuration.load_config(os.path.join(ROOT, "configs", "sdf.py"))
  config.sdf[field] = value
  with pytest.raises(UserError, match=f"sdf.{field} must be"):
    configuration.validate(config)


def test_bad_shape_on_the_command_line_writes_nothing(tmp_path):
  path = _bad(tmp_path, "nan.xyz", "0 0 0 0 0 1\nnan 0 0 0 0 1\n")
  workdir = tmp_path / "run"
  proc = forkserver.run([sys.executable, "-m", "siren_jax.main", f"--config={ROOT}/configs/sdf.py",
                         f"--workdir={workdir}", f"--config.data.shape={path}"],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1].startswith("error:") and "Traceback" not in proc.stderr
  assert not workdir.exists()


# --- marching cubes and metrics ------------------------------------------------------------------


def test_marching_cubes_of_an_exact_sphere():
  r, res = 0.6, 40
  h = 2.0 / (res - 1)
  field = lambda p: shapes.sphere_sdf(p.astype(np.float64), r)
  v, f = meshing.extract_mesh(field, res, max_points=res * res * 5)  # many slabs
  # a vertex is the root of the linear interpolant along a grid edge; |sdf| there is at most the
  # interpolation error h^2/8 max|f''| with |f''| <= 1/(r - h) along any line near the sphere, plus
  # float32 rounding of the field values
  bound = h * h / (8 * (r - h)) + 8 * EPS32
  assert np.abs(np.linalg.norm(v, axis=1) - r).max() <= bound
  import trimesh  # pylint: disable=g-import-not-at-top
  mesh = trimesh.Trimesh(v, f, process=False)
  assert mesh.is_watertight and mesh.euler_number == 2  # slabs stitched into one closed sphere
  assert mesh.volume > 0  # triangles face outwards
  v1, f1 = meshing.extract_mesh(field, res, max_points=res ** 3)  # one slab: the same mesh
  assert len(v1) == len(v) and len(f1) == len(f)
  np.testing.assert_allclose(np.sort(v1, axis=0), np.sort(v, axis=0), atol=4 * EPS32)


def test_extract_mesh_of_a_field_with_no_surface_is_empty():
  v, f = meshing.extract_mesh(lambda p: np.ones(len(p)), 8)
  assert v.shape == (0, 3) and f.shape == (0, 3)


def test_ply_written_is_read_back(tmp_path):
  v, f = meshing.extract_mesh(lambda p: shapes.sphere_sdf(p.astype(np.float64), 0.5), 12)
  path = str(tmp_path / "m.ply")
  meshing.write_ply(path, v, f)
  import trimesh  # pylint: disable=g-import-not-at-top
  back = trimesh.load(path, process=False)
  np.testing.assert_allclose(back.vertices, v, atol=EPS32)
  np.testing.assert_array_equal(back.faces, f)


def test_metrics_of_a_surface_with_itself_and_with_an_offset_copy():
  p, n = shapes.sample_analytic("sphere", 2000, 0)
  same = meshing.surface_metrics(p, n, p, n, tau=1e-3)
  assert same["chamfer_l1"] == 0 and same["chamfer_l2"] == 0
  assert same["normal_consistency"] == pytest.approx(1.0, abs=16 * EPS64) and same["fscore"] == 1.0
  # every point of the copy pushed out by d along its normal: each nearest distance is exactly d
  d = 0.01
  out = meshing.surface_metrics(p, n, p + d * n, n, tau=2 * d)
  assert out["chamfer_l1"] == pytest.approx(d, rel=1e-9)
  assert out["chamfer_l2"] == pytest.approx(d * d, rel=1e-9)
  assert out["fscore"] == 1.0
  assert meshing.surface_metrics(p, n, p + d * n, n, tau=d / 2)["fscore"] == 0.0


def test_analytic_errors_of_the_exact_sdf_are_float32_rounding():
  from siren_jax.signals.sdf import outputs as sdf_outputs  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  surface = shapes.analytic_surface("sphere", 100)
  grad = sdf_outputs.gradient_fn(ExactSphere(shapes.SPHERE_RADIUS), {"s": jnp.float32(1.0)}, None,
                                 1024, 0)
  errors = sdf_outputs.analytic_errors(surface, grad, 1000, seed=0)
  # float32 |x| - r (a 3-term sum, a sqrt, a subtraction) of values below sqrt(3), and its gradient
  # x / |x|, against float64
  assert errors["mean_abs_error_near"] <= 16 * EPS32
  assert errors["mean_abs_error_volume"] <= 16 * EPS32
  assert errors["eikonal_residual"] <= 16 * EPS32


# --- loss and sphere tracing ---------------------------------------------------------------------


def test_loss_of_the_exact_sdf_is_only_the_off_surface_term():
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  r = 0.5
  p, n = shapes.sample_analytic("sphere", 256, 0)
  p = p / shapes.SPHERE_RADIUS * r
  weights = sdf_task.parse_weights("sdf:3000,normal:100,inter:100,eikonal:50")
  loss = sdf_task.SdfLoss(weights, alpha=100.0, seed=0)
  batch = {"coords": jnp.asarray(p, jnp.float32), "normals": jnp.asarray(n, jnp.float32),
           "weights": jnp.ones((256,), jnp.float32)}
  full = loss.sample(batch, jax.random.PRNGKey(1))
  assert full["coords"].shape == (512, 3) and float(jnp.abs(full["coords"][256:]).max()) <= 1.0
  sse = loss.make_sse(ExactSphere(r), "reverse")
  total, terms = sse({"s": jnp.float32(1.0)}, full)
  off = np.asarray(full["coords"][256:], np.float64)
  inter = np.sum(np.exp(-100 * np.abs(np.linalg.norm(off, axis=1) - r)))
  # float32 |x| - r of unit-order values, summed over 256 samples
  assert float(terms["sdf"]) <= 256 * 8 * EPS32
  assert float(terms["normal"]) <= 256 * 16 * EPS32
  assert float(terms["eikonal"]) <= 512 * 16 * EPS32
  assert float(terms["inter"]) == pytest.approx(inter, rel=512 * 100 * 8 * EPS32)
  assert float(total) == pytest.approx(sum(weights[k] * float(v) for k, v in terms.items()), rel=1e-5)


def test_sphere_tracing_hits_an_exact_sphere_where_rays_meet_it():
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  r, size = 0.5, 24
  rays = sphere_trace.camera_rays(30.0, 20.0, size)
  rgb, hit = sphere_trace.trace_fn(ExactSphere(r), steps=64)({"s": jnp.float32(1.0)}, rays)
  o, d = rays[:, :3].astype(np.float64), rays[:, 3:].astype(np.float64)
  miss_distance = np.linalg.norm(o - np.sum(o * d, axis=1, keepdims=True) * d, axis=1)
  hit = np.asarray(hit)
  assert hit[miss_distance < r - 0.01].all() and not hit[miss_distance > r + 0.01].any()
  assert (np.asarray(rgb)[~hit] == sphere_trace.BACKGROUND).all()
  assert (np.asarray(rgb)[hit] < 1.0).all()


# --- end to end ----------------------------------------------------------------------------------


def test_tiny_fit_of_a_sphere_end_to_end(tmp_path):
  workdir = tmp_path / "run"
  flags = {"data.shape": "sphere", "data.num_points": 400, "model.width": 32, "model.depth": 2,
           "train.num_steps": 150, "train.batch_size": 200, "train.learning_rate": 1e-3,
           "train.log_every": 150, "sdf.mesh_resolution": 24, "sdf.render_size": 16,
           "sdf.slice_size": 32, "sdf.metric_points": 500, "eval.chunk_size": 4096}
  cmd = [sys.executable, "-m", "siren_jax.main", f"--config={ROOT}/configs/sdf.py",
         f"--workdir={workdir}"] + [f"--config.{k}={v}" for k, v in flags.items()]
  proc = forkserver.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  for name in ("mesh.ply", "renders.png", "turntable.png", "slices.png", "curves.png", "report.html"):
    assert os.path.getsize(workdir / name) > 0, name
  # Every phase after the last step says what it is doing, and the last line names the page to open.
  for phase in ("meshing the zero level set on a 24^3 grid", "surface metrics", "sphere-tracing three",
                "turntable views", "slicing the field"):
    assert re.search(re.escape(phase) + r".*: done in \d+\.\d s", proc.stderr), phase
  done = [line for line in proc.stderr.splitlines() if "Done: " in line]
  assert len(done) == 1 and done[0].endswith(f"open {workdir / 'report.html'}")
  with Image.open(workdir / "turntable.png") as strip:  # the turntable's views, side by side
    assert strip.size == (sdf_outputs.TURNTABLE_FRAMES * 16, 16)
  summary = json.loads((workdir / "summary.json").read_text())
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  key = "surface_error"
  assert summary[key] < rows[0][key] / 2  # it learned: mean |f| on the surface at least halved
  for key in ("chamfer_l1", "chamfer_l2", "normal_consistency", "fscore", "mean_abs_error_near",
              "mean_abs_error_volume", "eikonal_residual"):
    assert np.isfinite(summary[key]), key
  assert summary["mesh_faces"] > 0
  html = (workdir / "report.html").read_text()
  assert "Chamfer L1" in html and "renders" in html
  assert '<a href="mesh.ply" download>mesh.ply</a>' in html
  assert f'class="turntable" data-frames="{sdf_outputs.TURNTABLE_FRAMES}"' in html
  # render: the mesh at another resolution, written where asked
  out = tmp_path / "mesh16.ply"
  proc = forkserver.run([sys.executable, "-m", "siren_jax.render", f"--workdir={workdir}",
                         "--resolution=16", f"--out={out}"], cwd=ROOT, capture_output=True, text=True,
                        timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  import trimesh  # pylint: disable=g-import-not-at-top
  mesh = trimesh.load(str(out), process=False)
  assert len(mesh.faces) > 0 and np.abs(mesh.vertices).max() <= 1.0 + 1e-6  # the grid spans [-1, 1]
  # a one-point grid (a ZeroDivisionError before) and another task's flag are refused in one line
  for flag, message in (("--resolution=1", "must be 0 (the run's own) or in [2, 2048]"),
                        ("--scale=2", "--scale: not a flag for sdf runs")):
    proc = forkserver.run([sys.executable, "-m", "siren_jax.render", f"--workdir={workdir}", flag,
                           f"--out={tmp_path / 'x.ply'}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "x.ply").exists()


def test_report_turns_the_shape_and_links_the_mesh(tmp_path, request):
  """The turntable strip becomes one view that the arrow keys, the slider and a drag turn, offline."""
  from siren_jax.io import outputs
  from siren_jax import report  # pylint: disable=g-import-not-at-top
  chromium = request.getfixturevalue("browser")
  frames, side = 4, 8
  strip = np.concatenate([np.full((side, side, 3), i / frames, np.float32) for i in range(frames)], axis=1)
  outputs.write_png(str(tmp_path / "turntable.png"), strip)
  outputs.write_json(str(tmp_path / "config.json"), {"task": "sdf", "data": {"shape": "sphere"}})
  outputs.write_json(str(tmp_path / "summary.json"), {"status": "done", "shape": "sphere", "mesh_faces": 2})
  meshing.write_ply(str(tmp_path / "mesh.ply"), np.eye(3), np.array([[0, 1, 2]]))
  page, errors, requests = chromium.new_page(), [], []
  page.on("pageerror", lambda e: errors.append(str(e)))
  page.on("request", lambda r: requests.append(r.url))
  page.goto("file://" + os.path.abspath(report.write_report(str(tmp_path))))
  page.wait_for_load_state("load")
  # The strip is shifted by whole frames: frame i of n at i / (n - 1) of the way along.
  shown = lambda: float(page.eval_on_selector(".turntable .frame",
                                              "e => e.style.backgroundPosition").split("%")[0])
  assert shown() == 0 and page.inner_text(".turntable .angle") == "0°"
  page.focus(".turntable")
  page.keyboard.press("ArrowRight")
  assert abs(shown() - 100 / (frames - 1)) < 1e-3 and page.inner_text(".turntable .angle") == "90°"
  page.keyboard.press("ArrowLeft")
  page.keyboard.press("ArrowLeft")  # wraps round to the last view
  assert shown() == 100 and page.inner_text(".turntable .angle") == "270°"
  assert page.get_attribute('a[href="mesh.ply"]', "download") is not None
  page.close()
  assert not errors and all(u.startswith(("file:", "data:")) for u in requests), (errors, requests)
