"""Full-waveform inversion (``siren_jax.signals.pde.inverse.task``): the loss's terms on closed-form fields,
the slowness pin, the refused configs and a tiny end-to-end run."""

import dataclasses
import json
import re
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax import configuration
from siren_jax.engine import trained
from siren_jax.errors import UserError
from siren_jax.nets import derivatives
from siren_jax.signals.pde import common, renders
from siren_jax.signals.pde.inverse import measurements, task as inverse_task
import forkserver
from tests.conftest import ROOT
from tests.floatbounds import EPS32

EPS64 = float(np.finfo(np.float64).eps)
K, A0, WIDTH, FIXED = 20.0, 5.0, 0.5, 0.75
SOURCES = np.array([[-0.3, -0.35], [0.3, -0.35]])
RECEIVERS = np.array([[-0.2, 0.4], [0.0, 0.4], [0.2, 0.4]])
ANGLES = (0.0, 2.0)  # one plane wave per source: their directions


def _loss(data=None, norm="l2", pretrain_steps=10):
  data = np.zeros((len(RECEIVERS), len(SOURCES)), complex) if data is None else data
  survey = measurements.Survey(SOURCES, RECEIVERS, data, (0.0, 0.0), 0.1, 2.0)
  return inverse_task.InverseLoss(survey, K, WIDTH, A0, "uniform", FIXED, pretrain_steps,
                                  source_points=4, source_radius=0.05, source_weight=1.0,
                                  data_weight=1.0, slowness_weight=1.0, seed=0, norm=norm)


def _stretched(xs, lo):
  """x~ = x - i a0 sign(x) d^3 / (3 L^2), d the depth into the PML: dx~/dx = e_x (the stretch)."""
  depth = jnp.maximum(jnp.abs(xs) - lo, 0.0)
  return xs - 1j * A0 * jnp.sign(xs) * depth ** 3 / (3 * WIDTH ** 2)


def _plane_waves(raw_slowness):
  """exp(i k (x~ cos a + y~ sin a)) per source (it solves the stretched equation with m = 1
  everywhere, PML included) and a constant last output ``raw_slowness``."""

  def f(c):
    xs, ys = _stretched(c[:, 0], 1 - WIDTH), _stretched(c[:, 1], 1 - WIDTH)
    cols = []
    for a in ANGLES:
      u = jnp.exp(1j * K * (xs * np.cos(a) + ys * np.sin(a)))
      cols += [u.real, u.imag]
    return jnp.stack(cols + [jnp.zeros_like(xs) + raw_slowness], axis=-1)

  return f


def _away_from_sources(n, seed):
  """Points in [-1, 1]^2 outside every source's support (radius 0.062 at the official cutoff)."""
  c = np.random.default_rng(seed).uniform(-1, 1, (3 * n, 2))
  far = np.min(np.hypot(c[:, None, 0] - SOURCES[:, 0], c[:, None, 1] - SOURCES[:, 1]), axis=1) > 0.1
  return c[far][:n]


def _batch(n, pretrain):
  return {"weights": jnp.ones((n,)), "pretrain": jnp.full((n,), float(pretrain)),
          "data_scale": jnp.zeros((n,)), "data": jnp.zeros((n, 2 * len(SOURCES))),
          "known": jnp.zeros((n, 2 * len(SOURCES)))}


def _terms(raw_slowness, pretrain, n=300):
  """The loss terms of the plane waves at ``n`` points away from the sources (one compiled program
  for every raw slowness and phase), the points and |u| there."""
  with jax.enable_x64(True):
    coords = jnp.asarray(_away_from_sources(n, seed=1))

    @jax.jit
    def run(raw, phase):
      values, grads, second = derivatives.diagonal_of(_plane_waves(raw), coords, "forward")
      batch = dict(_batch(len(coords), 0.0), pretrain=jnp.full((len(coords),), phase))
      return _loss().terms(coords, values, grads, second, batch), values

    terms, values = run(jnp.float64(raw_slowness), jnp.float64(pretrain))
    u = np.abs(inverse_task.fields_of(np.asarray(values), len(SOURCES)))
    return {k: float(v) for k, v in terms.items()}, np.asarray(coords), u


