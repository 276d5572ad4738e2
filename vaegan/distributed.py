"""Data-parallel training's communicators: who this process is among the ranks, and the few collectives
a step needs. None is hand-written: MPI is mpi4py's, NCCL is cupyx.distributed's.

    python cli.py train ...                      one process: SINGLE, every collective a no-op
    mpirun -n 4 python cli.py train ...          four ranks: MPI (--backend numpy), NCCL (cupy, triton)

Every rank takes its share of every batch (the same global batch and data order as one process,
vaegan/train.py), and the step stays the one-process step because of two things only:
    gradients      one all-reduce (mean) per network per step over FlatParameters' flat gradient buffer
                   (vaegan/step.py); each rank's losses are means over its share, and the shares are
                   equal, so the mean over ranks of their gradients is the gradient of the global batch
    batch-norm     statistics over the global batch: per-channel sums all-reduced (vaegan/sync_batch_norm.py)
The losses travel too (one all-reduce of seven numbers), so every rank takes the same decisions
(finite? which networks update? roll back?) and rank 0's metrics are the global batch's.

The interface (what vaegan/ calls):
    comm.rank, comm.size
    comm.allreduce_sum(a)     in place over a contiguous array of the backend (NumPy or CuPy); returns a
    comm.allreduce_mean(a)    the same, then divided by size
    comm.any(flag)            True on every rank when any rank passed True (a Ctrl-C on one rank)
    comm.barrier()            (setup only: rank 0 builds the frame store the others then open)
    comm.fail(exc)            one rank failed: its one line, then every rank ends (never a hang)

Every collective waits at most `timeout` seconds (VAEGAN_COMM_TIMEOUT, default 600: rank 0 alone writes
checkpoints and pictures while the others wait): past it, CollectiveTimeout names the rank and the op,
and the CLI ends every rank. A rank that dies is seen sooner, by mpirun, which ends the others.
"""
import os
import sys
import time

from .errors import UserError

DEFAULT_TIMEOUT = 600.0
# the variables a launcher sets for each rank: (world size, rank, rank on this node)
_LAUNCHERS = (("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"),   # Open MPI
              ("PMI_SIZE", "PMI_RANK", "MPI_LOCALRANKID"),                                       # MPICH
              ("PMIX_SIZE", "PMIX_RANK", "PMIX_LOCAL_RANK"))


class CollectiveTimeout(UserError):
    """A collective waited past the timeout: another rank stopped or hangs."""


class EveryRank(UserError):
    """A refusal every rank reaches alike (a check of the input): rank 0 tells it, the others leave quietly."""


class Communicator:
    """One process alone (SINGLE below): every collective is a no-op. The others override the three
    primitives `allreduce_sum`, `barrier`, `abort`."""

    name = "single"
    rank, size = 0, 1

    def allreduce_sum(self, a):
        return a

    def allreduce_mean(self, a):
        if self.size > 1:
            self.allreduce_sum(a)
            a /= self.size
        return a

    def any(self, flag):
        if self.size == 1:
            return bool(flag)
        import numpy as np
        a = self._scalar_array(1.0 if flag else 0.0)
        self.allreduce_sum(a)
        return bool(np.asarray(self._host(a))[0] > 0)

    def barrier(self, timeout=None):
        return None

    def fail(self, exc):
        """`exc` ended this rank's run. Alone: nothing to do (the CLI reports it). Among ranks: its one
        line on stderr, then every rank ends now, so none waits for this one in a collective."""
        if self.size == 1:
            return
        if isinstance(exc, EveryRank):
            if self.rank == 0:
                return
            raise SystemExit(1)
        if isinstance(exc, (UserError, KeyboardInterrupt)):
            what = str(exc) or type(exc).__name__
        else:
            import traceback
            traceback.print_exception(exc, file=sys.stderr)
            what = f"{type(exc).__name__}: {exc}"
        print(f"error: rank {self.rank} of {self.size}: {what}; ending all {self.size} ranks",
              file=sys.stderr, flush=True)
        self.abort(1)

    def abort(self, code):
        sys.exit(code)

    # (host arrays for `any`; a device communicator overrides these)
    def _scalar_array(self, value):
        import numpy as np
        return np.array([value], np.float64)

    def _host(self, a):
        return a


SINGLE = Communicator()


def _wait_until(done, timeout, what, rank):
    """Poll done() (which also drives the collective's progress) until True; spin first (a step's
    collectives are short), then sleep in short naps; past `timeout` seconds, CollectiveTimeout."""
    if done():
        return
    start = time.monotonic()
    while not done():
        waited = time.monotonic() - start
        if waited > timeout:
            raise CollectiveTimeout(f"rank {rank}: no answer from the other ranks for {timeout:g} s in {what}: "
                                    f"one of them stopped or hangs (VAEGAN_COMM_TIMEOUT sets the limit)")
        if waited > 0.002:
            time.sleep(0.0005)


