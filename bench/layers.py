"""The real layer shapes of a preset, found by running its training step on a shape-only backend.

Nothing here lists layers by hand: `trace(cfg)` builds the VAE-GAN of any ModelConfig, runs one
vaegan.step.training_step on SHAPES (a namespace that meets the op contract but only computes output
shapes, returning ones), and records every contract call with the network it ran in. The calls are
folded into layer specs, one per distinct shape, named after the networks that use them:

    ConvSpec     a (transposed) convolution               "enc.conv2/disc.conv2"
    NormSpec     a batch-norm (+ fused activation slope)   "dec.bn1"
    LinearSpec   a dense layer                             "enc.fc1" (mu and logvar heads share it)
    ArraySpec    an element-wise op, the sampler, a loss   "dec.act1", "losses.latent1", "losses.mse2"
    AdamSpec     one network's flat parameter buffer        "encoder"

The trace runs at batch TRACE_BATCH; every spec keeps its batch as a field `n`, so `with_batch(spec, 64)`
gives the same layer at any batch (the parameter buffers of AdamSpec have none).
"""
import contextlib
from dataclasses import dataclass, replace

import numpy as np

from kernels import shapes
from kernels.api import HELPERS, OPS

from .instrument import OUTSIDE, OpProxy, label_networks

TRACE_BATCH = 2
# The training step bench/ traces and times (trace below, bench.train, bench.warm_caches): the default
# recipe's (vaegan/recipes.py), the one `python cli.py train` runs (bench/README.md's timings before
# 2026-12-05 were measured with the seed recipe's: `python -m bench.train --recipe seed`). bench.train's
# PyTorch peer computes the same losses for any recipe (bench/torch_peer.gradients reads the TrainConfig).
STEP_RECIPE = "default"


@dataclass(frozen=True)
class ConvSpec:
    """One (transposed) convolution layer: x is (n, c_in, h, w), the kernel kh x kw (the presets' are 5x5;
    tests/op_cases.py's awkward shapes are not all square)."""
    n: int
    c_in: int
    c_out: int
    h: int
    w: int
    kh: int
    kw: int
    stride: int
    padding: int
    output_padding: int = 0      # transposed convolutions only
    transposed: bool = False
    bias: bool = True

    @property
    def x_shape(self):
        return (self.n, self.c_in, self.h, self.w)

    @property
    def w_shape(self):     # conv2d (C_out, C_in, kH, kW); conv_transpose2d (C_in, C_out, kH, kW)
        return (self.c_in, self.c_out, self.kh, self.kw) if self.transposed else (self.c_out, self.c_in, self.kh, self.kw)

    @property
    def y_hw(self):
        if self.transposed:
            size = shapes.conv_transpose2d_out_size
            return tuple(size(d, k, self.stride, self.padding, self.output_padding)
                         for d, k in ((self.h, self.kh), (self.w, self.kw)))
        return tuple(shapes.conv2d_out_size(d, k, self.stride, self.padding) for d, k in ((self.h, self.kh), (self.w, self.kw)))

    @property
    def y_shape(self):
        return (self.n, self.c_out) + self.y_hw

    def text(self):
        s = f"n{self.n} {self.c_in}->{self.c_out} {self.h}x{self.w} k{self.kh}x{self.kw} s{self.stride} p{self.padding}"
        return s + (f" op{self.output_padding}" if self.transposed else "") + ("" if self.bias else " nobias")


@dataclass(frozen=True)
class NormSpec:
    n: int
    rest: tuple            # (C, H, W) or (F,)
    slope: object          # None (plain batch-norm), 0.0 (ReLU) or the leaky slope
    eps: float

    @property
    def shape(self):
        return (self.n,) + self.rest

    def text(self):
        return "x".join(map(str, self.shape)) + f" slope={self.slope}"


@dataclass(frozen=True)
class LinearSpec:
    n: int
    f_in: int
    f_out: int
    bias: bool

    def text(self):
        return f"n{self.n} {self.f_in}->{self.f_out}" + ("" if self.bias else " nobias")


@dataclass(frozen=True)
class ArraySpec:
    family: str            # "act", "latent", "mse", "bce"
    n: int
    rest: tuple

    @property
    def shape(self):
        return (self.n,) + self.rest

    def text(self):
        return "x".join(map(str, self.shape))


