"""conv_transpose2d, forward and both backward passes: the adjoint of conv2d, through conv.py's three
products (so it runs in whichever variant set_conv_variant selected).
"""
from kernels import shapes

from . import plan
from .arrays import contiguous
from .bias import bias_forward, bias_backward
from .conv import _backward_data, _forward, _geometry, _backward_weight

# y = conv_transpose2d(x, w) is the data gradient of the conv2d that maps y's shape back to x's, its
# weight w read as (C_out', C_in') = (C_in, C_out). With g the geometry of that conv2d:
#     conv_transpose2d forward          = conv2d backward_data    (its "dy" is x)
#     conv_transpose2d backward_data    = conv2d forward          (of dy, with the same w)
#     conv_transpose2d backward_weight  = conv2d backward_weight  (its "dy" is x, its "x" is dy)
# (why: docs/derivations/conv_transpose_adjoint.md, with a check you can run).

def _adjoint_geometry(y_shape, x_shape, w_shape, stride, padding):
    """The conv2d whose adjoint is conv_transpose2d(x, w) -> y: it maps y's shape (N, C_out, Ho, Wo) back
    to x's (N, C_in, H, W), with w (C_in, C_out, kH, kW) read as its (C_out', C_in', kH, kW) weight.
    The shapes are checked already: y's is a conv_transpose2d output of x's for some output_padding."""
    n, ct_out, ho, wo = y_shape
    _, ct_in, h, w = x_shape
    kh, kw = w_shape[2], w_shape[3]
    return plan.ConvGeometry(batch=n, c_in=ct_out, height=ho, width=wo, c_out=ct_in, kernel_h=kh, kernel_w=kw,
                             stride=stride, pad=padding, out_h=h, out_w=w)


def conv_transpose2d_forward(x, w, b, stride, padding, output_padding):
    x, w, b = contiguous(x, w, b)
    y_shape = shapes.conv_transpose2d_shape(x.shape, w.shape, stride, padding, output_padding)
    g = _adjoint_geometry(y_shape, x.shape, w.shape, stride, padding)
    y = _backward_data(x, w, g)
    if b is not None:
        bias_forward(y, b)
    return y


def conv_transpose2d_backward_data(dy, w, stride, padding):
    dy, w = contiguous(dy, w)
    g = _geometry(dy.shape, w.shape, stride, padding)   # conv2d(dy, w): w read as (C_out', C_in') = (C_in, C_out)
    return _forward(dy, w, g)


def conv_transpose2d_backward_weight(dy, x, w_shape, stride, padding):
    dy, x = contiguous(dy, x)
    g = _adjoint_geometry(dy.shape, x.shape, shapes.as_shape(w_shape), stride, padding)
    return _backward_weight(x, dy, g), bias_backward(dy)


def conv_transpose2d_backward(dy, x, w, stride, padding, output_padding):
    dy, x, w = contiguous(dy, x, w)
    g = _adjoint_geometry(dy.shape, x.shape, w.shape, stride, padding)
    return _forward(dy, w, g), _backward_weight(x, dy, g), bias_backward(dy)
