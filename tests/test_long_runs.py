"""What long runs meet, done for real to `python cli.py train` in subprocesses: SIGTERM and SIGHUP mid-epoch,
a second signal, kill -9 during a step, during a checkpoint write, during the final film and at random
moments, a second process on the same run folder, readers of a run in progress (vaegan/stopping.py,
vaegan/runlock.py, vaegan/train.py).

Every interrupted run is resumed to its end and compared with one uninterrupted run of the same command
(`reference`): the same tensors in the checkpoint, bit for bit, and the same metrics lines. The accidents
are planted at exact moments by tests/accident.py; the random ones are sent from outside. A tiny model
(32x24, widths 4/8/16) on a 40-frame film: 8 steps an epoch (the probe's 8 frames are held out), 3 epochs.
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.cli_runs import SMALL
from tests.films import decode_all, write_film
from vaegan import checkpoint
from vaegan.runlock import FILENAME as LOCK_FILE, is_leftover

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 24                                  # 3 epochs x 8 steps
EVERY_STEP = "0.00001"                      # --checkpoint-minutes: 0.6 ms, shorter than any step
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1")


def train_args(film, out, *extra, final_film=False):
    return ["train", film, "--out", out, "--epochs", 3, *SMALL, *extra] + ([] if final_film else ["--no-final-film"])


def command(args, accident=None):
    head = [sys.executable, "-m", "tests.accident", accident, "--"] if accident else [sys.executable, "cli.py"]
    return head + [str(a) for a in args]


def run_cli(*args, accident=None, env=None):
    return subprocess.run(command(args, accident), cwd=ROOT, env=env or ENV, capture_output=True, text=True,
                          timeout=300)


def start_cli(*args, accident=None, env=None):
    return subprocess.Popen(command(args, accident), cwd=ROOT, env=env or ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def steps_logged(run_dir):
    """The step numbers of metrics.jsonl's whole lines, in file order."""
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    text = open(path).read()
    return [json.loads(line)["step"] for line in text.split("\n")[:-1] if '"event"' not in line]


def metrics(run_dir):
    return [{k: v for k, v in json.loads(line).items() if k != "frames_per_s"}
            for line in open(os.path.join(run_dir, "metrics.jsonl"))]


def leftovers(run_dir):
    return sorted(name for folder in (run_dir, os.path.join(run_dir, "frames")) if os.path.isdir(folder)
                  for name in os.listdir(folder) if is_leftover(name))


def assert_same_run(run_dir, reference):
    """The resumed run ended where the uninterrupted one did, with the same tensors and the same log."""
    (meta_a, a), (meta_b, b) = checkpoint.read(str(reference)), checkpoint.read(str(run_dir))
    assert meta_b["step"] == meta_a["step"] == STEPS
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert metrics(run_dir) == metrics(reference)
    assert leftovers(run_dir) == []


def assert_clean_exit(result, code):
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    return write_film(tmp_path_factory.mktemp("film") / "clip.mp4", n=40, size=(48, 36), fps=10)


