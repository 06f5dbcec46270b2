"""Derivative targets, supervision parsing, evaluation protocols and derivative-supervised fits."""

import json

import jax
import numpy as np
import pytest
from PIL import Image

from siren_jax.engine import step, supervision, train
from siren_jax.errors import UserError
from siren_jax.nets import derivatives, kinds
from siren_jax.signals.image import data, figures, targets
from conftest import smooth_image, tiny_config


def _analytic(h, w, a=2.0, b=3.0):
  """f = sin(a x) cos(b y) on the pixel-centre grid, with its exact gradient and Laplacian."""
  y, x = np.meshgrid(data.pixel_centres(h).astype(np.float64), data.pixel_centres(w).astype(np.float64),
                     indexing="ij")
  f = np.sin(a * x) * np.cos(b * y)
  grad = np.stack([-b * np.sin(a * x) * np.sin(b * y), a * np.cos(a * x) * np.cos(b * y)], -1)
  lap = -(a ** 2 + b ** 2) * f
  return f[..., None], grad[:, :, None, :], lap[..., None]


def test_targets_are_per_unit_coordinate():
  f, grad, lap = _analytic(128, 96)
  g = targets.image_gradient(f)
  lp = targets.image_laplacian(f)
  inner = (slice(2, -2), slice(2, -2))
  # Sobel smoothing and finite differences err at O(h^2): ~1e-3 relative here. A per-pixel (instead of
  # per-coordinate) scale would be off by 48-64x, the official code's fixed factors by 10x or more.
  np.testing.assert_allclose(g[inner], grad[inner], atol=0.01 * np.abs(grad).max())
  np.testing.assert_allclose(lp[inner], lap[inner], atol=0.01 * np.abs(lap).max())


def test_spectral_targets_are_exact_for_a_cosine_series():
  # The DCT-II basis cos(pi k (t + 1) / 2) sampled at pixel centres is its own band-limited interpolant,
  # so the spectral targets must equal its analytic derivatives everywhere, borders included.
  h, w, ky, kx = 64, 48, 3, 5
  y, x = np.meshgrid(data.pixel_centres(h).astype(np.float64), data.pixel_centres(w).astype(np.float64),
                     indexing="ij")
  ay, ax = np.pi * ky / 2, np.pi * kx / 2
  f = np.cos(ay * (y + 1)) * np.cos(ax * (x + 1))
  grad = np.stack([-ay * np.sin(ay * (y + 1)) * np.cos(ax * (x + 1)),
                   -ax * np.cos(ay * (y + 1)) * np.sin(ax * (x + 1))], -1)
  np.testing.assert_allclose(targets.gradient_target(f[..., None], "spectral")[:, :, 0], grad,
                             atol=1e-4 * np.abs(grad).max())
  np.testing.assert_allclose(targets.laplacian_target(f[..., None], "spectral")[..., 0],
                             -(ay ** 2 + ax ** 2) * f, atol=1e-4 * (ay ** 2 + ax ** 2))
  # The finite differences on the same image are O(h^2) off: the ordering the targets' docstring gives.
  err = {k: np.abs(targets.gradient_target(f[..., None], k)[4:-4, 4:-4, 0] - grad[4:-4, 4:-4]).max()
         for k in ("sobel", "central")}
  assert 1e-3 * np.abs(grad).max() < err["central"] < err["sobel"]


def test_poisson_ceiling_of_each_gradient_target():
  # benchmarks/poisson_ceiling.py's exact solver: the spectral target gives the image back, Sobel's
  # smoothing caps what any band-limited solution can reach.
  from benchmarks import poisson_ceiling
  image = data.load_image("camera", height=64, width=64).pixels.astype(np.float64)
  signed = data.to_signed(image)
  psnr = {}
  for kind in targets.GRADIENT_TARGETS:
    f = poisson_ceiling.solve(targets.gradient_target(signed, kind)[:, :, 0])[..., None]
    psnr[kind] = supervision.evaluate(data.to_unit(f), image)["psnr_offset"]
  assert psnr["spectral"] > 60 and psnr["sobel"] < psnr["central"] < 40, psnr


def test_bad_target_kind_is_one_line_error(image_path):
  from siren_jax import configuration
  with pytest.raises(UserError, match="train.gradient_target"):
    configuration.validate(tiny_config(image_path, train__gradient_target="sobol"))
  with pytest.raises(UserError, match="train.laplacian_target"):
    configuration.validate(tiny_config(image_path, train__laplacian_target="9point"))


