"""The three networks of the VAE-GAN, built from a ModelConfig (vaegan/config.py).

    Encoder        x (N,3,H,W) -> mu, logvar (N,z)    q(z|x) = N(mu, exp(logvar))
    Decoder        z (N,z) -> x (N,3,H,W) in [-1, 1]   the generator
    Discriminator  x -> logit (N,1), and hidden feature maps: the "learned similarity" in which the
                   reconstruction error is measured (Larsen et al. 2016)

Every convolution is 5x5 (cfg.kernel) with padding 2 (cfg.padding), so a stride-2 convolution halves
the frame exactly and a stride-2 transposed convolution with output_padding 1 doubles it exactly.
"""
from . import nn


def _act(K, name, slope):
    return nn.LeakyReLU(K, slope) if name == "lrelu" else nn.ReLU(K)


def _conv_block(K, cfg, c_in, c_out, stride, act, batch_norm, dtype):
    """conv -> (batch-norm fused with the activation | activation). Returns the layers; the block's
    output is the output of its last layer."""
    conv = nn.Conv2d(K, c_in, c_out, cfg.kernel, stride, cfg.padding, dtype=dtype)
    if batch_norm:
        return [conv, nn.BatchNorm(K, c_out, act=act, slope=cfg.slope, dtype=dtype)]
    return [conv, _act(K, act, cfg.slope)]


def _conv_stack(K, cfg, widths, strides, act, dtype):
    """The convolutions shared in shape by the encoder and the discriminator (BN on all but the
    first). Returns the layers and the index of each block's last layer (its output, for taps)."""
    layers, ends, c_in = [], [], 3
    for i, (c_out, stride) in enumerate(zip(widths, strides)):
        layers += _conv_block(K, cfg, c_in, c_out, stride, act, batch_norm=i > 0, dtype=dtype)
        ends.append(len(layers) - 1)
        c_in = c_out
    return layers, ends


class Encoder(nn.Module):
    def __init__(self, K, cfg, dtype="float32"):
        super().__init__(K)
        self.cfg = cfg
        layers, _ = _conv_stack(K, cfg, cfg.enc_widths, (2,) * cfg.stages, cfg.enc_act, dtype)
        h, w = cfg.bottleneck
        features = cfg.enc_widths[-1] * h * w
        layers.append(nn.Reshape(K, (features,)))
        if cfg.enc_fc:
            layers += [nn.Linear(K, features, cfg.enc_fc, dtype=dtype),
                       nn.BatchNorm(K, cfg.enc_fc, act=cfg.enc_act, slope=cfg.slope, dtype=dtype)]
            features = cfg.enc_fc
        self.body = nn.Sequential(K, layers)
        self.mu = nn.Linear(K, features, cfg.z_dim, dtype=dtype)
        self.logvar = nn.Linear(K, features, cfg.z_dim, dtype=dtype)

    def forward(self, x, mode="train"):
        """-> (mu, logvar, ctx). logvar = B * tanh(raw / B) keeps exp(logvar) finite."""
        K, B = self.K, self.cfg.logvar_bound
        h, body_ctx = self.body.forward(x, mode)
        mu, mu_ctx = self.mu.forward(h, mode)
        raw, lv_ctx = self.logvar.forward(h, mode)
        t = K.tanh_forward(raw * (1.0 / B))
        return mu, t * B, (body_ctx, mu_ctx, lv_ctx, t)

    def backward(self, dmu, dlogvar, ctx, need_dx=False, param_grads=True):
        # logvar = B*tanh(raw/B)  =>  dlogvar/draw = 1 - t^2, exactly tanh's backward at t.
        body_ctx, mu_ctx, lv_ctx, t = ctx
        draw = self.K.tanh_backward(dlogvar, t)
        dh = self.mu.backward(dmu, mu_ctx, param_grads=param_grads)
        dh = dh + self.logvar.backward(draw, lv_ctx, param_grads=param_grads)
        return self.body.backward(dh, body_ctx, need_dx=need_dx, param_grads=param_grads)


