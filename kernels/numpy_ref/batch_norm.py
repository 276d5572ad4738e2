"""Batch normalisation (training and inference), plain and fused with an activation.

Per channel c, over the M values of that channel (N*H*W of them for a 4-D x (N, C, H, W): spatial
batch norm; N for a 2-D x (N, F): one value per sample and feature):

    mean = sum(x) / M        var = sum((x - mean)^2) / M   (biased, as PyTorch normalises)
    invstd = 1 / sqrt(var + eps)
    xhat = (x - mean) * invstd
    y = act(gamma * xhat + beta)      act: slope None -> identity, 0 -> ReLU, else leaky ReLU

Training mode returns (y, mean, invstd): the statistics it used, which the backward needs and from
which the layer (vaegan/nn.py) updates its running statistics. Inference mode uses running_mean and
running_var in their place. No op here touches running statistics.

Precision: the statistics and the per-channel sums of the backward accumulate in float64, and every
result is rounded once to the input's dtype (float32 in, float32 out). The reference is the oracle,
so it pays for the extra precision; a GPU kernel accumulating in float32 differs from it by rounding.
"""
import numpy as np

from kernels.shapes import check_batch_norm, check_bn_scalars

from ._checks import check_array, check_shape


def _axes(x):
    return (0, 2, 3) if x.ndim == 4 else (0,)


def _per_channel(v, x):
    """A (C,) vector shaped to broadcast against x."""
    return v.reshape((1, -1, 1, 1) if x.ndim == 4 else (1, -1))


def _activate(pre, slope):
    if slope is None:
        return pre
    return np.where(pre > 0, pre, slope * pre)


def _activation_grad(dy, y, slope):
    """d(pre) from d(y). y > 0 exactly where pre > 0 (slope >= 0), so y stands in for pre."""
    if slope is None:
        return dy
    return np.where(y > 0, dy, slope * dy)


def _check(x, gamma, beta=None, slope=None, eps=None, batch_stats=True, **same_dtype):
    check_array("x", x)
    if batch_stats:
        check_batch_norm(x, gamma)    # rank 2 or 4, gamma (C,), at least 2 values per channel
    elif x.ndim not in (2, 4):
        raise ValueError(f"x must have rank 2 (N, F) or 4 (N, C, H, W), got shape {tuple(x.shape)}")
    check_array("gamma", gamma, x.dtype)
    check_shape("gamma", gamma, (x.shape[1],))
    if beta is not None:
        check_array("beta", beta, x.dtype)
        check_shape("beta", beta, (x.shape[1],))
    for name, a in same_dtype.items():
        check_array(name, a, x.dtype)
        check_shape(name, a, x.shape if name in ("dy", "y") else (x.shape[1],))
    check_bn_scalars(eps, slope)


# --- training mode ------------------------------------------------------------------------------

def batch_norm_act_forward(x, gamma, beta, eps, slope):
    _check(x, gamma, beta, slope, eps)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=_axes(x))
    invstd = 1.0 / np.sqrt(((x64 - _per_channel(mean, x)) ** 2).mean(axis=_axes(x)) + eps)
    xhat = (x64 - _per_channel(mean, x)) * _per_channel(invstd, x)
    y = _activate(_per_channel(gamma, x) * xhat + _per_channel(beta, x), slope)
    return y.astype(x.dtype), mean.astype(x.dtype), invstd.astype(x.dtype)


def batch_norm_act_backward(dy, x, y, mean, invstd, gamma, slope):
    _check(x, gamma, slope=slope, dy=dy, y=y, mean=mean, invstd=invstd)
    g = _activation_grad(dy, y, slope).astype(np.float64)        # gradient w.r.t. gamma*xhat + beta
    xhat = (x.astype(np.float64) - _per_channel(mean, x)) * _per_channel(invstd, x)
    m = x.size // x.shape[1]                                      # values per channel
    dbeta = g.sum(axis=_axes(x))
    dgamma = (g * xhat).sum(axis=_axes(x))
    # mean and invstd depend on every x of the channel: d mean/dx_i = 1/M and, since
    # d var/dx_i = 2 (x_i - mean)/M, d invstd/dx_i = -invstd^3 (x_i - mean)/M. With d xhat = gamma*g:
    #   dx = invstd * (gamma*g - mean(gamma*g) - xhat * mean(gamma*g * xhat))
    #      = gamma * invstd / M * (M*g - dbeta - xhat*dgamma)
    dx = _per_channel(gamma * invstd / m, x) * (m * g - _per_channel(dbeta, x) - xhat * _per_channel(dgamma, x))
    return dx.astype(x.dtype), dgamma.astype(x.dtype), dbeta.astype(x.dtype)


def batch_norm_forward(x, gamma, beta, eps):
    return batch_norm_act_forward(x, gamma, beta, eps, None)


def batch_norm_backward(dy, x, mean, invstd, gamma):
    # with no activation, y is not needed: dy passes straight through to gamma*xhat + beta
    return batch_norm_act_backward(dy, x, dy, mean, invstd, gamma, None)


# --- inference mode: running statistics in place of the batch's ----------------------------------

def batch_norm_act_inference(x, gamma, beta, running_mean, running_var, eps, slope):
    _check(x, gamma, beta, slope, eps, batch_stats=False, running_mean=running_mean, running_var=running_var)
    invstd = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
    pre = (x - _per_channel(running_mean, x)) * _per_channel(gamma * invstd, x) + _per_channel(beta, x)
    return _activate(pre, slope).astype(x.dtype)


def batch_norm_inference(x, gamma, beta, running_mean, running_var, eps):
    return batch_norm_act_inference(x, gamma, beta, running_mean, running_var, eps, None)
