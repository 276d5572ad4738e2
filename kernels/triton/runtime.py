"""Where the Triton backend's arrays live, and how a kernel gets to see them.

A Triton kernel takes pointers. Triton's launcher accepts any object with a `data_ptr()` method and a
`dtype`, so nothing here needs PyTorch: on the GPU the backend's arrays are CuPy arrays, and `launch()`
hands each one to Triton through `DevicePointer`, a two-field adapter. That is the one place where an
array becomes a pointer; every launcher in this package goes through it.

The same launchers also run, unchanged, on NumPy arrays through Triton's interpreter (TRITON_INTERPRET=1),
which is how the kernels are tested on machines without a GPU. `use_arrays(numpy, wrap)` switches the
array module and the pointer adapter; the adapter for host arrays is test support (tests/triton_shim.py),
not part of this package. `compile_only()` records launches instead of running them, so that the
ahead-of-time compile test compiles exactly what the launchers launch.

Settings, module-wide:
    set_precision("ieee" | "tf32")   how tl.dot multiplies float32 tiles: "ieee" is exact float32 (the
                                     default), "tf32" uses the tensor cores' 10-bit-mantissa inputs.
                                     float64 always runs "ieee".
    set_poison(True)                 every output and scratch buffer is filled with NaN before the kernel
                                     writes it, so an element a kernel forgets to write cannot pass a test.
    set_forced_config(i | None)      every autotuned kernel launches its i-th config (modulo the number of
                                     configs) instead of tuning: i = 0 skips tuning (a short GPU check),
                                     and the interpreter tests run each config in turn. None (the default)
                                     tunes. The environment variable VAEGAN_TRITON_CONFIG=i sets it at import.

Launching Triton without PyTorch: Triton 3.6's CUDA driver asks PyTorch for the current device and
stream. `_CupyDriver` answers from CuPy instead, so our kernels run on CuPy's current stream, ordered with
CuPy's own work, and the backend needs no PyTorch at all. Autotuning times its candidates with CuPy's
CUDA events for the same reason.
"""
import contextlib
import functools
import os

import numpy as np
import triton

try:  # the GPU's array module; importing it works without a GPU (only using it fails)
    import cupy
except ImportError:  # pragma: no cover - the [cuda] extra installs it
    cupy = None

PRECISIONS = ("ieee", "tf32")


class DevicePointer:
    """What Triton needs of a CuPy array: its address and its element type."""

    __slots__ = ("ptr", "dtype")

    def __init__(self, array):
        self.ptr = array.data.ptr
        self.dtype = array.dtype  # str(dtype) is "float32": Triton maps that name to fp32

    def data_ptr(self):
        return self.ptr


class _Settings:
    xp = cupy                  # array module of inputs and outputs
    wrap = DevicePointer       # array -> object with data_ptr() and dtype
    on_gpu = True              # False in host mode: no CUDA driver, no CuPy timing
    precision = "ieee"
    poison = False
    forced_config = None       # index into an autotuned kernel's configs, or None to tune
    launches = None            # a list while compile_only() is active


_settings = _Settings()


def use_arrays(array_module, wrap):
    """Keep arrays in `array_module` and hand them to kernels through `wrap`; returns the previous pair,
    so that a caller can switch back. The default is CuPy with DevicePointer; the interpreter tests run
    a private copy of this package on NumPy arrays with a host adapter (tests/triton_shim.py)."""
    previous = (_settings.xp, _settings.wrap)
    _settings.xp = array_module
    _settings.wrap = wrap
    _settings.on_gpu = array_module is cupy
    return previous


def xp():
    """The array module of this backend's arrays (cupy on the GPU)."""
    if _settings.xp is None:
        raise RuntimeError("the Triton backend needs cupy: pip install -e .[cuda]")
    return _settings.xp


def set_precision(name):
    """Choose how tl.dot multiplies float32: "ieee" (exact) or "tf32" (tensor cores, ~1e-3 relative)."""
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    _settings.precision = name


def get_precision():
    return _settings.precision


def dot_precision(dtype):
    """The input_precision for tl.dot on `dtype`: TF32 exists for float32 only."""
    return "ieee" if str(dtype) == "float64" else _settings.precision


def set_poison(on=True):
    """Fill every buffer the backend allocates with NaN before a kernel writes it (for tests)."""
    _settings.poison = bool(on)


def set_forced_config(index):
    """Launch every autotuned kernel with its config number `index` (taken modulo its number of configs)
    instead of tuning; None restores tuning. Returns the previous setting."""
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
        raise ValueError(f"forced config must be a non-negative int or None, got {index!r}")
    previous = _settings.forced_config
    _settings.forced_config = index
    return previous