class Decoder(nn.Module):
    def __init__(self, K, cfg, dtype="float32"):
        super().__init__(K)
        self.cfg = cfg
        h, w = cfg.bottleneck
        layers = [nn.Linear(K, cfg.z_dim, cfg.dec_start * h * w, dtype=dtype),
                  nn.Reshape(K, (cfg.dec_start, h, w)),
                  nn.BatchNorm(K, cfg.dec_start, act=cfg.dec_act, dtype=dtype)]
        c_in = cfg.dec_start
        for i, c_out in enumerate(cfg.dec_widths):
            layers.append(nn.ConvTranspose2d(K, c_in, c_out, cfg.kernel, 2, cfg.padding, output_padding=1, dtype=dtype))
            last = i == len(cfg.dec_widths) - 1
            if not last or cfg.dec_final_conv:
                layers.append(nn.BatchNorm(K, c_out, act=cfg.dec_act, dtype=dtype))
            c_in = c_out
        if cfg.dec_final_conv:
            layers.append(nn.Conv2d(K, c_in, 3, cfg.kernel, 1, cfg.padding, dtype=dtype))
        layers.append(nn.Tanh(K))
        self.net = nn.Sequential(K, layers)

    def forward(self, z, mode="train"):
        return self.net.forward(z, mode)

    def backward(self, dx, ctx, need_dz=True, param_grads=True):
        return self.net.backward(dx, ctx, need_dx=need_dz, param_grads=param_grads)

    def update_running_statistics(self, ctx):
        self.net.update_running_statistics(ctx)


class Discriminator(nn.Module):
    def __init__(self, K, cfg, dtype="float32"):
        super().__init__(K)
        self.cfg = cfg
        layers, ends = _conv_stack(K, cfg, cfg.disc_widths, cfg.disc_strides, cfg.disc_act, dtype)
        _, h, w = cfg.disc_feature_shapes()[-1]
        features = cfg.disc_widths[-1] * h * w
        layers.append(nn.Reshape(K, (features,)))
        if cfg.disc_fc:
            layers += [nn.Linear(K, features, cfg.disc_fc, dtype=dtype),
                       nn.BatchNorm(K, cfg.disc_fc, act=cfg.disc_act, slope=cfg.slope, dtype=dtype)]
            features = cfg.disc_fc
        layers.append(nn.Linear(K, features, 1, dtype=dtype))
        self.net = nn.Sequential(K, layers)
        self.block_ends = ends  # Sequential index of each convolution block's output
        self.sim_taps = tuple(ends[i] for i in cfg.sim_layers)

    def forward(self, x, mode="train", features=False):
        """-> (logits (N,1), ctx); with features=True ctx.taps holds the similarity layers' outputs."""
        return self.net.forward(x, mode, taps=self.sim_taps if features else ())

    def backward(self, dlogits, ctx, feature_grads=None, need_dx=True, param_grads=True):
        return self.net.backward(dlogits, ctx, tap_grads=feature_grads, need_dx=need_dx, param_grads=param_grads)

    def update_running_statistics(self, ctx):
        self.net.update_running_statistics(ctx)


class VAEGAN:
    """The three networks, each with its parameters in one flat buffer (nn.FlatParameters)."""

    def __init__(self, K, cfg, seed=0, dtype="float32"):
        self.K, self.cfg = K, cfg.validate()
        self.encoder = Encoder(K, cfg, dtype)
        self.decoder = Decoder(K, cfg, dtype)
        self.discriminator = Discriminator(K, cfg, dtype)
        self.flat = {}
        for i, (name, net) in enumerate(self.networks().items()):
            nn.init_weights(net, seed * 3 + i)
            self.flat[name] = nn.FlatParameters(net)
        self.ema = None         # the averaged encoder and decoder, when a run keeps them (vaegan/ema.py)
        self.denoise = 0.0      # the output filter's range in grey levels, when a run keeps one (vaegan/denoise.py)

    def networks(self):
        return {"encoder": self.encoder, "decoder": self.decoder, "discriminator": self.discriminator}

    def use_communicator(self, comm):
        """Train as one of comm.size ranks: every batch-norm takes its statistics over the global batch
        (vaegan/sync_batch_norm.py). The gradients' all-reduce is the step's (vaegan/step.py)."""
        for net in self.networks().values():
            for layer in _layers(net):
                if isinstance(layer, nn.BatchNorm):
                    layer.comm = comm

    def encode(self, x, mode="eval"):
        mu, logvar, _ = self.encoder.forward(x, mode)
        return mu, logvar

    def decode(self, z, mode="eval"):
        return self.decoder.forward(z, mode)[0]

    def reconstruct(self, x, mode="eval"):
        """z = mu: the reconstruction a film is re-imagined with."""
        return self.decode(self.encode(x, mode)[0], mode)

    def frames(self, y):
        """Decoded frames (N, 3, H, W) in [-1, 1], on the backend -> uint8 N x H x W x 3 on the host, through
        the output filter (self.denoise; vaegan/denoise.py): every frame the model draws for a person comes here."""
        from .denoise import bilateral
        from .media.framestore import to_uint8_frames

        return to_uint8_frames(self.K.to_numpy(bilateral(y, self.denoise, self.K.xp)))


def _layers(module):
    """Every module inside `module`, itself included, depth first."""
    yield module
    for value in vars(module).values():
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, nn.Module):
                yield from _layers(item)