class MPICommunicator(Communicator):
    """MPI through mpi4py. NumPy arrays always; CuPy arrays directly where the MPI is CUDA-aware
    (MPI.Query_cuda_support()), else through a host copy."""

    name = "mpi"

    def __init__(self, timeout=DEFAULT_TIMEOUT, comm=None):
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.timeout = timeout
        query = getattr(MPI, "Query_cuda_support", None)
        self.cuda_aware = bool(query()) if query is not None else False

    def allreduce_sum(self, a):
        if self.size == 1:
            return a
        if _is_cupy(a):
            import cupy
            if not self.cuda_aware:
                host = cupy.asnumpy(a)
                self._allreduce(host)
                a[...] = cupy.asarray(host)
                return a
            cupy.cuda.get_current_stream().synchronize()   # MPI reads device memory outside any stream
        self._allreduce(a)
        return a

    def _allreduce(self, buf):
        if not buf.flags.c_contiguous:
            raise ValueError("all-reduce needs a contiguous array")
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)
        _wait_until(request.Test, self.timeout, f"an all-reduce of {buf.size} values", self.rank)

    def barrier(self, timeout=None):
        if self.size == 1:
            return
        request = self.comm.Ibarrier()
        _wait_until(request.Test, self.timeout if timeout is None else timeout, "a barrier", self.rank)

    def abort(self, code):
        self.comm.Abort(code)


class NCCLCommunicator(Communicator):
    """NCCL through cupyx.distributed (CuPy arrays on this rank's GPU). `backend` is a
    cupyx.distributed NCCLBackend, or anything with its all_reduce(in, out, op, stream) and barrier()
    (the tests' in-process stand-in); `synchronize(timeout, what)` waits for the collective to finish
    (default: poll a CUDA event recorded after it), `abort(code)` ends every rank."""

    name = "nccl"

    def __init__(self, backend, rank, size, timeout=DEFAULT_TIMEOUT, xp=None, synchronize=None, abort=None):
        self.backend, self.rank, self.size, self.timeout = backend, rank, size, timeout
        if xp is None:
            import cupy as xp
        self.xp = xp
        self._synchronize = synchronize or self._poll_event
        self._abort = abort

    @classmethod
    def from_environment(cls, timeout=DEFAULT_TIMEOUT):
        """Each rank on its node's GPU number local_rank (mod the count); NCCL's id passed through MPI."""
        import cupy
        from cupyx.distributed import init_process_group
        from mpi4py import MPI

        world = MPI.COMM_WORLD
        local = int(_launcher_env()[2] or 0)
        cupy.cuda.Device(local % cupy.cuda.runtime.getDeviceCount()).use()
        backend = init_process_group(world.Get_size(), world.Get_rank(), use_mpi=True)
        return cls(backend, world.Get_rank(), world.Get_size(), timeout, xp=cupy,
                   abort=lambda code: world.Abort(code))

    def allreduce_sum(self, a):
        if self.size == 1:
            return a
        if not a.flags.c_contiguous:
            raise ValueError("all-reduce needs a contiguous array")
        self.backend.all_reduce(a, a, "sum")          # in place: NCCL allows in == out
        self._synchronize(self.timeout, f"an all-reduce of {a.size} values")
        return a

    def _poll_event(self, timeout, what):
        event = self.xp.cuda.Event(disable_timing=True)
        event.record()
        _wait_until(lambda: event.done, timeout, what, self.rank)

    def barrier(self, timeout=None):
        if self.size > 1:
            self.backend.barrier()

    def abort(self, code):
        if self._abort is not None:
            self._abort(code)
        os._exit(code)

    def _scalar_array(self, value):
        return self.xp.asarray([value], dtype=self.xp.float64)

    def _host(self, a):
        return a.get() if hasattr(a, "get") else a


def _is_cupy(a):
    return type(a).__module__.startswith("cupy")


def _launcher_env():
    """(size, rank, local rank) as strings from the launcher's variables, or (None, None, None)."""
    for size, rank, local in _LAUNCHERS:
        if size in os.environ:
            return os.environ[size], os.environ.get(rank), os.environ.get(local)
    return None, None, None


def world_size():
    """How many ranks a launcher (mpirun, mpiexec) started, without starting MPI: 1 when none did."""
    size = _launcher_env()[0]
    try:
        return max(int(size), 1) if size is not None else 1
    except ValueError:
        return 1


def from_environment(backend_name):
    """The communicator for this process: SINGLE unless a launcher started several ranks; then MPI for
    the NumPy backend and NCCL for the GPU ones (VAEGAN_COMM=mpi: CUDA-aware MPI instead)."""
    if world_size() == 1:
        return SINGLE
    try:
        timeout = float(os.environ.get("VAEGAN_COMM_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        raise UserError(f"VAEGAN_COMM_TIMEOUT must be a number of seconds, got "
                        f"{os.environ['VAEGAN_COMM_TIMEOUT']!r}") from None
    if not timeout > 0:
        raise UserError(f"VAEGAN_COMM_TIMEOUT must be above 0 seconds, got {timeout:g}")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        raise UserError(f"started as one of {world_size()} ranks, but mpi4py is not installed: "
                        f"pip install -e '.[mpi]'") from None
    kind = os.environ.get("VAEGAN_COMM", "mpi" if backend_name == "numpy" else "nccl")
    if kind not in ("mpi", "nccl"):
        raise UserError(f"VAEGAN_COMM must be 'mpi' or 'nccl', got {kind!r}")
    if kind == "nccl":
        return NCCLCommunicator.from_environment(timeout)
    return MPICommunicator(timeout)
