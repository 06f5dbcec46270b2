"""The optimiser and its learning-rate schedule, built in one place (as big_vision's ``optax.make``):
``make(train_config)`` returns ``(tx, schedule)``, where ``schedule`` is the shape that ``tx`` applies.

The schedule has peak 1: the step multiplies the update by each point's peak learning rate, a traced
input (``hyper.resolve``), so points with different rates share one compiled program, and the step
reports the rate it applied (``lr`` in its metrics), which is what metrics.jsonl logs.
"""

from typing import Optional, Tuple

import optax

from siren_jax.errors import UserError


def make_lr_schedule(t, peak: Optional[float] = None) -> optax.Schedule:
  """Learning rate against step: linear warm-up, then constant, cosine or exponential decay to
  ``final_lr_fraction * peak`` at ``num_steps`` (peak defaults to ``learning_rate``)."""
  lr = t.learning_rate if peak is None else peak
  warm, total = t.warmup_steps, max(t.num_steps, 1)
  decay_steps = max(total - warm, 1)
  if t.schedule == "constant":
    main = optax.constant_schedule(lr)
  elif t.schedule == "cosine":
    main = optax.cosine_decay_schedule(lr, decay_steps, alpha=t.final_lr_fraction)
  elif t.schedule == "exponential":
    main = optax.exponential_decay(lr, decay_steps, decay_rate=max(t.final_lr_fraction, 1e-12))
  else:
    raise UserError(f"unknown train.schedule {t.schedule!r}")
  if warm == 0:
    return main
  return optax.join_schedules([optax.linear_schedule(lr / warm, lr, warm), main], [warm])


def make(t) -> Tuple[optax.GradientTransformation, optax.Schedule]:
  """(Adam scaled by the schedule's shape, that shape). The step multiplies by the peak rate."""
  schedule = make_lr_schedule(t, peak=1.0)
  return optax.chain(optax.scale_by_adam(), optax.scale_by_schedule(schedule)), schedule
