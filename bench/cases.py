"""Every op of the contract on every real layer shape of a preset, as benchmark cases.

A BenchCase is one (op, layer shape): how to draw its inputs, how to call it on a backend, and what
it costs. The layer shapes come from tracing the preset's training step (bench/layers.py); each
layer family gets all the contract ops of that family, so ops the training step never calls directly
(conv2d_backward, the plain batch-norm, relu on its own, kl_normal, ...) are measured on real shapes
too:

    conv layer          conv2d_{forward, backward_data, backward_weight, backward}
    transposed conv     conv_transpose2d_{forward, backward_data, backward_weight, backward}
    batch-norm          batch_norm_{forward, backward, inference}, and with the layer's activation
                        batch_norm_act_{forward, backward, inference}
    dense layer         linear_{forward, backward}
    activation map      relu, leaky_relu, tanh, sigmoid (forward and backward)
    latent (n, z)       reparam_{forward, backward}, reparam_kl_{forward, backward}, kl_normal
    loss inputs         mse (the similarity features, the pixels), bce_with_logits (the logits)
    flat parameters     adam_step (one network's buffer)

Cost model (written once here, used by every row):
    FLOPs   only for ops that are matrix products: 2*M*N*K summed over the op's GEMMs (`gemms`),
            the dense count (padding taps included, as cuDNN and PyTorch's profilers count them).
            For a conv2d with x (N, C_in, H, W), w (C_out, C_in, k, k), output Ho x Wo, P = N*Ho*Wo:
                forward          y  = W (C_out x C_in*k*k) @ cols (C_in*k*k x P)     2*C_out*C_in*k*k*P
                backward_data    dcols = W^T @ dY                                  same count
                backward_weight  dW = dY @ cols^T                                  same count
            A conv_transpose2d with x (N, C_in, H, W), P = N*H*W, is the adjoint: its forward is
            conv2d's data-gradient product, 2*C_in*C_out*k*k*P, and so on. Bias additions, im2col
            and col2im are not counted. Linear (n, in -> out): forward 2*n*in*out; backward twice that.
    bytes   for every op: the bytes of the arrays it is given plus the bytes of the arrays it returns
            (each input read once, each output written once; adam_step counts param, m, v as written).
            That is the least traffic the op can do; GB/s = bytes / time.
"""
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from .layers import AdamSpec, ArraySpec, ConvSpec, LinearSpec, NormSpec

SIGMA = 1.0          # the noise scale at the start of the schedule
KL_WEIGHT = 1.0
ADAM = dict(step=10, lr=2e-4, beta1=0.5, beta2=0.999, eps=1e-8, weight_decay=0.0)   # vaegan/optim.py's Adam
BCE_TARGET = 1.0     # the GAN's label for reals, a python float as in vaegan/step.py


@dataclass(frozen=True)
class BenchCase:
    op: str                       # a key of kernels.api.OPS
    label: str                    # which layer(s) of the model, e.g. "enc.conv2/disc.conv2"
    spec: object                  # the layer spec (bench/layers.py)
    make: Callable                # rng -> {input name: float32 NumPy array}, fresh draws, never zeros
    call: Callable                # (K, {name: K array}) -> tuple of K arrays
    params: dict = field(default_factory=dict)   # the non-array arguments (for the PyTorch peer)
    gemms: tuple = ()             # ((M, N, K), ...): the op's matrix products

    @property
    def shape(self):
        return self.spec.text()

    @property
    def flops(self):
        """2*M*N*K over the GEMMs; None for ops that are not matrix products."""
        return sum(2 * m * n * k for m, n, k in self.gemms) or None

    @property
    def uses_dot(self):
        """Whether the op multiplies matrices, so that a TF32 setting changes it."""
        return bool(self.gemms)


def _as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


def normal(rng, shape, scale=1.0):
    return (rng.standard_normal(shape, dtype=np.float32) * np.float32(scale))


# --- convolutions ----------------------------------------------------------------------------------

def conv_gemms(s, op):
    """The (M, N, K) of each matrix product of op on conv layer s (see the module docstring)."""
    kk = s.k * s.k
    if not s.transposed:
        p = s.n * s.y_hw[0] * s.y_hw[1]
        fwd, data, weight = (s.c_out, p, s.c_in * kk), (s.c_in * kk, p, s.c_out), (s.c_out, s.c_in * kk, p)
    else:
        p = s.n * s.h * s.w
        fwd, data, weight = (s.c_out * kk, p, s.c_in), (s.c_in, p, s.c_out * kk), (s.c_in, s.c_out * kk, p)
    part = op.split("2d_", 1)[1]      # forward, backward_data, backward_weight or backward
    return {"forward": (fwd,), "backward_data": (data,), "backward_weight": (weight,),
            "backward": (data, weight)}[part]


