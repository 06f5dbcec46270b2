"""The exceptions that mean "the user asked for something we cannot do" or "the user stopped us".

Anything raised as `UserError` reaches the command line as a single `error: ...` line on stderr and a
non-zero exit status (siren_jax/cli.py); everything else is a bug and keeps its traceback.
"""

import signal


class UserError(Exception):
  """Bad input: a missing or unreadable image, an invalid config value, a mismatched workdir."""

  exit_code = 2


class Terminated(KeyboardInterrupt):
  """SIGTERM (what schedulers send), raised where SIGINT raises KeyboardInterrupt, so that every
  clean-up written for Ctrl-C serves both (siren_jax.cli installs the handler)."""

  signum = signal.SIGTERM


class Interrupted(UserError):
  """A run stopped by SIGINT or SIGTERM after keeping what it had saved. Its exit status is
  128 + the signal number (130, 143), what a shell reports for a process the signal killed."""

  def __init__(self, message: str, signum: int):
    super().__init__(message)
    self.signum = int(signum)
    self.exit_code = 128 + self.signum


def signal_number(interrupt: KeyboardInterrupt) -> int:
  """The signal behind a KeyboardInterrupt: SIGTERM for ``Terminated``, SIGINT otherwise."""
  return int(getattr(interrupt, "signum", signal.SIGINT))