def test_fitted_network_derivatives_match_target_scale(tmp_path):
  """Fit the analytic image by values only; its network derivatives land on the targets' scale."""
  f, _, _ = _analytic(48, 48, a=1.5, b=2.0)
  path = str(tmp_path / "analytic.png")
  Image.fromarray(np.round((f[..., 0] + 1) / 2 * 65535).astype(np.uint16)).save(path)
  config = tiny_config(path, train__num_steps=400, train__log_every=400, train__checkpoint_every=400,
                       model__omega_0=10.0)
  train.train_and_evaluate(config, str(tmp_path / "run"))
  from siren_jax.io import checkpoints
  model = kinds.build_model(config.model, out_features=1)
  like = step.create_train_state(jax.random.PRNGKey(0), model, config)
  state, _ = checkpoints.Checkpointer(str(tmp_path / "run" / "checkpoints"), 2).restore_latest(like)
  coords = data.grid_coords(48, 48)
  _, g_net = derivatives.gradient(model, state.params, coords, "reverse")
  _, l_net = derivatives.laplacian(model, state.params, coords, "propagate")
  img = data.to_signed(data.load_image(path).pixels)
  g_tgt = targets.image_gradient(img).reshape(-1, 1, 2)
  l_tgt = targets.image_laplacian(img).reshape(-1, 1)
  inner = (data.grid_coords(48, 48) ** 2).max(-1) < 0.85 ** 2
  # A values-only fit matches second derivatives less tightly than first ones, hence two thresholds.
  for net, tgt, min_corr in ((g_net, g_tgt, 0.95), (l_net, l_tgt, 0.75)):
    net, tgt = np.asarray(net)[inner].ravel(), tgt[inner].ravel()
    ratio = np.dot(net, tgt) / np.dot(tgt, tgt)  # least-squares scale between the two
    corr = np.corrcoef(net, tgt)[0, 1]
    print("scale ratio", ratio, "correlation", corr)
    assert 0.9 < ratio < 1.1, ratio
    assert corr > min_corr, corr


def test_parse_supervision():
  assert supervision.parse("values") == {"values": 1.0}
  assert supervision.parse("values:1, gradient:0.01") == {"values": 1.0, "gradient": 0.01}
  assert supervision.parse("laplacian:2,values:0") == {"laplacian": 2.0}
  for bad in ("edges", "values:x", "values:-1", "values:0", ""):
    with pytest.raises(UserError):
      supervision.parse(bad)
  assert supervision.headline_protocol({"values": 1, "gradient": 1}) == "psnr"
  assert supervision.headline_protocol({"gradient": 1}) == "psnr_offset"
  assert supervision.headline_protocol({"laplacian": 1}) == "psnr_affine"


def test_protocols_remove_exactly_what_they_claim():
  target = smooth_image(20, 30, 2)
  y, x = np.meshgrid(np.linspace(-1, 1, 20), np.linspace(-1, 1, 30), indexing="ij")
  shifted = target - 0.1
  tilted = target + (0.05 + 0.1 * y - 0.07 * x)[..., None]
  scaled = 0.5 * target + 0.2
  r = supervision.evaluate(shifted, target)
  assert r["psnr_offset"] > 100 and r["psnr"] < 25
  r = supervision.evaluate(tilted, target)
  assert r["psnr_affine"] > 100 and r["psnr_offset"] < 40
  r = supervision.evaluate(scaled, target)
  assert r["psnr_scale_offset"] > 100 and r["psnr_offset"] < 40


@pytest.mark.parametrize("spec,protocol,min_db", [("gradient", "psnr_offset", 24.0),
                                                  ("laplacian", "psnr_affine", 15.0),
                                                  ("values:1,gradient:0.001", "psnr", 24.0)])
def test_derivative_supervised_fit(tmp_path, image_path, spec, protocol, min_db):
  config = tiny_config(image_path, train__supervision=spec, train__num_steps=300,
                       train__log_every=100, train__checkpoint_every=300, model__omega_0=10.0)
  summary = train.train_and_evaluate(config, str(tmp_path))
  assert summary["psnr_protocol"] == protocol
  assert summary["psnr"] == summary[protocol] > min_db, summary
  for key in ("psnr", "psnr_offset", "psnr_affine", "psnr_scale_offset"):
    assert key in summary
  assert Image.open(tmp_path / "derivatives.png").size[0] > 300


def _recording(monkeypatch, module, name):
  """Replaces module.name by a wrapper that records each call's arguments and then makes it."""
  calls, real = [], getattr(module, name)
  monkeypatch.setattr(module, name, lambda *a, **k: calls.append((a, k)) or real(*a, **k))
  return calls


