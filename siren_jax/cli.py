"""Command-line plumbing shared by every entry point: flag parsing and error reporting that end bad
input in one ``error: ...`` line and a non-zero exit, and compact progress logging. A full disk is bad
luck rather than a bug: it too is one line (``error: disk full: ...``) and exit status 2."""

import logging as std_logging
import os
import sys
from typing import Callable, Sequence

from absl import app, flags, logging

from siren_jax import rundir
from siren_jax.errors import UserError

EXIT_USAGE = 2


def _fail(message: str, code: int = EXIT_USAGE) -> None:
  first = " ".join(str(message).strip().splitlines()[:1]) if message else "unknown error"
  print(f"error: {first}", file=sys.stderr)
  # Work that libraries abandoned on the way out (orbax's coroutines after a failed save) is reported
  # at shutdown as "Exception ignored ..." tracebacks that would bury the one line above.
  sys.unraisablehook = lambda unraisable: None
  sys.exit(code)


def parse_flags(argv: Sequence[str]):
  """absl's parser, but a bad flag or config override (unknown key, wrong type, missing config file)
  is one line instead of a usage dump."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    _fail(str(e))
  except (KeyError, AttributeError) as e:
    _fail(f"unknown config field {e} in a --config.* override (see configs/default.py for the fields)")
  except (OSError, ValueError, TypeError) as e:
    _fail(f"{type(e).__name__}: {e}")


def describe_devices() -> str:
  import jax  # pylint: disable=g-import-not-at-top
  devices = jax.devices()
  return f"{len(devices)} x {devices[0].device_kind} ({devices[0].platform})"


def run(main: Callable, required: Sequence[str] = ()) -> None:
  """``app.run(main)`` with one-line errors for UserError, a full disk and missing required flags."""

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
    except Exception as e:  # pylint: disable=broad-except
      message = rundir.disk_full_message(e)  # a full disk is not a bug: say so in one line
      if message is None:
        raise
      _fail(message)

  try:
    app.run(wrapped, flags_parser=parse_flags)
  except app.UsageError as e:
    _fail(str(e))
