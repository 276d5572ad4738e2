"""The NumPy reference's faster forms, held against the plain formulas they stand for.

kernels/numpy_ref computes some ops in a form that is not the formula its header starts from: the
convolutions through the stride phases of the padded input with wide rows (conv_phases.py, the
backend's default), held here to their definition (conv.py's textbook im2col and conv_transpose.py's
adjoint, which tests/test_numpy_ref_gradients.py holds to PyTorch and to finite differences);
batch-norm in the input dtype, its variance from shifted pieces merged with Chan's formula; the
ReLU-like activations without masked selects. Each header says why the two agree; these tests check it
on awkward shapes: stride 1, 2 and 3, padding 0 to 2, odd sizes whose last rows no window reaches,
non-square kernels' positions, one channel, output_padding, and both row layouts of conv_phases.py.

Bounds. Float64 against float64: 1e-12 relative L2 (the same products summed in another order:
rounding of ~1e-16 per term). Float32 batch-norm against a float64 evaluation: 1e-5 (F32_BN_BOUND),
~10x what float32 sums over pieces of H*W values and a merge over N pieces leave on these sizes (a few
1e-7), and far below what a wrong formula or the cancelling E[x^2] - mean^2 gives (the hard inputs
below, held to op_cases' bounds for them).
"""
import inspect
from types import SimpleNamespace

import numpy as np
import pytest

from kernels import get_backend
from kernels.contract import CHECKS
from kernels.numpy_ref import conv as definition
from kernels.numpy_ref import conv_phases
from kernels.numpy_ref import conv_transpose as definition_t
from tests.op_cases import BN_HARD, cancellation_floor, check_bn_hard

K = get_backend("numpy")
F64_BOUND = 1e-12
F32_BN_BOUND = 1e-5


def rel_l2(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-300)


# (x shape, w shape, stride, padding): stride 1/2/3, padding 0-2, odd sizes, a remainder row and column
# no window reaches ((7 - 4) % 2 = 1 with k4 s2 p0), one input channel, rectangular images.
CONV = [((2, 3, 7, 6), (4, 3, 3, 3), 1, 1), ((2, 3, 9, 8), (5, 3, 5, 5), 2, 2), ((1, 2, 8, 7), (3, 2, 4, 4), 2, 0),
        ((2, 2, 10, 11), (3, 2, 3, 3), 3, 1), ((3, 1, 5, 5), (2, 1, 5, 5), 1, 2), ((2, 4, 6, 9), (6, 4, 5, 5), 2, 2)]
# (x shape, w shape, stride, padding, output_padding)
CONV_T = [((2, 3, 4, 5), (3, 4, 5, 5), 2, 2, 1), ((2, 2, 3, 3), (2, 3, 4, 4), 2, 1, 0), ((1, 2, 3, 4), (2, 2, 3, 3), 3, 1, 2),
          ((2, 3, 4, 4), (3, 2, 3, 3), 1, 1, 0), ((2, 1, 3, 5), (1, 3, 5, 5), 2, 0, 1)]


@pytest.fixture(params=["wide rows", "narrow rows"])
def rows(request, monkeypatch):
    """Both GEMM layouts of conv_phases.py, whichever its budget would pick for these shapes; the backend
    runs that form."""
    assert K.conv_variant() == "phases"
    monkeypatch.setattr(conv_phases, "WIDE_ROWS_BUDGET", float("inf") if request.param == "wide rows" else -1)
    return request.param


@pytest.mark.parametrize("x_shape, w_shape, s, p", CONV, ids=repr)
def test_conv2d_phases_is_the_definition(x_shape, w_shape, s, p, rows):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    y = K.conv2d_forward(x, w, b, s, p)
    assert y.flags.c_contiguous
    assert rel_l2(y, definition.conv2d_forward(x, w, b, s, p)) < F64_BOUND
    dy = rng.standard_normal(y.shape)
    want = definition.conv2d_backward(dy, x, w, s, p)
    one_by_one = (K.conv2d_backward_data(dy, w, x.shape, s, p),) + K.conv2d_backward_weight(dy, x, w.shape, s, p)
    for got in (K.conv2d_backward(dy, x, w, s, p), one_by_one):
        for g, w_ in zip(got, want):
            assert g.shape == w_.shape and g.flags.c_contiguous
            assert rel_l2(g, w_) < F64_BOUND


