"""The probe's bad inputs: the BAD table of bad invocations of main, sweep, render and report, the
tampering applied to an existing run first, and the runner that checks each is refused cleanly and
changes nothing. Part of benchmarks/probe.py."""

import dataclasses
import json
import os
import shutil
from typing import Callable, Dict, Tuple, Union

from benchmarks.probe_files import describe_diff, snapshot, write_bytes
from benchmarks.probe_runner import Env, command, copy_ref, fill, launch, one_line_problems


@dataclasses.dataclass(frozen=True)
class Bad:
  """One bad invocation. ``args`` are templates: {W} the workdir of the target, {OUT} a PNG path in an
  empty directory, {HOME} the case's directory (holding fresh/somefile and out/{somefile,dir.png}),
  and the files of ``write_inputs`` ({IMG}, {TRUNC}, ...)."""
  prog: str  # main | sweep | render | report
  name: str
  args: Tuple[str, ...] = ()
  expect: Union[str, Dict[str, str]] = ""  # words of the error line; per target if a dict
  targets: Tuple[str, ...] = ("fresh", "existing")
  tamper: str = ""  # a TAMPER function applied to the existing copy first
  drop: Tuple[str, ...] = ()  # base flags left out
  base: bool = True  # start from the tiny base flags
  note: str = ""  # why the case's expectation or targets differ from the usual ones


def _o(overrides: str, expect: str, name: str = "", **kw) -> Bad:
  """A siren_jax.main case that sets config fields ("a.b=v c.d=w")."""
  return Bad("main", name or overrides, tuple(f"--config.{o}" for o in overrides.split()), expect, **kw)


def _edit_config(run: str, edit: Callable[[dict], None]) -> None:
  path = os.path.join(run, "config.json")
  with open(path) as f:
    config = json.load(f)
  edit(config)
  write_bytes(path, json.dumps(config).encode())


TAMPER = {
    "config_width": lambda run: _edit_config(run, lambda c: c["model"].update(width=64)),
    "config_invalid": lambda run: write_bytes(os.path.join(run, "config.json"), b'{"model": {"width": 3'),
    "config_list": lambda run: write_bytes(os.path.join(run, "config.json"), b"[1, 2]\n"),
    "config_missing": lambda run: os.remove(os.path.join(run, "config.json")),
    "no_checkpoints": lambda run: shutil.rmtree(os.path.join(run, "checkpoints")),
}

NO_WORKDIR = "no workdir is given, so there is only the fresh target (nothing may appear beside it)"
FRESH_ONLY = "the workdir is the bad input itself, so there is no existing-run variant"
EXISTING_ONLY = "valid on a fresh workdir: only an existing run makes it bad"
SCALE = {"fresh": "workdir not found", "existing": "--scale must be a positive number"}
SCALE_NOTE = "the scale is checked against the run's size, so a missing workdir is reported first"

