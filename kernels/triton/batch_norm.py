"""Batch normalisation fused with the activation that follows it: training forward, backward, inference.

What it computes. x is (N, C, S) with S = H*W (a 2-D x (N, F) is (N, F, 1)); per channel c, over its
M = N*S values:
    mean = sum(x) / M,   var = sum((x - mean)^2) / M,   invstd = 1 / sqrt(var + eps)
    xhat = (x - mean) * invstd,   y = act(gamma * xhat + beta)      act: identity, ReLU or leaky ReLU
Inference uses running_mean and running_var in place of the batch's mean and var.
Backward, with g = act'(.) * dy the gradient at gamma*xhat + beta (act' read from y: with slope >= 0,
y > 0 exactly where its argument is):
    dbeta = sum(g),   dgamma = sum(g * xhat)
    dx = gamma * invstd * (g - dbeta/M - xhat * dgamma/M)
(x moves xhat directly and through mean and invstd: docs/derivations/batch_norm_backward.md derives the
last line and checks it against finite differences.)

The statistics, as every backend takes them (docs/ops/batch_norm.md argues the choice), in the data's
dtype: every value is shifted, d = x - K_c with K_c the channel's first value (so that the numbers are
of the size of the spread, not of the mean); the moments of pieces of d (count, mean, m2 = the sum of
squared deviations from the mean) come from two passes over the piece while it is in registers; and
the pieces are merged with Chan's pairwise formula (`merge`), whose terms are all non-negative. A piece
here is one tile's rows of one channel.

How the work is split: every pass is over the (N*S, C) view of x (reduce.channel_offsets).
  1. partial: grid (channel blocks, splits). Program (j, s) walks rows [s*chunk, (s+1)*chunk) of its
     channels in [BLOCK_R, BLOCK_C] tiles (tall and one channel wide when S is large, so that a tile's
     rows are contiguous pixels; wide when S is small, so that loads run along the channels) and writes
     one row of a (splits, 2, C) scratch: forward, the moments of its rows (each tile's merged in turn),
     backward, the sums (sum g, sum g*xhat). The splits exist because C programs alone (80 channels)
     would leave most of a GPU idle.
  2. finish: one program per BLOCK_C channels merges the splits' rows: mean and invstd (forward,
     `batch_norm_forward_finish_kernel`, the splits' means taken relative to the first split's), dbeta
     and dgamma (backward, reduce.finish).
  3. the element-wise pass, BLOCK elements per program, channel = (i // S) % C: y from x and given
     statistics (`batch_norm_inference_kernel`: the batch's in training, the running ones in inference),
     dx from dy, y, x (`batch_norm_backward_kernel`).
x is read twice in the forward (partial, inference) and the backward (partial, backward), never more.
"""
import triton
import triton.language as tl

from kernels.shapes import channel_layout

from . import reduce, runtime
from .arrays import contiguous
from .activations import activate, activation_grad, activation_name
from .reduce import channel_offsets

BLOCK = 1024


