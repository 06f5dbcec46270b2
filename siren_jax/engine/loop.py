"""Running a fit (``fit(run, workdirs)``, ``run`` from ``siren_jax.engine.run.setup``): it restores
checkpoints, drives the step, logs metrics rows (``metrics.jsonl``) and progress, saves checkpoints,
stops diverged points, and at the end lets the task write its outputs and summary.json."""

import dataclasses
import math
import os
import signal
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from siren_jax.engine import hyper, registry
from siren_jax.engine.run import Run
from siren_jax.errors import Interrupted, UserError, signal_number
from siren_jax.io import checkpoints, outputs, progress


def compile_step(run: Run, state, hypers, perm):
  """The step lowered and compiled for these (stacked) arguments, and the seconds that took."""
  t0 = time.perf_counter()
  compiled = run.train_step.lower(state, hypers, run.dataset.arrays, perm).compile()
  return compiled, time.perf_counter() - t0


@dataclasses.dataclass
class _Loop:
  """What ``fit`` tracks between steps."""
  run: Run
  workdirs: Sequence[str]
  ckpts: List[checkpoints.Checkpointer]
  rows: List[List[dict]]
  render: Callable
  step: int = 0
  train_seconds: float = 0.0  # the program's measured training time (all its points together)
  # Each point's share of it: the points of one program do identical work (same shapes and batch),
  # so each live point is charged 1/k of every measured interval (``add_training``).
  shares: List[float] = dataclasses.field(default_factory=list)
  wall_start: float = 0.0
  diverged: List[Optional[int]] = dataclasses.field(default_factory=list)
  messages: List[str] = dataclasses.field(default_factory=list)
  error_values: Optional[Callable] = None  # train.sampling=error: ``Run.values_renderer()``
  order_step: int = -1  # the step whose parameters drew the current sampling maps

  def wall(self) -> float:
    return time.perf_counter() - self.wall_start

  def add_training(self, seconds: float) -> None:
    """A measured interval of the program's training: the clock, and each live point's share."""
    self.train_seconds += seconds
    for i in self.live():
      self.shares[i] += seconds / self.run.k

  def save(self, i: int, state) -> None:
    self.ckpts[i].save(self.step, state, {"train_seconds": self.shares[i],
                                          "group_train_seconds": self.train_seconds,
                                          "elapsed_s": self.wall()})

  def log_row(self, i: int, step_metrics: Dict[str, float], pred) -> dict:
    # The step-0 row has no training loss (no step has run): its key is left out, not faked.
    lr = step_metrics.get("lr", self.run.hypers[i]["lr"] * float(self.run.schedule(0)))
    row = {"step": self.step, **({"loss": step_metrics["loss"]} if "loss" in step_metrics else {}),
           registry.headline(self.run.base)[0]: self.run.task.headline(pred), "lr": lr,
           "train_seconds": round(self.shares[i], 4), "elapsed_s": round(self.wall(), 4)}
    row.update({n: v for n, v in step_metrics.items() if n not in ("loss", "lr")})
    outputs.append_jsonl(os.path.join(self.workdirs[i], "metrics.jsonl"), row)
    self.rows[i].append(row)
    return row

  def stop(self, i: int, what: str) -> None:
    """Marks point i diverged: the other points train on; a single run ends after the loop."""
    latest = self.ckpts[i].latest_step()
    kept = ("no checkpoint had been saved" if latest is None else
            f"its checkpoints are kept (the latest, step {latest}, was saved with finite parameters)")
    self.diverged[i], self.messages[i] = self.step, f"{what}; {kept}"
    if self.run.k > 1:
      progress.warn(f"{self.workdirs[i]}: {self.messages[i]}")

  def live(self) -> List[int]:
    return [i for i in range(self.run.k) if self.diverged[i] is None]


def _restore(run: Run, workdirs: Sequence[str]) -> _Loop:
  """Each point's newest intact checkpoint (``checkpoints``) and its metrics rows up to it."""
  ckpts = [checkpoints.Checkpointer(os.path.join(wd, "checkpoints"), run.base.train.max_checkpoints)
           for wd in workdirs]
  loop = _Loop(run=run, workdirs=workdirs, ckpts=ckpts, rows=[[] for _ in workdirs], render=None,
               diverged=[None] * run.k, messages=[""] * run.k, shares=[0.0] * run.k)
  elapsed_offset = 0.0
  for i, wd in enumerate(workdirs):
    metrics_path = os.path.join(wd, "metrics.jsonl")
    restored = ckpts[i].restore_latest(run.states[i])
    if restored is not None:
      run.states[i], meta = restored
      # Checkpoints from before shares were kept hold the group's time only: split it evenly.
      group = meta.get("group_train_seconds", meta["train_seconds"])
      loop.shares[i] = meta["train_seconds"] if "group_train_seconds" in meta else group / run.k
      loop.train_seconds, elapsed_offset = group, meta["elapsed_s"]
      loop.rows[i] = [r for r in outputs.read_jsonl(metrics_path)
                      if r.get("step", 0) <= int(run.states[i].step)]
      progress.info(f"Resuming {wd} from step {int(run.states[i].step)}")
    outputs.write_jsonl(metrics_path, loop.rows[i])
  start_steps = {int(st.step) for st in run.states}
  if len(start_steps) != 1:  # a point fell back past a damaged checkpoint: a re-run regroups them
    raise UserError(f"points resume from different steps {sorted(start_steps)}; re-run to train them "
                    f"apart")
  loop.step = start_steps.pop()
  loop.wall_start = time.perf_counter() - elapsed_offset
  return loop


