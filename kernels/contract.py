"""The op contract's argument checks, run in front of every backend's ops: checked once, here.

For every op of kernels/api.py there is one check function below, of the same name and with the op's
parameters (after `arrays`, the backend's hook). It validates every argument, in the order the NumPy
reference always has, with the shared checks of kernels/shapes.py, so that a bad call raises the same
ValueError, naming the same argument, on every backend and before any kernel is launched.

What differs between backends is only what counts as an array: each backend passes an `Arrays` (its
arrays.py) whose messages are its own ("x must be a NumPy array", "... a CuPy device array", ...).

A backend's package builds its public ops with checked_ops(): each op is

    def op(*args, **kwargs):
        check(arrays, *args, **kwargs)     # Python binds the arguments, as for the op itself
        return impl(*args, **kwargs)

so the functions behind it (kernels/numpy_ref/*.py, the launchers of kernels/cupy and kernels/triton)
read as plain math or allocate-and-launch, and call each other without checking twice.
"""
import functools

from .api import OPS
from .shapes import (check_adam_hyperparameters, check_batch_norm, check_bn_scalars, check_conv2d,
                     check_conv_transpose2d, check_conv_transpose2d_dy, check_conv_transpose2d_dy_channels,
                     check_float, check_in_place, check_linear, check_number, check_rank, check_shape,
                     check_shape_tuple, check_slope, like)


class Arrays:
    """What counts as an array on one backend. A backend subclasses it with its array module and its
    messages; the checks below call check() for every array argument and is_array() where an argument
    may be an array or a number (bce_with_logits' target)."""

    in_place_needs_c_order = False   # the GPU kernels index flat memory: adam_step refuses a strided param

    def module(self):
        """The array module (numpy or cupy) whose ndarray this backend's arrays are."""
        raise NotImplementedError

    def not_an_array(self, name, a):
        """The message for an argument `a` that is not an array of this backend."""
        raise NotImplementedError

    def other_dtype(self, name, a, first_name, first):
        """The message for an array whose dtype is not that of the op's first array."""
        return f"{name} must have dtype {first.dtype} like the other inputs, got {a.dtype}"

    def is_array(self, name, a):
        return isinstance(a, self.module().ndarray)

    def contiguous(self, *arrays):
        """The arrays in C order (no copy for those that already are; None stays None): the GPU kernels
        index them as flat memory. One array in, that array out; several in, a tuple of them.
        (ascontiguousarray alone would also turn a 0-d array into a 1-d one.)"""
        module = self.module()
        out = tuple(a if a is None or a.flags.c_contiguous else module.ascontiguousarray(a) for a in arrays)
        return out if len(out) != 1 else out[0]

    def check(self, name, a, first_name=None, first=None):
        """`a` is a float32/float64 array of this backend, of the dtype of `first` (the op's first array,
        named first_name) when given: every array of an op shares one dtype."""
        if not isinstance(a, self.module().ndarray):
            raise ValueError(self.not_an_array(name, a))
        check_float(name, a)
        if first is not None and a.dtype != first.dtype:
            raise ValueError(self.other_dtype(name, a, first_name, first))


def checked_ops(namespace, arrays):
    """{op name: the op `namespace` holds, behind its check} for every op of the contract."""
    return {name: _checked(CHECKS[name], namespace[name], arrays) for name in OPS}


def _checked(check, impl, arrays):
    @functools.wraps(impl)
    def op(*args, **kwargs):
        check(arrays, *args, **kwargs)
        return impl(*args, **kwargs)
    return op


# --- convolutions ------------------------------------------------------------------------------------

def conv2d_forward(arrays, x, w, b, stride, padding):
    arrays.check("x", x)
    arrays.check("w", w, "x", x)
    if b is not None:
        arrays.check("b", b, "x", x)
    check_conv2d(x, w, b, stride, padding)


def conv2d_backward_data(arrays, dy, w, x_shape, stride, padding):
    x_shape = check_shape_tuple("x_shape", x_shape, 4)
    arrays.check("dy", dy)
    arrays.check("w", w, "dy", dy)
    check_shape("dy", dy, check_conv2d(like(x_shape, dy.dtype), w, None, stride, padding))


