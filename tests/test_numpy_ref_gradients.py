"""The NumPy reference backend, checked against definitions that do not share its code:

* every backward against central finite differences in float64 (tests/gradcheck.py) on the awkward
  shapes of tests/op_cases.py (the convolutions in both of their forms, kernels.numpy_ref.CONV_VARIANTS:
  the definition, conv.py's im2col, and the "phases" form the backend runs);
* the forward definitions: conv2d and conv_transpose2d against PyTorch's (float64; an implementation
  that shares nothing with ours), conv_transpose2d as the adjoint of conv2d, batch norm and the losses
  by their formulas;
* the fused ops against their unfused compositions;
* float32 against float64 on every case of op_cases, and dtype preservation;
* adam against a two-step example computed by hand;
* bad arguments raise a one-line ValueError naming the argument.
"""
import numpy as np
import pytest

import kernels
from kernels.api import OPS, missing_names
from tests import op_cases
from tests.gradcheck import check_gradients
from bench.cases import away_from_zero, bn_input, bn_params, conv_inputs, normal
from tests.op_cases import (AWKWARD_CASES, BN_EPS, BN_SHAPES, CONV_SHAPES, CONV_T_SHAPES, LATENT_SHAPES,
                            LINEAR_SHAPES, LOSS_SHAPES, PRESET_LAYERS, SLOPES)
from tests.optional import require

K = kernels.get_backend("numpy")
F64 = np.float64

# Gradient bound. In float64 with h = 1e-6 central differences carry ~1e-10 relative error
# (truncation h^2 ~ 1e-12, rounding 1e-16/h ~ 1e-10 on O(1) values), so a correct backward agrees
# to ~1e-8; any wrong term shows at 1e-3 or more. 1e-6 keeps a 100x margin on both sides.
GRAD_BOUND = 1e-6

# float32 vs float64 of the same function on the same (float32-representable) inputs. float32's unit
# roundoff is 6e-8; errors of sums grow like sqrt(length) (at most a few hundred terms here) times a
# small conditioning factor, giving ~1e-6 at worst; 1e-5 leaves margin while a float16-style bug or a
# wrong cast (1e-3) fails. Batch norm's backward subtracts and sums terms that cancel (with few values per
# channel, entirely), so its outputs are measured against the size of those terms
# (op_cases.cancellation_floor), as on the GPU backends.
F32_BOUND = 1e-5


def ids(shapes):
    return [s.text() if hasattr(s, "text") else "x".join(map(str, s)) for s in shapes]


# --- the contract ----------------------------------------------------------------------------------

def test_backend_meets_the_contract_and_cases_cover_every_op():
    assert missing_names(K) == []
    assert K.name == "numpy" and K.xp is np
    assert {c.op for c in op_cases.AWKWARD_CASES} == set(OPS)
    assert {c.op for c in op_cases.REAL_CASES} == set(OPS)


def test_helpers(rng):
    host = rng.standard_normal(5)
    a = K.asarray(host, dtype=np.float32)
    assert a.dtype == np.float32
    a[0] = 7.0                                   # a copy: the host array is untouched
    assert host[0] != 7.0
    assert np.array_equal(K.to_numpy(a), a) and K.to_numpy(a) is not a
    z1, z2 = K.normal((3, 4), (1, 2, 3), np.float32), K.normal((3, 4), (1, 2, 3), np.float32)
    assert z1.dtype == np.float32 and z1.shape == (3, 4) and np.array_equal(z1, z2)
    assert not np.array_equal(z1, K.normal((3, 4), (1, 2, 4), np.float32))
    for key in [(1, -2), 3, (), (1.5,)]:
        with pytest.raises(ValueError, match="key"):
            K.normal((2,), key, np.float32)


