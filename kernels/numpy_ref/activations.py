"""Element-wise activations and their backward passes.

    relu(x)          = max(x, 0)                 d/dx = 1 if x > 0 else 0
    leaky_relu(x, a) = x if x > 0 else a*x       d/dx = 1 if x > 0 else a
    tanh(x)                                      d/dx = 1 - tanh(x)^2 = 1 - y^2
    sigmoid(x)       = 1 / (1 + exp(-x))         d/dx = sigmoid(x) (1 - sigmoid(x)) = y (1 - y)

tanh and sigmoid are differentiated through their output y (what the layer keeps), ReLU-like ones
through their input x. At the kink x = 0 the derivative is taken from the left (0, or a).
The ReLU-like ones avoid NumPy's masked select (np.where over a comparison, several times slower
than a plain pass) with identities that hold exactly for 0 <= a < 1:
    leaky_relu(x, a) = max(x, a*x)                (x > 0: x > a*x;  x <= 0: a*x >= x)
    relu'(x) * dy    = dy * (x > 0)               (the comparison read as 1.0 or 0.0)
    leaky'(x) * dy   = dy * max([x > 0], a)       ([x > 0] read as 1.0 or 0.0: 1 -> 1;  0 -> a)
multiplying by exactly 1 or a, as the piecewise definitions do (the same numbers; only a zero
gradient may carry dy's sign, -0.0 == 0.0).
sigmoid is evaluated in a form that never overflows: exp(-|x|) <= 1, and
    x >= 0: 1 / (1 + exp(-x))         x < 0: exp(x) / (1 + exp(x)),  both = 1 / (1 + exp(-x)).
"""
import numpy as np

from .arrays import scalar


def relu_forward(x):
    return np.maximum(x, 0)


def relu_backward(dy, x):
    return dy * (x > 0)


def leaky_relu_forward(x, slope):
    y = np.multiply(x, scalar(slope, x.dtype))
    return np.maximum(x, y, out=y)


def leaky_relu_backward(dy, x, slope):
    dx = (x > 0).astype(x.dtype)                   # (np.sign would do too, at three times the cost)
    np.maximum(dx, scalar(slope, x.dtype), out=dx)
    dx *= dy
    return dx


def tanh_forward(x):
    return np.tanh(x)


def tanh_backward(dy, y):
    return dy * (1 - y * y)


def sigmoid(x):
    """The numerically stable logistic function (also used by bce_with_logits)."""
    e = np.exp(-np.abs(x))        # in (0, 1]: never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_forward(x):
    return sigmoid(x)


def sigmoid_backward(dy, y):
    return dy * y * (1 - y)
