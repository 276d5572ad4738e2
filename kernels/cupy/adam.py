"""Launcher of adam.cu: one fused Adam step, in place, over param, m, v (torch.optim.Adam's update).

vaegan/nn.py's FlatParameters keeps a network's parameters as views into one flat buffer, so one
launch (one thread per element) updates the whole network. 1 - beta and the bias corrections
1 - beta**step are computed here, on the host in double, and each rounded once to the data type, as
the reference rounds them.
"""

from kernels.shapes import check_adam_hyperparameters, check_in_place

from . import plan
from .arrays import check_shape, inputs
from .runtime import i64, launch, real


def adam_step(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay):
    grad = inputs(param=param, grad=grad, m=m, v=v)[1]     # grad alone may be a contiguous copy
    for name, a in (("grad", grad), ("m", m), ("v", v)):
        check_shape(name, a, param.shape)
    check_adam_hyperparameters(step, lr, beta1, beta2, eps, weight_decay)
    for name, a in (("param", param), ("m", m), ("v", v)):
        check_in_place(name, a)

    t = param.dtype
    launch("adam.cu", "adam_step", t, plan.elementwise(param.size), param, grad, m, v, i64(param.size),
           real(t, lr), real(t, beta1), real(t, 1 - beta1), real(t, beta2), real(t, 1 - beta2), real(t, eps),
           real(t, weight_decay), real(t, 1 - beta1 ** int(step)), real(t, 1 - beta2 ** int(step)))
