"""reconstruct --smooth (vaegan/smoothing.py): the smoothed latent path, shot cuts found from the frames,
the flicker measure, and the whole command on a small untrained model (its encoder answers every
frame's noise with a different mu: exactly the flicker smoothing is for)."""
import numpy as np
import pytest
from click.testing import CliRunner

import cli
from kernels import get_backend
from tests.films import write_film
from vaegan import checkpoint
from vaegan.config import make_config
from vaegan.errors import UserError
from vaegan.model import VAEGAN
from vaegan.reconstruct import reconstruct_film
from vaegan.smoothing import FlickerMeter, find_cuts, frame_differences, smooth_path

FPS = 10
SIZE = (32, 24)


def noisy_shot(rng, n, level, noise=10):
    """n frames of one still picture (a smooth gradient at `level`) with fresh noise on each frame."""
    yy, xx = np.mgrid[0:SIZE[1], 0:SIZE[0]]
    base = np.stack([level + xx, level + yy, np.full_like(xx, level)], axis=-1).astype(np.float64)
    return [np.clip(base + rng.normal(0, noise, base.shape), 0, 255).astype(np.uint8) for _ in range(n)]


@pytest.fixture(scope="module")
def model():
    """A small model with weights drawn wide (std 0.5): a fresh model's small initial weights map every
    frame to nearly the same output, this one answers each frame's noise visibly, as a trained one does."""
    cfg = make_config("tiny", width=SIZE[0], height=SIZE[1], z_dim=8, base_width=4)
    model = VAEGAN(get_backend("numpy"), cfg, seed=0)
    rng = np.random.default_rng(7)
    for flat in model.flat.values():
        flat.data[...] = rng.normal(0, 0.5, flat.data.shape)
    return model


def test_a_still_path_with_noise_is_steadier_after_smoothing(rng):
    mu = 1.0 + rng.normal(0, 0.3, (200, 4))
    z = smooth_path(mu, FPS, 0.5)
    step = lambda p: np.abs(np.diff(p, axis=0)).mean()   # noqa: E731
    # a Gaussian of 5 frames averages ~ 2 sqrt(pi) * 5 = 18 frames: the noise falls by about sqrt(18)
    assert step(z) < step(mu) / 3
    assert np.allclose(z.mean(axis=0), mu.mean(axis=0), atol=0.05)      # it does not drift
    assert np.array_equal(smooth_path(mu, FPS, 0), mu)                   # 0: off


def test_a_constant_path_stays_constant_to_its_ends():
    mu = np.tile([[0.5, -2.0, 3.0]], (30, 1))
    assert np.allclose(smooth_path(mu, FPS, 1.0), mu)   # the renormalised window at the ends


def test_cuts_reset_the_smoothing():
    mu = np.concatenate([np.zeros((15, 2)), np.ones((15, 2))])
    across = smooth_path(mu, FPS, 0.5)
    assert 0 < across[14, 0] < 1 and 0 < across[15, 0] < 1     # without the cut, the shots blend
    assert np.array_equal(smooth_path(mu, FPS, 0.5, cuts=[15]), mu)   # with it, neither borrows


def test_cuts_are_found_where_the_picture_changes_and_not_in_noise(rng):
    frames = noisy_shot(rng, 12, 40) + noisy_shot(rng, 12, 160) + noisy_shot(rng, 12, 90)
    d = frame_differences(frames)
    assert np.isnan(d[0])
    assert find_cuts(d, FPS) == [12, 24]
    assert find_cuts(frame_differences(noisy_shot(rng, 30, 100, noise=20)), FPS) == []


def test_a_slow_pan_has_no_cuts():
    yy, xx = np.mgrid[0:SIZE[1], 0:SIZE[0]]
    frames = [np.stack([(4 * xx + 3 * t) % 256, 4 * yy, 0 * xx], -1).astype(np.uint8) for t in range(40)]
    assert find_cuts(frame_differences(frames), FPS) == []


def test_flicker_meter_leaves_the_cut_out(rng):
    frames = np.stack(noisy_shot(rng, 10, 40, noise=0) + noisy_shot(rng, 10, 200, noise=0))
    meter = FlickerMeter(FPS)
    for i in range(0, 20, 6):                           # batch by batch, as reconstruct feeds it
        meter.update(frames[i:i + 6], frames[i:i + 6])
    s = meter.summary()
    assert s == {"flicker_source": 0.0, "flicker_output": 0.0, "change_error": 0.0, "cuts": 1}