def conv_cases(label, s):
    def make_for(names):
        fan_in = s.c_in * s.k * s.k
        draw = dict(x=lambda r: normal(r, s.x_shape), w=lambda r: normal(r, s.w_shape, fan_in ** -0.5),
                    b=lambda r: normal(r, (s.c_out,)), dy=lambda r: normal(r, s.y_shape))
        return lambda rng: {k: draw[k](rng) for k in names if k != "b" or s.bias}

    p = dict(stride=s.stride, padding=s.padding)
    if not s.transposed:
        ops = {
            "conv2d_forward": (("x", "w", "b"), lambda K, a: K.conv2d_forward(a["x"], a["w"], a.get("b"), **p)),
            "conv2d_backward_data": (("dy", "w"), lambda K, a: K.conv2d_backward_data(a["dy"], a["w"], s.x_shape, **p)),
            "conv2d_backward_weight": (("dy", "x"), lambda K, a: K.conv2d_backward_weight(
                a["dy"], a["x"], s.w_shape, **p)),
            "conv2d_backward": (("dy", "x", "w"), lambda K, a: K.conv2d_backward(a["dy"], a["x"], a["w"], **p)),
        }
    else:
        op_ = s.output_padding
        ops = {
            "conv_transpose2d_forward": (("x", "w", "b"), lambda K, a: K.conv_transpose2d_forward(
                a["x"], a["w"], a.get("b"), output_padding=op_, **p)),
            "conv_transpose2d_backward_data": (("dy", "w"), lambda K, a: K.conv_transpose2d_backward_data(
                a["dy"], a["w"], **p)),
            "conv_transpose2d_backward_weight": (("dy", "x"), lambda K, a: K.conv_transpose2d_backward_weight(
                a["dy"], a["x"], s.w_shape, **p)),
            "conv_transpose2d_backward": (("dy", "x", "w"), lambda K, a: K.conv_transpose2d_backward(
                a["dy"], a["x"], a["w"], output_padding=op_, **p)),
        }
    params = dict(p, output_padding=s.output_padding, x_shape=s.x_shape, w_shape=s.w_shape)
    return [BenchCase(op, label, s, make_for(names), lambda K, a, f=f: _as_tuple(f(K, a)), params,
                      conv_gemms(s, op))
            for op, (names, f) in ops.items()]


# --- batch norm ------------------------------------------------------------------------------------

def _bn_inputs(rng, s):
    """x with a per-channel offset and scale (statistics unlike N(0, 1)), the affine parameters, an
    upstream gradient, what the forward saves (computed in float64), and running statistics."""
    c = s.rest[0]
    shape = s.shape
    axes = (0,) + tuple(range(2, len(shape)))
    bshape = (1, c) + (1,) * (len(shape) - 2)
    x = (rng.standard_normal(bshape) + rng.uniform(0.5, 2.0, bshape) * rng.standard_normal(shape)).astype(np.float32)
    gamma = rng.uniform(0.5, 1.5, c).astype(np.float32)
    beta = normal(rng, c, 0.5)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axes)
    invstd = 1.0 / np.sqrt(x64.var(axis=axes) + s.eps)
    pre = (x64 - mean.reshape(bshape)) * (invstd * gamma).reshape(bshape) + beta.reshape(bshape)
    y = pre if s.slope is None else np.where(pre > 0, pre, s.slope * pre)
    return dict(x=x, gamma=gamma, beta=beta, dy=normal(rng, shape), y=y.astype(np.float32),
                mean=mean.astype(np.float32), invstd=invstd.astype(np.float32),
                running_mean=normal(rng, c, 0.5), running_var=rng.uniform(0.5, 2.0, c).astype(np.float32))


