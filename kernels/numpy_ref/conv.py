"""conv2d, the reference definition: im2col + one matrix product for the whole batch.

Forward. With x (N, C, H, W), w (C_out, C, kH, kW), stride s and zero padding p (xpad = x padded):

    y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] * xpad[n, c, s*i + u, s*j + v]

im2col gathers, for every output pixel (i, j) of every image n, the C*kH*kW input values its window
sees into one column:

    cols  (C*kH*kW, N*H_out*W_out)      rows ordered (c, u, v) like w's trailing axes, columns (n, i, j)

and the sum over (c, u, v) is one GEMM over the whole batch:

    Y = W @ cols        W = w.reshape(C_out, C*kH*kW);  Y (C_out, N*H_out*W_out) is y as (o, n, i, j)

One transposed copy, with the bias added on the way, puts Y in NCHW order.

Backward. Y is linear in W and in cols; with dY = dy in Y's (C_out, N*H_out*W_out) layout:

    dW    = dY @ cols^T     every window's input values, weighted by its upstream gradient, summed
                            over all pixels of all images (the GEMM's inner dimension)
    dcols = W^T @ dY        each window's share of the input gradient
    dx    = col2im(dcols)   col2im is the adjoint of im2col: each window adds its values back
                            where im2col read them (padding dropped)
    db    = sum of dy over n, i, j

How it is computed. The batch is folded into the GEMM's pixel dimension, (n, i, j) together, rather
than a product per image: the deepest layers have only tens of pixels per image, and one large GEMM
runs near the BLAS's peak where N small ones do not. im2col and col2im work over the kH*kW kernel
offsets (u, v): for each, one slice holds that offset's value for every output pixel, so the Python
loop runs 25 times for a 5x5 kernel, never over pixels or images. Channels lead inside the op so that
each slice is already in cols' column order, and xpad is never built: x is copied straight into its
s*s stride phases (phases[a, b] = xpad[..., a::s, b::s], zero on the padding), in which offset (u, v)
reads a unit-stride window, so NumPy copies and adds contiguous runs instead of every s-th number.
col2im adds into the phases, then copies each phase back to its x positions (what fell on the padding
is dropped). The result is the formula above up to float rounding: the same products, summed over
(c, u, v) in the GEMM's order (tests/test_numpy_ref_fast_forms.py holds these against the plain sum,
written per output pixel). Everything runs in the input's dtype (the GEMM accumulates in it too).
"""
import numpy as np

from kernels.shapes import check_conv2d

from ._checks import check_array, check_shape, check_shape_tuple, like


def _out_size(size, k, stride, padding):
    return (size + 2 * padding - k) // stride + 1


