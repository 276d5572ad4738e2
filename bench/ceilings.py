"""The device's ceilings, measured in the same run as the kernels they judge.

    copy     GB/s of a large device-to-device copy, counting the bytes read plus the bytes written
             (so an element-wise op that reads one array and writes one is compared like for like)
    fp32     TFLOP/s of a large float32 matrix product: cuBLAS through cupy.matmul on the GPU, NumPy's
             BLAS (np.matmul) on the CPU; 2*n^3 FLOPs for n x n times n x n
    tf32     the same product with cuBLAS allowed to use TF32 tensor cores (GPU only; CuPy's compute
             type for float32 set to TF32 for the measurement, as CUPY_TF32=1 would, then restored)

Inputs are random (never zeros: zeros can run faster than real data) and the median of several runs
is kept (bench/timing.py). Sizes: 512 MiB per copy buffer and n = 8192 on the GPU; 256 MiB and
n = 2048 on the CPU (a few seconds on two cores). Both far exceed every cache.
"""
import contextlib

import numpy as np

from .timing import CpuClock, CupyClock, median_ms

GPU_COPY_BYTES, GPU_GEMM_N = 512 << 20, 8192
CPU_COPY_BYTES, CPU_GEMM_N = 256 << 20, 2048


def _rates(copy_ms, copy_bytes, gemm_ms, n):
    return 2 * copy_bytes / copy_ms / 1e6, 2 * n ** 3 / gemm_ms / 1e9   # GB/s, TFLOP/s


def cpu_ceilings(copy_bytes=CPU_COPY_BYTES, gemm_n=CPU_GEMM_N, repeats=5):
    clock = CpuClock()
    rng = np.random.default_rng(0)
    src = rng.standard_normal(copy_bytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    copy_ms, _ = median_ms(lambda i: np.copyto(dst, src), clock, warmup=1, repeats=repeats, budget_s=5)
    a = rng.standard_normal((gemm_n, gemm_n), dtype=np.float32)
    b = rng.standard_normal((gemm_n, gemm_n), dtype=np.float32)
    gemm_ms, _ = median_ms(lambda i: np.matmul(a, b), clock, warmup=1, repeats=repeats, budget_s=5)
    copy, fp32 = _rates(copy_ms, copy_bytes, gemm_ms, gemm_n)
    return {"copy_GBps": copy, "fp32_TFLOPs": fp32, "tf32_TFLOPs": None,
            "how": f"np.copyto of {copy_bytes >> 20} MiB; np.matmul float32 n={gemm_n}"}


@contextlib.contextmanager
def cupy_float32_compute(compute_type):
    """cupy.matmul on float32 with cuBLAS compute type `compute_type` inside the block."""
    from cupy._core import _routines_linalg as linalg
    before = linalg.get_compute_type(np.float32)
    linalg.set_compute_type(np.float32, compute_type)
    try:
        yield
    finally:
        linalg.set_compute_type(np.float32, before)


def gpu_ceilings(copy_bytes=GPU_COPY_BYTES, gemm_n=GPU_GEMM_N, repeats=20):
    import cupy
    from cupy._core import _routines_linalg as linalg
    clock = CupyClock()
    src = cupy.random.standard_normal(copy_bytes // 4, dtype=cupy.float32)
    dst = cupy.empty_like(src)
    copy_ms, _ = median_ms(lambda i: dst.data.copy_from_device(src.data, copy_bytes), clock,
                           warmup=3, repeats=repeats, budget_s=5)
    a = cupy.random.standard_normal((gemm_n, gemm_n), dtype=cupy.float32)
    b = cupy.random.standard_normal((gemm_n, gemm_n), dtype=cupy.float32)
    with cupy_float32_compute(linalg.COMPUTE_TYPE_FP32):
        fp32_ms, _ = median_ms(lambda i: cupy.matmul(a, b), clock, warmup=3, repeats=repeats, budget_s=5)
    with cupy_float32_compute(linalg.COMPUTE_TYPE_TF32):
        tf32_ms, _ = median_ms(lambda i: cupy.matmul(a, b), clock, warmup=3, repeats=repeats, budget_s=5)
    copy, fp32 = _rates(copy_ms, copy_bytes, fp32_ms, gemm_n)
    return {"copy_GBps": copy, "fp32_TFLOPs": fp32, "tf32_TFLOPs": 2 * gemm_n ** 3 / tf32_ms / 1e9,
            "how": f"cudaMemcpy device-to-device of {copy_bytes >> 20} MiB; cupy.matmul float32 n={gemm_n} "
                   f"(cuBLAS compute type FP32, then TF32)"}


def fraction(row_rate, ceilings, kind, precision):
    """The fraction of the matching ceiling a row's rate is: TFLOP/s against the matrix product of the
    same precision, GB/s against the copy."""
    if row_rate is None or ceilings is None:
        return None
    top = ceilings["copy_GBps"] if kind == "GB/s" else ceilings.get(f"{precision}_TFLOPs")
    return row_rate / top if top else None
