"""Where a checkout's own directories are, for the defaults that look beside it: the configs, and the
data kept outside the project (``../shared/data``: the Kodak set, the paper's audio clips)."""

import os

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the directory holding siren_jax/
SHARED_DATA = os.path.join(CHECKOUT, "..", "shared", "data")
