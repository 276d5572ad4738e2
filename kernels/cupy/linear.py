"""linear (fully connected): y = x @ w.T + b, with x (N, in), w (out, in), b (out,).

The products go to cuBLAS through cupy.matmul (cuBLAS is the one vendor library we allow, and only for GEMMs); the bias and its
gradient are our kernels (bias.cu: a 2-D (N, F) tensor is N images of F channels of one pixel):
    forward   y  = x @ w.T, then y[n, o] += b[o]
    backward  dx = dy @ w,  dw = dy.T @ x,  db = column sums of dy
Every product is one GEMM in the input's dtype (float32 stays full float32 unless CUPY_TF32=1 is set
in the environment, which lets cuBLAS round to TF32).
"""
from .arrays import contiguous
from .bias import bias_forward, bias_backward
from .runtime import empty, xp


def linear_forward(x, w, b):
    x, w, b = contiguous(x, w, b)
    y = empty((x.shape[0], w.shape[0]), x.dtype)
    xp().matmul(x, w.T, out=y)
    if b is not None:
        bias_forward(y, b)
    return y


def linear_backward(dy, x, w):
    x, w, dy = contiguous(x, w, dy)
    dx = empty(x.shape, x.dtype)
    dw = empty(w.shape, x.dtype)
    xp().matmul(dy, w, out=dx)
    xp().matmul(dy.T, x, out=dw)
    return dx, dw, bias_backward(dy)
