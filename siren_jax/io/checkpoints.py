"""Resumable checkpoints with orbax: the train state plus the run's clocks, one directory per step.

Orbax writes each step to a temporary directory and renames it when complete, so a run killed mid-save
leaves the previous checkpoint intact and the torn one is ignored (and cleaned up) on the next start.
Saves are synchronous: a checkpoint reported as saved is on disk.

Orbax does not notice a checkpoint damaged after it was written (random bytes in a data file restore as
silently wrong parameters), so every save also writes ``DIGEST_NAME`` into its step directory: the
SHA-256 of every file orbax wrote, computed once orbax has finished. Restoring checks, newest step
first:

1. the digest (a missing or changed file makes the step damaged);
2. the saved array shapes against the model's (a mismatch is the config's fault, not the checkpoint's:
   a ``UserError`` naming the first differing array, with no fallback);
3. orbax's restore itself, and that the restored parameters are finite.

A damaged step is skipped with a warning and the next older one tried; if none is intact, a
``UserError`` says so and nothing is changed. When an older step is restored, a writer (a resuming run)
moves the damaged newer steps aside to ``corrupt-<step>`` beside them, kept rather than deleted, so that
orbax neither takes them for the latest step nor refuses to save those steps again; a reader (render,
possibly of a run still training) moves nothing.

A step becomes visible (orbax's rename) before its digest can exist, so a process killed between the
two leaves a finished step without a digest. Before its first save a Checkpointer writes
``MARKER_NAME`` into the checkpoint directory: in a directory that has it (or any digested step), a
step without a digest is not counted. It is skipped like a damaged step (a writer moves it aside to
``unverified-<step>``); when it is the only kind of step there, a writer starts the run over and a
reader says there is no verified checkpoint yet. Only in a directory written before digests existed
(neither marker nor digest) is a step restored unverified, with a warning, falling back like a damaged
one if it fails checks 2-3.
"""

import gc
import hashlib
import json
import logging as std_logging
import os
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from etils import epath

from siren_jax.errors import UserError
from siren_jax.io import outputs

def _quiet_orbax(record) -> bool:
  """orbax logs every save at INFO; a fit saves often, and those lines would bury its progress."""
  return "orbax" not in (record.pathname or "") or record.levelno >= std_logging.WARNING


def _install_log_filter() -> None:
  """Installed when the first Checkpointer is made, not at import (importing has no side effects);
  the same function object each time, so the logger keeps one copy."""
  logger = std_logging.getLogger("absl")
  if _quiet_orbax not in logger.filters:
    logger.addFilter(_quiet_orbax)

# Inside each step directory, beside orbax's own files: orbax lists steps by directory name and restores
# the items it is asked for, so an extra file there is invisible to it, and it is deleted with its step.
DIGEST_NAME = "siren_digest.json"
DIGEST_FORMAT = 1
QUARANTINE_PREFIX = "corrupt-"  # not a step name to orbax (it wants digits, or a name ending in _digits)
UNVERIFIED_PREFIX = "unverified-"  # a step moved aside for having no digest in a digested directory
# Beside the step directories: this directory's steps are digested (orbax lists directories only).
MARKER_NAME = "siren_digested.json"

Like = Union[Any, Callable[[Dict[str, Tuple[int, ...]]], Any]]


class DamagedCheckpoint(Exception):
  """A step that cannot be trusted (damaged or unreadable files); the caller falls back past it."""


class UnverifiedCheckpoint(DamagedCheckpoint):
  """A step without a digest in a directory whose steps are digested: its save was cut off between
  orbax's rename and the digest, so nothing vouches for its files."""


def _one_line(e: BaseException, limit: int = 200) -> str:
  """Orbax and TensorStore errors span many lines (a TensorStore spec follows "See full TensorStore
  details"); a fallback warning or UserError wants one."""
  text = " ".join(str(e).split(" See full TensorStore details")[0].split()) or type(e).__name__
  return text if len(text) <= limit else text[:limit - 3] + "..."


def _files(step_dir: str) -> List[str]:
  """Paths (relative, '/'-separated) of every file under ``step_dir`` except the digest, sorted."""
  out = []
  for root, _, names in os.walk(step_dir):
    for name in names:
      rel = os.path.relpath(os.path.join(root, name), step_dir).replace(os.sep, "/")
      if rel != DIGEST_NAME and not name.startswith("." + DIGEST_NAME):
        out.append(rel)
  return sorted(out)


