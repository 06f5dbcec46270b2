"""Physics: the Helmholtz and wave equations solved from their residuals, and full-waveform inversion
(SIREN paper Sec. 4.3).

Conventions shared by every module here: coordinates are the columns (x, y) for Helmholtz and (t, x, y)
for the wave equation, in [-1, 1]; a gridded field is an array indexed [row = y, col = x]; a complex
field is a complex numpy array (a network's two outputs are its real and imaginary parts).

``pml`` and ``media`` describe the problems (absorbing layer, velocity models, sources), written once
for numpy and jax.numpy; ``reference`` computes the fields each run is measured against (Hankel,
finite-difference frequency and time domain); ``measurements`` makes the inversion's receiver data.
"""
