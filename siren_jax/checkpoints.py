"""Resumable checkpoints with orbax: the train state plus the run's clocks, one directory per step.

Orbax writes each step to a temporary directory and renames it when complete, so a run killed mid-save
leaves the previous checkpoint intact and the torn one is ignored (and cleaned up) on the next start.
Saves are synchronous: a checkpoint reported as saved is on disk.
"""

import logging as std_logging
import os
from typing import Any, Optional, Tuple

import jax
import orbax.checkpoint as ocp

# orbax logs every save at INFO; a fit saves often, and those lines would bury the training progress.
std_logging.getLogger("absl").addFilter(
    lambda record: "orbax" not in (record.pathname or "") or record.levelno >= std_logging.WARNING)


class Checkpointer:
  """A thin wrapper around ``ocp.CheckpointManager`` for (train state, metadata dict) pairs."""

  def __init__(self, directory: str, max_to_keep: int, restore_only: bool = False):
    """``restore_only``: for readers of another process's run (rendering a run that is still training):
    neither creates the directory nor removes temporary step directories, which may be a save in
    progress."""
    self.directory = os.path.abspath(directory)  # orbax refuses relative paths
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=not restore_only,
                                             enable_async_checkpointing=False,
                                             cleanup_tmp_directories=not restore_only),
        item_names=("state", "meta"))

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def save(self, step: int, state: Any, meta: dict) -> None:
    self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                     meta=ocp.args.JsonSave(meta)), force=True)

  def restore_latest(self, like: Any) -> Optional[Tuple[Any, dict]]:
    """(state, meta) from the newest checkpoint, shaped like ``like``; None if there is none."""
    step = self._manager.latest_step()
    if step is None:
      return None
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, like)
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    return restored["state"], dict(restored["meta"])

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()
