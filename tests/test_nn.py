"""The layer framework (vaegan/nn.py): a whole small network against finite differences, taps, the
flat parameter buffer, and batch-norm's running statistics (updated at once, or after a "batch" forward)."""
import numpy as np
import pytest

from kernels import get_backend
from tests.gradcheck import central_differences
from vaegan import nn

K = get_backend("numpy")


def small_net(dtype="float64"):
    """conv -> BN + leaky ReLU -> transposed conv -> tanh, the shape of one encoder/decoder stage."""
    net = nn.Sequential(K, [
        nn.Conv2d(K, 2, 3, 3, stride=2, padding=1, dtype=dtype),
        nn.BatchNorm(K, 3, act="lrelu", slope=0.2, dtype=dtype),
        nn.ConvTranspose2d(K, 3, 2, 3, stride=2, padding=1, output_padding=1, dtype=dtype),
        nn.Tanh(K),
    ])
    nn.init_weights(net, seed=0)
    for p in net.parameters():  # larger weights than DCGAN's 0.02, so every term matters numerically
        p.data[...] = np.random.default_rng(p.data.size).standard_normal(p.shape) * 0.5 + (p.data if p.data.ndim == 1 else 0)
    return net


def test_sequential_end_to_end_against_finite_differences(rng):
    net = small_net()
    x = rng.standard_normal((3, 2, 7, 6))
    dy = rng.standard_normal((3, 2, 8, 6))  # the loss is sum(y * dy): its gradient at y is dy

    def loss():
        return float((net.forward(x, "batch")[0] * dy).sum())

    y, ctx = net.forward(x, "batch")
    assert y.shape == dy.shape
    for p in net.parameters():
        p.grad = np.zeros_like(p.data)
    dx = net.backward(dy, ctx)
    checks = [(x, dx)] + [(p.data, p.grad) for p in net.parameters()]
    for arr, grad in checks:
        numeric = central_differences(lambda _: loss(), arr)
        # float64, h=1e-6: central differences agree to ~1e-9 relative; 1e-6 allows a leaky-ReLU kink.
        # The conv bias in front of batch-norm has a zero gradient (BN removes any constant shift), so
        # the error is relative to max(|numeric|, 1).
        err = np.linalg.norm(numeric - grad) / max(np.linalg.norm(numeric), 1.0)
        assert err < 1e-6, f"relative error {err:.2e} for an array of shape {arr.shape}"


def test_taps_and_their_gradients(rng):
    net = small_net()
    x = rng.standard_normal((2, 2, 6, 6))
    y, ctx = net.forward(x, "batch", taps=(1,))
    assert set(ctx.taps) == {1}
    tap = ctx.taps[1]
    g_tap = rng.standard_normal(tap.shape)
    # A gradient entering at the tap only: the layers above it are skipped, and the result equals the
    # backward of the first two layers alone.
    dx_tap = net.backward(None, ctx, tap_grads={1: g_tap}, param_grads=False)
    head = nn.Sequential(K, net.layers[:2])
    _, hctx = head.forward(x, "batch")
    np.testing.assert_allclose(dx_tap, head.backward(g_tap, hctx, param_grads=False), rtol=1e-12)
    # Gradients at the output and at the tap add (backward is linear in what enters it).
    dy = rng.standard_normal(y.shape)
    both = net.backward(dy, ctx, tap_grads={1: g_tap}, param_grads=False)
    np.testing.assert_allclose(both, net.backward(dy, ctx, param_grads=False) + dx_tap, rtol=1e-10, atol=1e-12)


def test_flat_parameters_are_views(rng):
    net = small_net("float32")
    values = [p.data.copy() for p in net.parameters()]
    flat = nn.FlatParameters(net)
    assert flat.size == sum(v.size for v in values)
    for p, v in zip(net.parameters(), values):
        np.testing.assert_array_equal(p.data, v)  # values survive the move
    flat.data[:] = 3.0
    assert all((p.data == 3.0).all() for p in net.parameters())
    x = rng.standard_normal((2, 2, 6, 6)).astype("float32")
    y, ctx = net.forward(x)
    net.backward(np.ones_like(y), ctx)
    assert np.abs(flat.grad).sum() > 0
    flat.zero_grad()
    assert all((p.grad == 0).all() for p in net.parameters())


def test_batch_norm_running_statistics_follow_pytorch(rng):
    bn = nn.BatchNorm(K, 3, dtype="float64")
    x = rng.standard_normal((4, 3, 5, 5)) * 2 + 1
    bn.forward(x, "train")
    n = 4 * 5 * 5
    mean = x.mean(axis=(0, 2, 3))
    var_unbiased = x.var(axis=(0, 2, 3)) * n / (n - 1)
    np.testing.assert_allclose(bn.running_mean, 0.1 * mean, rtol=1e-10)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * var_unbiased, rtol=1e-10)
    before = bn.running_mean.copy()
    bn.forward(x, "batch")  # batch statistics, running ones untouched
    np.testing.assert_array_equal(before, bn.running_mean)
    y, ctx = bn.forward(x, "eval")
    assert ctx is None
    np.testing.assert_allclose(y, (x - before[None, :, None, None]) / np.sqrt(bn.running_var[None, :, None, None] + 1e-5)
                               * bn.gamma.data[None, :, None, None] + bn.beta.data[None, :, None, None], rtol=1e-10)


def test_a_batch_forward_then_its_update_is_a_train_forward(rng):
    """What the training step's lanes do: "batch" forwards on two threads, the running statistics
    updated afterwards, in order. The same output and the same running statistics to the bit."""
    trained, deferred = small_net("float32"), small_net("float32")
    for _ in range(3):
        x = (rng.standard_normal((4, 2, 7, 6)) * 3 + 1).astype(np.float32)
        y_train, _ = trained.forward(x, "train")
        y_batch, ctx = deferred.forward(x, "batch")
        assert np.array_equal(y_train, y_batch)
        deferred.update_running_statistics(ctx)
    for (name, a), (_, b) in zip(trained.named_buffers(), deferred.named_buffers()):
        assert np.array_equal(a, b), name
    assert not np.array_equal(trained.layers[1].running_mean, np.zeros(3))   # they did move


def test_bad_mode_is_refused():
    with pytest.raises(ValueError, match="mode"):
        small_net().forward(np.zeros((1, 2, 4, 4)), "training")
