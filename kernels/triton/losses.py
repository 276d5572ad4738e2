"""The losses, each a mean over all elements, with its gradient computed in the same pass.

What it computes (n = number of elements):
    mse(a, b)                   loss = mean((a - b)^2)                    da = 2 (a - b) / n
    bce_with_logits(x, t)       loss = mean(softplus(x) - t x)            dx = (sigmoid(x) - t) / n
    kl_normal(mu, logvar)       loss = mean(-(1 + logvar - mu^2 - e^logvar) / 2)
                                dmu = mu / n,    dlogvar = (e^logvar - 1) / (2 n)
The gradients follow term by term: d/da (a - b)^2 = 2 (a - b); softplus' = sigmoid, so
d/dx [softplus(x) - t x] = sigmoid(x) - t; and d/dlogvar of the KL term is (e^logvar - 1) / 2. Every
term is divided by n because the loss is a mean.

How the work is split: one pass, P programs (enough to fill the GPU). Program p walks the flat arrays
with stride P * BLOCK, writes the gradient of every element it visits, and keeps a running per-lane
sum of the loss terms; at the end it writes one partial sum (loss_partial: the programs and their
buffer). loss_finish (reduce.finish) then adds the P partials and scales by 1/n into the 0-d loss. The loss never leaves the device: reading it (float(loss)) is the
caller's choice.

Derived in full, with a check you can run: docs/derivations/bce_with_logits.md (BCE with logits) and
docs/derivations/sampler_kl.md (the KL term).
"""
import triton
import triton.language as tl

from . import reduce, runtime
from .arrays import contiguous
from .activations import sigmoid

BLOCK = 1024


@triton.jit
def softplus(x):
    # softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|). log1p(u) is computed as
    # log(w) * u / (w - 1) with w = 1 + u, which cancels the rounding of w (Goldberg's trick).
    u = tl.exp(-tl.abs(x))
    w = 1.0 + u
    log1p_u = tl.where(w == 1.0, u, tl.log(w) * (u / (w - 1.0)))
    return tl.maximum(x, 0.0) + log1p_u


@triton.jit
def kl_term(mu, logvar):
    return -0.5 * (1.0 + logvar - mu * mu - tl.exp(logvar))


@triton.jit
def mse_kernel(a_ptr, b_ptr, da_ptr, partial_ptr, n, grad_scale: tl.float64, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    step = tl.num_programs(0) * BLOCK
    acc = tl.zeros((BLOCK,), dtype=a_ptr.dtype.element_ty)
    for start in range(pid * BLOCK, n, step):
        offsets = start + tl.arange(0, BLOCK)
        mask = offsets < n
        diff = tl.load(a_ptr + offsets, mask=mask, other=0.0) - tl.load(b_ptr + offsets, mask=mask, other=0.0)
        tl.store(da_ptr + offsets, diff * tl.full((), grad_scale, diff.dtype), mask=mask)
        acc += diff * diff
    tl.store(partial_ptr + pid, tl.sum(acc, axis=0))


@triton.jit
def bce_with_logits_kernel(x_ptr, t_ptr, dx_ptr, partial_ptr, n, target: tl.float64, grad_scale: tl.float64,
                           TARGET_IS_ARRAY: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    step = tl.num_programs(0) * BLOCK
    acc = tl.zeros((BLOCK,), dtype=x_ptr.dtype.element_ty)
    for start in range(pid * BLOCK, n, step):
        offsets = start + tl.arange(0, BLOCK)
        mask = offsets < n
        x = tl.load(x_ptr + offsets, mask=mask, other=0.0)
        if TARGET_IS_ARRAY:
            t = tl.load(t_ptr + offsets, mask=mask, other=0.0)
        else:
            t = tl.full((BLOCK,), target, x.dtype)
        tl.store(dx_ptr + offsets, (sigmoid(x) - t) * tl.full((), grad_scale, x.dtype), mask=mask)
        acc += tl.where(mask, softplus(x) - t * x, 0.0)
    tl.store(partial_ptr + pid, tl.sum(acc, axis=0))


@triton.jit
def kl_normal_kernel(mu_ptr, logvar_ptr, dmu_ptr, dlogvar_ptr, partial_ptr, n, grad_scale: tl.float64,
                     BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    step = tl.num_programs(0) * BLOCK
    acc = tl.zeros((BLOCK,), dtype=mu_ptr.dtype.element_ty)
    for start in range(pid * BLOCK, n, step):
        offsets = start + tl.arange(0, BLOCK)
        mask = offsets < n
        mu = tl.load(mu_ptr + offsets, mask=mask, other=0.0)
        logvar = tl.load(logvar_ptr + offsets, mask=mask, other=0.0)   # masked lanes: kl_term(0, 0) = 0
        g = tl.full((), grad_scale, mu.dtype)
        tl.store(dmu_ptr + offsets, mu * g, mask=mask)
        tl.store(dlogvar_ptr + offsets, 0.5 * (tl.exp(logvar) - 1.0) * g, mask=mask)
        acc += kl_term(mu, logvar)
    tl.store(partial_ptr + pid, tl.sum(acc, axis=0))


# --- launchers -------------------------------------------------------------------------------------

def loss_partial(n, dtype):
    """How many programs share a flat pass over n elements, and their buffer of partial sums."""
    programs = max(1, min(runtime.cdiv(n, BLOCK), runtime.parallelism()))
    return programs, runtime.empty((programs,), dtype)


def loss_finish(partial, n, dtype):
    """The 0-d mean from the programs' partial sums."""
    return reduce.finish(partial, partial.size, 1, runtime.empty((), dtype), scale=1.0 / n)


def mse(a, b):
    a, b = contiguous(a, b)
    n = a.size
    da = runtime.empty(a.shape, a.dtype)
    programs, partial = loss_partial(n, a.dtype)
    runtime.launch(mse_kernel, (programs,), a, b, da, partial, n, 2.0 / n, BLOCK=BLOCK)
    return loss_finish(partial, n, a.dtype), da


def bce_with_logits(logits, target):
    target_is_array = isinstance(target, runtime.xp().ndarray)   # else one label for every logit (GAN: 1.0, 0.0)
    x = contiguous(logits)
    t = contiguous(target) if target_is_array else x       # x: a placeholder pointer, never read
    n = x.size
    dx = runtime.empty(x.shape, x.dtype)
    programs, partial = loss_partial(n, x.dtype)
    runtime.launch(bce_with_logits_kernel, (programs,), x, t, dx, partial, n,
                   0.0 if target_is_array else float(target), 1.0 / n, TARGET_IS_ARRAY=target_is_array, BLOCK=BLOCK)
    return loss_finish(partial, n, x.dtype), dx


def kl_normal(mu, logvar):
    mu, logvar = contiguous(mu, logvar)
    n = mu.size
    dmu, dlogvar = runtime.empty(mu.shape, mu.dtype), runtime.empty(mu.shape, mu.dtype)
    programs, partial = loss_partial(n, mu.dtype)
    runtime.launch(kl_normal_kernel, (programs,), mu, logvar, dmu, dlogvar, partial, n, 1.0 / n, BLOCK=BLOCK)
    return loss_finish(partial, n, mu.dtype), dmu, dlogvar
