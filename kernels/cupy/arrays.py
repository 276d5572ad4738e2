"""Argument checks for the CuPy launchers, on top of the ones every backend shares.

The kernels index raw memory, so before a launch every array argument must be an array of this
backend (a CuPy device array), of the one float dtype the op works in, and C-contiguous. `inputs()`
checks the first two and returns contiguous versions (a no-op for arrays that already are); an op
that writes into its arguments (adam_step) must not get a copy, so shapes.check_in_place refuses instead.
A wrong argument raises ValueError naming it, as in the NumPy reference.

The number and shape checks are the reference's own (kernels/shapes.py and kernels/numpy_ref/_checks.py),
so that a wrong call fails with the same message on every backend.
"""
from kernels import shapes
from kernels.numpy_ref._checks import check_number, check_shape, check_shape_tuple, like  # noqa: F401

from .runtime import xp


def inputs(**named):
    """Check named arrays (None passes through) and return them, C-contiguous, in the order given.

    All must be arrays of the backend, float32 or float64, and all of the dtype of the first one."""
    dtype = None
    first = None
    out = []
    for name, a in named.items():
        if a is None:
            out.append(None)
            continue
        if not isinstance(a, xp().ndarray):
            raise ValueError(f"{name} must be a CuPy device array (see asarray), got {type(a).__name__}")
        shapes.check_float(name, a)
        if dtype is None:
            dtype, first = a.dtype, name
        elif a.dtype != dtype:
            raise ValueError(f"{name} must have dtype {dtype} like {first}, got {a.dtype}")
        out.append(xp().ascontiguousarray(a))
    return out


def layout(x):
    """(N, C, S) of a 2-D (N, F) or 4-D (N, C, H, W) tensor: the view every per-channel kernel takes."""
    if x.ndim == 4:
        return x.shape[0], x.shape[1], x.shape[2] * x.shape[3]
    if x.ndim == 2:
        return x.shape[0], x.shape[1], 1
    raise ValueError(f"x must have rank 2 or 4, got shape {tuple(x.shape)}")