def fit(run: Run, workdirs: Sequence[str], on_outputs: Callable[[str], None] = lambda wd: None,
        before_training: Callable[[], None] = lambda: None) -> List[Dict[str, Any]]:
  """Trains ``run`` to ``num_steps``, each point in its workdir (resuming from its checkpoints), and
  returns the points' summaries. ``before_training`` runs once checkpoints are restored (the caller
  writes config.json then); ``on_outputs(workdir)`` runs whenever a point's outputs change (the
  report refresh). A single diverged run raises UserError after writing its summary."""
  loop = _restore(run, workdirs)
  before_training()
  state, hypers = run.place(run.states), run.place(run.device_hypers())
  epoch = loop.step // run.steps_per_epoch
  if run.sampling_every:  # the maps of a resumed run come from the checkpoint's parameters, as before
    loop.error_values, loop.order_step = run.values_renderer(), loop.step
    perm = run.error_maps(state, loop.error_values)
  else:
    perm = run.permutations(epoch)
  compiled, compile_seconds = compile_step(run, state, hypers, perm)
  loop.render = run.renderer()
  if loop.step == 0:
    for i in range(run.k):
      loop.log_row(i, {}, loop.render(run.point(state, i).params, i))
  state = _train(loop, compiled, state, hypers, perm, epoch, on_outputs)
  return _finish(loop, state, compile_seconds, on_outputs)


def _train(loop: _Loop, compiled, state, hypers, perm, epoch: int, on_outputs: Callable):
  """The loop over steps; returns the final (stacked) state."""
  run, t = loop.run, loop.run.base.train
  key, label = registry.headline(run.base)
  report = progress.Progress(t.num_steps, [os.path.basename(os.path.normpath(w)) for w in loop.workdirs],
                             loop.step, loop.train_seconds, metric=label,
                             error=registry.lower_is_better(run.base))
  last_report = interval_start = time.perf_counter()
  try:
    while loop.step < t.num_steps:
      perm, epoch = _batch_order(loop, state, perm, epoch)
      state, step_metrics = compiled(state, hypers, run.dataset.arrays, perm)
      loop.step += 1
      log_now = loop.step % t.log_every == 0 or loop.step == t.num_steps
      ckpt_now = loop.step % t.checkpoint_every == 0 or loop.step == t.num_steps
      if not (log_now or ckpt_now):
        if report.due(loop.train_seconds + time.perf_counter() - interval_start):
          loss = float(np.reshape(jax.device_get(step_metrics["loss"]), -1)[0])  # waits: honest rate
          report.between(loop.step, loop.train_seconds + time.perf_counter() - interval_start, loss)
        continue
      host = jax.device_get(step_metrics)  # waits for the step: the timing below is honest
      loop.add_training(time.perf_counter() - interval_start)
      per_point = [{n: float(np.reshape(v, -1)[i]) for n, v in host.items()} for i in range(run.k)]
      for i in loop.live():
        if not math.isfinite(per_point[i]["loss"]):
          loop.stop(i, f"loss became {per_point[i]['loss']} at step {loop.step} (learning rate "
                       f"{per_point[i]['lr']:.3g} too high?)")
      if not loop.live():
        break
      if log_now:
        psnrs = {i: loop.log_row(i, per_point[i], loop.render(run.point(state, i).params, i))[key]
                 for i in loop.live()}
        report.row(loop.step, loop.train_seconds, per_point[0]["loss"], psnrs, per_point[0]["lr"])
        if time.perf_counter() - last_report > progress.REPORT_EVERY_SECONDS:
          for i in loop.live():
            on_outputs(loop.workdirs[i])
          last_report = time.perf_counter()
      if ckpt_now:
        _checkpoint(loop, state)
        if not loop.live():
          break
      interval_start = time.perf_counter()
  except KeyboardInterrupt as e:  # SIGINT, or SIGTERM (errors.Terminated)
    _interrupted(loop, e)
  return state


def _batch_order(loop: _Loop, state, perm, epoch: int):
  """(perm, epoch) for the next step: a new epoch's permutations, or under train.sampling=error the
  sampling maps, refreshed from the parameters every ``sampling_every`` steps (inside the training
  time: the refresh is part of what the sampling costs)."""
  run = loop.run
  if run.sampling_every:
    if loop.step % run.sampling_every == 0 and loop.step != loop.order_step:
      loop.order_step = loop.step
      return run.error_maps(state, loop.error_values), epoch
    return perm, epoch
  if run.batch_size and loop.step // run.steps_per_epoch != epoch:
    epoch = loop.step // run.steps_per_epoch
    return run.permutations(epoch), epoch
  return perm, epoch