def test_preset_layer_shapes_chain():
    """The real layer shapes of op_cases connect: each layer's output is the next one's input."""
    for preset, spec in PRESET_LAYERS.items():
        layers = dict(spec["layers"])
        for prefix in ("enc", "dec", "disc"):
            chain = [s for label, s in spec["layers"] if label.startswith(prefix)]
            if prefix == "disc" and not chain:   # broad256x144: the discriminator is the encoder's stack
                continue
            for a, b in zip(chain, chain[1:]):
                assert a.y_shape == b.x_shape, (preset, a, b)
        enc = [s for label, s in spec["layers"] if label.startswith("enc")]
        dec = [s for label, s in spec["layers"] if label.startswith("dec")]
        assert enc[0].x_shape[1:] == spec["image"] and dec[-1].y_shape[1:] == spec["image"]
        assert all(s.n == op_cases.REAL_BATCH for s in layers.values())
    broad = PRESET_LAYERS["broad256x144"]
    assert [s.y_shape[1:] for _, s in broad["layers"]][3] == (640, 9, 16)


# --- backward passes against central finite differences --------------------------------------------

@pytest.fixture(params=list(K.CONV_VARIANTS))
def conv_variant(request):
    """Each convolution test runs on every form of the convolutions (the definition and the fast one)."""
    before = K.conv_variant()
    K.set_conv_variant(request.param)
    yield request.param
    K.set_conv_variant(before)


@pytest.mark.parametrize("s", CONV_SHAPES, ids=ids(CONV_SHAPES))
def test_conv2d_gradients(s, rng, conv_variant):
    a = conv_inputs(rng, F64, s)
    dx, dw, db = K.conv2d_backward(a["dy"], a["x"], a["w"], s.stride, s.padding)
    if s.bias:
        f = lambda x, w, b: K.conv2d_forward(x, w, b, s.stride, s.padding)
        check_gradients(f, [a["x"], a["w"], a["b"]], [a["dy"]], [dx, dw, db], [0, 1, 2], GRAD_BOUND,
                        names=["x", "w", "b"])
    else:
        f = lambda x, w: K.conv2d_forward(x, w, None, s.stride, s.padding)
        check_gradients(f, [a["x"], a["w"]], [a["dy"]], [dx, dw], [0, 1], GRAD_BOUND, names=["x", "w"])
    # the split ops are the same computation
    assert np.array_equal(dx, K.conv2d_backward_data(a["dy"], a["w"], s.x_shape, s.stride, s.padding))
    dw2, db2 = K.conv2d_backward_weight(a["dy"], a["x"], s.w_shape, s.stride, s.padding)
    assert np.array_equal(dw, dw2) and np.array_equal(db, db2)


@pytest.mark.parametrize("s", CONV_T_SHAPES, ids=ids(CONV_T_SHAPES))
def test_conv_transpose2d_gradients(s, rng, conv_variant):
    a = conv_inputs(rng, F64, s)
    args = (s.stride, s.padding, s.output_padding)
    dx, dw, db = K.conv_transpose2d_backward(a["dy"], a["x"], a["w"], *args)
    if s.bias:
        f = lambda x, w, b: K.conv_transpose2d_forward(x, w, b, *args)
        check_gradients(f, [a["x"], a["w"], a["b"]], [a["dy"]], [dx, dw, db], [0, 1, 2], GRAD_BOUND,
                        names=["x", "w", "b"])
    else:
        f = lambda x, w: K.conv_transpose2d_forward(x, w, None, *args)
        check_gradients(f, [a["x"], a["w"]], [a["dy"]], [dx, dw], [0, 1], GRAD_BOUND, names=["x", "w"])
    assert np.array_equal(dx, K.conv_transpose2d_backward_data(a["dy"], a["w"], s.stride, s.padding))
    dw2, db2 = K.conv_transpose2d_backward_weight(a["dy"], a["x"], s.w_shape, s.stride, s.padding)
    assert np.array_equal(dw, dw2) and np.array_equal(db, db2)


# Batch norm over 2 values per channel normalises them to exactly -1 and +1 (up to eps), so dL/dx is
# ~1e-4 by construction and the ~1e-10 absolute rounding noise of the finite differences is 1e-6 of
# it. An absolute floor of 1e-8 (100x that noise) is still 1e-4 of such a gradient: a wrong term fails.
BN_ATOL = 1e-8


def _bn_inputs(rng, shape, slope):
    """x, gamma, beta, dy; redrawn until no pre-activation lies within 1e-3 of the kink (finite
    differences with h = 1e-6 move every pre-activation of the channel by O(h))."""
    for _ in range(20):
        x = bn_input(rng, shape, F64)
        p = bn_params(rng, shape[1], F64)
        pre, _, _ = K.batch_norm_forward(x, p["gamma"], p["beta"], BN_EPS)
        if slope is None or np.abs(pre).min() > 1e-3:
            return x, p["gamma"], p["beta"], normal(rng, shape, F64)
    raise AssertionError("could not draw batch-norm inputs away from the kink")


