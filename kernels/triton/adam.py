"""Adam, fused: one kernel updates every parameter of a model, in place, over its flat buffer.

What it computes, per element, for step t (counted from 1), as torch.optim.Adam does:
    g = grad + weight_decay * param
    m = beta1 * m + (1 - beta1) * g                 first moment
    v = beta2 * v + (1 - beta2) * g * g             second moment
    param -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
The scalars that are the same for every element (1 - beta1, 1 - beta2 and the bias corrections
1 - beta^t) are computed once by the launcher, in double precision, and rounded to the parameters'
precision in the kernel, as a NumPy expression with Python floats would round them.

How the work is split: the parameters, their gradients and both moments live in four flat buffers of
the same length (vaegan/nn.py keeps every parameter as a view into one buffer), so the whole optimiser
step is a single element-wise pass, BLOCK elements per program: read param, grad, m, v; write param,
m, v. Seven trips through memory per element and nothing else, which is why Adam is fused at all: an
unfused step over every parameter tensor would pay one launch per tensor and per operation.

Derived in full, with a check you can run: docs/derivations/adam_bias_correction.md (why the bias
corrections).
"""
import triton
import triton.language as tl

from . import runtime
from .arrays import contiguous

BLOCK = 1024


@triton.jit
def adam_step_kernel(param_ptr, grad_ptr, m_ptr, v_ptr, n, lr: tl.float64, beta1: tl.float64,
                     beta2: tl.float64, one_minus_beta1: tl.float64, one_minus_beta2: tl.float64,
                     eps: tl.float64, weight_decay: tl.float64, bias_correction1: tl.float64,
                     bias_correction2: tl.float64, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    p = tl.load(param_ptr + offsets, mask=mask)
    g = tl.load(grad_ptr + offsets, mask=mask)
    m = tl.load(m_ptr + offsets, mask=mask)
    v = tl.load(v_ptr + offsets, mask=mask)
    dtype = p.dtype
    g = g + tl.full((), weight_decay, dtype) * p
    m = tl.full((), beta1, dtype) * m + tl.full((), one_minus_beta1, dtype) * g
    v = tl.full((), beta2, dtype) * v + tl.full((), one_minus_beta2, dtype) * g * g
    m_hat = m / tl.full((), bias_correction1, dtype)
    v_hat = v / tl.full((), bias_correction2, dtype)
    p = p - tl.full((), lr, dtype) * m_hat / (tl.sqrt(v_hat) + tl.full((), eps, dtype))
    tl.store(param_ptr + offsets, p, mask=mask)
    tl.store(m_ptr + offsets, m, mask=mask)
    tl.store(v_ptr + offsets, v, mask=mask)


def adam_step(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay):
    """One Adam step over flat buffers, updating param, m and v in place (C-contiguous: the contract
    refuses them otherwise, kernels/contract.py)."""
    grad = contiguous(grad)
    step = int(step)
    n = param.size
    runtime.launch(adam_step_kernel, (runtime.cdiv(n, BLOCK),), param, grad, m, v, n, float(lr), float(beta1),
                   float(beta2), 1.0 - beta1, 1.0 - beta2, float(eps), float(weight_decay),
                   1.0 - beta1 ** step, 1.0 - beta2 ** step, BLOCK=BLOCK)
