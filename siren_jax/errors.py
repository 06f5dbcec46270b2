"""The one exception type that means "the user asked for something we cannot do".

Anything raised as `UserError` reaches the command line as a single `error: ...` line on stderr and a
non-zero exit status; everything else is a bug and keeps its traceback.
"""


class UserError(Exception):
  """Bad input: a missing or unreadable image, an invalid config value, a mismatched workdir."""
