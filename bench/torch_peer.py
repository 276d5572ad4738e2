"""The same VAE-GAN training step in plain PyTorch: the peer bench.train compares our step with.

Only bench/ imports this, and only after bench.peers.load_torch() found PyTorch; the package never
needs it. The networks are built from the same ModelConfig as vaegan/model.py (5x5 kernels, padding 2,
batch-norm on every conv block but the first, the same activations, logvar = B * tanh(raw / B)), with
their parameters registered in the same order as ours, so that `load_weights` can copy our initial
weights across and both steps start from the same numbers.

The step is vaegan/step.py's, written the way one writes it in PyTorch: one forward (encoder once,
decoder twice, discriminator three times), the losses, then each network's gradient taken with
torch.autograd.grad of its own loss only:
    encoder       <- d(kl_weight * L_prior + L_sim)
    decoder       <- d(gamma * L_sim + L_gen)
    discriminator <- d(L_GAN)                    (the real frame's features are a detached target)
and three torch.optim.Adam updates (lr, beta1, beta2 of the TrainConfig). The losses come to the host
in one copy per step, as ours do. The equilibrium rule is not mirrored (the benchmark runs without it).
"""
LOSS_NAMES = ("kl", "sim", "disc", "gen")


def build(torch, cfg, device):
    """{"encoder", "decoder", "discriminator"} -> torch modules for ModelConfig `cfg`, on `device`."""
    nn = torch.nn
    pad = cfg.padding          # as vaegan/model.py: "same" at stride 1, exact halving at stride 2

    def act(name):
        return nn.LeakyReLU(cfg.slope) if name == "lrelu" else nn.ReLU()

    def conv_blocks(widths, strides, act_name):
        blocks, c_in = [], 3
        for i, (c_out, stride) in enumerate(zip(widths, strides)):
            layers = [nn.Conv2d(c_in, c_out, cfg.kernel, stride, pad)]
            layers += [nn.BatchNorm2d(c_out)] if i > 0 else []
            blocks.append(nn.Sequential(*layers, act(act_name)))
            c_in = c_out
        return blocks

    def dense_head(features, width, act_name):
        """[Linear + BN + act] when width > 0; returns (layers, features out)."""
        if not width:
            return [], features
        return [nn.Linear(features, width), nn.BatchNorm1d(width), act(act_name)], width

    h, w = cfg.bottleneck
    fc, features = dense_head(cfg.enc_widths[-1] * h * w, cfg.enc_fc, cfg.enc_act)
    encoder = nn.ModuleDict(dict(
        body=nn.Sequential(*conv_blocks(cfg.enc_widths, (2,) * cfg.stages, cfg.enc_act), nn.Flatten(), *fc),
        mu=nn.Linear(features, cfg.z_dim), logvar=nn.Linear(features, cfg.z_dim)))

    dec = [nn.Linear(cfg.z_dim, cfg.dec_start * h * w), nn.Unflatten(1, (cfg.dec_start, h, w)),
           nn.BatchNorm2d(cfg.dec_start), act(cfg.dec_act)]
    c_in = cfg.dec_start
    for i, c_out in enumerate(cfg.dec_widths):
        dec.append(nn.ConvTranspose2d(c_in, c_out, cfg.kernel, 2, pad, output_padding=1))
        if i < len(cfg.dec_widths) - 1 or cfg.dec_final_conv:
            dec += [nn.BatchNorm2d(c_out), act(cfg.dec_act)]
        c_in = c_out
    if cfg.dec_final_conv:
        dec.append(nn.Conv2d(c_in, 3, cfg.kernel, 1, pad))
    decoder = nn.Sequential(*dec, nn.Tanh())

    _, dh, dw = cfg.disc_feature_shapes()[-1]
    fc, features = dense_head(cfg.disc_widths[-1] * dh * dw, cfg.disc_fc, cfg.disc_act)
    discriminator = nn.ModuleDict(dict(
        blocks=nn.ModuleList(conv_blocks(cfg.disc_widths, cfg.disc_strides, cfg.disc_act)),
        head=nn.Sequential(nn.Flatten(), *fc, nn.Linear(features, 1))))
    nets = {"encoder": encoder, "decoder": decoder, "discriminator": discriminator}
    return {name: net.to(device) for name, net in nets.items()}


def load_weights(torch, nets, model, to_numpy):
    """Copy our model's parameters into the peer's networks (same order, same shapes: checked)."""
    with torch.no_grad():
        for name, ours in model.networks().items():
            theirs = list(nets[name].parameters())
            mine = [p.data for _, p in ours.named_parameters()]
            if len(theirs) != len(mine):
                raise RuntimeError(f"{name}: the peer has {len(theirs)} parameters, ours {len(mine)}")
            for t, m in zip(theirs, mine):
                if tuple(t.shape) != tuple(m.shape):
                    raise RuntimeError(f"{name}: parameter shapes differ, {tuple(t.shape)} vs {tuple(m.shape)}")
                t.copy_(torch.from_numpy(to_numpy(m)))


