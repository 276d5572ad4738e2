"""Argument checks for the CuPy launchers, on top of kernels/shapes.py (shared by every backend).

The kernels index raw memory, so before a launch every array argument must be a CuPy device array, of
the one float dtype the op works in, and C-contiguous. `inputs()` checks the first two and returns
contiguous versions (a no-op for arrays that already are). A wrong argument raises ValueError naming it.
"""
import cupy

from kernels import shapes


def inputs(**named):
    """Check named arrays (None passes through) and return them, C-contiguous, in the order given.

    All must be CuPy arrays of float32 or float64, and all of the same dtype as the first one."""
    dtype = None
    first = None
    out = []
    for name, a in named.items():
        if a is None:
            out.append(None)
            continue
        if not isinstance(a, cupy.ndarray):
            raise ValueError(f"{name} must be a CuPy device array (see asarray), got {type(a).__name__}")
        shapes.check_float(name, a)
        if dtype is None:
            dtype, first = a.dtype, name
        elif a.dtype != dtype:
            raise ValueError(f"{name} must have the dtype of {first} ({dtype}), got {a.dtype}")
        out.append(cupy.ascontiguousarray(a))
    return out


def check_shape(name, a, shape):
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(a.shape)}")


def layout(x):
    """(N, C, S) of a 2-D (N, F) or 4-D (N, C, H, W) tensor: the view every per-channel kernel takes."""
    if x.ndim == 4:
        return x.shape[0], x.shape[1], x.shape[2] * x.shape[3]
    if x.ndim == 2:
        return x.shape[0], x.shape[1], 1
    raise ValueError(f"x must have rank 2 or 4, got shape {tuple(x.shape)}")
