"""Two lanes of one training step, run side by side where the backend computes on the host's cores.

The step (vaegan/step.py) is written as two lanes in each of its two phases:

    forward    x -> encoder -> sampler -> decoder -> x_rec -> Dis(x_rec)
               beside Dis(x), and z_p -> decoder -> x_p -> Dis(x_p)
    backward   the discriminator's weight gradients (and, with the minimax loss, its gradient at each
               fake frame, handed over)
               beside the passes back through the discriminator that touch no weight, the decoder's
               and the encoder's backwards

`Lanes.run(first, second, handoffs)` runs `first`, then `second`; a `Handoff` is a value `first`
gives and `second` takes. On the NumPy backend with two or more cores the two run at once, on two
threads, every GEMM on one BLAS thread (kernels/numpy_ref/blas_threads.py): most of a small
convolution's time goes to copies that run on one core, so the second core is otherwise idle for
them. On the GPU backends they run one after the other (the device is where those run in parallel).

The result is the same to the bit either way, because nothing the two lanes write is shared:
    * each network's weight gradients are added by one lane only, in a fixed order (NumPy's `+=` on a
      gradient buffer from two threads at once could lose updates);
    * in the forward, the decoder and the discriminator, which both lanes run, run their batch-norms in
      "batch" mode (the batch's statistics, as "train" does), and their running statistics are updated
      after both lanes, in the order one lane would update them (the encoder's, in one lane, as it goes);
    * everything else a lane computes is a new array; what both read (x, the weights, the saved forward
      values) neither writes.
`second` may wait for what `first` hands over; `first` never waits for `second`, so running them in
order is always possible, and that is the readable reference the concurrent run must equal
(tests/test_lanes.py checks every recipe both ways).

VAEGAN_LANES=0 in the environment runs them in order everywhere; VAEGAN_LANES=1 runs them at once
even on one core (for tests). Data-parallel training runs them in order: its synchronised batch-norm
makes collective calls, which every rank must make in the same order.
"""
import concurrent.futures
import os
import threading


class Handoff:
    """A value the first lane gives the second. take() waits for it where the lanes run at once; run in
    order, the first lane has given it before the second starts."""

    def __init__(self, name):
        self.name = name
        self._future = concurrent.futures.Future()

    def give(self, value):
        self._future.set_result(value)

    def take(self):
        return self._future.result()

    def fail(self, error):
        """The first lane stopped before giving this: take() raises `error` instead of waiting forever."""
        if not self._future.done():
            self._future.set_exception(error)


class LaneStopped(RuntimeError):
    """Raised by Handoff.take() when the lane that was to give the value raised first."""


_pool = {"pid": None, "executor": None}
_pool_lock = threading.Lock()


def _executor():
    """The one worker thread that runs first lanes, made once per process (again after a fork: a forked
    child has none of its parent's threads)."""
    with _pool_lock:
        if _pool["pid"] != os.getpid():
            _pool["executor"] = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="vaegan-lane")
            _pool["pid"] = os.getpid()
        return _pool["executor"]


def _join(future):
    """Wait until the first lane has ended. A Ctrl-C meanwhile is re-raised once it has: a lane takes a
    few tens of milliseconds, and the caller must own every array again before it handles the signal."""
    interrupted = None
    while True:
        try:
            concurrent.futures.wait([future])
            break
        except KeyboardInterrupt as e:
            interrupted = e
    if interrupted is not None:
        raise interrupted


def concurrent_by_default(K):
    """Whether a step on backend K runs its lanes at once: VAEGAN_LANES=0/1 if set, else the backend's
    say (K.parallel_lanes(): 2 on a NumPy host with two cores whose BLAS can be held to one thread)."""
    setting = os.environ.get("VAEGAN_LANES", "")
    if setting in ("0", "1"):
        return setting == "1"
    return K.parallel_lanes() >= 2


class Lanes:
    """Runs a phase's two lanes: at once (`concurrent`), or one after the other."""

    def __init__(self, K, concurrent=None):
        self.K = K
        self.concurrent = concurrent_by_default(K) if concurrent is None else bool(concurrent)

    def run(self, first, second, handoffs=()):
        if not self.concurrent:
            first()
            _never_given(handoffs)
            second()
            return
        # The first lane enters K.lane_thread() inside this thread's, and has ended before this thread
        # leaves it: the count OpenBLAS sets is the process's in NumPy's wheels, not the thread's
        # (kernels/numpy_ref/blas_threads.py), so only nested entries restore it to what it was.
        with self.K.lane_thread():
            future = _executor().submit(self._first_lane, self.K, first, handoffs)
            try:
                second()
            except BaseException as e:
                _join(future)
                if isinstance(e, LaneStopped):
                    future.result()  # the second lane stopped because the first did: report the first's error
                raise
            _join(future)
        future.result()

    @staticmethod
    def _first_lane(K, first, handoffs):
        try:
            with K.lane_thread():
                first()
        except BaseException as e:
            for h in handoffs:
                h.fail(LaneStopped(f"the lane that computes {h.name} stopped: {type(e).__name__}: {e}"))
            raise
        _never_given(handoffs)


def _never_given(handoffs):
    """After the first lane ended well: a value it did not give makes take() raise, not wait forever."""
    for h in handoffs:
        h.fail(LaneStopped(f"the first lane ended without giving {h.name}"))