def make_optimizers(torch, nets, tc):
    return {name: torch.optim.Adam(net.parameters(), lr=tc.lr, betas=(tc.beta1, tc.beta2))
            for name, net in nets.items()}


def _discriminate(dis, x, taps):
    features = []
    for i, block in enumerate(dis["blocks"]):
        x = block(x)
        if i in taps:
            features.append(x)
    return dis["head"](x), features


def losses(torch, nets, cfg, tc, x, eps, z_p, sigma):
    """vaegan/step.py's forward and losses, every option of its TrainConfig included (the pixel term,
    the generator's weight, whether the prior pass updates the decoder's batch-norm statistics).
    Returns ({loss name: 0-d tensor}, {network: the loss it descends})."""
    F = torch.nn.functional
    enc, dec, dis = nets["encoder"], nets["decoder"], nets["discriminator"]
    bound = cfg.logvar_bound

    def bce(logits, target):
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))

    h = enc["body"](x)
    mu, logvar = enc["mu"](h), bound * torch.tanh(enc["logvar"](h) / bound)
    z = mu + sigma * torch.exp(0.5 * logvar) * eps
    kl = torch.mean(-0.5 * (1 + logvar - mu * mu - torch.exp(logvar)))
    x_rec = dec(z)
    bns = [m for m in dec.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if not tc.prior_bn_stats:          # momentum 0: batch statistics, running statistics untouched
        for m in bns:
            m.momentum = 0.0
    x_p = dec(z_p)
    for m in bns:
        m.momentum = 0.1
    taps = set(cfg.sim_layers)
    logit_real, f_real = _discriminate(dis, x, taps)
    logit_rec, f_rec = _discriminate(dis, x_rec, taps)
    logit_p, _ = _discriminate(dis, x_p, ())
    sim = sum(F.mse_loss(a, b.detach()) for a, b in zip(f_rec, f_real)) / len(f_real)
    pixel = F.mse_loss(x_rec, x)

    real_loss, prior_loss = bce(logit_real, 1.0 - tc.label_smoothing), bce(logit_p, 0.0)
    rec_loss = bce(logit_rec, 0.0) if tc.recon_as_fake else 0.0
    disc = real_loss + prior_loss + rec_loss
    if tc.gen_loss == "minimax":
        gen_p, gen_rec = -prior_loss, -rec_loss
    else:
        gen_p, gen_rec = bce(logit_p, 1.0), (bce(logit_rec, 1.0) if tc.recon_as_fake else 0.0)
    gen = gen_p + gen_rec
    if tc.laplacian_weight:
        # vaegan/laplacian_error.py: the 5-point Laplacian, zero outside the frame, as shifted slices (a
        # depthwise F.conv2d computes the same, 8x slower on the CPU at tiny's 16x3x48x64: 5.7 against 0.7 ms
        # forward and backward, which would slow the peer's step by 10%)
        def laplacian(a):
            p = F.pad(a, (1, 1, 1, 1))
            return 4 * a - p[:, :, :-2, 1:-1] - p[:, :, 2:, 1:-1] - p[:, :, 1:-1, :-2] - p[:, :, 1:-1, 2:]
        pixel_term = pixel + tc.laplacian_weight * F.mse_loss(laplacian(x_rec), laplacian(x))
    else:
        pixel_term = pixel
    rec = sim + tc.pixel_weight * pixel_term
    targets = {"encoder": tc.kl_weight * kl + rec,
               "decoder": tc.gamma * rec + tc.gen_weight * (gen_rec + tc.prior_weight * gen_p),
               "discriminator": disc}
    return {"kl": kl, "sim": sim, "disc": disc, "gen": gen, "pixel": pixel}, targets


def gradients(torch, nets, cfg, tc, x, eps, z_p, sigma):
    """The step's losses, and each network's gradient of its own loss.
    Returns ({loss name: 0-d tensor}, {network: [gradient per parameter]})."""
    values, targets = losses(torch, nets, cfg, tc, x, eps, z_p, sigma)
    names = list(targets)
    grads = {}
    for i, name in enumerate(names):
        grads[name] = torch.autograd.grad(targets[name], list(nets[name].parameters()),
                                          retain_graph=i < len(names) - 1)
    return values, grads


def training_step(torch, nets, optimizers, cfg, tc, x, eps, z_p, sigma):
    """One step: gradients, the three Adam updates, and the losses copied to the host once."""
    losses, grads = gradients(torch, nets, cfg, tc, x, eps, z_p, sigma)
    for name, net in nets.items():
        for p, g in zip(net.parameters(), grads[name]):
            p.grad = g
        optimizers[name].step()
    host = torch.stack([losses[n].detach() for n in LOSS_NAMES]).cpu().tolist()
    return dict(zip(LOSS_NAMES, host))
