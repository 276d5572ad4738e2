"""Where the CuPy backend's arrays live, where its buffers come from, and how a kernel is launched.

Three things every launcher needs, in one place:

* `xp()`: the array module of the backend's arrays, CuPy. `use_host(numpy, runner)` switches it to
  NumPy and hands every launch to `runner` instead of the GPU: test support, so that the launchers and
  the kernels (compiled for the host by tests/test_cupy_host.py) can run on a machine without a GPU.
* `empty()`: every buffer an op allocates. `set_poison(True)` fills each new buffer with NaN before
  any kernel writes it, so an element a kernel forgets to write cannot pass a test (a zero-filled or
  reused buffer could hide it). Poisoning costs one extra pass over each output; off by default.
* `launch()` and the typed scalars. CuPy passes a Python int to a kernel as a 64-bit integer and a
  Python float as a double, whatever the kernel's parameter is; a mismatch silently shifts every
  later argument. So every scalar argument is wrapped here in the exact C type the kernel declares:
  `i32` for int, `i64` for long long, `f64` for double, and `real(dtype, v)` for a parameter of the
  template type T (float or double, the dtype of the arrays).
"""
import numpy

from . import loader

try:  # importing CuPy works without a GPU; only using an array fails
    import cupy
except ImportError:  # pragma: no cover - the [cuda] extra installs it
    cupy = None


class _Settings:
    xp = cupy          # array module of inputs, outputs and scratch buffers
    runner = None      # None: NVRTC and the GPU; else runner(file, name, dtype, grid, block, args) does the launch
    poison = False


_settings = _Settings()


def xp():
    """The array module of this backend's arrays (cupy, or numpy under use_host)."""
    if _settings.xp is None:
        raise RuntimeError("the CuPy backend needs cupy: pip install -e .[cuda]")
    return _settings.xp


def use_host(array_module, runner):
    """Keep arrays in `array_module` and run every kernel through `runner` (None, None: back to the GPU)."""
    _settings.xp = cupy if array_module is None else array_module
    _settings.runner = runner


def set_poison(flag):
    """Fill every buffer `empty()` returns from now on with NaN (True) or leave it uninitialised."""
    _settings.poison = bool(flag)


def poisoning():
    return _settings.poison


def empty(shape, dtype):
    """An uninitialised array of the backend (NaN-filled while poisoning is on)."""
    a = xp().empty(shape, dtype)
    if _settings.poison:
        a.fill(numpy.nan)
    return a


# --- typed scalar arguments ----------------------------------------------------------------------

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
    if _settings.runner is not None:
        _settings.runner(filename, name, numpy.dtype(dtype), plan.grid, plan.block, args)
        return
    loader.kernel(filename, name, dtype)(plan.grid, plan.block, args)
