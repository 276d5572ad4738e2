"""Adam's bias correction, checked (adam_bias_correction.md beside this file).

    python docs/derivations/adam_bias_correction.py

    m_t = b1 m_{t-1} + (1 - b1) g_t,   m_0 = 0   =>   m_t = (1 - b1) sum_{i=1..t} b1^(t-i) g_i
    E[m_t] = (1 - b1^t) E[g]   when every g_i has the same mean, so m_t / (1 - b1^t) is unbiased
    (the same for v_t and g^2 with b2)

1. A constant gradient g: m_t / (1 - b1^t) = g and v_t / (1 - b2^t) = g^2 at every step t (no
   expectation needed), read from kernels/numpy_ref's adam_step after each of 30 steps, float64.
2. Noisy gradients of mean mu: the average over 20000 independent runs of m_t / (1 - b1^t) is mu
   within its standard error at t = 1, 2, 3, 10, while the uncorrected m_t is (1 - b1^t) mu.
3. Why it matters on step 1: uncorrected, param moves by lr (1 - b1) / sqrt(1 - b2) = 15.8 lr for this
   project's b1 = 0.5, b2 = 0.999; corrected, by lr g / (|g| + eps), i.e. lr.
4. kernels/numpy_ref's adam_step against the page's update for 5 steps with weight decay.
"""
import numpy as np

from fd import check, finish, rel_err, repo_on_path

repo_on_path()
from kernels.numpy_ref import adam_step  # noqa: E402
from vaegan.step import TrainConfig  # noqa: E402

TC = TrainConfig()                            # the default recipe's betas and lr (vaegan/step.py)
B1, B2, LR, EPS = TC.beta1, TC.beta2, TC.lr, 1e-8      # and torch's eps


def main():
    print(f"Adam bias correction, float64, beta1 {B1}, beta2 {B2}:")
    g = np.array([0.3, -2.0, 1e-3, 5.0])
    param, m, v = np.zeros(4), np.zeros(4), np.zeros(4)
    worst_m = worst_v = 0.0
    for t in range(1, 31):
        adam_step(param, g, m, v, t, LR, B1, B2, EPS, 0.0)
        worst_m = max(worst_m, rel_err(m / (1 - B1 ** t), g))
        worst_v = max(worst_v, rel_err(v / (1 - B2 ** t), g * g))
    check("constant g: m_t / (1 - b1^t) vs g, worst of t = 1..30", worst_m, 1e-13)
    check("constant g: v_t / (1 - b2^t) vs g^2, worst of t = 1..30", worst_v, 1e-13)

    rng = np.random.default_rng(0)
    mu, spread, runs = 0.5, 1.0, 20_000
    m = np.zeros(runs)
    for t in range(1, 11):
        m = B1 * m + (1 - B1) * (mu + spread * rng.standard_normal(runs))
        if t in (1, 2, 3, 10):
            corrected = m / (1 - B1 ** t)
            stderr = corrected.std() / np.sqrt(runs)
            check(f"noisy g, t = {t}: mean of m_t / (1 - b1^t) vs mu", abs(corrected.mean() - mu) / stderr, 4.0,
                  unit="std err")
            if t < 10:   # by t = 10, b1^t = 1e-3: the bias is gone with or without the correction
                check(f"noisy g, t = {t}: mean of m_t alone vs mu", abs(m.mean() - mu) / mu, 0.05, expect_large=True)

    g1 = np.array([0.3])
    uncorrected = LR * ((1 - B1) * g1) / (np.sqrt((1 - B2) * g1 * g1) + EPS)
    param, m, v = np.zeros(1), np.zeros(1), np.zeros(1)
    adam_step(param, g1, m, v, 1, LR, B1, B2, EPS, 0.0)
    print(f"  step 1, g = 0.3: the uncorrected update would move param by {float(uncorrected[0]) / LR:.1f} lr; "
          f"adam_step moves it by {float(-param[0]) / LR:.6f} lr")
    check("step 1: adam_step's move vs lr * g / (|g| + eps)", rel_err(-param, LR * g1 / (np.abs(g1) + EPS)), 1e-12)

    wd = 0.01
    p0 = rng.standard_normal(6)
    grads = rng.standard_normal((5, 6))
    param, m, v = p0.copy(), np.zeros(6), np.zeros(6)
    p_ref, m_ref, v_ref = p0.copy(), np.zeros(6), np.zeros(6)
    for t in range(1, 6):
        adam_step(param, grads[t - 1], m, v, t, LR, B1, B2, EPS, wd)
        gt = grads[t - 1] + wd * p_ref                        # the page's update, line by line
        m_ref = B1 * m_ref + (1 - B1) * gt
        v_ref = B2 * v_ref + (1 - B2) * gt * gt
        p_ref = p_ref - LR * (m_ref / (1 - B1 ** t)) / (np.sqrt(v_ref / (1 - B2 ** t)) + EPS)
    check("kernels.numpy_ref adam_step vs the update, 5 steps, wd 0.01", rel_err(param - p0, p_ref - p0), 1e-12)
    check("... its m and v", max(rel_err(m, m_ref), rel_err(v, v_ref)), 1e-12)
    finish("adam_bias_correction")


if __name__ == "__main__":
    main()
