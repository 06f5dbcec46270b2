"""benchmarks/probe.py's case machinery, cheaply: command building, the clean-refusal test, record
comparison, and three bad-input cases of siren_jax.report run through the probe's own runner."""

import dataclasses

from benchmarks import probe, probe_faults, probe_files, probe_inputs, probe_runner


def _case(name):
  return next(case for case in probe_inputs.BAD if f"{case.prog}: {case.name}" == name)


def test_commands_replace_and_drop_base_flags():
  args = probe_runner.command("main", ("--config.model.width=0", "extra"), drop=("--workdir",))
  assert args[:2] == ["-m", "siren_jax.main"] and args[-2:] == ["--config.model.width=0", "extra"]
  assert "--config.model.width=32" not in args and not any(a.startswith("--workdir") for a in args)
  sweep = probe_runner.command("sweep", ("--sweep=model.omega_0=10,20",))
  assert probe_runner.SWEEP not in sweep and sweep[-1] == "--sweep=model.omega_0=10,20"
  assert probe_runner.command("report", (), base=False) == ["-m", "siren_jax.report"]


def test_a_clean_refusal_is_exit_2_and_one_error_line():
  ok = probe_runner.Result([], 2, "", "error: bad value\n", 0.0)
  assert probe_runner.one_line_problems(ok, "bad value") == []
  assert probe_runner.one_line_problems(ok, "other words") == ["the error line lacks 'other words'"]
  logged = probe_runner.Result([], 2, "", "12:00 starting\nerror: bad value\n", 0.0)
  assert probe_runner.one_line_problems(logged) == ["stderr is 2 line(s), not one 'error: ' line"]
  crashed = probe_runner.Result([], 1, "", "Traceback (most recent call last):\n  boom\n", 0.0)
  assert len(probe_runner.one_line_problems(crashed)) == 3
  assert probe_runner.error_line_problems("12:00 step 10\nerror: interrupted at step 10\n", 130, 130,
                                          "^error: interrupted") == []


def test_records_that_differ_from_the_reference_are_reported():
  ref = {"rows": [{"step": 0, "loss": None, "psnr": 10.5, "lr": 1e-3},
                  {"step": 10, "loss": 0.3, "psnr": 11.0, "lr": 1e-4}],
         "checkpoint_step": 10, "params_sha256": "a" * 64, "state_sha256": "b" * 64,
         "summary_headline": 11.0, "summary_steps": 10}
  assert probe_files.compare_records(dict(ref), ref) == []
  moved = dict(ref, rows=[ref["rows"][0], dict(ref["rows"][1], psnr=11.000001)], params_sha256="c" * 64)
  diffs = probe_files.compare_records(moved, ref)
  assert any(d.startswith("metrics rows differ from row 1") for d in diffs)
  assert any(d.startswith("params_sha256") for d in diffs)
  twice = dict(ref, rows=ref["rows"] + ref["rows"][1:])
  assert any("duplicated metrics rows" in d for d in probe_files.compare_records(twice, ref))


def test_bad_report_cases_through_the_runner(tmp_path):
  env = probe_runner.Env(str(tmp_path), files={})
  for name in ("report: missing directory", "report: neither a run nor a sweep"):
    result = probe_inputs.run_bad(_case(name), env)
    assert result["status"] == "PASS", result
  wrong = dataclasses.replace(_case("report: missing directory"), expect="words it does not say")
  result = probe_inputs.run_bad(wrong, env)
  assert result["status"] == "FAIL" and "lacks 'words it does not say'" in result["problems"][0]
  assert not result["lost"]


def test_tmpfs_faults_are_skipped_without_mounts_and_summarized(tmp_path):
  env = probe_runner.Env(str(tmp_path), files={}, mount_skip=probe_runner.MOUNT_SKIP)
  mounts = [f for f in probe_faults.FAULTS if f.mount]
  assert mounts
  skipped = [probe_faults.run_fault(f, env) for f in mounts]
  assert all(r["status"] == "SKIP" for r in skipped)
  bad = {"kind": "bad", "name": "x", "status": "FAIL", "problems": ["p"], "lost": ["x: changed"]}
  lines = probe.summarize(skipped + [bad])
  assert lines == ["bad inputs: 1 tried, 0 handled cleanly",
                   f"faults: 0 injected, 0 survived ({len(mounts)} skipped: needs root and tmpfs)",
                   "data lost: x: changed"]
