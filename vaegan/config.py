"""Model presets: the shape of the three networks, fixed by a ModelConfig.

| preset        | resolution | nets                                                                  | source |
| broad256x144  | 256x144    | enc 4 x [5x5 conv s2] 80/160/320/640, lrelu 0.2, BN on all but the    | Broad's code |
|               |            | first; linear heads to z=200. dec: linear to 9x16x640 + BN + ReLU,    |
|               |            | 4 x [5x5 transposed conv s2] 320/160/80/3, tanh. disc: the encoder's  |
|               |            | convs, then linear to 1; similarity: the mean over all four convs     |
| broad96x64    | 96x64      | the same, bottleneck 4x6                                              | the seed paper |
| larsen64      | 64x64      | enc 64/128/256 + FC 2048, z=128; dec FC 8x8x256, up 256/128/32, 5x5   | Larsen et al., |
|               |            | conv to 3; disc 32(s1)/128/256/256 + FC 512 + FC 1; sim at 4th conv   | Table 1 |
| tiny          | 64x48      | narrow widths, for CPU demos and tests                                | ours |

A checkpoint stores its ModelConfig; loading it into another config is refused (checkpoint.py).
"""
from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class ModelConfig:
    name: str
    width: int                   # frame width W
    height: int                  # frame height H
    z_dim: int
    enc_widths: tuple            # 5x5 stride-2 convolutions of the encoder
    dec_start: int               # channels of the decoder's first (linear) layer, at the bottleneck size
    dec_widths: tuple            # output channels of each 5x5 stride-2 transposed convolution
    disc_widths: tuple           # 5x5 convolutions of the discriminator ...
    disc_strides: tuple          # ... and their strides
    sim_layers: tuple            # which discriminator convolutions (0-based) form the learned similarity
    enc_fc: int = 0              # a fully connected layer before the encoder's heads (0: none)
    disc_fc: int = 0             # a fully connected layer before the discriminator's logit (0: none)
    dec_final_conv: bool = False  # Larsen: the last transposed conv keeps dec_widths[-1] channels, then a 5x5 s1 conv to 3
    enc_act: str = "lrelu"
    dec_act: str = "relu"
    disc_act: str = "lrelu"
    slope: float = 0.2           # leaky ReLU's negative slope
    kernel: int = 5
    logvar_bound: float = 8.0    # logvar = bound * tanh(raw / bound): exp(logvar/2) <= e^4, never overflows

    @property
    def stages(self):
        return len(self.enc_widths)

    @property
    def bottleneck(self):
        """(h, w) of the encoder's last feature map and the decoder's first."""
        f = 2 ** self.stages
        return self.height // f, self.width // f

    @property
    def padding(self):
        """kernel // 2: "same" size at stride 1, exact halving at stride 2, exact doubling for a stride-2
        transposed convolution with output_padding 1."""
        return self.kernel // 2

    def disc_feature_shapes(self):
        """(C, H, W) of each discriminator convolution's output."""
        shapes, h, w = [], self.height, self.width
        for c, s in zip(self.disc_widths, self.disc_strides):
            h = (h + 2 * self.padding - self.kernel) // s + 1
            w = (w + 2 * self.padding - self.kernel) // s + 1
            shapes.append((c, h, w))
        return shapes

    def similarity_features(self):
        """How many numbers per frame the learned similarity compares (over its layers)."""
        shapes = self.disc_feature_shapes()
        return sum(shapes[i][0] * shapes[i][1] * shapes[i][2] for i in self.sim_layers)

    def validate(self):
        f = 2 ** self.stages
        if self.width % f or self.height % f:
            raise ValueError(f"{self.name}: resolution {self.width}x{self.height} must be divisible by {f} "
                             f"(the encoder halves it {self.stages} times)")
        ups = len(self.dec_widths)
        if ups != self.stages:
            raise ValueError(f"{self.name}: the decoder has {ups} upsampling stages, the encoder {self.stages}")
        if len(self.disc_widths) != len(self.disc_strides):
            raise ValueError(f"{self.name}: disc_widths and disc_strides differ in length")
        if not self.sim_layers or max(self.sim_layers) >= len(self.disc_widths) or min(self.sim_layers) < 0:
            raise ValueError(f"{self.name}: sim_layers must name discriminator convolutions 0..{len(self.disc_widths) - 1}")
        return self

    def to_dict(self):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d):
        kw = {f.name: tuple(d[f.name]) if isinstance(d[f.name], list) else d[f.name] for f in fields(cls)}
        return cls(**kw)

    def describe(self):
        return f"{self.name} ({self.width}x{self.height}, z={self.z_dim}, enc {'/'.join(map(str, self.enc_widths))})"


_BROAD = dict(z_dim=200, enc_widths=(80, 160, 320, 640), dec_start=640, dec_widths=(320, 160, 80, 3),
              disc_widths=(80, 160, 320, 640), disc_strides=(2, 2, 2, 2), sim_layers=(0, 1, 2, 3))

PRESETS = {
    "broad256x144": ModelConfig(name="broad256x144", width=256, height=144, **_BROAD),
    "broad96x64": ModelConfig(name="broad96x64", width=96, height=64, **_BROAD),
    "larsen64": ModelConfig(
        name="larsen64", width=64, height=64, z_dim=128, enc_widths=(64, 128, 256), enc_fc=2048,
        dec_start=256, dec_widths=(256, 128, 32), dec_final_conv=True,
        disc_widths=(32, 128, 256, 256), disc_strides=(1, 2, 2, 2), disc_fc=512, sim_layers=(3,),
        enc_act="relu", disc_act="relu"),
    "tiny": ModelConfig(
        name="tiny", width=64, height=48, z_dim=32, enc_widths=(16, 32, 64), dec_start=64,
        dec_widths=(32, 16, 3), disc_widths=(16, 32, 64), disc_strides=(2, 2, 2), sim_layers=(0, 1, 2)),
}


def make_config(preset, width=None, height=None, z_dim=None, base_width=None):
    """A preset, with the resolution, latent size or base width overridden (the CLI's options).
    base_width scales every channel count so that the first encoder convolution has that many."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    cfg = PRESETS[preset]
    changes = {}
    if width:
        changes["width"] = width
    if height:
        changes["height"] = height
    if z_dim:
        changes["z_dim"] = z_dim
    if base_width:
        scale = base_width / cfg.enc_widths[0]

        def s(ws):
            return tuple(max(1, round(w * scale)) for w in ws)

        dec = s(cfg.dec_widths)
        if not cfg.dec_final_conv:
            dec = dec[:-1] + (3,)  # the last transposed conv always makes RGB
        changes.update(enc_widths=s(cfg.enc_widths), dec_start=max(1, round(cfg.dec_start * scale)),
                       dec_widths=dec, disc_widths=s(cfg.disc_widths),
                       enc_fc=round(cfg.enc_fc * scale), disc_fc=round(cfg.disc_fc * scale))
    if changes:
        cfg = replace(cfg, **changes)
    return cfg.validate()


__all__ = ["ModelConfig", "PRESETS", "make_config"]