def _sha256(path: str, sync: bool = False) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
    if sync:  # the digest must not describe data that is still only in the page cache
      os.fsync(f.fileno())
  return h.hexdigest()


def _fsync_dir(path: str) -> None:
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def write_digest(step_dir: str) -> None:
  """Hashes (and fsyncs) every file of a finished step, then writes the digest atomically: a temporary
  file, fsynced, renamed over the final name, and the directory fsynced."""
  files = {rel: {"sha256": _sha256(os.path.join(step_dir, rel), sync=True),
                 "size": os.path.getsize(os.path.join(step_dir, rel))} for rel in _files(step_dir)}
  for root, _, _ in os.walk(step_dir):
    _fsync_dir(root)
  tmp = os.path.join(step_dir, f".{DIGEST_NAME}.{os.getpid()}.tmp")
  with open(tmp, "w") as f:
    json.dump({"format": DIGEST_FORMAT, "files": files}, f, indent=1, sort_keys=True)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, os.path.join(step_dir, DIGEST_NAME))
  _fsync_dir(step_dir)


def verify_digest(step_dir: str) -> bool:
  """True if the step's files match its digest, False if it has none; raises DamagedCheckpoint if a
  file is missing or differs, or the digest itself is unreadable."""
  path = os.path.join(step_dir, DIGEST_NAME)
  if not os.path.exists(path):
    return False
  try:
    with open(path) as f:
      files = json.load(f)["files"]
    expected = {rel: (entry["sha256"], int(entry["size"])) for rel, entry in files.items()}
  except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
    raise DamagedCheckpoint(f"its digest {DIGEST_NAME} is unreadable ({_one_line(e)})") from None
  if not expected:
    raise DamagedCheckpoint(f"its digest {DIGEST_NAME} lists no files")
  for rel, (sha, size) in sorted(expected.items()):
    full = os.path.join(step_dir, rel)
    if not os.path.isfile(full):
      raise DamagedCheckpoint(f"{rel} is missing")
    if os.path.getsize(full) != size or _sha256(full) != sha:
      raise DamagedCheckpoint(f"{rel} differs from its digest")
  return True


def write_marker(directory: str) -> None:
  """Marks ``directory``'s steps as digested (once; atomically, fsynced before any step is saved)."""
  path = os.path.join(directory, MARKER_NAME)
  if os.path.exists(path):
    return
  tmp = os.path.join(directory, f".{MARKER_NAME}.{os.getpid()}.tmp")
  with open(tmp, "w") as f:
    json.dump({"format": DIGEST_FORMAT, "digest": DIGEST_NAME}, f)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
  _fsync_dir(directory)


def has_steps(directory: str) -> bool:
  """Whether ``directory`` holds any finished step directory (without creating anything)."""
  return os.path.isdir(directory) and any(
      name.isdigit() and os.path.isdir(os.path.join(directory, name)) for name in os.listdir(directory))


def _flat_shapes(tree) -> Dict[str, Tuple[int, ...]]:
  """'params.params.output.bias' -> shape, in the key layout orbax saves a pytree under (leaves may be
  arrays, orbax's array metadata or Python scalars)."""
  return {".".join(str(k) for k in key): tuple(int(d) for d in (v.shape if hasattr(v, "shape")
                                                                  else np.shape(v)))
          for key, v in ocp.tree.to_flat_dict(tree).items()}


def _check_shapes(saved: Dict[str, Tuple[int, ...]], like, step: int, directory: str) -> None:
  """A UserError naming the first array whose presence or shape differs between checkpoint and model."""
  wanted = _flat_shapes(ocp.tree.serialize_tree(like, keep_empty_nodes=True))
  where = f"checkpoint step {step} in {directory} does not fit the model built from the config"
  advice = "was config.json edited? restore it, or use a new --workdir"
  # The parameters first: their names are the ones a user recognises (the optimizer state mirrors them).
  for key in sorted(set(saved) | set(wanted), key=lambda key: (not key.startswith("params."), key)):
    if key not in wanted:
      raise UserError(f"{where}: {key} is in the checkpoint but not in the model ({advice})")
    if key not in saved:
      raise UserError(f"{where}: {key} is in the model but not in the checkpoint ({advice})")
    if saved[key] != wanted[key]:
      raise UserError(f"{where}: {key} has shape {saved[key]} in the checkpoint, {wanted[key]} in the "
                      f"model ({advice})")