@dataclass(frozen=True)
class AdamSpec:
    size: int

    def text(self):
        return f"{self.size} params"


def with_batch(spec, n):
    return spec if isinstance(spec, AdamSpec) else replace(spec, n=n)


# --- the shape-only backend ------------------------------------------------------------------------

def _ones(*shape_list):
    """Arrays of ones (not zeros: the framework divides by batch-norm's invstd)."""
    out = tuple(np.ones(s, np.float32) for s in shape_list)
    return out if len(out) > 1 else out[0]


def _shape_ops():
    """op name -> function returning ones in the op's output shapes (kernels/api.py signatures and
    parameter names: bench.kernels calls these with keywords to learn an op's output sizes)."""
    def conv_fwd(x, w, b, stride, padding):
        return _ones(shapes.check_conv2d(x, w, b, stride, padding))

    def convt_fwd(x, w, b, stride, padding, output_padding):
        return _ones(shapes.check_conv_transpose2d(x, w, b, stride, padding, output_padding))

    def like(*names):   # outputs shaped like the inputs at these positions
        return lambda *a: _ones(*(a[i].shape for i in names))

    def loss(*names):
        return lambda *a: (np.ones((), np.float32),) + tuple(np.ones(a[i].shape, np.float32) for i in names)

    def bn_fwd(x, gamma, *rest):
        return _ones(x.shape, gamma.shape, gamma.shape)

    def bn_bwd(dy, x, *rest):
        c = (x.shape[1],)
        return _ones(x.shape, c, c)

    return {
        "conv2d_forward": conv_fwd,
        "conv2d_backward": lambda dy, x, w, stride, padding: _ones(x.shape, w.shape, (w.shape[0],)),
        "conv2d_backward_data": lambda dy, w, x_shape, stride, padding: _ones(tuple(x_shape)),
        "conv2d_backward_weight": lambda dy, x, w_shape, stride, padding: _ones(tuple(w_shape), (w_shape[0],)),
        "conv_transpose2d_forward": convt_fwd,
        "conv_transpose2d_backward": lambda dy, x, w, stride, padding, output_padding: _ones(
            x.shape, w.shape, (w.shape[1],)),
        "conv_transpose2d_backward_data": lambda dy, w, stride, padding: _ones(
            shapes.check_conv2d(dy, w, None, stride, padding)),
        "conv_transpose2d_backward_weight": lambda dy, x, w_shape, stride, padding: _ones(
            tuple(w_shape), (w_shape[1],)),
        "batch_norm_forward": bn_fwd, "batch_norm_act_forward": bn_fwd,
        "batch_norm_backward": bn_bwd, "batch_norm_act_backward": bn_bwd,
        "batch_norm_inference": like(0), "batch_norm_act_inference": like(0),
        "linear_forward": lambda x, w, b: _ones((x.shape[0], w.shape[0])),
        "linear_backward": lambda dy, x, w: _ones(x.shape, w.shape, (w.shape[0],)),
        "relu_forward": like(0), "relu_backward": like(0), "leaky_relu_forward": like(0),
        "leaky_relu_backward": like(0), "tanh_forward": like(0), "tanh_backward": like(0),
        "sigmoid_forward": like(0), "sigmoid_backward": like(0),
        "reparam_forward": like(0), "reparam_backward": like(0, 0),
        "reparam_kl_forward": lambda mu, *a: (np.ones(mu.shape, np.float32), np.ones((), np.float32)),
        "reparam_kl_backward": like(0, 0),
        "kl_normal": loss(0, 0), "mse": loss(0), "bce_with_logits": loss(0),
        "adam_step": lambda *a: None,
    }


class _ShapeBackend:
    """Meets the op contract; computes shapes only. Its outputs are NumPy arrays of ones."""
    name = "shapes"
    xp = np

    def __init__(self):
        self.__dict__.update(_shape_ops())
        missing = [op for op in OPS if op not in self.__dict__]
        assert not missing, f"the shape backend lacks {missing}"

    @staticmethod
    def asarray(a, dtype=None):
        return np.array(a, dtype=dtype, copy=True)

    @staticmethod
    def to_numpy(a):
        return np.array(a, copy=True)

    @staticmethod
    def normal(shape, key, dtype):
        return np.zeros(shape, dtype)

    @staticmethod
    def parallel_lanes():
        return 1            # the step's lanes in order: the calls are recorded in the order a reader reads

    lane_thread = staticmethod(contextlib.nullcontext)


