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

How it is computed: the algorithm every backend runs (docs/ops/batch_norm.md argues the choice and
sets the three side by side), in the input's dtype throughout (float32 in, float32 arithmetic, float32
sums, float32 out), in place where NumPy allows (out=), so that no float64 copy of x is ever made:
  * shift: every value is taken as d = x - K_c, K_c the channel's first value, so that the numbers
    below are of the size of the data's spread, not of its offset (|mean| >> std is the hard case);
  * partial: the moments of each piece of d, two passes over it (its mean, then the sum of squared
    deviations from that mean, m2: non-negative terms, nothing cancels). A piece here is one image's
    plane of a channel (H*W values, contiguous; the GPU backends take a thread's or a tile's values);
    a 2-D input's piece is the whole column;
  * finish: the pieces merged with Chan's formula (for pieces that all lie in memory, the k-way form
    of the GPUs' pairwise merge): mean = sum(n_p mean_p) / M, m2 = sum(m2_p + n_p (mean_p - mean)^2),
    the pieces' means taken relative to the first piece's (small numbers even where K_c is far from
    the rest). mean = K_c + mean of d, var = m2 / M.
The backward's sums (dbeta = sum g, dgamma = sum g * xhat) are taken per piece and the pieces added;
dx = gamma*invstd * (g - dbeta/M - xhat * dgamma/M) is the formula divided through by M.
tests/test_numpy_ref_fast_forms.py holds this against the formulas evaluated in float64, on a large
offset included; tests/test_numpy_ref_gradients.py against finite differences in float64.
"""
import numpy as np


def _per_channel(v, x):
    """A (C,) vector shaped to broadcast against x."""
    return v.reshape((1, -1, 1, 1) if x.ndim == 4 else (1, -1))


def _rows(a):
    """The (N, C, H*W) view of a 4-D array: row (n, c) is one piece."""
    return a.reshape(a.shape[0], a.shape[1], -1)


def _partial_sums(a, b=None):
    """The partial stage of a sum: per piece, sum(a) (or sum(a * b)), shaped (pieces, C). A row's sums
    are BLAS dot products (several lanes, then a tree), a column's NumPy's sum over the rows."""
    if a.ndim == 2:                                               # (N, F): a column is one piece
        return (a.sum(axis=0) if b is None else np.einsum("nf,nf->f", a, b))[None]
    rows = _rows(a)
    if b is None:
        return np.matmul(rows, np.ones(rows.shape[2], a.dtype))
    return np.matmul(rows[..., None, :], _rows(b)[..., :, None])[..., 0, 0]


def _partial_moments(d):
    """The partial stage of the statistics: (values per piece, piece means, piece m2s), the means and
    m2s shaped to broadcast against d (an image's plane: (N, C, 1, 1); a column: (1, F)). d becomes d
    minus its piece's mean, in place: the second of the two passes reads it."""
    count = d.shape[0] if d.ndim == 2 else d.shape[2] * d.shape[3]
    shape = (-1, d.shape[1]) + (1,) * (d.ndim - 2)
    mean = (_partial_sums(d) / d.dtype.type(count)).reshape(shape)
    d -= mean
    return count, mean, _partial_sums(d, d).reshape(shape)


def _activate(pre, slope):
    """act(pre), in place in pre. Leaky ReLU as max(pre, slope*pre): for 0 <= slope < 1 that is pre
    where pre > 0 and slope*pre elsewhere (equal at 0)."""
    if slope is None:
        return pre
    if slope == 0:
        return np.maximum(pre, 0, out=pre)
    return np.maximum(pre, np.multiply(pre, pre.dtype.type(slope)), out=pre)


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
    shift = x[0].reshape(x.shape[1], -1)[:, 0]                    # K_c = x[0, c, 0]
    d = x - _per_channel(shift, x)                                # a new array: becomes the output
    count, mean_p, m2_p = _partial_moments(d)                     # partial: the pieces' moments
    pieces = mean_p.shape[0]
    deviation = mean_p - mean_p[:1]                               # finish: Chan's formula (equal counts),
    mean_d = deviation.sum(axis=0) / t(pieces)                    # the means relative to the first piece's
    deviation -= mean_d                                           # each piece's mean from the channel's
    mean_d += mean_p[0]
    m2 = m2_p.sum(axis=0) + t(count) * np.square(deviation).sum(axis=0)
    invstd = (1 / np.sqrt(m2 / t(count * pieces) + t(eps))).reshape(-1)
    # d holds x - K_c - mean_p, and x - mean = d + deviation: y = d * scale + (deviation * scale + beta)
    scale = _per_channel(gamma * invstd, x)
    d *= scale
    d += deviation * scale + _per_channel(beta, x)
    return _activate(d, slope), shift + mean_d.reshape(-1), invstd


def batch_norm_act_backward(dy, x, y, mean, invstd, gamma, slope):
    t = x.dtype.type
    m = x.size // x.shape[1]                                      # values per channel
    g = _activation_grad(dy, y, slope)                            # gradient w.r.t. gamma*xhat + beta
    xhat = x - _per_channel(mean, x)                              # a new array: becomes dx
    xhat *= _per_channel(invstd, x)
    dbeta = _partial_sums(g).sum(axis=0)                          # partial per piece, finish over pieces
    dgamma = _partial_sums(g, xhat).sum(axis=0)
    # dx = gamma * invstd * (g - dbeta/M - xhat * dgamma/M): x moves xhat directly and through mean and
    # invstd (derived in full, with a check you can run: docs/derivations/batch_norm_backward.md)
    dx = xhat
    dx *= _per_channel(-dgamma / t(m), x)
    dx += g
    dx -= _per_channel(dbeta / t(m), x)
    dx *= _per_channel(gamma * invstd, x)
    return dx, dgamma, dbeta


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
