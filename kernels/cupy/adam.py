"""Launcher of adam.cu: one fused Adam step, in place, over param, m, v (torch.optim.Adam's update).

vaegan/nn.py's FlatParameters keeps a network's parameters as views into one flat buffer, so one
launch (one thread per element) updates the whole network. 1 - beta and the bias corrections
1 - beta**step are computed here, on the host in double, and each rounded once to the data type, as
the reference rounds them.

Derived in full, with a check you can run: docs/derivations/adam_bias_correction.md (why the bias
corrections).
"""
from . import plan
from .arrays import contiguous
from .runtime import i64, launch, real


def adam_step(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay):
    """param, m, v are C-contiguous (the contract refuses them otherwise: they are updated in place)."""
    grad = contiguous(grad)             # grad alone may be a contiguous copy

    t = param.dtype
    launch("adam.cu", "adam_step", t, plan.elementwise(param.size), param, grad, m, v, i64(param.size),
           real(t, lr), real(t, beta1), real(t, 1 - beta1), real(t, beta2), real(t, 1 - beta2), real(t, eps),
           real(t, weight_decay), real(t, 1 - beta1 ** int(step)), real(t, 1 - beta2 ** int(step)))
