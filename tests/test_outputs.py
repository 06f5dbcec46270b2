"""Run-directory helpers: which runs count as finished (sweeps and experiments skip those)."""

import json

import pytest

from siren_jax import outputs


@pytest.mark.parametrize("summary,allow_diverged,finished", [
    (None, True, False),                                   # no run yet
    ("{\"status\": \"do", True, False),                    # torn summary.json
    ({"status": "done", "steps": 100}, True, True),
    ({"steps": 100}, True, True),                          # summaries from before "status" existed
    ({"status": "done", "steps": 50}, True, False),        # a shorter run: train on to 100
    ({"status": "diverged", "steps": 30}, True, True),     # more steps would not help
    ({"status": "diverged", "steps": 30}, False, False),
])
def test_finished_run(tmp_path, summary, allow_diverged, finished):
  if summary is not None:
    text = summary if isinstance(summary, str) else json.dumps(summary)
    (tmp_path / "summary.json").write_text(text)
  result = outputs.finished_run(str(tmp_path), 100, allow_diverged=allow_diverged)
  assert (result is not None) == finished
  if finished:
    assert result == summary
