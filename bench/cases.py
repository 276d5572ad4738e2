"""Every op of the contract on every real layer shape of a preset, as benchmark cases; and the one
table of how each op is called and fed, which the tests' cases (tests/op_cases.py) are built from too.

A Case is one (op, shape): how to draw its inputs, how to call it on a backend, and (for the
benchmark) what it costs. How an op is called, with which named arrays and which other arguments, is
CALLS, once per op; how those arrays are drawn is one function per family of ops (conv_inputs,
bn_inputs, ...: fresh random draws of any dtype, never zeros, the saved values a backward takes
computed in float64). The benchmark builds its cases below from the model's traced layers
(build_cases); tests/op_cases.py builds its own from awkward, real and multi-tile shapes, from the same
CALLS and draws (tests may import bench/; bench/ imports nothing of tests/).

The benchmark's layer shapes come from tracing the preset's training step (bench/layers.py); each
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
class Case:
    op: str                       # a key of kernels.api.OPS
    label: str                    # which layer(s) of the model, e.g. "enc.conv2/disc.conv2" ("" for none)
    spec: object                  # the layer spec (bench/layers.py), or the shape the case was made for
    make: Callable                # (rng, dtype=float32) -> {input name: NumPy array}, fresh draws, never zeros
    params: dict = field(default_factory=dict)   # the non-array arguments (CALLS reads them; so does the PyTorch peer)
    gemms: tuple = ()             # ((M, N, K), ...): the op's matrix products (for the benchmark's FLOPs)
    name: str = ""                # the tests' id, e.g. "conv2d_forward[n2 3->4 7x6 k3x3 s1 p1]"
    preset: str = None            # the tests' real layers: the preset whose layer this is

    def call(self, K, arrays):
        """The op on backend K, given its arrays as K arrays (an absent bias: no "b") -> tuple of outputs."""
        return _as_tuple(CALLS[self.op][1](K, arrays, self.params))

    def run(self, K, inputs):
        """The op on backend K, given host arrays (make's): each converted with K.asarray (copied first
        for an op that works in place, so that the inputs serve the next backend unchanged)."""
        copy = self.op in IN_PLACE
        return self.call(K, {k: K.asarray(v.copy() if copy else v) for k, v in inputs.items() if v is not None})

    @property
    def real(self):
        return self.preset is not None

    @property
    def shape(self):
        return self.spec.text() if hasattr(self.spec, "text") else "x".join(map(str, self.spec))

    @property
    def flops(self):
        """2*M*N*K over the GEMMs; None for ops that are not matrix products."""
        return sum(2 * m * n * k for m, n, k in self.gemms) or None

    @property
    def uses_dot(self):
        """Whether the op multiplies matrices, so that a TF32 setting changes it."""
        return bool(self.gemms)

    def __repr__(self):           # pytest ids
        return self.name or f"{self.op}[{self.label} {self.shape}]"



def _as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


# --- how each op is called: its arrays by name, then the call ------------------------------------

def _conv(K, op, a, p, *arrays, **extra):
    return getattr(K, op)(*(a.get(n) for n in arrays), stride=p["stride"], padding=p["padding"], **extra)


def _adam(K, a, p):
    result = K.adam_step(a["param"], a["grad"], a["m"], a["v"], p["step"], p["lr"], p["beta1"], p["beta2"],
                         p["eps"], p["weight_decay"])
    assert result is None, "adam_step updates in place and returns None"
    return (a["param"], a["m"], a["v"])      # in place: the updated param, m and v are the op's outputs


CALLS = {   # op -> (the arrays it takes, (K, arrays, params) -> its output(s))
    "conv2d_forward": (("x", "w", "b"), lambda K, a, p: _conv(K, "conv2d_forward", a, p, "x", "w", "b")),
    "conv2d_backward": (("dy", "x", "w"), lambda K, a, p: _conv(K, "conv2d_backward", a, p, "dy", "x", "w")),
    "conv2d_backward_data": (("dy", "w"), lambda K, a, p: K.conv2d_backward_data(
        a["dy"], a["w"], p["x_shape"], stride=p["stride"], padding=p["padding"])),
    "conv2d_backward_weight": (("dy", "x"), lambda K, a, p: K.conv2d_backward_weight(
        a["dy"], a["x"], p["w_shape"], stride=p["stride"], padding=p["padding"])),
    "conv_transpose2d_forward": (("x", "w", "b"), lambda K, a, p: _conv(
        K, "conv_transpose2d_forward", a, p, "x", "w", "b", output_padding=p["output_padding"])),
    "conv_transpose2d_backward": (("dy", "x", "w"), lambda K, a, p: _conv(
        K, "conv_transpose2d_backward", a, p, "dy", "x", "w", output_padding=p["output_padding"])),
    "conv_transpose2d_backward_data": (("dy", "w"), lambda K, a, p: _conv(
        K, "conv_transpose2d_backward_data", a, p, "dy", "w")),
    "conv_transpose2d_backward_weight": (("dy", "x"), lambda K, a, p: K.conv_transpose2d_backward_weight(
        a["dy"], a["x"], p["w_shape"], stride=p["stride"], padding=p["padding"])),
    "batch_norm_forward": (("x", "gamma", "beta"), lambda K, a, p: K.batch_norm_forward(
        a["x"], a["gamma"], a["beta"], p["eps"])),
    "batch_norm_backward": (("dy", "x", "mean", "invstd", "gamma"), lambda K, a, p: K.batch_norm_backward(
        a["dy"], a["x"], a["mean"], a["invstd"], a["gamma"])),
    "batch_norm_inference": (("x", "gamma", "beta", "running_mean", "running_var"), lambda K, a, p: (
        K.batch_norm_inference(a["x"], a["gamma"], a["beta"], a["running_mean"], a["running_var"], p["eps"]))),
    "batch_norm_act_forward": (("x", "gamma", "beta"), lambda K, a, p: K.batch_norm_act_forward(
        a["x"], a["gamma"], a["beta"], p["eps"], p["slope"])),
    "batch_norm_act_backward": (("dy", "x", "y", "mean", "invstd", "gamma"), lambda K, a, p: (
        K.batch_norm_act_backward(a["dy"], a["x"], a["y"], a["mean"], a["invstd"], a["gamma"], p["slope"]))),
    "batch_norm_act_inference": (("x", "gamma", "beta", "running_mean", "running_var"), lambda K, a, p: (
        K.batch_norm_act_inference(a["x"], a["gamma"], a["beta"], a["running_mean"], a["running_var"], p["eps"],
                                   p["slope"]))),
    "linear_forward": (("x", "w", "b"), lambda K, a, p: K.linear_forward(a["x"], a["w"], a.get("b"))),
    "linear_backward": (("dy", "x", "w"), lambda K, a, p: K.linear_backward(a["dy"], a["x"], a["w"])),
    "relu_forward": (("x",), lambda K, a, p: K.relu_forward(a["x"])),
    "relu_backward": (("dy", "x"), lambda K, a, p: K.relu_backward(a["dy"], a["x"])),
    "leaky_relu_forward": (("x",), lambda K, a, p: K.leaky_relu_forward(a["x"], p["slope"])),
    "leaky_relu_backward": (("dy", "x"), lambda K, a, p: K.leaky_relu_backward(a["dy"], a["x"], p["slope"])),
    "tanh_forward": (("x",), lambda K, a, p: K.tanh_forward(a["x"])),
    "tanh_backward": (("dy", "y_tanh"), lambda K, a, p: K.tanh_backward(a["dy"], a["y_tanh"])),
    "sigmoid_forward": (("x",), lambda K, a, p: K.sigmoid_forward(a["x"])),
    "sigmoid_backward": (("dy", "y_sigmoid"), lambda K, a, p: K.sigmoid_backward(a["dy"], a["y_sigmoid"])),
    "reparam_forward": (("mu", "logvar", "eps"), lambda K, a, p: K.reparam_forward(
        a["mu"], a["logvar"], a["eps"], p["sigma"])),
    "reparam_backward": (("dz", "logvar", "eps"), lambda K, a, p: K.reparam_backward(
        a["dz"], a["logvar"], a["eps"], p["sigma"])),
    "reparam_kl_forward": (("mu", "logvar", "eps"), lambda K, a, p: K.reparam_kl_forward(
        a["mu"], a["logvar"], a["eps"], p["sigma"])),
    "reparam_kl_backward": (("dz", "mu", "logvar", "eps"), lambda K, a, p: K.reparam_kl_backward(
        a["dz"], a["mu"], a["logvar"], a["eps"], p["sigma"], p["kl_weight"])),
    "kl_normal": (("mu", "logvar"), lambda K, a, p: K.kl_normal(a["mu"], a["logvar"])),
    "mse": (("a", "b"), lambda K, a, p: K.mse(a["a"], a["b"])),
    # target: a python float (the GAN's labels) or "array", an array of targets among the inputs
    "bce_with_logits": (("logits", "target"), lambda K, a, p: K.bce_with_logits(
        a["logits"], a["target"] if p["target"] == "array" else p["target"])),
    "adam_step": (("param", "grad", "m", "v"), _adam),
}
IN_PLACE = ("adam_step",)

CONV_OPS = ("conv2d_forward", "conv2d_backward_data", "conv2d_backward_weight", "conv2d_backward")
CONV_T_OPS = tuple(op.replace("conv2d", "conv_transpose2d") for op in CONV_OPS)
BN_OPS = ("batch_norm_forward", "batch_norm_backward", "batch_norm_inference")
BN_ACT_OPS = tuple(op.replace("batch_norm", "batch_norm_act") for op in BN_OPS)
ACT_OPS = ("relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward", "tanh_forward",
           "tanh_backward", "sigmoid_forward", "sigmoid_backward")
LATENT_OPS = ("reparam_forward", "reparam_backward", "reparam_kl_forward", "reparam_kl_backward", "kl_normal")


def arrays_of(op, params):
    """The names of the arrays `op` takes with these params."""
    names = CALLS[op][0]
    return names if op != "bce_with_logits" or params["target"] == "array" else ("logits",)


# --- how the arrays are drawn: one function per family, (rng, dtype, shape..., needs) -> dict -----

def normal(rng, shape, dtype=np.float32, scale=1.0):
    dtype = np.dtype(dtype)
    return rng.standard_normal(shape, dtype=dtype) * dtype.type(scale)


def away_from_zero(rng, shape, dtype):
    """Values in +-[0.1, 2): clear of the kink of ReLU-like functions, so finite differences work."""
    return (rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 2.0, size=shape)).astype(dtype)


def conv_inputs(rng, dtype, s, needs=("x", "w", "b", "dy")):
    """x, w (scaled by 1/sqrt(fan-in) so outputs stay O(1)), b (None without a bias) and an upstream dy,
    for a (transposed) convolution spec s (bench/layers.py's ConvSpec)."""
    fan_in = s.c_in * s.kh * s.kw
    draw = dict(x=lambda: normal(rng, s.x_shape, dtype), w=lambda: normal(rng, s.w_shape, dtype, fan_in ** -0.5),
                b=lambda: normal(rng, (s.c_out,), dtype) if s.bias else None,
                dy=lambda: normal(rng, s.y_shape, dtype))
    return {k: draw[k]() for k in needs}


def bn_params(rng, channels, dtype):
    return dict(gamma=rng.uniform(0.5, 1.5, channels).astype(dtype), beta=normal(rng, channels, dtype, 0.5))


def bn_input(rng, shape, dtype):
    """x with a per-channel offset and scale, so that the statistics are not those of N(0, 1)."""
    axis_shape = (1, shape[1]) + (1,) * (len(shape) - 2)
    loc = rng.standard_normal(axis_shape)
    scale = rng.uniform(0.5, 2.0, axis_shape)
    return (loc + scale * rng.standard_normal(shape)).astype(dtype)


def bn_saved(x, gamma, beta, eps, slope):
    """What batch_norm_act_forward saves for its backward, computed here in float64: y, mean, invstd."""
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, -1) + (1,) * (x.ndim - 2)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axes)
    invstd = 1.0 / np.sqrt(x64.var(axis=axes) + eps)
    pre = (x64 - mean.reshape(bshape)) * invstd.reshape(bshape) * gamma.reshape(bshape) + beta.reshape(bshape)
    y = pre if slope is None else np.where(pre > 0, pre, slope * pre)
    return y.astype(x.dtype), mean.astype(x.dtype), invstd.astype(x.dtype)


