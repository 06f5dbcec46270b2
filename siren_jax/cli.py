"""Command-line plumbing shared by every entry point: flag parsing and error reporting that end bad
input in one ``error: ...`` line and a non-zero exit, and compact progress logging."""

import logging as std_logging
import os
import re
import sys
from typing import Callable, Sequence

from absl import app, flags, logging

from siren_jax.errors import UserError

EXIT_USAGE = 2


def _fail(message: str) -> None:
  first = " ".join(str(message).strip().splitlines()[:1]) if message else "unknown error"
  print(f"error: {first}", file=sys.stderr)
  sys.exit(EXIT_USAGE)


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
          + "; configs/default.py lists every field")


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
  except flags.Error as e:
    _fail(str(e))
  except (KeyError, AttributeError) as e:
    _fail(_unknown_field(e))
  except (OSError, ValueError, TypeError) as e:
    _fail(f"{type(e).__name__}: {e}")


def run(main: Callable, required: Sequence[str] = ()) -> None:
  """``app.run(main)`` with one-line errors for UserError and missing required flags."""

  def wrapped(argv):
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
        _fail(f"--{name} is required")
    # JAX logs its (expected) failure to find a TPU at INFO on every start.
    std_logging.getLogger("jax._src.xla_bridge").setLevel(std_logging.WARNING)
    handler = logging.get_absl_handler()
    handler.setFormatter(std_logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logging.set_verbosity(logging.INFO)
    logging.use_absl_handler()
    try:
      return main(argv)
    except UserError as e:
      _fail(str(e))
    except KeyboardInterrupt:
      print("error: interrupted", file=sys.stderr)
      sys.exit(130)

  try:
    app.run(wrapped, flags_parser=parse_flags)
  except app.UsageError as e:
    _fail(str(e))
