"""Launchers of sampler.cu: the reparameterised sampler z = mu + sigma * exp(logvar/2) * eps, alone
and fused with the KL term against N(0, I) (forward: z and KL's value in one pass; backward: the
sampler's gradient plus kl_weight times KL's in one pass). Formulas and derivations: sampler.cu
and kernels/numpy_ref/sampler.py. The KL value is a 0-d device array (losses.mean_of).
"""
from . import plan
from .arrays import check_number, check_shape, inputs
from .losses import mean_of, partial_sums
from .runtime import empty, i64, launch, real


def _check(sigma, kl_weight=0.0, **arrays):
    """Arrays (in the reference's order of checking) share the first one's dtype and shape."""
    checked = inputs(**arrays)
    first = checked[0]
    for name, a in zip(list(arrays)[1:], checked[1:]):
        check_shape(name, a, first.shape)
    check_number("sigma", sigma, low=0.0)
    check_number("kl_weight", kl_weight, low=0.0)
    return checked


def reparam_forward(mu, logvar, eps, sigma):
    mu, logvar, eps = _check(sigma, mu=mu, logvar=logvar, eps=eps)
    z = empty(mu.shape, mu.dtype)
    launch("sampler.cu", "reparam_forward", mu.dtype, plan.elementwise(mu.size), mu, logvar, eps, z,
           i64(mu.size), real(mu.dtype, sigma))
    return z


def reparam_backward(dz, logvar, eps, sigma):
    logvar, eps, dz = _check(sigma, logvar=logvar, eps=eps, dz=dz)
    dmu = empty(dz.shape, dz.dtype)
    dlogvar = empty(dz.shape, dz.dtype)
    launch("sampler.cu", "reparam_backward", dz.dtype, plan.elementwise(dz.size), dz, logvar, eps, dmu, dlogvar,
           i64(dz.size), real(dz.dtype, sigma))
    return dmu, dlogvar


def reparam_kl_forward(mu, logvar, eps, sigma):
    mu, logvar, eps = _check(sigma, mu=mu, logvar=logvar, eps=eps)
    z = empty(mu.shape, mu.dtype)
    grid, partial = partial_sums(mu.size)
    launch("sampler.cu", "reparam_kl_forward", mu.dtype, grid, mu, logvar, eps, z, partial, i64(mu.size),
           real(mu.dtype, sigma))
    return z, mean_of(partial, mu.size, mu.dtype)


def reparam_kl_backward(dz, mu, logvar, eps, sigma, kl_weight):
    mu, logvar, eps, dz = _check(sigma, kl_weight, mu=mu, logvar=logvar, eps=eps, dz=dz)
    dmu = empty(mu.shape, mu.dtype)
    dlogvar = empty(mu.shape, mu.dtype)
    launch("sampler.cu", "reparam_kl_backward", mu.dtype, plan.elementwise(mu.size), dz, mu, logvar, eps, dmu,
           dlogvar, i64(mu.size), real(mu.dtype, sigma), real(mu.dtype, kl_weight / mu.size))
    return dmu, dlogvar
