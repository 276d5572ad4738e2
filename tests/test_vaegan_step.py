"""The VAE-GAN step's gradient routing (Larsen et al. Algorithm 1; the picture is docs/README.md).

Each network's gradient buffer must hold the gradient of exactly its own loss:
    encoder <- d(kl_weight * L_prior + L_sim),  decoder <- d(gamma * L_sim + L_gen),  discriminator <- d(L_GAN)
checked against central finite differences of that loss on a tiny float64 model. The original code
swapped parameter sets; the disjointness / completeness test guards against that too.
"""
from dataclasses import replace

import numpy as np
import pytest

from kernels import get_backend
from tests.gradcheck import central_differences
from vaegan.config import ModelConfig
from vaegan.model import VAEGAN
from vaegan.optim import Adam
from vaegan.step import TrainConfig, forward_and_gradients, training_step
from vaegan.train import settings

K = get_backend("numpy")
MINI = ModelConfig(name="mini", width=16, height=12, z_dim=6, enc_widths=(4, 6), dec_start=6, dec_widths=(4, 3),
                   disc_widths=(4, 6), disc_strides=(2, 2), sim_layers=(0, 1))
MINI_FC = ModelConfig(name="mini_fc", width=8, height=8, z_dim=5, enc_widths=(3, 4), enc_fc=7, dec_start=4,
                      dec_widths=(4, 3), dec_final_conv=True, disc_widths=(3, 4, 4), disc_strides=(1, 2, 2),
                      disc_fc=6, sim_layers=(2,), enc_act="relu", disc_act="relu")
LOSS_OF = {
    "encoder": lambda L, tc: tc.kl_weight * L["kl"] + L["sim"] + tc.pixel_weight * L["pixel"],
    "decoder": lambda L, tc: tc.gamma * (L["sim"] + tc.pixel_weight * L["pixel"]) + tc.gen_weight * L["gen"],
    "discriminator": lambda L, tc: L["disc"],
}


def seed(**overrides):
    """The seed recipe's step (vaegan/recipes.py), with kl_weight 1 unless given: what these tests were
    written against (the routing holds for any settings; these give every loss term a visible weight)."""
    return settings("seed", **{"kl_weight": 1.0, **overrides}).train


def _inputs(cfg, rng, n=4):
    x = rng.uniform(-1, 1, (n, 3, cfg.height, cfg.width))
    return x, rng.standard_normal((n, cfg.z_dim)), rng.standard_normal((n, cfg.z_dim))


@pytest.mark.parametrize("cfg", [MINI, MINI_FC], ids=lambda c: c.name)
@pytest.mark.parametrize("tc", [seed(gamma=2.5, kl_weight=0.7),
                                seed(gen_loss="minimax", recon_as_fake=False, label_smoothing=0.1),
                                seed(gen_weight=0.3, pixel_weight=2.0, prior_bn_stats=False)],
                         ids=["nonsaturating", "minimax-no-rec", "pixel-gen-weight"])
def test_each_network_gets_the_gradient_of_its_own_loss(cfg, tc, rng):
    model = VAEGAN(K, cfg, seed=3, dtype="float64")
    x, eps, z_p = _inputs(cfg, rng)
    sigma = 0.8

    def losses():
        return {k: float(v) for k, v in forward_and_gradients(model, x, eps, z_p, sigma, tc)[0].items()}

    losses()
    analytic = {name: flat.grad.copy() for name, flat in model.flat.items()}
    for name, flat in model.flat.items():
        picks = rng.choice(flat.size, size=min(12, flat.size), replace=False)
        numeric = central_differences(lambda _: LOSS_OF[name](losses(), tc), flat.data, at=picks)
        got = analytic[name][picks]
        # float64 central differences with h=1e-6 are good to ~1e-8 relative on these smooth-almost-
        # everywhere losses; 1e-5 leaves room for a ReLU kink near a sample without hiding a wrong route.
        err = np.linalg.norm(numeric - got) / max(np.linalg.norm(numeric), 1e-12)
        assert err < 1e-5, f"{name}: gradient differs from finite differences of its loss (rel {err:.2e})"


