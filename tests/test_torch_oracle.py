"""Our VAE-GAN step against an independent one: PyTorch's CPU build, in float64.

The finite-difference checks (test_vaegan_step.py) prove each network gets the gradient of ITS OWN
loss; they cannot tell whether that loss is the right one: a discriminator told that real frames are
fakes (target 0 instead of 1), a KL with a wrong sign or a similarity measured on the wrong layer is
differentiated perfectly. Here the losses come from a second, independent implementation: the twin
step of bench/torch_peer.py (the same networks in torch.nn, the losses with torch's own BCE/MSE, each
network's gradient from torch.autograd), started from our weights, fed the same frames and noise.

    1. forward_and_gradients vs torch_peer.gradients: every loss, and the gradient of every parameter
       tensor of every network;
    2. three training_steps vs three torch_peer.training_steps (torch.optim.Adam): every parameter's
       change and every batch-norm running statistic after each step, and the losses of each step.

Both sides are float64, so they differ only by summation order: measured, at most 1.3e-14 relative
on any loss or gradient tensor, 8e-11 on the running statistics after three steps (see ADAM_EPS).
REL_TOL = 1e-9 is ten times above the worst of those and far below any planted routing or loss
mistake (a flipped target moves the losses by O(1) and the gradients by O(0.1) relative).

PyTorch is a test-only dependency (.ci/run installs it; the package never imports it). Where it is
missing the tests skip, except on CI (CI=true), where they fail: the oracle must run there.
"""

import numpy as np
import pytest

from bench import torch_peer
from kernels import get_backend
from vaegan.config import ModelConfig
from vaegan.model import VAEGAN
from vaegan.optim import Adam
from vaegan.step import forward_and_gradients, training_step
from vaegan.train import settings
from tests.optional import require

REL_TOL = 1e-9
ZERO = 1e-12    # a gradient this small against its network's whole gradient is rounding noise
# Adam's eps on both sides in the step test: 1e-4, not the default 1e-8. Adam turns the ~1e-17 rounding
# noise of a structurally-zero gradient (below) into an update of lr * noise / eps, different on the two
# sides, and the batch-norm after that bias carries it into its running mean: measured 5e-7 relative
# after two steps at eps 1e-8, 5e-9 at 1e-6, 8e-11 at 1e-4 (it scales as 1 / eps). The update's
# formula, bias corrections and moments are checked just the same.
ADAM_EPS = 1e-4
K = get_backend("numpy")
# Small enough for a second per test, and between them every layer kind the presets use: stride-1 and
# stride-2 convolutions, batch-norm on 4-D and 2-D inputs, the FC heads, a final conv in the decoder,
# relu and leaky relu, one and several similarity layers.
CONFIGS = [
    ModelConfig(name="oracle", width=16, height=12, z_dim=6, enc_widths=(4, 6), dec_start=6, dec_widths=(5, 3),
                disc_widths=(4, 6), disc_strides=(2, 2), sim_layers=(0, 1)),
    ModelConfig(name="oracle_fc", width=8, height=8, z_dim=5, enc_widths=(3, 4), enc_fc=7, dec_start=4,
                dec_widths=(4, 3), dec_final_conv=True, disc_widths=(3, 4, 4), disc_strides=(1, 2, 2),
                disc_fc=6, sim_layers=(2,), enc_act="relu", disc_act="relu"),
]
# the seed recipe's step with its settings varied (vaegan/recipes.py), and the default recipe's own
# (the pixel term, the weighted minimax L_gen, a prior pass that leaves the statistics alone)
TRAIN_CONFIGS = {
    "nonsaturating": settings("seed", gamma=2.5, kl_weight=0.7, lr=1e-2).train,
    "minimax-smoothed": settings("seed", gamma=1.5, kl_weight=0.3, lr=1e-2, gen_loss="minimax",
                                 label_smoothing=0.1).train,
    "no-recon-as-fake": settings("seed", gamma=2.0, kl_weight=1.0, lr=1e-2, beta1=0.9, recon_as_fake=False).train,
    "default": settings("default", kl_weight=0.5, lr=1e-2).train,
    # minimax shares the discriminator's backward between its loss and the decoder's (vaegan/step.py):
    # without the reconstruction among the fakes, at another generator weight
    "minimax-no-recon-as-fake": settings("default", kl_weight=1.0, lr=1e-2, gen_weight=0.3,
                                         recon_as_fake=False).train,
    # the prior pass's share of L_gen (prior_weight), on the shared pass too
    "prior-weight": settings("seed", gamma=2.0, kl_weight=0.5, lr=1e-2, gen_loss="minimax", gen_weight=0.3,
                             pixel_weight=2.0, prior_weight=3.0).train,
    # the Laplacian error beside the pixel error (vaegan/laplacian_error.py; the peer's a depthwise conv2d)
    "laplacian": settings("default", kl_weight=0.5, lr=1e-2, pixel_weight=2.0, laplacian_weight=0.7).train,
}
SIGMA = 0.7


@pytest.fixture(scope="module")
def torch():
    torch = require("torch", "the loss oracle", "CI must install torch (see .ci/run)")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(previous)     # other modules' peers (bench/) build float32 networks


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def structurally_zero(g, whole):
    """A conv bias followed by batch-norm has a gradient of exactly 0 in exact arithmetic (the
    normalisation subtracts it out), and ~1e-17 of rounding noise on both sides: comparing that noise
    relatively means nothing, and Adam amplifies it to ~lr * noise / eps. Such a parameter is checked
    to have a negligible gradient on our side too, instead."""
    return np.linalg.norm(g) <= ZERO * np.linalg.norm(whole)


