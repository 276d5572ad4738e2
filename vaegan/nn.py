"""A minimal neural-network framework on top of a kernel backend (kernels/api.py).

There is no autograd here. Every layer is a pair, in the spirit of micrograd:

    y, ctx = layer.forward(x, mode)      # ctx: what the backward pass will need
    dx = layer.backward(dy, ctx)         # adds dL/dparam into each parameter's .grad, returns dL/dx

The context is returned rather than stored on the layer, so one network can be run several times
before any backward (the VAE-GAN runs the decoder twice and the discriminator three times per step)
and each backward is paired with exactly the forward it differentiates.

Two switches on every backward:
    need_dx=False       skip the data gradient (the first layer of a network never needs it);
    param_grads=False   skip the weight gradient (back-propagating the decoder's losses *through*
                        the discriminator must not touch the discriminator's gradients).

Modes of forward (they only matter to batch-norm):
    "train"  normalise with the batch's statistics and update the running statistics;
    "batch"  normalise with the batch's statistics, leave the running statistics alone
             (reconstruction with --bn-stats batch, as the original code did);
    "eval"   normalise with the running statistics: a frame's output depends on that frame only.
A "batch" forward followed by `update_running_statistics(ctx)` is a "train" forward, the update made
later: the training step's two lanes (vaegan/lanes.py) run a network's passes on two threads and then
update its running statistics in a fixed order on one.

Parameters of a network can be moved into one flat buffer (`FlatParameters(network)`, below; the model
does it for each of its three networks, vaegan/model.py), so that the fused Adam kernel updates a whole
network in one launch; each Parameter then holds views into that buffer.
"""
from dataclasses import dataclass, field

from . import sync_batch_norm

MODES = ("train", "batch", "eval")


class Parameter:
    """A learnable array and the gradient accumulated for it."""

    def __init__(self, data):
        self.data = data
        self.grad = None  # a view into the network's flat gradient buffer (FlatParameters) or allocated lazily

    @property
    def shape(self):
        return self.data.shape


def _data(p):
    return None if p is None else p.data


