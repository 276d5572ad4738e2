"""Launchers of sampler.cu: the reparameterised sampler z = mu + sigma * exp(logvar/2) * eps, alone
and fused with the KL term against N(0, I) (forward: z and KL's value in one pass; backward: the
sampler's gradient plus kl_weight times KL's in one pass). Formulas and derivations: sampler.cu
and kernels/numpy_ref/sampler.py. The KL value is a 0-d device array (losses.loss_finish).

Derived in full, with a check you can run: docs/derivations/sampler_kl.md (the sampler's gradient and the
KL term's).
"""
from . import plan
from .arrays import contiguous
from .losses import loss_finish, loss_partial
from .runtime import empty, i64, launch, real


def reparam_forward(mu, logvar, eps, sigma):
    mu, logvar, eps = contiguous(mu, logvar, eps)
    z = empty(mu.shape, mu.dtype)
    launch("sampler.cu", "reparam_forward", mu.dtype, plan.elementwise(mu.size), mu, logvar, eps, z,
           i64(mu.size), real(mu.dtype, sigma))
    return z


def reparam_backward(dz, logvar, eps, sigma):
    logvar, eps, dz = contiguous(logvar, eps, dz)
    dmu = empty(dz.shape, dz.dtype)
    dlogvar = empty(dz.shape, dz.dtype)
    launch("sampler.cu", "reparam_backward", dz.dtype, plan.elementwise(dz.size), dz, logvar, eps, dmu, dlogvar,
           i64(dz.size), real(dz.dtype, sigma))
    return dmu, dlogvar


def reparam_kl_forward(mu, logvar, eps, sigma):
    mu, logvar, eps = contiguous(mu, logvar, eps)
    z = empty(mu.shape, mu.dtype)
    grid, partial = loss_partial(mu.size)
    launch("sampler.cu", "reparam_kl_forward", mu.dtype, grid, mu, logvar, eps, z, partial, i64(mu.size),
           real(mu.dtype, sigma))
    return z, loss_finish(partial, mu.size, mu.dtype)


def reparam_kl_backward(dz, mu, logvar, eps, sigma, kl_weight):
    mu, logvar, eps, dz = contiguous(mu, logvar, eps, dz)
    dmu = empty(mu.shape, mu.dtype)
    dlogvar = empty(mu.shape, mu.dtype)
    launch("sampler.cu", "reparam_kl_backward", mu.dtype, plan.elementwise(mu.size), dz, mu, logvar, eps, dmu,
           dlogvar, i64(mu.size), real(mu.dtype, sigma), real(mu.dtype, kl_weight / mu.size))
    return dmu, dlogvar
