"""Batch-norm over the global batch when it is split among ranks (vaegan/distributed.py), built from
per-channel sums the framework computes and all-reduces, and ops every backend already has: no
backend's kernels change.

Forward (two passes over this rank's share, each followed by an all-reduce):
    mean   = all-reduce(sum x) / M                       M: values per channel over all ranks
    var    = all-reduce(sum (x - mean)^2) / M            (the biased variance, as the kernels use)
    y      = batch_norm_act_inference(x, gamma, beta, mean, var, eps, slope)
             the inference op normalises with given statistics: gamma * (x - mean) / sqrt(var + eps) + beta
Backward, with g = dL/d(gamma*xhat + beta) from the activation's backward op (y > 0 exactly where the
pre-activation is, so y stands in for it, as in the fused kernels):
    dbeta  = all-reduce(sum g),  dgamma = all-reduce(sum g * xhat)
    dx     = gamma * invstd * (g - dbeta/M - xhat * dgamma/M)    (docs/derivations/batch_norm_backward.md)
The parameter gradients returned are this rank's own sums: the step's all-reduce of the gradient
buffers (vaegan/step.py) averages them with the other ranks'. Why that is the global batch's gradient:
each rank's losses are means over its share (b = B / N frames), so its upstream gradients are N times
the global loss's; dx above is linear in g, so that factor N rides along to every weight gradient, and
the mean over N ranks takes it off again.

Sums are accumulated in float64 and dx is worked in float64 where a channel has fewer than SMALL_M
values (there it is mostly cancellation): this layer's own rule, outside the backends' kernels, which
work in the data's dtype (docs/ops/batch_norm.md).
"""
import numpy as np

SMALL_M = 64    # below this many values per channel (over all ranks), dx in float64


def _axes(x):
    return (0,) if x.ndim == 2 else (0, 2, 3)


def _per_channel(v, x):
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def forward(K, comm, x, gamma, beta, eps, slope):
    """-> (y, mean, invstd, M) with the statistics of the global batch (mean, invstd in x's dtype)."""
    xp, axes = K.xp, _axes(x)
    count = (x.size // x.shape[1]) * comm.size
    total = xp.ascontiguousarray(x.sum(axis=axes, dtype=np.float64))
    mean = comm.allreduce_sum(total) / count
    centred = x - _per_channel(mean.astype(x.dtype), x)
    sq = xp.ascontiguousarray(xp.square(centred).sum(axis=axes, dtype=np.float64))
    var = comm.allreduce_sum(sq) / count
    mean32, var32 = mean.astype(x.dtype), var.astype(x.dtype)
    invstd = (1.0 / xp.sqrt(var + eps)).astype(x.dtype)
    y = K.batch_norm_act_inference(x, gamma, beta, mean32, var32, eps, slope)
    return y, mean32, invstd, count


def backward(K, comm, dy, x, y, mean, invstd, gamma, slope, count, need_dx=True):
    """-> (dx over the global batch, this rank's dgamma, this rank's dbeta); dx None where not needed
    (then nothing travels: the parameter gradients are this rank's own sums either way)."""
    xp, axes = K.xp, _axes(x)
    if slope is None:
        g = dy
    elif slope == 0:
        g = K.relu_backward(dy, y)
    else:
        g = K.leaky_relu_backward(dy, y, slope)
    work = np.float64 if count < SMALL_M else x.dtype
    g = g.astype(work, copy=False)
    xhat = (x.astype(work, copy=False) - _per_channel(mean.astype(work), x)) * _per_channel(invstd.astype(work), x)
    sums = xp.stack([g.sum(axis=axes, dtype=np.float64), (g * xhat).sum(axis=axes, dtype=np.float64)])
    dbeta_local, dgamma_local = sums[0].astype(x.dtype), sums[1].astype(x.dtype)
    if not need_dx:
        return None, dgamma_local, dbeta_local
    comm.allreduce_sum(sums)
    dbeta, dgamma = (sums / count).astype(work)
    dx = (g - _per_channel(dbeta, x) - xhat * _per_channel(dgamma, x)) * _per_channel((gamma * invstd).astype(work), x)
    return dx.astype(x.dtype, copy=False), dgamma_local, dbeta_local