def _checkpoint(loop: _Loop, state) -> None:
  for i in loop.live():
    point = loop.run.point(state, i)
    if not _all_finite(point.params):
      loop.stop(i, f"parameters became non-finite at step {loop.step}")
      continue
    loop.save(i, point)


def _interrupted(loop: _Loop, e: KeyboardInterrupt) -> None:
  for ck in loop.ckpts:
    ck.wait()
  signum, latest = signal_number(e), loop.ckpts[0].latest_step()
  kept = ("no checkpoint had been saved" if latest is None
          else f"the checkpoints at step {latest} are kept")
  raise Interrupted(f"{'interrupted' if signum == signal.SIGINT else 'terminated (SIGTERM)'} at step "
                    f"{loop.step}; {kept}, re-run the same command to resume", signum) from None


def _finish(loop: _Loop, state, compile_seconds: float, on_outputs: Callable) -> List[Dict[str, Any]]:
  """The final checkpoint (always, num_steps=0 too, so it can be rendered), outputs and summaries."""
  run = loop.run
  key = registry.headline(run.base)[0]
  for ck in loop.ckpts:
    ck.wait()
  for i in loop.live():
    if loop.ckpts[i].latest_step() != loop.step:
      loop.save(i, run.point(state, i))
  common = dict(run.task.summary_fields(), model=run.base.model.kind,
                compile_seconds=round(compile_seconds, 3),
                num_params=run.num_params, devices=run.mesh.size,
                platform=jax.devices()[0].platform, device_kind=jax.devices()[0].device_kind,
                trained_together=run.k, vmap_width=run.vmap_width)
  if run.k > 1:  # each point's train_seconds is its share; the program's own time is this
    common["group_train_seconds"] = round(loop.train_seconds, 3)
  summaries = []
  for i, workdir in enumerate(loop.workdirs):
    common["train_seconds"] = round(loop.shares[i], 3)
    if loop.diverged[i] is not None:
      summary = dict(common, status="diverged", steps=loop.diverged[i], **{key: float("nan")},
                     message=loop.messages[i])
    else:
      params = run.point(state, i).params
      network = ({"network": (hyper.bind(run.model, run.hypers[i]), params, run.mesh, run.microbatch)}
                 if run.task.needs_network else {})  # tasks that evaluate anywhere
      summary = run.task.finish(workdir, loop.render(params, i), loop.rows[i],
                                dict(common, status="done", steps=int(run.point(state, i).step)),
                                lambda: run.derivatives(params, i), **network)
      summary["elapsed_s"] = round(loop.wall(), 3)
      # A fine-tune starts trained: ending near its start is what it may well do; an error headline
      # (lower is better, not in dB) has no such check.
      warning = (None if run.base.train.get("init_from") or registry.lower_is_better(run.base)
                 else no_progress_warning(loop.rows[i], summary, key))
      if warning:
        summary["warning"] = warning
        progress.warn(f"{workdir}: {warning}")
    outputs.write_json(os.path.join(workdir, "summary.json"), summary)
    on_outputs(workdir)  # a diverged point's curves show where it diverged
    if loop.diverged[i] is None:
      progress.info(_done_line(run, workdir, summary, key))
    summaries.append(summary)
  if run.k == 1 and loop.diverged[0] is not None:  # its summary.json says so too, for the report
    raise UserError(loop.messages[0])
  return summaries


def _done_line(run: Run, workdir: str, summary: Dict[str, Any], key: str) -> str:
  """The last line of a finished point: its headline, its training seconds (a share, for points
  trained together) and the page to open."""
  share = (f" (its 1/{run.k} share of the {summary['group_train_seconds']:.1f} s of the {run.k} points "
           f"trained together)" if run.k > 1 else "")
  return (f"Done: {run.task.name} {registry.format_headline(run.base, summary[key])} "
          f"({summary.get('psnr_protocol', key)}) after {summary['steps']} steps, "
          f"{summary['train_seconds']:.1f} s of training{share}; open "
          f"{os.path.join(workdir, 'report.html')}")


def _all_finite(tree) -> bool:
  return all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree_util.tree_leaves(tree))


NO_PROGRESS_DB = 1.0  # a fit that ends less than this above its step-0 headline has learned nothing


def no_progress_warning(rows: Sequence[dict], summary: Dict[str, Any],
                        key: str = "psnr") -> Optional[str]:
  """A warning when a run that took steps ends near (or below) its initial quality (headline ``key``,
  in dB): too high a learning rate can bounce around without ever producing a non-finite loss, and
  would end "done"."""
  first = rows[0] if rows and rows[0].get("step") == 0 else {}
  try:
    initial, final = float(first.get(key, "nan")), float(summary[key])
  except (TypeError, ValueError):
    return None
  if summary.get("steps", 0) <= 0 or not (math.isfinite(initial) and math.isfinite(final)):
    return None
  if final >= initial + NO_PROGRESS_DB:
    return None
  return (f"the run ended at {final:.2f} dB after {summary['steps']} steps, less than "
          f"{NO_PROGRESS_DB:g} dB above its {initial:.2f} dB at step 0: it has not learned (learning "
          f"rate too high or too low?)")
