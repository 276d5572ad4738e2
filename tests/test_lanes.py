"""The training step's two lanes (vaegan/lanes.py): run at once they give the numbers run in order give,
to the bit; a lane's error reaches the caller and never leaves the other lane waiting; the NumPy
backend's lane threads run their GEMMs on one BLAS thread; and lanes still run in a forked child."""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from kernels import get_backend
from kernels.numpy_ref import blas_threads
from tests.optional import on_ci
from vaegan.lanes import Handoff, Lanes, LaneStopped
from vaegan.model import VAEGAN
from vaegan.step import forward_and_gradients
from vaegan.train import settings

K = get_backend("numpy")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _one_step(recipe, concurrent, **changes):
    """Everything a step writes: the losses, every gradient, the batch-norm running statistics."""
    chosen = settings(recipe, preset="tiny")
    cfg, tc = chosen.model, chosen.train.resolved(chosen.model)
    tc = tc.__class__(**{**tc.__dict__, **changes})
    model = VAEGAN(K, cfg, seed=3)
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (4, 3, cfg.height, cfg.width)).astype(np.float32)
    eps, z_p = (rng.standard_normal((4, cfg.z_dim)).astype(np.float32) for _ in range(2))
    losses, balance, x_rec, x_p = forward_and_gradients(model, x, eps, z_p, 0.7, tc, Lanes(K, concurrent))
    written = {f"loss {n}": np.asarray(v) for n, v in losses.items()}
    written.update({f"grad {n}": f.grad.copy() for n, f in model.flat.items()})
    for name, net in model.networks().items():
        written.update({f"{name}.{b}": v.copy() for b, v in net.named_buffers()})
    written.update(x_rec=x_rec, x_p=x_p, balance=np.asarray([float(b) for b in balance]))
    return written


@pytest.mark.parametrize("recipe, changes", [
    ("default", {}),
    ("larsen", {}),                                    # the prior pass updates the decoder's statistics
    ("seed", {}),                                      # the non-saturating loss: six discriminator passes
    ("default", {"recon_as_fake": False}),
    ("seed", {"recon_as_fake": False, "pixel_weight": 2.0}),
], ids=["default", "larsen", "seed", "default-no-recon-fake", "seed-no-recon-fake-pixel"])
def test_lanes_at_once_give_the_numbers_in_order_give_to_the_bit(recipe, changes):
    in_order = _one_step(recipe, False, **changes)
    for _ in range(3):                                  # the threads' interleaving differs from run to run
        at_once = _one_step(recipe, True, **changes)
        assert in_order.keys() == at_once.keys()
        for name in in_order:
            assert np.array_equal(in_order[name], at_once[name]), f"{name} differs between the two ways"


def test_a_failing_first_lane_stops_the_second_with_its_own_error():
    handed = Handoff("the value")
    raised = []

    def first():
        raise ValueError("first lane broke")

    def second():
        handed.take()

    def run():
        try:
            Lanes(K, concurrent=True).run(first, second, (handed,))
        except BaseException as e:   # noqa: BLE001 - the test looks at what it was
            raised.append(e)

    caller = threading.Thread(target=run, daemon=True)   # a hang fails the test instead of stopping the suite
    caller.start()
    caller.join(10)
    assert not caller.is_alive(), "the second lane still waits for a value the failed first lane never gave"
    assert len(raised) == 1 and isinstance(raised[0], ValueError) and "first lane broke" in str(raised[0])
    with pytest.raises(LaneStopped, match="the value"):
        handed.take()


@pytest.mark.parametrize("concurrent", [False, True], ids=["in-order", "at-once"])
def test_a_value_the_first_lane_never_gives_raises_instead_of_waiting(concurrent):
    forgotten = Handoff("the forgotten value")
    outcome = []

    def run():
        try:
            Lanes(K, concurrent=concurrent).run(lambda: None, forgotten.take, (forgotten,))
        except LaneStopped as e:
            outcome.append(str(e))

    caller = threading.Thread(target=run, daemon=True)
    caller.start()
    caller.join(10)
    assert not caller.is_alive(), "the second lane waits for a value nobody will give"
    assert outcome and "without giving the forgotten value" in outcome[0]


