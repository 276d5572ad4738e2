"""How many threads a GEMM of this backend runs on: one each while the training step's two lanes run.

NumPy's matmul hands every float32 product to the BLAS it was built with (OpenBLAS, in the wheels
from PyPI), and OpenBLAS splits each product over its own pool of threads, one per core by default
(OPENBLAS_NUM_THREADS sets it for the process). That is the right split for one product. For the
training step it is not: a step is some 200 small convolutions, and around every GEMM sit copies
(im2col, col2im, batch-norm, the activations) that run on the calling thread alone, so the second
core waits through all of them. The step therefore runs in two lanes on two Python threads
(vaegan/lanes.py), each lane's products on one BLAS thread: both cores then do the copies as well as
the products.

OpenBLAS 0.3.27 and later has `openblas_set_num_threads_local(n)`: it sets the count the calling
code's GEMMs use and returns the one before. Despite its name, in the pthreads builds NumPy's wheels
ship the count it sets is the process's (a thread sees the count another thread set: measured), so
`one_blas_thread()` is entered by the thread that starts the lanes before the second lane starts, and
left after both have ended; the lane thread's own entry is nested inside it and restores what it found.
Where the count is one per thread (OpenBLAS built on OpenMP) the same nesting is right too. This file
finds that function in the OpenBLAS this process has loaded. Where there is none (a NumPy built on MKL
or Accelerate, an older OpenBLAS), `available()` is False and the step runs its lanes one after the
other on the BLAS's own threads, as before.
"""
import contextlib
import ctypes
import threading

# the names OpenBLAS's builds give the two functions (scipy-openblas, NumPy's wheels, prefixes some:
# its process-wide getter is scipy_openblas_get_num_threads64_)
_GET_GLOBAL = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads", "openblas_get_num_threads")
_SET_LOCAL = ("openblas_set_num_threads_local", "scipy_openblas_set_num_threads_local64_",
              "scipy_openblas_set_num_threads_local")

_found = {}
_lock = threading.Lock()


def openblas_libraries():
    """Paths of the OpenBLAS shared libraries this process has loaded (Linux; elsewhere none)."""
    import numpy  # noqa: F401 - loading NumPy loads its BLAS

    try:
        with open("/proc/self/maps") as maps:
            return sorted({line.split()[-1] for line in maps if "openblas" in line and ".so" in line})
    except OSError:
        return []


def _functions():
    """(process-wide thread count getter, per-thread setter) of the loaded OpenBLAS, or (None, None)."""
    with _lock:
        if not _found:
            _found["get"] = _found["set"] = None
            for path in openblas_libraries():
                try:
                    library = ctypes.CDLL(path)
                except OSError:
                    continue
                get = next((getattr(library, s) for s in _GET_GLOBAL if hasattr(library, s)), None)
                set_local = next((getattr(library, s) for s in _SET_LOCAL if hasattr(library, s)), None)
                if get is not None and set_local is not None:
                    get.restype = ctypes.c_int
                    set_local.argtypes, set_local.restype = (ctypes.c_int,), ctypes.c_int
                    _found["get"], _found["set"] = get, set_local
                    break
        return _found["get"], _found["set"]


def available():
    """True where the loaded OpenBLAS has openblas_set_num_threads_local (0.3.27 and later)."""
    return _functions()[1] is not None


def process_threads():
    """The BLAS's process-wide thread count (OPENBLAS_NUM_THREADS, or one per core), or None unknown."""
    get = _functions()[0]
    return int(get()) if get is not None else None


@contextlib.contextmanager
def one_blas_thread():
    """While inside: the GEMMs this thread calls (in NumPy's wheels: every thread) run on one BLAS
    thread. Restores the count it found on the way out, so entries must nest (see above). Does nothing
    where the BLAS has no such setting."""
    set_local = _functions()[1]
    if set_local is None:
        yield
        return
    before = set_local(1)
    try:
        yield
    finally:
        set_local(before)