def test_change_error_charges_jitter_not_motion(rng):
    from vaegan.smoothing import change_errors

    yy, xx = np.mgrid[0:SIZE[1], 0:SIZE[0]]
    moving = np.stack([np.stack([(4 * xx + 5 * t) % 200, 4 * yy, 0 * xx], -1) for t in range(10)]).astype(np.uint8)
    brighter = moving + np.uint8(20)                           # the same motion, another picture
    assert np.nanmax(change_errors(moving, brighter)) == 0
    jitter = np.where(np.arange(10)[:, None, None, None] % 2, brighter, brighter + np.uint8(6))
    e = change_errors(moving, jitter)
    assert np.isnan(e[0]) and np.allclose(e[1:], 6)
    assert change_errors(moving[5:], jitter[5:], previous=(moving[4], jitter[4]))[0] == pytest.approx(6)


def test_a_static_film_flickers_less_with_smoothing(model, rng, tmp_path):
    film = write_film(tmp_path / "still.mp4", pictures=noisy_shot(rng, 30, 90), size=SIZE, fps=FPS,
                      options={"crf": "0"})
    plain = reconstruct_film(model, str(film), str(tmp_path / "plain.mp4"), progress=False)
    smooth = reconstruct_film(model, str(film), str(tmp_path / "smooth.mp4"), progress=False, smooth=0.5)
    assert plain["cuts"] == smooth["cuts"] == 0
    assert plain["flicker_output"] > 0
    assert smooth["flicker_output"] < plain["flicker_output"] / 2
    assert smooth["flicker_source"] == plain["flicker_source"]


def test_each_shot_is_smoothed_on_its_own(model, rng, tmp_path):
    """Two still shots: the smoothed film's last frame of the first shot is the first shot's own
    average, whatever the second holds."""
    from vaegan.smoothing import SmoothedPath
    from vaegan.media.decode import iter_frames
    from vaegan.media.framestore import to_float_batch

    shots = noisy_shot(rng, 15, 40), noisy_shot(rng, 15, 200)
    film = write_film(tmp_path / "two.mp4", pictures=shots[0] + shots[1], size=SIZE, fps=FPS, options={"crf": "0"})
    path = SmoothedPath(model, iter_frames(str(film), size=SIZE), FPS, 0.5, batch_size=8)
    assert path.cuts == [15]
    decoded = np.stack([f for f, _ in iter_frames(str(film), size=SIZE)])
    mu = model.K.to_numpy(model.encode(model.K.asarray(to_float_batch(decoded)))[0])
    first_alone = smooth_path(mu[:15], FPS, 0.5)
    assert np.allclose(path.z[:15], first_alone, atol=1e-5)


def test_smooth_on_the_command_line_and_its_bad_values(model, rng, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    from vaegan.optim import Adam

    optimizers = {n: Adam(model.K, f) for n, f in model.flat.items()}
    checkpoint.save(str(run / checkpoint.FILENAME), model, optimizers,
                    {"step": 0, "epoch": 0, "batch": 0, "sigma": None, "seed": 0})
    film = write_film(tmp_path / "still.mp4", pictures=noisy_shot(rng, 12, 90), size=SIZE, fps=FPS)
    result = CliRunner().invoke(cli.cli, ["reconstruct", str(run), str(film), "-o", str(tmp_path / "o.mp4"),
                                          "--smooth", "0.3"])
    assert result.exit_code == 0, result.output
    assert "flicker" in result.output and "against the source's" in result.output
    for bad in ("-1", "nan"):
        result = CliRunner().invoke(cli.cli, ["reconstruct", str(run), str(film), "-o", str(tmp_path / "b.mp4"),
                                              "--smooth", bad])
        assert result.exit_code != 0 and "--smooth" in result.output and "Traceback" not in result.output
        assert not (tmp_path / "b.mp4").exists()
    with pytest.raises(UserError):
        reconstruct_film(model, str(film), str(tmp_path / "c.mp4"), progress=False, smooth=float("inf"))
