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
"""
import numpy as np


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
    x = inputs[index]
    assert x.dtype == np.float64, "finite differences need float64 inputs"
    grad = np.empty_like(x)
    for i in np.ndindex(x.shape):
        original = x[i]
        x[i] = original + h
        plus = objective(f, inputs, upstreams)
        x[i] = original - h
        minus = objective(f, inputs, upstreams)
        x[i] = original
        grad[i] = (plus - minus) / (2 * h)
    return grad


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
