"""The PDE tasks: residuals vanish on closed-form solutions, the sampling, and tiny end-to-end runs
with their one-line errors."""

import json
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax.nets import derivatives
from siren_jax.signals.pde import common, physics
from siren_jax.signals.pde.helmholtz import task as helmholtz_task
from siren_jax.signals.pde.wave import task as wave_task
import forkserver
from tests.conftest import ROOT

EPS32 = float(np.finfo(np.float32).eps)
EPS64 = float(np.finfo(np.float64).eps)
K, A0, WIDTH = 20.0, 5.0, 0.5


def _problem(velocity="uniform"):
  return physics.Helmholtz(k=K, velocity=velocity, source_xy=(0.0, 0.0), pml_width=WIDTH, a0=A0)


def _physical_points(n, seed=0, source_gap=0.2):
  """Points outside the PML and away from the source (where the source term is exactly 0)."""
  x = np.random.default_rng(seed).uniform(-(1 - WIDTH), 1 - WIDTH, (4 * n, 2))
  return x[np.hypot(x[:, 0], x[:, 1]) > source_gap][:n]


@pytest.mark.parametrize("angle", [0.0, 0.7])
def test_plane_wave_satisfies_helmholtz_in_the_physical_region(angle):
  """exp(i k d.x) solves Laplace(u) + k^2 u = 0; there A = B = C = 1 and m = 1, so R = 0."""
  d = jnp.array([np.cos(angle), np.sin(angle)], jnp.float32)
  wave = lambda c: jnp.stack([jnp.cos(K * c @ d), jnp.sin(K * c @ d)], axis=-1)
  coords = jnp.asarray(_physical_points(200))
  r = np.asarray(helmholtz_task.field_residual(_problem(), wave, coords))
  # u_xx, u_yy and k^2 u are each at most k^2 in size; each carries the float32 rounding of its phase
  # k d.x (a few eps of k |x|, as an absolute phase error) and of a few operations more.
  phase = K * np.abs(np.asarray(coords)).sum(axis=1)
  bound = 3 * K ** 2 * (phase + 8) * 4 * EPS32
  assert np.all(np.abs(r) <= bound), np.max(np.abs(r) / bound)
  # the residual is not trivially zero: a wrong wavenumber leaves |R| = |k'^2 - k^2| everywhere
  off = lambda c: wave(c * 1.1)
  assert np.min(np.abs(np.asarray(helmholtz_task.field_residual(_problem(), off, coords)))) > (
      0.2 * K ** 2 - bound.max())


def test_stretched_plane_wave_satisfies_the_pml_equation():
  """In the PML, u = exp(-i k x~) with x~ = x - i a0 sign(x) d^3 / (3 L^2) (d: depth into the
  layer, L its width; dx~/dx = e_x, the official stretch) solves the stretched equation everywhere:
  R / (e_x e_y) = d2u/dx~2 + d2u/dy~2 + k^2 u = 0. It tests dA/dx and the PML terms together."""
  with jax.enable_x64(True):
    lo = 1.0 - WIDTH

    def wave(c):
      x = c[:, 0]
      depth = jnp.maximum(jnp.abs(x) - lo, 0.0)
      xs = x - 1j * A0 * jnp.sign(x) * depth ** 3 / (3 * WIDTH ** 2)
      u = jnp.exp(-1j * K * xs)
      return jnp.stack([u.real, u.imag], axis=-1)

    coords = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (400, 2)))
    coords = coords[np.hypot(coords[:, 0], coords[:, 1]) > 0.2]  # no source term
    r = np.asarray(helmholtz_task.field_residual(_problem(), wave, coords))
    assert r.dtype == np.complex128
    # every term is at most k^2 (1 + a0)^4 |u| in size (|e| <= 1 + a0, |1 / e| <= 1, |de/dx| <= k
    # here; the wave, damped in the right layer, grows in the left one), each through a few dozen
    # float64 operations
    u = np.abs(np.asarray(wave(coords)) @ np.array([1.0, 1.0j]))
    bound = 64 * EPS64 * K ** 2 * (1 + A0) ** 4 * u
    assert np.all(np.abs(r) <= bound), np.max(np.abs(r) / bound)
    # without the stretch (a plain plane wave) the PML residual is large inside the layer
    plain = lambda c: jnp.stack([jnp.cos(K * c[:, 0]), -jnp.sin(K * c[:, 0])], axis=-1)
    deep = coords[np.abs(coords[:, 0]) > lo + 0.2]
    assert np.min(np.abs(np.asarray(helmholtz_task.field_residual(_problem(), plain, deep)))) > 1.0


def test_source_points_lie_in_the_disk_and_the_rest_is_uniform():
  loss = helmholtz_task.HelmholtzLoss(physics.Helmholtz(K, "square", (-0.35, 0.0), WIDTH, A0),
                                      source_points=50, source_radius=0.05, source_weight=1.0, seed=0)
  batch = common.sampler(2).gather({}, jnp.zeros((1000,), jnp.int32))
  out = loss.sample(batch, jax.random.PRNGKey(3))
  c = np.asarray(out["coords"])
  near = np.hypot(c[-50:, 0] + 0.35, c[-50:, 1])
  assert near.max() <= 0.05 * (1 + 4 * EPS32) + 0.35 * 4 * EPS32
  assert np.all(np.abs(c[:-50]) <= 1.0)
  assert np.abs(c[:-50]).max() > 0.9  # spread over the square, not stuck near the source
  again = loss.sample(batch, jax.random.PRNGKey(3))["coords"]
  np.testing.assert_array_equal(c, np.asarray(again))  # a pure function of the key


