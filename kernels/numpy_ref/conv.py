"""conv2d, the reference definition: im2col + one matrix product per image.

Forward. With x (N, C, H, W), w (C_out, C, kH, kW), stride s and zero padding p (xpad = x padded):

    y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] * xpad[n, c, s*i + u, s*j + v]

im2col gathers, for every output pixel (i, j), the C*kH*kW input values its window sees into one
column: cols[n] is (C*kH*kW, H_out*W_out), rows ordered (c, u, v) like w's trailing axes. Then

    y[n] = W @ cols[n]          W = w.reshape(C_out, C*kH*kW)

a GEMM per image (matmul broadcasts over n) whose result is already in NCHW order.

Backward. y is linear in W and in cols; with dY[n] = dy[n].reshape(C_out, H_out*W_out):

    dW       = sum_n dY[n] @ cols[n]^T    every window's input values, weighted by its upstream
    dcols[n] = W^T @ dY[n]                each window's share of the input gradient
    dx       = col2im(dcols)              col2im is the adjoint of im2col: each window adds its
                                          values back where im2col read them (padding dropped)
    db       = sum of dy over n, i, j

The work is split over the kH*kW kernel offsets (u, v): for each, one strided slice of xpad holds
that offset's value for every output pixel, so the Python loop runs 25 times for a 5x5 kernel,
never over pixels. Everything runs in the input's dtype (the GEMM accumulates in it too).
"""
import numpy as np

from kernels.shapes import check_conv2d

from ._checks import check_array, check_shape, check_shape_tuple, like


def im2col(x, kh, kw, stride, padding):
    """x (N, C, H, W) -> cols (N, C*kH*kW, H_out*W_out): the window of every output pixel."""
    n, c, h, w = x.shape
    h_out = (h + 2 * padding - kh) // stride + 1
    w_out = (w + 2 * padding - kw) // stride + 1
    xpad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.empty((n, c, kh, kw, h_out, w_out), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            # kernel offset (u, v) sees xpad[s*i + u, s*j + v] for every output pixel (i, j)
            cols[:, :, u, v] = xpad[:, :, u:u + stride * (h_out - 1) + 1:stride, v:v + stride * (w_out - 1) + 1:stride]
    return cols.reshape(n, c * kh * kw, h_out * w_out)


def col2im(cols, x_shape, kh, kw, stride, padding):
    """The adjoint of im2col: cols (N, C*kH*kW, H_out*W_out) -> (N, C, H, W), overlaps summed."""
    n, c, h, w = x_shape
    h_out = (h + 2 * padding - kh) // stride + 1
    w_out = (w + 2 * padding - kw) // stride + 1
    cols = cols.reshape(n, c, kh, kw, h_out, w_out)
    xpad = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=cols.dtype)
    for u in range(kh):
        for v in range(kw):
            xpad[:, :, u:u + stride * (h_out - 1) + 1:stride, v:v + stride * (w_out - 1) + 1:stride] += cols[:, :, u, v]
    return np.ascontiguousarray(xpad[:, :, padding:padding + h, padding:padding + w])


def conv2d_forward(x, w, b, stride, padding):
    check_array("x", x)
    check_array("w", w, x.dtype)
    if b is not None:
        check_array("b", b, x.dtype)
    n, c_out, h_out, w_out = check_conv2d(x, w, b, stride, padding)
    _, _, kh, kw = w.shape
    cols = im2col(x, kh, kw, stride, padding)                     # (N, C*kH*kW, H_out*W_out)
    y = np.matmul(w.reshape(c_out, -1), cols)                     # (N, C_out, H_out*W_out)
    y = y.reshape(n, c_out, h_out, w_out)
    if b is not None:
        y += b.reshape(1, c_out, 1, 1)
    return y


def conv2d_backward_data(dy, w, x_shape, stride, padding):
    """dx = col2im(W^T @ dY): the input gradient (this is also conv_transpose2d's forward)."""
    x_shape = check_shape_tuple("x_shape", x_shape, 4)
    check_array("dy", dy)
    check_array("w", w, dy.dtype)
    check_shape("dy", dy, check_conv2d(like(x_shape, dy.dtype), w, None, stride, padding))
    c_out, _, kh, kw = w.shape
    n = dy.shape[0]
    dcols = np.matmul(w.reshape(c_out, -1).T, dy.reshape(n, c_out, -1))   # (N, C*kH*kW, H_out*W_out)
    return col2im(dcols, x_shape, kh, kw, stride, padding)


def conv2d_backward_weight(dy, x, w_shape, stride, padding):
    """dW[o, k] = sum over images n and output pixels l of dY[n, o, l] * cols[n, k, l]; db = sum dy."""
    w_shape = check_shape_tuple("w_shape", w_shape, 4)
    check_array("dy", dy)
    check_array("x", x, dy.dtype)
    check_shape("dy", dy, check_conv2d(x, like(w_shape, dy.dtype), None, stride, padding))
    c_out, _, kh, kw = w_shape
    n = dy.shape[0]
    cols = im2col(x, kh, kw, stride, padding)
    dw = np.tensordot(dy.reshape(n, c_out, -1), cols, axes=([0, 2], [0, 2]))  # sum over n and l
    return dw.reshape(w_shape), dy.sum(axis=(0, 2, 3))


def conv2d_backward(dy, x, w, stride, padding):
    """(dx, dw, db) of y = conv2d(x, w) + b for upstream gradient dy."""
    check_array("x", x)
    check_array("w", w, x.dtype)
    dx = conv2d_backward_data(dy, w, x.shape, stride, padding)
    dw, db = conv2d_backward_weight(dy, x, w.shape, stride, padding)
    return dx, dw, db
