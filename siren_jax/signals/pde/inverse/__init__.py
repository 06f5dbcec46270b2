"""Full-waveform inversion: the medium recovered from receiver data with the Helmholtz residual."""
