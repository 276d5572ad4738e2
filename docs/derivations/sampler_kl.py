"""The reparameterised sampler and the KL term, checked (sampler_kl.md beside this file).

    python docs/derivations/sampler_kl.py

    z  = mu + sigma * exp(logvar / 2) * eps                 eps fixed, sigma the annealed noise scale
    KL = mean(-1/2 (1 + logvar - mu^2 - exp(logvar)))       over all M = N * z_dim numbers
    L  = sum(dz * z) + kl_weight * KL                       dz: the gradient arriving from the decoder

    dL/dmu     = dz + kl_weight * mu / M
    dL/dlogvar = dz * sigma * eps * exp(logvar / 2) / 2 + kl_weight * (exp(logvar) - 1) / (2M)

checked against central finite differences in float64, with the sigma left out of dlogvar as the wrong
formula the check must catch (the seed paper's sigma scales the noise, so it scales its gradient), the
closed-form KL against a Monte Carlo estimate of E_q[log q(z) - log p(z)], and kernels/numpy_ref's
reparam_kl_backward and kl_normal against the formulas.
"""
import numpy as np

from fd import check, finish, numerical_grad, rel_err, repo_on_path

repo_on_path()
from kernels.numpy_ref import kl_normal, reparam_kl_backward, reparam_kl_forward  # noqa: E402

SIGMA, KL_WEIGHT = 0.6, 0.3


def sample(mu, logvar, eps):
    return mu + SIGMA * np.exp(logvar / 2) * eps


def kl(mu, logvar):
    return float(np.mean(-0.5 * (1 + logvar - mu * mu - np.exp(logvar))))


def main():
    rng = np.random.default_rng(0)
    mu, logvar, eps = (rng.standard_normal((4, 6)) for _ in range(3))
    dz = rng.standard_normal(mu.shape)
    m = mu.size

    def loss(mu_, logvar_):
        return float(np.sum(dz * sample(mu_, logvar_, eps))) + KL_WEIGHT * kl(mu_, logvar_)

    std = np.exp(logvar / 2)
    dmu = dz + KL_WEIGHT * mu / m
    dlogvar = dz * SIGMA * eps * std / 2 + KL_WEIGHT * (np.exp(logvar) - 1) / (2 * m)
    print(f"sampler + KL, float64, mu (4, 6), sigma {SIGMA}, kl_weight {KL_WEIGHT}:")
    check("dmu     (formula) vs finite differences", rel_err(dmu, numerical_grad(lambda a: loss(a, logvar), mu)), 1e-6)
    fd_dlogvar = numerical_grad(lambda b: loss(mu, b), logvar)
    check("dlogvar (formula) vs finite differences", rel_err(dlogvar, fd_dlogvar), 1e-6)
    without_sigma = dz * eps * std / 2 + KL_WEIGHT * (np.exp(logvar) - 1) / (2 * m)
    check("dlogvar with sigma left out", rel_err(without_sigma, fd_dlogvar), 1e-6, expect_large=True)

    # KL(N(mu, s^2) || N(0, 1)) = E_q[log q(z) - log p(z)], per number; the mean over the M numbers
    draws = mu + std * rng.standard_normal((100_000,) + mu.shape)
    log_q = -0.5 * ((draws - mu) / std) ** 2 - logvar / 2
    log_p = -0.5 * draws ** 2
    mc = float(np.mean(log_q - log_p))
    check("closed-form KL vs Monte Carlo E_q[log q - log p] (100k draws)", abs(mc - kl(mu, logvar)) / kl(mu, logvar), 1e-2)

    z, ref_kl = reparam_kl_forward(mu, logvar, eps, SIGMA)
    ref_dmu, ref_dlogvar = reparam_kl_backward(dz, mu, logvar, eps, SIGMA, KL_WEIGHT)
    check("kernels.numpy_ref reparam_kl_forward: z vs formula", rel_err(z, sample(mu, logvar, eps)), 1e-12)
    check("kernels.numpy_ref reparam_kl_forward: KL vs formula", abs(float(ref_kl) - kl(mu, logvar)) / kl(mu, logvar), 1e-12)
    check("kernels.numpy_ref reparam_kl_backward: dmu vs formula", rel_err(ref_dmu, dmu), 1e-12)
    check("kernels.numpy_ref reparam_kl_backward: dlogvar vs formula", rel_err(ref_dlogvar, dlogvar), 1e-12)
    _, kl_dmu, kl_dlogvar = kl_normal(mu, logvar)
    check("kernels.numpy_ref kl_normal: dmu vs mu / M", rel_err(kl_dmu, mu / m), 1e-12)
    check("kernels.numpy_ref kl_normal: dlogvar vs (exp(logvar) - 1) / 2M",
          rel_err(kl_dlogvar, (np.exp(logvar) - 1) / (2 * m)), 1e-12)
    finish("sampler_kl")


if __name__ == "__main__":
    main()