BAD = [
    # siren_jax.main: the command line and the config file
    Bad("main", "unknown flag", ("--bogus=1",), "bogus"),
    Bad("main", "extra positional argument", ("extra",), "unexpected arguments: extra"),
    Bad("main", "missing --workdir", (), "--workdir is required", targets=("fresh",), drop=("--workdir",),
        note=NO_WORKDIR),
    Bad("main", "missing --config", ("--workdir={W}",), "--config is required", base=False),
    Bad("main", "config file missing", ("--config=configs/nope.py",), "config file not found"),
    Bad("main", "config file with a syntax error", ("--config={CFG_SYNTAX}",), "is not valid Python"),
    Bad("main", "config file that is not Python", ("--config={CFG_BINARY}",), "config file"),
    Bad("main", "config file without get_config", ("--config={CFG_NOGET}",), "defines no get_config()"),
    Bad("main", "config whose get_config returns 3", ("--config={CFG_RETURNS3}",), "ConfigDict"),
    Bad("main", "config importing a missing module", ("--config={CFG_IMPORT}",), "ModuleNotFoundError"),
    Bad("main", "config file that is a directory", ("--config={DIRIMG}",), "is not a file"),
    _o("model.colour=3", "unknown config field 'colour'", "unknown config key"),
    _o("model.omega=60", "did you mean 'omega_0'?", "misspelled config key"),
    _o("model.width=wide", "--config.model.width=wide", "wrong type"),
    # siren_jax.main: images
    _o("data.image=/nonexistent/x.png", "not found", "missing image file"),
    _o("data.image={NOTIMAGE}", "not an image", "not an image"),
    _o("data.image={EMPTY}", "not an image", "empty image file"),
    _o("data.image={TRUNC}", "truncated or corrupt", "truncated PNG"),
    _o("data.image={ONE}", "at least 2x2", "1x1 image"),
    _o("data.max_pixels=100", "max_pixels", "image over data.max_pixels"),
    _o("data.image={DIRIMG}", "is a directory", "image that is a directory"),
    _o("data.image={FIFO}", "not a regular file", "image that is a FIFO"),
    _o("data.image={LOOP}", "symbolic link loop", "image in a symlink loop"),
    _o("data.image={NAN_TIF}", "non-finite", "float TIFF with NaN"),
    _o("data.image={I32_TIF}", "32-bit integer image", "signed int32 TIFF"),
    _o("data.image=nosuchbuiltin", "unknown image 'nosuchbuiltin'", "unknown built-in image"),
    # siren_jax.main: config values
    _o("model.omega_0=0", "omega_0 must be > 0"),
    _o("model.omega_0=1e30", "float32 sine arguments"),
    _o("model.width=0", "model.width must be >= 1"),
    _o("model.depth=0", "model.depth must be >= 1"),
    _o("model.width=100000", "needs about"),
    _o("model.kind=garbage", "model.kind must be one of"),
    _o("model.rff_features=-1", "model.rff_features must be >= 1"),
    _o("model.rff_scale=nan", "model.rff_scale must be a finite number"),
    _o("model.pe_frequencies=-3", "model.pe_frequencies must be >= 0"),
    _o("train.num_steps=-5", "num_steps must be >= 0"),
    _o("train.learning_rate=0", "learning_rate must be > 0"),
    _o("train.learning_rate=nan", "learning_rate must be > 0"),
    _o("train.schedule=garbage", "train.schedule must be one of"),
    _o("train.batch_size=-1", "train.batch_size must be >= 0"),
    _o("train.log_every=0", "train.log_every must be >= 1"),
    _o("train.supervision=edges", "unknown term 'edges'"),
    _o("train.supervision=values:inf", "must be a finite number"),
    _o("train.gradient_method=garbage", "train.gradient_method must be one of"),
    _o("train.laplacian_method=garbage", "train.laplacian_method must be one of"),
    _o("model.kind=relu train.supervision=gradient train.gradient_method=propagate",
       "needs model.kind=siren", "propagate without a SIREN"),
    _o("data.blend_source=camera", "needs train.supervision=gradient", "blend without gradient supervision"),
    _o("data.blend_mode=garbage", "data.blend_mode must be"),
    _o("data.resize=stretch", "data.resize must be one of"),
    _o("seed=99999999999999999999", "seed must be an integer in [0, 2^32)"),
    _o("eval.crop_border=100", "leaves nothing"),
    # siren_jax.main: workdirs
    Bad("main", "workdir that is a file", ("--workdir={HOME}/fresh/somefile",), "it is not a directory",
        targets=("fresh",), note=FRESH_ONLY),
    Bad("main", "workdir under a file", ("--workdir={HOME}/fresh/somefile/run",), "is not a directory",
        targets=("fresh",), note=FRESH_ONLY),
    _o("model.omega_0=60", "different config", "resume with a different config", targets=("existing",),
       note=EXISTING_ONLY),
    _o("model.width=64", "does not fit the model", "config.json edited to another width",
       targets=("existing",), tamper="config_width",
       note="config.json and the command agree on width 64; the checkpoints hold width 32"),
    Bad("main", "config.json that is not JSON", (), "config.json", targets=("existing",),
        tamper="config_invalid", note="a tampered run directory"),
    Bad("main", "config.json holding a list", (), "holds a JSON list", targets=("existing",),
        tamper="config_list", note="a tampered run directory"),
    Bad("main", "config.json missing beside checkpoints", (), "no config.json", targets=("existing",),
        tamper="config_missing", note="a tampered run directory"),
    # siren_jax.sweep (the existing target is a finished sweep)
    Bad("sweep", "spec without '='", ("--sweep=model.omega_0",), "expected FIELD=V1,V2"),
    Bad("sweep", "repeated values", ("--sweep=seed=0,0",), "repeated values"),
    Bad("sweep", "unknown field", ("--sweep=model.colour=1,2",), "no such config field"),
    Bad("sweep", "value of the wrong type", ("--sweep=model.depth=two,3",), "is not a valid int"),
    Bad("sweep", "field given twice", ("--sweep=seed=0,1", "--sweep=seed=2,3"), "given twice"),
    Bad("sweep", "no --sweep", (), "give at least one --sweep", drop=("--sweep",)),
    Bad("sweep", "bad gradient_method value", ("--sweep=train.gradient_method=bogus,reverse",),
        "train.gradient_method must be one of"),
    Bad("sweep", "omega_0 of 0 in one point", ("--sweep=model.omega_0=0,30",), "omega_0 must be > 0"),
    Bad("sweep", "nonexistent image in one point", ("--sweep=data.image={IMG},/nonexistent/x.png",),
        "not found"),
    Bad("sweep", "nonexistent base image", ("--config.data.image=/nonexistent/x.png",),
        {"fresh": "image file not found", "existing": "different config"},
        note="over the finished sweep, its points' config.json no longer match: found first"),
    Bad("sweep", "unknown config key", ("--config.model.colour=3",), "unknown config field 'colour'"),
    Bad("sweep", "one point too large for memory", ("--sweep=model.width=32,100000",), "needs about"),
    Bad("sweep", "extra positional argument", ("extra",), "unexpected arguments: extra"),
    Bad("sweep", "unknown flag", ("--bogus=1",), "bogus"),
    Bad("sweep", "workdir that is a file", ("--workdir={HOME}/fresh/somefile",), "it is not a directory",
        targets=("fresh",), note=FRESH_ONLY),
    Bad("sweep", "changed base config over a finished sweep", ("--config.train.learning_rate=0.01",),
        "different config", targets=("existing",), note=EXISTING_ONLY),
    # siren_jax.render (its fresh target is a --workdir that does not exist)
    Bad("render", "window not numbers", ("--window=a,b,c,d",), "--window must be four numbers"),
    Bad("render", "window reversed", ("--window=0.5,-0.5,-1,1",), "must satisfy"),
    Bad("render", "size not HxW", ("--size=abc",), "--size must be HxW"),
    Bad("render", "size 0x16", ("--size=0x16",), "must be between 1 and"),
    Bad("render", "size too large", ("--size=100000x100000",), "must be between 1 and"),
    Bad("render", "scale 0", ("--scale=0",), SCALE, note=SCALE_NOTE),
    Bad("render", "scale nan", ("--scale=nan",), SCALE, note=SCALE_NOTE),
    Bad("render", "both --scale and --size", ("--scale=2", "--size=8x8"), "give either --scale or --size"),
    Bad("render", "out not a PNG", ("--out={HOME}/out/x.jpg",), "--out must be a .png path"),
    Bad("render", "out under a file", ("--out={HOME}/out/somefile/x.png",), "is not a directory"),
    Bad("render", "out in a missing directory", ("--out={HOME}/out/nope/x.png",), "does not exist"),
    Bad("render", "out that is a directory", ("--out={HOME}/out/dir.png",), "is a directory"),
    Bad("render", "negative chunk size", ("--chunk_size=-1",), "--chunk_size must be >= 0"),
    Bad("render", "missing workdir", (), "workdir not found", targets=("fresh",),
        note="the fresh target is the case"),
    Bad("render", "not a run directory", ("--workdir={HOME}/fresh",), "has no config.json",
        targets=("fresh",), note="a directory holding only a file"),
    Bad("render", "extra positional argument", ("extra",), "unexpected arguments: extra"),
    Bad("render", "missing --out", (), "--out is required", drop=("--out",)),
    Bad("render", "config.json that is not JSON", (), "config.json", targets=("existing",),
        tamper="config_invalid", note="a tampered run directory"),
    Bad("render", "config.json edited to another width", (), "does not fit the model",
        targets=("existing",), tamper="config_width", note="a tampered run directory"),
    # siren_jax.report
    Bad("report", "missing directory", (), "workdir not found", targets=("fresh",),
        note="the fresh target is the case"),
    Bad("report", "workdir that is a file", ("--workdir={HOME}/fresh/somefile",), "is not a directory",
        targets=("fresh",), note=FRESH_ONLY),
    Bad("report", "workdir under a file", ("--workdir={HOME}/fresh/somefile/run",), "is not a directory",
        targets=("fresh",), note=FRESH_ONLY),
    Bad("report", "neither a run nor a sweep", ("--workdir={HOME}/fresh",), "is neither a run",
        targets=("fresh",), note="a directory holding only a file"),
    Bad("report", "extra positional argument", ("extra",), "unexpected arguments: extra"),
    Bad("report", "unknown flag", ("--bogus=1",), "bogus"),
    Bad("report", "missing --workdir", (), "--workdir is required", targets=("fresh",),
        drop=("--workdir",), note=NO_WORKDIR),
]