@pytest.mark.parametrize("slope", SLOPES)
@pytest.mark.parametrize("shape", BN_SHAPES, ids=ids(BN_SHAPES))
def test_batch_norm_act_gradients(shape, slope, rng):
    x, gamma, beta, dy = _bn_inputs(rng, shape, slope)
    y, mean, invstd = K.batch_norm_act_forward(x, gamma, beta, BN_EPS, slope)
    dx, dgamma, dbeta = K.batch_norm_act_backward(dy, x, y, mean, invstd, gamma, slope)
    f = lambda x, gamma, beta: K.batch_norm_act_forward(x, gamma, beta, BN_EPS, slope)[0]
    check_gradients(f, [x, gamma, beta], [dy], [dx, dgamma, dbeta], [0, 1, 2], GRAD_BOUND,
                    names=["x", "gamma", "beta"], atol=BN_ATOL)


@pytest.mark.parametrize("shape", BN_SHAPES, ids=ids(BN_SHAPES))
def test_batch_norm_gradients(shape, rng):
    x, gamma, beta, dy = _bn_inputs(rng, shape, None)
    _, mean, invstd = K.batch_norm_forward(x, gamma, beta, BN_EPS)
    dx, dgamma, dbeta = K.batch_norm_backward(dy, x, mean, invstd, gamma)
    f = lambda x, gamma, beta: K.batch_norm_forward(x, gamma, beta, BN_EPS)[0]
    check_gradients(f, [x, gamma, beta], [dy], [dx, dgamma, dbeta], [0, 1, 2], GRAD_BOUND,
                    names=["x", "gamma", "beta"], atol=BN_ATOL)


@pytest.mark.parametrize("n,f_in,f_out,bias", LINEAR_SHAPES)
def test_linear_gradients(n, f_in, f_out, bias, rng):
    x, w, b, dy = (normal(rng, s, F64) for s in [(n, f_in), (f_out, f_in), (f_out,), (n, f_out)])
    dx, dw, db = K.linear_backward(dy, x, w)
    check_gradients(K.linear_forward, [x, w, b if bias else None], [dy], [dx, dw] + ([db] if bias else []),
                    [0, 1, 2][:3 if bias else 2], GRAD_BOUND, names=["x", "w", "b"])


@pytest.mark.parametrize("shape", op_cases.ACT_SHAPES, ids=ids(op_cases.ACT_SHAPES))
def test_activation_gradients(shape, rng):
    x = away_from_zero(rng, shape, F64)       # ReLU's kink is 0.1 or more away, h is 1e-6
    dy = normal(rng, shape, F64)
    check_gradients(K.relu_forward, [x], [dy], [K.relu_backward(dy, x)], [0], GRAD_BOUND)
    for slope in op_cases.LEAKY_SLOPES:
        check_gradients(lambda x: K.leaky_relu_forward(x, slope), [x], [dy],
                        [K.leaky_relu_backward(dy, x, slope)], [0], GRAD_BOUND)
    check_gradients(K.tanh_forward, [x], [dy], [K.tanh_backward(dy, K.tanh_forward(x))], [0], GRAD_BOUND)
    check_gradients(K.sigmoid_forward, [x], [dy], [K.sigmoid_backward(dy, K.sigmoid_forward(x))], [0], GRAD_BOUND)


