"""The VAE-GAN's losses, each a MEAN over all M elements, returned with its gradient.

    kl_normal(mu, logvar)      = mean(-1/2 (1 + logvar - mu^2 - exp(logvar)))   KL(N(mu, e^logvar) || N(0, 1))
        d/dmu = mu / M                    d/dlogvar = (exp(logvar) - 1) / (2M)
    mse(a, b)                  = mean((a - b)^2)
        d/da = 2 (a - b) / M              (b is a target: no gradient)
    bce_with_logits(x, t)      = mean(softplus(x) - t x)    = mean of -t log s(x) - (1-t) log(1 - s(x))
        d/dx = (sigmoid(x) - t) / M       softplus'(x) = sigmoid(x)

softplus(x) = log(1 + e^x) is evaluated as max(x, 0) + log1p(exp(-|x|)): exp never overflows and
no log(0) appears, even for logits of +-100. The loss is a 0-d array of the input's dtype (summed in
float64, rounded once); the gradients are arrays of the input's dtype.

Derived in full, with a check you can run: docs/derivations/bce_with_logits.md (BCE with logits) and
docs/derivations/sampler_kl.md (the KL term).
"""
import numpy as np

from .arrays import scalar
from .activations import sigmoid


def _loss(terms, dtype):
    """mean(terms) accumulated in float64, as a 0-d array of `dtype`."""
    return np.asarray(np.mean(terms, dtype=np.float64), dtype=dtype)


def kl_normal(mu, logvar):
    var = np.exp(logvar)
    loss = _loss(-0.5 * (1 + logvar - mu * mu - var), mu.dtype)
    inv_m = scalar(1.0 / mu.size, mu.dtype)
    return loss, mu * inv_m, 0.5 * (var - 1) * inv_m


def mse(a, b):
    diff = a - b
    return _loss(diff * diff, a.dtype), diff * scalar(2.0 / a.size, a.dtype)


def bce_with_logits(logits, target):
    if not isinstance(target, np.ndarray):   # one label for every logit (the GAN's 1.0 for real, 0.0 for fake)
        target = scalar(target, logits.dtype)
    softplus = np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits)))
    loss = _loss(softplus - target * logits, logits.dtype)
    return loss, (sigmoid(logits) - target) * scalar(1.0 / logits.size, logits.dtype)
