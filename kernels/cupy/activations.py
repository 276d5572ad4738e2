"""Launchers of activations.cu: ReLU, leaky ReLU, tanh, sigmoid and their backward passes.

One thread per element (plan.elementwise). ReLU is leaky ReLU with slope 0: the same kernel, so the
two cannot disagree about the kink (x = 0 takes the left derivative, 0 or slope, as the reference).
"""
from kernels.shapes import check_slope

from . import plan
from .arrays import check_number, check_shape, inputs
from .runtime import empty, i64, launch, real


def _slope(slope):
    if slope is None:
        raise ValueError("slope must be a number in [0, 1), got None")
    check_number("slope", slope)
    check_slope(slope)
    return slope


def _map(kernel, arrays, slope=None):
    """out = kernel(arrays..., out, n[, slope]), one thread per element; out has the shape of arrays[-1]."""
    like = arrays[-1]
    out = empty(like.shape, like.dtype)
    scalars = () if slope is None else (real(out.dtype, slope),)
    launch("activations.cu", kernel, out.dtype, plan.elementwise(out.size), *arrays, out, i64(out.size), *scalars)
    return out


def _forward_inputs(x):
    (x,) = inputs(x=x)
    return x


def _backward_inputs(dy, saved, saved_name):
    """dy and what the forward saved (x or y): same dtype, same shape."""
    saved, dy = inputs(**{saved_name: saved, "dy": dy})
    check_shape("dy", dy, saved.shape)
    return dy, saved


def leaky_relu_forward(x, slope):
    x = _forward_inputs(x)
    return _map("leaky_relu_forward", (x,), _slope(slope))


def leaky_relu_backward(dy, x, slope):
    dy, x = _backward_inputs(dy, x, "x")
    return _map("leaky_relu_backward", (dy, x), _slope(slope))


def relu_forward(x):
    return leaky_relu_forward(x, 0.0)


def relu_backward(dy, x):
    return leaky_relu_backward(dy, x, 0.0)


def tanh_forward(x):
    x = _forward_inputs(x)
    return _map("tanh_forward", (x,))


def tanh_backward(dy, y):
    dy, y = _backward_inputs(dy, y, "y")
    return _map("tanh_backward", (dy, y))


def sigmoid_forward(x):
    x = _forward_inputs(x)
    return _map("sigmoid_forward", (x,))


def sigmoid_backward(dy, y):
    dy, y = _backward_inputs(dy, y, "y")
    return _map("sigmoid_backward", (dy, y))