@pytest.mark.parametrize("sigma", op_cases.SIGMAS)
@pytest.mark.parametrize("shape", LATENT_SHAPES, ids=ids(LATENT_SHAPES))
def test_sampler_and_kl_gradients(shape, sigma, rng):
    mu, eps, dz = normal(rng, shape, F64), normal(rng, shape, F64), normal(rng, shape, F64)
    logvar = normal(rng, shape, F64, 0.7)
    dmu, dlogvar = K.reparam_backward(dz, logvar, eps, sigma)
    check_gradients(lambda mu, lv: K.reparam_forward(mu, lv, eps, sigma), [mu, logvar], [dz],
                    [dmu, dlogvar], [0, 1], GRAD_BOUND, names=["mu", "logvar"])
    # fused: L = <dz, z> + kl_weight * kl
    kl_weight = 0.37
    dmu, dlogvar = K.reparam_kl_backward(dz, mu, logvar, eps, sigma, kl_weight)
    check_gradients(lambda mu, lv: K.reparam_kl_forward(mu, lv, eps, sigma), [mu, logvar],
                    [dz, np.float64(kl_weight)], [dmu, dlogvar], [0, 1], GRAD_BOUND, names=["mu", "logvar"])
    _, dmu, dlogvar = K.kl_normal(mu, logvar)
    check_gradients(lambda mu, lv: K.kl_normal(mu, lv)[0], [mu, logvar], [np.float64(1.0)], [dmu, dlogvar],
                    [0, 1], GRAD_BOUND, names=["mu", "logvar"])


@pytest.mark.parametrize("shape", LOSS_SHAPES, ids=ids(LOSS_SHAPES))
def test_loss_gradients(shape, rng):
    a, b = normal(rng, shape, F64), normal(rng, shape, F64)
    check_gradients(lambda a: K.mse(a, b)[0], [a], [np.float64(1.0)], [K.mse(a, b)[1]], [0], GRAD_BOUND)
    logits = normal(rng, shape, F64, 2.0)
    for target in (rng.uniform(0.05, 0.95, shape), 1.0, 0.0):
        check_gradients(lambda x: K.bce_with_logits(x, target)[0], [logits], [np.float64(1.0)],
                        [K.bce_with_logits(logits, target)[1]], [0], GRAD_BOUND)


# --- forward definitions: the convolutions against PyTorch's, batch norm and losses by formula ------

@pytest.fixture(scope="module")
def torch_f64():
    torch = require("torch", "the convolutions' forward against PyTorch's", "CI must install torch (see .ci/run)")
    return torch


@pytest.mark.parametrize("s", CONV_SHAPES, ids=ids(CONV_SHAPES))
def test_conv2d_forward_is_pytorchs(s, rng, conv_variant, torch_f64):
    a = conv_inputs(rng, F64, s)
    t = torch_f64.from_numpy
    want = torch_f64.nn.functional.conv2d(t(a["x"]), t(a["w"]), t(a["b"]) if s.bias else None, s.stride, s.padding)
    np.testing.assert_allclose(K.conv2d_forward(a["x"], a["w"], a["b"] if s.bias else None, s.stride, s.padding),
                               want.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("s", CONV_T_SHAPES, ids=ids(CONV_T_SHAPES))
def test_conv_transpose2d_forward_is_pytorchs_and_the_adjoint(s, rng, conv_variant, torch_f64):
    a = conv_inputs(rng, F64, s)
    args = (s.stride, s.padding, s.output_padding)
    b = a["b"] if s.bias else None
    y = K.conv_transpose2d_forward(a["x"], a["w"], b, *args)
    t = torch_f64.from_numpy
    want = torch_f64.nn.functional.conv_transpose2d(t(a["x"]), t(a["w"]), None if b is None else t(b), *args)
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-12, atol=1e-12)
    # adjoint: <conv2d(u, w), x> = <u, conv_transpose2d(x, w)> for any u of the output's shape
    u = normal(rng, s.y_shape, F64)
    lhs = np.vdot(K.conv2d_forward(u, a["w"], None, s.stride, s.padding), a["x"])
    rhs = np.vdot(u, K.conv_transpose2d_forward(a["x"], a["w"], None, *args))
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs))


