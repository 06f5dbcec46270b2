"""Command-line plumbing shared by every entry point: flag parsing and error reporting that end bad
input in one ``error: ...`` line and a non-zero exit, and compact progress logging.

Exit statuses, the same at start-up and during training:
  0    success.
  2    bad input or an impossible request (``UserError``): one ``error: ...`` line on stderr. A full disk
       is one too (``disk full: ...``): what was written before it is intact and a re-run resumes.
  130  stopped by SIGINT (Ctrl-C), 143 stopped by SIGTERM (what schedulers send): 128 + the signal
       number, as a shell reports a process the signal killed. SIGTERM stops a run as cleanly as Ctrl-C
       does (it waits for its checkpoints, prints one ``error: ... re-run the same command to resume``
       line).
  other  a bug: Python's traceback (and status 1).
"""

import ast
import logging as std_logging
import os
import re
import signal
import sys
from typing import Callable, Sequence

from absl import app, flags, logging

from siren_jax import paths
from siren_jax.errors import signal_number, Terminated, UserError
from siren_jax.io import rundir

EXIT_USAGE = 2


def _fail(message: str, code: int = EXIT_USAGE) -> None:
  first = " ".join(str(message).strip().splitlines()[:1]) if message else "unknown error"
  print(f"error: {first}", file=sys.stderr)
  # Work that libraries abandoned on the way out (orbax's coroutines after a failed save) is reported
  # at shutdown as "Exception ignored ..." tracebacks that would bury the one line above.
  sys.unraisablehook = lambda unraisable: None
  sys.exit(code)


def _interrupted(e: KeyboardInterrupt) -> None:
  signum = signal_number(e)
  _fail("interrupted" if signum == signal.SIGINT else "terminated (SIGTERM)", 128 + signum)


def _raise_terminated(signum, frame):
  del signum, frame
  raise Terminated()


CONFIG_FLAGS = ("config",)  # the config-file flags of our programs


def config_paths(argv: Sequence[str]):
  """The config files named on a command line (``--config=PATH`` or ``--config PATH``; ``PATH:ARG``
  passes ARG to get_config, as ml_collections allows)."""
  paths = []
  for i, arg in enumerate(argv[1:], start=1):
    for name in CONFIG_FLAGS:
      if arg.startswith(f"--{name}="):
        paths.append(arg.split("=", 1)[1].split(":", 1)[0])
      elif arg == f"--{name}" and i + 1 < len(argv):
        paths.append(argv[i + 1].split(":", 1)[0])
  return paths


def _unknown_field(e: Exception) -> str:
  """ml_collections' KeyError for a misspelled override, which reaches us quoted and escaped
  ("'\\'omega\\'\\nDid you mean ..."), as one plain line."""
  text = str(e.args[0] if e.args else e).replace("\\n", "\n").replace("\\'", "'")
  field = re.search(r"[\w.]+", text)
  hint = re.search(r'Did you mean "([\w.]+)"', text)
  return (f"unknown config field {field.group(0) if field else text!r} in a --config.* override"
          + (f" (did you mean {hint.group(1)!r}?)" if hint else "")
          + "; the config file lists its fields (configs/_base.py the engine's)")


HELP_FLAGS = ("--help", "-help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml")
COMMANDS = (("siren_jax.main", "fit one signal (or a set of images): --config, --workdir"),
            ("siren_jax.sweep", "the Cartesian product of config fields: --sweep=FIELD=V1,V2,..."),
            ("siren_jax.render", "sample a fitted run at any resolution: --workdir, --out"),
            ("siren_jax.report", "rebuild a run's or sweep's report.html: --workdir"))


def _first_doc_line(path: str) -> str:
  """A module's docstring's first line, read without running it (a config could be anything)."""
  try:
    with open(path, encoding="utf-8") as f:
      doc = ast.get_docstring(ast.parse(f.read())) or ""
  except (OSError, SyntaxError, ValueError):
    return ""
  return doc.strip().splitlines()[0] if doc.strip() else ""


def _listing(directory: str, prefix: str, need_main: bool) -> list:
  lines = []
  for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else ():
    path = os.path.join(directory, name)
    if not name.endswith(".py") or name.startswith("_"):
      continue
    if need_main:
      with open(path, encoding="utf-8") as f:
        if "\ndef main(" not in f.read():
          continue
    label, text = f"{prefix}{name[:-3] if need_main else name}", _first_doc_line(path)
    text = text if len(text) <= 70 else text[:69].rstrip(" ,;:(") + "…"
    lines.append(f"  {label:<42} {text}")
  return lines


