"""Launchers of batch norm, plain and fused with an activation (slope None: identity, 0: ReLU,
0 < slope < 1: leaky ReLU), in training mode (batch statistics) and inference mode (running ones).

A tensor is seen as (N, C, S): S = H*W for a 4-D (N, C, H, W) input, S = 1 for a 2-D (N, F) one;
each channel's statistics run over its M = N*S values. Kernels, in the order a call runs them:

    forward    batch_norm_stats.cu  level 1: per-chunk shifted sums (4-D: a (chunks, C) grid of blocks,
                                   plan.channel_reduction; 2-D: one thread per feature column)
                                   level 2: per channel, mean and invstd = 1/sqrt(var + eps)
               batch_norm_apply.cu  y = act((x - mean) * invstd * gamma + beta), one thread per element
    backward   batch_norm_backward.cu  level 1 and 2: dbeta = sum dpre, dgamma = sum dpre * xhat
                                   (dpre: dy through the activation), then dx elementwise
    inference  bn_running_invstd (per channel), then the forward's bn_apply with the running stats

The per-chunk sums are double; mean, invstd, dgamma, dbeta come back in the input's dtype. The
derivations are at the top of each .cu file and in kernels/numpy_ref/batch_norm.py.
"""
from kernels.shapes import channel_layout

from . import plan
from .arrays import contiguous
from .runtime import empty, f64, i32, i64, launch


def _activation(slope):
    """(has_act, slope) as the kernels take them."""
    return (i32(0), f64(0.0)) if slope is None else (i32(1), f64(slope))


def _level1(kernels, x, *arrays, extra=()):
    """Run level 1 of a per-channel reduction; returns (partial sums buffer, chunks). `kernels` is the
    (4-D chunked kernel, 2-D column kernel) pair of one .cu file; both write 2 doubles per chunk."""
    filename, chunked, columns = kernels
    n, c, s = channel_layout(x)
    if x.ndim == 2:
        partial = empty((c * 2,), "float64")
        launch(filename, columns, x.dtype, plan.per_channel(c), *arrays, partial, i32(n), i32(c), *extra)
        return partial, 1
    red = plan.channel_reduction(n, c, s)
    partial = empty((c * red.chunks * 2,), "float64")
    launch(filename, chunked, x.dtype, red.partial, *arrays, partial, i32(n), i32(c), i64(s),
           i64(red.chunk_len), i32(red.chunks), *extra)
    return partial, red.chunks


def _statistics(x, eps):
    """Batch mean and invstd of every channel."""
    n, c, s = channel_layout(x)
    partial, chunks = _level1(("batch_norm_stats.cu", "bn_stats_partial", "bn_stats_columns"), x, x)
    mean = empty((c,), x.dtype)
    invstd = empty((c,), x.dtype)
    launch("batch_norm_stats.cu", "bn_stats_combine", x.dtype, plan.per_channel(c), x, partial, mean, invstd,
           i32(c), i32(chunks), i64(s), i64(n * s), f64(eps))
    return mean, invstd


def _apply(x, mean, invstd, gamma, beta, slope):
    n, c, s = channel_layout(x)
    y = empty(x.shape, x.dtype)
    launch("batch_norm_apply.cu", "bn_apply", x.dtype, plan.elementwise(x.size), x, mean, invstd, gamma, beta, y,
           i64(x.size), i32(c), i64(s), *_activation(slope))
    return y


# --- training mode --------------------------------------------------------------------------------

def batch_norm_act_forward(x, gamma, beta, eps, slope):
    x, gamma, beta = contiguous(x, gamma, beta)
    mean, invstd = _statistics(x, eps)
    return _apply(x, mean, invstd, gamma, beta, slope), mean, invstd


def batch_norm_act_backward(dy, x, y, mean, invstd, gamma, slope):
    x, gamma, dy, y, mean, invstd = contiguous(x, gamma, dy, y, mean, invstd)
    n, c, s = channel_layout(x)
    has_act, slope_arg = _activation(slope)
    partial, chunks = _level1(("batch_norm_backward.cu", "bn_backward_partial", "bn_backward_columns"), x,
                              dy, x, y, mean, invstd, extra=(has_act, slope_arg))
    sums = empty((c * 2,), "float64")
    dgamma = empty((c,), x.dtype)
    dbeta = empty((c,), x.dtype)
    launch("batch_norm_backward.cu", "bn_backward_combine", x.dtype, plan.per_channel(c), partial, sums, dgamma,
           dbeta, i32(c), i32(chunks))
    dx = empty(x.shape, x.dtype)
    launch("batch_norm_backward.cu", "bn_backward_dx", x.dtype, plan.elementwise(x.size), dy, x, y, mean, invstd,
           gamma, sums, dx, i64(x.size), i32(c), i64(s), i64(n * s), has_act, slope_arg)
    return dx, dgamma, dbeta


def batch_norm_forward(x, gamma, beta, eps):
    return batch_norm_act_forward(x, gamma, beta, eps, None)


def batch_norm_backward(dy, x, mean, invstd, gamma):
    # without an activation the kernels never read y: dy stands in for it, as in the reference
    return batch_norm_act_backward(dy, x, dy, mean, invstd, gamma, None)


# --- inference mode: running statistics in place of the batch's ----------------------------------

def batch_norm_act_inference(x, gamma, beta, running_mean, running_var, eps, slope):
    x, gamma, beta, running_mean, running_var = contiguous(x, gamma, beta, running_mean, running_var)
    c = x.shape[1]
    invstd = empty((c,), x.dtype)
    launch("batch_norm_apply.cu", "bn_running_invstd", x.dtype, plan.per_channel(c), running_var, invstd, i32(c),
           f64(eps))
    return _apply(x, running_mean, invstd, gamma, beta, slope)


def batch_norm_inference(x, gamma, beta, running_mean, running_var, eps):
    return batch_norm_act_inference(x, gamma, beta, running_mean, running_var, eps, None)