@triton.jit
def merge(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """(mean, m2) of pieces a and b together (Chan, Golub and LeVeque): with n = n_a + n_b and
    delta = mean_b - mean_a, mean = mean_a + delta * n_b / n, m2 = m2_a + m2_b + delta^2 n_a n_b / n."""
    delta = mean_b - mean_a
    share = n_b / (n_a + n_b)
    return mean_a + delta * share, m2_a + m2_b + delta * delta * (n_a * share)


@triton.jit
def batch_norm_forward_partial_kernel(x_ptr, partial_ptr, C, S, R, rows_per_split, BLOCK_R: tl.constexpr,
                                      BLOCK_C: tl.constexpr):
    channels = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    split = tl.program_id(1)
    channel_mask = channels < C
    dtype = x_ptr.dtype.element_ty
    shift = tl.load(x_ptr + channels * S, mask=channel_mask, other=0.0)   # x[0, c, 0]: the shift K_c
    r_start = split * rows_per_split
    r_end = tl.minimum(r_start + rows_per_split, R)
    mean = tl.zeros((BLOCK_C,), dtype=dtype)
    m2 = tl.zeros((BLOCK_C,), dtype=dtype)
    for r0 in range(r_start, r_end, BLOCK_R):
        r = r0 + tl.arange(0, BLOCK_R)
        mask = (r < r_end)[:, None] & channel_mask[None, :]
        x = tl.load(x_ptr + channel_offsets(r, channels, C, S), mask=mask, other=0.0)
        d = tl.where(mask, x - shift[None, :], 0.0)
        n_tile = tl.minimum(r_end - r0, BLOCK_R).to(dtype)          # the tile's rows: one piece per channel
        mean_tile = tl.sum(d, axis=0) / n_tile
        deviation = tl.where(mask, d - mean_tile[None, :], 0.0)
        m2_tile = tl.sum(deviation * deviation, axis=0)
        mean, m2 = merge((r0 - r_start).to(dtype), mean, m2, n_tile, mean_tile, m2_tile)
    row = partial_ptr + split * (2 * C) + channels
    tl.store(row, mean, mask=channel_mask)
    tl.store(row + C, m2, mask=channel_mask)


@triton.jit
def batch_norm_forward_finish_kernel(partial_ptr, x_ptr, mean_ptr, invstd_ptr, C, S, R, SPLITS, rows_per_split,
                                     eps: tl.float64, BLOCK_C: tl.constexpr):
    channels = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask = channels < C
    dtype = x_ptr.dtype.element_ty
    first = tl.load(partial_ptr + channels, mask=mask, other=0.0)     # split 0's mean: a reference
    mean = tl.zeros((BLOCK_C,), dtype=dtype)
    m2 = tl.zeros((BLOCK_C,), dtype=dtype)
    for split in range(0, SPLITS):
        done = split * rows_per_split
        row = partial_ptr + split * (2 * C) + channels
        mean, m2 = merge(done.to(dtype), mean, m2, tl.minimum(R - done, rows_per_split).to(dtype),
                         tl.load(row, mask=mask, other=0.0) - first, tl.load(row + C, mask=mask, other=0.0))
    shift = tl.load(x_ptr + channels * S, mask=mask, other=0.0)
    tl.store(mean_ptr + channels, shift + (first + mean), mask=mask)
    tl.store(invstd_ptr + channels, 1.0 / tl.sqrt(m2 / R.to(dtype) + tl.full((), eps, dtype)), mask=mask)


@triton.jit
def batch_norm_inference_kernel(x_ptr, mean_ptr, scale_ptr, gamma_ptr, beta_ptr, y_ptr, C, S, n, eps: tl.float64,
                                slope: tl.float64, SCALE_IS_VAR: tl.constexpr, ACTIVATION: tl.constexpr,
                                BLOCK: tl.constexpr):
    # scale is invstd (training) or running_var (inference: invstd = 1 / sqrt(var + eps) computed here)
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    c = (offsets // S) % C
    x = tl.load(x_ptr + offsets, mask=mask)
    mean = tl.load(mean_ptr + c, mask=mask)
    scale = tl.load(scale_ptr + c, mask=mask, other=1.0)
    if SCALE_IS_VAR:
        scale = 1.0 / tl.sqrt(scale + tl.full((), eps, scale.dtype))
    pre = (x - mean) * (tl.load(gamma_ptr + c, mask=mask) * scale) + tl.load(beta_ptr + c, mask=mask)
    tl.store(y_ptr + offsets, activate(pre, tl.full((), slope, x.dtype), ACTIVATION), mask=mask)


@triton.jit
def batch_norm_backward_partial_kernel(dy_ptr, x_ptr, y_ptr, mean_ptr, invstd_ptr, partial_ptr, C, S, R,
                                       rows_per_split, slope: tl.float64, ACTIVATION: tl.constexpr,
                                       BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    channels = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    split = tl.program_id(1)
    channel_mask = channels < C
    mean = tl.load(mean_ptr + channels, mask=channel_mask, other=0.0)
    invstd = tl.load(invstd_ptr + channels, mask=channel_mask, other=0.0)
    r_start = split * rows_per_split
    r_end = tl.minimum(r_start + rows_per_split, R)
    sum_g = tl.zeros((BLOCK_R, BLOCK_C), dtype=x_ptr.dtype.element_ty)
    sum_g_xhat = tl.zeros((BLOCK_R, BLOCK_C), dtype=x_ptr.dtype.element_ty)
    for r0 in range(r_start, r_end, BLOCK_R):
        r = r0 + tl.arange(0, BLOCK_R)
        mask = (r < r_end)[:, None] & channel_mask[None, :]
        offsets = channel_offsets(r, channels, C, S)
        dy = tl.load(dy_ptr + offsets, mask=mask, other=0.0)
        y = tl.load(y_ptr + offsets, mask=mask, other=0.0)
        g = activation_grad(dy, y, tl.full((), slope, dy.dtype), ACTIVATION)   # 0 where masked: dy = 0
        xhat = (tl.load(x_ptr + offsets, mask=mask, other=0.0) - mean[None, :]) * invstd[None, :]
        sum_g += g
        sum_g_xhat += g * xhat
    row = partial_ptr + split * (2 * C) + channels
    tl.store(row, tl.sum(sum_g, axis=0), mask=channel_mask)
    tl.store(row + C, tl.sum(sum_g_xhat, axis=0), mask=channel_mask)


@triton.jit
def batch_norm_backward_kernel(dy_ptr, x_ptr, y_ptr, mean_ptr, invstd_ptr, gamma_ptr, dbeta_ptr, dgamma_ptr,
                               dx_ptr, C, S, n, inv_m: tl.float64, slope: tl.float64, ACTIVATION: tl.constexpr,
                               BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    c = (offsets // S) % C
    dy = tl.load(dy_ptr + offsets, mask=mask)
    g = activation_grad(dy, tl.load(y_ptr + offsets, mask=mask), tl.full((), slope, dy.dtype), ACTIVATION)
    invstd = tl.load(invstd_ptr + c, mask=mask)
    xhat = (tl.load(x_ptr + offsets, mask=mask) - tl.load(mean_ptr + c, mask=mask)) * invstd
    scale = tl.full((), inv_m, dy.dtype)
    mean_g = tl.load(dbeta_ptr + c, mask=mask) * scale
    mean_g_xhat = tl.load(dgamma_ptr + c, mask=mask) * scale
    dx = tl.load(gamma_ptr + c, mask=mask) * invstd * (g - mean_g - xhat * mean_g_xhat)
    tl.store(dx_ptr + offsets, dx, mask=mask)


# --- launchers -------------------------------------------------------------------------------------

def _partial_grid(x):
    """Grid and row split of the partial stages, and the (splits, 2, C) scratch they write."""
    n, c, s = channel_layout(x)
    block_r, block_c = reduce.channel_tile(s)
    column_blocks = runtime.cdiv(c, block_c)
    splits, rows_per_split = reduce.split_rows(n * s, column_blocks, block_r)
    partial = runtime.empty((splits, 2, c), x.dtype)
    return (column_blocks, splits), rows_per_split, partial, dict(BLOCK_R=block_r, BLOCK_C=block_c)


def _inference(x, mean, scale, gamma, beta, eps, slope, scale_is_var):
    """y from given statistics: scale is invstd, or the variance (scale_is_var)."""
    _, c, s = channel_layout(x)
    y = runtime.empty(x.shape, x.dtype)
    runtime.launch(batch_norm_inference_kernel, (runtime.cdiv(x.size, BLOCK),), x, mean, scale, gamma, beta, y, c,
                   s, x.size, float(eps), float(slope or 0.0), SCALE_IS_VAR=scale_is_var,
                   ACTIVATION=activation_name(slope), BLOCK=BLOCK)
    return y


def batch_norm_act_forward(x, gamma, beta, eps, slope):
    x, gamma, beta = contiguous(x, gamma, beta)
    n, c, s = channel_layout(x)
    grid, rows_per_split, partial, tile = _partial_grid(x)
    runtime.launch(batch_norm_forward_partial_kernel, grid, x, partial, c, s, n * s, rows_per_split, **tile)
    mean, invstd = runtime.empty((c,), x.dtype), runtime.empty((c,), x.dtype)
    block_c = reduce.WIDE[1]
    runtime.launch(batch_norm_forward_finish_kernel, (runtime.cdiv(c, block_c),), partial, x, mean, invstd, c, s,
                   n * s, grid[1], rows_per_split, float(eps), BLOCK_C=block_c)
    return _inference(x, mean, invstd, gamma, beta, eps, slope, False), mean, invstd


def batch_norm_act_backward(dy, x, y, mean, invstd, gamma, slope):
    dy, x, y, mean, invstd, gamma = contiguous(dy, x, y, mean, invstd, gamma)
    n, c, s = channel_layout(x)
    activation = activation_name(slope)
    grid, rows_per_split, partial, tile = _partial_grid(x)
    runtime.launch(batch_norm_backward_partial_kernel, grid, dy, x, y, mean, invstd, partial, c, s, n * s,
                   rows_per_split, float(slope or 0.0), ACTIVATION=activation, **tile)
    sums = reduce.finish(partial, grid[1], 2 * c, runtime.empty((2, c), x.dtype))
    dbeta, dgamma = sums[0], sums[1]
    dx = runtime.empty(x.shape, x.dtype)
    runtime.launch(batch_norm_backward_kernel, (runtime.cdiv(x.size, BLOCK),), dy, x, y, mean, invstd, gamma,
                   dbeta, dgamma, dx, c, s, x.size, 1.0 / (n * s), float(slope or 0.0), ACTIVATION=activation,
                   BLOCK=BLOCK)
    return dx, dgamma, dbeta


def batch_norm_act_inference(x, gamma, beta, running_mean, running_var, eps, slope):
    x, gamma, beta, running_mean, running_var = contiguous(x, gamma, beta, running_mean, running_var)
    return _inference(x, running_mean, running_var, gamma, beta, eps, slope, True)


def batch_norm_forward(x, gamma, beta, eps):
    return batch_norm_act_forward(x, gamma, beta, eps, None)


def batch_norm_backward(dy, x, mean, invstd, gamma):
    # with no activation y is not needed: dy passes straight through to gamma*xhat + beta
    return batch_norm_act_backward(dy, x, dy, mean, invstd, gamma, None)


def batch_norm_inference(x, gamma, beta, running_mean, running_var, eps):
    return batch_norm_act_inference(x, gamma, beta, running_mean, running_var, eps, None)
