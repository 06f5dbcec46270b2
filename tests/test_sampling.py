"""train.sampling=error: the distribution, the importance-weighted draw, training and resuming with it,
and the settings it refuses."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax.engine import sampling, train
from siren_jax.errors import UserError
from siren_jax.io import outputs
from conftest import crash_after_save_then_resume, final_state, loss_distance, tiny_config

N_DRAWS = 200_000


def test_distribution_mixes_uniform_and_error_shares():
  targets = np.zeros((4, 3), np.float32)
  values = np.sqrt(np.array([[0.0], [1.0], [2.0], [5.0]], np.float32)) * np.ones((1, 3), np.float32)
  dist = sampling.error_distribution(values, targets, mix=0.5)
  expected = 0.5 / 4 + 0.5 * np.array([0.0, 1.0, 2.0, 5.0]) / 8.0
  eps = np.finfo(np.float32).eps
  np.testing.assert_allclose(dist["probs"], expected, rtol=4 * eps)
  np.testing.assert_allclose(dist["cdf"], np.cumsum(expected), rtol=4 * 4 * eps)
  flat = sampling.error_distribution(targets, targets, mix=0.5)  # no error at all: uniform
  np.testing.assert_allclose(flat["probs"], 0.25, rtol=eps)


def test_draw_follows_the_distribution_and_weights_it_back_to_uniform():
  probs = np.array([0.05, 0.15, 0.3, 0.5], np.float32)
  dist = {"probs": jnp.asarray(probs), "cdf": jnp.asarray(np.cumsum(probs))}
  idx, w = sampling.draw(jax.random.PRNGKey(0), dist, N_DRAWS)
  idx, w = np.asarray(idx), np.asarray(w)
  assert idx.min() >= 0 and idx.max() <= 3
  freq = np.bincount(idx, minlength=4) / N_DRAWS
  sigma = np.sqrt(probs * (1 - probs) / N_DRAWS)  # binomial standard deviation of each frequency
  assert np.all(np.abs(freq - probs) < 6 * sigma), (freq, probs)
  np.testing.assert_allclose(w, 1.0 / (4 * probs[idx]), rtol=np.finfo(np.float32).eps * 2)
  # The weighted mean of any per-sample loss estimates its plain mean over the samples: unbiased.
  err = np.array([3.0, 1.0, 0.5, 0.1])
  estimate = np.mean(w * err[idx])
  spread = np.std(w * err[idx]) / np.sqrt(N_DRAWS)
  assert abs(estimate - err.mean()) < 6 * spread


@pytest.mark.usefixtures("quick_figures")
def test_error_sampling_trains_and_resumes_to_identical_parameters(tmp_path, image_path, monkeypatch):
  config = tiny_config(image_path, train__sampling="error", train__sampling_every=10,
                       train__batch_size=256, train__num_steps=60, train__checkpoint_every=30)
  summary = train.train_and_evaluate(config, str(tmp_path / "straight"))
  rows = outputs.read_jsonl(str(tmp_path / "straight" / "metrics.jsonl"))
  assert summary["status"] == "done" and summary["psnr"] > rows[0]["psnr"] + 5.0
  crash_after_save_then_resume(monkeypatch, config, str(tmp_path / "resumed"), 30)
  a, b = (final_state(str(tmp_path / d), config)[1] for d in ("straight", "resumed"))
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  # The error maps change the batches: the same seed with uniform batches ends elsewhere.
  uniform = tiny_config(image_path, train__batch_size=256, train__num_steps=60, train__checkpoint_every=30)
  train.train_and_evaluate(uniform, str(tmp_path / "uniform"))
  c = final_state(str(tmp_path / "uniform"), uniform)[1]
  assert not all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in
                 zip(jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(c.params)))


@pytest.mark.parametrize("overrides, message", [
    ({"train__sampling": "smart"}, "train.sampling must be one of"),
    ({"train__sampling_mix": 1.0}, "train.sampling_mix must be in [0, 1)"),
    ({"train__sampling_every": 0}, "train.sampling_every must be >= 1"),
    ({"train__sampling_every": 7}, "to be a multiple of train.sampling_every"),
    ({"train__supervision": "gradient"}, "needs a task fitted to its values"),
    ({"train__batch_size": 0}, "needs minibatches"),
])
def test_bad_sampling_settings_are_refused_before_anything_is_written(tmp_path, image_path, overrides,
                                                                      message):
  config = tiny_config(image_path, **{"train__sampling": "error", "train__sampling_every": 10,
                                      "train__batch_size": 256, **overrides})
  with pytest.raises(UserError, match=message.replace("[", r"\[").replace(")", r"\)")):
    train.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


@pytest.mark.usefixtures("quick_figures")
def test_points_of_a_sweep_draw_their_own_error_maps(tmp_path, image_path):
  from siren_jax import sweep  # pylint: disable=g-import-not-at-top
  base = tiny_config(image_path, train__sampling="error", train__sampling_every=10, train__batch_size=256,
                     train__num_steps=60, train__checkpoint_every=30, train__vmap_width=0)
  results = sweep.run_sweep(base, str(tmp_path / "sweep"), ["train.learning_rate=1e-3,3e-3"])
  assert [r["status"] for r in results] == ["done", "done"]
  rows = [outputs.read_jsonl(str(tmp_path / "sweep" / r["point"] / "metrics.jsonl")) for r in results]
  alone = base.copy_and_resolve_references()
  alone.train.learning_rate, alone.train.vmap_width = 3e-3, -1
  train.train_and_evaluate(alone, str(tmp_path / "alone"))
  single = outputs.read_jsonl(str(tmp_path / "alone" / "metrics.jsonl"))
  # Vmapping changes summation order, which training amplifies beyond any rounding bound: the point
  # must stay far closer to its own run alone than the other point is.
  assert loss_distance(rows[1], single) < 0.1 * loss_distance(rows[0], single)
