"""One VAE-GAN training step (Larsen et al. 2016, Algorithm 1), with the gradient routing spelled out.

Forward:
    mu, logvar = Enc(x)
    z    = mu + sigma * exp(logvar/2) * eps          eps  ~ N(0, I)   (sigma: the noise schedule)
    x_rec = Dec(z),   x_p = Dec(z_p)                 z_p  ~ N(0, I)   (a sample from the prior)
    Dis(x), Dis(x_rec), Dis(x_p): logits, and Dis_l(.) the hidden feature maps of the chosen layers

Losses (all means, kernels/api.py):
    L_prior = KL(q(z|x) || N(0, I))
    L_sim   = mean over chosen layers l of mse(Dis_l(x_rec), Dis_l(x))   Dis_l(x) is a constant target
    L_GAN   = bce(Dis(x), 1) + bce(Dis(x_rec), 0) + bce(Dis(x_p), 0)     the discriminator's loss
    L_gen   = the decoder's adversarial loss: -(the x_rec and x_p terms of L_GAN)  ("minimax", as the
              paper writes it; gen_loss = "minimax" in the default recipe) or bce(Dis(x_rec), 1) +
              bce(Dis(x_p), 1) ("nonsaturating", the usual practice and the seed recipe's: -log(1 - D)
              has no gradient where D is sure of a fake)

    L_pixel = mse(x_rec, x)                          the error a person measures (PSNR)
    L_lap   = mse(L(x_rec), L(x))                    the same of their Laplacians: the error's fine detail
                                                     (laplacian_error.py)
    L_rec   = L_sim + pixel_weight * (L_pixel + laplacian_weight * L_lap)
              the reconstruction error; pixel_weight 0 is the paper's (learned similarity alone); > 0 adds
              the pixel error as a second term (pixel_weight = 30 in the default recipe), laplacian_weight
              its fine detail (the reported `pixel` is L_pixel alone)

Each network follows the gradient of its own loss only:
    encoder       <- d(kl_weight * L_prior + L_rec)  [+ temporal_weight * L_temp, temporal.py: off by default]
    decoder       <- d(gamma * L_rec + gen_weight * (L_gen,rec + prior_weight * L_gen,p))
                     L_gen's x_rec and x_p terms; prior_weight 1 (the default) is gen_weight * L_gen
    discriminator <- d(L_GAN)                         never of L_rec
Every gradient is computed from the same forward pass before any weight moves, then the three Adam
updates are applied (or skipped by the equilibrium rule). The same routing as a picture:
docs/gradients.svg; one frame followed through all of it, with links to each function: docs/journey.md.

Back-propagation is linear in the upstream gradient for a fixed forward pass, so the passes are shared
where the losses allow it: the decoder needs D^T(gamma * dL_sim + dL_gen) at x_rec, the encoder needs
Dec^T(D^T(dL_sim)) alone, and the discriminator's own weights need D^T(dL_GAN). Five backward passes
through the discriminator's data path would be naive; this does two at x_rec and one at x_p, plus
three weight-only passes.

The forward and the backward are each written as two lanes (vaegan/lanes.py). Forward: x -> x_rec ->
Dis(x_rec) in one, Dis(x) and z_p -> x_p -> Dis(x_p) in the other. Backward: the discriminator's
weight passes in one, handing its gradient at each fake over, the rest in the other. On a two-core CPU
they run at once; the numbers are those of running them one after the other.
"""
import math
from dataclasses import dataclass, replace

import numpy as np

from .distributed import SINGLE
from .lanes import Handoff, Lanes
from .laplacian_error import laplacian_error_gradient
from .recipes import RECIPES

LOSS_NAMES = ("kl", "sim", "disc", "gen", "pixel")


