"""One self-contained HTML page per run (or sweep): ``RUN/report.html``.

    python -m siren_jax.report --workdir=runs/camera

A run's PNGs, JSON and metrics are easiest to judge side by side, zoomed in, in one place. The page is a
single file with no network access at all (``siren_jax.io.page``), so it can be mailed, attached to an
issue or opened from an archive years later. What a run's page shows is its signal's (the ``report``
hook, e.g. ``siren_jax.signals.image.report``: original and reconstruction with synchronised zoom,
error and derivative figures, curves, compression table, summary and config); a signal without one
gets the generic page (curves, summary, config). A run still training has only its config and metrics
so far; the rest appears when it finishes.

A sweep directory (one holding ``results.csv``) gets the results as a sortable table, each point a link
to its own report, and a thumbnail of every point (``sweep_report``).

``write_report`` only reads files and formats text (no JAX), so a trainer can call it as often as it
logs. Optional files that are malformed become a warning on the page, never an exception; the page is
written atomically, so a reader never sees half of it.
"""

import os

from absl import flags

from siren_jax import cli, sweep_report
from siren_jax.engine import registry
from siren_jax.errors import UserError
from siren_jax.io import outputs, page as p, rundir

REPORT_NAME = p.REPORT_NAME


def write_report(workdir: str) -> str:
  """Writes ``workdir/report.html`` for a run or a sweep directory; returns its path."""
  if not os.path.isdir(workdir):
    if os.path.lexists(workdir):
      raise UserError(f"workdir {workdir} is not a directory")
    reason = rundir.not_a_directory(workdir)  # e.g. a path under a file
    raise UserError(f"workdir not found: {workdir}" + (f" ({reason})" if reason else ""))
  if os.path.exists(os.path.join(workdir, "results.csv")):
    html = sweep_report.sweep_page(workdir)
  elif any(os.path.exists(os.path.join(workdir, f)) for f in ("config.json", "summary.json")):
    html = run_page(workdir)
  else:
    raise UserError(f"{workdir} is neither a run (no config.json or summary.json) nor a sweep "
                    f"(no results.csv)")
  path = os.path.join(workdir, REPORT_NAME)
  try:
    with outputs.atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
      f.write(html)
  except OSError as e:  # a read-only or full file system, no permission: nothing was written
    raise UserError(f"cannot write {path}: {e.strerror or e}") from None
  return path


def _signal(config):
  """The run's signal; the default one where config.json is missing, malformed or names no signal
  this process knows (the page still shows what the directory holds)."""
  try:
    return registry.of(config if isinstance(config, dict) else {})
  except UserError:
    return registry.get(registry.DEFAULT)


def run_page(workdir: str) -> str:
  """The HTML of a run's report."""
  page = p.Page(workdir)
  config = page.json("config.json")
  summary = page.json("summary.json")
  summary = summary if isinstance(summary, dict) else None
  signal = _signal(config)
  hook = signal.hook("report")
  if hook is not None:
    return hook.run_page(page, config, summary)
  return generic_page(page, config, summary, signal.headline)


def generic_page(page: p.Page, config, summary, headline) -> str:
  """Curves, summary and config: the page of a signal that has no page of its own."""
  where = p.esc(os.path.abspath(page.workdir))
  state = (f"{summary.get('status', '?')} after {summary.get('steps', '?')} steps" if summary
           else p.progress_line(page, headline.key, lambda v: f"{headline.label} {p.fmt(v)}"))
  sections = [("curves", "Curves", p.curves_section(page, headline.key, headline.label, headline.unit,
                                                    log_y=headline.lower_is_better)),
              ("summary", "Summary", p.summary_section(page, summary, (
                  (headline.key, headline.label), ("steps", "steps"),
                  ("train_seconds", "training time (s)"), ("num_params", "parameters")))),
              ("config", "Config", p.config_section(config))]
  return p.assemble(f"siren_jax report: {signal_title(config)}", f"{p.esc(state)} &middot; {where}",
                    sections, page.warnings)


def signal_title(config) -> str:
  return str((config or {}).get("task", registry.DEFAULT)) if isinstance(config, dict) else "run"


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  print(write_report(flags.FLAGS.workdir))


if __name__ == "__main__":
  # Flags are defined here, not at import: the trainer imports this module next to its own --workdir.
  flags.DEFINE_string("workdir", None, "A run directory (or a sweep directory with results.csv).")
  cli.run(main, required=("workdir",))