@pytest.fixture(scope="module")
def reference(film, tmp_path_factory):
    """One uninterrupted run (default --checkpoint-minutes: no timed checkpoint in so short a run)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    assert_clean_exit(run_cli(*train_args(film, out)), 0)
    assert steps_logged(out) == list(range(1, STEPS + 1))
    return out


@pytest.mark.parametrize("sig", ["term", "hup"])
def test_sigterm_or_sighup_mid_epoch_saves_and_resume_continues_exactly(film, reference, tmp_path, sig):
    out = tmp_path / "run"
    signum = {"term": signal.SIGTERM, "hup": signal.SIGHUP}[sig]
    result = run_cli(*train_args(film, out), accident=f"{sig}@step:11")        # step 3 of epoch 2
    assert_clean_exit(result, 128 + signum)
    name = signal.Signals(signum).name
    assert f"interrupted after step 11 ({name}); checkpoint saved" in result.stderr
    assert f"Resume with: python cli.py train --resume {out}" in result.stderr
    meta, _ = checkpoint.read(str(out))
    assert (meta["step"], meta["epoch"], meta["batch"]) == (11, 1, 3)
    assert steps_logged(out) == list(range(1, 12))
    assert_clean_exit(run_cli("train", "--resume", out, "--no-final-film"), 0)
    assert_same_run(out, reference)


def start_and_reach_a_random_step(film, out, rng, env=None):
    """A slowed run, started and left to log a random number of steps (2-14), so that a signal from
    outside lands at a moment the test did not choose. Returns (the process, that number)."""
    proc = start_cli(*train_args(film, out), accident="slow@step:30", env=env)
    target = int(rng.integers(2, 15))
    deadline = time.time() + 120
    while len(steps_logged(out)) < target and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be stopped"
    return proc, target


def test_sigterm_from_outside_at_a_random_moment(film, reference, tmp_path, rng):
    out = tmp_path / "run"
    proc, target = start_and_reach_a_random_step(film, out, rng)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err
    meta, _ = checkpoint.read(str(out))
    assert target <= meta["step"] < STEPS and steps_logged(out) == list(range(1, meta["step"] + 1))
    assert_clean_exit(run_cli("train", "--resume", out, "--no-final-film"), 0)
    assert_same_run(out, reference)


def test_a_second_signal_stops_at_once_and_keeps_the_last_checkpoint(film, reference, tmp_path):
    out = tmp_path / "run"
    result = run_cli(*train_args(film, out), accident="term2@step:11")
    assert_clean_exit(result, 128 + signal.SIGTERM)
    assert "a second time: stopped at once" in result.stderr
    meta, _ = checkpoint.read(str(out))
    assert meta["step"] == 8                        # the end of epoch 1 (no timed checkpoint in 10 minutes)
    assert steps_logged(out) == list(range(1, 11))  # steps 9 and 10 ran, their checkpoint was never written
    assert leftovers(out) == []
    # the resume cuts the log back to step 8 and takes 9 and 10 again: one line per step, as uninterrupted
    assert_clean_exit(run_cli("train", "--resume", out, "--no-final-film"), 0)
    assert_same_run(out, reference)


def test_two_signals_in_the_middle_of_a_step_whose_lanes_run_at_once(film, reference, tmp_path, rng):
    """The step's two lanes on two threads (vaegan/lanes.py): the second signal raises in the main
    thread while the other lane may still run; the step waits for it, the process stops with its exit
    code and no traceback, the last checkpoint loads, and the resumed run, lanes at once too, is the
    reference run (whose lanes ran in order) to the bit."""
    out = tmp_path / "run"
    lanes_at_once = dict(ENV, VAEGAN_LANES="1")
    proc, _ = start_and_reach_a_random_step(film, out, rng, env=lanes_at_once)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err
    checkpoint.read(str(out))
    assert leftovers(out) == []
    assert_clean_exit(run_cli("train", "--resume", out, "--no-final-film", env=lanes_at_once), 0)
    assert_same_run(out, reference)


@pytest.mark.parametrize("accident, interval, lost", [
    ("kill@step:6", EVERY_STEP, 0),          # a checkpoint after each step: no finished step is lost
    ("kill@step:6", "10", 5),                # the default interval: back to the step-0 checkpoint
    ("kill@checkpoint:5", EVERY_STEP, 1),    # writes 1, 2: the good and the step-0 checkpoints; 5: step 3's
], ids=["during-a-step", "during-a-step-default-interval", "during-a-checkpoint-write"])
def test_kill_9_loses_at_most_the_checkpoint_interval_and_resume_continues_exactly(
        film, reference, tmp_path, accident, interval, lost):
    out = tmp_path / "run"
    result = run_cli(*train_args(film, out, "--checkpoint-minutes", interval), accident=accident)
    assert result.returncode == -signal.SIGKILL, result.stderr
    meta, _ = checkpoint.read(str(out))             # whole: the previous checkpoint, never half of one
    logged = steps_logged(out)
    assert logged == list(range(1, len(logged) + 1)) and len(logged) - meta["step"] == lost
    if accident.startswith("kill@checkpoint"):
        assert len(leftovers(out)) == 1             # the write that was cut off
    assert_clean_exit(run_cli("train", "--resume", out, "--no-final-film"), 0)
    assert_same_run(out, reference)                 # the leftover removed, the log cut back to the checkpoint


def test_kill_9_while_the_final_film_is_written(film, reference, tmp_path):
    out = tmp_path / "run"
    result = run_cli(*train_args(film, out, final_film=True), accident="kill@film:1")
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert not (out / "reconstruction.mp4").exists()
    assert [n for n in leftovers(out) if n.startswith(".reconstruction.mp4.")]     # the film's partial file
    resumed = run_cli("train", "--resume", out)
    assert_clean_exit(resumed, 0)
    assert "has finished its 3 epochs" in resumed.stdout and "re-imagined film" in resumed.stdout
    assert len(decode_all(out / "reconstruction.mp4")) == 40
    assert_same_run(out, reference)


def test_sigterm_while_the_final_film_is_written_leaves_no_partial_film(film, reference, tmp_path):
    """Outside the training loop SIGTERM stops at once, as Ctrl-C does, through the film writer's clean-up."""
    out = tmp_path / "run"
    result = run_cli(*train_args(film, out, final_film=True), accident="term@film:1")
    assert_clean_exit(result, 128 + signal.SIGTERM)
    assert "interrupted: stopped by SIGTERM" in result.stderr
    assert not (out / "reconstruction.mp4").exists() and leftovers(out) == []
    assert_clean_exit(run_cli("train", "--resume", out), 0)
    assert len(decode_all(out / "reconstruction.mp4")) == 40
    assert_same_run(out, reference)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_at_a_random_moment(film, reference, tmp_path, seed):
    """Steps of at least 20 ms, a checkpoint when 30 ms have passed since the last: a kill anywhere (in a
    step, a checkpoint write, the epoch's pictures) loses at most the 2 steps the interval spans and the
    one whose checkpoint it cut off."""
    rng = np.random.default_rng(seed)
    out = tmp_path / "run"
    proc = start_cli(*train_args(film, out, "--checkpoint-minutes", "0.0005"), accident="slow@step:20")
    target = int(rng.integers(1, 15))
    deadline = time.time() + 120
    while len(steps_logged(out)) < target and proc.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    time.sleep(float(rng.uniform(0, 0.03)))
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    meta, _ = checkpoint.read(str(out))
    logged = steps_logged(out)
    assert logged == list(range(1, len(logged) + 1)) and 0 <= len(logged) - meta["step"] <= 3
    assert_clean_exit(run_cli("train", "--resume", out, "--no-final-film"), 0)
    assert_same_run(out, reference)