@pytest.mark.parametrize("x_shape, w_shape, s, p, op", CONV_T, ids=repr)
def test_conv_transpose2d_phases_is_the_definition(x_shape, w_shape, s, p, op, rows):
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[1])
    y = K.conv_transpose2d_forward(x, w, b, s, p, op)
    assert rel_l2(y, definition_t.conv_transpose2d_forward(x, w, b, s, p, op)) < F64_BOUND
    dy = rng.standard_normal(y.shape)
    want = definition_t.conv_transpose2d_backward(dy, x, w, s, p, op)
    one_by_one = ((K.conv_transpose2d_backward_data(dy, w, s, p),)
                  + K.conv_transpose2d_backward_weight(dy, x, w.shape, s, p))
    for got in (K.conv_transpose2d_backward(dy, x, w, s, p, op), one_by_one):
        for g, w_ in zip(got, want):
            assert g.shape == w_.shape
            assert rel_l2(g, w_) < F64_BOUND


def test_every_form_of_the_convolutions_takes_the_contracts_arguments():
    """set_conv_variant swaps whole functions, so each form must take the contract's parameters."""
    for op, impls in zip(K.CONV_OPS, zip(*(K.CONV_VARIANTS[v].values() for v in K.CONV_VARIANTS))):
        signatures = {tuple(inspect.signature(f).parameters) for f in impls}
        assert signatures == {tuple(inspect.signature(CHECKS[op]).parameters)[1:]}, op


def test_both_row_layouts_are_chosen_somewhere():
    """The budget picks wide rows for a narrow layer and narrow rows for a wide one (the deep layers of
    the broad presets), so the rows fixture above covers what the step really runs."""
    wide = conv_phases.Grid.of((16, 16, 24, 32), (32, 16, 5, 5), 2, 2)
    narrow = conv_phases.Grid.of((16, 320, 8, 12), (640, 320, 5, 5), 2, 2)
    assert wide.width == wide.wp > wide.w_out and narrow.width == narrow.w_out < narrow.wp


def test_conv2d_float32_stays_float32_and_close():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((4, 8, 12, 10)), rng.standard_normal((16, 8, 5, 5))
    y = K.conv2d_forward(x.astype(np.float32), w.astype(np.float32), None, 2, 2)
    assert y.dtype == np.float32
    # a float32 dot product of K = 200 random terms: error ~ sqrt(K) * 6e-8 relative, about 1e-6
    assert rel_l2(y, definition.conv2d_forward(x, w, None, 2, 2)) < 1e-5


# --- batch-norm in the input dtype against the float64 formula ----------------------------------------

def bn_float64(x, gamma, beta, eps, slope, dy):
    """The header's formulas, evaluated in float64 from the same (float32) inputs."""
    x, gamma, beta, dy = (a.astype(np.float64) for a in (x, gamma, beta, dy))
    axes = (0, 2, 3) if x.ndim == 4 else (0,)
    shape = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
    mean = x.mean(axis=axes)
    invstd = 1 / np.sqrt(((x - mean.reshape(shape)) ** 2).mean(axis=axes) + eps)
    xhat = (x - mean.reshape(shape)) * invstd.reshape(shape)
    pre = gamma.reshape(shape) * xhat + beta.reshape(shape)
    y = pre if slope is None else np.where(pre > 0, pre, slope * pre)
    g = dy if slope is None else np.where(pre > 0, dy, slope * dy)
    m = x.size // x.shape[1]
    dbeta, dgamma = g.sum(axis=axes), (g * xhat).sum(axis=axes)
    dx = (gamma * invstd / m).reshape(shape) * (m * g - dbeta.reshape(shape) - xhat * dgamma.reshape(shape))
    return (y, mean, invstd), (dx, dgamma, dbeta)


