"""The VAE's reparameterised sampler, alone and fused with the KL prior term.

    std = exp(logvar / 2)
    z   = mu + sigma * std * eps          eps ~ N(0, 1) given; sigma = the annealed noise level

Backward. z is linear in mu, and d std/d logvar = std / 2:
    dmu     = dz
    dlogvar = dz * sigma * eps * std / 2

Fused with KL (see losses.kl_normal, the same mean over all M elements):
    kl = mean(-1/2 (1 + logvar - mu^2 - exp(logvar)))
and its backward adds kl_weight times KL's gradient to the sampler's, so the encoder's two terms
arrive in one pass:
    dmu     = dz + kl_weight * mu / M
    dlogvar = dz * sigma * eps * std / 2 + kl_weight * (exp(logvar) - 1) / (2M)
Arrays stay in the input's dtype; the KL value is summed in float64 and returned as a 0-d array.

Derived in full, with a check you can run: docs/derivations/sampler_kl.md (the sampler's gradient and the
KL term's).
"""
import numpy as np

from .arrays import scalar


def reparam_forward(mu, logvar, eps, sigma):
    return mu + scalar(sigma, mu.dtype) * np.exp(logvar / 2) * eps


def reparam_backward(dz, logvar, eps, sigma):
    std = np.exp(logvar / 2)
    return dz.copy(), dz * scalar(sigma, dz.dtype) * eps * std / 2


def reparam_kl_forward(mu, logvar, eps, sigma):
    var = np.exp(logvar)
    z = mu + scalar(sigma, mu.dtype) * np.sqrt(var) * eps
    kl = np.asarray(np.mean(-0.5 * (1 + logvar - mu * mu - var), dtype=np.float64), dtype=mu.dtype)
    return z, kl


def reparam_kl_backward(dz, mu, logvar, eps, sigma, kl_weight):
    std = np.exp(logvar / 2)
    w = scalar(kl_weight / mu.size, mu.dtype)          # kl_weight / M
    dmu = dz + w * mu
    dlogvar = dz * scalar(sigma, mu.dtype) * eps * std / 2 + w * (std * std - 1) / 2
    return dmu, dlogvar