class Module:
    """Base class: a layer or a network of layers. Subclasses set self.K (the backend)."""

    def __init__(self, K):
        self.K = K

    # --- introspection --------------------------------------------------------------------------
    def named_parameters(self, prefix=""):
        """(qualified name, Parameter) for every parameter, depth first, in a fixed order."""
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
            elif isinstance(value, Module):
                yield from value.named_parameters(prefix + name + ".")
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield from item.named_parameters(f"{prefix}{name}.{i}.")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        """Non-learned state that a checkpoint must keep (batch-norm running statistics)."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield from value.named_buffers(prefix + name + ".")
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield from item.named_buffers(f"{prefix}{name}.{i}.")
        for name in getattr(self, "_buffers", ()):
            yield prefix + name, getattr(self, name)

    def _accumulate(self, p, g):
        if p.grad is None:
            p.grad = self.K.xp.zeros_like(p.data)
        p.grad += g

    def _accumulate_params(self, dw, db):
        """A layer with weight w and optional bias b: add their gradients."""
        self._accumulate(self.w, dw)
        if self.b is not None:
            self._accumulate(self.b, db)

    def __call__(self, x, mode="train"):
        return self.forward(x, mode)


class Conv2d(Module):
    def __init__(self, K, c_in, c_out, k, stride=1, padding=0, bias=True, dtype="float32"):
        super().__init__(K)
        self.stride, self.padding = stride, padding
        self.w = Parameter(K.xp.zeros((c_out, c_in, k, k), dtype))
        self.b = Parameter(K.xp.zeros((c_out,), dtype)) if bias else None

    def forward(self, x, mode="train"):
        return self.K.conv2d_forward(x, self.w.data, _data(self.b), self.stride, self.padding), x

    def backward(self, dy, x, need_dx=True, param_grads=True):
        if need_dx and param_grads:          # one call for all three: a backend may share work between them
            dx, dw, db = self.K.conv2d_backward(dy, x, self.w.data, self.stride, self.padding)
            self._accumulate_params(dw, db)
            return dx
        if param_grads:
            dw, db = self.K.conv2d_backward_weight(dy, x, self.w.shape, self.stride, self.padding)
            self._accumulate_params(dw, db)
        if need_dx:
            return self.K.conv2d_backward_data(dy, self.w.data, x.shape, self.stride, self.padding)
        return None


class ConvTranspose2d(Module):
    def __init__(self, K, c_in, c_out, k, stride=1, padding=0, output_padding=0, bias=True, dtype="float32"):
        super().__init__(K)
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.w = Parameter(K.xp.zeros((c_in, c_out, k, k), dtype))
        self.b = Parameter(K.xp.zeros((c_out,), dtype)) if bias else None

    def forward(self, x, mode="train"):
        y = self.K.conv_transpose2d_forward(x, self.w.data, _data(self.b),
                                            self.stride, self.padding, self.output_padding)
        return y, x

    def backward(self, dy, x, need_dx=True, param_grads=True):
        if need_dx and param_grads:          # one call for all three: both gradients read dy's windows
            dx, dw, db = self.K.conv_transpose2d_backward(dy, x, self.w.data, self.stride, self.padding,
                                                          self.output_padding)
            self._accumulate_params(dw, db)
            return dx
        if param_grads:
            dw, db = self.K.conv_transpose2d_backward_weight(dy, x, self.w.shape, self.stride, self.padding)
            self._accumulate_params(dw, db)
        if need_dx:
            return self.K.conv_transpose2d_backward_data(dy, self.w.data, self.stride, self.padding)
        return None


class Linear(Module):
    def __init__(self, K, n_in, n_out, bias=True, dtype="float32"):
        super().__init__(K)
        self.w = Parameter(K.xp.zeros((n_out, n_in), dtype))
        self.b = Parameter(K.xp.zeros((n_out,), dtype)) if bias else None

    def forward(self, x, mode="train"):
        return self.K.linear_forward(x, self.w.data, _data(self.b)), x

    def backward(self, dy, x, need_dx=True, param_grads=True):
        dx, dw, db = self.K.linear_backward(dy, x, self.w.data)
        if param_grads:
            self._accumulate_params(dw, db)
        return dx if need_dx else None


class BatchNorm(Module):
    """Batch-norm over channels (4-D input, statistics over N,H,W) or features (2-D, over N),
    fused with the activation that follows it: act None, "relu", or "lrelu" (with `slope`).

    Running statistics follow PyTorch: running = (1 - momentum) * running + momentum * batch, with the
    unbiased batch variance; the normalisation itself uses the biased variance.
    """

    _buffers = ("running_mean", "running_var")

    def __init__(self, K, n, act=None, slope=0.2, momentum=0.1, eps=1e-5, dtype="float32"):
        super().__init__(K)
        self.slope = {None: None, "relu": 0.0, "lrelu": slope}[act]
        self.momentum, self.eps = momentum, eps
        self.gamma = Parameter(K.xp.ones((n,), dtype))
        self.beta = Parameter(K.xp.zeros((n,), dtype))
        self.running_mean = K.xp.zeros((n,), dtype)
        self.running_var = K.xp.ones((n,), dtype)
        self.comm = None     # a communicator of several ranks: statistics over the global batch (below)

    def _synced(self):
        return self.comm is not None and self.comm.size > 1

    def forward(self, x, mode="train"):
        K = self.K
        if mode == "eval":
            y = K.batch_norm_act_inference(x, self.gamma.data, self.beta.data, self.running_mean,
                                           self.running_var, self.eps, self.slope)
            return y, None
        if self._synced():   # the batch is split among ranks (vaegan/sync_batch_norm.py)
            y, mean, invstd, count = sync_batch_norm.forward(K, self.comm, x, self.gamma.data, self.beta.data,
                                                             self.eps, self.slope)
        else:
            y, mean, invstd = K.batch_norm_act_forward(x, self.gamma.data, self.beta.data, self.eps, self.slope)
            count = x.size // x.shape[1]
        ctx = (x, y, mean, invstd, count)
        if mode == "train":
            self.update_running_statistics(ctx)
        return y, ctx

    def update_running_statistics(self, ctx):
        """Fold the batch statistics of a "train" or "batch" forward (its ctx) into the running ones."""
        _, _, mean, invstd, count = ctx
        # invstd = 1/sqrt(var_biased + eps)  =>  var_biased = invstd**-2 - eps; unbias by n/(n-1)
        var_unbiased = (1.0 / (invstd * invstd) - self.eps) * (count / (count - 1))
        m = self.momentum
        self.running_mean[...] = (1 - m) * self.running_mean + m * mean
        self.running_var[...] = (1 - m) * self.running_var + m * var_unbiased

    def backward(self, dy, ctx, need_dx=True, param_grads=True):
        if ctx is None:
            raise RuntimeError("batch-norm backward needs a forward in 'train' or 'batch' mode")
        x, y, mean, invstd, count = ctx
        if self._synced():
            dx, dgamma, dbeta = sync_batch_norm.backward(self.K, self.comm, dy, x, y, mean, invstd, self.gamma.data,
                                                         self.slope, count, need_dx)
        else:
            dx, dgamma, dbeta = self.K.batch_norm_act_backward(dy, x, y, mean, invstd, self.gamma.data, self.slope)
        if param_grads:
            self._accumulate(self.gamma, dgamma)
            self._accumulate(self.beta, dbeta)
        return dx if need_dx else None


class LeakyReLU(Module):
    def __init__(self, K, slope=0.2):
        super().__init__(K)
        self.slope = slope

    def forward(self, x, mode="train"):
        return self.K.leaky_relu_forward(x, self.slope), x

    def backward(self, dy, x, need_dx=True, param_grads=True):
        return self.K.leaky_relu_backward(dy, x, self.slope)


class ReLU(Module):
    def forward(self, x, mode="train"):
        return self.K.relu_forward(x), x

    def backward(self, dy, x, need_dx=True, param_grads=True):
        return self.K.relu_backward(dy, x)


class Tanh(Module):
    def forward(self, x, mode="train"):
        y = self.K.tanh_forward(x)
        return y, y  # d tanh = 1 - y^2: the output is all the backward needs

    def backward(self, dy, y, need_dx=True, param_grads=True):
        return self.K.tanh_backward(dy, y)


class Reshape(Module):
    """(N, ...) -> (N, *shape); the backward reshapes back."""

    def __init__(self, K, shape):
        super().__init__(K)
        self.shape = tuple(shape)

    def forward(self, x, mode="train"):
        return x.reshape((x.shape[0],) + self.shape), x.shape

    def backward(self, dy, in_shape, need_dx=True, param_grads=True):
        return dy.reshape(in_shape)


@dataclass
class SequentialContext:
    layer_ctx: list
    taps: dict = field(default_factory=dict)  # layer index -> that layer's output


class Sequential(Module):
    """Layers in order. `taps` asks forward to hand back chosen intermediate outputs (the
    discriminator's hidden features for the learned similarity), and backward accepts gradients
    arriving at those outputs, added to the gradient flowing down from the layers above them."""

    def __init__(self, K, layers):
        super().__init__(K)
        self.layers = list(layers)

    def forward(self, x, mode="train", taps=()):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        ctx = SequentialContext([])
        for i, layer in enumerate(self.layers):
            x, c = layer.forward(x, mode)
            ctx.layer_ctx.append(c)
            if i in taps:
                ctx.taps[i] = x
        return x, ctx

    def update_running_statistics(self, ctx):
        """After a "batch" forward: update every batch-norm's running statistics as "train" would have."""
        for layer, c in zip(self.layers, ctx.layer_ctx):
            if isinstance(layer, BatchNorm):
                layer.update_running_statistics(c)

    def backward(self, dy, ctx, tap_grads=None, need_dx=True, param_grads=True):
        """dy: gradient at the output (or None when only tap gradients enter); tap_grads: {index: grad}.
        Layers above the highest tap that receive no gradient are skipped altogether."""
        tap_grads = tap_grads or {}
        g = dy
        for i in reversed(range(len(self.layers))):
            if i in tap_grads:
                g = tap_grads[i] if g is None else g + tap_grads[i]
            if g is None:
                continue
            g = self.layers[i].backward(g, ctx.layer_ctx[i], need_dx=need_dx or i > 0, param_grads=param_grads)
        return g if need_dx else None


# --- parameters as views into one flat buffer ------------------------------------------------------

class FlatParameters:
    """All of one network's parameters in one contiguous buffer, and their gradients in another.

    After `FlatParameters(module)`, every Parameter's .data and .grad are views into `self.data` and
    `self.grad`; the fused Adam kernel then updates the whole network in one launch, and zeroing the
    gradients is one fill."""

    def __init__(self, module):
        K = module.K
        self.named = list(module.named_parameters())
        if not self.named:
            raise ValueError("module has no parameters")
        dtype = self.named[0][1].data.dtype
        self.size = sum(int(p.data.size) for _, p in self.named)
        self.data = K.xp.empty((self.size,), dtype)
        self.grad = K.xp.zeros((self.size,), dtype)
        offset = 0
        for _, p in self.named:
            n, shape = int(p.data.size), p.data.shape
            self.data[offset:offset + n] = p.data.reshape(-1)
            p.data = self.data[offset:offset + n].reshape(shape)
            p.grad = self.grad[offset:offset + n].reshape(shape)
            offset += n

    def zero_grad(self):
        self.grad.fill(0)


def init_weights(module, seed):
    """DCGAN's initialisation, as in Broad's code: conv/linear weights ~ N(0, 0.02), biases 0,
    batch-norm gamma ~ N(1, 0.02), beta 0. Drawn on the host from `seed`, so every backend starts
    from the same numbers."""
    import numpy as np

    rng = np.random.default_rng(seed)
    K = module.K
    for name, p in module.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "gamma":
            host = 1.0 + 0.02 * rng.standard_normal(p.shape)
        elif leaf == "w":
            host = 0.02 * rng.standard_normal(p.shape)
        else:  # biases, beta
            host = np.zeros(p.shape)
        p.data[...] = K.asarray(host.astype(str(p.data.dtype)))
