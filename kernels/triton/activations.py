"""Activations: ReLU, leaky ReLU, tanh and sigmoid, forward and backward.

What it computes, and the backward passes derived:
    relu        y = max(x, 0)                     dx = dy      where x > 0, else 0
    leaky_relu  y = x if x > 0 else slope * x     dx = dy      where x > 0, else slope * dy
    tanh        y = tanh(x)                       dy/dx = 1 - tanh(x)^2       -> dx = dy * (1 - y*y)
    sigmoid     y = 1 / (1 + exp(-x))             dy/dx = y * (1 - y)         -> dx = dy * y * (1 - y)
The ReLUs' backward reads the input x; tanh's and sigmoid's read only the output y, which is what the
layer keeps.

How the work is split: the array is flat; program i takes BLOCK consecutive elements starting at
i * BLOCK, and the last program masks off the tail. Each element is read once and written once, so these
kernels run at memory speed and the only choice is a BLOCK large enough to keep loads wide.

The device functions below (`activate`, `tanh`, `sigmoid`) are shared: batch-norm fuses `activate` into
its normalisation, and the losses use `sigmoid`. Scalars such as `slope` arrive as float64 and are
rounded to the data's precision in the kernel (`tl.full((), slope, x.dtype)`), as NumPy rounds a Python
float against a float32 array; a float64 array keeps the scalar exact.
"""
import triton
import triton.language as tl

from . import runtime
from .arrays import contiguous

BLOCK = 1024


@triton.jit
def tanh(x):
    # tanh(x) = sign(x) * (1 - t) / (1 + t) with t = exp(-2|x|): no overflow for any x. Near 0 the
    # difference 1 - t cancels, so below |x| = 0.15 the odd Taylor series is used instead (its first
    # omitted term, x^15, is below 1e-14 of the result there).
    ax = tl.abs(x)
    t = tl.exp(-2.0 * ax)
    large = (1.0 - t) / (1.0 + t)
    x2 = ax * ax
    series = ax * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0 + x2 * (
        62.0 / 2835.0 + x2 * (-1382.0 / 155925.0 + x2 * (21844.0 / 6081075.0)))))))
    r = tl.where(ax < 0.15, series, large)
    return tl.where(x < 0, -r, r)


@triton.jit
def sigmoid(x):
    # With z = exp(-|x|) in (0, 1]: sigmoid(x) = 1 / (1 + z) for x >= 0 and z / (1 + z) for x < 0,
    # so neither tail overflows or loses its relative precision.
    z = tl.exp(-tl.abs(x))
    return tl.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


@triton.jit
def activate(a, slope, ACTIVATION: tl.constexpr):
    """y = activation(a); `slope` is leaky ReLU's, already in a's dtype."""
    if ACTIVATION == "relu":
        return tl.where(a > 0, a, 0.0)
    elif ACTIVATION == "leaky_relu":
        return tl.where(a > 0, a, a * slope)
    elif ACTIVATION == "tanh":
        return tanh(a)
    elif ACTIVATION == "sigmoid":
        return sigmoid(a)
    else:  # "identity"
        return a


@triton.jit
def activation_grad(dy, saved, slope, ACTIVATION: tl.constexpr):
    """dx from dy and what the forward kept: x for the ReLUs (or y: with slope >= 0 its sign is x's),
    y for tanh and sigmoid."""
    if ACTIVATION == "relu":
        return tl.where(saved > 0, dy, 0.0)
    elif ACTIVATION == "leaky_relu":
        return tl.where(saved > 0, dy, dy * slope)
    elif ACTIVATION == "tanh":
        return dy * (1.0 - saved * saved)
    elif ACTIVATION == "sigmoid":
        return dy * saved * (1.0 - saved)
    else:  # "identity"
        return dy


@triton.jit
def activation_forward_kernel(x_ptr, y_ptr, n, slope: tl.float64, ACTIVATION: tl.constexpr,
                              BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask)
    s = tl.full((), slope, x.dtype)
    tl.store(y_ptr + offsets, activate(x, s, ACTIVATION), mask=mask)


@triton.jit
def activation_backward_kernel(dy_ptr, saved_ptr, dx_ptr, n, slope: tl.float64, ACTIVATION: tl.constexpr,
                               BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    dy = tl.load(dy_ptr + offsets, mask=mask)
    saved = tl.load(saved_ptr + offsets, mask=mask)
    s = tl.full((), slope, dy.dtype)
    tl.store(dx_ptr + offsets, activation_grad(dy, saved, s, ACTIVATION), mask=mask)


# --- launchers -------------------------------------------------------------------------------------

def activation_name(slope):
    """The ACTIVATION of batch-norm's fused activation for the contract's `slope` argument."""
    return "identity" if slope is None else "relu" if slope == 0 else "leaky_relu"


def _forward(x, activation, slope=0.0):
    x = contiguous(x)
    y = runtime.empty(x.shape, x.dtype)
    runtime.launch(activation_forward_kernel, (runtime.cdiv(x.size, BLOCK),), x, y, x.size, float(slope),
                   ACTIVATION=activation, BLOCK=BLOCK)
    return y


def _backward(dy, saved, activation, slope=0.0):
    dy, saved = contiguous(dy, saved)
    dx = runtime.empty(dy.shape, dy.dtype)
    runtime.launch(activation_backward_kernel, (runtime.cdiv(dy.size, BLOCK),), dy, saved, dx, dy.size,
                   float(slope), ACTIVATION=activation, BLOCK=BLOCK)
    return dx


def relu_forward(x):
    return _forward(x, "relu")


def relu_backward(dy, x):
    return _backward(dy, x, "relu")


def leaky_relu_forward(x, slope):
    return _forward(x, "leaky_relu", slope)


def leaky_relu_backward(dy, x, slope):
    return _backward(dy, x, "leaky_relu", slope)


def tanh_forward(x):
    return _forward(x, "tanh")


def tanh_backward(dy, y):
    return _backward(dy, y, "tanh")


def sigmoid_forward(x):
    return _forward(x, "sigmoid")


def sigmoid_backward(dy, y):
    return _backward(dy, y, "sigmoid")