def test_poisson_blend_runs_with_builtin_images(tmp_path, monkeypatch):
  config = tiny_config("camera", train__supervision="gradient", train__num_steps=200,
                       train__log_every=100, train__checkpoint_every=200, data__height=32,
                       data__width=32)
  config.data.blend_source = "astronaut"
  panels = _recording(monkeypatch, figures, "write_derivative_panel")
  errors = _recording(monkeypatch, figures, "write_error_heatmap")
  summary = train.train_and_evaluate(config, str(tmp_path))
  assert summary["channels"] == 3  # grey background promoted to match the colour source
  assert summary["psnr_protocol"] == "psnr_outside_mask" and summary["psnr"] > 15
  assert Image.open(tmp_path / "blend.png").size[0] > 300
  assert json.load(open(tmp_path / "summary.json"))["psnr_outside_mask"] == summary["psnr"]
  # derivatives.png's top row is the field trained on: the composite (blended) gradient, computed here
  # from the two images, not the background's gradient.
  background = np.broadcast_to(data.load_image("camera", height=32, width=32).pixels, (32, 32, 3))
  source = data.load_image("astronaut", height=32, width=32).pixels
  mask = targets.ellipse_mask(32, 32)
  blended = np.sqrt(np.sum(targets.blended_gradient(
      data.to_signed(background), data.to_signed(source), mask) ** 2, axis=-1))
  ((args, kwargs),) = panels
  grad_ref = args[3]
  # Both sides are the same float32 values up to float32 rounding of the sum of squares and the root.
  np.testing.assert_allclose(grad_ref, blended, rtol=4 * np.finfo(np.float32).eps, atol=0)
  background_only = np.sqrt(np.sum(targets.image_gradient(data.to_signed(background)) ** 2, axis=-1))
  assert not np.allclose(grad_ref[mask], background_only[mask])
  assert "blended" in kwargs["top_titles"][1]
  # error.png says what it compares against, and outlines the mask where the blend is meant to differ.
  ((args, kwargs),) = errors
  assert "background" in kwargs["compared"] and np.array_equal(kwargs["mask"], mask)


def test_divergence_of_a_gradient_is_the_laplacian():
  """f = 3 y^2 + 5 x^2 (per unit coordinate) has Laplacian 16; central differences of central
  differences are exact for quadratics away from the edge-replicated border."""
  h, w = 12, 16
  centres = lambda n: (2.0 * np.arange(n) + 1.0) / n - 1.0  # float64: f is exactly quadratic
  y, x = np.meshgrid(centres(h), centres(w), indexing="ij")
  f = (3 * y ** 2 + 5 * x ** 2)[..., None]
  div = targets.divergence(targets.central_gradient(f))
  # The only rounding is the gradient's float32 storage: |g| <= 10, so <= 5 eps each; a scaled central
  # difference multiplies an error bound by n/2 <= 8, and two axes add: 2 * 8 * 5 eps = 80 eps.
  np.testing.assert_allclose(div[2:-2, 2:-2], 16.0, rtol=0, atol=80 * np.finfo(np.float32).eps)
  assert div.dtype == np.float32


def test_blended_gradient_modes():
  bg = np.zeros((8, 8, 1))
  src = np.tile(np.linspace(-1, 1, 8)[None, :, None], (8, 1, 1))
  mask = np.zeros((8, 8), bool)
  mask[2:6, 2:6] = True
  g = targets.blended_gradient(bg, src, mask, "replace")
  assert np.all(g[~mask] == 0) and np.all(g[mask][..., 1] > 0)
  g = targets.blended_gradient(src, bg, mask, "mixed")  # background stronger everywhere: kept
  np.testing.assert_array_equal(g, targets.image_gradient(src))


def test_blend_mask_specs():
  from siren_jax.signals.image import task as image_task
  centred = image_task._load_mask("ellipse", 40, 40, 10**6)  # pylint: disable=protected-access
  moved = image_task._load_mask("ellipse:-0.5,0.5,0.2,0.3", 40, 40, 10**6)  # pylint: disable=protected-access
  assert centred[20, 20] and not moved[20, 20] and moved[10, 30]
  assert 0.02 < moved.mean() < 0.08  # area pi*0.2*0.3/4 of the square = 0.047
  for bad in ("ellipse:1,2", "ellipse:0,0,-1,1"):
    with pytest.raises(UserError):
      image_task._load_mask(bad, 40, 40, 10**6)  # pylint: disable=protected-access
