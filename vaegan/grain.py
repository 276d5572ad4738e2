"""Grain: does a reconstruction add texture where the film has none?

A VAE-GAN's reconstructions can be both too smooth and too grainy: the detail of the film's edges is
lost (the mean of many plausible pictures), while flat areas (a wall, a dark coat, the sky) come back
mottled, a fine speckle the film does not have (the adversarial loss adds to it, but a decoder trained
on the pixel error alone leaves most of it too: bench/README.md, "Grain"). PSNR weighs both as error and cannot tell them apart (a 3x3 blur of the default run's
reconstructions costs 0.2-1.2 dB: what is missing outweighs what was added); a person sees the
speckle at once. This measures the added part alone:

    L(a)      the discrete Laplacian of a frame, per colour channel: 4 a[i, j] minus its four
              neighbours (edges replicated): the frame's high frequencies, zero on any flat or
              linear ramp
    flat      the pixels of each original frame whose local detail, |L(original)| summed over the
              channels and averaged over the 3x3 neighbourhood, is in that frame's lowest quarter
              (FLAT_SHARE): the quarter of the frame where the film is smoothest
    grain     sqrt(mean over flat pixels and channels of L(reconstruction)^2)
              / sqrt(mean over the same of L(original)^2), pooled over all the frames

grain = 1: the reconstruction's flat areas are exactly as textured as the film's (a copy scores 1);
below 1 they are smoother (a blur scores below 1); above 1 the model has added texture: 1.2 means
the high frequencies there are 20% stronger than the film's own (its grain, noise and compression
included). The original decides where to look, so a model cannot move the mask. The ratio is of RMS,
not of energy, to read as "how much stronger". Its scale depends on how flat the film is: independent
Gaussian noise of 1, 2 and 3 grey levels added to the sample clip scores 1.10, 1.33 and 1.65, added to
carphone (flatter) 1.48, 2.33 and 3.27 (bench/README.md, "Grain").

Why a quarter: the further into the film's flat areas, the more a reconstruction's own texture stands
out, and over a wider share what it adds is cancelled by what it loses. On the default run of the
sample clip the ratio is 2.4 over each frame's flattest tenth, 1.5 over its quarter, 1.07 over its half
and 0.70 over the whole frame; a tenth is too few pixels in a 64x48 frame to be steady (a black frame's
flattest tenth has next to no texture to divide by).
"""
import numpy as np

FLAT_SHARE = 0.25


def laplacian(frames):
    """(N, H, W, C) float64 -> the 5-point Laplacian of each channel, edges replicated."""
    p = np.pad(frames, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    return 4 * p[:, 1:-1, 1:-1] - p[:, :-2, 1:-1] - p[:, 2:, 1:-1] - p[:, 1:-1, :-2] - p[:, 1:-1, 2:]


def flat_mask(lap_original):
    """(N, H, W) bool: each frame's flattest FLAT_SHARE, by the 3x3 mean of |L| summed over channels
    (at least that share: ties at the threshold are all in)."""
    detail = np.pad(np.abs(lap_original).sum(axis=-1), ((0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = lap_original.shape[1:3]
    local = sum(detail[:, i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9
    return local <= np.quantile(local.reshape(len(local), -1), FLAT_SHARE, axis=1)[:, None, None]


class GrainMeter:
    """grain() of a film seen batch by batch: both sums pooled over every frame given (each frame's flat
    quarter is its own, so the batches do not change the answer)."""

    def __init__(self):
        self.film = self.ours = 0.0
        self.values = 0

    def update(self, original, reconstruction):
        original = np.asarray(original, dtype=np.float64)
        reconstruction = np.asarray(reconstruction, dtype=np.float64)
        if original.shape != reconstruction.shape or original.ndim != 4:
            raise ValueError(f"grain needs two (N, H, W, C) stacks of one shape, got {original.shape} and "
                             f"{reconstruction.shape}")
        lap_o = laplacian(original)
        flat = flat_mask(lap_o)
        self.film += float(np.sum(lap_o[flat] ** 2))
        self.ours += float(np.sum(laplacian(reconstruction)[flat] ** 2))
        self.values += int(flat.sum()) * original.shape[-1]
        return self

    def value(self):
        """The ratio; 1.0 where both are perfectly flat there, inf where only the reconstruction has
        texture there, NaN before any frame."""
        if not self.values:
            return float("nan")
        if self.film == 0:
            return 1.0 if self.ours == 0 else float("inf")
        return float(np.sqrt(self.ours / self.film))


def grain(original, reconstruction):
    """The grain ratio (above) of uint8 (or float) frames (N, H, W, C) against their reconstructions."""
    return GrainMeter().update(original, reconstruction).value()
