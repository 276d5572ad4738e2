"""Launchers of losses.cu: kl_normal, mse and bce_with_logits, each a mean over all M elements returned
as a 0-d device array together with its gradient.

A loss is two launches: the loss kernel (one thread per element, grid-stride) writes the gradient
and leaves one double per block, the block's sum of the loss terms (plan.loss_partial: at most
MAX_LOSS_PARTIALS blocks); then loss_finish.cu, one block, adds those partial sums in a fixed order
and scales by 1/M into the 0-d result. Nothing leaves the device: reading the loss (float(loss)) is
the caller's host round trip to pay when it chooses.

Derived in full, with a check you can run: docs/derivations/bce_with_logits.md (BCE with logits) and
docs/derivations/sampler_kl.md (the KL term).
"""
from . import plan
from .arrays import contiguous
from .runtime import empty, f64, i32, i64, launch, real, xp


def loss_partial(count):
    """Launch geometry of a loss kernel over `count` elements, and its buffer of per-block sums."""
    grid = plan.loss_partial(count)
    return grid, empty((grid.grid[0],), "float64")


def loss_finish(partial, count, dtype):
    """The 0-d array sum(partial) / count, of `dtype`, on the device."""
    loss = empty((), dtype)
    launch("loss_finish.cu", "loss_finish", dtype, plan.loss_finish(), partial, i32(partial.size), loss,
           f64(1.0 / count))
    return loss


def kl_normal(mu, logvar):
    mu, logvar = contiguous(mu, logvar)
    dmu = empty(mu.shape, mu.dtype)
    dlogvar = empty(mu.shape, mu.dtype)
    grid, partial = loss_partial(mu.size)
    launch("losses.cu", "kl_normal", mu.dtype, grid, mu, logvar, dmu, dlogvar, partial, i64(mu.size),
           real(mu.dtype, 1.0 / mu.size))
    return loss_finish(partial, mu.size, mu.dtype), dmu, dlogvar


def mse(a, b):
    a, b = contiguous(a, b)
    da = empty(a.shape, a.dtype)
    grid, partial = loss_partial(a.size)
    launch("losses.cu", "mse", a.dtype, grid, a, b, da, partial, i64(a.size), real(a.dtype, 2.0 / a.size))
    return loss_finish(partial, a.size, a.dtype), da


def bce_with_logits(logits, target):
    if isinstance(target, xp().ndarray):
        logits, target = contiguous(logits, target)
        target_array, target_value, is_array = target, 0.0, 1
    else:  # one label for every logit (the GAN's 1.0 for real, 0.0 for fake)
        logits = contiguous(logits)
        target_array, target_value, is_array = logits, target, 0   # the kernel never reads target_array
    dlogits = empty(logits.shape, logits.dtype)
    grid, partial = loss_partial(logits.size)
    launch("losses.cu", "bce_with_logits", logits.dtype, grid, logits, target_array, real(logits.dtype, target_value),
           i32(is_array), dlogits, partial, i64(logits.size), real(logits.dtype, 1.0 / logits.size))
    return loss_finish(partial, logits.size, logits.dtype), dlogits