def test_a_second_process_on_a_folder_in_use_refuses_and_readers_disturb_nothing(film, reference, tmp_path):
    out, flags = tmp_path / "run", tmp_path / "flags"
    flags.mkdir()
    env = dict(ENV, ACCIDENT_FLAGS=str(flags))
    first = start_cli(*train_args(film, out), accident="pause@step:5", env=env)
    deadline = time.time() + 120
    while not (flags / "paused").exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert first.poll() is None, first.communicate()[1]
    assert (out / LOCK_FILE).read_text().strip() == str(first.pid)
    before = {name: (out / name).read_bytes() for name in ("metrics.jsonl", checkpoint.FILENAME)}
    for args in (train_args(film, out), ["train", "--resume", out, "--no-final-film"]):
        second = run_cli(*args)
        assert_clean_exit(second, 1)
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: {out} is in use by process {first.pid}"), lines
    # readers of the run in progress: its last checkpoint (step 0 here), whole; nothing of the run touched
    assert_clean_exit(run_cli("sample", out, "--n", 4, "-o", tmp_path / "s.png"), 0)
    assert_clean_exit(run_cli("reconstruct", out, film, "-o", tmp_path / "r.mp4"), 0)
    assert_clean_exit(run_cli("report", out), 0)
    assert {name: (out / name).read_bytes() for name in before} == before
    (flags / "go").touch()
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0 and "Traceback" not in err, err
    assert_same_run(out, reference)                 # the first run's files whole, as if it had been alone
    again = run_cli("train", "--resume", out, "--no-final-film")       # the lock went with the process
    assert_clean_exit(again, 0)
    assert "has finished" in again.stdout


def test_readers_see_whole_checkpoints_while_a_run_writes_them(film, tmp_path):
    out = tmp_path / "run"
    proc = start_cli(*train_args(film, out, "--checkpoint-minutes", EVERY_STEP), accident="slow@step:10")
    steps, deadline = set(), time.time() + 120
    while not (out / checkpoint.FILENAME).exists() and time.time() < deadline:
        time.sleep(0.002)
    while proc.poll() is None and time.time() < deadline:
        meta, tensors = checkpoint.read(str(out))   # a half-written file would fail to parse here
        assert all(np.isfinite(t).all() for t in tensors.values())
        steps.add(meta["step"])
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert len(steps) >= 5, steps                   # read while it was being replaced, again and again


def test_the_default_folder_in_use_is_refused_naming_the_process(film, tmp_path):
    """No --out: the command's default folder holds a run in progress. The refusal names its owner (not
    "resume it", which would be refused in turn)."""
    flags = tmp_path / "flags"
    flags.mkdir()
    env = dict(ENV, ACCIDENT_FLAGS=str(flags))
    runs = tmp_path / "runs"
    args = ["train", film, "--epochs", 3, *SMALL, "--no-final-film"]
    first = subprocess.Popen(command(args, "pause@step:2"), cwd=tmp_path, env=dict(env, PYTHONPATH=ROOT),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (flags / "paused").exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert first.poll() is None, first.communicate()[1]
    second = subprocess.run([sys.executable, os.path.join(ROOT, "cli.py"), *map(str, args)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert_clean_exit(second, 1)
    assert f"runs/clip-tiny is in use by process {first.pid}" in second.stderr, second.stderr
    (flags / "go").touch()
    assert first.wait(timeout=120) == 0
    assert sorted(os.listdir(runs)) == ["clip-tiny"]


def test_under_nohup_sighup_is_ignored_and_the_run_goes_on(film, reference, tmp_path):
    """nohup starts a run with SIGHUP ignored so that closing the terminal does not stop it: it must stay so."""
    out = tmp_path / "run"
    proc = subprocess.run(command(train_args(film, out), "hup@step:5"), cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=300, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert_clean_exit(proc, 0)
    assert_same_run(out, reference)


def test_kill_9_while_the_film_is_decoded_then_resume_starts_again(film, reference, tmp_path):
    """Killed before the step-0 checkpoint, in the middle of building the frame store: --resume starts the
    run again from config.json's settings, the half-built store is rebuilt, and the run is the reference's."""
    out = tmp_path / "run"
    result = run_cli(*train_args(film, out), accident="kill@store:1")
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert not (out / checkpoint.FILENAME).exists() and (out / "config.json").exists()
    resumed = run_cli("train", "--resume", out, "--no-final-film")
    assert_clean_exit(resumed, 0)
    assert "at step 0" in resumed.stdout
    assert_same_run(out, reference)
