"""Argument checks of the Triton backend: the reference's checks, on this backend's arrays.

Every launcher validates its arguments in the same order and with the same shared checks as the NumPy
reference (kernels/numpy_ref), so that a bad call raises the same ValueError, naming the same argument,
on every backend and before any kernel is launched. The checks that only read shapes and numbers are the
reference's own (kernels/shapes.py, kernels/numpy_ref/_checks.py); the one that differs is what counts
as an array: here, an array of the backend's array module (CuPy on the GPU, NumPy under the interpreter).
Where the reference keeps an op's checks in a function of their own, the launcher calls that function
on `stand_in`s: NumPy arrays of the arguments' shapes and dtypes that occupy no memory.
"""
from kernels.numpy_ref._checks import check_number, check_shape, check_shape_tuple, like  # noqa: F401
from kernels.shapes import check_float

from . import runtime


def check_array(name, a, dtype=None):
    """`a` is a float32/float64 array of this backend (of `dtype` when given: an op's inputs share x's)."""
    stand_in(name, a)
    check_float(name, a)
    if dtype is not None and a.dtype != dtype:
        raise ValueError(f"{name} must have dtype {dtype} like the other inputs, got {a.dtype}")


def stand_in(name, a):
    """`a` (an array of this backend, checked as such) as a zero-memory NumPy array of its shape and
    dtype: all that the reference's checks read. None stays None."""
    if a is None:
        return None
    module = runtime.xp()
    if not isinstance(a, module.ndarray):
        raise ValueError(f"{name} must be a {module.__name__} array of the triton backend (convert it with "
                         f"asarray), got {type(a).__name__}")
    return like(a.shape, a.dtype)


def contiguous(*arrays):
    """The arrays in C order (no copy for those that already are): kernels index them as flat memory."""
    module = runtime.xp()   # (ascontiguousarray would also turn a 0-d array into a 1-d one)
    out = tuple(a if a is None or a.flags.c_contiguous else module.ascontiguousarray(a) for a in arrays)
    return out if len(out) > 1 else out[0]
