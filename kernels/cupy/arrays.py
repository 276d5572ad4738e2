"""What an array is on the CuPy backend (the contract's hook, kernels/contract.py), and contiguous().

Every argument of an op is checked before the launcher runs (kernels/contract.py): an array must be a
CuPy device array, of the one float dtype the op works in. The kernels index raw memory, so the
launchers then take C-contiguous versions of their inputs (contiguous(), the contract's Arrays.contiguous:
a no-op for arrays that already are); an op that writes into its arguments (adam_step) must not get a copy, so for this backend the
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


contiguous = CupyArrays().contiguous
