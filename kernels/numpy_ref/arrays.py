"""What an array is on the NumPy backend (the contract's hook, kernels/contract.py), and the one rule
that keeps float32 float32: python or NumPy float64 scalars are cast to the input's dtype before they
touch an array."""
import numpy as np

from kernels.contract import Arrays


class NumpyArrays(Arrays):
    """The arrays of this backend: NumPy arrays."""

    def module(self):
        return np

    def not_an_array(self, name, a):
        return f"{name} must be a NumPy array, got {type(a).__name__}"


def scalar(value, dtype):
    """`value` as a scalar of `dtype`: np.float64(0.2) * float32 array would give float64."""
    return np.dtype(dtype).type(value)