def test_rel_l2_over_the_mask():
  ref = np.ones((4, 4), complex)
  mask = np.zeros((4, 4), bool)
  mask[1:3, 1:3] = True
  fit = ref.copy()
  fit[0, 0] = 100.0  # outside the mask: not scored
  fit[1, 1] = 1.0 + 2.0j  # |diff| 2 over ||ref|| = 2
  assert common.rel_l2(fit, ref, mask) == pytest.approx(1.0, rel=4 * EPS64)


def _helmholtz_flags(steps=3):
  return [f"--config={ROOT}/configs/helmholtz.py", f"--config.train.num_steps={steps}",
          "--config.train.batch_size=256", "--config.pde.source_points=16", "--config.model.width=16",
          "--config.model.depth=1", "--config.pde.eval_size=32", "--config.train.log_every=2"]


def _run(workdir, flags):
  import sys  # pylint: disable=g-import-not-at-top
  return forkserver.run([sys.executable, "-m", "siren_jax.main", f"--workdir={workdir}", *flags],
                        cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_helmholtz_main_writes_summary_and_outputs(tmp_path):
  wd = tmp_path / "h"
  proc = _run(wd, _helmholtz_flags())
  assert proc.returncode == 0, proc.stderr[-2000:]
  summary = json.loads((wd / "summary.json").read_text())
  assert summary["status"] == "done" and summary["steps"] == 3
  assert 0 < summary["rel_l2"] < 10 and summary["mean_abs_residual"] > 0
  for name in ("field.png", "field.npz", "curves.png", "report.html"):
    assert (wd / name).exists(), name
  assert "relative L2 error" in (wd / "report.html").read_text()
  out = tmp_path / "render.npz"
  proc = _render(wd, f"--out={out}", "--size=20x30")
  assert proc.returncode == 0, proc.stderr[-2000:]
  field = np.load(out)["field"]
  assert field.shape == (20, 30) and np.iscomplexobj(field)


def _render(workdir, *flags):
  import sys  # pylint: disable=g-import-not-at-top
  return forkserver.run([sys.executable, "-m", "siren_jax.render", f"--workdir={workdir}", *flags],
                        cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("flag, message", [
    ("--config.pde.velocity=triangle", "pde.velocity must be one of"),
    ("--config.pde.wavenumber=-1", "pde.wavenumber must be in"),
    ("--config.pde.source_points=0", "pde.source_points must be >= 1"),
    ("--config.train.batch_size=10", "must be more than pde.source_points"),
    ("--config.pde.pml_width=1.5", "pde.pml_width must be in"),
    ("--config.pde.eval_size=4", "pde.eval_size must be in"),
    ("--config.pde.norm=l3", "pde.norm must be one of"),
])
def test_bad_pde_config_is_refused_by_the_preflight(flag, message):
  """The checks ``train.preflight`` runs before anything is written (in this process: the command's
  one-line error and untouched workdir are tested once, by test_bad_wave_config_is_one_line and
  tests/test_cli.py's every-config test)."""
  from siren_jax import configuration
  from siren_jax.engine import train  # pylint: disable=g-import-not-at-top
  from siren_jax.errors import UserError  # pylint: disable=g-import-not-at-top
  config = configuration.load_config(os.path.join(ROOT, "configs", "helmholtz.py"))
  for item in _helmholtz_flags()[1:] + [flag]:
    field, value = item[len("--config."):].split("=", 1)
    section, key = field.split(".")
    old = config[section][key]
    config[section][key] = value if isinstance(old, str) else type(old)(float(value))
  with pytest.raises(UserError, match=re.escape(message)):
    train.preflight([config])


# --- wave ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("direction", [(1.0, 0.0), (0.6, -0.8)])
def test_travelling_wave_satisfies_the_wave_equation(direction):
  """u = sin(a (d.x - t)) with |d| = 1 travels at c = 1 (m = 1): u_tt = u_xx + u_yy."""
  a, d = 9.0, jnp.array(direction, jnp.float32)
  wave = lambda c: jnp.sin(a * (c[:, 1:] @ d - c[:, 0]))[:, None]
  coords = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (300, 3)).astype(np.float32))
  r = np.asarray(wave_task.residual("uniform", coords, *derivatives.diagonal_of(wave, coords)))
  # u_tt and the Laplacian are each at most a^2 in size, with the float32 rounding of the phase
  phase = a * np.abs(np.asarray(coords)).sum(axis=1)
  bound = 2 * a ** 2 * (phase + 8) * 4 * EPS32
  assert np.all(np.abs(r) <= bound), np.max(np.abs(r) / bound)
  slow = lambda c: wave(c * jnp.array([0.5, 1.0, 1.0]))  # c = 1/2 does not solve m = 1
  r_slow = np.asarray(wave_task.residual("uniform", coords, *derivatives.diagonal_of(slow, coords)))
  assert np.max(np.abs(r_slow)) > 0.5 * a ** 2


