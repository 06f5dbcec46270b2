"""One way to build a fit: ``setup(configs, task) -> Run`` (``loop.fit(run, workdirs)`` runs it).

``setup`` builds everything a fit needs once: the model, the task's data on the devices, the optimiser
and its schedule (``optim.make``), each point's hyperparameters (``hyper.resolve``) and initial state,
and the step (``step.make_train_step``). Several configs that differ only in ``hyper.VMAPPABLE_FIELDS``
are points trained together in one program. ``main``, ``sweep``, the experiments and the benchmarks
build their fits here; none builds a step, an optimiser or a renderer of its own.
"""

import dataclasses
import os
from typing import Any, Callable, Dict, List, Optional, Sequence

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from siren_jax import configuration
from siren_jax.engine import evaluate, hyper, optim, registry, sampling, sharding, step
from siren_jax.errors import UserError
from siren_jax.io import checkpoints, quantize
from siren_jax.nets import derivatives, kinds, models


@dataclasses.dataclass
class Run:
  """A fit ready to train: see ``setup``. Per-point lists are in the order of ``configs``."""
  configs: Sequence[Any]
  task: Any
  model: Any
  mesh: Mesh
  dataset: step.Dataset
  hypers: List[Dict[str, float]]
  keys: List[Any]  # (init key, data key) per point
  states: List[step.TrainState]
  schedule: Callable  # the learning-rate shape (peak 1) that the optimiser applies
  batch_size: int  # 0: every sample each step
  microbatch: int
  vmap_width: int
  train_step: Callable  # jitted; ``compile`` lowers it for the stacked states
  num_params: int
  sampling_every: int = 0  # train.sampling=error: steps between sampling-map refreshes; 0 = uniform

  @property
  def k(self) -> int:
    return len(self.configs)

  @property
  def base(self):
    return self.configs[0]

  @property
  def num_samples(self) -> int:
    return registry.num_samples(self.task)

  @property
  def steps_per_epoch(self) -> int:
    return self.num_samples // self.batch_size if self.batch_size else 1

  def place(self, per_point):
    """Per-point trees on the devices: point 0's own for one run, stacked for points together."""
    tree = per_point[0] if self.k == 1 else sharding.stack_points(per_point)
    return jax.device_put(tree, NamedSharding(self.mesh, P()))

  def permutations(self, epoch: int):
    if self.task.sampler is not None:  # each step draws its own batch from the data key
      return self.place([data_key for _, data_key in self.keys])
    if not self.batch_size:
      return self.place([jnp.zeros((1,), jnp.int32)] * self.k)
    return self.place([step.epoch_permutation(data_key, epoch, self.num_samples)
                       for _, data_key in self.keys])

  def point(self, state, i: int):
    return state if self.k == 1 else sharding.index_point(state, i)

  def device_hypers(self):
    return [{n: jnp.float32(v) for n, v in h.items()} for h in self.hypers]

  def values_renderer(self, chunk_size: Optional[int] = None) -> Callable:
    """``values(params, i, coords) -> (N, out)``: point i's network at ``coords``."""
    values = evaluate.make_renderer(lambda ph, x: hyper.bind(self.model, ph[1]).apply(ph[0], x),
                                    self.mesh, chunk_size or self.base.eval.chunk_size, self.microbatch)
    point_hypers = self.device_hypers()
    return lambda params, i, coords: values((params, point_hypers[i]), coords)

  def renderer(self, chunk_size: Optional[int] = None) -> Callable:
    """``render(params, i) -> prediction`` of point i over the task's coordinates."""
    values = self.values_renderer(chunk_size)
    if self.task.sampler is not None:  # the task evaluates what it needs, piece by piece
      return lambda params, i: self.task.prediction(lambda coords: values(params, i, coords))
    coords = self.task.arrays["coords"]
    return lambda params, i: self.task.prediction(values(params, i, coords))

  def error_maps(self, state, values: Callable):
    """train.sampling=error: each point's data key and sampling distribution from its parameters in
    ``state`` (``values`` is ``values_renderer()``), placed like ``permutations``."""
    coords, targets = self.task.arrays["coords"], self.task.arrays["values"]
    mix = self.base.train.sampling_mix
    return self.place([{"key": data_key,
                        **sampling.error_distribution(values(self.point(state, i).params, i, coords),
                                                      targets, mix)}
                       for i, (_, data_key) in enumerate(self.keys)])

  def derivatives(self, params, i: int):
    """Point i's (values, |gradient|, Laplacian) over the task's coordinates."""
    fn = evaluate.derivative_fn(hyper.bind(self.model, self.hypers[i]), self.task.out_features)
    render = evaluate.make_renderer(fn, self.mesh, min(self.base.eval.chunk_size, 16384),
                                    self.microbatch)
    return render(params, self.task.arrays["coords"])