def bn_inputs(rng, shape, offset=0.0):
    c = shape[1]
    per_channel = (1, c) + (1,) * (len(shape) - 2)
    x = offset + rng.standard_normal(per_channel) + rng.uniform(0.5, 2.0, per_channel) * rng.standard_normal(shape)
    gamma, beta = rng.uniform(0.5, 1.5, c), rng.standard_normal(c)
    return [a.astype(np.float32) for a in (x, gamma, beta, rng.standard_normal(shape))]


# M = values per channel: 8*5*7 = 280, 128 (a 2-D input: one piece per channel), 2*3*5 = 30
@pytest.mark.parametrize("shape", [(8, 6, 5, 7), (128, 5), (2, 4, 3, 5)], ids=repr)
@pytest.mark.parametrize("slope", [None, 0.0, 0.2])
def test_batch_norm_in_input_dtype_matches_float64(shape, slope):
    eps = 1e-5
    x, gamma, beta, dy = bn_inputs(np.random.default_rng(4), shape)
    y, mean, invstd = K.batch_norm_act_forward(x, gamma, beta, eps, slope)
    grads = K.batch_norm_act_backward(dy, x, y, mean, invstd, gamma, slope)
    want_fwd, want_bwd = bn_float64(x, gamma, beta, eps, slope, dy)
    for got, want in zip((y, mean, invstd) + grads, want_fwd + want_bwd):
        assert got.dtype == np.float32
        assert rel_l2(got, want) < F32_BN_BOUND


@pytest.mark.parametrize("name", list(BN_HARD))
def test_batch_norm_statistics_hold_on_hard_inputs(name):
    """|mean| / std up to 1e4, images far apart, the shift itself an outlier (op_cases.BN_HARD, with the
    bounds every backend is held to there)."""
    check_bn_hard(K, name, np.random.default_rng(5))


@pytest.mark.parametrize("m", [2, 3, 16, 63])
def test_batch_norm_backward_with_few_values_per_channel(m):
    """With a few values per channel the backward is mostly cancellation (at M = 2 dx is exactly 0): in
    float32 it is then the formula to within the rounding of the terms that cancel, the bound the GPU
    backends are held to (op_cases.cancellation_floor)."""
    x, gamma, beta, dy = bn_inputs(np.random.default_rng(6), (m, 3))
    y, mean, invstd = K.batch_norm_act_forward(x, gamma, beta, 1e-5, 0.2)
    got = K.batch_norm_act_backward(dy, x, y, mean, invstd, gamma, 0.2)
    _, want = bn_float64(x, gamma, beta, 1e-5, 0.2, dy)
    case = SimpleNamespace(op="batch_norm_act_backward", params={"slope": 0.2})
    inputs = dict(dy=dy, x=x, y=y, mean=mean, invstd=invstd, gamma=gamma)
    for i, (g, w) in enumerate(zip(got, want)):
        floor = cancellation_floor(case, inputs, i)
        error = np.linalg.norm(g.astype(np.float64) - w) / max(np.linalg.norm(w), floor)
        assert error < F32_BN_BOUND, (i, error)


# --- activations: the select-free forms give the piecewise definitions' numbers exactly ----------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2])
def test_relu_like_forms_are_exact(dtype, slope):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 5, 6)).astype(dtype)
    x.flat[:4] = [0.0, -0.0, 1e-30, -1e-30]            # the kink and tiny values of both signs
    dy = rng.standard_normal(x.shape).astype(dtype)
    a = dtype(slope)
    np.testing.assert_array_equal(K.leaky_relu_forward(x, slope), np.where(x > 0, x, a * x))
    np.testing.assert_array_equal(K.leaky_relu_backward(dy, x, slope), np.where(x > 0, dy, a * dy))
    np.testing.assert_array_equal(K.relu_backward(dy, x), np.where(x > 0, dy, 0))
    assert K.leaky_relu_backward(dy, x, slope).dtype == dtype and K.relu_backward(dy, x).dtype == dtype
