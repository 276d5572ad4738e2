"""Launchers of activations.cu: ReLU, leaky ReLU, tanh, sigmoid and their backward passes.

One thread per element (plan.elementwise). ReLU is leaky ReLU with slope 0: the same kernel, so the
two cannot disagree about the kink (x = 0 takes the left derivative, 0 or slope, as the reference).
"""
from . import plan
from .arrays import contiguous
from .runtime import empty, i64, launch, real


def _map(kernel, *arrays, slope=None):
    """out = kernel(arrays..., out, n[, slope]), one thread per element; out has the shape of arrays[-1]."""
    arrays = [contiguous(a) for a in arrays]
    like = arrays[-1]
    out = empty(like.shape, like.dtype)
    scalars = () if slope is None else (real(out.dtype, slope),)
    launch("activations.cu", kernel, out.dtype, plan.elementwise(out.size), *arrays, out, i64(out.size), *scalars)
    return out


def leaky_relu_forward(x, slope):
    return _map("leaky_relu_forward", x, slope=slope)


def leaky_relu_backward(dy, x, slope):
    return _map("leaky_relu_backward", dy, x, slope=slope)


def relu_forward(x):
    return leaky_relu_forward(x, 0.0)


def relu_backward(dy, x):
    return leaky_relu_backward(dy, x, 0.0)


def tanh_forward(x):
    return _map("tanh_forward", x)


def tanh_backward(dy, y):
    return _map("tanh_backward", dy, y)


def sigmoid_forward(x):
    return _map("sigmoid_forward", x)


def sigmoid_backward(dy, y):
    return _map("sigmoid_backward", dy, y)