def setup(configs: Sequence[Any], task=None, mesh: Optional[Mesh] = None) -> Run:
  """Builds a fit of ``configs`` (one, or points that differ only in ``hyper.VMAPPABLE_FIELDS``) on
  ``task`` (default: the task ``configs[0]`` describes, ``registry.prepare``). ``train.init_from`` starts
  the parameters from another run's final checkpoint; ``train.qat_bits`` makes the loss see them
  quantised (``quantize.fake_quantise``). Validation is the caller's (``train.preflight``)."""
  base, k = configs[0], len(configs)
  task = task if task is not None else registry.prepare(base)
  mesh = mesh if mesh is not None else sharding.make_mesh()
  t = base.train
  model = kinds.build_model(base.model, out_features=task.out_features, grid_shape=task.grid_shape)
  sampler = task.sampler
  batch_size = configuration.effective_batch_size(base, registry.num_samples(task))
  dataset = (step.put_compact(task.arrays, mesh) if sampler is not None
             else step.put_dataset(task.arrays, mesh, full_batch=batch_size == 0))
  hypers = [hyper.resolve(cfg) for cfg in configs]
  keys = [jax.random.split(jax.random.PRNGKey(cfg.seed)) for cfg in configs]
  tx, schedule = optim.make(t)
  states = [step.create_train_state(init_key, model, cfg, tx=tx,
                                    in_features=registry.in_features(task))
            for cfg, (init_key, _) in zip(configs, keys)]
  if t.get("init_from"):
    states = [start_from(t.init_from, st) for st in states]
  microbatch = sharding.resolve_microbatch(t.microbatch)
  vmap_width = step.resolve_vmap_width(int(t.get("vmap_width", -1)), k)
  grad_m, lap_m = derivatives.resolve_methods(model, task.out_features, t.gradient_method,
                                              t.laplacian_method)
  sampling_every = t.sampling_every if t.get("sampling", "uniform") == "error" else 0
  batching = step.Batching.of(batch_size, sampler, error=sampling_every > 0)
  train_step = step.make_train_step(model, task.terms, grad_m, lap_m, batching, microbatch, mesh,
                                    schedule, num_points=k if k > 1 else 0, vmap_width=vmap_width,
                                    params_transform=qat_transform(t.get("qat_bits", 0)),
                                    task_loss=task.loss)
  return Run(configs=list(configs), task=task, model=model, mesh=mesh, dataset=dataset,
             hypers=hypers, keys=keys, states=states, schedule=schedule, batch_size=batch_size,
             microbatch=microbatch, vmap_width=vmap_width, train_step=train_step,
             num_params=models.num_params(states[0].params), sampling_every=sampling_every)


def qat_transform(bits: int) -> Optional[Callable]:
  """The straight-through B-bit view of the parameters (``quantize.fake_quantise``), None for 0."""
  if not bits:
    return None
  codec = quantize.Codec("uniform", bits=int(bits))
  return lambda params: quantize.fake_quantise(params, codec)


def start_from(workdir: str, state: step.TrainState) -> step.TrainState:
  """``state`` with the parameters of ``workdir``'s newest intact checkpoint (its optimiser state
  and step are not taken: a fine-tune starts its own schedule)."""
  ckpt = checkpoints.Checkpointer(os.path.join(workdir, "checkpoints"), 1, restore_only=True)
  try:
    restored = ckpt.restore_latest(state)
  finally:
    ckpt.close()
  if restored is None:
    raise UserError(f"train.init_from={workdir!r} holds no checkpoint to start from")
  return state.replace(params=restored[0].params)
