"""What every check script of docs/derivations/ shares: central finite differences and the report line.

    numerical_grad(f, x)   dL/dx of a scalar function f by central differences, one element at a time:
                           (f(x + h e_i) - f(x - h e_i)) / 2h, whose error is O(h^2) from the Taylor
                           series plus O(u/h) from rounding (u = 1.1e-16 in float64); h = 1e-6 balances
                           them near 1e-10 relative, far below any mistake in a derivation. It is the
                           tests' checker, tests/gradcheck.py's central_differences: one loop for both
    rel_err(got, want)     max |got - want| / max |want|: one number per array, scaled by the array
    check(what, err, tol)  prints the agreement and remembers a failure; finish() exits non-zero after one
    expect(what, cond)     the same for a yes/no fact

The scripts run from anywhere (`python docs/derivations/batch_norm_backward.py`); `repo_on_path` lets
them (and this file, for the checker) import from the repository without an install.
"""
import os
import sys

import numpy as np

_failures = []


def repo_on_path():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    if root not in sys.path:
        sys.path.insert(0, root)


repo_on_path()
from tests.gradcheck import central_differences as numerical_grad  # noqa: E402  (f(x), x float64)

__all__ = ["check", "expect", "finish", "numerical_grad", "rel_err", "repo_on_path"]


def rel_err(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))


def check(what, err, tol, expect_large=False, unit="rel err"):
    """One line: `what`, its error, the bound, ok/FAIL. expect_large: a deliberately wrong formula,
    which must be told apart (its error above tol), so that the check is seen to have teeth.
    unit: what err measures (a relative error unless said otherwise)."""
    ok = err > tol if expect_large else err <= tol
    bound = f"> {tol:.0e} expected" if expect_large else f"<= {tol:.0e}"
    print(f"  {what:<62s} {unit} {err:9.2e}  ({bound})  {'ok' if ok else 'FAIL'}")
    if not ok:
        _failures.append(what)


def expect(what, condition):
    """One line for a fact that is not an error size (e.g. "the naive form overflows here")."""
    print(f"  {what:<62s} {'ok' if condition else 'FAIL'}")
    if not condition:
        _failures.append(what)


def finish(name):
    if _failures:
        print(f"{name}: FAILED: {'; '.join(_failures)}")
        sys.exit(1)
    print(f"{name}: all checks agree")