def _phase_grid(size, padding, stride):
    """Rows (or columns) of each stride phase of xpad: (size + 2p) / s, rounded up."""
    return -(-(size + 2 * padding) // stride)


def _phase_slices(size, padding, stride, a):
    """Where phase a meets x along one axis: xpad row s*I + a is x row s*I + a - p, so x rows
    r0, r0 + s, ... (r0 = (a - p) mod s) land at phase rows I0, I0 + 1, ... (I0 = (r0 + p - a) / s)."""
    r0 = (a - padding) % stride
    i0 = (r0 + padding - a) // stride
    count = len(range(r0, size, stride))
    return slice(r0, size, stride), slice(i0, i0 + count)


def _phase_pairs(x_shape, padding, stride):
    """For each phase (a, b): (the x positions it holds, where they sit in the phase)."""
    _, _, h, w = x_shape
    for a in range(stride):
        rows, at_rows = _phase_slices(h, padding, stride, a)
        for b in range(stride):
            cols, at_cols = _phase_slices(w, padding, stride, b)
            yield a, b, (slice(None), slice(None), rows, cols), (slice(None), slice(None), at_rows, at_cols)


def im2col(x, kh, kw, stride, padding):
    """x (N, C, H, W) -> cols (C*kH*kW, N*H_out*W_out): the window of every output pixel of every image,
    cols[(c, u, v), (n, i, j)] = xpad[n, c, s*i + u, s*j + v]."""
    n, c, h, w = x.shape
    s = stride
    h_out, w_out = _out_size(h, kh, s, padding), _out_size(w, kw, s, padding)
    # phases[a, b, c, n, I, J] = xpad[n, c, s*I + a, s*J + b] (zero on the padding), channels first
    phases = np.zeros((s, s, c, n, _phase_grid(h, padding, s), _phase_grid(w, padding, s)), dtype=x.dtype)
    for a, b, in_x, in_phase in _phase_pairs(x.shape, padding, s):
        phases[a, b][in_phase] = x[in_x].transpose(1, 0, 2, 3)
    # offset (u, v) reads xpad[s*i + u, s*j + v] = phases[u % s, v % s, i + u // s, j + v // s]
    cols = np.empty((c, kh, kw, n, h_out, w_out), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            cols[:, u, v] = phases[u % s, v % s, :, :, u // s:u // s + h_out, v // s:v // s + w_out]
    return cols.reshape(c * kh * kw, n * h_out * w_out)


def col2im(dcols, x_shape, kh, kw, stride, padding):
    """The adjoint of im2col: dcols (C*kH*kW, N*H_out*W_out) -> (N, C, H, W), overlaps summed."""
    n, c, h, w = x_shape
    s = stride
    h_out, w_out = _out_size(h, kh, s, padding), _out_size(w, kw, s, padding)
    dcols = dcols.reshape(c, kh, kw, n, h_out, w_out)
    phases = np.zeros((s, s, c, n, _phase_grid(h, padding, s), _phase_grid(w, padding, s)), dtype=dcols.dtype)
    for u in range(kh):
        for v in range(kw):
            phases[u % s, v % s, :, :, u // s:u // s + h_out, v // s:v // s + w_out] += dcols[:, u, v]
    dx = np.empty(x_shape, dtype=dcols.dtype)       # every x position lies in exactly one phase
    for a, b, in_x, in_phase in _phase_pairs(x_shape, padding, s):
        dx[in_x] = phases[a, b][in_phase].transpose(1, 0, 2, 3)     # (the padding's sums are dropped)
    return dx


def _pixels_last(dy):
    """dy (N, C_out, H_out, W_out) -> dY (C_out, N*H_out*W_out), Y's layout."""
    return dy.transpose(1, 0, 2, 3).reshape(dy.shape[1], -1)


def _to_nchw(y, n, h, w, b=None):
    """Y (C_out, N*H*W) -> y (N, C_out, H, W), contiguous, the bias (C_out,) added in the same pass."""
    view = y.reshape(-1, n, h, w).transpose(1, 0, 2, 3)
    if b is None:
        return np.ascontiguousarray(view)
    out = np.empty(view.shape, dtype=y.dtype)
    np.add(view, b.reshape(1, -1, 1, 1), out=out)
    return out


def conv2d_forward(x, w, b, stride, padding):
    check_array("x", x)
    check_array("w", w, x.dtype)
    if b is not None:
        check_array("b", b, x.dtype)
    n, c_out, h_out, w_out = check_conv2d(x, w, b, stride, padding)
    _, _, kh, kw = w.shape
    cols = im2col(x, kh, kw, stride, padding)                     # (C*kH*kW, N*H_out*W_out)
    y = w.reshape(c_out, -1) @ cols                               # (C_out, N*H_out*W_out)
    return _to_nchw(y, n, h_out, w_out, b)


def conv2d_backward_data(dy, w, x_shape, stride, padding):
    """dx = col2im(W^T @ dY): the input gradient (this is also conv_transpose2d's forward)."""
    x_shape = check_shape_tuple("x_shape", x_shape, 4)
    check_array("dy", dy)
    check_array("w", w, dy.dtype)
    check_shape("dy", dy, check_conv2d(like(x_shape, dy.dtype), w, None, stride, padding))
    c_out, _, kh, kw = w.shape
    dcols = w.reshape(c_out, -1).T @ _pixels_last(dy)            # (C*kH*kW, N*H_out*W_out)
    return col2im(dcols, x_shape, kh, kw, stride, padding)


def conv2d_backward_weight(dy, x, w_shape, stride, padding):
    """dW[o, k] = sum over images n and output pixels l of dY[o, (n, l)] * cols[k, (n, l)]; db = sum dy."""
    w_shape = check_shape_tuple("w_shape", w_shape, 4)
    check_array("dy", dy)
    check_array("x", x, dy.dtype)
    check_shape("dy", dy, check_conv2d(x, like(w_shape, dy.dtype), None, stride, padding))
    _, _, kh, kw = w_shape
    cols = im2col(x, kh, kw, stride, padding)
    dw = _pixels_last(dy) @ cols.T                                # (C_out, C*kH*kW): sum over n and l
    return dw.reshape(w_shape), dy.sum(axis=(0, 2, 3))


def conv2d_backward(dy, x, w, stride, padding):
    """(dx, dw, db) of y = conv2d(x, w) + b for upstream gradient dy."""
    check_array("x", x)
    check_array("w", w, x.dtype)
    dx = conv2d_backward_data(dy, w, x.shape, stride, padding)
    dw, db = conv2d_backward_weight(dy, x, w.shape, stride, padding)
    return dx, dw, db
