"""Where each step's samples come from (``train.sampling``).

* ``uniform``: random samples without replacement within an epoch (``step.epoch_permutation``).
* ``error``: samples drawn with replacement in proportion to how badly they are fitted, so steps spend
  their pixels where the error is. Every ``train.sampling_every`` steps the whole signal is evaluated
  and sample i gets probability ``p_i = (1 - m) / N + m * e_i / sum(e)`` (e_i: its squared error, mean
  over channels; m: ``train.sampling_mix``). The uniform share bounds each importance weight
  ``1 / (N p_i)`` by ``1 / (1 - m)``, and the weights make the batch loss ``sum(w_i err_i) / B`` an
  unbiased estimate of the mean loss over all samples, whatever the map's staleness.
  The map of step s is a function of the parameters at the last refresh step, so a run resumed from a
  checkpoint on a refresh step (``train.checkpoint_every`` a multiple of ``train.sampling_every``,
  which ``validate`` requires) draws exactly the batches it would have drawn.
"""

from typing import Dict

import jax
import jax.numpy as jnp
import numpy as np

SAMPLINGS = ("uniform", "error")


def validate(config, batch_size: int, has_sampler: bool, has_task_loss: bool) -> None:
  """One-line UserError for a ``train.sampling`` setting that cannot run on this config's task
  (``batch_size``: the effective one, 0 where the batch covers every sample)."""
  from siren_jax.errors import UserError  # pylint: disable=g-import-not-at-top
  from siren_jax.engine import supervision  # pylint: disable=g-import-not-at-top
  t = config.train
  mode = t.get("sampling", "uniform")
  if mode not in SAMPLINGS:
    raise UserError(f"train.sampling must be one of {SAMPLINGS}, got {mode!r}")
  if mode == "uniform":
    return
  if not 0.0 <= t.sampling_mix < 1.0:
    raise UserError(f"train.sampling_mix must be in [0, 1) (a uniform share keeps every sample "
                    f"reachable), got {t.sampling_mix}")
  if t.sampling_every < 1:
    raise UserError(f"train.sampling_every must be >= 1, got {t.sampling_every}")
  if t.checkpoint_every % t.sampling_every:
    raise UserError(f"train.sampling=error needs train.checkpoint_every ({t.checkpoint_every}) to be a "
                    f"multiple of train.sampling_every ({t.sampling_every}), so that a resumed run "
                    f"draws the batches it would have drawn")
  if has_sampler or has_task_loss or set(supervision.parse(t.supervision)) != {"values"}:
    raise UserError(f"train.sampling=error needs a task fitted to its values (image or audio with "
                    f"supervision=values), not task={config.task!r} with supervision={t.supervision!r}")
  if batch_size == 0:
    raise UserError(f"train.sampling=error needs minibatches: train.batch_size={t.batch_size} covers "
                    f"every sample, so there is nothing to choose")


def error_distribution(values: np.ndarray, targets: np.ndarray, mix: float) -> Dict[str, np.ndarray]:
  """``{"probs", "cdf"}`` (N,) float32 of the sampling distribution for predictions ``values`` against
  ``targets`` ((N, C) each). Probabilities are kept beside the CDF because differencing a float32 CDF
  near 1 would cost each weight several percent of its precision."""
  err = np.mean((np.asarray(values, np.float64) - np.asarray(targets, np.float64)) ** 2, axis=-1)
  n, total = err.shape[0], err.sum()
  share = err / total if total > 0 else np.full(n, 1.0 / n)
  probs = (1.0 - mix) / n + mix * share
  return {"probs": probs.astype(np.float32), "cdf": np.cumsum(probs).astype(np.float32)}


def draw(key: jax.Array, dist: Dict[str, jax.Array], batch_size: int):
  """(indices (B,), importance weights (B,)) of ``batch_size`` samples drawn with replacement from
  ``dist``; the weights ``1 / (N p_i)`` have expectation 1 under the draw."""
  cdf = dist["cdf"]
  u = jax.random.uniform(key, (batch_size,), jnp.float32) * cdf[-1]
  idx = jnp.minimum(jnp.searchsorted(cdf, u, side="right"), cdf.shape[0] - 1).astype(jnp.int32)
  return idx, 1.0 / (cdf.shape[0] * dist["probs"][idx])