@pytest.mark.parametrize("gen_loss", ["minimax", "nonsaturating"])
def test_prior_weight_scales_the_prior_pass_in_the_decoders_loss_only(gen_loss, rng):
    """prior_weight w: the decoder's loss is gamma * L_rec + gen_weight * (L_gen,rec + w * L_gen,p), checked
    against finite differences of that loss (L_gen,p: L_gen with reconstructions not shown as fakes); the
    encoder's and the discriminator's gradients are those of w = 1, which is the default."""
    assert TrainConfig().prior_weight == 1.0
    cfg, gen_weight, w = MINI, 0.3, 4.0
    # (the Laplacian error off: the reported `pixel` is L_pixel alone; its route: test_torch_oracle.py)
    tc = TrainConfig(gen_loss=gen_loss, gen_weight=gen_weight, pixel_weight=2.0, prior_weight=w, kl_weight=1.0,
                     laplacian_weight=0.0)
    only_p = TrainConfig(gen_loss=gen_loss, recon_as_fake=False, kl_weight=1.0)
    model = VAEGAN(K, cfg, seed=5, dtype="float64")
    x, eps, z_p = _inputs(cfg, rng)

    def losses(t):
        return {k: float(v) for k, v in forward_and_gradients(model, x, eps, z_p, 0.8, t)[0].items()}

    def decoder_loss():
        L, gen_p = losses(tc), losses(only_p)["gen"]
        return tc.gamma * (L["sim"] + tc.pixel_weight * L["pixel"]) + gen_weight * (L["gen"] + (w - 1) * gen_p)

    losses(replace(tc, prior_weight=1.0))
    at_one = {name: flat.grad.copy() for name, flat in model.flat.items()}
    losses(tc)
    got = {name: flat.grad.copy() for name, flat in model.flat.items()}
    for name in ("encoder", "discriminator"):
        np.testing.assert_array_equal(got[name], at_one[name], err_msg=name)
    assert not np.allclose(got["decoder"], at_one["decoder"])
    flat, h = model.flat["decoder"], 1e-6
    picks = rng.choice(flat.size, size=16, replace=False)
    numeric = []
    for i in picks:
        keep = flat.data[i]
        flat.data[i] = keep + h
        up = decoder_loss()
        flat.data[i] = keep - h
        down = decoder_loss()
        flat.data[i] = keep
        numeric.append((up - down) / (2 * h))
    numeric = np.array(numeric)
    err = np.linalg.norm(numeric - got["decoder"][picks]) / np.linalg.norm(numeric)
    assert err < 1e-5, f"decoder: gradient differs from finite differences of its loss (rel {err:.2e})"


def test_parameter_sets_are_disjoint_and_complete():
    model = VAEGAN(K, MINI, seed=0)
    seen = {}
    for name, net in model.networks().items():
        flat = model.flat[name]
        params = net.parameters()
        assert sum(p.data.size for p in params) == flat.size, f"{name}: flat buffer does not cover its parameters"
        for p in params:
            assert np.shares_memory(p.data, flat.data) and np.shares_memory(p.grad, flat.grad)
            assert id(p) not in seen, f"parameter shared between {seen.get(id(p))} and {name}"
            seen[id(p)] = name
    flats = list(model.flat.values())
    for a in flats:
        for b in flats:
            assert a is b or not np.shares_memory(a.data, b.data)


def _optimizers(model, tc):
    return {n: Adam(K, f, lr=tc.lr, beta1=tc.beta1) for n, f in model.flat.items()}


def test_each_update_moves_exactly_its_network(rng, monkeypatch):
    tc = seed(equilibrium=0.68, margin=0.35)
    model = VAEGAN(K, MINI, seed=1)
    opts = _optimizers(model, tc)
    x, eps, z_p = (a.astype("float32") for a in _inputs(MINI, rng))
    import vaegan.step as step
    for forced in [(True, False), (False, True), (True, True)]:
        monkeypatch.setattr(step, "equilibrium_rule", lambda *a, f=forced: f)
        before = {n: f.data.copy() for n, f in model.flat.items()}
        _, updated = training_step(model, opts, x, eps, z_p, 1.0, tc)
        assert updated == {"encoder": True, "decoder": forced[1], "discriminator": forced[0]}
        for n, f in model.flat.items():
            assert (not np.array_equal(before[n], f.data)) == updated[n], n