def _forced_from_environment():
    value = os.environ.get("VAEGAN_TRITON_CONFIG", "").strip()
    if value:
        if not value.isdigit():
            raise ValueError(f"VAEGAN_TRITON_CONFIG must be a config index (0, 1, ...), got {value!r}")
        set_forced_config(int(value))


def empty(shape, dtype):
    """Every output and scratch buffer of the backend comes from here."""
    out = xp().empty(shape, dtype)
    if _settings.poison:
        out.fill(np.nan)
    return out


def parallelism():
    """How many programs keep the device busy: a few per streaming multiprocessor on the GPU; on the
    interpreter a handful, so that multi-program reductions are still exercised on small shapes."""
    if not _settings.on_gpu:
        return 4
    return 4 * _multiprocessors(cupy.cuda.runtime.getDevice())


@functools.lru_cache(maxsize=None)
def _multiprocessors(device):
    return cupy.cuda.runtime.deviceGetAttribute(cupy.cuda.runtime.cudaDevAttrMultiProcessorCount, device)


def cdiv(a, b):
    return -(-a // b)


# --- launching ------------------------------------------------------------------------------------

def _to_argument(value):
    if isinstance(value, _settings.xp.ndarray):
        return _settings.wrap(value)
    if isinstance(value, np.integer):   # Triton specialises Python ints only
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def launch(kernel, grid, *args, **meta):
    """kernel[grid](*args, **meta), with arrays handed over as pointers. `meta` holds the constexprs
    the launcher fixes (the autotuner adds its own)."""
    args = [_to_argument(a) for a in args]
    if _settings.launches is not None:
        _settings.launches.append((kernel, args, meta))
        return
    if _settings.on_gpu:
        _use_cupy_driver()
    if _settings.forced_config is not None and isinstance(kernel, triton.runtime.Autotuner):
        # what the autotuner would do once it had chosen: its jit function with the config's meta
        config = kernel.configs[_settings.forced_config % len(kernel.configs)]
        kernel.fn[grid](*args, **meta, **config.all_kwargs())
        return
    kernel[grid](*args, **meta)


@contextlib.contextmanager
def compile_only():
    """Inside this block a launch runs nothing: it is recorded as (kernel, arguments, constexprs), the
    kernel being the autotuner or @triton.jit function the launcher called. Yields the list of records.
    The ahead-of-time compile test (tests/test_triton_compile.py) drives the launchers through this, so
    that what it compiles is what they launch: the same signatures, constexprs and autotuning configs."""
    _settings.launches = launches = []
    try:
        yield launches
    finally:
        _settings.launches = None


# --- autotuning -----------------------------------------------------------------------------------

def _time_with_cupy_events(kernel_call, quantiles, warmup=3, repeats=20):
    """Milliseconds per call at `quantiles`, measured with CUDA events on CuPy's current stream."""
    for _ in range(warmup):
        kernel_call()
    stream = cupy.cuda.get_current_stream()
    times = []
    for _ in range(repeats):
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record(stream)
        kernel_call()
        end.record(stream)
        end.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, end))
    times.sort()
    return [times[min(len(times) - 1, int(q * len(times)))] for q in quantiles]


def _first_config(kernel_call, quantiles):
    """The interpreter cannot time anything: every config scores 0 and the autotuner keeps the first."""
    return [0.0] * len(quantiles)


def autotune(configs, key):
    """triton.autotune over `configs`, re-tuned whenever the arguments named in `key` change (and the
    dtype of the arrays). Kernels decorated under the interpreter take the first config untimed."""
    do_bench = _first_config if triton.knobs.runtime.interpret else _time_with_cupy_events
    return triton.autotune(configs=configs, key=key, do_bench=do_bench)


# --- Triton's CUDA driver, answered by CuPy -------------------------------------------------------

_cupy_driver = None


def _use_cupy_driver():
    global _cupy_driver
    if _cupy_driver is None:
        _cupy_driver = _make_cupy_driver()
    if getattr(triton.runtime.driver, "_active", None) is not _cupy_driver:
        triton.runtime.driver.set_active(_cupy_driver)


def _make_cupy_driver():
    from triton.backends.nvidia.driver import CudaDriver, CudaLauncher, CudaUtils

    class _CupyDriver(CudaDriver):
        """Triton's CUDA driver with CuPy, not PyTorch, naming the device and the stream."""

        def __init__(self):  # CudaDriver.__init__ would import torch
            self.utils = CudaUtils()
            self.launcher_cls = CudaLauncher
            self.get_current_device = cupy.cuda.runtime.getDevice
            self.set_current_device = cupy.cuda.runtime.setDevice
            self.get_current_stream = lambda device=None: cupy.cuda.get_current_stream().ptr
            self.get_device_capability = lambda device: divmod(int(cupy.cuda.Device(device).compute_capability), 10)

    return _CupyDriver()


_forced_from_environment()
