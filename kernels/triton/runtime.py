"""Where the Triton backend's arrays live, and how a kernel gets to see them.

A Triton kernel takes pointers. Triton's launcher accepts any object with a `data_ptr()` method and a
`dtype`, so nothing here needs PyTorch: on the GPU the backend's arrays are CuPy arrays, and `launch()`
hands each one to Triton through `DevicePointer`, a two-field adapter. That is the one place where an
array becomes a pointer; every launcher in this package goes through it.

The same launchers also run, unchanged, on NumPy arrays through Triton's interpreter (TRITON_INTERPRET=1),
which is how the kernels are tested on machines without a GPU. `use_arrays(numpy, wrap)` switches the
array module and the pointer adapter; the adapter for host arrays is test support (tests/triton_shim.py),
not part of this package. `record_specializations()` runs the launchers through Triton's own JIT as
if on an sm_90 GPU, but stops each launch before it compiles, and keeps what the JIT would have compiled
(bench/warm_caches.py compiles those ahead of time, so that a GPU never waits on a compile).

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
    VAEGAN_TRITON_COMPILE_LOG=path   (environment, read at import) every compile the JIT asks for, found in
                                     the cache or not, is appended to `path` as one line "hit|miss kernel
                                     seconds": bench/gpu_check.sh counts the misses after each step.

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
    recording = False          # True inside record_specializations(): launches compile and run nothing
    recorded_functions = set() # the jit functions launched while recording
    multiprocessors = None     # the SM count parallelism() assumes while recording (the GPU's own otherwise)


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
    if _settings.recording:
        return 4 * _settings.multiprocessors
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
    if _settings.recording:
        # every config the autotuner would try (or the forced one), each through the JIT's own path;
        # warmup: the JIT compiles (unless the recorder's hook stops it) and launches nothing
        for fn, config in _candidates(kernel):
            _settings.recorded_functions.add(fn)
            fn.run(*args, grid=grid, warmup=True, **meta, **config)
        return
    if _settings.on_gpu:
        _use_cupy_driver()
    if _settings.forced_config is not None and isinstance(kernel, triton.runtime.Autotuner):
        # what the autotuner would do once it had chosen: its jit function with the config's meta
        kernel.fn[grid](*args, **meta, **_forced(kernel).all_kwargs())
        return
    kernel[grid](*args, **meta)


def _forced(autotuner):
    return autotuner.configs[_settings.forced_config % len(autotuner.configs)]


def _candidates(kernel):
    """(jit function, config keywords) for every compile a launch of `kernel` can cause: one for a plain
    kernel; for an autotuned one, the forced config, or every config (the autotuner compiles and times
    each of them the first time it sees a key)."""
    if not isinstance(kernel, triton.runtime.Autotuner):
        return [(kernel, {})]
    configs = [_forced(kernel)] if _settings.forced_config is not None else kernel.configs
    return [(kernel.fn, config.all_kwargs()) for config in configs]


# --- what the JIT compiles, recorded without a GPU -------------------------------------------------

SM90 = ("cuda", 90, 32)        # triton GPUTarget(backend, arch, warp size) of the H100 and the H200
H100_MULTIPROCESSORS = 132     # the SM count of the H100 SXM and the H200
RECORDING_DEVICE = -1          # the device number the JIT sees while recording (its caches stay apart)


class _RecordingDriver:
    """What Triton's JIT asks of a driver before it compiles: the target, a device and a stream."""

    def __init__(self, target):
        self.target = target

    def get_current_target(self):
        return self.target

    def get_current_device(self):
        return RECORDING_DEVICE

    def get_current_stream(self, device=None):
        return 0


@contextlib.contextmanager
def record_specializations(target=SM90, multiprocessors=H100_MULTIPROCESSORS, compile=False):
    """Inside this block a launch runs nothing. It goes through Triton's JIT (`run`, as a warm-up) as on
    a GPU of `target` with `multiprocessors` SMs, and the JIT's cache hook keeps the specialization
    data (Triton's own JSON) of every compile the launch causes. Yields the list of those JSON strings,
    in order, repeats included. With compile=False the hook then stops the JIT before it compiles; with
    compile=True the JIT goes on as it would on the GPU: it looks the kernel up in TRITON_CACHE_DIR and
    compiles it there if it is missing.

    What the JIT specialises is what this records, since it is the JIT that computes it: pointer types
    from the arrays' dtypes, an int equal to 1 as a constexpr, ints and pointers divisible by 16 marked
    as such (so host arrays stand in for device ones: both are allocated 16-byte aligned, and a view
    has the same offset on either), the autotuner's configs. The launchers must run on host arrays
    (use_arrays(numpy, wrap) with a `wrap` that has data_ptr() and dtype)."""
    from triton import knobs
    from triton.backends.compiler import GPUTarget
    from triton.runtime import driver

    records = []

    go_on = compile   # the hook's own keyword argument is called `compile` too

    def keep(*, compile, **_):
        records.append(compile["specialization_data"])
        return None if go_on else True   # True: "handled", the JIT compiles nothing and returns

    previous = (driver._active, knobs.runtime.jit_cache_hook, _settings.recording, _settings.multiprocessors)
    driver.set_active(_RecordingDriver(GPUTarget(*target)))
    knobs.runtime.jit_cache_hook = keep
    _settings.recording, _settings.multiprocessors = True, multiprocessors
    try:
        yield records
    finally:
        driver._active, knobs.runtime.jit_cache_hook, _settings.recording, _settings.multiprocessors = previous
        # the JIT's in-memory caches of the recording device go: a later recording must see every
        # compile again, and a kernel compiled here (compile=True) must be looked up again
        for fn in _settings.recorded_functions:
            fn.device_caches.pop(RECORDING_DEVICE, None)
        _settings.recorded_functions.clear()


@contextlib.contextmanager
def as_target(target=SM90):
    """Triton's JIT and compiler see a GPU of `target` (with no GPU present): for compiling ahead of
    time, e.g. JITFunction.preload() of recorded specializations."""
    from triton.backends.compiler import GPUTarget
    from triton.runtime import driver

    previous = driver._active
    driver.set_active(_RecordingDriver(GPUTarget(*target)))
    try:
        yield
    finally:
        driver._active = previous


def _log_compiles_to(path):
    """Triton's compilation listener, appending one line per compile the JIT asks for: hit or miss (found
    in TRITON_CACHE_DIR or compiled), the kernel's name, seconds."""
    from triton import knobs

    def listener(*, src, metadata, metadata_group, times, cache_hit, **_):
        seconds = times.total / 1e6 if times is not None else 0.0   # CompileTimes are microseconds
        with open(path, "a") as log:
            log.write(f"{'hit' if cache_hit else 'miss'} {metadata.get('name', '?')} {seconds:.2f}\n")

    knobs.compilation.listener = listener


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
if os.environ.get("VAEGAN_TRITON_COMPILE_LOG"):
    _log_compiles_to(os.environ["VAEGAN_TRITON_COMPILE_LOG"])