def conv2d_backward_weight(arrays, dy, x, w_shape, stride, padding):
    w_shape = check_shape_tuple("w_shape", w_shape, 4)
    arrays.check("dy", dy)
    arrays.check("x", x, "dy", dy)
    check_shape("dy", dy, check_conv2d(x, like(w_shape, dy.dtype), None, stride, padding))


def conv2d_backward(arrays, dy, x, w, stride, padding):
    arrays.check("x", x)
    arrays.check("w", w, "x", x)
    arrays.check("dy", dy, "x", x)
    check_shape("dy", dy, check_conv2d(x, w, None, stride, padding))


def conv_transpose2d_forward(arrays, x, w, b, stride, padding, output_padding):
    arrays.check("x", x)
    arrays.check("w", w, "x", x)
    if b is not None:
        arrays.check("b", b, "x", x)
    check_conv_transpose2d(x, w, b, stride, padding, output_padding)


def conv_transpose2d_backward_data(arrays, dy, w, stride, padding):
    arrays.check("dy", dy)
    arrays.check("w", w, "dy", dy)
    check_conv_transpose2d_dy_channels(dy, w)
    check_conv2d(dy, w, None, stride, padding)      # dx is conv2d(dy, w): w read as (C_in, C_out) = (C_out', C_in')


def conv_transpose2d_backward_weight(arrays, dy, x, w_shape, stride, padding):
    w_shape = check_shape_tuple("w_shape", w_shape, 4)
    arrays.check("dy", dy)
    arrays.check("x", x, "dy", dy)
    check_conv_transpose2d_dy(dy, x, like(w_shape, dy.dtype), stride, padding)


def conv_transpose2d_backward(arrays, dy, x, w, stride, padding, output_padding):
    arrays.check("x", x)
    arrays.check("w", w, "x", x)
    arrays.check("dy", dy, "x", x)
    check_shape("dy", dy, check_conv_transpose2d(x, w, None, stride, padding, output_padding))


# --- batch norm ------------------------------------------------------------------------------------

def _batch_norm(arrays, x, gamma, beta=None, slope=None, eps=None, batch_stats=True, **same_dtype):
    """x rank 2 or 4 (with batch statistics: at least 2 values per channel), gamma and beta (C,), dy and
    y of x's shape, the other arrays (C,); then the scalars."""
    arrays.check("x", x)
    check_batch_norm(x, batch_stats)
    arrays.check("gamma", gamma, "x", x)
    check_shape("gamma", gamma, (x.shape[1],))
    if beta is not None:
        arrays.check("beta", beta, "x", x)
        check_shape("beta", beta, (x.shape[1],))
    for name, a in same_dtype.items():
        arrays.check(name, a, "x", x)
        check_shape(name, a, x.shape if name in ("dy", "y") else (x.shape[1],))
    check_bn_scalars(eps, slope)


def batch_norm_act_forward(arrays, x, gamma, beta, eps, slope):
    _batch_norm(arrays, x, gamma, beta, slope, eps)


def batch_norm_act_backward(arrays, dy, x, y, mean, invstd, gamma, slope):
    _batch_norm(arrays, x, gamma, slope=slope, dy=dy, y=y, mean=mean, invstd=invstd)


def batch_norm_act_inference(arrays, x, gamma, beta, running_mean, running_var, eps, slope):
    _batch_norm(arrays, x, gamma, beta, slope, eps, batch_stats=False, running_mean=running_mean,
                running_var=running_var)


def batch_norm_forward(arrays, x, gamma, beta, eps):
    _batch_norm(arrays, x, gamma, beta, None, eps)


def batch_norm_backward(arrays, dy, x, mean, invstd, gamma):
    _batch_norm(arrays, x, gamma, dy=dy, mean=mean, invstd=invstd)


def batch_norm_inference(arrays, x, gamma, beta, running_mean, running_var, eps):
    _batch_norm(arrays, x, gamma, beta, None, eps, batch_stats=False, running_mean=running_mean,
                running_var=running_var)


# --- dense -------------------------------------------------------------------------------------------

def linear_forward(arrays, x, w, b):
    arrays.check("x", x)
    arrays.check("w", w, "x", x)
    if b is not None:
        arrays.check("b", b, "x", x)
    check_linear(x, w, b)


