"""What a run writes and reads back: atomic outputs, checkpoints, run-directory ownership, progress lines
and weight codecs."""
