"""SSIM (vaegan/ssim.py): the properties it has by definition (identical frames score 1, constant frames
score the luminance term alone, it is symmetric, the range L scales with the data), that more noise
scores lower, and every window statistic against PyTorch's conv2d with a Gaussian window built by
torch.signal (an oracle for the filtering: window size, sigma, normalisation, 'valid' region)."""

import numpy as np
import pytest

from vaegan.ssim import ssim
from tests.optional import require

# Wang et al. 2004's constants, written here from the paper (not imported: the test checks the module's)
WINDOW, SIGMA, K1, K2 = 11, 1.5, 0.01, 0.03

EXACT = 1e-12        # float64 arithmetic on O(1) numbers: rounding only
ORACLE = 1e-9        # two float64 implementations summing ~121 products in another order


def test_identical_frames_score_one(rng):
    x = rng.integers(0, 256, (3, 24, 32, 3)).astype(np.uint8)
    assert np.all(np.abs(ssim(x, x) - 1) < EXACT)


@pytest.mark.parametrize("a, b", [(100, 120), (0, 255), (30, 31)])
def test_constant_frames_score_the_luminance_term(a, b):
    # no variance anywhere: the contrast-structure factor is C2 / C2 = 1, the luminance factor is left
    x, y = np.full((16, 16, 3), a, np.uint8), np.full((16, 16, 3), b, np.uint8)
    c1 = (K1 * 255) ** 2
    assert abs(ssim(x, y) - (2 * a * b + c1) / (a * a + b * b + c1)) < EXACT


def test_symmetric_and_scaled_by_the_range(rng):
    x = rng.integers(0, 256, (2, 20, 24, 3)).astype(np.uint8)
    y = np.clip(x + rng.normal(0, 20, x.shape), 0, 255).astype(np.uint8)
    assert np.allclose(ssim(x, y), ssim(y, x), rtol=0, atol=EXACT)
    assert np.allclose(ssim(x / 255.0, y / 255.0, data_range=1.0), ssim(x, y), rtol=0, atol=EXACT)


def test_more_noise_scores_lower(rng):
    yy, xx = np.mgrid[0:48, 0:64]
    frame = np.stack([128 + 60 * np.sin(xx / 3.0), 128 + 60 * np.cos(yy / 4.0), 100 + xx + yy], -1)
    frame = np.clip(frame, 0, 255).astype(np.uint8)[None]
    scores = [ssim(frame, np.clip(frame + rng.normal(0, s, frame.shape), 0, 255).astype(np.uint8))[0]
              for s in (2, 8, 32)]
    assert 1 > scores[0] > scores[1] > scores[2], scores


def test_frames_smaller_than_the_window_score_nan():
    small = np.zeros((2, WINDOW - 1, 20, 3))
    assert np.isnan(ssim(small, small)).all() and ssim(small[:, :, :WINDOW], small[:, :, :WINDOW]).shape == (2,)


@pytest.fixture(scope="module")
def torch():
    return require("torch", "the SSIM oracle", "CI must install torch (see .ci/run)")


def test_ssim_against_torch_conv2d(torch, rng):
    x = rng.integers(0, 256, (2, 30, 40, 3)).astype(np.float64)
    y = np.clip(x * 0.7 + 40 + rng.normal(0, 15, x.shape), 0, 255)
    g = torch.signal.windows.gaussian(WINDOW, std=SIGMA, dtype=torch.float64)
    w = torch.outer(g, g)
    w = (w / w.sum()).expand(3, 1, WINDOW, WINDOW)

    def f(a):       # N x C x H x W, each channel filtered alone, only where the window fits
        return torch.nn.functional.conv2d(a, w, groups=3)

    tx, ty = (torch.from_numpy(a).permute(0, 3, 1, 2) for a in (x, y))
    mx, my = f(tx), f(ty)
    vx, vy, cxy = f(tx * tx) - mx ** 2, f(ty * ty) - my ** 2, f(tx * ty) - mx * my
    c1, c2 = (K1 * 255) ** 2, (K2 * 255) ** 2
    m = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    expected = m.mean(dim=(1, 2, 3)).numpy()
    got = ssim(x, y)
    assert np.max(np.abs(got - expected)) < ORACLE, (got, expected)
    assert np.all(got < 0.99)      # a real difference, not two ways of getting 1
