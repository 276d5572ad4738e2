"""vaegan/grain.py: the texture a reconstruction adds where the film is flat.

Checked on pictures whose answer is known without the formula: a copy scores exactly 1; noise added
to a copy scores above 1, more noise higher; a blurred copy scores below 1; noise added only where the
original is detailed leaves the score at 1 (the original decides where to look, not the
reconstruction); perfectly flat originals give 1 or inf. It cannot say whether a person finds a given
ratio visible: bench/README.md sets the numbers beside the pictures.
"""
import numpy as np
import pytest

from vaegan.grain import FLAT_SHARE, flat_mask, grain, laplacian


def _frames(seed=0, n=4, h=24, w=32):
    """Frames with flat areas and detail: a smooth gradient, a bright textured square, and the film's own
    small noise (integers, as uint8 frames are)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 40 + 3 * yy[..., None] + 2 * xx[..., None] + np.zeros((1, 1, 3))
    frames = np.repeat(base[None], n, axis=0)
    frames[:, 4:14, 6:18] += rng.uniform(0, 120, (n, 10, 12, 3))     # the detailed part
    frames += rng.integers(-1, 2, frames.shape)                        # a little grain of the film's own
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def _blur(a):
    p = np.pad(a.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    return sum(p[:, i:i + a.shape[1], j:j + a.shape[2]] for i in range(3) for j in range(3)) / 9


def test_a_copy_scores_one():
    f = _frames()
    assert grain(f, f.copy()) == 1.0


def test_added_noise_scores_above_one_and_more_noise_higher():
    f = _frames()
    rng = np.random.default_rng(1)
    scores = [grain(f, f + rng.normal(0, s, f.shape)) for s in (2.0, 4.0, 8.0)]
    assert 1.0 < scores[0] < scores[1] < scores[2]


def test_a_blurred_copy_scores_below_one():
    f = _frames()
    assert grain(f, _blur(f)) < 0.8


def test_the_original_decides_where_to_look():
    f = _frames()
    flat = flat_mask(laplacian(f.astype(np.float64)))
    # the detailed pixels with no flat pixel among their 4 neighbours: noise there reaches no flat
    # pixel's Laplacian (the 5-point stencil reads one pixel around)
    p = np.pad(flat, ((0, 0), (1, 1), (1, 1)), mode="edge")
    near = p[:, 1:-1, 1:-1] | p[:, :-2, 1:-1] | p[:, 2:, 1:-1] | p[:, 1:-1, :-2] | p[:, 1:-1, 2:]
    assert (~near).sum() > 100
    noisy = f + np.where(near[..., None], 0.0, np.random.default_rng(2).normal(0, 20, f.shape))
    assert grain(f, noisy) == 1.0                  # texture added only in the detailed part is not grain
    assert grain(f, f + np.where(flat[..., None], np.random.default_rng(3).normal(0, 20, f.shape), 0)) > 2


def test_the_laplacian_is_zero_on_flat_and_ramps_and_the_mask_takes_a_quarter():
    yy, xx = np.mgrid[0:8, 0:9]
    ramp = (5 + 2 * yy + 3 * xx).astype(np.float64)[None, ..., None]
    assert np.all(laplacian(ramp)[:, 1:-1, 1:-1] == 0)
    f = _frames()
    share = flat_mask(laplacian(f.astype(np.float64))).mean(axis=(1, 2))
    assert np.all(share >= FLAT_SHARE) and np.all(share < FLAT_SHARE + 0.1)


def test_flat_originals_and_bad_shapes():
    flat = np.full((2, 6, 6, 3), 80, np.uint8)
    assert grain(flat, flat) == 1.0
    bumpy = flat.astype(np.float64)
    bumpy[:, 2, 2] += 10
    assert grain(flat, bumpy) == float("inf")
    with pytest.raises(ValueError, match="one shape"):
        grain(flat, flat[:, :5])


def test_a_film_seen_in_batches_scores_as_a_whole():
    """reconstruct_film scores the film batch by batch (GrainMeter): the same number as all at once."""
    from vaegan.grain import GrainMeter

    f = _frames(n=7)
    rec = f + np.random.default_rng(4).normal(0, 3, f.shape)
    meter = GrainMeter()
    for i in range(0, 7, 3):
        meter.update(f[i:i + 3], rec[i:i + 3])
    assert meter.value() == pytest.approx(grain(f, rec), rel=1e-12)
    assert np.isnan(GrainMeter().value())


def test_reconstruct_reports_the_grain_of_the_frames_it_wrote(tmp_path):
    """reconstruct_film's grain is grain() of the film's decoded frames against the model's
    reconstructions of them (the same frames and batches the film is made of), and the CLI line says it."""
    from click.testing import CliRunner

    import cli
    from kernels import get_backend
    from tests.films import write_film
    from vaegan import checkpoint
    from vaegan.config import make_config
    from vaegan.media.decode import iter_frames
    from vaegan.model import VAEGAN
    from vaegan.optim import Adam
    from vaegan.reconstruct import _run_batch, reconstruct_film

    model = VAEGAN(get_backend("numpy"), make_config("tiny", width=32, height=24, z_dim=8, base_width=4), seed=0)
    film = write_film(tmp_path / "film.mp4", n=10, size=(32, 24), fps=10)
    frames = np.stack([frame for frame, _ in iter_frames(str(film), size=(32, 24), fit="crop")])
    want = grain(frames, _run_batch(model, frames, "running"))
    got = reconstruct_film(model, str(film), str(tmp_path / "out.mp4"), batch_size=4, progress=False)["grain"]
    assert got == pytest.approx(want, rel=1e-9)
    (tmp_path / "run").mkdir()
    checkpoint.save(str(tmp_path / "run" / checkpoint.FILENAME), model,
                    {n: Adam(model.K, f) for n, f in model.flat.items()},
                    {"step": 0, "epoch": 0, "batch": 0, "sigma": None, "seed": 0})
    result = CliRunner().invoke(cli.cli, ["reconstruct", str(tmp_path / "run"), str(film), "-o", str(tmp_path / "o.mp4")])
    assert result.exit_code == 0, result.output
    assert f"grain {want:.2f}" in result.output