def test_equilibrium_rule():
    from vaegan.step import equilibrium_rule
    tc = TrainConfig(equilibrium=0.68, margin=0.35)
    assert equilibrium_rule(tc, 0.2, 0.7) == (False, True)    # discriminator winning on reals: it rests
    assert equilibrium_rule(tc, 1.2, 0.7) == (True, False)    # discriminator losing: the decoder rests
    assert equilibrium_rule(tc, 0.2, 1.2) == (True, True)     # both would rest: both train
    assert equilibrium_rule(TrainConfig(), 0.0, 9.0) == (True, True)  # rule off


@pytest.mark.parametrize("prior_bn_stats", [True, False])
def test_the_prior_pass_moves_the_decoders_running_statistics_only_when_asked(rng, prior_bn_stats):
    """Two steps' forwards that differ only in z_p: the decoder's running statistics differ between
    them exactly when its pass on z_p updates them (prior_bn_stats)."""
    tc = seed(prior_bn_stats=prior_bn_stats)
    x, eps, z_p = _inputs(MINI, rng)
    stats = []
    for prior in (z_p, 3.0 * z_p + 1.0):
        model = VAEGAN(K, MINI, seed=4, dtype="float64")
        forward_and_gradients(model, x, eps, prior, 0.5, tc)
        stats.append(np.concatenate([np.ravel(b) for _, b in model.decoder.named_buffers()]))
    assert stats[0].size > 0
    assert np.array_equal(stats[0], stats[1]) != prior_bn_stats


def test_non_finite_loss_updates_nothing(rng):
    tc = seed()
    model = VAEGAN(K, MINI, seed=2)
    opts = _optimizers(model, tc)
    x, eps, z_p = (a.astype("float32") for a in _inputs(MINI, rng))
    x[0, 0, 0, 0] = np.nan
    before = {n: f.data.copy() for n, f in model.flat.items()}
    losses, updated = training_step(model, opts, x, eps, z_p, 1.0, tc)
    assert updated is None and not all(np.isfinite(v) for v in losses.values())
    for n, f in model.flat.items():
        np.testing.assert_array_equal(before[n], f.data)


def test_a_few_steps_lower_the_reconstruction_error(monkeypatch):
    """Eight frames of the generated clip, 60 steps: the reconstruction error the VAE-GAN minimises,
    L_sim (measured in the discriminator's features), must fall well below where it started. The
    discriminator is held still (the equilibrium rule forced to rest it), so that the metric does not
    move under the measurement; a wrong route of the encoder's or decoder's gradient leaves L_sim flat
    or rising. (Pixel error falls too, but slowly: the model is not asked to match pixels.)"""
    import vaegan.step as step
    from vaegan.media.framestore import to_float_batch
    from vaegan.media.sample_clip import generated_frames
    from vaegan.step import larsen_kl_weight

    monkeypatch.setattr(step, "equilibrium_rule", lambda *a: (False, True))
    tc = seed(kl_weight=larsen_kl_weight(MINI))
    model = VAEGAN(K, MINI, seed=2)
    opts = _optimizers(model, tc)
    x = to_float_batch(np.stack(list(generated_frames(size=(16, 12), shot_frames=10)))[::4][:8])
    sim = []
    for s in range(60):
        g = np.random.default_rng(s)
        eps, z_p = (g.standard_normal((8, MINI.z_dim)).astype("float32") for _ in range(2))
        losses, updated = training_step(model, opts, x, eps, z_p, 0.5, tc)
        assert updated == {"encoder": True, "decoder": True, "discriminator": False}
        sim.append(losses["sim"])
    assert np.mean(sim[-5:]) < 0.85 * np.mean(sim[:5]), sim[::10]


@pytest.mark.parametrize("cfg", [MINI, MINI_FC], ids=lambda c: c.name)
def test_larsen_kl_weight_counts_the_features_the_similarity_compares(cfg, rng):
    from vaegan.step import larsen_kl_weight
    model = VAEGAN(K, cfg, seed=0)
    x = rng.uniform(-1, 1, (2, 3, cfg.height, cfg.width)).astype("float32")
    _, ctx = model.discriminator.forward(x, "train", features=True)
    per_frame = sum(t[0].size for t in ctx.taps.values())
    assert cfg.similarity_features() == per_frame
    assert larsen_kl_weight(cfg) == cfg.z_dim / per_frame