def test_an_error_in_the_second_lane_returns_only_after_the_first_lane_ended():
    ended = threading.Event()

    def first():
        time.sleep(0.3)
        ended.set()

    def second():
        raise KeyboardInterrupt          # a second Ctrl-C in the middle of a step

    with pytest.raises(KeyboardInterrupt):
        Lanes(K, concurrent=True).run(first, second)
    assert ended.is_set(), "the call returned while the other lane still ran"


def test_in_order_the_first_lane_hands_over_before_the_second_starts():
    order = []
    h = Handoff("h")
    Lanes(K, concurrent=False).run(lambda: (order.append("first"), h.give(1)),
                                   lambda: order.append(("second", h.take())), (h,))
    assert order == ["first", ("second", 1)]


def _blas_thread_control():
    if not blas_threads.available():
        if on_ci():
            pytest.fail("NumPy's OpenBLAS has no per-thread thread count here: the lanes cannot run at once")
        pytest.skip("this NumPy's BLAS cannot set a thread's own thread count")
    return blas_threads._functions()[1]


def test_a_lane_thread_runs_its_gemms_on_one_blas_thread_and_restores_the_count():
    set_local = _blas_thread_control()
    before = set_local(3)                # the thread's count is now 3 ...
    try:
        with K.lane_thread():
            inside = set_local(1)        # ... and inside a lane it is 1
        after = set_local(3)             # ... and 3 again after it
    finally:
        set_local(before)
    assert (inside, after) == (1, 3)


def test_after_a_step_the_blas_thread_count_is_what_it_was():
    set_local = _blas_thread_control()
    chosen = settings("default", preset="tiny")
    cfg, tc = chosen.model, chosen.train.resolved(chosen.model)
    model = VAEGAN(K, cfg, seed=0)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (16, 3, cfg.height, cfg.width)).astype(np.float32)   # (at batch 4 the lanes'
    noise = rng.standard_normal((16, cfg.z_dim)).astype(np.float32)              # timing hid the fault)
    before = set_local(2)
    try:
        for _ in range(3):
            forward_and_gradients(model, x, noise, noise, 1.0, tc, Lanes(K, concurrent=True))
            now = set_local(2)
            assert now == 2, "the lanes left the BLAS on one thread for what runs after the step"
    finally:
        set_local(before)


def _run_python(code, **env):
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": ROOT, **env})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_backend_runs_two_lanes_only_with_two_cores_and_two_blas_threads():
    _blas_thread_control()
    ask = ("import os; from kernels import get_backend; from vaegan.lanes import Lanes; K = get_backend('numpy');"
           "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}) if os.environ.get('ONE_CORE') else None;"
           "print(K.parallel_lanes(), Lanes(K).concurrent)")
    if len(os.sched_getaffinity(0)) >= 2:
        assert _run_python(ask, OPENBLAS_NUM_THREADS="2", VAEGAN_LANES="") == "2 True"
    assert _run_python(ask, OPENBLAS_NUM_THREADS="1", VAEGAN_LANES="") == "1 False"
    assert _run_python(ask, OPENBLAS_NUM_THREADS="2", ONE_CORE="1", VAEGAN_LANES="") == "1 False"
    assert _run_python(ask, OPENBLAS_NUM_THREADS="2", VAEGAN_LANES="0").endswith("False")
    assert _run_python(ask, OPENBLAS_NUM_THREADS="1", VAEGAN_LANES="1") == "1 True"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_lanes_run_at_once_in_a_child_forked_after_they_ran_in_the_parent():
    Lanes(K, concurrent=True).run(lambda: None, lambda: None)     # the parent's lane thread exists now
    pid = os.fork()
    if pid == 0:                                                   # the child has no such thread
        code = 1
        try:
            h = Handoff("h")
            Lanes(K, concurrent=True).run(lambda: h.give(7), lambda: h.take(), (h,))
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    pytest.fail("the forked child's lanes never ran: it waited on a thread it does not have")
