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

How it is computed. Everything runs in the input's dtype (float32 in, float32 arithmetic, float32
out); the arrays the formulas name are built in place where NumPy allows (out=), so a forward is a
few passes over x and no float64 copy of it is made. The numbers agree with the formulas above (and
with a float64 evaluation of them) to a few float32 roundings, because of how the sums are taken:
  * Two passes for the variance, never E[x^2] - mean^2 (which cancels catastrophically when
    |mean| >> std): first mean, then var = sum(d^2)/M with d = x - mean. An error delta in the mean
    changes sum(d^2) only by M*delta^2 (sum((x - m - delta)^2) = sum((x - m)^2) + M delta^2: the
    cross term vanishes), a relative error (delta/std)^2, second order. sum(d^2) adds non-negative
    terms, so its relative error is at most (about) the summation's: NumPy sums each contiguous
    (H*W) row pairwise, error ~ log2(H*W) u, then the N rows in sequence, N u; u = 6e-8 in float32,
    so var and invstd are good to ~(log2(HW) + N) * 6e-8 relative: 1e-6 at N = 16 (float32 GEMMs
    of the convolutions around it err more than that).
  * The backward's sums (dbeta = sum g, dgamma = sum g * xhat) are likewise pairwise per row, and
    dx = gamma*invstd * (g - dbeta/M - xhat * dgamma/M) is the formula divided through by M. A
    channel of fewer than SMALL_M values is the exception: there dx can be mostly cancellation, so the
    backward works in float64 (those arrays are tiny).
tests/test_numpy_ref_fast_forms.py holds this against the float64 evaluation.
"""
import numpy as np

SMALL_M = 64   # below this many values per channel, the backward works in float64 (see there)


def _axes(x):
    return (0, 2, 3) if x.ndim == 4 else (0,)


def _per_channel(v, x):
    """A (C,) vector shaped to broadcast against x."""
    return v.reshape((1, -1, 1, 1) if x.ndim == 4 else (1, -1))


def _activate(pre, slope, scratch=None):
    """act(pre), in place in pre. Leaky ReLU as max(pre, slope*pre): for 0 <= slope < 1 that is pre
    where pre > 0 and slope*pre elsewhere (equal at 0). scratch: a free array of pre's shape."""
    if slope is None:
        return pre
    if slope == 0:
        return np.maximum(pre, 0, out=pre)
    scaled = np.multiply(pre, pre.dtype.type(slope), out=scratch)
    return np.maximum(pre, scaled, out=pre)


def _activation_grad(dy, y, slope):
    """d(pre) from d(y). y > 0 exactly where pre > 0 (slope >= 0), so y stands in for pre; the
    derivative max([y > 0], slope) is 1 where y > 0 and slope elsewhere (at the kink, from the left),
    and dy * 1, dy * slope are the numbers where(y > 0, dy, slope * dy) picks (a masked select costs
    NumPy several times these three passes)."""
    if slope is None:
        return dy
    if slope == 0:
        return dy * (y > 0)                                       # the comparison read as 1.0 or 0.0
    g = (y > 0).astype(y.dtype)                                   # 1.0 or 0.0
    np.maximum(g, g.dtype.type(slope), out=g)
    g *= dy
    return g


# --- training mode ------------------------------------------------------------------------------

def batch_norm_act_forward(x, gamma, beta, eps, slope):
    t = x.dtype.type
    m = x.size // x.shape[1]                                      # values per channel
    mean = x.sum(axis=_axes(x)) / t(m)
    pre = x - _per_channel(mean, x)                               # d = x - mean; becomes the output
    sq = np.square(pre)
    invstd = 1 / np.sqrt(sq.sum(axis=_axes(x)) / t(m) + t(eps))  # two-pass variance (see header)
    pre *= _per_channel(gamma * invstd, x)                        # gamma * xhat ...
    pre += _per_channel(beta, x)                                  # ... + beta
    return _activate(pre, slope, sq), mean, invstd


def batch_norm_act_backward(dy, x, y, mean, invstd, gamma, slope):
    m = x.size // x.shape[1]                                      # values per channel
    # Few values per channel: dx below can be mostly cancellation (at M = 2 it is identically 0: two
    # values normalise to +-1 and g - mean(g) - xhat*mean(g*xhat) leaves nothing), and float32 would
    # return its rounding noise. Such channels are small, so they are worked in float64 and rounded once.
    # From M = SMALL_M on, removing g's two components along 1 and xhat keeps ~sqrt(1 - 2/M) >= 98% of
    # it (for g not aligned with them), and the input dtype loses nothing to cancellation.
    work = np.float64 if m < SMALL_M else x.dtype
    t = np.dtype(work).type
    g = _activation_grad(dy, y, slope).astype(work, copy=False)  # gradient w.r.t. gamma*xhat + beta
    xhat = np.subtract(x, _per_channel(mean, x), dtype=work)      # a new array, in the work dtype
    xhat *= _per_channel(invstd, x)
    dbeta = g.sum(axis=_axes(x))
    dgamma = np.multiply(g, xhat).sum(axis=_axes(x))
    # dx = gamma * invstd * (g - dbeta/M - xhat * dgamma/M): x moves xhat directly and through mean and
    # invstd (derived in full, with a check you can run: docs/derivations/batch_norm_backward.md)
    dx = xhat
    dx *= _per_channel(-dgamma / t(m), x)
    dx += g
    dx -= _per_channel(dbeta / t(m), x)
    dx *= _per_channel(gamma * invstd, x)
    return (dx.astype(x.dtype, copy=False), dgamma.astype(x.dtype, copy=False),
            dbeta.astype(x.dtype, copy=False))


def batch_norm_forward(x, gamma, beta, eps):
    return batch_norm_act_forward(x, gamma, beta, eps, None)


def batch_norm_backward(dy, x, mean, invstd, gamma):
    # with no activation, y is not needed: dy passes straight through to gamma*xhat + beta
    return batch_norm_act_backward(dy, x, dy, mean, invstd, gamma, None)


# --- inference mode: running statistics in place of the batch's ----------------------------------

def batch_norm_act_inference(x, gamma, beta, running_mean, running_var, eps, slope):
    scale = gamma / np.sqrt(running_var + x.dtype.type(eps))     # per channel: gamma * invstd
    pre = x - _per_channel(running_mean, x)
    pre *= _per_channel(scale, x)
    pre += _per_channel(beta, x)
    return _activate(pre, slope)


def batch_norm_inference(x, gamma, beta, running_mean, running_var, eps):
    return batch_norm_act_inference(x, gamma, beta, running_mean, running_var, eps, None)