def _collect_abandoned_reads() -> None:
  """A failed orbax restore abandons its other pending array reads, and Python reports each of those
  coroutines, when collected, as an 'Exception ignored in' traceback on stderr. The failure is already
  reported once, as a damaged step, so they are collected here with that report silenced."""
  hook = sys.unraisablehook
  sys.unraisablehook = lambda unraisable: None
  try:
    gc.collect()
  finally:
    sys.unraisablehook = hook


def _all_finite(tree) -> bool:
  return all(bool(np.all(np.isfinite(np.asarray(x)))) for x in jax.tree_util.tree_leaves(tree)
             if np.issubdtype(np.asarray(x).dtype, np.inexact))


class Checkpointer:
  """A thin wrapper around ``ocp.CheckpointManager`` for (train state, metadata dict) pairs, which
  digests what it saves and verifies what it restores (see the module docstring)."""

  def __init__(self, directory: str, max_to_keep: int, restore_only: bool = False):
    """``restore_only``: for readers of another process's run (rendering a run that is still training):
    neither creates the directory nor removes temporary step directories, which may be a save in
    progress, nor moves damaged steps aside."""
    _install_log_filter()
    self.directory = os.path.abspath(directory)  # orbax refuses relative paths
    self._restore_only = restore_only
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=not restore_only,
                                             enable_async_checkpointing=False,
                                             cleanup_tmp_directories=not restore_only),
        item_names=("state", "meta"))

  def step_dir(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def digested(self) -> bool:
    """Whether this directory's steps are digested: its marker, or any step with a digest."""
    return os.path.exists(os.path.join(self.directory, MARKER_NAME)) or any(
        os.path.exists(os.path.join(self.step_dir(s), DIGEST_NAME)) for s in self._manager.all_steps())

  def _verify(self, step: int, digested: bool) -> bool:
    """``verify_digest``, where a missing digest in a digested directory is UnverifiedCheckpoint."""
    if verify_digest(self.step_dir(step)):
      return True
    if digested and not _files(self.step_dir(step)):
      raise DamagedCheckpoint("its files are missing")
    if digested:
      raise UnverifiedCheckpoint(f"it has no {DIGEST_NAME} (its save was cut off before the digest "
                                 f"was written, or is still being written)")
    return False

  def likely_resume_step(self) -> Optional[int]:
    """The newest step whose files match its digest (or, in a directory written before digests, that
    has none), found without restoring: the step ``restore_latest`` will almost surely start from (a
    sweep groups its points by it)."""
    digested = self.digested()
    for step in sorted(self._manager.all_steps(), reverse=True):
      try:
        self._verify(step, digested)
      except DamagedCheckpoint:
        continue
      return step
    return None

  def save(self, step: int, state: Any, meta: dict) -> None:
    # An interrupt waits for the save: orbax writes from threads of its own, which an exiting process
    # would cut off mid-write (with a traceback from those threads) had the signal stopped the wait.
    with outputs.signals_deferred():
      write_marker(self.directory)  # before the step: a step cut off before its digest is not counted
      self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                       meta=ocp.args.JsonSave(meta)), force=True)
      self._manager.wait_until_finished()  # the digest must describe the finished, renamed step
      write_digest(self.step_dir(step))

  def saved_shapes(self, step: int) -> Dict[str, Tuple[int, ...]]:
    """The array shapes a step's state was saved with, from orbax's metadata (no array is read)."""
    handler = ocp.PyTreeCheckpointHandler()
    try:
      return _flat_shapes(handler.metadata(epath.Path(self.step_dir(step)) / "state").tree)
    finally:
      handler.close()

  def is_final(self, step: int, like) -> bool:
    """Whether ``step`` is on disk intact (its digest verified) with the shapes of ``like`` (e.g. a
    ``jax.eval_shape`` of the state): a finished run that needs nothing more. Reads no array."""
    try:
      if step not in self._manager.all_steps() or not verify_digest(self.step_dir(step)):
        return False
      _check_shapes(self.saved_shapes(step), like, step, self.directory)
      return True
    except (DamagedCheckpoint, UserError, OSError, ValueError):
      return False

  def restore_latest(self, like: Like) -> Optional[Tuple[Any, dict]]:
    """(state, meta) from the newest intact checkpoint, shaped like ``like``; None if there is none.

    ``like`` is a pytree, or a function of the step's saved shapes (``saved_shapes``) that builds one.
    Damaged steps are skipped with a warning; a writer (not ``restore_only``) then moves the damaged
    steps newer than the one restored aside to ``<directory>/corrupt-<step>`` (``unverified-<step>``
    for a step without its digest), so that orbax neither takes them for the latest step nor refuses
    to save those steps again. When every step lacks its digest (a run killed right after its first
    save), a writer moves them aside and returns None: the run starts over. Raises UserError if steps
    exist but none is intact (changing nothing) or if a step's shapes do not fit ``like``.
    """
    steps = sorted(self._manager.all_steps(), reverse=True)
    if not steps:
      return None
    digested, damaged = self.digested(), []
    for step in steps:
      try:
        state, meta = self._restore_checked(step, like, digested)
      except DamagedCheckpoint as e:
        logging.warning("checkpoint step %d in %s is %s (%s); trying the previous one", step,
                        self.directory, "unverified" if isinstance(e, UnverifiedCheckpoint)
                        else "damaged", e)
        damaged.append((step, e))
        continue
      if damaged:
        logging.warning("restored checkpoint step %d of %s, the newest intact one (not step %d)", step,
                        self.directory, damaged[0][0])
        if not self._restore_only:
          self._quarantine(damaged)
      return state, meta
    return self._none_intact(damaged)

  def _none_intact(self, damaged: List[Tuple[int, DamagedCheckpoint]]) -> None:
    """No step restored: a writer starts over when no step was ever verified (each was cut off before
    its digest); otherwise a UserError, changing nothing."""
    if all(isinstance(e, UnverifiedCheckpoint) for _, e in damaged):
      if not self._restore_only:
        logging.warning("no checkpoint in %s was finished with its digest; starting the run over",
                        self.directory)
        self._quarantine(damaged)
        return None
      raise UserError(f"no verified checkpoint in {self.directory} yet (steps "
                      f"{', '.join(str(s) for s, _ in damaged)} have no {DIGEST_NAME}: their saves were "
                      f"cut off, or are still being written); re-run the training command to resume it")
    raise UserError(f"no intact checkpoint in {self.directory} ("
                    + "; ".join(f"step {s}: {why}" for s, why in damaged)
                    + "); to start the run over, move that directory aside or use a new --workdir")

  def _restore_checked(self, step: int, like: Like, digested: bool) -> Tuple[Any, dict]:
    """One step through the checks of the module docstring; DamagedCheckpoint if it fails one."""
    verified = self._verify(step, digested)
    try:
      saved = self.saved_shapes(step)
    except Exception as e:  # pylint: disable=broad-except
      raise DamagedCheckpoint(f"cannot read its metadata: {_one_line(e)}") from None
    tree = like(saved) if callable(like) else like
    _check_shapes(saved, tree, step, self.directory)
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, tree)
    failure = None
    try:  # orbax and TensorStore raise many types (even a bare Exception) for unreadable files
      restored = self._manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
      state, meta = restored["state"], dict(restored["meta"])
    except Exception as e:  # pylint: disable=broad-except
      failure = _one_line(e)
    if failure is not None:
      _collect_abandoned_reads()
      raise DamagedCheckpoint(f"orbax cannot restore it: {failure}")
    if not _all_finite(getattr(state, "params", state)):
      raise DamagedCheckpoint("its parameters are not all finite (only finite ones are ever saved)")
    if not verified:
      logging.warning("checkpoint step %d in %s has no %s (written before checkpoints were digested): "
                      "restored without verification", step, self.directory, DIGEST_NAME)
    return state, meta

  def _quarantine(self, damaged: List[Tuple[int, DamagedCheckpoint]]) -> None:
    """Moves damaged step directories aside (kept, not deleted: they are the user's data) and makes the
    manager forget them."""
    for step, why in damaged:
      unverified = isinstance(why, UnverifiedCheckpoint)
      prefix = UNVERIFIED_PREFIX if unverified else QUARANTINE_PREFIX
      target = os.path.join(self.directory, f"{prefix}{step}")
      n = 1
      while os.path.exists(target):
        target = os.path.join(self.directory, f"{prefix}{step}.{n}")
        n += 1
      os.replace(self.step_dir(step), target)
      logging.warning("moved %s checkpoint step %d aside to %s", "unverified" if unverified else "damaged",
                      step, target)
    _fsync_dir(self.directory)
    self._manager.reload()

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()
