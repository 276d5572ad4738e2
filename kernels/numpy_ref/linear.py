"""Linear (fully connected) layer: y = x @ w.T + b, with x (N, in), w (out, in), b (out,).

Backward. y is bilinear in x and w:
    dx = dy @ w          (each input feature collects the gradient of every output it feeds)
    dw = dy.T @ x        (dy[n, o] * x[n, i], summed over the batch)
    db = sum_n dy
Everything runs in the input's dtype (NumPy's GEMM accumulates in it).
"""
from kernels.shapes import check_linear, check_rank

from ._checks import check_array, check_shape


def linear_forward(x, w, b):
    check_array("x", x)
    check_array("w", w, x.dtype)
    if b is not None:
        check_array("b", b, x.dtype)
    check_linear(x, w, b)
    y = x @ w.T
    if b is not None:
        y += b
    return y


def linear_backward(dy, x, w):
    check_array("x", x)
    check_array("w", w, x.dtype)
    check_array("dy", dy, x.dtype)
    check_linear(x, w, None)
    check_rank("dy", dy, 2)
    check_shape("dy", dy, (x.shape[0], w.shape[0]))
    return dy @ w, dy.T @ x, dy.sum(axis=0)
