"""2-D convolution as implicit GEMM: forward, data gradient and weight gradient, each one tl.dot loop.

What it computes (NCHW; x: (N, C_in, H, W), w: (C_out, C_in, KH, KW), s = stride, p = padding):
    y[n, co, oh, ow] = b[co] + sum_{ci, kh, kw} x[n, ci, oh*s - p + kh, ow*s - p + kw] * w[co, ci, kh, kw]
Each input pixel x[n, ci, ih, iw] meets w[co, ci, kh, kw] in exactly the outputs with ih = oh*s - p + kh,
so the gradients are the same sum read the other two ways:
    dx[n, ci, ih, iw] = sum over (co, kh, kw) with oh = (ih + p - kh) / s a whole number in range
                        of dy[n, co, oh, ow] * w[co, ci, kh, kw]
    dw[co, ci, kh, kw] = sum over (n, oh, ow) of dy[n, co, oh, ow] * x[n, ci, oh*s - p + kh, ow*s - p + kw]
    db[co] = sum over (n, oh, ow) of dy[n, co, oh, ow]

"Implicit GEMM" means each of the three is computed as a matrix product whose operands are never built:
    forward   Y (N*H_out*W_out, C_out) = X_cols (N*H_out*W_out, C_in*KH*KW) @ W.T (C_in*KH*KW, C_out)
    weights   dW (C_out, C_in*KH*KW)   = dY.T (C_out, N*H_out*W_out) @ X_cols (N*H_out*W_out, C_in*KH*KW)
    data      dX (pixels, C_in)        = dY_cols (pixels, C_out*taps) @ W (C_out*taps, C_in)
where X_cols is im2col(x): its element (pixel, (ci, kh, kw)) is x at that pixel's window, or 0 in the
padding. The kernels compute the address of every element of such a tile from its two indices and load
it straight from x (masked where the window hangs over the padding), so the patch matrix, 25 times the
size of x for a 5x5 kernel, never exists.

How the work is split: one program per BLOCK_M x BLOCK_N tile of the product, looping over the shared
dimension BLOCK_K at a time: load the A tile, load the B tile, tl.dot into a float32 (float64)
accumulator. Block sizes come from `triton.autotune`, tuned per layer shape, precision and bias (a tile
tuned for exact float32 need not suit TF32's tensor cores, and the array dtypes are part of every key).
  * forward: tiles of (output pixels) x (output channels).
  * weight gradient: tiles of (output channels) x (C_in*KH*KW). Its shared dimension, N*H_out*W_out,
    is long (589,824 for the first layer of broad256x144 at batch 64) while the tiles are few (80 x 75
    is four 64 x 64 tiles), so the shared dimension is split over a third grid axis (split-K) and the
    partial slabs are added by `reduce.finish`.
  * data gradient: with stride s, an input pixel ih is reached only by the taps kh = ih + p (mod s); the
    others fall between output pixels. So the input pixels are split into s*s phases (ih mod s, iw mod s),
    one phase per index of the third grid axis; inside a phase the taps that contribute are the same for
    every pixel, kh = rh, rh + s, rh + 2s, ... (rh = (ih + p) mod s), and the shared dimension is only
    C_out * ceil(KH/s) * ceil(KW/s), a quarter of the full one for s = 2: no multiply-adds with zeros.
The transposed convolution (conv_transpose.py) is the adjoint of this one and runs these same kernels.
"""
import triton
import triton.language as tl

from kernels import shapes
from . import reduce, runtime
from .arrays import contiguous

# (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages); the interpreter runs the first, untimed.
# BLOCK_N = 16 serves the layers with three channels (the frame itself).
CONV_CONFIGS = [
    triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk}, num_warps=w, num_stages=s)
    for bm, bn, bk, w, s in [
        (64, 64, 32, 4, 3),
        (128, 128, 32, 8, 3),
        (128, 64, 32, 4, 3),
        (64, 128, 32, 4, 3),
        (128, 16, 32, 4, 3),
    ]
]
SPLIT_TILE = 64      # tile side assumed when deciding how far to split the weight gradient's reduction
SPLIT_MIN = 512      # the fewest output pixels worth a split of their own