def _case_dirs(home: str) -> Tuple[str, str]:
  """HOME/fresh (holding a file, somefile) and HOME/out (somefile and a directory, dir.png)."""
  fresh, out = os.path.join(home, "fresh"), os.path.join(home, "out")
  for d in (fresh, out):
    os.makedirs(d)
    write_bytes(os.path.join(d, "somefile"), b"x\n")
  os.mkdir(os.path.join(out, "dir.png"))
  return fresh, out


def _without_empty_run(snap: Dict[str, str]) -> Dict[str, str]:
  """A fresh workdir left empty counts as not created."""
  if snap.get("run") == "dir" and not any(k.startswith("run" + os.sep) for k in snap):
    snap = {k: v for k, v in snap.items() if k != "run"}
  return snap


def bad_target(case: Bad, target: str, env: Env) -> dict:
  """Runs ``case`` against one target; returns its record with ``problems`` and ``lost``."""
  home = env.home(f"bad {case.prog} {case.name} {target}")
  fresh, out = _case_dirs(home)
  if target == "existing":
    workdir = copy_ref(env, os.path.join(home), sweep=case.prog == "sweep")
  else:
    workdir = os.path.join(fresh, "run")
  if case.tamper:
    TAMPER[case.tamper](workdir)
  watched = [fresh, out] + ([workdir] if target == "existing" else [])
  before = [snapshot(d) for d in watched]
  args = fill(command(case.prog, case.args, case.drop, case.base),
              dict(env.files, W=workdir, OUT=os.path.join(out, "x.png"), HOME=home))
  result = launch(args, os.path.join(home, "command"))
  expect = case.expect.get(target, "") if isinstance(case.expect, dict) else case.expect
  problems, lost = one_line_problems(result, expect), []
  for directory, snap in zip(watched, before):
    after = _without_empty_run(snapshot(directory)) if directory == fresh else snapshot(directory)
    if after != snap:
      what = f"{os.path.relpath(directory, home)} changed: {describe_diff(snap, after)}"
      problems.append(what)
      if directory == workdir:
        lost.append(what)
  return {"target": target, "command": env.short(" ".join(["python", *args])), "rc": result.rc,
          "stderr": env.short(result.err[-2000:]), "seconds": round(result.seconds, 1),
          "problems": problems, "lost": lost}


def run_bad(case: Bad, env: Env) -> dict:
  checks = [bad_target(case, target, env) for target in case.targets]
  problems = [f"{c['target']}: {p}" for c in checks for p in c["problems"]]
  lost = [f"{case.prog}: {case.name} ({c['target']}): {what}" for c in checks for what in c["lost"]]
  return {"kind": "bad", "name": f"{case.prog}: {case.name}", "status": "FAIL" if problems else "PASS",
          "problems": problems, "lost": lost, "note": case.note, "targets": checks}
