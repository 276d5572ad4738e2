"""How every number in bench/ is timed.

    clock = clock_for("gpu")                  # CUDA events on CuPy's stream; "cpu": perf_counter
    ms, runs = median_ms(lambda i: op(copies[i % len(copies)]), clock, warmup=3, repeats=25, budget_s=1.0)

One call is timed at a time, and the median over the calls is reported (robust to the odd slow call).
On the GPU a pair of CUDA events brackets each call and the end event is waited on, so the time is
the device's time for the call, launch gaps included; on the CPU perf_counter brackets it. Warm-up calls
first, so that compilation (NVRTC, Triton's JIT and autotuning), cuBLAS handles and first-touch page
faults stay out of the numbers. The timing stops after `repeats` calls, or earlier once `budget_s`
seconds have passed and at least MIN_RUNS calls are in: slow CPU rows then cost seconds, not minutes.

Inputs rotate among copies (`rotation`): consecutive calls read different buffers, so a layer whose
inputs fit in the L2 (GPU) or last-level (CPU) cache is not timed reading them from cache.
"""
import math
import os
import statistics
import time

MIN_RUNS = 3


class CpuClock:
    name = "perf_counter"

    def sync(self):
        pass

    def measure(self, fn):
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3


class CupyClock:
    """CUDA events recorded on CuPy's current stream (which our backends and cuBLAS-through-CuPy use)."""
    name = "cuda events (cupy)"

    def __init__(self):
        import cupy
        self.cupy = cupy

    def sync(self):
        self.cupy.cuda.get_current_stream().synchronize()

    def measure(self, fn):
        cuda = self.cupy.cuda
        start, end = cuda.Event(), cuda.Event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        return cuda.get_elapsed_time(start, end)


class TorchClock:
    """CUDA events on PyTorch's current stream, for the PyTorch peer on the GPU."""
    name = "cuda events (torch)"

    def __init__(self, torch):
        self.torch = torch

    def sync(self):
        self.torch.cuda.synchronize()

    def measure(self, fn):
        start = self.torch.cuda.Event(enable_timing=True)
        end = self.torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end)


def clock_for(device):
    return CupyClock() if device == "gpu" else CpuClock()


def median_ms(run, clock, warmup, repeats, budget_s):
    """(median milliseconds of run(i) over the timed calls, number of timed calls). run(i) is the i-th
    call; it picks its input copy from i."""
    for i in range(warmup):
        run(i)
    clock.sync()
    times = []
    started = time.perf_counter()
    while len(times) < max(repeats, MIN_RUNS):
        times.append(clock.measure(lambda i=len(times): run(warmup + i)))
        if len(times) >= MIN_RUNS and time.perf_counter() - started > budget_s:
            break
    return statistics.median(times), len(times)


def cpu_cache_bytes():
    """The largest CPU cache (usually the shared last level), from sysfs; 32 MiB where unreadable."""
    sizes = []
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in os.listdir(base):
            with open(os.path.join(base, entry, "size")) as f:
                text = f.read().strip()
            scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1], 1)
            sizes.append(int(text.rstrip("KMG")) * scale)
    except (OSError, ValueError):
        pass
    return max(sizes) if sizes else 32 << 20


def gpu_cache_bytes():
    import cupy
    return int(cupy.cuda.Device().attributes["L2CacheSize"])


def rotation(input_bytes, cache_bytes, memory_budget=2 << 30, most=16):
    """How many copies of an op's inputs to rotate among: enough that the copies together are twice
    the cache (at least 2, at most `most`), within `memory_budget` bytes (at least 1 copy)."""
    want = max(2, math.ceil(2 * cache_bytes / max(input_bytes, 1)))
    fits = max(1, memory_budget // max(input_bytes, 1))
    return int(min(want, most, fits))
