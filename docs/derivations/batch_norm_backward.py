"""Batch-norm's backward pass, checked (the algebra is in batch_norm_backward.md beside this file).

    python docs/derivations/batch_norm_backward.py

1. The page's formulas, written out here in float64, against central finite differences of
   L(x, gamma, beta) = sum(dy * y): dx, dgamma, dbeta.
2. The same with dx taken as invstd * dxhat alone, as if mean and invstd did not depend on x: the
   finite differences must tell it apart (that is what the two extra terms are for).
3. kernels/numpy_ref's batch_norm_backward in float64 against the page's formula.
"""
import numpy as np

from fd import check, finish, numerical_grad, rel_err, repo_on_path

repo_on_path()
from kernels.numpy_ref import batch_norm_backward, batch_norm_forward  # noqa: E402

EPS = 1e-5
AXES = (0, 2, 3)          # a channel's values: over the batch and both spatial axes


def per_channel(v):
    return v.reshape(1, -1, 1, 1)


def forward(x, gamma, beta):
    """y = gamma * xhat + beta, xhat = (x - mean) * invstd, statistics per channel (biased variance)."""
    mean = x.mean(axis=AXES, keepdims=True)
    invstd = 1 / np.sqrt(((x - mean) ** 2).mean(axis=AXES, keepdims=True) + EPS)
    xhat = (x - mean) * invstd
    return per_channel(gamma) * xhat + per_channel(beta), xhat, invstd


def backward(dy, xhat, invstd, gamma):
    """The page's result: dx = invstd/N * (N*dxhat - sum dxhat - xhat * sum(dxhat * xhat))."""
    n = dy.size // dy.shape[1]                       # N: values per channel
    dxhat = dy * per_channel(gamma)
    dx = invstd / n * (n * dxhat - dxhat.sum(AXES, keepdims=True)
                       - xhat * (dxhat * xhat).sum(AXES, keepdims=True))
    return dx, (dy * xhat).sum(AXES), dy.sum(AXES)


def main():
    rng = np.random.default_rng(0)
    x = 3.0 + 2.0 * rng.standard_normal((4, 3, 3, 3))      # 36 values per channel, mean far from 0
    gamma = 1.0 + 0.5 * rng.standard_normal(3)
    beta = rng.standard_normal(3)
    dy = rng.standard_normal(x.shape)                      # the upstream gradient, held fixed

    def loss(x_, gamma_, beta_):
        return float(np.sum(dy * forward(x_, gamma_, beta_)[0]))

    _, xhat, invstd = forward(x, gamma, beta)
    dx, dgamma, dbeta = backward(dy, xhat, invstd, gamma)
    print("batch-norm backward, float64, x (4, 3, 3, 3):")
    check("dx     (formula) vs finite differences", rel_err(dx, numerical_grad(lambda a: loss(a, gamma, beta), x)), 1e-6)
    check("dgamma (formula) vs finite differences",
          rel_err(dgamma, numerical_grad(lambda g: loss(x, g, beta), gamma)), 1e-6)
    check("dbeta  (formula) vs finite differences",
          rel_err(dbeta, numerical_grad(lambda b: loss(x, gamma, b), beta)), 1e-6)
    naive = invstd * dy * per_channel(gamma)               # only the direct path x -> xhat
    check("dx = invstd * dxhat alone (mean, invstd held constant)",
          rel_err(naive, numerical_grad(lambda a: loss(a, gamma, beta), x)), 1e-6, expect_large=True)

    y, mean, ref_invstd = batch_norm_forward(x, gamma, beta, EPS)
    ref_dx, ref_dgamma, ref_dbeta = batch_norm_backward(dy, x, mean, ref_invstd, gamma)
    check("kernels.numpy_ref batch_norm_backward: dx vs formula", rel_err(ref_dx, dx), 1e-12)
    check("kernels.numpy_ref batch_norm_backward: dgamma vs formula", rel_err(ref_dgamma, dgamma), 1e-12)
    check("kernels.numpy_ref batch_norm_backward: dbeta vs formula", rel_err(ref_dbeta, dbeta), 1e-12)
    finish("batch_norm_backward")


if __name__ == "__main__":
    main()
