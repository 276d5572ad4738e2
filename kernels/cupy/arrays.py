"""What an array is on the CuPy backend (the contract's hook, kernels/contract.py), and the layout
helpers of the launchers.

Every argument of an op is checked before the launcher runs (kernels/contract.py): an array must be a
CuPy device array, of the one float dtype the op works in. The kernels index raw memory, so the
launchers then take C-contiguous versions of their inputs (contiguous(): a no-op for arrays that already
are); an op that writes into its arguments (adam_step) must not get a copy, so for this backend the
contract refuses a param, m or v that is not C-contiguous (shapes.check_in_place) instead.
"""
import numpy

from kernels.contract import Arrays

from .runtime import xp


class CupyArrays(Arrays):
    """The arrays of this backend: CuPy device arrays (NumPy ones when runtime.use_host runs it on the host)."""

    in_place_needs_c_order = True

    def module(self):
        return xp()

    def not_an_array(self, name, a):
        return f"{name} must be a CuPy device array (see asarray), got {type(a).__name__}"

    def other_dtype(self, name, a, first_name, first):
        return f"{name} must have dtype {first.dtype} like {first_name}, got {a.dtype}"

    def is_array(self, name, a):
        if isinstance(a, numpy.ndarray) and xp() is not numpy:
            raise ValueError(f"{name} must be a CuPy device array (see asarray) or a number, got a NumPy array")
        return isinstance(a, xp().ndarray)


def contiguous(*arrays):
    """The arrays in C order (no copy for those that already are; None stays None): kernels index them
    as flat memory."""
    return [None if a is None else xp().ascontiguousarray(a) for a in arrays]


def layout(x):
    """(N, C, S) of a 2-D (N, F) or 4-D (N, C, H, W) tensor: the view every per-channel kernel takes."""
    if x.ndim == 4:
        return x.shape[0], x.shape[1], x.shape[2] * x.shape[3]
    if x.ndim == 2:
        return x.shape[0], x.shape[1], 1
    raise ValueError(f"x must have rank 2 or 4, got shape {tuple(x.shape)}")