@runtime.autotune(CONV_CONFIGS, key=["M", "C_OUT", "K", "stride", "HAS_BIAS", "PRECISION"])
@triton.jit
def conv2d_forward_kernel(x_ptr, w_ptr, b_ptr, y_ptr, C_IN, H, W, C_OUT, H_OUT, W_OUT, M, K, stride, padding,
                          KH: tl.constexpr, KW: tl.constexpr, HAS_BIAS: tl.constexpr,
                          PRECISION: tl.constexpr,
                          BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    # rows of the product: output pixels m = (n, oh, ow); columns: output channels
    m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    co = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    ow = m % W_OUT
    oh = (m // W_OUT) % H_OUT
    n = m // (W_OUT * H_OUT)
    ih0 = oh * stride - padding           # the window's top-left corner in x
    iw0 = ow * stride - padding
    x_image = n * (C_IN * H * W)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=y_ptr.dtype.element_ty)
    for k0 in range(0, K, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)    # the shared index k = (ci, kh, kw), w's own memory order
        kw = k % KW
        kh = (k // KW) % KH
        ci = k // (KH * KW)
        ih = ih0[:, None] + kh[None, :]
        iw = iw0[:, None] + kw[None, :]
        a_mask = (m < M)[:, None] & (k < K)[None, :] & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
        a = tl.load(x_ptr + x_image[:, None] + (ci * (H * W))[None, :] + ih * W + iw, mask=a_mask, other=0.0)
        # B[k, co] = w[co, ci, kh, kw] = w_flat[co * K + k]
        b = tl.load(w_ptr + co[None, :] * K + k[:, None], mask=(k < K)[:, None] & (co < C_OUT)[None, :],
                    other=0.0)
        acc = tl.dot(a, b, acc, input_precision=PRECISION, out_dtype=acc.dtype)
    if HAS_BIAS:
        acc += tl.load(b_ptr + co, mask=co < C_OUT, other=0.0)[None, :]
    hw_out = H_OUT * W_OUT
    y_offsets = (n * (C_OUT * hw_out) + oh * W_OUT + ow)[:, None] + (co * hw_out)[None, :]
    tl.store(y_ptr + y_offsets, acc, mask=(m < M)[:, None] & (co < C_OUT)[None, :])


@runtime.autotune(CONV_CONFIGS, key=["C_OUT", "K", "R", "stride", "PRECISION"])
@triton.jit
def conv2d_backward_weight_kernel(dy_ptr, x_ptr, dw_ptr, C_IN, H, W, C_OUT, H_OUT, W_OUT, R, K, stride, padding,
                                  r_per_split, KH: tl.constexpr, KW: tl.constexpr,
                                  PRECISION: tl.constexpr,
                                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    # rows: output channels co; columns: k = (ci, kh, kw); shared: output pixels r = (n, oh, ow)
    co = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    k = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    split = tl.program_id(2)
    kw = k % KW
    kh = (k // KW) % KH
    ci = k // (KH * KW)
    r_start = split * r_per_split
    r_end = tl.minimum(r_start + r_per_split, R)
    hw_out = H_OUT * W_OUT
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=dw_ptr.dtype.element_ty)
    for r0 in range(r_start, r_end, BLOCK_K):
        r = r0 + tl.arange(0, BLOCK_K)
        ow = r % W_OUT
        oh = (r // W_OUT) % H_OUT
        n = r // hw_out
        a = tl.load(dy_ptr + (co * hw_out)[:, None] + (n * (C_OUT * hw_out) + oh * W_OUT + ow)[None, :],
                    mask=(co < C_OUT)[:, None] & (r < r_end)[None, :], other=0.0)
        ih = (oh * stride - padding)[:, None] + kh[None, :]
        iw = (ow * stride - padding)[:, None] + kw[None, :]
        b_mask = (r < r_end)[:, None] & (k < K)[None, :] & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
        b = tl.load(x_ptr + (n * (C_IN * H * W))[:, None] + (ci * (H * W))[None, :] + ih * W + iw,
                    mask=b_mask, other=0.0)
        acc = tl.dot(a, b, acc, input_precision=PRECISION, out_dtype=acc.dtype)
    # dw is (C_OUT, K) row-major; split s writes slab s of a (SPLITS, C_OUT, K) scratch
    offsets = split * (C_OUT * K) + co[:, None] * K + k[None, :]
    tl.store(dw_ptr + offsets, acc, mask=(co < C_OUT)[:, None] & (k < K)[None, :])


@runtime.autotune(CONV_CONFIGS, key=["M_PHASE", "C_IN", "K_PHASE", "STRIDE", "HAS_BIAS", "PRECISION"])
@triton.jit
def conv2d_backward_data_kernel(dy_ptr, w_ptr, b_ptr, dx_ptr, N, C_IN, H, W, C_OUT, H_OUT, W_OUT, M_PHASE,
                                K_PHASE, padding, KH: tl.constexpr, KW: tl.constexpr, STRIDE: tl.constexpr,
                                HAS_BIAS: tl.constexpr, PRECISION: tl.constexpr,
                                BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    TAPS_H: tl.constexpr = (KH + STRIDE - 1) // STRIDE    # taps per phase along each axis
    TAPS_W: tl.constexpr = (KW + STRIDE - 1) // STRIDE
    phase = tl.program_id(2)
    ph = phase // STRIDE                  # this program's input pixels: ih = ph + s*i, iw = pw + s*j
    pw = phase % STRIDE
    rh = (ph + padding) % STRIDE          # the taps that reach them: kh = rh + s*th, kw = rw + s*tw
    rw = (pw + padding) % STRIDE
    qh = (ph + padding - rh) // STRIDE    # and from where: oh = (ih + p - kh) / s = qh + i - th
    qw = (pw + padding - rw) // STRIDE
    rows_h = (H + STRIDE - 1) // STRIDE
    rows_w = (W + STRIDE - 1) // STRIDE
    m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)   # (n, i, j) within the phase
    ci = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    j = m % rows_w
    i = (m // rows_w) % rows_h
    n = m // (rows_w * rows_h)
    ih = ph + STRIDE * i
    iw = pw + STRIDE * j
    pixel_mask = (m < M_PHASE) & (ih < H) & (iw < W)
    hw_out = H_OUT * W_OUT
    dy_image = n * (C_OUT * hw_out)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=dx_ptr.dtype.element_ty)
    for k0 in range(0, K_PHASE, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)    # shared index k = (co, th, tw)
        tw = k % TAPS_W
        th = (k // TAPS_W) % TAPS_H
        co = k // (TAPS_W * TAPS_H)
        kh = rh + STRIDE * th
        kw = rw + STRIDE * tw
        k_mask = (k < K_PHASE) & (kh < KH) & (kw < KW)
        oh = qh + i[:, None] - th[None, :]
        ow = qw + j[:, None] - tw[None, :]
        a_mask = pixel_mask[:, None] & k_mask[None, :] & (oh >= 0) & (oh < H_OUT) & (ow >= 0) & (ow < W_OUT)
        a = tl.load(dy_ptr + dy_image[:, None] + (co * hw_out)[None, :] + oh * W_OUT + ow, mask=a_mask,
                    other=0.0)
        # B[k, ci] = w[co, ci, kh, kw]
        w_offsets = (co * (C_IN * KH * KW) + kh * KW + kw)[:, None] + (ci * (KH * KW))[None, :]
        b = tl.load(w_ptr + w_offsets, mask=k_mask[:, None] & (ci < C_IN)[None, :], other=0.0)
        acc = tl.dot(a, b, acc, input_precision=PRECISION, out_dtype=acc.dtype)
    if HAS_BIAS:   # the transposed convolution's bias, added where it runs this kernel as its forward
        acc += tl.load(b_ptr + ci, mask=ci < C_IN, other=0.0)[None, :]
    dx_offsets = (n * (C_IN * H * W) + ih * W + iw)[:, None] + (ci * (H * W))[None, :]
    tl.store(dx_ptr + dx_offsets, acc, mask=pixel_mask[:, None] & (ci < C_IN)[None, :])


# --- the products, on shapes already checked ---------------------------------------------------------

def forward(x, w, b, stride, padding, out_shape):
    """y = conv2d(x, w) + b for contiguous x (N, C_in, H, W), w (C_out, C_in, KH, KW)."""
    n, c_in, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    _, _, h_out, w_out = out_shape
    y = runtime.empty(out_shape, x.dtype)
    m, k = n * h_out * w_out, c_in * kh * kw

    def grid(meta):
        return runtime.cdiv(m, meta["BLOCK_M"]), runtime.cdiv(c_out, meta["BLOCK_N"])

    runtime.launch(conv2d_forward_kernel, grid, x, w, y if b is None else b, y, c_in, h, wd, c_out, h_out,
                   w_out, m, k, stride, padding, KH=kh, KW=kw, HAS_BIAS=b is not None,
                   PRECISION=runtime.dot_precision(x.dtype))
    return y


def backward_data(dy, w, x_shape, stride, padding, b=None):
    """dx = the adjoint of conv2d(., w) applied to dy (+ b per channel of dx), dx of shape x_shape."""
    n, c_out, h_out, w_out = dy.shape
    _, c_in, kh, kw = w.shape
    _, _, h, wd = x_shape
    dx = runtime.empty(tuple(x_shape), dy.dtype)
    m_phase = n * runtime.cdiv(h, stride) * runtime.cdiv(wd, stride)
    k_phase = c_out * runtime.cdiv(kh, stride) * runtime.cdiv(kw, stride)

    def grid(meta):
        return runtime.cdiv(m_phase, meta["BLOCK_M"]), runtime.cdiv(c_in, meta["BLOCK_N"]), stride * stride

    runtime.launch(conv2d_backward_data_kernel, grid, dy, w, dx if b is None else b, dx, n, c_in, h, wd, c_out,
                   h_out, w_out, m_phase, k_phase, padding, KH=kh, KW=kw, STRIDE=stride,
                   HAS_BIAS=b is not None, PRECISION=runtime.dot_precision(dy.dtype))
    return dx


def backward_weight(dy, x, w_shape, stride, padding):
    """dw (w_shape) = the gradient of conv2d(x, w) against w, given dy."""
    n, c_in, h, wd = x.shape
    _, c_out, h_out, w_out = dy.shape
    kh, kw = w_shape[2], w_shape[3]
    k, r = c_in * kh * kw, n * h_out * w_out
    tiles = runtime.cdiv(c_out, SPLIT_TILE) * runtime.cdiv(k, SPLIT_TILE)
    splits = max(1, min(runtime.cdiv(runtime.parallelism(), tiles), r // SPLIT_MIN))
    r_per_split = runtime.cdiv(runtime.cdiv(r, splits), SPLIT_MIN) * SPLIT_MIN if splits > 1 else r
    splits = runtime.cdiv(r, r_per_split)
    dw = runtime.empty(tuple(w_shape), dy.dtype)
    target = dw if splits == 1 else runtime.empty((splits, c_out, k), dy.dtype)

    def grid(meta):
        return runtime.cdiv(c_out, meta["BLOCK_M"]), runtime.cdiv(k, meta["BLOCK_N"]), splits

    runtime.launch(conv2d_backward_weight_kernel, grid, dy, x, target, c_in, h, wd, c_out, h_out, w_out, r, k,
                   stride, padding, r_per_split, KH=kh, KW=kw, PRECISION=runtime.dot_precision(dy.dtype))
    if splits > 1:
        reduce.finish(target, splits, c_out * k, dw)
    return dw


# --- the contract's ops (their arguments checked already, kernels/contract.py): the products -----------

def conv2d_forward(x, w, b, stride, padding):
    out_shape = shapes.conv2d_shape(x.shape, w.shape, stride, padding)
    return forward(*contiguous(x, w, b), stride, padding, out_shape)


def conv2d_backward_data(dy, w, x_shape, stride, padding):
    return backward_data(*contiguous(dy, w), shapes.as_shape(x_shape), stride, padding)


def conv2d_backward_weight(dy, x, w_shape, stride, padding):
    dy, x = contiguous(dy, x)
    return backward_weight(dy, x, shapes.as_shape(w_shape), stride, padding), reduce.bias_backward(dy)


def conv2d_backward(dy, x, w, stride, padding):
    dx = conv2d_backward_data(dy, w, x.shape, stride, padding)
    dw, db = conv2d_backward_weight(dy, x, w.shape, stride, padding)
    return dx, dw, db