def twins(torch, cfg, seed):
    """Our float64 model and the peer's networks holding the same weights."""
    model = VAEGAN(K, cfg, seed=seed, dtype="float64")
    nets = torch_peer.build(torch, cfg, "cpu")
    for net in nets.values():
        net.double().train()
    torch_peer.load_weights(torch, nets, model, K.to_numpy)
    return model, nets


def inputs(cfg, seed, n=4):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (n, 3, cfg.height, cfg.width)), rng.standard_normal((n, cfg.z_dim)),
            rng.standard_normal((n, cfg.z_dim)))


def named_params(model, name):
    return list(model.networks()[name].named_parameters())


def running_stats(net_ours, net_theirs):
    """[(name, ours, theirs)] for every batch-norm running statistic, in registration order."""
    ours = list(net_ours.named_buffers())
    theirs = [b for n, b in net_theirs.named_buffers() if not n.endswith("num_batches_tracked")]
    assert len(ours) == len(theirs)
    return [(n, a, b.detach().numpy()) for (n, a), b in zip(ours, theirs)]


@pytest.mark.parametrize("tc_name", list(TRAIN_CONFIGS))
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.name)
def test_losses_and_gradients_match_pytorch(torch, cfg, tc_name):
    tc = TRAIN_CONFIGS[tc_name]
    model, nets = twins(torch, cfg, seed=5)
    x, eps, z_p = inputs(cfg, seed=11)
    ours, _, _, _ = forward_and_gradients(model, x, eps, z_p, SIGMA, tc)
    t = [torch.from_numpy(a) for a in (x, eps, z_p)]
    theirs, their_grads = torch_peer.gradients(torch, nets, cfg, tc, *t, SIGMA)
    for loss in torch_peer.LOSS_NAMES:
        a, b = float(ours[loss]), float(theirs[loss].detach())
        assert abs(a - b) <= REL_TOL * max(abs(b), 1e-12), f"loss {loss}: ours {a!r}, PyTorch {b!r}"
    for name in model.flat:
        mine = named_params(model, name)
        assert len(mine) == len(their_grads[name])
        whole = np.concatenate([g.numpy().ravel() for g in their_grads[name]])
        for (pname, p), g in zip(mine, their_grads[name]):
            g = g.numpy()
            if structurally_zero(g, whole):
                assert structurally_zero(p.grad, whole), f"{name}.{pname}: PyTorch's gradient is 0, ours is not"
                continue
            err = rel(p.grad, g)
            assert err <= REL_TOL, f"{name}.{pname}: gradient differs from PyTorch's (relative L2 {err:.2e})"


@pytest.mark.parametrize("tc_name", ["nonsaturating", "default"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.name)
def test_three_training_steps_match_pytorch_adam(torch, cfg, tc_name):
    """Adam's updates (bias corrections, both moments) and the running statistics, step by step (with the
    default recipe's prior pass, which leaves them alone)."""
    tc = TRAIN_CONFIGS[tc_name]
    model, nets = twins(torch, cfg, seed=2)
    optimizers = {n: Adam(K, f, lr=tc.lr, beta1=tc.beta1, beta2=tc.beta2, eps=ADAM_EPS) for n, f in model.flat.items()}
    their_optimizers = torch_peer.make_optimizers(torch, nets, tc)
    for optimizer in their_optimizers.values():
        for group in optimizer.param_groups:
            group["eps"] = ADAM_EPS
    for step in range(3):
        x, eps, z_p = inputs(cfg, seed=100 + step)
        before = {n: f.data.copy() for n, f in model.flat.items()}
        their_before = {n: [p.detach().clone() for p in net.parameters()] for n, net in nets.items()}
        host, updated = training_step(model, optimizers, x, eps, z_p, SIGMA, tc)
        assert updated == {"encoder": True, "decoder": True, "discriminator": True}
        their_host = torch_peer.training_step(torch, nets, their_optimizers, cfg, tc,
                                              *[torch.from_numpy(a) for a in (x, eps, z_p)], SIGMA)
        for loss, b in their_host.items():
            assert abs(host[loss] - b) <= REL_TOL * max(abs(b), 1e-12), f"step {step} loss {loss}: {host[loss]!r} vs {b!r}"
        for name, net in nets.items():
            offsets = np.cumsum([0] + [p.data.size for _, p in named_params(model, name)])
            whole = np.concatenate([t.grad.numpy().ravel() for t in net.parameters()])
            for i, ((pname, p), theirs, old) in enumerate(zip(named_params(model, name), net.parameters(),
                                                               their_before[name])):
                if structurally_zero(theirs.grad.numpy(), whole):
                    assert structurally_zero(p.grad, whole), f"step {step}: {name}.{pname}'s gradient is not 0"
                    continue
                ours_delta = p.data - before[name][offsets[i]:offsets[i + 1]].reshape(p.data.shape)
                err = rel(ours_delta, (theirs.detach() - old).numpy())
                assert err <= REL_TOL, f"step {step}: {name}.{pname}'s Adam update differs (relative L2 {err:.2e})"
            for bname, a, b in running_stats(model.networks()[name], net):
                err = rel(a, b)
                assert err <= REL_TOL, f"step {step}: {name}.{bname} differs (relative L2 {err:.2e})"