def help_epilogue() -> str:
  """What --help adds to absl's flag list: the other commands, the configs and the experiments of
  the checkout (found beside the package, or in the working directory)."""
  root = paths.CHECKOUT
  if not os.path.isdir(os.path.join(root, "configs")):
    root = os.getcwd()
  lines = ["", "commands (python -m NAME --help for each one's flags):"]
  lines += [f"  {'python -m ' + name:<42} {text}" for name, text in COMMANDS]
  configs = _listing(os.path.join(root, "configs"), "configs/", need_main=False)
  if configs:
    lines += ["", f"configs (--config=PATH; in {os.path.join(root, 'configs')}):"] + configs
  experiments = _listing(os.path.join(root, "experiments"), "python -m experiments.", need_main=True)
  if experiments:
    lines += ["", "experiments (from a checkout):"] + experiments
  return "\n".join(lines)


def parse_flags(argv: Sequence[str]):
  """absl's parser, but a bad flag, config file or override (unknown key, wrong type) is one line
  instead of a usage dump or a traceback. Config files are checked first: ml_collections defers a
  load failure to the first access, which then reports it in words that do not name the file."""
  from siren_jax import configuration  # pylint: disable=g-import-not-at-top
  try:
    for path in config_paths(argv):
      configuration.load_config(path)
  except UserError as e:
    _fail(str(e))
  try:
    return flags.FLAGS(argv)
  except SystemExit:  # absl's --help prints the usage, then exits 1: asking for help is not an error
    if not any(arg in HELP_FLAGS for arg in argv[1:]):
      raise
    print(help_epilogue())
    sys.exit(0)
  except flags.Error as e:
    _fail(str(e))
  except (KeyError, AttributeError) as e:
    _fail(_unknown_field(e))
  except (OSError, ValueError, TypeError) as e:
    _fail(f"{type(e).__name__}: {e}")


def _terminated_late(signum, frame):
  """SIGTERM once the work is over (the interpreter is shutting down): an exception raised now would
  only be printed as an ignored traceback, with exit status 0. Exit as terminated, in one line."""
  del frame
  sys.stderr.write("error: terminated (SIGTERM) while exiting\n")
  sys.stderr.flush()
  os._exit(128 + signum)  # pylint: disable=protected-access


def _until_exit(wrapped: Callable, argv):
  try:
    return wrapped(argv)
  finally:
    signal.signal(signal.SIGTERM, _terminated_late)


def run(main: Callable, required: Sequence[str] = ()) -> None:
  """``app.run(main)`` with one-line errors for UserError and missing required flags, and SIGTERM
  raised as ``Terminated`` (a KeyboardInterrupt); exit statuses as in the module docstring."""

  def wrapped(argv):
    missing = []
    for name in required:
      try:
        value = getattr(flags.FLAGS, name)  # config files load lazily: load them here, guarded
        if hasattr(value, "keys"):  # a config that failed to load raises on first attribute access
          value.keys()
      except (flags.Error, OSError, SyntaxError, ImportError, KeyError, ValueError, TypeError,
              AttributeError) as e:
        path = getattr(flags.FLAGS[name], "config_filename", None)
        if path and not os.path.exists(path.split(":")[0]):
          _fail(f"--{name}: config file not found: {path}")
        _fail(f"--{name}: {e}")
      if value is None:
        missing.append(f"--{name}")
    if missing:
      _fail(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required "
            f"(--help lists the flags, configs and commands)")
    # JAX logs its (expected) failure to find a TPU at INFO on every start.
    std_logging.getLogger("jax._src.xla_bridge").setLevel(std_logging.WARNING)
    handler = logging.get_absl_handler()
    handler.setFormatter(std_logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logging.set_verbosity(logging.INFO)
    logging.use_absl_handler()
    try:
      return main(argv)
    except UserError as e:
      _fail(str(e), e.exit_code)
    except KeyboardInterrupt as e:
      _interrupted(e)
    except Exception as e:  # pylint: disable=broad-except
      message = rundir.disk_full_message(e)  # a full disk is not a bug: say so in one line
      if message is None:
        raise
      _fail(message)

  signal.signal(signal.SIGTERM, _raise_terminated)
  try:
    app.run(lambda argv: _until_exit(wrapped, argv), flags_parser=parse_flags)
  except app.UsageError as e:
    _fail(str(e))
  except KeyboardInterrupt as e:
    _interrupted(e)
