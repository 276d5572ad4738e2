"""Launchers of batch norm, plain and fused with an activation (slope None: identity, 0: ReLU,
0 < slope < 1: leaky ReLU), in training mode (batch statistics) and inference mode (running ones).

A tensor is seen as (N, C, S) (shapes.channel_layout): S = H*W for a 4-D (N, C, H, W) input, S = 1 for a
2-D (N, F) one; each channel's statistics run over its M = N*S values. Kernels, in the order a call
runs them:

    forward    batch_norm_forward.cu    partial: per chunk, the moments of the shifted values (4-D: a
                                        (chunks, C) grid of blocks, plan.channel_reduction; 2-D: one
                                        thread per feature column); finish: per channel, the chunks
                                        merged (Chan) into mean and invstd = 1/sqrt(var + eps)
               batch_norm_inference.cu  y = act((x - mean) * gamma * invstd + beta), one thread per element
    backward   batch_norm_backward.cu   partial and finish: dbeta = sum g, dgamma = sum g * xhat (g: dy
                                        through the activation), then dx, one thread per element
    inference  batch_norm_inference.cu  with the running statistics (invstd from running_var per element)

Everything, the partial results included, is in the input's dtype (docs/ops/batch_norm.md: one
algorithm and one accumulation rule on every backend). The derivations are at the top of each .cu file
and in kernels/numpy_ref/batch_norm.py.
"""
from kernels.shapes import channel_layout

from . import plan
from .arrays import contiguous
from .runtime import empty, i32, i64, launch, real


def _activation(slope, dtype):
    """(has_act, slope) as the kernels take them."""
    return (i32(0), real(dtype, 0.0)) if slope is None else (i32(1), real(dtype, slope))


def _partial(filename, x, *arrays, extra=()):
    """Run the partial stage of a per-channel reduction (batch_norm_{forward,backward}_partial, or its
    _columns form for a 2-D x); returns (its buffer: 2 numbers per chunk, the plan.ChannelReduction)."""
    n, c, s = channel_layout(x)
    stage = filename.replace(".cu", "_partial")
    if x.ndim == 2:                                   # one chunk per feature column
        red = plan.column_reduction(n, c)
        partial = empty((c * 2,), x.dtype)
        launch(filename, stage + "_columns", x.dtype, red.partial, *arrays, partial, i32(n), i32(c), *extra)
        return partial, red
    red = plan.channel_reduction(n, c, s)
    partial = empty((c * red.chunks * 2,), x.dtype)
    launch(filename, stage, x.dtype, red.partial, *arrays, partial, i32(n), i32(c), i64(s), i64(red.chunk_len),
           i32(red.chunks), *extra)
    return partial, red


def _statistics(x, eps):
    """Batch mean and invstd of every channel."""
    n, c, s = channel_layout(x)
    partial, red = _partial("batch_norm_forward.cu", x, x)
    mean = empty((c,), x.dtype)
    invstd = empty((c,), x.dtype)
    launch("batch_norm_forward.cu", "batch_norm_forward_finish", x.dtype, red.finish, x, partial, mean, invstd,
           i32(c), i32(red.chunks), i64(s), i64(red.count), i64(red.chunk_len), real(x.dtype, eps))
    return mean, invstd


def _inference(x, mean, scale, gamma, beta, eps, slope, scale_is_var):
    """y from given statistics: scale is invstd, or the variance (scale_is_var) whose invstd each thread
    computes."""
    n, c, s = channel_layout(x)
    y = empty(x.shape, x.dtype)
    launch("batch_norm_inference.cu", "batch_norm_inference", x.dtype, plan.elementwise(x.size), x, mean, scale,
           gamma, beta, y, i64(x.size), i32(c), i64(s), i32(scale_is_var), real(x.dtype, eps),
           *_activation(slope, x.dtype))
    return y


# --- training mode --------------------------------------------------------------------------------

def batch_norm_act_forward(x, gamma, beta, eps, slope):
    x, gamma, beta = contiguous(x, gamma, beta)
    mean, invstd = _statistics(x, eps)
    return _inference(x, mean, invstd, gamma, beta, eps, slope, False), mean, invstd


def batch_norm_act_backward(dy, x, y, mean, invstd, gamma, slope):
    x, gamma, dy, y, mean, invstd = contiguous(x, gamma, dy, y, mean, invstd)
    n, c, s = channel_layout(x)
    activation = _activation(slope, x.dtype)
    partial, red = _partial("batch_norm_backward.cu", x, dy, x, y, mean, invstd, extra=activation)
    dgamma = empty((c,), x.dtype)
    dbeta = empty((c,), x.dtype)
    launch("batch_norm_backward.cu", "batch_norm_backward_finish", x.dtype, red.finish, partial, dgamma, dbeta,
           i32(c), i32(red.chunks))
    dx = empty(x.shape, x.dtype)
    launch("batch_norm_backward.cu", "batch_norm_backward", x.dtype, plan.elementwise(x.size), dy, x, y, mean,
           invstd, gamma, dgamma, dbeta, dx, i64(x.size), i32(c), i64(s), real(x.dtype, 1.0 / red.count),
           *activation)
    return dx, dgamma, dbeta


def batch_norm_forward(x, gamma, beta, eps):
    return batch_norm_act_forward(x, gamma, beta, eps, None)


def batch_norm_backward(dy, x, mean, invstd, gamma):
    # without an activation the kernels never read y: dy stands in for it, as in the reference
    return batch_norm_act_backward(dy, x, dy, mean, invstd, gamma, None)


# --- inference mode: running statistics in place of the batch's ----------------------------------

def batch_norm_act_inference(x, gamma, beta, running_mean, running_var, eps, slope):
    x, gamma, beta, running_mean, running_var = contiguous(x, gamma, beta, running_mean, running_var)
    return _inference(x, running_mean, running_var, gamma, beta, eps, slope, True)


def batch_norm_inference(x, gamma, beta, running_mean, running_var, eps):
    return batch_norm_act_inference(x, gamma, beta, running_mean, running_var, eps, None)
