"""The VAE's reparameterised sampler, alone and fused with the KL term of the prior.

What it computes (element-wise over the latent codes, n elements):
    z = mu + sigma * exp(logvar / 2) * eps                 (sigma: the injected noise's scale)
    KL = mean(-(1 + logvar - mu^2 - exp(logvar)) / 2)      (KL(q(z|x) || N(0, I)), as in losses.kl_normal)
Backward, with dz the upstream gradient of z:
    dz/dmu = 1                                   -> dmu     = dz
    dz/dlogvar = sigma * eps * exp(logvar/2) / 2 -> dlogvar = dz * sigma * eps * exp(logvar / 2) / 2
and the fused backward adds kl_weight times the KL's gradient, mu / n and (exp(logvar) - 1) / (2 n), so
that the encoder's two terms reach mu and logvar in one kernel.

How the work is split: the plain sampler is a flat element-wise pass (BLOCK elements per program).
The fused forward also has to sum KL over all elements: like the losses, P programs walk the arrays
with stride P * BLOCK, write z, and each leaves one partial sum that `losses.loss_finish` turns into
the 0-d mean.

Derived in full, with a check you can run: docs/derivations/sampler_kl.md (the sampler's gradient and the
KL term's).
"""
import triton
import triton.language as tl

from . import runtime
from .arrays import contiguous
from .losses import kl_term, loss_finish, loss_partial

BLOCK = 1024


@triton.jit
def reparam_forward_kernel(mu_ptr, logvar_ptr, eps_ptr, z_ptr, n, sigma: tl.float64, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    mu = tl.load(mu_ptr + offsets, mask=mask)
    logvar = tl.load(logvar_ptr + offsets, mask=mask)
    eps = tl.load(eps_ptr + offsets, mask=mask)
    s = tl.full((), sigma, mu.dtype)
    tl.store(z_ptr + offsets, mu + s * tl.exp(0.5 * logvar) * eps, mask=mask)


@triton.jit
def reparam_backward_kernel(dz_ptr, logvar_ptr, eps_ptr, dmu_ptr, dlogvar_ptr, n, sigma: tl.float64,
                            BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    dz = tl.load(dz_ptr + offsets, mask=mask)
    logvar = tl.load(logvar_ptr + offsets, mask=mask)
    eps = tl.load(eps_ptr + offsets, mask=mask)
    s = tl.full((), sigma, dz.dtype)
    tl.store(dmu_ptr + offsets, dz, mask=mask)
    tl.store(dlogvar_ptr + offsets, dz * s * eps * (0.5 * tl.exp(0.5 * logvar)), mask=mask)


@triton.jit
def reparam_kl_forward_kernel(mu_ptr, logvar_ptr, eps_ptr, z_ptr, partial_ptr, n, sigma: tl.float64,
                              BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    step = tl.num_programs(0) * BLOCK
    acc = tl.zeros((BLOCK,), dtype=mu_ptr.dtype.element_ty)
    for start in range(pid * BLOCK, n, step):
        offsets = start + tl.arange(0, BLOCK)
        mask = offsets < n
        mu = tl.load(mu_ptr + offsets, mask=mask, other=0.0)
        logvar = tl.load(logvar_ptr + offsets, mask=mask, other=0.0)   # masked lanes: kl_term(0, 0) = 0
        eps = tl.load(eps_ptr + offsets, mask=mask, other=0.0)
        s = tl.full((), sigma, mu.dtype)
        tl.store(z_ptr + offsets, mu + s * tl.exp(0.5 * logvar) * eps, mask=mask)
        acc += kl_term(mu, logvar)
    tl.store(partial_ptr + pid, tl.sum(acc, axis=0))


@triton.jit
def reparam_kl_backward_kernel(dz_ptr, mu_ptr, logvar_ptr, eps_ptr, dmu_ptr, dlogvar_ptr, n,
                               sigma: tl.float64, kl_scale: tl.float64, BLOCK: tl.constexpr):
    # kl_scale = kl_weight / n: the KL is a mean
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    dz = tl.load(dz_ptr + offsets, mask=mask)
    mu = tl.load(mu_ptr + offsets, mask=mask)
    logvar = tl.load(logvar_ptr + offsets, mask=mask)
    eps = tl.load(eps_ptr + offsets, mask=mask)
    s = tl.full((), sigma, dz.dtype)
    w = tl.full((), kl_scale, dz.dtype)
    tl.store(dmu_ptr + offsets, dz + w * mu, mask=mask)
    dlogvar = dz * s * eps * (0.5 * tl.exp(0.5 * logvar)) + w * (0.5 * (tl.exp(logvar) - 1.0))
    tl.store(dlogvar_ptr + offsets, dlogvar, mask=mask)


# --- launchers (their arguments checked already, kernels/contract.py): one pass each ---------------------

def reparam_forward(mu, logvar, eps, sigma):
    mu, logvar, eps = contiguous(mu, logvar, eps)
    z = runtime.empty(mu.shape, mu.dtype)
    runtime.launch(reparam_forward_kernel, (runtime.cdiv(mu.size, BLOCK),), mu, logvar, eps, z, mu.size,
                   float(sigma), BLOCK=BLOCK)
    return z


def reparam_backward(dz, logvar, eps, sigma):
    dz, logvar, eps = contiguous(dz, logvar, eps)
    dmu, dlogvar = runtime.empty(dz.shape, dz.dtype), runtime.empty(dz.shape, dz.dtype)
    runtime.launch(reparam_backward_kernel, (runtime.cdiv(dz.size, BLOCK),), dz, logvar, eps, dmu, dlogvar,
                   dz.size, float(sigma), BLOCK=BLOCK)
    return dmu, dlogvar


def reparam_kl_forward(mu, logvar, eps, sigma):
    mu, logvar, eps = contiguous(mu, logvar, eps)
    z = runtime.empty(mu.shape, mu.dtype)
    n = mu.size
    programs, partial = loss_partial(n, mu.dtype)
    runtime.launch(reparam_kl_forward_kernel, (programs,), mu, logvar, eps, z, partial, n, float(sigma),
                   BLOCK=BLOCK)
    return z, loss_finish(partial, n, mu.dtype)


def reparam_kl_backward(dz, mu, logvar, eps, sigma, kl_weight):
    dz, mu, logvar, eps = contiguous(dz, mu, logvar, eps)
    dmu, dlogvar = runtime.empty(dz.shape, dz.dtype), runtime.empty(dz.shape, dz.dtype)
    n = dz.size
    runtime.launch(reparam_kl_backward_kernel, (runtime.cdiv(n, BLOCK),), dz, mu, logvar, eps, dmu, dlogvar,
                   n, float(sigma), float(kl_weight) / n, BLOCK=BLOCK)
    return dmu, dlogvar
