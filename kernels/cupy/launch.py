"""Calling a compiled kernel: typed scalar arguments, and the launch itself.

CuPy passes a Python int to a kernel as a 64-bit integer and a Python float as a double, whatever
the kernel's parameter is; a mismatch silently shifts every later argument. So every scalar argument
is wrapped here in the exact C type the kernel declares: `i32` for int, `i64` for long long, `f64` for
double, and `real(dtype, v)` for a parameter of the template type T.
"""
import numpy

from . import loader


def i32(v):
    v = int(v)
    if not -2**31 <= v < 2**31:
        raise ValueError(f"{v} does not fit the kernel's 32-bit int argument")
    return numpy.int32(v)


def i64(v):
    return numpy.int64(int(v))


def f64(v):
    return numpy.float64(v)


def real(dtype, v):
    """A scalar of the template type T (float or double): the dtype of the arrays."""
    return numpy.dtype(dtype).type(v)


def launch(filename, name, dtype, plan, *args):
    """Run kernel `name<T>` of `filename` (T from dtype) with geometry `plan` (a plan.Launch)."""
    if plan.empty:
        return
    loader.kernel(filename, name, dtype)(plan.grid, plan.block, args)
