"""Argument checks and output-size formulas shared by every backend.

Each check raises ValueError with a message that names the offending argument, so that a wrong call
fails the same way on NumPy, CuPy and Triton, before any kernel is launched. kernels/contract.py puts
them together, one check function per op, and runs them in front of every backend's ops; the launchers
use only the formulas (output sizes, as_shape).
"""
import numpy as np


def check_rank(name, a, rank):
    if a.ndim != rank:
        raise ValueError(f"{name} must have rank {rank}, got shape {tuple(a.shape)}")


def check_positive(name, value):
    if not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_non_negative(name, value):
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")


FLOAT_DTYPES = (np.dtype("float32"), np.dtype("float64"))


def check_float(name, a):
    if a.dtype not in FLOAT_DTYPES:          # (not str(a.dtype): that costs 50x more, on every op call)
        raise ValueError(f"{name} must be float32 or float64, got {a.dtype}")


def check_shape(name, a, shape):
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(a.shape)}")


def check_shape_tuple(name, shape, rank):
    if not (isinstance(shape, (tuple, list)) and len(shape) == rank
            and all(isinstance(s, (int, np.integer)) and s > 0 for s in shape)):
        raise ValueError(f"{name} must be a tuple of {rank} positive ints, got {shape!r}")
    return as_shape(shape)


def as_shape(shape):
    """A shape argument (tuple or list of python or NumPy ints, checked already) as a tuple of ints."""
    return tuple(int(s) for s in shape)


def like(shape, dtype):
    """A zero-memory stand-in array of `shape` (all strides 0), so that the shape checks below, written
    for arrays, also validate an op that receives a shape (x_shape, w_shape)."""
    return np.broadcast_to(np.zeros((), dtype), shape)


def channel_layout(x):
    """(N, C, S) of a 2-D (N, F) or 4-D (N, C, H, W) array: the view every per-channel kernel takes
    (S = H*W, or 1), channel c holding the N*S values at offsets (n*C + c)*S + s."""
    if x.ndim == 4:
        return x.shape[0], x.shape[1], x.shape[2] * x.shape[3]
    if x.ndim == 2:
        return x.shape[0], x.shape[1], 1
    raise ValueError(f"x must have rank 2 or 4, got shape {tuple(x.shape)}")


def check_in_place(name, a):
    """An argument an op writes into (adam_step's param, m, v) must be C-contiguous itself: the kernels
    index flat memory, and a contiguous copy would take the update away from the caller's array."""
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous: it is updated in place")


def check_bias(b, channels):
    if b is not None and tuple(b.shape) != (channels,):
        raise ValueError(f"b must have shape ({channels},), got {tuple(b.shape)}")


def conv2d_out_size(size, k, stride, padding):
    return (size + 2 * padding - k) // stride + 1


def conv_transpose2d_out_size(size, k, stride, padding, output_padding):
    return (size - 1) * stride - 2 * padding + k + output_padding


def conv2d_shape(x_shape, w_shape, stride, padding):
    """conv2d's output shape (N, C_out, H_out, W_out) for x (N, C_in, H, W), w (C_out, C_in, kH, kW)."""
    n, _, h, wd = x_shape
    c_out, _, kh, kw = w_shape
    return (n, c_out, conv2d_out_size(h, kh, stride, padding), conv2d_out_size(wd, kw, stride, padding))


def conv_transpose2d_shape(x_shape, w_shape, stride, padding, output_padding):
    """conv_transpose2d's output shape (N, C_out, H_out, W_out) for x (N, C_in, H, W), w (C_in, C_out, kH, kW)."""
    n, _, h, wd = x_shape
    _, c_out, kh, kw = w_shape
    return (n, c_out, conv_transpose2d_out_size(h, kh, stride, padding, output_padding),
            conv_transpose2d_out_size(wd, kw, stride, padding, output_padding))


def check_conv2d(x, w, b, stride, padding):
    """Validate conv2d arguments; return the output shape (N, C_out, H_out, W_out)."""
    check_rank("x", x, 4)
    check_rank("w", w, 4)
    check_float("x", x)
    check_positive("stride", stride)
    check_non_negative("padding", padding)
    n, c_in, h, wd = x.shape
    c_out, wc_in, kh, kw = w.shape
    if wc_in != c_in:
        raise ValueError(f"w has {wc_in} input channels but x has {c_in} (w is (C_out, C_in, kH, kW))")
    check_bias(b, c_out)
    y_shape = conv2d_shape(x.shape, w.shape, stride, padding)
    if y_shape[2] <= 0 or y_shape[3] <= 0:
        raise ValueError(f"x of size {h}x{wd} is too small for a {kh}x{kw} kernel with padding {padding}")
    return y_shape


