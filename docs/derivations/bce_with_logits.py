"""Binary cross-entropy on logits, checked (bce_with_logits.md beside this file).

    python docs/derivations/bce_with_logits.py

    bce(x, t) = -t log s(x) - (1 - t) log(1 - s(x))        s = sigmoid, x a logit, t a target in [0, 1]
              = softplus(x) - t x                           softplus(x) = log(1 + e^x)
              = max(x, 0) + log1p(exp(-|x|)) - t x          the form that never overflows
    d bce / dx = sigmoid(x) - t

1. The three forms agree where the first can be evaluated well (|x| <= 10, float64); at |x| = 30 the
   first has already lost most of its digits (1 - s(x) is 9e-14, held to 1e-16 absolute).
2. At |x| = 40, 100, 800 the first form gives inf or nan (1 - s(x) rounds to 0, e^800 overflows) and
   the last stays finite and equal to its asymptote (x or 0, minus t x).
3. The gradient of the mean, (sigmoid(x) - t) / M, against central finite differences, for an array
   of targets and for the GAN's scalar labels.
4. kernels/numpy_ref's bce_with_logits (loss and gradient) against the formulas, extreme logits included.
"""
import numpy as np

from fd import check, expect, finish, numerical_grad, rel_err, repo_on_path

repo_on_path()
from kernels.numpy_ref import bce_with_logits  # noqa: E402


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def naive(x, t):
    s = sigmoid(x)
    return -t * np.log(s) - (1 - t) * np.log(1 - s)


def softplus_form(x, t):
    return np.log1p(np.exp(x)) - t * x


def stable(x, t):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))) - t * x


def main():
    rng = np.random.default_rng(0)
    x = np.linspace(-10, 10, 81)
    t = rng.uniform(0, 1, x.shape)
    print("BCE with logits, float64:")
    check("softplus(x) - t x vs -t log s - (1-t) log(1-s), |x| <= 10", rel_err(softplus_form(x, t), naive(x, t)), 1e-10)
    check("max(x,0) + log1p(exp(-|x|)) - t x vs softplus(x) - t x", rel_err(stable(x, t), softplus_form(x, t)), 1e-14)
    far = np.array([-30.0, 30.0])
    check("the first form at |x| = 30 (1 - s(x) = 9e-14: digits lost)",
          rel_err(naive(far, 0.5), stable(far, 0.5)), 1e-10, expect_large=True)

    big = np.array([-800.0, -100.0, -40.0, 40.0, 100.0, 800.0])
    tb = np.array([0.0, 1.0, 0.5, 0.5, 0.0, 1.0])
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        bad = int(np.sum(~np.isfinite(naive(big, tb))))
    expect(f"the first form at x = +-40, 100, 800: {bad} of {big.size} values inf or nan", bad > 0)
    asymptote = np.maximum(big, 0) - tb * big               # log1p(e^-|x|) < 5e-18 at |x| >= 40
    check("stable form at |x| >= 40 vs its asymptote max(x, 0) - t x", rel_err(stable(big, tb), asymptote), 1e-15)

    xs = rng.standard_normal((5, 3)) * 4
    ts = rng.uniform(0, 1, xs.shape)
    m = xs.size
    grad = (sigmoid(xs) - ts) / m
    check("(sigmoid(x) - t) / M vs finite differences, array t",
          rel_err(grad, numerical_grad(lambda a: float(np.mean(stable(a, ts))), xs)), 1e-6)
    for label in (1.0, 0.0):
        fd = numerical_grad(lambda a: float(np.mean(stable(a, label))), xs)
        check(f"the same with the scalar label t = {label:g}", rel_err((sigmoid(xs) - label) / m, fd), 1e-6)
    check("sigmoid(x) in place of sigmoid(x) - t (t = 1)",
          rel_err(sigmoid(xs) / m, numerical_grad(lambda a: float(np.mean(stable(a, 1.0))), xs)), 1e-6,
          expect_large=True)

    all_x = np.concatenate([xs.ravel(), big])
    all_t = np.concatenate([ts.ravel(), tb])
    loss, dlogits = bce_with_logits(all_x, all_t)
    check("kernels.numpy_ref bce_with_logits: loss vs stable form",
          abs(float(loss) - np.mean(stable(all_x, all_t))) / np.mean(stable(all_x, all_t)), 1e-12)
    with np.errstate(over="ignore"):
        want = (sigmoid(all_x) - all_t) / all_x.size      # 1/(1 + e^800) is 0: no harm in the gradient
    check("kernels.numpy_ref bce_with_logits: dlogits vs formula", rel_err(dlogits, want), 1e-12)
    finish("bce_with_logits")


if __name__ == "__main__":
    main()
