"""2-D transposed convolution, as the adjoint of the convolution: no kernel of its own.

What it computes (x: (N, C_in, H, W), w: (C_in, C_out, KH, KW), s = stride, p = padding,
H_out = (H - 1)*s - 2p + KH + output_padding):
    y[n, co, oh, ow] = b[co] + sum over (ci, ih, iw, kh, kw) with oh = ih*s - p + kh, ow = iw*s - p + kw
                               of x[n, ci, ih, iw] * w[ci, co, kh, kw]
This is the data gradient of a convolution whose weight is w (its C_out is our C_in) and whose input
has y's shape (x plays dy, y plays dx), so all three passes are convolution kernels with the roles
exchanged (docs/derivations/conv_transpose_adjoint.md derives it, with a check you can run):
    forward          y  = conv.backward_data(dy=x, w, x_shape=y's shape) + b
    data gradient    dx = conv.forward(dy, w)                 (the adjoint of the adjoint: a convolution)
    weight gradient  dw = conv.backward_weight(dy=x, x=dy)     (the convolution's dw with x and dy exchanged)
    bias gradient    db = sum of dy over n, oh, ow
output_padding only lengthens y by rows and columns at the bottom and right (they still get the taps
that reach them, and the bias): the data-gradient kernel takes y's size as given and needs no special case.

How the work is split: see conv.py; the forward runs the phase-split data-gradient kernel, which is what
makes the decoder's stride-2 upsampling skip the three quarters of multiply-adds that would land between
input pixels.
"""
from kernels.shapes import as_shape, conv_transpose2d_shape

from . import conv, reduce
from .arrays import contiguous

# The contract's ops (their arguments checked already, kernels/contract.py), on the convolution kernels.


def conv_transpose2d_forward(x, w, b, stride, padding, output_padding):
    y_shape = conv_transpose2d_shape(x.shape, w.shape, stride, padding, output_padding)
    x, w, b = contiguous(x, w, b)
    return conv.backward_data(x, w, y_shape, stride, padding, b=b)


def conv_transpose2d_backward_data(dy, w, stride, padding):
    return conv.conv2d_forward(dy, w, None, stride, padding)


def conv_transpose2d_backward_weight(dy, x, w_shape, stride, padding):
    dy, x = contiguous(dy, x)
    # the convolution's weight gradient with the roles of x and dy exchanged
    return conv.backward_weight(x, dy, as_shape(w_shape), stride, padding), reduce.bias_backward(dy)


def conv_transpose2d_backward(dy, x, w, stride, padding, output_padding):
    dx = conv_transpose2d_backward_data(dy, w, stride, padding)
    dw, db = conv_transpose2d_backward_weight(dy, x, w.shape, stride, padding)
    return dx, dw, db
