"""Audio: a clip as a function of time."""
