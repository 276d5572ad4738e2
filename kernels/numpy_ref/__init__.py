"""The NumPy reference backend: the readable definition of every op, and the oracle.

Each file holds one idea: conv.py (im2col + GEMM), conv_transpose.py (the adjoint of conv2d),
batch_norm.py, linear.py, activations.py, sampler.py (reparameterisation + KL), losses.py, adam.py.
Those are the definitions. Where a faster form is worth its length it sits beside its definition as a
named variant, held to it by a test: the convolutions have two (CONV_VARIANTS; pick with
set_conv_variant, as the CuPy backend picks its kernels):
    "phases"  conv_phases.py: the same GEMMs, cols gathered through x's stride phases with wide rows;
              the default, the CPU training path
    "im2col"  conv.py and conv_transpose.py as written: the textbook im2col
Every op takes and returns NumPy arrays, works in float32 and float64, and returns its input's dtype.
The ops this package exports check their arguments first (kernels/contract.py, with arrays.py's idea of
an array); the functions in the files are the plain math, and call each other unchecked.
Importing the backend sets the process's allocation policy (heap.py): freed arrays stay in the process
for the next step instead of going back to the kernel. KEEPS_FREED_MEMORY says whether it could.
parallel_lanes() and lane_thread() (blas_threads.py) let the training step run its two lanes on two
cores, each GEMM on one BLAS thread (vaegan/lanes.py).
"""
import functools
import os

import numpy as np

from kernels.contract import checked_ops
from kernels.shapes import check_noise_key

from .activations import (leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward,
                          sigmoid_backward, sigmoid_forward, tanh_backward, tanh_forward)
from .adam import adam_step
from .arrays import NumpyArrays
from .batch_norm import (batch_norm_act_backward, batch_norm_act_forward, batch_norm_act_inference,
                         batch_norm_backward, batch_norm_forward, batch_norm_inference)
from . import blas_threads, conv, conv_phases, conv_transpose
from .heap import keep_freed_memory
from .linear import linear_backward, linear_forward
from .losses import bce_with_logits, kl_normal, mse
from .sampler import reparam_backward, reparam_forward, reparam_kl_backward, reparam_kl_forward

CONV_OPS = ("conv2d_forward", "conv2d_backward", "conv2d_backward_data", "conv2d_backward_weight",
            "conv_transpose2d_forward", "conv_transpose2d_backward", "conv_transpose2d_backward_data",
            "conv_transpose2d_backward_weight")
CONV_VARIANTS = {
    "phases": {op: getattr(conv_phases, op) for op in CONV_OPS},
    "im2col": {op: getattr(conv if op.startswith("conv2d") else conv_transpose, op) for op in CONV_OPS},
}
_conv_variant = {"name": "phases"}


def set_conv_variant(name):
    """Select the form every convolution op runs from now on (one of CONV_VARIANTS)."""
    if name not in CONV_VARIANTS:
        raise ValueError(f"conv variant must be one of {', '.join(CONV_VARIANTS)}, got {name!r}")
    _conv_variant["name"] = name


def conv_variant():
    return _conv_variant["name"]


def _selected(op):
    """The op, running whichever form is selected (every form has the same signature)."""
    @functools.wraps(CONV_VARIANTS["phases"][op])
    def run(*args, **kwargs):
        return CONV_VARIANTS[_conv_variant["name"]][op](*args, **kwargs)
    return run


globals().update({op: _selected(op) for op in CONV_OPS})

# Every op of the contract, rebound to its checked version: the argument checks, then the function above.
globals().update(checked_ops(globals(), NumpyArrays()))

name = "numpy"
xp = np
KEEPS_FREED_MEMORY = keep_freed_memory()


def asarray(a, dtype=None):
    """Host array -> backend array. Always a copy, as on the GPU backends, so that an in-place op
    (adam_step) never writes into the caller's array on one backend and not on another."""
    return np.array(a, dtype=dtype, copy=True)


def to_numpy(a):
    """Backend array -> a host copy."""
    return np.array(a, copy=True)


def normal(shape, key, dtype):
    """Standard-normal noise of `shape`, a pure function of `key` (a tuple of non-negative ints,
    e.g. (seed, step, k)), so that a run is reproducible and resumes exactly."""
    check_noise_key(key)
    return np.random.default_rng(key).standard_normal(shape).astype(dtype)


def parallel_lanes():
    """How many lanes of a training step (vaegan/lanes.py) run side by side: 2 where this process may
    use two or more cores, the BLAS's own count is two or more (OPENBLAS_NUM_THREADS=1 asks for one
    core, and gets one) and a thread can set its own BLAS count (blas_threads.py); else 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores < 2 or not blas_threads.available():
        return 1
    return 2 if (blas_threads.process_threads() or 1) >= 2 else 1


lane_thread = blas_threads.one_blas_thread      # a lane's GEMMs on one BLAS thread, the lanes on two cores


__all__ = [
    "name", "xp", "asarray", "to_numpy", "normal", "parallel_lanes", "lane_thread",
    "CONV_VARIANTS", "set_conv_variant", "conv_variant",
    "conv2d_forward", "conv2d_backward", "conv2d_backward_data", "conv2d_backward_weight",
    "conv_transpose2d_forward", "conv_transpose2d_backward", "conv_transpose2d_backward_data",
    "conv_transpose2d_backward_weight",
    "batch_norm_forward", "batch_norm_backward", "batch_norm_inference",
    "batch_norm_act_forward", "batch_norm_act_backward", "batch_norm_act_inference",
    "linear_forward", "linear_backward",
    "relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
    "tanh_forward", "tanh_backward", "sigmoid_forward", "sigmoid_backward",
    "reparam_forward", "reparam_backward", "reparam_kl_forward", "reparam_kl_backward",
    "kl_normal", "mse", "bce_with_logits", "adam_step",
]
