"""SSIM, the structural similarity index (Wang, Bovik, Sheikh & Simoncelli 2004), frame by frame.

    ssim_t = mean over window positions p and colour channels c of

        (2 mu_x mu_y + C1) (2 sigma_xy + C2)
        ------------------------------------------          C1 = (K1 L)^2, C2 = (K2 L)^2
        (mu_x^2 + mu_y^2 + C1) (sigma_x^2 + sigma_y^2 + C2)   K1 = 0.01, K2 = 0.03

where mu, sigma^2 and sigma_xy are the local means, variances and covariance of frame x and its
reconstruction y under an 11 x 11 Gaussian window of standard deviation 1.5 pixels (normalised to sum
1), as in the paper's own code: the window only where it lies wholly inside the frame ('valid'), and
L the dynamic range (255 for uint8 frames, 1 for frames in 0..1). The three factors of the paper,
luminance x contrast x structure, are folded into the two above, as the paper does with C3 = C2 / 2.

On each RGB channel, averaged over the three, not on luma: a re-imagining can keep the brightness of a
scene and get its colours wrong (a red car turned grey, a green field turned brown), and a luma SSIM
would score that perfectly. Averaging over channels is also how skimage (`channel_axis`) and
pytorch-msssim score colour images (not checked against them here: neither is installed), and PSNR
(evaluate.py) is on the three channels too.

What it sees: whether the local structure (edges, texture, their contrast) of each frame survives;
a uniform change of brightness costs it far less than it costs PSNR. What it misses:
anything across frames (flicker: smoothing.py, warping.py), anything wider than the 11-pixel window (a
car moved across the frame scores as two local errors, not one), and whether the picture looks like
a film at all: a blurred reconstruction and a sharp picture of the wrong thing can lose the same SSIM.

Cost: float64 throughout (float32 window sums, twice as fast, put SSIM off by up to 1e-4 on flat
regions far from mid-grey, where E[x^2] - mu^2 cancels): about 0.5-1.5 ms a frame at 64 x 48, 15-55 ms at 256 x 144, on one shared core.
"""
import numpy as np

WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03


def gaussian_window(size=WINDOW, sigma=SIGMA):
    """The 1-D Gaussian the 2-D window is the outer product of, normalised to sum 1."""
    k = np.arange(size) - (size - 1) / 2
    g = np.exp(-0.5 * (k / sigma) ** 2)
    return g / g.sum()


def _filter_valid(a, g):
    """Separable 'valid' filtering of N x H x W x C (float64) along H then W."""
    n = len(g)
    h, w = a.shape[1] - n + 1, a.shape[2] - n + 1
    rows = sum(g[i] * a[:, i:i + h] for i in range(n))
    return sum(g[i] * rows[:, :, i:i + w] for i in range(n))


def ssim(x, y, data_range=255.0):
    """Per-frame SSIM of x against y: N x H x W x C arrays (or H x W x C for one frame, H x W for grey),
    uint8 (data_range 255) or float in 0..1 (data_range 1). Returns N floats (a float for one frame);
    NaN for frames narrower or lower than the 11-pixel window, which has nowhere to stand in them."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"ssim: shapes differ, {x.shape} and {y.shape}")
    single = x.ndim < 4
    if x.ndim == 2:
        x, y = x[None, :, :, None], y[None, :, :, None]
    elif x.ndim == 3:
        x, y = x[None], y[None]
    if x.ndim != 4:
        raise ValueError(f"ssim: frames must be N x H x W x C, got shape {x.shape}")
    if min(x.shape[1:3]) < WINDOW:
        per_frame = np.full(len(x), np.nan)
        return float(per_frame[0]) if single else per_frame
    g = gaussian_window()
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    mx, my = _filter_valid(x, g), _filter_valid(y, g)
    vx = _filter_valid(x * x, g) - mx * mx
    vy = _filter_valid(y * y, g) - my * my
    cxy = _filter_valid(x * y, g) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    per_frame = s.reshape(len(s), -1).mean(axis=1)
    return float(per_frame[0]) if single else per_frame