@pytest.mark.parametrize("shape", BN_SHAPES, ids=ids(BN_SHAPES))
def test_batch_norm_forward_formula(shape, rng):
    x = bn_input(rng, shape, F64)
    p = bn_params(rng, shape[1], F64)
    y, mean, invstd = K.batch_norm_forward(x, p["gamma"], p["beta"], BN_EPS)
    per_channel = np.moveaxis(x, 1, 0).reshape(shape[1], -1)     # (C, M)
    m = per_channel.shape[1]
    want_mean = per_channel.sum(axis=1) / m
    want_var = ((per_channel - want_mean[:, None]) ** 2).sum(axis=1) / m   # biased
    np.testing.assert_allclose(mean, want_mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(want_var + BN_EPS), rtol=1e-12)
    xhat = (per_channel - want_mean[:, None]) / np.sqrt(want_var[:, None] + BN_EPS)
    want_y = np.moveaxis((p["gamma"][:, None] * xhat + p["beta"][:, None]).reshape((shape[1], shape[0]) + shape[2:]),
                         0, 1)
    np.testing.assert_allclose(y, want_y, rtol=1e-12, atol=1e-12)
    # inference with the batch's own statistics as running statistics reproduces training mode
    rv = want_var
    np.testing.assert_allclose(K.batch_norm_inference(x, p["gamma"], p["beta"], want_mean, rv, BN_EPS), want_y,
                               rtol=1e-12, atol=1e-12)


def test_loss_reductions_are_means(rng):
    shape = (3, 4, 5)
    m = 60
    mu, logvar = normal(rng, shape, F64), normal(rng, shape, F64, 0.7)
    a, b = normal(rng, shape, F64), normal(rng, shape, F64)
    x, t = normal(rng, shape, F64, 2.0), rng.uniform(0.05, 0.95, shape)
    kl = sum(-0.5 * (1 + lv - u * u - np.exp(lv)) for u, lv in zip(mu.ravel(), logvar.ravel())) / m
    mse = sum((p - q) ** 2 for p, q in zip(a.ravel(), b.ravel())) / m
    # the textbook cross-entropy of sigmoid(x), not the stable form the code uses
    bce = sum(-ti * np.log(1 / (1 + np.exp(-xi))) - (1 - ti) * np.log(1 - 1 / (1 + np.exp(-xi)))
              for xi, ti in zip(x.ravel(), t.ravel())) / m
    bce1 = sum(-np.log(1 / (1 + np.exp(-xi))) for xi in x.ravel()) / m
    for got, want in [(K.kl_normal(mu, logvar), kl), (K.mse(a, b), mse), (K.bce_with_logits(x, t), bce),
                      (K.bce_with_logits(x, 1.0), bce1)]:
        loss = got[0]
        assert isinstance(loss, np.ndarray) and loss.shape == () and loss.dtype == F64
        assert abs(float(loss) - want) <= 1e-12 * abs(want)
    # gradients of a mean carry the 1/M
    np.testing.assert_allclose(K.mse(a, b)[1], 2 * (a - b) / m, rtol=1e-14)
    np.testing.assert_allclose(K.kl_normal(mu, logvar)[1], mu / m, rtol=1e-14)


def test_sigmoid_and_bce_are_stable_at_extreme_logits():
    x = np.array([-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0], dtype=np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):   # no overflow, log(0) or 0/0
        s = K.sigmoid_forward(x)
        loss1, g1 = K.bce_with_logits(x, 1.0)
        loss0, g0 = K.bce_with_logits(x, 0.0)
    assert np.all((s >= 0) & (s <= 1)) and s[3] == 0.5 and s[0] == 0.0 and s[-1] == 1.0
    # softplus(-x) for t = 1: the large negative logits cost |x|; the large positive ones nothing
    want1 = np.mean(np.logaddexp(0, -x.astype(F64)))
    want0 = np.mean(np.logaddexp(0, x.astype(F64)))
    assert abs(float(loss1) - want1) <= 1e-6 * want1 and abs(float(loss0) - want0) <= 1e-6 * want0
    assert np.all(np.isfinite(g1)) and np.all(np.isfinite(g0))


# --- fused ops against their compositions ------------------------------------------------------------

