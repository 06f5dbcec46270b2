"""The Helmholtz equation: a complex wavefield fitted from its PDE residual."""
