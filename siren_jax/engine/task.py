"""What a task is: the interface between what is fitted and the training loop (``siren_jax.engine.run``).

The loop knows nothing of pixels, channels or PSNR. A task gives it:
* ``arrays``: per-sample training arrays with a leading sample axis: ``coords`` (N, D), coordinates of
  any dimension D, and the targets of its loss terms (``values`` (N, C), ``gradient`` (N, C, D),
  ``laplacian`` (N, C));
* ``terms``: the loss terms' weights (``supervision``);
* ``out_features`` and ``grid_shape`` (the shape of the sample grid, for models that size an encoding
  from it);
* ``prediction(values)``: the network's flat output at ``coords`` as the task's own signal;
* ``headline(prediction)``: the headline metric (dB, higher is better) logged every ``log_every``
  steps, under the task's key in its signal's ``Headline`` ("psnr" for images, "snr" for audio), and named by
  ``headline_name``; ``summary_fields()`` for summary.json; ``describe()`` for the log;
* ``finish(workdir, prediction, rows, summary, render_derivatives)``: final metrics into the summary and
  the task's outputs into the run directory.

A task too large for per-sample float arrays gives a ``sampler`` (``step.Sampler``): its ``arrays`` are
then compact (a uint8 video), the step gathers each batch from them, and ``prediction`` receives, instead
of the values, a function from (N, D) coordinates to the network's values, so that the task evaluates
what it needs piece by piece.

``siren_jax.signals.image.task.ImageTask`` is the image task (values, gradients, Laplacians, Poisson blending),
``siren_jax.signals.audio.task.AudioTask`` the audio one (1-D time coordinates, one output per channel) and
``siren_jax.signals.video.task.VideoTask`` the video one (a sampler).

Optional (``Capabilities`` gives their defaults), for tasks that need them (``siren_jax.signals.sdf.task.SdfTask`` has both; the PDE tasks in
``siren_jax.signals.pde`` have both and a sampler whose points their loss draws):
* ``loss``: the task's own loss in place of the targets above (``step.make_train_step``'s
  ``task_loss``: per-step samples, ``sample(batch, key, step)``, and a summed loss);
* ``needs_network``: ``finish`` also gets ``network=(model, params, mesh, microbatch)`` to evaluate the
  network anywhere (meshes, renders).
"""

from typing import Any, Callable, Dict, Optional, Protocol, Sequence

import numpy as np


class Capabilities:
  """The optional capabilities' defaults (none): a task class inherits them and overrides those it has,
  so the engine reads each as a plain attribute."""
  sampler: Optional[Any] = None  # a step.Sampler: the step gathers each batch from compact arrays
  loss: Optional[Any] = None  # the task's own loss (step.make_train_step's task_loss)
  needs_network: bool = False  # finish() also gets network=(model, params, mesh, microbatch)


class Task(Protocol):
  name: str
  arrays: Dict[str, np.ndarray]
  terms: Dict[str, float]
  sampler: Optional[Any]
  loss: Optional[Any]
  needs_network: bool

  @property
  def out_features(self) -> int: ...

  @property
  def grid_shape(self) -> tuple: ...

  @property
  def headline_name(self) -> str: ...

  def describe(self) -> str: ...

  def prediction(self, values: np.ndarray) -> np.ndarray: ...

  def headline(self, prediction: np.ndarray) -> float: ...

  def summary_fields(self) -> Dict[str, Any]: ...

  def finish(self, workdir: str, prediction: np.ndarray, rows: Sequence[dict],
             summary: Dict[str, Any], render_derivatives: Callable) -> Dict[str, Any]: ...
