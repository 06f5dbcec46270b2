"""The wave equation: u(t, x, y) fitted from the equation and its initial conditions."""
