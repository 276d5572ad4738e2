"""The warping error (vaegan/warping.py) on a synthetic film with known motion: a smooth random texture
seen through a window that moves (2, 1) pixels per frame. An output that moves exactly with the source
(another texture through the same window) scores near zero, as does the source itself (the floor); an
output that jitters a pixel or two against that motion scores far above. And the command line: the
warping error beside the flicker, or, without OpenCV, one line saying how to get it."""
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from tests.optional import require

H, W, FRAMES, STEP = 48, 64, 12, (2, 1)      # frame size; per-frame motion (dx, dy) in pixels
QUARTER = 0.25     # px: Farneback's flow on a smooth texture is far better than a quarter pixel, so the
                   # error of an output moving with the source stays under what a flow that far off
                   # everywhere would cost: QUARTER^2 * mean |gradient|^2 (first order in the flow error)


@pytest.fixture(scope="module")
def cv2():
    return require("cv2", "the warping error", "the test extra must install opencv-python-headless")


def texture(rng, cv2, h=H + 40, w=W + 60):
    big = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    return cv2.GaussianBlur(big, (0, 0), 2.0)


def through_window(image, jitter=None):
    """The film: frame t is image[y0 + t dy : ..., x0 + t dx : ...], plus jitter[t] = (jx, jy) if given."""
    frames = []
    for t in range(FRAMES):
        jx, jy = (0, 0) if jitter is None else jitter[t]
        x0, y0 = 4 + STEP[0] * t + jx, 4 + STEP[1] * t + jy
        frames.append(image[y0:y0 + H, x0:x0 + W])
    return np.stack(frames)


def mean_gradient_squared(frames):
    gy, gx = np.gradient(frames.astype(np.float64) / 255.0, axis=(1, 2))
    return float((gx ** 2 + gy ** 2).mean())


def test_an_output_that_moves_with_the_source_scores_near_zero_and_jitter_far_above(cv2, rng):
    from vaegan.warping import WarpMeter

    source = through_window(texture(rng, cv2))
    other = texture(rng, cv2)[..., ::-1]         # a different picture, moving exactly as the source does
    moving = through_window(other)
    jitter = [(2 * (t % 2), t % 2) for t in range(FRAMES)]     # every other frame 2 px right, 1 px down
    jittering = through_window(other, jitter)
    scores = {}
    for name, output in (("moving", moving), ("jittering", jittering)):
        meter = WarpMeter()
        for i in range(0, FRAMES, 5):             # batch by batch, as reconstruct feeds it
            meter.update(source[i:i + 5], output[i:i + 5])
        scores[name] = meter.summary()
    g = mean_gradient_squared(moving)
    near_zero = QUARTER ** 2 * g
    assert scores["moving"]["warping_error"] < near_zero, (scores, near_zero)
    assert scores["moving"]["warping_error_source"] < QUARTER ** 2 * mean_gradient_squared(source)
    # each jittering pair is off by (2, 1) px: at least what a flow wrong by a whole pixel would cost
    assert scores["jittering"]["warping_error"] > 1.0 ** 2 * g, (scores, g)
    assert scores["jittering"]["warping_error_source"] == scores["moving"]["warping_error_source"]


def test_pairs_across_a_cut_are_left_out(cv2, rng):
    from vaegan.warping import WarpMeter

    source = through_window(texture(rng, cv2))
    output = source.copy()
    output[6:] = 255 - output[6:]          # the output changes picture at frame 6: a cut of its own
    meter = WarpMeter()
    meter.update(source, output)
    with_cut, without = meter.summary(cuts=[6]), meter.summary()
    assert with_cut["warping_error"] < QUARTER ** 2 * mean_gradient_squared(source) < without["warping_error"]


def test_a_long_film_is_measured_on_evenly_spread_pairs(cv2, rng):
    from vaegan.warping import WarpMeter, pair_stride

    assert pair_stride(None) == pair_stride(2000) == 1 and pair_stride(2001) == 2 and pair_stride(180000) == 90
    source = through_window(texture(rng, cv2))
    output = through_window(texture(rng, cv2), [(t % 3, 0) for t in range(FRAMES)])    # jitter of varying size
    every, third = WarpMeter(), WarpMeter(stride=3)
    for m in (every, third):
        m.update(source[:5], output[:5])
        m.update(source[5:], output[5:])
    measured = [t for t in range(1, FRAMES) if t % 3 == 0]
    assert third.summary()["warping_pairs"] == len(measured) and every.summary()["warping_pairs"] == FRAMES - 1
    assert third.summary()["warping_error"] == pytest.approx(np.mean([every.output_errors[t] for t in measured]))


@pytest.fixture(scope="module")
def run_and_film(tmp_path_factory):
    from kernels import get_backend
    from tests.films import write_film
    from vaegan import checkpoint
    from vaegan.config import make_config
    from vaegan.model import VAEGAN
    from vaegan.optim import Adam

    root = tmp_path_factory.mktemp("warping")
    model = VAEGAN(get_backend("numpy"), make_config("tiny", width=32, height=24, z_dim=8, base_width=4), seed=0)
    (root / "run").mkdir()
    checkpoint.save(str(root / "run" / checkpoint.FILENAME), model, {n: Adam(model.K, f) for n, f in model.flat.items()},
                    {"step": 0, "epoch": 0, "batch": 0, "sigma": None, "seed": 0})
    return root / "run", write_film(root / "film.mp4", n=10, size=(32, 24), fps=10)


def test_reconstruct_prints_the_warping_error_beside_the_flicker(cv2, run_and_film, tmp_path):
    import cli

    run, film = run_and_film
    result = CliRunner().invoke(cli.cli, ["reconstruct", str(run), str(film), "-o", str(tmp_path / "o.mp4")])
    assert result.exit_code == 0, result.output
    assert "SSIM" in result.output and "flicker" in result.output
    assert "warping error" in result.output and "against the source's own" in result.output


def test_without_opencv_reconstruct_says_how_to_get_the_warping_error(run_and_film, tmp_path, monkeypatch):
    import cli
    from vaegan.warping import MISSING

    monkeypatch.setitem(sys.modules, "cv2", None)      # `import cv2` raises ImportError
    result = CliRunner().invoke(cli.cli, ["reconstruct", str(run_and_film[0]), str(run_and_film[1]),
                                          "-o", str(tmp_path / "o.mp4")])
    assert result.exit_code == 0, result.output
    assert MISSING in result.output and "opencv-python-headless" in MISSING
    assert "Traceback" not in result.output and "flicker" in result.output
