"""Check a hand-written backward against central finite differences (in the spirit of Chainer's
gradient_check).

For a function f of float64 arrays with outputs (y_1, ..., y_k) and upstream gradients
(dy_1, ..., dy_k), a backward pass claims to compute the gradient of the scalar

    L(inputs) = sum_k <dy_k, y_k(inputs)>

with respect to each input. Central differences estimate that gradient element by element:

    dL/dx_i ~ (L(x + h e_i) - L(x - h e_i)) / (2h)

with error O(h^2 * L''') from truncation plus O(eps_machine * |L| / h) from rounding. In float64
with h = 1e-6 and inputs and outputs of order 1 both are around 1e-10 relative, so a correct
backward agrees to ~1e-8, while a wrong term (a missing factor, a transposed index) shows up at
1e-2 or more. The caller states the bound it accepts; the comparison is the relative L2 error

    |analytic - numeric|_2 / |numeric|_2  <=  bound

or, where a gradient is nearly zero by construction (so that the rounding noise of L, ~1e-10 in
absolute terms, is not small against it), |analytic - numeric|_2 <= atol + bound * |numeric|_2 with
an absolute floor `atol` the caller states and justifies.

Functions with kinks (ReLU) need inputs farther than h from the kink.

This file is the project's one finite-difference checker: `central_differences` is the loop, and every
other check calls it (the op tests through `check_gradients` here; tests/test_nn.py, test_vaegan_step.py
and test_temporal.py on a whole network's flat parameters; the derivation scripts of docs/derivations/
through their fd.py). It lives in tests/ because it is test code that both can reach without anything
new: the tests import `tests.*` from the repository's root, and the derivation scripts already put that
root on their path to import kernels/ (fd.repo_on_path). Neither kernels/ nor vaegan/ may hold it (the
package does not ship its checks), and docs/ is pages with their scripts, not a package the tests should
import from.
"""
import numpy as np


def central_differences(f, x, h=1e-6, at=None):
    """The gradient of the scalar f(x) by central differences, (f(x + h e_i) - f(x - h e_i)) / 2h for each
    element i of the float64 array x, which is changed in place for each evaluation and restored (so x
    may be a view, e.g. one parameter of a flat buffer, and f may read it from wherever it lives). at:
    flat indices to take it at, for a sample of a large array; None: every element. Returns an array
    shaped like x, or the values at `at` in their order."""
    assert x.dtype == np.float64, "finite differences need float64"
    where = list(np.ndindex(x.shape)) if at is None else [np.unravel_index(i, x.shape) for i in at]
    grad = np.empty(len(where))
    for n, i in enumerate(where):
        keep = x[i]
        x[i] = keep + h
        up = f(x)
        x[i] = keep - h
        down = f(x)
        x[i] = keep
        grad[n] = (up - down) / (2 * h)
    return grad.reshape(x.shape) if at is None else grad


def objective(f, inputs, upstreams):
    """L = sum_k <dy_k, y_k>, accumulated in float64."""
    outputs = f(*inputs)
    if not isinstance(outputs, tuple):
        outputs = (outputs,)
    assert len(outputs) == len(upstreams), f"f returned {len(outputs)} outputs for {len(upstreams)} upstreams"
    return sum(float(np.sum(np.asarray(dy, np.float64) * np.asarray(y, np.float64)))
               for dy, y in zip(upstreams, outputs) if dy is not None)


def numerical_gradient(f, inputs, upstreams, index, h=1e-6):
    """Central-difference gradient of L with respect to inputs[index] (the inputs are not modified)."""
    inputs = [a.copy() if isinstance(a, np.ndarray) else a for a in inputs]
    return central_differences(lambda _: objective(f, inputs, upstreams), inputs[index], h)


def relative_error(analytic, numeric):
    """|analytic - numeric|_2 / |numeric|_2 (absolute when the numeric gradient is exactly zero)."""
    analytic = np.asarray(analytic, np.float64)
    numeric = np.asarray(numeric, np.float64)
    assert analytic.shape == numeric.shape, f"gradient shape {analytic.shape} != input shape {numeric.shape}"
    scale = np.linalg.norm(numeric)
    error = np.linalg.norm(analytic - numeric)
    return error / scale if scale > 0 else error


def check_gradients(f, inputs, upstreams, analytic, wrt, bound, h=1e-6, names=None, atol=0.0):
    """Assert that analytic[j] is the gradient of L w.r.t. inputs[wrt[j]] to relative error `bound`.

    f: function of `inputs` (float64 arrays, and any other arguments) returning an array or a tuple;
    upstreams: one gradient per output of f (None for an output that L ignores);
    analytic: the backward's gradients, in the order of `wrt` (indices into inputs).
    Returns the list of relative errors."""
    assert len(analytic) == len(wrt)
    errors = []
    for j, (index, grad) in enumerate(zip(wrt, analytic)):
        numeric = numerical_gradient(f, inputs, upstreams, index, h)
        err = relative_error(grad, numeric)
        name = names[j] if names else f"input {index}"
        if atol:
            absolute = np.linalg.norm(np.asarray(grad, np.float64) - numeric)
            assert absolute <= atol + bound * np.linalg.norm(numeric), (
                f"gradient w.r.t. {name}: error {absolute:.3g} exceeds {atol:g} + {bound:g} * |numeric| "
                f"(relative {err:.3g})")
        else:
            assert err <= bound, f"gradient w.r.t. {name}: relative error {err:.3g} exceeds {bound:g}"
        errors.append(err)
    return errors
