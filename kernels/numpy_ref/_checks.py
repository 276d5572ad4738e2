"""Small argument checks the NumPy reference adds to kernels/shapes.py (same style: ValueError naming
the argument), and the one rule that keeps float32 float32: python or NumPy float64 scalars are cast
to the input's dtype before they touch an array."""
import numpy as np

from kernels.shapes import check_float, check_number  # noqa: F401  (re-exported for the ops)


def check_array(name, a, dtype=None):
    """`a` is a NumPy float array (of `dtype` when given: every input of an op shares x's dtype)."""
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a NumPy array, got {type(a).__name__}")
    check_float(name, a)
    if dtype is not None and a.dtype != dtype:
        raise ValueError(f"{name} must have dtype {dtype} like the other inputs, got {a.dtype}")


def check_shape(name, a, shape):
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(a.shape)}")


def check_shape_tuple(name, shape, rank):
    if not (isinstance(shape, (tuple, list)) and len(shape) == rank
            and all(isinstance(s, (int, np.integer)) and s > 0 for s in shape)):
        raise ValueError(f"{name} must be a tuple of {rank} positive ints, got {shape!r}")
    return tuple(int(s) for s in shape)


def like(shape, dtype):
    """A zero-memory stand-in array of `shape` (all strides 0), so that the shape checks of
    kernels/shapes.py, written for arrays, also validate an op that receives a shape."""
    return np.broadcast_to(np.zeros((), dtype), shape)


def scalar(value, dtype):
    """`value` as a scalar of `dtype`: np.float64(0.2) * float32 array would give float64."""
    return np.dtype(dtype).type(value)