def bn_inputs(rng, dtype, shape, slope, eps, needs):
    """x, gamma, beta; with dy what the forward saved (y, mean, invstd); with running_var the running
    statistics."""
    c = shape[1]
    d = dict(x=bn_input(rng, shape, dtype), **bn_params(rng, c, dtype))
    if "dy" in needs:
        d["dy"] = normal(rng, shape, dtype)
        d["y"], d["mean"], d["invstd"] = bn_saved(d["x"], d["gamma"], d["beta"], eps, slope)
    if "running_var" in needs:
        d["running_mean"] = normal(rng, c, dtype, 0.5)
        d["running_var"] = rng.uniform(0.5, 2.0, c).astype(dtype)
    return {k: d[k] for k in needs}


def linear_inputs(rng, dtype, n, f_in, f_out, bias, needs):
    draw = dict(x=lambda: normal(rng, (n, f_in), dtype), w=lambda: normal(rng, (f_out, f_in), dtype, f_in ** -0.5),
                b=lambda: normal(rng, (f_out,), dtype) if bias else None, dy=lambda: normal(rng, (n, f_out), dtype))
    return {k: draw[k]() for k in needs}


def activation_inputs(rng, dtype, shape, needs):
    """x away from the kink, dy, and the outputs tanh's and sigmoid's backward take (in float64)."""
    x = away_from_zero(rng, shape, dtype)
    draw = dict(x=lambda: x, dy=lambda: normal(rng, shape, dtype),
                y_tanh=lambda: np.tanh(x.astype(np.float64)).astype(dtype),
                y_sigmoid=lambda: (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(dtype))
    return {k: draw[k]() for k in needs}


def latent_inputs(rng, dtype, shape, needs):
    draw = dict(mu=lambda: normal(rng, shape, dtype), logvar=lambda: normal(rng, shape, dtype, 0.7),
                eps=lambda: normal(rng, shape, dtype), dz=lambda: normal(rng, shape, dtype))
    return {k: draw[k]() for k in needs}


def loss_inputs(rng, dtype, shape, needs):
    draw = dict(a=lambda: normal(rng, shape, dtype), b=lambda: normal(rng, shape, dtype),
                logits=lambda: normal(rng, shape, dtype, 2.0),
                target=lambda: rng.uniform(0.05, 0.95, shape).astype(dtype))
    return {k: draw[k]() for k in needs}


def adam_inputs(rng, dtype, shape, needs=("param", "grad", "m", "v")):
    draw = dict(param=lambda: normal(rng, shape, dtype), grad=lambda: normal(rng, shape, dtype),
                m=lambda: normal(rng, shape, dtype, 0.1), v=lambda: (rng.uniform(0.1, 1.0, shape) ** 2 * 0.01).astype(dtype))
    return {k: draw[k]() for k in needs}


def case(op, params, draw, *draw_args, **fields):
    """The Case of `op` with `params`, its arrays drawn by draw(rng, dtype, *draw_args, needs)."""
    needs = arrays_of(op, params)

    def make(rng, dtype=np.float32):     # (an absent bias is no array: left out)
        return {k: v for k, v in draw(rng, np.dtype(dtype), *draw_args, needs).items() if v is not None}
    return Case(op, fields.pop("label", ""), fields.pop("spec", draw_args[0] if draw_args else None), make,
                params, **fields)


def conv_params(s):
    return dict(stride=s.stride, padding=s.padding, output_padding=s.output_padding, x_shape=s.x_shape,
                w_shape=s.w_shape)


# --- the benchmark's cases: every op of a layer's family, on the model's real layers -------------

def conv_gemms(s, op):
    """The (M, N, K) of each matrix product of op on conv layer s (see the module docstring)."""
    kk = s.kh * s.kw
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
    return [case(op, conv_params(s), conv_inputs, s, label=label, gemms=conv_gemms(s, op))
            for op in (CONV_T_OPS if s.transposed else CONV_OPS)]


def bn_cases(label, s):
    """The plain batch-norm ops, and with the layer's activation (slope) the fused ones."""
    cases = []
    for ops, spec in ((BN_OPS, replace(s, slope=None)), (BN_ACT_OPS if s.slope is not None else (), s)):
        cases += [case(op, dict(eps=s.eps, slope=spec.slope), bn_inputs, spec.shape, spec.slope, s.eps,
                       label=label, spec=spec) for op in ops]
    return cases


def linear_cases(label, s):
    gemms = {"linear_forward": ((s.n, s.f_out, s.f_in),),
             "linear_backward": ((s.n, s.f_in, s.f_out), (s.f_out, s.f_in, s.n))}
    return [case(op, {}, linear_inputs, s.n, s.f_in, s.f_out, s.bias, label=label, spec=s, gemms=g)
            for op, g in gemms.items()]


def activation_cases(label, s, slope):
    return [case(op, dict(slope=slope), activation_inputs, s.shape, label=label, spec=s) for op in ACT_OPS]


def latent_cases(label, s):
    return [case(op, dict(sigma=SIGMA, kl_weight=KL_WEIGHT), latent_inputs, s.shape, label=label, spec=s)
            for op in LATENT_OPS]


def mse_cases(label, s):
    return [case("mse", {}, loss_inputs, s.shape, label=label, spec=s)]


def bce_cases(label, s):
    return [case("bce_with_logits", dict(target=BCE_TARGET), loss_inputs, s.shape, label=label, spec=s)]


def adam_cases(label, s):
    return [case("adam_step", dict(ADAM), adam_inputs, (s.size,), label=label, spec=s)]


# --- all of a preset -------------------------------------------------------------------------------

def build_cases(layers, slope):
    """Cases for [(label, spec)] from bench.layers.trace; `slope` is the model's leaky-ReLU slope.
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