def larsen_kl_weight(cfg):
    """The KL weight that gives the prior term the weight it has in Larsen et al.

    Larsen's losses are per-frame SUMS: KL over the z_dim latent numbers, the feature error over the F
    numbers the similarity compares (cfg.similarity_features()). Ours are MEANS (so that gamma is O(1)):
    L_prior = KL_sum / z_dim and L_sim ~ F_sum / F (exactly so for one layer). So
        KL_sum + F_sum  ~  z_dim * L_prior + F * L_sim  =  F * (z_dim / F * L_prior + L_sim),
    and the encoder's loss L_sim + w * L_prior has Larsen's balance at w = z_dim / F: about 1.5e-3 for
    `tiny`, 1.4e-4 for `broad256x144`. With w = 1 the prior weighs F / z_dim (hundreds of) times more
    than in the paper, the posterior collapses towards N(0, I) and every reconstruction looks alike."""
    return cfg.z_dim / cfg.similarity_features()


_DEFAULT = RECIPES["default"]


@dataclass(frozen=True)
class TrainConfig:
    """The step's settings. Every field a recipe sets (vaegan/recipes.py) takes its default from the
    default recipe, read from RECIPES there: TrainConfig() is what `python cli.py train` trains with, and
    the numbers are written once. The other recipes, and a recipe with overrides: vaegan.train.settings.

    kl_weight is a number, or a spec of one, as the recipes and --kl-weight write it: "auto" (Larsen's
    balance for the model, larsen_kl_weight) or "auto*N" (N times that, the default recipe's "auto*30").
    A spec needs the model's config; resolved(cfg) turns it into the number (train.settings and
    new_run do), and the step takes numbers only: forward_and_gradients refuses a spec. A run's
    config.json and checkpoint keep the resolved number."""
    gamma: float = _DEFAULT["gamma"]            # weight of L_rec in the decoder's loss (Broad's setting)
    kl_weight: float | str = _DEFAULT["kl_weight"]   # weight of L_prior in the encoder's loss, or a spec
    lr: float = _DEFAULT["lr"]
    beta1: float = 0.5
    beta2: float = 0.999
    gen_loss: str = _DEFAULT["gen_loss"]        # "minimax" or "nonsaturating"
    gen_weight: float = _DEFAULT["gen_weight"]  # weight of L_gen in the decoder's loss
    pixel_weight: float = _DEFAULT["pixel_weight"]   # weight of the pixel error in L_rec (0: L_sim alone)
    prior_bn_stats: bool = _DEFAULT["prior_bn_stats"]   # the decoder's pass on z_p updates its batch-norm
                                    # running statistics too (as PyTorch would); False: only the reconstruction pass does
    recon_as_fake: bool = True      # show reconstructions to the discriminator as fakes
    label_smoothing: float = 0.0    # the discriminator's target for real frames is 1 - this
    equilibrium: float = 0.0        # Larsen's rule; 0 disables it (0.68 in his code)
    margin: float = 0.35
    temporal_weight: float = 0.0    # > 0: batches of adjacent-frame pairs, and the encoder's loss gains
                                    # this x L_temp, neighbours' latents held together (temporal.py)
    prior_weight: float = _DEFAULT["prior_weight"]   # the prior pass's share of L_gen: its x_p = Dec(z_p) term weighs
                                    # gen_weight * prior_weight in the decoder's loss, the x_rec term
                                    # gen_weight; the discriminator's loss L_GAN is not changed
    laplacian_weight: float = _DEFAULT["laplacian_weight"]   # weight of L_lap beside L_pixel in the pixel term

    def resolved(self, cfg):
        """This config with kl_weight a number for the model config `cfg`: "auto" -> larsen_kl_weight(cfg),
        "auto*N" -> N times that (the same multiple of Larsen's balance for every preset), a number given
        as text -> float. ValueError for anything else."""
        w = self.kl_weight
        if w == "auto":
            return replace(self, kl_weight=larsen_kl_weight(cfg))
        if isinstance(w, str) and w.replace(" ", "").startswith("auto*"):
            try:
                times = float(w.replace(" ", "")[len("auto*"):])
            except ValueError:
                times = float("nan")
            if not (times >= 0 and times < float("inf")):
                raise ValueError(f"--kl-weight auto*N needs a non-negative number N, got {w!r}")
            return replace(self, kl_weight=times * larsen_kl_weight(cfg))
        try:
            return replace(self, kl_weight=float(w))
        except (TypeError, ValueError):
            raise ValueError(f"--kl-weight must be a number or 'auto', got {w!r}") from None

    def validate(self):
        if self.gen_loss not in ("nonsaturating", "minimax"):
            raise ValueError(f"gen_loss must be 'nonsaturating' or 'minimax', got {self.gen_loss!r}")
        for name in ("gamma", "kl_weight", "lr", "gen_weight", "pixel_weight", "temporal_weight", "prior_weight",
                     "laplacian_weight"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        if not 0 <= self.label_smoothing < 0.5:
            raise ValueError(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        return self


def forward_and_gradients(model, x, eps, z_p, sigma, tc, lanes=None):
    """The whole step up to (not including) the updates. Each network's gradient buffer ends up
    holding the gradient of that network's loss. Returns (losses: name -> 0-d array, balance, x_rec,
    x_p) where balance = (the discriminator's loss on reals, on fakes) for the equilibrium rule.

    Each phase is two lanes (vaegan/lanes.py), run at once on a NumPy host with two cores, else in
    order: `lanes` (a Lanes) says which; by default the backend's choice. The numbers are the same to
    the bit either way."""
    if isinstance(tc.kl_weight, str):
        raise ValueError(f"kl_weight {tc.kl_weight!r} is a spec, not a number: the step takes "
                         f"tc.resolved(model.cfg)")
    # Gradient names: d<loss>_<at> is the gradient of <loss> with respect to the tensor <at>.
    #   <loss>  gan: L_GAN (the discriminator's)      gen: gen_weight * L_gen      sim: L_sim
    #           pixel: L_pixel     temp: L_temp     dec: the decoder's whole loss     enc: L_rec, the
    #           encoder's part that reaches it through the decoder
    #   <at>    real, rec, p: the logits Dis(x), Dis(x_rec), Dis(x_p)     xrec, xp: the frames x_rec, x_p
    #           mu: the encoder's mean     dsim, no <at>: a dict, tap -> at that tap's features of x_rec
    # A weight in front names a multiple (gamma_dsim = gamma * dsim). dz, dmu, dlogvar: the encoder's
    # whole loss at the sampler's output and inputs, as the backends name them.
    K = model.K
    lanes = lanes if lanes is not None else Lanes(K)
    enc, dec, dis = model.encoder, model.decoder, model.discriminator
    for flat in model.flat.values():
        flat.zero_grad()

    # --- forward: two lanes that share nothing, x -> x_rec -> Dis(x_rec) beside Dis(x), z_p -> x_p -> Dis(x_p)
    # Both run their batch-norms in "batch" mode (the batch's statistics, as "train"), and the running
    # statistics are updated after them, in the order a one-lane step would update them.
    mu = logvar = enc_ctx = kl = x_rec = dec_rec = logit_rec = dis_rec = None      # the first lane's
    logit_real = dis_real = x_p = dec_p = logit_p = dis_p = None                     # the second's

    def reconstruction_forward():
        nonlocal mu, logvar, enc_ctx, kl, x_rec, dec_rec, logit_rec, dis_rec
        mu, logvar, enc_ctx = enc.forward(x, "train")
        z, kl = K.reparam_kl_forward(mu, logvar, eps, sigma)
        x_rec, dec_rec = dec.forward(z, "batch")
        logit_rec, dis_rec = dis.forward(x_rec, "batch", features=True)

    def real_and_prior_forward():
        nonlocal logit_real, dis_real, x_p, dec_p, logit_p, dis_p
        logit_real, dis_real = dis.forward(x, "batch", features=True)
        x_p, dec_p = dec.forward(z_p, "batch")
        logit_p, dis_p = dis.forward(x_p, "batch")

    lanes.run(reconstruction_forward, real_and_prior_forward)
    dec.update_running_statistics(dec_rec)
    # with prior_bn_stats off, the statistics a film is re-imagined with are those of z ~ q(z|x) alone
    if tc.prior_bn_stats:
        dec.update_running_statistics(dec_p)
    for dis_ctx in (dis_real, dis_rec, dis_p):
        dis.update_running_statistics(dis_ctx)

    # --- losses and their gradients at the networks' outputs ---------------------------------
    taps = dis.sim_taps
    sim, dsim = 0.0, {}
    for t in taps:  # the real frame's features are the target: no gradient flows into them
        loss_t, dsim[t] = K.mse(dis_rec.taps[t], dis_real.taps[t])
        sim = sim + loss_t / len(taps)
        dsim[t] = dsim[t] * (1.0 / len(taps))

    real_loss, dgan_real = K.bce_with_logits(logit_real, 1.0 - tc.label_smoothing)
    prior_loss, dgan_p = K.bce_with_logits(logit_p, 0.0)
    disc = real_loss + prior_loss
    fake_loss = prior_loss
    if tc.recon_as_fake:
        rec_loss, dgan_rec = K.bce_with_logits(logit_rec, 0.0)
        disc = disc + rec_loss
        fake_loss = 0.5 * (rec_loss + prior_loss)

    if tc.gen_loss == "minimax":      # L_gen = -(fake terms of L_GAN): the same gradients, negated
        gen = -(prior_loss + (rec_loss if tc.recon_as_fake else 0.0))
        dgen_p = -dgan_p
        dgen_rec = -dgan_rec if tc.recon_as_fake else None
    else:                             # L_gen = bce(D(x_p), 1) [+ bce(D(x_rec), 1)]
        gen, dgen_p = K.bce_with_logits(logit_p, 1.0)
        dgen_rec = None
        if tc.recon_as_fake:
            gen_rec, dgen_rec = K.bce_with_logits(logit_rec, 1.0)
            gen = gen + gen_rec
    dgen_p = dgen_p * (tc.gen_weight * tc.prior_weight)   # the reported `gen` stays L_gen, unweighted
    if dgen_rec is not None:
        dgen_rec = dgen_rec * tc.gen_weight
    pixel, dpixel_xrec = K.mse(x_rec, x)     # always reported; a loss term when pixel_weight > 0
    if tc.pixel_weight and tc.laplacian_weight:
        dpixel_xrec = dpixel_xrec + laplacian_error_gradient(x_rec, x) * tc.laplacian_weight

    # --- discriminator <- d(L_GAN); decoder <- d(gamma * L_rec + gen_weight * L_gen); encoder <- d(L_rec)
    # A network's backward is linear in the gradient fed into it (every layer's backward is, given the
    # forward's saved values). With the minimax L_gen = -(fake terms of L_GAN), dgen at a fake's logits
    # is -gen_weight * dgan there (times prior_weight at x_p's), so the decoder's gradient at that fake
    # frame is the same multiple of the one the discriminator's own backward computes on the way to its
    # weight gradients: one pass per fake serves both networks. B(g) is the discriminator's backward of
    # g at x_rec:
    #   ddec_xrec = -gen_weight * B(dgan_rec) + gamma * B(dsim),  and  denc_xrec = B(dsim)  (+ pixel terms)
    # The discriminator's lane adds its weight gradients (and hands over B(dgan) at each fake); the
    # generator's lane runs the passes through it that add no weight gradient, then the decoder's and
    # the encoder's backwards.
    shared = tc.gen_loss == "minimax"
    dgan_xrec_ready, dgan_xp_ready = Handoff("dgan_xrec"), Handoff("dgan_xp")

    def discriminator_backward():
        if tc.recon_as_fake:
            dgan_xrec_ready.give(dis.backward(dgan_rec, dis_rec, need_dx=shared))
        dgan_xp_ready.give(dis.backward(dgan_p, dis_p, need_dx=shared))
        dis.backward(dgan_real, dis_real, need_dx=False)

    def generator_backward():
        denc_xrec = dis.backward(None, dis_rec, feature_grads=dsim, param_grads=False)
        if shared:
            ddec_xrec = denc_xrec * tc.gamma
        else:
            gamma_dsim = {t: g * tc.gamma for t, g in dsim.items()}
            ddec_xrec = dis.backward(dgen_rec, dis_rec, feature_grads=gamma_dsim, param_grads=False)
            ddec_xp = dis.backward(dgen_p, dis_p, param_grads=False)
        if tc.pixel_weight:
            denc_xrec = denc_xrec + dpixel_xrec * tc.pixel_weight

        # encoder <- d(kl_weight * L_prior + L_rec): L_rec's gradient alone, through the decoder
        dz = dec.backward(denc_xrec, dec_rec, param_grads=False)
        dmu, dlogvar = K.reparam_kl_backward(dz, mu, logvar, eps, sigma, tc.kl_weight)
        if tc.temporal_weight:        # + temporal_weight * L_temp: x is a batch of adjacent pairs (temporal.py)
            from .temporal import pair_change, temporal_loss
            _, dtemp_mu = temporal_loss(K.xp, mu, pair_change(K.xp, x))
            dmu = dmu + dtemp_mu * tc.temporal_weight
        enc.backward(dmu, dlogvar, enc_ctx)

        # decoder <- its whole loss, at x_rec and at x_p
        if shared:
            if tc.recon_as_fake:
                ddec_xrec = ddec_xrec + dgan_xrec_ready.take() * (-tc.gen_weight)
            ddec_xp = dgan_xp_ready.take() * (-tc.gen_weight * tc.prior_weight)
        if tc.pixel_weight:
            ddec_xrec = ddec_xrec + dpixel_xrec * (tc.gamma * tc.pixel_weight)
        dec.backward(ddec_xrec, dec_rec, need_dz=False)
        dec.backward(ddec_xp, dec_p, need_dz=False)

    lanes.run(discriminator_backward, generator_backward, (dgan_xrec_ready, dgan_xp_ready))

    losses = {"kl": kl, "sim": sim, "disc": disc, "gen": gen, "pixel": pixel}
    return losses, (real_loss, fake_loss), x_rec, x_p


def losses_to_host(K, losses, balance, comm=SINGLE):
    """One device-to-host copy for all the step's scalars (the only sync of a step). Among ranks, the
    mean over them first (one all-reduce of seven numbers): each rank's losses are means over its equal
    share, so that is the global batch's loss, the same number on every rank."""
    xp = K.xp
    values = xp.stack([xp.asarray(losses[n]) for n in LOSS_NAMES] + [xp.asarray(b) for b in balance])
    values = K.to_numpy(comm.allreduce_mean(values))
    host = {n: float(v) for n, v in zip(LOSS_NAMES, values)}
    return host, (float(values[-2]), float(values[-1]))


def equilibrium_rule(tc, real_loss, fake_loss):
    """Larsen's balancing: (update discriminator?, update decoder?). The discriminator rests while it
    wins by a margin (its loss on reals or fakes under equilibrium - margin); the decoder rests while
    it loses by a margin; if both would rest, both train."""
    if not tc.equilibrium:
        return True, True
    train_dis = not (real_loss < tc.equilibrium - tc.margin or fake_loss < tc.equilibrium - tc.margin)
    train_dec = not (real_loss > tc.equilibrium + tc.margin or fake_loss > tc.equilibrium + tc.margin)
    if not (train_dis or train_dec):
        return True, True
    return train_dis, train_dec


def training_step(model, optimizers, x, eps, z_p, sigma, tc, comm=SINGLE, lanes=None):
    """Gradients, a finiteness check, then the updates. Returns (host losses, which nets updated).
    If any loss is NaN/Inf no weight moves, and the caller decides what to do.

    Among ranks (vaegan/distributed.py; x, eps, z_p this rank's share of the global batch, the model's
    batch-norms synchronised by model.use_communicator), each network's gradient buffer is averaged over
    the ranks by one all-reduce before its update: every rank then applies the same update.

    lanes: how the step's two lanes run (a vaegan.lanes.Lanes; by default the backend's choice), and
    always in order among ranks."""
    if comm.size > 1:   # among ranks the lanes run in order: the synchronised batch-norm's collectives
        lanes = Lanes(model.K, concurrent=False)                    # must come in the same order on each
    losses, balance, _, _ = forward_and_gradients(model, x, eps, z_p, sigma, tc, lanes)
    host, (real_loss, fake_loss) = losses_to_host(model.K, losses, balance, comm)
    if not all(np.isfinite(v) for v in host.values()):
        return host, None
    train_dis, train_dec = equilibrium_rule(tc, real_loss, fake_loss)
    updated = {"encoder": True, "decoder": train_dec, "discriminator": train_dis}
    for name, go in updated.items():
        if go:
            comm.allreduce_mean(optimizers[name].flat.grad)
            optimizers[name].step()
    return host, updated
