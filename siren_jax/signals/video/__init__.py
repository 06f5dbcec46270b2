"""Video: a clip as a function of (t, y, x)."""
