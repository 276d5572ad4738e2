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
              paper writes it) or bce(Dis(x_rec), 1) + bce(Dis(x_p), 1) ("nonsaturating", the usual
              practice and our default: -log(1 - D) has no gradient where D is sure of a fake)

    L_pixel = mse(x_rec, x)                          the error a person measures (PSNR)
    L_rec   = L_sim + pixel_weight * L_pixel        the reconstruction error; pixel_weight 0 is the
              paper's (learned similarity alone); > 0 adds the pixel error as a second term

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
"""
import math
from dataclasses import dataclass

import numpy as np

from .distributed import SINGLE

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


@dataclass(frozen=True)
class TrainConfig:
    gamma: float = 2.5              # weight of L_sim in the decoder's loss (Broad's setting)
    kl_weight: float = 1.0          # the CLI's default is "auto": larsen_kl_weight(model config)
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    gen_loss: str = "nonsaturating"  # or "minimax"
    gen_weight: float = 1.0         # weight of L_gen in the decoder's loss
    pixel_weight: float = 0.0       # weight of the pixel error in L_rec (0: the learned similarity alone)
    prior_bn_stats: bool = True     # the decoder's pass on z_p updates its batch-norm running statistics
                                    # too (as PyTorch would); False: only the reconstruction pass does
    recon_as_fake: bool = True      # show reconstructions to the discriminator as fakes
    label_smoothing: float = 0.0    # the discriminator's target for real frames is 1 - this
    equilibrium: float = 0.0        # Larsen's rule; 0 disables it (0.68 in his code)
    margin: float = 0.35
    temporal_weight: float = 0.0    # > 0: batches of adjacent-frame pairs, and the encoder's loss gains
                                    # this x L_temp, neighbours' latents held together (temporal.py)
    prior_weight: float = 1.0       # the prior pass's share of L_gen: its x_p = Dec(z_p) term weighs
                                    # gen_weight * prior_weight in the decoder's loss, the x_rec term
                                    # gen_weight; the discriminator's loss L_GAN is not changed

    def validate(self):
        if self.gen_loss not in ("nonsaturating", "minimax"):
            raise ValueError(f"gen_loss must be 'nonsaturating' or 'minimax', got {self.gen_loss!r}")
        for name in ("gamma", "kl_weight", "lr", "gen_weight", "pixel_weight", "temporal_weight", "prior_weight"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        if not 0 <= self.label_smoothing < 0.5:
            raise ValueError(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        return self


def forward_and_gradients(model, x, eps, z_p, sigma, tc):
    """The whole step up to (not including) the updates. Each network's gradient buffer ends up
    holding the gradient of that network's loss. Returns (losses: name -> 0-d array, balance) where
    balance = (the discriminator's loss on reals, on fakes) for the equilibrium rule."""
    K = model.K
    enc, dec, dis = model.encoder, model.decoder, model.discriminator
    for flat in model.flat.values():
        flat.zero_grad()

    # --- forward -------------------------------------------------------------------------------
    mu, logvar, enc_ctx = enc.forward(x, "train")
    z, kl = K.reparam_kl_forward(mu, logvar, eps, sigma)
    x_rec, dec_rec = dec.forward(z, "train")
    # "batch" normalises with the batch's statistics as "train" does, without touching the running
    # statistics: with prior_bn_stats off, the statistics a film is re-imagined with are those of z ~ q(z|x)
    x_p, dec_p = dec.forward(z_p, "train" if tc.prior_bn_stats else "batch")
    logit_real, dis_real = dis.forward(x, "train", features=True)
    logit_rec, dis_rec = dis.forward(x_rec, "train", features=True)
    logit_p, dis_p = dis.forward(x_p, "train")

    # --- losses and their gradients at the networks' outputs ---------------------------------
    taps = dis.sim_taps
    sim, dsim = 0.0, {}
    for t in taps:  # the real frame's features are the target: no gradient flows into them
        loss_t, dsim[t] = K.mse(dis_rec.taps[t], dis_real.taps[t])
        sim = sim + loss_t / len(taps)
        dsim[t] = dsim[t] * (1.0 / len(taps))

    real_loss, d_real = K.bce_with_logits(logit_real, 1.0 - tc.label_smoothing)
    prior_loss, d_p = K.bce_with_logits(logit_p, 0.0)
    disc = real_loss + prior_loss
    fake_loss = prior_loss
    if tc.recon_as_fake:
        rec_loss, d_rec = K.bce_with_logits(logit_rec, 0.0)
        disc = disc + rec_loss
        fake_loss = 0.5 * (rec_loss + prior_loss)

    if tc.gen_loss == "minimax":      # L_gen = -(fake terms of L_GAN): the same gradients, negated
        gen = -(prior_loss + (rec_loss if tc.recon_as_fake else 0.0))
        g_p = -d_p
        g_rec = -d_rec if tc.recon_as_fake else None
    else:                             # L_gen = bce(D(x_p), 1) [+ bce(D(x_rec), 1)]
        gen, g_p = K.bce_with_logits(logit_p, 1.0)
        g_rec = None
        if tc.recon_as_fake:
            gen_rec, g_rec = K.bce_with_logits(logit_rec, 1.0)
            gen = gen + gen_rec
    g_p = g_p * (tc.gen_weight * tc.prior_weight)    # the reported `gen` stays L_gen, unweighted
    if g_rec is not None:
        g_rec = g_rec * tc.gen_weight
    pixel, dpixel = K.mse(x_rec, x)   # always reported; a loss term when pixel_weight > 0

    # --- discriminator <- d(L_GAN): weight gradients only ---------------------------------------
    dis.backward(d_real, dis_real, need_dx=False)
    dis.backward(d_p, dis_p, need_dx=False)
    if tc.recon_as_fake:
        dis.backward(d_rec, dis_rec, need_dx=False)

    # --- decoder <- d(gamma * L_sim + L_gen): data gradients through the discriminator ------------
    gamma_dsim = {t: g * tc.gamma for t, g in dsim.items()}
    dx_rec = dis.backward(g_rec, dis_rec, feature_grads=gamma_dsim, param_grads=False)
    dx_p = dis.backward(g_p, dis_p, param_grads=False)
    if tc.pixel_weight:
        dx_rec = dx_rec + dpixel * (tc.gamma * tc.pixel_weight)
    dec.backward(dx_rec, dec_rec, need_dz=False)
    dec.backward(dx_p, dec_p, need_dz=False)

    # --- encoder <- d(kl_weight * L_prior + L_rec): L_rec's gradient alone, through the decoder ----
    dx_rec_sim = dis.backward(None, dis_rec, feature_grads=dsim, param_grads=False)
    if tc.pixel_weight:
        dx_rec_sim = dx_rec_sim + dpixel * tc.pixel_weight
    dz = dec.backward(dx_rec_sim, dec_rec, param_grads=False)
    dmu, dlogvar = K.reparam_kl_backward(dz, mu, logvar, eps, sigma, tc.kl_weight)
    if tc.temporal_weight:            # + temporal_weight * L_temp: x is a batch of adjacent pairs (temporal.py)
        from .temporal import pair_change, temporal_loss
        _, dtemp = temporal_loss(K.xp, mu, pair_change(K.xp, x))
        dmu = dmu + dtemp * tc.temporal_weight
    enc.backward(dmu, dlogvar, enc_ctx)

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


def training_step(model, optimizers, x, eps, z_p, sigma, tc, comm=SINGLE):
    """Gradients, a finiteness check, then the updates. Returns (host losses, which nets updated).
    If any loss is NaN/Inf no weight moves, and the caller decides what to do.

    Among ranks (vaegan/distributed.py; x, eps, z_p this rank's share of the global batch, the model's
    batch-norms synchronised by model.use_communicator), each network's gradient buffer is averaged over
    the ranks by one all-reduce before its update: every rank then applies the same update."""
    losses, balance, _, _ = forward_and_gradients(model, x, eps, z_p, sigma, tc)
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
