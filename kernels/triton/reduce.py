"""Sums in two stages: partial sums computed in parallel, then added up by a second, small kernel.

A GPU sums a large array fast only if many programs share the work, and programs cannot add into one
another's registers. So every reduction in this backend is split the same way:
  1. partial: many programs each reduce a slice of the input and write their result to a scratch row;
  2. finish: `finish_kernel` adds those rows up (and scales them, or adds a bias).
No atomics: the order of the additions is fixed, so a result is the same on every run.

What it computes:
    finish         out[c] = scale * sum_r src[r, c] (+ bias[c % len(bias)])   src: (ROWS, COLS), row-major
                   the finish stage of the losses (COLS = 1), of split-K GEMMs (COLS = the output's size)
                   and of batch-norm's backward sums.
    bias_backward  out[c] = sum over n, s of x[n, c, s]               x: (N, C, S), S = H*W (1 for (N, F))
                   the bias gradient of convolutions and linear layers: its partial stage, then finish.

How the work is split:
    finish_kernel                 one program per BLOCK_C columns; it walks down the rows BLOCK_R at a time.
    bias_backward_partial_kernel  grid (column blocks, splits): program (j, s) sums rows [s*chunk,
                                  (s+1)*chunk) of the reduced index r = n*S + s' for BLOCK_C channels, as
                                  a [BLOCK_R, BLOCK_C] tile (TALL or WIDE below). When S is large the tile
                                  is tall and one channel wide (its rows are a run of contiguous pixels);
                                  when S is small (1 for a 2-D input) it is wide, so that loads run along
                                  the channels.
"""
import triton
import triton.language as tl

from kernels.shapes import channel_layout

from . import runtime


@triton.jit
def finish_kernel(src_ptr, bias_ptr, out_ptr, ROWS, COLS, BIAS_LEN, scale: tl.float64, HAS_BIAS: tl.constexpr,
                    BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    cols = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    col_mask = cols < COLS
    acc = tl.zeros((BLOCK_R, BLOCK_C), dtype=out_ptr.dtype.element_ty)
    for r0 in range(0, ROWS, BLOCK_R):
        rows = r0 + tl.arange(0, BLOCK_R)
        mask = (rows < ROWS)[:, None] & col_mask[None, :]
        acc += tl.load(src_ptr + rows[:, None] * COLS + cols[None, :], mask=mask, other=0.0)
    total = tl.sum(acc, axis=0) * tl.full((), scale, acc.dtype)
    if HAS_BIAS:
        total += tl.load(bias_ptr + cols % BIAS_LEN, mask=col_mask)   # a row-major (M, BIAS_LEN) output
    tl.store(out_ptr + cols, total, mask=col_mask)


@triton.jit
def channel_offsets(r, channels, C, S):
    """Offsets of the [len(r), len(channels)] tile of the (N*S, C) view of an (N, C, S) array: element
    (r, c), with r = n*S + s, lives at n*C*S + c*S + s. Shared with batch-norm's per-channel sums."""
    return ((r // S) * (C * S) + r % S)[:, None] + (channels * S)[None, :]


@triton.jit
def bias_backward_partial_kernel(x_ptr, partial_ptr, C, S, R, rows_per_split, BLOCK_R: tl.constexpr,
                                 BLOCK_C: tl.constexpr):
    channels = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    split = tl.program_id(1)
    r_start = split * rows_per_split
    r_end = tl.minimum(r_start + rows_per_split, R)
    acc = tl.zeros((BLOCK_R, BLOCK_C), dtype=x_ptr.dtype.element_ty)
    for r0 in range(r_start, r_end, BLOCK_R):
        r = r0 + tl.arange(0, BLOCK_R)
        mask = (r < r_end)[:, None] & (channels < C)[None, :]
        acc += tl.load(x_ptr + channel_offsets(r, channels, C, S), mask=mask, other=0.0)
    tl.store(partial_ptr + split * C + channels, tl.sum(acc, axis=0), mask=channels < C)


# --- launchers -------------------------------------------------------------------------------------

# Two tile shapes serve every reduction: a column of 1024 rows when the reduced values of one column lie
# contiguous in memory or there is a single column, and 16 rows of 64 columns when the columns are the
# contiguous axis. Fixed shapes keep each kernel to two compiled variants per dtype.
TALL = (1024, 1)
WIDE = (16, 64)


def finish(src, rows, cols, out, scale=1.0, bias=None):
    """out (cols elements) = scale * src.reshape(rows, cols).sum(0) (+ bias, repeated along out as the
    last axis of a row-major matrix: a GEMM's bias per column). Returns out."""
    block_r, block_c = TALL if cols == 1 else WIDE
    runtime.launch(finish_kernel, (runtime.cdiv(cols, block_c),), src, out if bias is None else bias, out,
                   rows, cols, 1 if bias is None else bias.size, float(scale), HAS_BIAS=bias is not None,
                   BLOCK_R=block_r, BLOCK_C=block_c)
    return out


def channel_tile(spatial):
    """(BLOCK_R, BLOCK_C) for a walk over (N, C, S): tall and one channel wide when a channel's S values
    per image are a long contiguous run, wide (along the channels) otherwise."""
    return TALL if spatial >= 64 else WIDE


def split_rows(reduced, column_blocks, block_r):
    """How many programs share the `reduced` rows of each column block, and how many rows each takes
    (a multiple of block_r): enough programs in all to fill the device."""
    splits = max(1, min(runtime.cdiv(runtime.parallelism(), column_blocks), runtime.cdiv(reduced, block_r)))
    rows_per_split = runtime.cdiv(runtime.cdiv(reduced, splits), block_r) * block_r
    return runtime.cdiv(reduced, rows_per_split), rows_per_split


def bias_backward(x):
    """The bias gradient: per-channel sums of x (N, C, ...) over every axis but the second."""
    n, c, s = channel_layout(x)
    reduced = n * s
    block_r, block_c = channel_tile(s)
    column_blocks = runtime.cdiv(c, block_c)
    splits, rows_per_split = split_rows(reduced, column_blocks, block_r)
    partial = runtime.empty((splits, c), x.dtype)
    runtime.launch(bias_backward_partial_kernel, (column_blocks, splits), x, partial, c, s, reduced, rows_per_split,
                   BLOCK_R=block_r, BLOCK_C=block_c)
    return finish(partial, splits, c, runtime.empty((c,), x.dtype))