@pytest.mark.parametrize("slope", SLOPES)
@pytest.mark.parametrize("shape", BN_SHAPES, ids=ids(BN_SHAPES))
def test_batch_norm_act_is_batch_norm_then_activation(shape, slope, rng):
    x, gamma, beta, dy = _bn_inputs(rng, shape, slope)
    x, gamma, beta, dy = (a.astype(np.float32) for a in (x, gamma, beta, dy))

    def act(pre):
        return pre if slope is None else K.leaky_relu_forward(pre, slope)

    pre, mean, invstd = K.batch_norm_forward(x, gamma, beta, BN_EPS)
    y, mean2, invstd2 = K.batch_norm_act_forward(x, gamma, beta, BN_EPS, slope)
    np.testing.assert_array_equal(mean, mean2)
    np.testing.assert_array_equal(invstd, invstd2)
    np.testing.assert_allclose(y, act(pre), rtol=1e-6, atol=1e-6)
    dpre = dy if slope is None else K.leaky_relu_backward(dy, pre, slope)
    for got, want in zip(K.batch_norm_act_backward(dy, x, y, mean, invstd, gamma, slope),
                         K.batch_norm_backward(dpre, x, mean, invstd, gamma)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    rm, rv = normal(rng, shape[1], np.float32), rng.uniform(0.5, 2.0, shape[1]).astype(np.float32)
    np.testing.assert_allclose(K.batch_norm_act_inference(x, gamma, beta, rm, rv, BN_EPS, slope),
                               act(K.batch_norm_inference(x, gamma, beta, rm, rv, BN_EPS)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", LATENT_SHAPES, ids=ids(LATENT_SHAPES))
def test_reparam_kl_is_reparam_plus_kl(shape, rng):
    mu, logvar, eps, dz = (normal(rng, shape, np.float32) for _ in range(4))
    sigma, kl_weight = 0.3, 2.5
    z, kl = K.reparam_kl_forward(mu, logvar, eps, sigma)
    np.testing.assert_allclose(z, K.reparam_forward(mu, logvar, eps, sigma), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(kl, K.kl_normal(mu, logvar)[0], rtol=1e-6)
    dmu, dlogvar = K.reparam_kl_backward(dz, mu, logvar, eps, sigma, kl_weight)
    smu, slogvar = K.reparam_backward(dz, logvar, eps, sigma)
    _, kmu, klogvar = K.kl_normal(mu, logvar)
    np.testing.assert_allclose(dmu, smu + kl_weight * kmu, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dlogvar, slogvar + kl_weight * klogvar, rtol=1e-6, atol=1e-7)


# --- float32 against float64, and dtypes ------------------------------------------------------------

def relative_l2(got, want, floor=0.0):
    got, want = np.asarray(got, F64), np.asarray(want, F64)
    scale = max(np.linalg.norm(want), floor)
    return np.linalg.norm(got - want) / (scale if scale > 0 else 1.0)


@pytest.mark.parametrize("case", AWKWARD_CASES, ids=repr)
def test_float32_matches_float64(case, rng):
    inputs32 = case.make(rng, np.float32)
    inputs64 = {k: None if v is None else v.astype(F64) for k, v in inputs32.items()}
    out32, out64 = case.run(K, inputs32), case.run(K, inputs64)
    assert len(out32) == len(out64)
    for i, (got, want) in enumerate(zip(out32, out64)):
        assert isinstance(got, np.ndarray) and got.dtype == np.float32, f"{case.name}: {type(got)} {got.dtype}"
        assert want.dtype == F64
        err = relative_l2(got, want, op_cases.cancellation_floor(case, inputs64, i))
        assert err <= F32_BOUND, f"{case.name}: float32 vs float64 relative L2 error {err:.3g}"


def test_numpy_float64_scalars_do_not_upcast(rng):
    x = normal(rng, (2, 3, 4, 5), np.float32)
    gamma, beta = np.ones(3, np.float32), np.zeros(3, np.float32)
    f64 = np.float64
    assert K.leaky_relu_forward(x, f64(0.2)).dtype == np.float32
    assert K.leaky_relu_backward(x, x, f64(0.2)).dtype == np.float32
    assert all(a.dtype == np.float32 for a in K.batch_norm_act_forward(x, gamma, beta, f64(1e-5), f64(0.2)))
    mu = normal(rng, (2, 3), np.float32)
    assert K.reparam_forward(mu, mu, mu, f64(0.5)).dtype == np.float32
    assert all(a.dtype == np.float32 for a in K.reparam_kl_backward(mu, mu, mu, mu, f64(0.5), f64(2.0)))
    assert all(a.dtype == np.float32 for a in K.bce_with_logits(mu, f64(1.0)))
    p, g, m, v = (normal(rng, (4,), np.float32) ** 2 for _ in range(4))
    K.adam_step(p, g, m, v, 3, f64(1e-3), f64(0.9), f64(0.999), f64(1e-8), f64(0.01))
    assert p.dtype == m.dtype == v.dtype == np.float32


# --- adam: a two-step example computed by hand --------------------------------------------------------

def test_adam_two_steps_by_hand():
    lr, b1, b2, eps, wd = 0.1, 0.9, 0.999, 1e-8, 0.1
    param = np.array([1.0, -2.0])
    m, v = np.zeros(2), np.zeros(2)

    # step 1, grad = [0.5, -1.0]:  g = grad + 0.1*param = [0.6, -1.2]
    K.adam_step(param, np.array([0.5, -1.0]), m, v, 1, lr, b1, b2, eps, wd)
    np.testing.assert_allclose(m, [0.06, -0.12], rtol=1e-12)            # 0.1 * g
    np.testing.assert_allclose(v, [0.00036, 0.00144], rtol=1e-12)       # 0.001 * g^2
    # m_hat = m / 0.1 = g, v_hat = v / 0.001 = g^2: the first step moves each weight by lr * sign(g)
    p1 = [1.0 - 0.1 * 0.6 / (0.6 + 1e-8), -2.0 + 0.1 * 1.2 / (1.2 + 1e-8)]
    np.testing.assert_allclose(param, p1, rtol=1e-12)                   # ~ [0.9, -1.9]

    # step 2, grad = [-0.25, 0.5]:  g = grad + 0.1*p1
    g = [-0.25 + 0.1 * p1[0], 0.5 + 0.1 * p1[1]]                        # ~ [-0.16, 0.31]
    m2 = [0.9 * 0.06 + 0.1 * g[0], 0.9 * -0.12 + 0.1 * g[1]]            # ~ [0.038, -0.077]
    v2 = [0.999 * 0.00036 + 0.001 * g[0] ** 2, 0.999 * 0.00144 + 0.001 * g[1] ** 2]
    m_hat = [mi / (1 - 0.9 ** 2) for mi in m2]                          # / 0.19
    v_hat = [vi / (1 - 0.999 ** 2) for vi in v2]                        # / 0.001999
    p2 = [p1[i] - 0.1 * m_hat[i] / (v_hat[i] ** 0.5 + 1e-8) for i in range(2)]
    K.adam_step(param, np.array([-0.25, 0.5]), m, v, 2, lr, b1, b2, eps, wd)
    np.testing.assert_allclose(m, m2, rtol=1e-12)
    np.testing.assert_allclose(v, v2, rtol=1e-12)
    np.testing.assert_allclose(param, p2, rtol=1e-12)
    np.testing.assert_allclose(param, [0.854441367461762, -1.853747264642761], rtol=1e-12)  # in 30-digit decimals


# --- bad arguments -----------------------------------------------------------------------------------

def _bad_calls():
    f32 = np.float32
    x, w, b = np.ones((2, 3, 8, 8), f32), np.ones((4, 3, 3, 3), f32), np.ones(4, f32)
    wt = np.ones((3, 4, 3, 3), f32)              # transposed: (C_in, C_out, kH, kW)
    y = np.ones((2, 4, 8, 8), f32)               # conv2d(x, w, stride 1, padding 1)
    v2 = np.ones((4, 5), f32)
    g3 = np.ones(3, f32)
    return [
        ("x", lambda: K.conv2d_forward(x[0], w, b, 1, 1)),                          # wrong rank
        ("w", lambda: K.conv2d_forward(x, np.ones((4, 2, 3, 3), f32), b, 1, 1)),     # mismatched channels
        ("stride", lambda: K.conv2d_forward(x, w, b, 0, 1)),
        ("stride", lambda: K.conv2d_forward(x, w, b, -2, 1)),
        ("padding", lambda: K.conv2d_forward(x, w, b, 1, -1)),
        ("b", lambda: K.conv2d_forward(x, w, np.ones(3, f32), 1, 1)),
        ("w", lambda: K.conv2d_forward(x, w.astype(np.float64), b, 1, 1)),          # mixed dtypes
        ("x", lambda: K.conv2d_forward(x.astype(np.int32), w, b, 1, 1)),
        ("dy", lambda: K.conv2d_backward(y[:, :, :7], x, w, 1, 1)),
        ("x_shape", lambda: K.conv2d_backward_data(y, w, (2, 3, 8), 1, 1)),
        ("w_shape", lambda: K.conv2d_backward_weight(y, x, (4, 3, 3), 1, 1)),
        ("output_padding", lambda: K.conv_transpose2d_forward(x, wt, b, 2, 1, 2)),  # not < stride
        ("output_padding", lambda: K.conv_transpose2d_forward(x, wt, b, 1, 0, 1)),
        ("output_padding", lambda: K.conv_transpose2d_forward(x, wt, b, 2, 1, -1)),
        ("stride", lambda: K.conv_transpose2d_forward(x, wt, b, 0, 1, 0)),
        ("w", lambda: K.conv_transpose2d_forward(x, np.ones((2, 4, 3, 3), f32), b, 2, 1, 1)),
        ("dy", lambda: K.conv_transpose2d_backward_data(x, wt, 2, 1)),              # 3 channels, w wants 4
        ("dy", lambda: K.conv_transpose2d_backward_weight(np.ones((2, 4, 20, 20), f32), x, wt.shape, 2, 1)),
        ("dy", lambda: K.conv_transpose2d_backward(np.ones((2, 4, 14, 15), f32), x, wt, 2, 1, 0)),
        ("x", lambda: K.batch_norm_forward(x[0], g3, g3, 1e-5)),                    # rank 3
        ("x", lambda: K.batch_norm_forward(np.ones((1, 3), f32), g3, g3, 1e-5)),   # one value per feature
        ("gamma", lambda: K.batch_norm_forward(x, np.ones(4, f32), g3, 1e-5)),
        ("beta", lambda: K.batch_norm_forward(x, g3, np.ones(2, f32), 1e-5)),
        ("eps", lambda: K.batch_norm_forward(x, g3, g3, 0.0)),
        ("slope", lambda: K.batch_norm_act_forward(x, g3, g3, 1e-5, 1.0)),
        ("slope", lambda: K.batch_norm_act_forward(x, g3, g3, 1e-5, -0.1)),
        ("slope", lambda: K.batch_norm_act_forward(x, g3, g3, 1e-5, "leaky")),
        ("slope", lambda: K.batch_norm_act_inference(x, g3, g3, g3, g3, 1e-5, 2.0)),
        ("y", lambda: K.batch_norm_act_backward(x, x, x[:1], g3, g3, g3, 0.0)),
        ("running_var", lambda: K.batch_norm_inference(x, g3, g3, g3, np.ones(4, f32), 1e-5)),
        ("x", lambda: K.linear_forward(v2[0], np.ones((2, 5), f32), None)),
        ("w", lambda: K.linear_forward(v2, np.ones((2, 4), f32), None)),
        ("dy", lambda: K.linear_backward(np.ones((4, 3), f32), v2, np.ones((2, 5), f32))),
        ("slope", lambda: K.leaky_relu_forward(v2, 1.5)),
        ("slope", lambda: K.leaky_relu_forward(v2, None)),
        ("dy", lambda: K.relu_backward(v2[:2], v2)),
        ("logvar", lambda: K.reparam_forward(v2, v2[:2], v2, 1.0)),
        ("sigma", lambda: K.reparam_forward(v2, v2, v2, -1.0)),
        ("kl_weight", lambda: K.reparam_kl_backward(v2, v2, v2, v2, 1.0, -0.5)),
        ("logvar", lambda: K.kl_normal(v2, v2.T)),
        ("b", lambda: K.mse(v2, v2[:, :2])),
        ("target", lambda: K.bce_with_logits(v2, v2[:1])),
        ("step", lambda: K.adam_step(g3, g3, g3, g3, 0, 1e-3, 0.9, 0.999, 1e-8, 0.0)),
        ("beta1", lambda: K.adam_step(g3, g3, g3, g3, 1, 1e-3, 1.0, 0.999, 1e-8, 0.0)),
        ("m", lambda: K.adam_step(g3, g3, np.ones(4, f32), g3, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0)),
    ]


@pytest.mark.parametrize("argument,call", _bad_calls(), ids=[f"{i}-{a}" for i, (a, _) in enumerate(_bad_calls())])
def test_bad_arguments_raise_a_one_line_value_error_naming_the_argument(argument, call):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert argument in message and "\n" not in message, message
