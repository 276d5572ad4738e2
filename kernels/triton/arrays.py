"""What an array is on the Triton backend (the contract's hook, kernels/contract.py), and contiguous().

Every argument of an op is checked before the launcher runs, by the same checks, in the same order, as on
every backend (kernels/contract.py), so that a bad call raises the same ValueError, naming the same
argument, before any kernel is launched. What differs is what counts as an array: here, an array of the
backend's array module (CuPy on the GPU, NumPy under the interpreter).
"""
from kernels.contract import Arrays

from . import runtime


class TritonArrays(Arrays):
    """The arrays of this backend: those of runtime.xp() (cupy, or numpy when interpreted)."""

    in_place_needs_c_order = True

    def module(self):
        return runtime.xp()

    def not_an_array(self, name, a):
        return (f"{name} must be a {runtime.xp().__name__} array of the triton backend (convert it with "
                f"asarray), got {type(a).__name__}")


contiguous = TritonArrays().contiguous
