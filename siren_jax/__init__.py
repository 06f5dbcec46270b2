"""siren_jax: images as continuous neural functions (SIREN, Sitzmann et al. 2020) in JAX/Flax."""

__version__ = "0.1.0"
