"""Networks: the model kinds behind a registry (``kinds``), SIREN and its baselines (``models``), the fused
sine (``sincos``) and derivatives of a network with respect to its input coordinates (``derivatives``)."""
