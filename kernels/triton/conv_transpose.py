"""2-D transposed convolution, as the adjoint of the convolution: no kernel of its own.

What it computes (x: (N, C_in, H, W), w: (C_in, C_out, KH, KW), s = stride, p = padding,
H_out = (H - 1)*s - 2p + KH + output_padding):
    y[n, co, oh, ow] = b[co] + sum over (ci, ih, iw, kh, kw) with oh = ih*s - p + kh, ow = iw*s - p + kw
                               of x[n, ci, ih, iw] * w[ci, co, kh, kw]
Read against conv.py's formulas, this is exactly the data gradient of a convolution whose weight is w
(its C_out is our C_in) and whose input has y's shape: x plays dy, y plays dx. A linear map's adjoint
runs the same sum the other way, so all three passes of the transposed convolution are convolution
kernels with the roles exchanged:
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
from kernels import shapes
from . import conv, reduce, runtime


def conv_transpose2d_forward(x, w, b, stride, padding, output_padding):
    out_shape = shapes.check_conv_transpose2d(x, w, b, stride, padding, output_padding)
    runtime.check_dtype("w", w, x)
    if b is not None:
        runtime.check_dtype("b", b, x)
        b = runtime.device_array("b", b)
    x, w = runtime.device_array("x", x), runtime.device_array("w", w)
    return conv.backward_data(x, w, out_shape, stride, padding, b=b)


def conv_transpose2d_backward_data(dy, w, stride, padding):
    # the convolution of dy with w (read as a convolution weight) has x's shape by construction
    out_shape = shapes.check_conv2d(dy, w, None, stride, padding)
    runtime.check_dtype("w", w, dy)
    return conv.forward(runtime.device_array("dy", dy), runtime.device_array("w", w), None, stride, padding,
                        out_shape)


def conv_transpose2d_backward_weight(dy, x, w_shape, stride, padding):
    w_shape = conv.check_w_shape("w_shape", w_shape)   # read as the convolution's (C_out, C_in, KH, KW)
    # dy must be an output the transposed convolution of x could have made: convolving it with a weight
    # of w_shape gives back x's shape
    back = shapes.check_conv2d(dy, conv.ShapeOnly(w_shape, dy.dtype), None, stride, padding)
    shapes.check_rank("x", x, 4)
    if tuple(x.shape) != back:
        raise ValueError(f"dy of shape {tuple(dy.shape)} is not the output of a transposed convolution of x "
                         f"{tuple(x.shape)} with weight {w_shape}, stride {stride}, padding {padding}")
    runtime.check_dtype("x", x, dy)
    dy, x = runtime.device_array("dy", dy), runtime.device_array("x", x)
    return conv.backward_weight(x, dy, w_shape, stride, padding), reduce.channel_sums(dy)


def conv_transpose2d_backward(dy, x, w, stride, padding, output_padding):
    out_shape = shapes.check_conv_transpose2d(x, w, None, stride, padding, output_padding)
    runtime.check_dtype("w", w, x)
    dy = conv.check_grad(dy, out_shape, x)
    x, w = runtime.device_array("x", x), runtime.device_array("w", w)
    dx = conv.forward(dy, w, None, stride, padding, x.shape)
    dw = conv.backward_weight(x, dy, w.shape, stride, padding)
    return dx, dw, reduce.channel_sums(dy)
