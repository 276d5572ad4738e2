"""The dense layer as three matrix products: y = x @ w.T + b, and its two gradients.

What it computes (x: (B, I), w: (O, I), b: (O,), dy: (B, O)):
    forward         y  = x @ w.T + b
    data gradient   dx = dy @ w          (y_bo = sum_i x_bi w_oi  ->  dy_bo reaches x_bi through w_oi)
    weight gradient dw = dy.T @ x        (and reaches w_oi through x_bi, summed over the batch)
    bias gradient   db = sum_b dy_bo     (reduce.bias_backward)
All three are one kernel, C = A @ B (+ bias), which reads A and B through strides: w.T and dy.T are the
same memory as w and dy, walked the other way, so no transpose is ever copied.

How the work is split: C is cut into BLOCK_M x BLOCK_N tiles, one program per tile; a program walks the
shared dimension K in steps of BLOCK_K, loading a BLOCK_M x BLOCK_K tile of A and a BLOCK_K x BLOCK_N
tile of B and accumulating their tl.dot (tensor cores in TF32 when the precision is "tf32"). Block
sizes come from `triton.autotune`, re-tuned per (M, N, K), bias and precision (TF32's best tile is not
exact float32's).

Split-K: the encoder's heads multiply a batch of 64 by a (92160 -> 200) matrix: C has only a handful of
tiles and each would walk 92160 values of K alone, leaving most of the GPU idle. When C has too few
tiles, K is cut into SPLITS ranges (a third grid axis); each program writes its partial C to a scratch
slab, and `reduce.finish` adds the slabs and the bias.
"""
import triton
import triton.language as tl

from . import reduce, runtime
from .arrays import contiguous

# (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages). The interpreter runs the first, untimed.
GEMM_CONFIGS = [
    triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk}, num_warps=w, num_stages=s)
    for bm, bn, bk, w, s in [
        (64, 64, 32, 4, 4),
        (128, 128, 32, 8, 3),
        (128, 64, 32, 4, 4),
        (64, 128, 32, 4, 4),
        (32, 64, 64, 4, 4),
    ]
]
SPLIT_TILE = 64     # the tile side assumed when deciding whether to split K
SPLIT_MIN_K = 256   # the least K worth giving a split of its own


@runtime.autotune(GEMM_CONFIGS, key=["M", "N", "K", "HAS_BIAS", "PRECISION"])
@triton.jit
def linear_kernel(a_ptr, b_ptr, bias_ptr, c_ptr, M, N, K, k_per_split,
                  stride_am, stride_ak, stride_bk, stride_bn,
                  HAS_BIAS: tl.constexpr, PRECISION: tl.constexpr,
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    split = tl.program_id(2)
    k_start = split * k_per_split
    k_end = tl.minimum(k_start + k_per_split, K)
    row_mask = rows < M
    col_mask = cols < N
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=c_ptr.dtype.element_ty)
    for k0 in range(k_start, k_end, BLOCK_K):
        ks = k0 + tl.arange(0, BLOCK_K)
        k_mask = ks < k_end
        a = tl.load(a_ptr + rows[:, None] * stride_am + ks[None, :] * stride_ak,
                    mask=row_mask[:, None] & k_mask[None, :], other=0.0)
        b = tl.load(b_ptr + ks[:, None] * stride_bk + cols[None, :] * stride_bn,
                    mask=k_mask[:, None] & col_mask[None, :], other=0.0)
        acc = tl.dot(a, b, acc, input_precision=PRECISION, out_dtype=acc.dtype)
    if HAS_BIAS:
        acc += tl.load(bias_ptr + cols, mask=col_mask, other=0.0)[None, :]
    # C is row-major (M, N); split s writes slab s of a (SPLITS, M, N) scratch (s = 0: C itself)
    offsets = split * M * N + rows[:, None] * N + cols[None, :]
    tl.store(c_ptr + offsets, acc, mask=row_mask[:, None] & col_mask[None, :])


def matmul(a, a_strides, b, b_strides, m, n, k, bias=None):
    """C (m, n) = A (m, k) @ B (k, n) + bias, A and B read through (row, column) element strides."""
    dtype = a.dtype
    tiles = runtime.cdiv(m, SPLIT_TILE) * runtime.cdiv(n, SPLIT_TILE)
    splits = max(1, min(runtime.cdiv(runtime.parallelism(), tiles), k // SPLIT_MIN_K))
    k_per_split = runtime.cdiv(runtime.cdiv(k, splits), SPLIT_MIN_K) * SPLIT_MIN_K if splits > 1 else k
    splits = runtime.cdiv(k, k_per_split)
    out = runtime.empty((m, n), dtype)
    target = out if splits == 1 else runtime.empty((splits, m, n), dtype)
    fuse_bias = bias is not None and splits == 1

    def grid(meta):
        return runtime.cdiv(m, meta["BLOCK_M"]), runtime.cdiv(n, meta["BLOCK_N"]), splits

    runtime.launch(linear_kernel, grid, a, b, bias if fuse_bias else target, target, m, n, k, k_per_split,
                   *a_strides, *b_strides, HAS_BIAS=fuse_bias, PRECISION=runtime.dot_precision(dtype))
    if splits > 1:
        reduce.finish(target, splits, m * n, out, bias=bias)
    return out


# --- launchers (their arguments checked already, kernels/contract.py): the products ----------------------

def linear_forward(x, w, b):
    x, w, b = contiguous(x, w, b)
    (batch, n_in), n_out = x.shape, w.shape[0]
    # y = x @ w.T: A = x (B, I) with strides (I, 1); B = w.T (I, O), i.e. w read with strides (1, I)
    return matmul(x, (n_in, 1), w, (1, n_in), batch, n_out, n_in, bias=b)


def linear_backward(dy, x, w):
    dy, x, w = contiguous(dy, x, w)
    (batch, n_in), n_out = x.shape, w.shape[0]
    dx = matmul(dy, (n_out, 1), w, (n_in, 1), batch, n_in, n_out)     # dy (B, O) @ w (O, I)
    dw = matmul(dy, (1, n_out), x, (n_in, 1), n_out, n_in, batch)     # dy.T (O, B) @ x (B, I)
    return dx, dw, reduce.bias_backward(dy)