def bn_cases(label, s):
    eps, slope = s.eps, s.slope
    plain = {
        "batch_norm_forward": (("x", "gamma", "beta"), lambda K, a: K.batch_norm_forward(
            a["x"], a["gamma"], a["beta"], eps)),
        "batch_norm_backward": (("dy", "x", "mean", "invstd", "gamma"), lambda K, a: K.batch_norm_backward(
            a["dy"], a["x"], a["mean"], a["invstd"], a["gamma"])),
        "batch_norm_inference": (("x", "gamma", "beta", "running_mean", "running_var"), lambda K, a: (
            K.batch_norm_inference(a["x"], a["gamma"], a["beta"], a["running_mean"], a["running_var"], eps))),
    }
    fused = {
        "batch_norm_act_forward": (("x", "gamma", "beta"), lambda K, a: K.batch_norm_act_forward(
            a["x"], a["gamma"], a["beta"], eps, slope)),
        "batch_norm_act_backward": (("dy", "x", "y", "mean", "invstd", "gamma"), lambda K, a: (
            K.batch_norm_act_backward(a["dy"], a["x"], a["y"], a["mean"], a["invstd"], a["gamma"], slope))),
        "batch_norm_act_inference": (("x", "gamma", "beta", "running_mean", "running_var"), lambda K, a: (
            K.batch_norm_act_inference(a["x"], a["gamma"], a["beta"], a["running_mean"], a["running_var"], eps,
                                       slope))),
    }
    cases = []
    for group, spec in ((plain, replace(s, slope=None)), (fused if slope is not None else {}, s)):
        for op, (names, f) in group.items():
            def make(rng, names=names, spec=spec):
                d = _bn_inputs(rng, spec)
                return {k: d[k] for k in names}
            cases.append(BenchCase(op, label, spec, make, lambda K, a, f=f: _as_tuple(f(K, a)),
                                   dict(eps=eps, slope=spec.slope)))
    return cases


# --- dense -----------------------------------------------------------------------------------------

def linear_cases(label, s):
    def make_for(names):
        draw = dict(x=lambda r: normal(r, (s.n, s.f_in)), w=lambda r: normal(r, (s.f_out, s.f_in), s.f_in ** -0.5),
                    b=lambda r: normal(r, (s.f_out,)), dy=lambda r: normal(r, (s.n, s.f_out)))
        return lambda rng: {k: draw[k](rng) for k in names if k != "b" or s.bias}

    return [
        BenchCase("linear_forward", label, s, make_for(("x", "w", "b")),
                  lambda K, a: _as_tuple(K.linear_forward(a["x"], a["w"], a.get("b"))), {},
                  ((s.n, s.f_out, s.f_in),)),
        BenchCase("linear_backward", label, s, make_for(("dy", "x", "w")),
                  lambda K, a: _as_tuple(K.linear_backward(a["dy"], a["x"], a["w"])), {},
                  ((s.n, s.f_in, s.f_out), (s.f_out, s.f_in, s.n))),
    ]


# --- element-wise, sampler, losses, optimiser ------------------------------------------------------

def activation_cases(label, s, slope):
    def make(rng):
        x = (rng.choice([-1.0, 1.0], size=s.shape) * rng.uniform(0.1, 2.0, size=s.shape)).astype(np.float32)
        x64 = x.astype(np.float64)
        return dict(x=x, dy=normal(rng, s.shape), y_tanh=np.tanh(x64).astype(np.float32),
                    y_sigmoid=(1.0 / (1.0 + np.exp(-x64))).astype(np.float32))

    def pick(names):
        return lambda rng: {k: v for k, v in make(rng).items() if k in names}

    ops = {
        "relu_forward": (("x",), lambda K, a: K.relu_forward(a["x"])),
        "relu_backward": (("dy", "x"), lambda K, a: K.relu_backward(a["dy"], a["x"])),
        "leaky_relu_forward": (("x",), lambda K, a: K.leaky_relu_forward(a["x"], slope)),
        "leaky_relu_backward": (("dy", "x"), lambda K, a: K.leaky_relu_backward(a["dy"], a["x"], slope)),
        "tanh_forward": (("x",), lambda K, a: K.tanh_forward(a["x"])),
        "tanh_backward": (("dy", "y_tanh"), lambda K, a: K.tanh_backward(a["dy"], a["y_tanh"])),
        "sigmoid_forward": (("x",), lambda K, a: K.sigmoid_forward(a["x"])),
        "sigmoid_backward": (("dy", "y_sigmoid"), lambda K, a: K.sigmoid_backward(a["dy"], a["y_sigmoid"])),
    }
    return [BenchCase(op, label, s, pick(names), lambda K, a, f=f: _as_tuple(f(K, a)), dict(slope=slope))
            for op, (names, f) in ops.items()]


