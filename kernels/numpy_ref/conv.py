"""conv2d, the definition: the textbook im2col and one matrix product for the whole batch.

Forward. With x (N, C, H, W), w (C_out, C, kH, kW), stride s and zero padding p (xpad = x padded):

    y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] * xpad[n, c, s*i + u, s*j + v]

im2col gathers, for every output pixel (i, j) of every image n, the C*kH*kW input values its window
sees into one column:

    cols  (C*kH*kW, N*H_out*W_out)      rows ordered (c, u, v) like w's trailing axes, columns (n, i, j)

and the sum over (c, u, v) is one GEMM over the whole batch:

    Y = W @ cols        W = w.reshape(C_out, C*kH*kW);  Y (C_out, N*H_out*W_out) is y as (o, n, i, j)

The gather is one strided slice per kernel offset (u, v): the values at offset (u, v) of every window
are xpad[:, :, u::s, v::s] cut to H_out x W_out, so the loop runs kH*kW times, never over pixels.
(The batch is folded into the GEMM's columns rather than one product per image: the deepest layers
have tens of pixels per image, and one large GEMM runs near the BLAS's peak where N small ones do not.)

Backward. Y is linear in W and in cols; with dY = dy laid out as Y, (C_out, N*H_out*W_out):

    dW    = dY @ cols^T     every window's input values, weighted by its upstream gradient, summed
                            over all pixels of all images (the GEMM's inner dimension)
    dcols = W^T @ dY        each window's share of the input gradient
    dx    = col2im(dcols)   col2im is the adjoint of im2col: each window adds its values back
                            where im2col read them (what lands on the padding is dropped)
    db    = sum of dy over n, i, j

docs/derivations/conv2d_weight_gradient.md derives dW from the formula above (and checks it), and
docs/derivations/conv_transpose_adjoint.md why col2im(W^T dY) is the transposed convolution.

This file is the definition the backend's faster form is held to: conv_phases.py computes the same
sums (through the stride phases of x, with wide rows) and is what the NumPy backend runs by default;
`kernels.numpy_ref.set_conv_variant("im2col")` runs this one instead (tests/test_numpy_ref_fast_forms.py
holds the two together; bench.kernels times them side by side). Everything runs in the input's dtype.
"""
import numpy as np

from kernels.shapes import conv2d_out_size


def im2col(x, kh, kw, stride, padding):
    """x (N, C, H, W) -> cols (C*kH*kW, N*H_out*W_out): cols[(c, u, v), (n, i, j)] = xpad[n, c, s*i + u, s*j + v]."""
    n, c, h, w = x.shape
    h_out, w_out = conv2d_out_size(h, kh, stride, padding), conv2d_out_size(w, kw, stride, padding)
    xpad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.empty((c, kh, kw, n, h_out, w_out), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            at_offset = xpad[:, :, u:u + stride * h_out:stride, v:v + stride * w_out:stride]   # (N, C, H_out, W_out)
            cols[:, u, v] = at_offset.transpose(1, 0, 2, 3)
    return cols.reshape(c * kh * kw, n * h_out * w_out)


def col2im(dcols, x_shape, kh, kw, stride, padding):
    """The adjoint of im2col: dcols (C*kH*kW, N*H_out*W_out) -> dx (N, C, H, W), overlapping windows summed."""
    n, c, h, w = x_shape
    h_out, w_out = conv2d_out_size(h, kh, stride, padding), conv2d_out_size(w, kw, stride, padding)
    dcols = dcols.reshape(c, kh, kw, n, h_out, w_out)
    dxpad = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=dcols.dtype)
    for u in range(kh):
        for v in range(kw):
            dxpad[:, :, u:u + stride * h_out:stride, v:v + stride * w_out:stride] += dcols[:, u, v].transpose(1, 0, 2, 3)
    return np.ascontiguousarray(dxpad[:, :, padding:padding + h, padding:padding + w])


def _as_rows(dy):
    """dy (N, C_out, H_out, W_out) -> dY (C_out, N*H_out*W_out), Y's layout."""
    return dy.transpose(1, 0, 2, 3).reshape(dy.shape[1], -1)


def conv2d_forward(x, w, b, stride, padding):
    c_out, _, kh, kw = w.shape
    y = w.reshape(c_out, -1) @ im2col(x, kh, kw, stride, padding)         # (C_out, N*H_out*W_out)
    n, h_out = x.shape[0], conv2d_out_size(x.shape[2], kh, stride, padding)
    y = y.reshape(c_out, n, h_out, -1).transpose(1, 0, 2, 3)
    return np.ascontiguousarray(y if b is None else y + b.reshape(1, -1, 1, 1))


def conv2d_backward_data(dy, w, x_shape, stride, padding):
    """dx = col2im(W^T @ dY): the input gradient (this is also conv_transpose2d's forward)."""
    c_out, _, kh, kw = w.shape
    return col2im(w.reshape(c_out, -1).T @ _as_rows(dy), x_shape, kh, kw, stride, padding)


def conv2d_backward_weight(dy, x, w_shape, stride, padding):
    """dW = dY @ cols^T, summed over images n and output pixels; db = sum of dy."""
    _, _, kh, kw = w_shape
    dw = _as_rows(dy) @ im2col(x, kh, kw, stride, padding).T
    return dw.reshape(w_shape), dy.sum(axis=(0, 2, 3))


def conv2d_backward(dy, x, w, stride, padding):
    """(dx, dw, db) of y = conv2d(x, w) + b for upstream gradient dy."""
    return (conv2d_backward_data(dy, w, x.shape, stride, padding),) + conv2d_backward_weight(dy, x, w.shape, stride, padding)