def test_residual_vanishes_on_plane_waves_in_the_uniform_medium():
  """m = 1 (raw output 0): both fields satisfy the stretched equation, so the residual term is 0 up to
  float64 rounding, PML included; a wrong m (raw -0.5, m = 0.5) leaves |R| = 0.5 k^2 |C u| >= 0.5
  k^2 |u| where the network's m is free (|x|, |y| < 0.75)."""
  terms, coords, u = _terms(0.0, pretrain=0)
  # Each term of R is at most k^2 (1 + a0)^4 |u| in size, each through a few dozen float64 operations
  # (as tests/test_pde.py); the l2 term sums |R|^2 over the points, averaged over the 2 fields.
  bound = 64 * EPS64 * K ** 2 * (1 + A0) ** 4 * u
  assert terms["residual"] <= np.sum(bound ** 2) / len(SOURCES)
  assert terms["source"] == 0.0 and terms["data"] == 0.0 and terms["slowness"] == 0.0
  wrong, coords, u = _terms(-0.5, pretrain=0)
  free = np.all(np.abs(coords) <= FIXED, axis=1)
  assert wrong["residual"] >= 0.99 * np.sum((0.5 * K ** 2 * u[free]) ** 2) / len(SOURCES)


def test_pretrain_uses_the_known_medium_and_pins_the_network_slowness():
  """In the pretrain phase the residual sees the known m = 1 (so it vanishes whatever the network's
  m), and the slowness term is |m_net - 1|^2 = 0.25 at each point where m_net is free."""
  terms, coords, u = _terms(-0.5, pretrain=1)
  bound = 64 * EPS64 * K ** 2 * (1 + A0) ** 4 * u
  assert terms["residual"] <= np.sum(bound ** 2) / len(SOURCES)
  free = int(np.sum(np.all(np.abs(coords) <= FIXED, axis=1)))
  assert free > 0 and abs(terms["slowness"] - 0.25 * free) <= 4 * EPS64 * 0.25 * free


def test_slowness_is_pinned_outside_the_free_region():
  coords = np.random.default_rng(2).uniform(-1, 1, (500, 2)).astype(np.float32)
  raw = np.random.default_rng(3).normal(0, 3, 500).astype(np.float32)
  m = np.asarray(inverse_task.slowness_of(jnp.asarray(coords), jnp.asarray(raw), FIXED, xp=jnp))
  outside = np.any(np.abs(coords) > FIXED, axis=1)
  assert outside.any() and (~outside).any()
  np.testing.assert_array_equal(m[outside], 1.0)
  np.testing.assert_array_equal(m[~outside], np.maximum(raw[~outside], -0.999) + 1.0)
  # and no gradient reaches the network's output there
  grad = jax.grad(lambda r: jnp.sum(inverse_task.slowness_of(jnp.asarray(coords), r, FIXED, xp=jnp)))(
      jnp.asarray(raw))
  assert np.all(np.asarray(grad)[outside] == 0.0) and np.any(np.asarray(grad)[~outside] == 1.0)


def test_data_term_is_zero_when_the_fields_match_the_receivers():
  data = np.random.default_rng(4).normal(size=(len(RECEIVERS), len(SOURCES), 2)) @ [1, 1j]
  loss = _loss(data.astype(np.complex64))
  n, s, r = 64, len(SOURCES), len(RECEIVERS)
  empty = common.sampler(2).gather({}, jnp.zeros((n,), jnp.int32))
  sample = jax.jit(lambda step: loss.sample(empty, jax.random.PRNGKey(0), step))
  batch = sample(jnp.int32(loss.pretrain_steps))  # the first inversion step
  np.testing.assert_array_equal(np.asarray(batch["coords"][:r]), RECEIVERS.astype(np.float32))
  values = np.zeros((n, 2 * s + 1), np.float32)
  values[:r, :2 * s] = np.asarray(batch["data"])[:r]
  zeros = jnp.zeros((n, 2 * s + 1, 2))
  terms = jax.jit(lambda v, b: loss.terms(b["coords"], v, zeros, zeros, b)["data"])
  data_term = lambda v, b: float(terms(jnp.asarray(v), b))
  assert data_term(values, batch) == 0.0
  values[1, 2] += 0.5  # Re u_1 at receiver 1: |du|^2 = 0.25, its mean over sources, then receivers
  expected = n * 0.25 / (r * s)  # the engine divides the batch's sum by n
  assert abs(data_term(values, batch) - expected) <= 16 * EPS32 * expected
  assert data_term(values, sample(jnp.int32(loss.pretrain_steps - 1))) == 0.0  # none in pretrain


