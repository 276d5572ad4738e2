"""Seeing what a training step calls: a proxy around a backend namespace, and network labels.

    proxy = OpProxy(K)                      # behaves exactly like K
    model = VAEGAN(proxy, cfg)              # the model now calls every contract op through the proxy
    label_networks(model, optimizers, proxy)
    proxy.on_call = record                  # record(network, op, fn, args, kwargs) -> fn's result

With `on_call` None the proxy hands back K's own functions and costs one attribute lookup per call.
With a hook set, every op of the contract (kernels/api.py) goes through the hook, which knows which
network is running: each network's forward/backward and each optimiser's step are wrapped to set
`proxy.network` while they run ("encoder", "decoder", "discriminator"; outside them the sampler and
the losses run under OUTSIDE). Two users: bench/layers.py records the shapes of every call, and
bench/train.py times every call (synchronising the device before and after each one).

Arithmetic the framework does with K.xp directly (adding gradients, scaling a loss) is not a contract
op and is not seen; bench/train.py reports it as the remainder of the step.
"""
import threading

from kernels.api import OPS

NETWORKS = ("encoder", "decoder", "discriminator")
OUTSIDE = "losses"      # ops called outside any network: the sampler + KL, mse, bce

# op name -> the kind the training breakdown reports it under
OP_KINDS = {}
for _op in OPS:
    if _op.startswith("conv"):
        OP_KINDS[_op] = "conv"
    elif _op.startswith("batch_norm"):
        OP_KINDS[_op] = "batchnorm"
    elif _op.startswith("linear"):
        OP_KINDS[_op] = "linear"
    elif _op.startswith(("relu", "leaky_relu", "tanh", "sigmoid")):
        OP_KINDS[_op] = "elementwise"
    elif _op == "adam_step":
        OP_KINDS[_op] = "optimiser"
    else:                               # reparam*, kl_normal, mse, bce_with_logits
        OP_KINDS[_op] = "sampler+loss"
KINDS = ("conv", "batchnorm", "linear", "elementwise", "sampler+loss", "optimiser")


class OpProxy:
    """Stands in for a backend namespace; routes the contract's ops through `on_call` when set."""

    def __init__(self, backend, on_call=None):
        self.__dict__.update(_backend=backend, on_call=on_call, _running=threading.local())

    @property
    def network(self):
        """The network whose forward/backward/step this thread is running (the step's two lanes may run
        on two threads: vaegan/lanes.py)."""
        return getattr(self._running, "network", OUTSIDE)

    @network.setter
    def network(self, name):
        self._running.network = name

    def __getattr__(self, name):
        fn = getattr(self._backend, name)
        hook = self.on_call
        if hook is None or name not in OPS:
            return fn
        return lambda *args, **kwargs: hook(self.network, name, fn, args, kwargs)


def _labelled(fn, proxy, network):
    def run(*args, **kwargs):
        outer, proxy.network = proxy.network, network
        try:
            return fn(*args, **kwargs)
        finally:
            proxy.network = outer
    return run


def label_networks(model, optimizers, proxy):
    """Make every forward/backward of model's networks, and every optimiser step, set proxy.network.
    The wrappers are instance attributes, so they shadow the methods of these objects only."""
    for name, net in model.networks().items():
        net.forward = _labelled(net.forward, proxy, name)
        net.backward = _labelled(net.backward, proxy, name)
    for name, opt in (optimizers or {}).items():
        opt.step = _labelled(opt.step, proxy, name)
