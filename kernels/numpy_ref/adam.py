"""Adam, one step, in place, with torch.optim.Adam's semantics (weight decay added to the gradient,
"L2" style, not AdamW's decoupled decay):

    g = grad + weight_decay * param
    m = beta1 * m + (1 - beta1) * g              running mean of the gradient
    v = beta2 * v + (1 - beta2) * g * g          running mean of its square
    param -= lr * (m / (1 - beta1**step)) / (sqrt(v / (1 - beta2**step)) + eps)

The bias corrections 1 - beta**step undo the zero start of m and v; step counts from 1. param, m, v
are updated in place (the caller's arrays); nothing is returned. The scalars are rounded to the
param's dtype, so a float32 model stays float32.

Derived in full, with a check you can run: docs/derivations/adam_bias_correction.md (why the bias
corrections).
"""
import numpy as np


def adam_step(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay):
    t = param.dtype.type
    g = grad + t(weight_decay) * param if weight_decay else grad
    m *= t(beta1)
    m += t(1 - beta1) * g
    v *= t(beta2)
    v += t(1 - beta2) * g * g
    m_hat = m / t(1 - beta1 ** int(step))
    v_hat = v / t(1 - beta2 ** int(step))
    param -= t(lr) * m_hat / (np.sqrt(v_hat) + t(eps))