def test_known_fields_are_interpolated_bilinearly():
  """The pretrain's targets at any point: bilinear interpolation of the FD nodes is exact for a field
  linear in x and y (node (row, col) at (x, y) = (-1 + 2 col / (n - 1), -1 + 2 row / (n - 1)))."""
  n = 9
  y, x = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n), indexing="ij")
  planes = np.stack([x + 2 * y, 3 - x, y, x * 0 + 0.5], axis=0).astype(np.float32)  # (2 S, n, n)
  loss = dataclasses.replace(_loss(), known=planes, field_weight=1.0)
  coords = np.random.default_rng(5).uniform(-1, 1, (200, 2)).astype(np.float32)
  got = np.asarray(loss.known_at(jnp.asarray(coords)))
  want = np.stack([coords[:, 0] + 2 * coords[:, 1], 3 - coords[:, 0], coords[:, 1],
                   np.full(200, 0.5)], axis=-1)
  # index arithmetic and two linear blends in float32, on values up to 4 in size
  np.testing.assert_allclose(got, want, rtol=0, atol=16 * EPS32 * 4 * (n - 1))


def _config():
  config = configuration.load_config(f"{ROOT}/configs/helmholtz_inverse.py")
  config.train.num_steps, config.train.batch_size = 20, 512
  config.pde.pretrain_steps, config.pde.source_points = 10, 10
  return config


BAD = [("num_sources", 0, "pde.num_sources must be in"),
       ("receivers_per_side", 0, "pde.receivers_per_side must be in"),
       ("cylinder_center", (0.0, 1.5), "pde.cylinder_center must be two numbers in (-1, 1)"),
       ("cylinder_center", (0.0,), "pde.cylinder_center must be two numbers"),
       ("cylinder_radius", 0.0, "pde.cylinder_radius must be in (0, 1)"),
       ("cylinder_velocity", float("nan"), "pde.cylinder_velocity must be in"),
       ("fixed_beyond", 1.5, "pde.fixed_beyond must be in (0, 1]"),
       ("fd_size", 9, "pde.fd_size must be in"),
       ("pretrain_steps", 21, "pde.pretrain_steps must be in [0, train.num_steps=20]"),
       ("source_points", 100, "must be more than the 530 points it reserves"),
       ("data_weight", -1.0, "pde.data_weight must be >= 0"),
       ("slowness_weight", float("inf"), "pde.slowness_weight must be >= 0"),
       ("source_weight", -1.0, "pde.source_weight must be >= 0"),
       ("norm", "l3", "pde.norm must be one of"),
       ("eval_size", 8, "pde.eval_size must be in"),
       ("velocity", "marble", "pde.velocity must be one of")]


@pytest.mark.parametrize("field, value, message", BAD, ids=[f"{b[0]}={b[1]}" for b in BAD])
def test_bad_inversion_values_are_refused_by_validate(field, value, message):
  config = _config()
  config.pde[field] = value
  with pytest.raises(UserError, match=re.escape(message)):
    configuration.validate(config)


def test_inversion_main_writes_summary_figures_and_renders(tmp_path):
  wd = tmp_path / "fwi"
  flags = ["--config.train.num_steps=4", "--config.pde.pretrain_steps=2", "--config.train.log_every=2",
           "--config.train.batch_size=256", "--config.pde.source_points=8", "--config.model.width=16",
           "--config.model.depth=1", "--config.pde.eval_size=16", "--config.pde.fd_size=33",
           "--config.pde.num_sources=2", "--config.pde.receivers_per_side=2"]
  proc = forkserver.run([sys.executable, "-m", "siren_jax.main", f"--workdir={wd}",
                         f"--config={ROOT}/configs/helmholtz_inverse.py", *flags],
                        cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-2000:]
  summary = json.loads((wd / "summary.json").read_text())
  assert summary["status"] == "done" and summary["steps"] == 4
  for key in ("velocity_error", "initial_velocity_error", "pretrained_velocity_error", "data_misfit",
              "best_constant_velocity_error"):
    assert np.isfinite(summary[key]) and summary[key] > 0, key
  for name in ("velocity.png", "fields.png", "inversion.npz", "curves.png", "report.html"):
    assert (wd / name).exists(), name
  saved = np.load(wd / "inversion.npz")
  assert saved["fields"].shape == (2, 16, 16) and saved["data"].shape == (6, 2)
  assert "velocity error after the pretrain phase" in (wd / "report.html").read_text()
  # the render command's PDE path, in process (the flags' parsing is tests/test_pde.py's): a
  # subprocess would pay JAX's import again
  out = tmp_path / "render.npz"
  given = types.SimpleNamespace(workdir=str(wd), out=str(out), size="12x20", window="", scale=None,
                                rate=0, resolution=0, chunk_size=0, frames=0, time="", t=None, fps=0.0)
  renders.command(given, trained.load_run)
  rendered = np.load(out)
  assert rendered["velocity"].shape == (12, 20) and rendered["fields"].shape == (2, 12, 20)
  # pixel centres at |x| = 0.95 lie where the medium is held known: c = 1 exactly
  np.testing.assert_array_equal(rendered["velocity"][:, [0, -1]], 1.0)
