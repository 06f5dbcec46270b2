"""The signals, one package each: its task, readers, figures, outputs, render and report hooks, declared
to the engine by the package's ``SIGNAL`` (``siren_jax.engine.registry``)."""
