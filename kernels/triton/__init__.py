"""The Triton backend: every op of the contract (kernels/api.py) as @triton.jit kernels.

Arrays are CuPy arrays in GPU memory. The ops this package exports check their arguments first, as on
every backend (kernels/contract.py, with arrays.py's idea of an array); a launcher then only allocates
its outputs with CuPy and hands every array to Triton as a bare pointer (runtime.DevicePointer), so
neither PyTorch nor any copy is involved. Every op works in float32 and float64 and returns arrays of
its input's dtype; losses return 0-d arrays that stay on the device.

One idea per file:
    runtime.py         array module, pointers, launching without PyTorch, autotuning, precision, poison
    arrays.py          what an array is here (the contract's hook), contiguous inputs
    conv.py            conv2d as implicit GEMM (forward, data and weight gradients) with tl.dot
    conv_transpose.py  the transposed convolution: the adjoint, run on conv.py's kernels
    linear.py          the dense layer: one strided GEMM kernel, split-K for long reductions
    batch_norm.py      batch-norm fused with its activation: per-channel partial and finish stages, then y
    activations.py     relu, leaky_relu, tanh, sigmoid
    sampler.py         the reparameterised sampler, alone and fused with the KL term
    losses.py          mse, bce_with_logits, kl_normal: value and gradient in one pass
    reduce.py          sums in two stages: partial rows, then one small kernel that finishes them
    adam.py            the fused Adam step over a flat parameter buffer

Settings: set_precision("ieee" | "tf32") for float32 tl.dot (default "ieee"), set_poison(True) to fill
every new buffer with NaN before a kernel writes it (tests).

The same package runs under Triton's interpreter on NumPy arrays (tests/triton_shim.py); there `xp` is
NumPy.
"""
import contextlib

import numpy as np

from kernels.api import HELPERS, OPS
from kernels.contract import checked_ops
from kernels.shapes import check_noise_key

from . import runtime
from .adam import adam_step
from .arrays import TritonArrays
from .batch_norm import (batch_norm_act_backward, batch_norm_act_forward, batch_norm_act_inference,
                        batch_norm_backward, batch_norm_forward, batch_norm_inference)
from .conv import conv2d_backward, conv2d_backward_data, conv2d_backward_weight, conv2d_forward
from .conv_transpose import (conv_transpose2d_backward, conv_transpose2d_backward_data,
                             conv_transpose2d_backward_weight, conv_transpose2d_forward)
from .activations import (leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward,
                          sigmoid_backward, sigmoid_forward, tanh_backward, tanh_forward)
from .linear import linear_backward, linear_forward
from .losses import bce_with_logits, kl_normal, mse
from .runtime import get_precision, set_poison, set_precision
from .sampler import reparam_backward, reparam_forward, reparam_kl_backward, reparam_kl_forward

# Every op of the contract, rebound to its checked version: the argument checks, then the launcher above.
globals().update(checked_ops(globals(), TritonArrays()))

name = "triton"


def __getattr__(attribute):
    """`xp`: the array module of this backend's arrays, read when asked (cupy; numpy when interpreted)."""
    if attribute == "xp":
        return runtime.xp()
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")


def asarray(a, dtype=None):
    """Host array -> backend array (always a copy, as on every backend)."""
    return runtime.xp().array(a, dtype=dtype, copy=True)


def to_numpy(a):
    """Backend array -> a host (NumPy) copy."""
    if runtime.xp() is np:
        return np.array(a, copy=True)
    return runtime.xp().asnumpy(a)


def normal(shape, key, dtype):
    """Standard-normal noise of `shape`, a pure function of `key` (a non-empty tuple of non-negative
    ints, e.g. (seed, step, k)): the generator is seeded from the key through NumPy's SeedSequence, so
    the same key gives the same numbers. Under the interpreter they are NumPy's default_rng numbers,
    the numpy backend's own. On the GPU they come from CuPy's Philox4x3210 generator (not NumPy's
    numbers): a fresh generator per call must set up its per-thread cuRAND states, which for Philox is
    writing a counter, where CuPy's default (XORWOW) runs a skip-ahead per state, milliseconds a draw."""
    check_noise_key(key)
    module = runtime.xp()
    seed = [int(k) for k in key]
    if module is np:
        generator = np.random.default_rng(seed)
    else:
        generator = module.random.Generator(module.random.Philox4x3210(seed))
    return generator.standard_normal(shape, dtype=np.float64).astype(dtype, copy=False)


def parallel_lanes():
    """One lane of a training step at a time (vaegan/lanes.py): the device is what runs its work in
    parallel, and two host threads would only take turns launching kernels."""
    return 1


lane_thread = contextlib.nullcontext


__all__ = [*HELPERS, "set_precision", "get_precision", "set_poison", *OPS]