def test_wave_sampling_initial_points_and_curriculum():
  loss = wave_task.WaveLoss(velocity="uniform", t_max=0.4, num_steps=100, initial_points=40,
                            initial_radius=0.25, initial_weight=1.0, velocity_weight=1.0, seed=0)
  batch = common.sampler(3).gather({}, jnp.zeros((500,), jnp.int32))
  for step, horizon in ((0, 0.0), (50, 0.2), (100, 0.4), (300, 0.4)):
    out = loss.sample(batch, jax.random.PRNGKey(step), step)
    c, initial = np.asarray(out["coords"]), np.asarray(out["initial"])
    assert np.all(c[-80:, 0] == 0) and np.all(initial[-80:] == 1) and np.all(initial[:-80] == 0)
    assert np.all(np.hypot(c[-40:, 1], c[-40:, 2]) <= 0.25 * (1 + 4 * EPS32))
    assert np.all((c[:, 0] >= 0) & (c[:, 0] <= horizon * (1 + 4 * EPS32)))
    if horizon:
      assert c[:-80, 0].max() > 0.8 * horizon  # the whole curriculum window is drawn
    assert np.all(np.asarray(out["equation"]) == 1)


def test_wave_pretraining_holds_every_point_to_the_initial_state_then_starts_the_curriculum():
  loss = wave_task.WaveLoss(velocity="uniform", t_max=0.4, num_steps=120, initial_points=40,
                            initial_radius=0.25, initial_weight=1.0, velocity_weight=1.0, seed=0,
                            pretrain_steps=20)
  batch = common.sampler(3).gather({}, jnp.zeros((500,), jnp.int32))
  for step in (0, 19):
    out = loss.sample(batch, jax.random.PRNGKey(step), step)
    t = np.asarray(out["coords"])[:, 0]
    assert np.all(np.abs(t) <= wave_task.PRETRAIN_TIME) and t.min() < 0 < t.max()
    assert np.all(np.asarray(out["initial"]) == 1) and np.all(np.asarray(out["equation"]) == 0)
  for step, horizon in ((20, 0.0), (70, 0.2), (120, 0.4)):
    out = loss.sample(batch, jax.random.PRNGKey(step), step)
    t = np.asarray(out["coords"])[:, 0]
    assert np.all((t >= 0) & (t <= horizon * (1 + 4 * EPS32))) and np.all(np.asarray(out["equation"]) == 1)
    assert np.all(np.asarray(out["initial"])[:-80] == 0)


def test_wave_main_writes_summary_and_outputs(tmp_path):
  wd = tmp_path / "w"
  proc = _run(wd, [f"--config={ROOT}/configs/wave.py", "--config.train.num_steps=3",
                   "--config.train.batch_size=256", "--config.pde.initial_points=16",
                   "--config.model.width=16", "--config.model.depth=1", "--config.pde.eval_size=32",
                   "--config.pde.eval_times=3", "--config.train.log_every=2",
                   "--config.pde.pretrain_steps=1"])
  assert proc.returncode == 0, proc.stderr[-2000:]
  summary = json.loads((wd / "summary.json").read_text())
  assert summary["status"] == "done" and summary["steps"] == 3
  assert summary["rel_l2"] > 0 and len(summary["rel_l2_per_time"]) == 3
  for name in ("frames.png", "errors.png", "wave.mp4", "wave.npz", "report.html"):
    assert (wd / name).exists(), name
  assert "<video controls" in (wd / "report.html").read_text()
  out = tmp_path / "frames.npz"
  proc = _render(wd, f"--out={out}", "--size=16x24", "--frames=4")
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert np.load(out)["field"].shape == (4, 16, 24)
  proc = _render(wd, f"--out={tmp_path / 'x.png'}", "--scale=2")
  assert proc.returncode != 0 and "--size" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_wave_config_is_one_line(tmp_path):
  proc = _run(tmp_path / "bad", [f"--config={ROOT}/configs/wave.py", "--config.pde.t_max=2"])
  assert proc.returncode != 0 and "pde.t_max must be in" in proc.stderr
  assert "Traceback" not in proc.stderr and not (tmp_path / "bad").exists()


@pytest.mark.parametrize("field, value, message", [
    ("pretrain_steps", -1, "pde.pretrain_steps must be in"),
    ("pretrain_steps", 3000, "pde.pretrain_steps must be in"),  # no step left for the equation
    ("norm", "l3", "pde.norm must be one of")])
def test_bad_wave_settings_are_refused(field, value, message):
  from siren_jax import configuration  # pylint: disable=g-import-not-at-top
  from siren_jax.errors import UserError  # pylint: disable=g-import-not-at-top
  config = configuration.load_config(os.path.join(ROOT, "configs", "wave.py"))
  config.train.num_steps = 3000
  config.pde[field] = value
  with pytest.raises(UserError, match=message):
    wave_task.validate_config(config)