def linear_backward(arrays, dy, x, w):
    arrays.check("x", x)
    arrays.check("w", w, "x", x)
    arrays.check("dy", dy, "x", x)
    check_linear(x, w, None)
    check_rank("dy", dy, 2)
    check_shape("dy", dy, (x.shape[0], w.shape[0]))


# --- activations: an array (x, or the forward's output y), dy of its shape, leaky ReLU's slope --------

def _activation(arrays, x, dy=None, slope=False, name="x"):
    arrays.check(name, x)
    if dy is not None:
        arrays.check("dy", dy, name, x)
        check_shape("dy", dy, x.shape)
    if slope is not False:   # leaky_relu: a number in [0, 1)
        if slope is None:
            raise ValueError("slope must be a number in [0, 1), got None")
        check_number("slope", slope)
        check_slope(slope)


def relu_forward(arrays, x):
    _activation(arrays, x)


def relu_backward(arrays, dy, x):
    _activation(arrays, x, dy)


def leaky_relu_forward(arrays, x, slope):
    _activation(arrays, x, slope=slope)


def leaky_relu_backward(arrays, dy, x, slope):
    _activation(arrays, x, dy, slope=slope)


def tanh_forward(arrays, x):
    _activation(arrays, x)


def tanh_backward(arrays, dy, y):
    _activation(arrays, y, dy, name="y")


def sigmoid_forward(arrays, x):
    _activation(arrays, x)


def sigmoid_backward(arrays, dy, y):
    _activation(arrays, y, dy, name="y")


# --- the sampler: every array of the first one's dtype and shape; sigma and kl_weight numbers >= 0 ----

def _sampler(arrays, mu, logvar, eps, dz=None, sigma=1.0, kl_weight=0.0):
    first_name, first = ("mu", mu) if mu is not None else ("logvar", logvar)
    arrays.check(first_name, first)
    for name, a in (("mu", mu), ("logvar", logvar), ("eps", eps), ("dz", dz)):
        if a is not None:
            arrays.check(name, a, first_name, first)
            check_shape(name, a, first.shape)
    check_number("sigma", sigma, low=0.0)
    check_number("kl_weight", kl_weight, low=0.0)


def reparam_forward(arrays, mu, logvar, eps, sigma):
    _sampler(arrays, mu, logvar, eps, sigma=sigma)


def reparam_backward(arrays, dz, logvar, eps, sigma):
    _sampler(arrays, None, logvar, eps, dz, sigma)


def reparam_kl_forward(arrays, mu, logvar, eps, sigma):
    _sampler(arrays, mu, logvar, eps, sigma=sigma)


def reparam_kl_backward(arrays, dz, mu, logvar, eps, sigma, kl_weight):
    _sampler(arrays, mu, logvar, eps, dz, sigma, kl_weight)


# --- losses ------------------------------------------------------------------------------------------

def kl_normal(arrays, mu, logvar):
    arrays.check("mu", mu)
    arrays.check("logvar", logvar, "mu", mu)
    check_shape("logvar", logvar, mu.shape)


def mse(arrays, a, b):
    arrays.check("a", a)
    arrays.check("b", b, "a", a)
    check_shape("b", b, a.shape)


def bce_with_logits(arrays, logits, target):
    arrays.check("logits", logits)
    if arrays.is_array("target", target):
        arrays.check("target", target, "logits", logits)
        check_shape("target", target, logits.shape)
    else:   # one label for every logit (the GAN's 1.0 for real, 0.0 for fake)
        check_number("target", target)


# --- optimiser ---------------------------------------------------------------------------------------

def adam_step(arrays, param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay):
    arrays.check("param", param)
    for name, a in (("grad", grad), ("m", m), ("v", v)):
        arrays.check(name, a, "param", param)
        check_shape(name, a, param.shape)
    check_adam_hyperparameters(step, lr, beta1, beta2, eps, weight_decay)
    if arrays.in_place_needs_c_order:   # a contiguous copy would take the update away from the caller
        for name, a in (("param", param), ("m", m), ("v", v)):
            check_in_place(name, a)


CHECKS = {name: globals()[name] for name in OPS}