def check_conv_transpose2d(x, w, b, stride, padding, output_padding):
    """Validate conv_transpose2d arguments; return the output shape (N, C_out, H_out, W_out)."""
    check_rank("x", x, 4)
    check_rank("w", w, 4)
    check_float("x", x)
    check_positive("stride", stride)
    check_non_negative("padding", padding)
    check_non_negative("output_padding", output_padding)
    if output_padding >= stride and output_padding >= 1:
        raise ValueError(f"output_padding ({output_padding}) must be smaller than stride ({stride})")
    n, c_in, h, wd = x.shape
    wc_in, c_out, kh, kw = w.shape
    if wc_in != c_in:
        raise ValueError(f"w has {wc_in} input channels but x has {c_in} (w is (C_in, C_out, kH, kW))")
    check_bias(b, c_out)
    y_shape = conv_transpose2d_shape(x.shape, w.shape, stride, padding, output_padding)
    if y_shape[2] <= 0 or y_shape[3] <= 0:
        raise ValueError(f"padding {padding} leaves no output for a {h}x{wd} input")
    return y_shape


def check_conv_transpose2d_dy_channels(dy, w):
    """conv_transpose2d's data gradient takes dy (N, C_out, H_out, W_out) and w (C_in, C_out, kH, kW)."""
    check_rank("dy", dy, 4)
    check_rank("w", w, 4)
    if dy.shape[1] != w.shape[1]:
        raise ValueError(f"dy has {dy.shape[1]} channels but w has {w.shape[1]} output channels "
                         "(w is (C_in, C_out, kH, kW))")


def check_conv_transpose2d_dy(dy, x, w, stride, padding):
    """dy must be the output of conv_transpose2d(x, w) for some output_padding in [0, stride)."""
    check_rank("dy", dy, 4)
    check_conv_transpose2d(x, w, None, stride, padding, 0)
    n, _, h, wd = x.shape
    _, c_out, kh, kw = w.shape
    h_min = conv_transpose2d_out_size(h, kh, stride, padding, 0)
    w_min = conv_transpose2d_out_size(wd, kw, stride, padding, 0)
    if (dy.shape[0], dy.shape[1]) != (n, c_out) or not (
            h_min <= dy.shape[2] < h_min + stride and w_min <= dy.shape[3] < w_min + stride):
        raise ValueError(f"dy must have shape ({n}, {c_out}, {h_min}+op, {w_min}+op) with output padding "
                         f"op in [0, {stride}), got {tuple(dy.shape)}")


def check_batch_norm(x, batch_stats=True):
    """x of rank 2 (N, F) or 4 (N, C, H, W); for batch statistics, with at least 2 values per channel."""
    if x.ndim not in (2, 4):
        raise ValueError(f"x must have rank 2 (N, F) or 4 (N, C, H, W), got shape {tuple(x.shape)}")
    if not batch_stats:
        return
    reduced = x.shape[0] * (x.shape[2] * x.shape[3] if x.ndim == 4 else 1)
    if reduced < 2:
        raise ValueError(f"x must hold at least 2 values per channel for batch statistics, got shape {tuple(x.shape)}")


def check_linear(x, w, b):
    check_rank("x", x, 2)
    check_rank("w", w, 2)
    check_float("x", x)
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w has {w.shape[1]} inputs but x has {x.shape[1]} features (w is (out, in))")
    check_bias(b, w.shape[0])


def check_slope(slope):
    if slope is not None and not (0.0 <= slope < 1.0):
        raise ValueError(f"slope must be None or in [0, 1), got {slope!r}")


def check_number(name, value, low=None, high=None, high_open=False):
    """A real python/NumPy number in [low, high] (or [low, high) with high_open)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not np.isfinite(value) or (low is not None and value < low) or \
            (high is not None and (value >= high if high_open else value > high)):
        bound = f"[{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a finite number in {bound}, got {value!r}")


def check_adam_hyperparameters(step, lr, beta1, beta2, eps, weight_decay):
    """Adam's scalars: step an int >= 1 (it counts from 1); lr, eps, weight_decay >= 0; betas in [0, 1)."""
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"step must be an int >= 1 (it counts from 1), got {step!r}")
    check_number("lr", lr, low=0.0)
    check_number("beta1", beta1, low=0.0, high=1.0, high_open=True)
    check_number("beta2", beta2, low=0.0, high=1.0, high_open=True)
    check_number("eps", eps, low=0.0)
    check_number("weight_decay", weight_decay, low=0.0)


def check_noise_key(key):
    """The key of a backend's normal(): a non-empty tuple of non-negative ints, e.g. (seed, step, k)."""
    if not (isinstance(key, tuple) and key and all(
            isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 0 for k in key)):
        raise ValueError(f"key must be a non-empty tuple of non-negative ints, got {key!r}")


def check_bn_scalars(eps=None, slope=None):
    """Batch norm's scalars, where given: eps > 0; slope None (no activation) or in [0, 1)."""
    if eps is not None:
        check_number("eps", eps, low=0.0)
        if eps <= 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
    if slope is not None:
        check_number("slope", slope)
    check_slope(slope)
