"""--temporal-weight (vaegan/temporal.py): the latent-distance loss of adjacent frames, its hand-written
gradient against central finite differences in float64, the route of that gradient (the encoder's, no
other network's), and the pair batches (adjacent frames, the epoch's order, never a held-out frame)."""
import numpy as np
import pytest

from kernels import get_backend
from tests.gradcheck import central_differences, check_gradients
from vaegan.errors import UserError
from vaegan.media.framestore import FrameStore
from vaegan.model import VAEGAN
from vaegan.step import forward_and_gradients
from vaegan.temporal import neighbours, pair_batches, pair_change, temporal_loss
from tests.test_vaegan_step import LOSS_OF, MINI, seed

K = get_backend("numpy")


def test_the_gradient_of_the_temporal_loss_is_its_finite_differences(rng):
    mu = rng.standard_normal((10, 7))                  # 5 pairs, z_dim 7, float64
    change = rng.uniform(0.01, 0.5, 5)                 # d depends on the frames only: a constant here
    _, dmu = temporal_loss(np, mu, change)
    # float64 central differences (h = 1e-6) of this quadratic have no truncation error and ~1e-10
    # relative rounding (tests/gradcheck.py); a wrong factor or sign is off by 1e-1 or more
    check_gradients(lambda m: temporal_loss(np, m, change)[0], [mu], [1.0], [dmu], wrt=[0], bound=1e-7,
                    names=["mu"])


def test_the_loss_holds_still_pairs_hardest_and_lets_cuts_go():
    mu = np.array([[0.0, 0.0]] * 3 + [[1.0, 1.0]] * 3)          # three pairs, each 2 apart (squared)
    d = np.array([0.001, 0.002, 1.0])                            # two nearly still pairs, then a cut
    loss, dmu = temporal_loss(np, mu, d)
    w = 0.002 / (0.002 + d)                                      # m = the median change, 0.002
    assert loss == pytest.approx((w * 2.0).sum() / (3 * 2), rel=1e-12)
    assert abs(dmu[0, 0]) > 100 * abs(dmu[2, 0])                 # the still pair pulled ~330x harder than the cut
    assert temporal_loss(np, np.ones((4, 3)), np.array([0.1, 0.2]))[0] == 0.0


def test_the_pair_change_is_the_mean_squared_difference_of_each_pair(rng):
    x = rng.uniform(-1, 1, (6, 3, 4, 5))
    want = [np.mean((x[i] - x[i + 3]) ** 2) for i in range(3)]
    np.testing.assert_allclose(pair_change(np, x), want, rtol=1e-12)


def test_only_the_encoder_follows_the_temporal_loss(rng):
    """The encoder's gradient is that of kl + L_rec + w L_temp (finite differences of the whole loss on a
    float64 model); the decoder's and the discriminator's are those of their losses, with or without it."""
    model = VAEGAN(K, MINI, seed=3, dtype="float64")
    x = rng.uniform(-1, 1, (4, 3, MINI.height, MINI.width))
    eps, z_p = rng.standard_normal((4, MINI.z_dim)), rng.standard_normal((4, MINI.z_dim))
    tc = seed(pixel_weight=2.0, temporal_weight=3.0)

    def encoder_loss():
        losses = forward_and_gradients(model, x, eps, z_p, 0.8, tc)[0]
        mu = model.encoder.forward(x, "train")[0]
        return LOSS_OF["encoder"]({k: float(v) for k, v in losses.items()}, tc) + \
            tc.temporal_weight * float(temporal_loss(np, mu, pair_change(np, x))[0])

    forward_and_gradients(model, x, eps, z_p, 0.8, tc)
    got = {n: f.grad.copy() for n, f in model.flat.items()}
    forward_and_gradients(model, x, eps, z_p, 0.8, seed(pixel_weight=2.0))
    without = {n: f.grad.copy() for n, f in model.flat.items()}
    np.testing.assert_array_equal(got["decoder"], without["decoder"])
    np.testing.assert_array_equal(got["discriminator"], without["discriminator"])
    assert np.linalg.norm(got["encoder"] - without["encoder"]) > 1e-3 * np.linalg.norm(without["encoder"])
    flat = model.flat["encoder"]
    picks = rng.choice(flat.size, size=12, replace=False)
    numeric = central_differences(lambda _: encoder_loss(), flat.data, at=picks)
    # as tests/test_vaegan_step.py: float64 differences are good to ~1e-8; 1e-5 leaves room for a ReLU kink
    err = np.linalg.norm(numeric - got["encoder"][picks]) / np.linalg.norm(numeric)
    assert err < 1e-5, f"encoder: gradient differs from finite differences of its loss (rel {err:.2e})"


class IndexStore:
    """A frame store whose batches are the frame numbers themselves (the order is FrameStore's own)."""
    epoch_order = FrameStore.epoch_order

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def batch(self, indices):
        return np.asarray(indices)


def test_pair_batches_are_adjacent_frames_in_the_epochs_order_and_never_a_held_out_one():
    store, held = IndexStore(53), [5, 20, 52]
    batches = list(pair_batches(store, 8, seed=3, epoch=2, exclude=held))
    order = store.epoch_order(3, 2)
    order = order[~np.isin(order, held)]
    assert len(batches) == len(order) // 8                      # the steps per epoch do not change
    for b, got in enumerate(batches):
        anchors, partners = got[:4], got[4:]
        np.testing.assert_array_equal(anchors, order[b * 8:b * 8 + 4])
        assert np.all(np.abs(partners - anchors) == 1)
        assert not np.isin(got, held).any()
    np.testing.assert_array_equal(neighbours([0, 4, 19, 52], 53, exclude=[5, 20]), [1, 3, 18, 51])
    assert [b.tolist() for b in pair_batches(store, 8, 3, 2, start_batch=2, exclude=held)] == \
        [b.tolist() for b in batches[2:]]                       # a resumed epoch sees the same batches
    with pytest.raises(UserError, match="even"):
        next(pair_batches(store, 7, 0, 0))


def test_the_command_line_trains_with_it_and_the_run_records_it(tmp_path):
    """`train --temporal-weight` reaches the run (its encoder ends elsewhere than the same run's without it)
    and config.json keeps it, for --resume. (That the step follows the loss is the routing test's.)"""
    import json

    from click.testing import CliRunner

    import cli
    from tests.films import write_film
    from vaegan import checkpoint

    film = write_film(tmp_path / "clip.mp4", n=12, size=(32, 24), fps=10)
    small = ["--width", "32", "--height", "24", "--base-width", "4", "--z-dim", "8", "--batch-size", "4",
             "--epochs", "1", "--no-final-film"]
    weights = {}
    for w in ("0", "2"):
        out = tmp_path / f"run{w}"
        result = CliRunner().invoke(cli.cli, ["train", str(film), "--out", str(out), "--temporal-weight", w, *small])
        assert result.exit_code == 0, result.output
        assert json.load(open(out / "config.json"))["train"]["temporal_weight"] == float(w)
        weights[w] = checkpoint.read(str(out))[1]
    assert any(not np.array_equal(weights["0"][k], weights["2"][k]) for k in weights["0"] if k.startswith("encoder"))
