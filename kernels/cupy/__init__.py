"""The CuPy backend: every op of the contract (kernels/api.py) as our own CUDA kernel.

Arrays are CuPy device arrays. The CUDA C sources (*.cu, one idea each) are compiled by NVRTC on first
use through cupy.RawModule (loader.py); thin Python launchers allocate the outputs and launch them. The
ops this package exports check their arguments first, as on every backend (kernels/contract.py, with
arrays.py's idea of an array: a ValueError naming the argument), so a launcher checks only the limits of
its own kernels (32-bit indices, grid sizes). Nothing goes through the host inside an op: losses come
back as 0-d device arrays.

    file                       ops
    conv.py                    conv2d_*                        three variants, see set_conv_variant
    conv_transpose.py          conv_transpose2d_*              the adjoint, on conv.py's three products
    batch_norm.py              batch_norm_*, batch_norm_act_*  (per-channel partial and finish stages)
    linear.py                  linear_*                        (cuBLAS GEMM through cupy.matmul, our bias)
    activations.py             relu, leaky_relu, tanh, sigmoid, forward and backward
    sampler.py                 reparam_*, reparam_kl_*         (sampler and KL fused)
    losses.py                  kl_normal, mse, bce_with_logits
    adam.py                    adam_step                       (one launch over a flat buffer)
    plan.py                    the launch geometry of every kernel
    arrays.py                  what an array is here (CuPy device arrays), contiguous inputs
    runtime.py                 array module, buffers (set_poison), typed scalars, launch

Settings, module-wide: set_conv_variant("im2col" | "implicit" | "implicit_tf32") and set_poison(flag).
"""
import contextlib

import numpy as np

from kernels.api import HELPERS, OPS
from kernels.contract import checked_ops
from kernels.shapes import check_noise_key

from .activations import (leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward,
                          sigmoid_backward, sigmoid_forward, tanh_backward, tanh_forward)
from .adam import adam_step
from .arrays import CupyArrays
from .batch_norm import (batch_norm_act_backward, batch_norm_act_forward, batch_norm_act_inference,
                         batch_norm_backward, batch_norm_forward, batch_norm_inference)
from .conv import (CONV_VARIANTS, conv2d_backward, conv2d_backward_data, conv2d_backward_weight, conv2d_forward,
                   conv_variant, set_conv_variant)
from .conv_transpose import (conv_transpose2d_backward, conv_transpose2d_backward_data,
                             conv_transpose2d_backward_weight, conv_transpose2d_forward)
from .linear import linear_backward, linear_forward
from .losses import bce_with_logits, kl_normal, mse
from .runtime import cupy, poisoning, set_poison
from .sampler import reparam_backward, reparam_forward, reparam_kl_backward, reparam_kl_forward

# Every op of the contract, rebound to its checked version: the argument checks, then the launcher above.
globals().update(checked_ops(globals(), CupyArrays()))

name = "cupy"
xp = cupy


def asarray(a, dtype=None):
    """Host array -> device array. Always a copy, as on every backend."""
    return cupy.array(a, dtype=dtype, copy=True)


def to_numpy(a):
    """Device array -> a host copy."""
    return cupy.asnumpy(a)


_generator = None


def normal(shape, key, dtype):
    """Standard-normal noise of `shape`, drawn on the device, a pure function of `key` (a tuple of
    non-negative ints, e.g. (seed, step, k)), so that a GPU run is reproducible and resumes exactly.

    The key is hashed to a 64-bit seed by NumPy's SeedSequence; cuRAND's Philox generator, reseeded
    with it (offset 0), draws the numbers. Philox is counter-based, so reseeding costs nothing. The
    numbers are not NumPy's for the same key (train.py's --noise host draws those on the host)."""
    global _generator
    check_noise_key(key)
    if str(np.dtype(dtype)) not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    seed = int(np.random.SeedSequence([int(k) for k in key]).generate_state(1, np.uint64)[0])
    if _generator is None:
        from cupy_backends.cuda.libs import curand
        _generator = cupy.random.RandomState(seed, method=curand.CURAND_RNG_PSEUDO_PHILOX4_32_10)
    _generator.seed(seed)
    return _generator.standard_normal(shape, dtype=np.dtype(dtype))


def parallel_lanes():
    """One lane of a training step at a time (vaegan/lanes.py): the device is what runs its work in
    parallel, and two host threads would only take turns launching kernels."""
    return 1


lane_thread = contextlib.nullcontext


__all__ = [*HELPERS, *OPS, "CONV_VARIANTS", "set_conv_variant", "conv_variant", "set_poison", "poisoning"]