def latent_cases(label, s):
    def make_for(names):
        draw = dict(mu=lambda r: normal(r, s.shape), logvar=lambda r: normal(r, s.shape, 0.7),
                    eps=lambda r: normal(r, s.shape), dz=lambda r: normal(r, s.shape))
        return lambda rng: {k: draw[k](rng) for k in names}

    ops = {
        "reparam_forward": (("mu", "logvar", "eps"), lambda K, a: K.reparam_forward(
            a["mu"], a["logvar"], a["eps"], SIGMA)),
        "reparam_backward": (("dz", "logvar", "eps"), lambda K, a: K.reparam_backward(
            a["dz"], a["logvar"], a["eps"], SIGMA)),
        "reparam_kl_forward": (("mu", "logvar", "eps"), lambda K, a: K.reparam_kl_forward(
            a["mu"], a["logvar"], a["eps"], SIGMA)),
        "reparam_kl_backward": (("dz", "mu", "logvar", "eps"), lambda K, a: K.reparam_kl_backward(
            a["dz"], a["mu"], a["logvar"], a["eps"], SIGMA, KL_WEIGHT)),
        "kl_normal": (("mu", "logvar"), lambda K, a: K.kl_normal(a["mu"], a["logvar"])),
    }
    return [BenchCase(op, label, s, make_for(names), lambda K, a, f=f: _as_tuple(f(K, a)),
                      dict(sigma=SIGMA, kl_weight=KL_WEIGHT))
            for op, (names, f) in ops.items()]


def mse_cases(label, s):
    return [BenchCase("mse", label, s, lambda rng: dict(a=normal(rng, s.shape), b=normal(rng, s.shape)),
                      lambda K, a: _as_tuple(K.mse(a["a"], a["b"])))]


def bce_cases(label, s):
    return [BenchCase("bce_with_logits", label, s, lambda rng: dict(logits=normal(rng, s.shape, 2.0)),
                      lambda K, a: _as_tuple(K.bce_with_logits(a["logits"], BCE_TARGET)), dict(target=BCE_TARGET))]


def adam_cases(label, s):
    def make(rng):
        n = (s.size,)
        return dict(param=normal(rng, n, 0.02), grad=normal(rng, n, 1e-3), m=normal(rng, n, 1e-4),
                    v=(rng.uniform(0.1, 1.0, n) * 1e-6).astype(np.float32))

    def call(K, a):
        # in place: the updated param, m and v are the op's outputs
        K.adam_step(a["param"], a["grad"], a["m"], a["v"], ADAM["step"], ADAM["lr"], ADAM["beta1"],
                    ADAM["beta2"], ADAM["eps"], ADAM["weight_decay"])
        return (a["param"], a["m"], a["v"])

    return [BenchCase("adam_step", label, s, make, call, dict(ADAM))]


# --- all of a preset -------------------------------------------------------------------------------

def build_cases(layers, slope):
    """BenchCases for [(label, spec)] from bench.layers.trace; `slope` is the model's leaky-ReLU slope.
    Two layers can give the same case (the plain batch-norm of two BN layers of one shape): it is kept
    once, under both labels."""
    cases = []
    for label, spec in layers:
        if isinstance(spec, ConvSpec):
            cases += conv_cases(label, spec)
        elif isinstance(spec, NormSpec):
            cases += bn_cases(label, spec)
        elif isinstance(spec, LinearSpec):
            cases += linear_cases(label, spec)
        elif isinstance(spec, AdamSpec):
            cases += adam_cases(label, spec)
        elif isinstance(spec, ArraySpec):
            cases += {"act": lambda: activation_cases(label, spec, slope), "latent": lambda: latent_cases(label, spec),
                      "mse": lambda: mse_cases(label, spec), "bce": lambda: bce_cases(label, spec)}[spec.family]()
    merged = {}
    for c in cases:
        key = (c.op, c.spec)
        if key in merged:
            merged[key] = replace(merged[key], label=merged[key].label + "/" + c.label)
        else:
            merged[key] = c
    return list(merged.values())


def select(cases, ops=None, layers=None):
    """Cases whose op starts with one of `ops` and whose label contains one of `layers` (None: all)."""
    return [c for c in cases
            if (not ops or any(c.op.startswith(o) for o in ops))
            and (not layers or any(name in c.label for name in layers))]