SHAPES = _ShapeBackend()
assert all(hasattr(SHAPES, h) for h in HELPERS)


# --- from calls to specs ---------------------------------------------------------------------------

def _spec_of(op, args):
    """The (family, spec) of one contract call, or None for calls whose layer another call names
    (every backward is paired with a forward of the same shape, which is the one recorded)."""
    if op == "conv2d_forward":
        x, w, b, stride, padding = args
        return "conv", ConvSpec(x.shape[0], x.shape[1], w.shape[0], x.shape[2], x.shape[3], w.shape[2], w.shape[3],
                                stride, padding, bias=b is not None)
    if op == "conv_transpose2d_forward":
        x, w, b, stride, padding, output_padding = args
        return "conv", ConvSpec(x.shape[0], x.shape[1], w.shape[1], x.shape[2], x.shape[3], w.shape[2], w.shape[3],
                                stride, padding, output_padding, transposed=True, bias=b is not None)
    if op in ("batch_norm_act_forward", "batch_norm_forward"):
        x, eps = args[0], args[3]
        slope = args[4] if op == "batch_norm_act_forward" else None
        return "bn", NormSpec(x.shape[0], tuple(x.shape[1:]), slope, float(eps))
    if op == "linear_forward":
        x, w, b = args
        return "fc", LinearSpec(x.shape[0], w.shape[1], w.shape[0], b is not None)
    if op in ("relu_forward", "leaky_relu_forward", "tanh_forward", "sigmoid_forward"):
        return "act", ArraySpec("act", args[0].shape[0], tuple(args[0].shape[1:]))
    if op in ("reparam_kl_forward", "reparam_forward", "kl_normal"):
        return "latent", ArraySpec("latent", args[0].shape[0], tuple(args[0].shape[1:]))
    if op == "mse":
        return "mse", ArraySpec("mse", args[0].shape[0], tuple(args[0].shape[1:]))
    if op == "bce_with_logits":
        return "bce", ArraySpec("bce", args[0].shape[0], tuple(args[0].shape[1:]))
    return None


PREFIX = {"encoder": "enc", "decoder": "dec", "discriminator": "disc", OUTSIDE: OUTSIDE}


def trace(cfg, batch=TRACE_BATCH):
    """[(label, spec)] for every distinct layer shape one training step of `cfg` runs, in the order
    first seen, plus one AdamSpec per network; specs at batch `batch`."""
    from vaegan.model import VAEGAN
    from vaegan.optim import Adam
    from vaegan.step import training_step
    from vaegan.train import settings

    proxy = OpProxy(SHAPES)
    model = VAEGAN(proxy, cfg)
    optimizers = {name: Adam(proxy, flat) for name, flat in model.flat.items()}
    label_networks(model, optimizers, proxy)
    seen = {}        # spec -> [labels]
    counters = {}    # (network, family) -> layers named so far

    def record(network, op, fn, args, kwargs):
        found = _spec_of(op, args)
        if found is not None:
            family, spec = found
            names = seen.setdefault(spec, [])
            key = (network, family)
            own = [label for label in names if label.startswith(PREFIX[network] + ".")]
            if not own:
                counters[key] = counters.get(key, 0) + 1
                names.append(f"{PREFIX[network]}.{family}{counters[key]}")
        return fn(*args, **kwargs)

    proxy.on_call = record
    x = np.zeros((TRACE_BATCH, 3, cfg.height, cfg.width), np.float32)
    z = np.zeros((TRACE_BATCH, cfg.z_dim), np.float32)
    tc = settings(STEP_RECIPE).train       # (its kl_weight is tiny's: a weight changes no op or shape)
    training_step(model, optimizers, x, z, z, 1.0, tc)
    layers = [("/".join(names), with_batch(spec, batch)) for spec, names in seen.items()]
    layers += [(name, AdamSpec(int(flat.size))) for name, flat in model.flat.items()]
    return layers
