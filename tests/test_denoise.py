"""The output filter (vaegan/denoise.py): it is the bilateral filter its docstring defines, it takes noise
off a flat area and leaves an edge where it is, and every command that draws passes through it, with the
run's own range unless one is given."""
import numpy as np
import pytest

from kernels import get_backend
from tests.cli_runs import SMALL, invoke
from tests.films import write_film
from vaegan import checkpoint
from vaegan.denoise import bilateral, validate_denoise
from vaegan.media.framestore import to_uint8_frames

GREY = 2.0 / 255.0      # one grey level in the decoder's [-1, 1]


def bilateral_by_definition(x, sigma):
    """The module docstring's sum, pixel by pixel, in float64, with the frame's edge replicated."""
    n, c, h, w = x.shape
    out = np.empty_like(x, dtype=np.float64)
    s = sigma * GREY
    for i in range(n):
        for y in range(h):
            for xx in range(w):
                p = x[i, :, y, xx].astype(np.float64)
                total, weight = np.zeros(c), 0.0
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        q = x[i, :, min(max(y + dy, 0), h - 1), min(max(xx + dx, 0), w - 1)].astype(np.float64)
                        wq = np.exp(-(dy * dy + dx * dx) / 2) * np.exp(-np.mean((q - p) ** 2) / (2 * s * s))
                        total += wq * q
                        weight += wq
                out[i, :, y, xx] = total / weight
    return out


@pytest.mark.parametrize("sigma", [3.0, 10.0, 40.0])
def test_the_filter_is_its_definition(rng, sigma):
    x = rng.uniform(-1, 1, (2, 3, 7, 9))
    x[0, :, :, 4:] = x[0, :, :, 4:] * 0.02 + 0.5          # a flat area with an edge, beside noise of all sizes
    np.testing.assert_allclose(bilateral(x, sigma, np), bilateral_by_definition(x, sigma), rtol=0, atol=1e-12)


def test_float32_in_float32_out_and_off_is_the_input_itself(rng):
    x = rng.uniform(-1, 1, (1, 3, 5, 6)).astype(np.float32)
    assert bilateral(x, 0.0, np) is x
    y = bilateral(x, 10.0, np)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, bilateral_by_definition(x, 10.0), rtol=0, atol=1e-6)   # float32 rounding


def test_a_constant_frame_is_unchanged():
    x = np.full((1, 3, 6, 8), 0.3)
    np.testing.assert_allclose(bilateral(x, 10.0, np), x, rtol=0, atol=1e-15)


def flat_noise_and_edge(rng, noise_grey=2.0, step_grey=100.0, n=8, h=24, w=32):
    """Frames of a flat grey with an upright edge of step_grey in the middle, plus Gaussian noise."""
    x = np.full((n, 3, h, w), -0.2)
    x[..., w // 2:] += step_grey * GREY
    return x + rng.standard_normal(x.shape) * noise_grey * GREY, x


def test_it_takes_the_grain_off_a_flat_area(rng):
    noisy, clean = flat_noise_and_edge(rng)
    flat = (slice(None), slice(None), slice(None), slice(2, 14))      # away from the edge and the border
    before = np.sqrt(np.mean((noisy - clean)[flat] ** 2)) / GREY
    after = np.sqrt(np.mean((bilateral(noisy, 10.0, np) - clean)[flat] ** 2)) / GREY
    # a weighted mean of the 3x3 neighbourhood (weights 1, 0.61 x 4, 0.37 x 4, sum 4.90): independent noise's
    # RMS times sqrt(sum w^2) / sum w = 1.74 / 4.90 = 0.35, where the range term is near 1 (2 grey levels
    # against 10); a filter whose range term shut out the neighbours would leave it at 1
    assert after < 0.45 * before, (before, after)


def test_it_leaves_an_edge_where_it_is(rng):
    noisy, clean = flat_noise_and_edge(rng)
    out = bilateral(noisy, 10.0, np)
    w = clean.shape[-1]
    # the columns either side of the edge keep their side's level to within the noise left there; a
    # 3x3 blur of the same spatial weights would pull each (0.61 + 2 x 0.37) / 4.90 = 27% of the way
    # across: 27 grey levels
    for col in (w // 2 - 1, w // 2):
        off = np.abs(out[..., col] - clean[..., col]).mean() / GREY
        assert off < 3.0, (col, off)


@pytest.mark.parametrize("bad", [-1, 256, "ten", True])
def test_a_bad_range_is_refused(bad):
    with pytest.raises(ValueError, match="denoise"):
        validate_denoise(bad)


# --- every command that draws passes through it ----------------------------------------------------


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    return write_film(tmp_path_factory.mktemp("film") / "clip.mp4", n=16, size=(48, 36), fps=12)


@pytest.fixture(scope="module")
def run(film, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "denoised"
    # (live weights: after so few steps the averaged decoder still draws a flat grey, which no filter changes)
    result = invoke("train", film, "--out", out, "--epochs", 3, *SMALL, "--denoise", 12, "--ema", 0, "--no-final-film")
    assert result.exit_code == 0, result.output
    return out


def test_the_run_keeps_its_range_and_draws_through_it(run, film):
    from vaegan.evaluate import reconstruct_frames
    from vaegan.media.decode import iter_frames
    from vaegan.media.framestore import to_float_batch
    from vaegan.reconstruct import load_model

    assert checkpoint.read(str(run))[0]["run"]["denoise"] == 12
    model, _ = load_model(str(run))
    assert model.denoise == 12
    frames = np.stack([f for f, _ in iter_frames(str(film), size=(32, 24))])
    raw = model.reconstruct(model.K.asarray(to_float_batch(frames)), mode="eval")
    np.testing.assert_array_equal(reconstruct_frames(model, frames), to_uint8_frames(bilateral(raw, 12, np)))
    assert not np.array_equal(reconstruct_frames(model, frames), to_uint8_frames(raw))
    assert load_model(str(run), denoise=0)[0].denoise == 0


def test_a_run_from_before_the_filter_draws_without_it(run, tmp_path):
    from safetensors.numpy import save_file
    import json

    meta, tensors = checkpoint.read(str(run))
    del meta["run"]["denoise"]
    old = tmp_path / "old.safetensors"
    save_file(tensors, str(old), metadata={"vaegan": json.dumps(meta)})
    from vaegan.reconstruct import load_model
    assert load_model(str(old))[0].denoise == 0.0


def test_reconstruct_and_sample_take_the_runs_range_or_the_one_given(run, film, tmp_path):
    from PIL import Image

    pixels = lambda name: np.asarray(Image.open(tmp_path / name))
    for args, name in (([], "own.png"), (["--denoise", 12], "twelve.png"), (["--denoise", 0], "off.png")):
        result = invoke("sample", run, "--n", 4, "-o", tmp_path / name, "--from", "prior", *args)
        assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(pixels("own.png"), pixels("twelve.png"))
    assert not np.array_equal(pixels("own.png"), pixels("off.png"))
    said = {}
    for args, name in (([], "own_r.png"), (["--denoise", 0], "off_r.png")):
        result = invoke("reconstruct", run, film, "-o", tmp_path / (name + ".mp4"), "--strip", tmp_path / name, *args)
        assert result.exit_code == 0, result.output
        said[name] = result.output
    assert not np.array_equal(pixels("own_r.png"), pixels("off_r.png"))
    # the scores say what they were measured on
    assert "through the output filter (--denoise 12)" in said["own_r.png"]
    assert "output filter" not in said["off_r.png"]


@pytest.mark.parametrize("command", ["train", "reconstruct"])
def test_a_bad_range_on_the_command_line_is_one_line(command, run, film, tmp_path):
    args = (["train", film, "--out", tmp_path / "r", *SMALL] if command == "train"
            else ["reconstruct", run, film, "-o", tmp_path / "o.mp4"])
    result = invoke(*args, "--denoise", 300)
    assert result.exit_code != 0 and "--denoise" in result.output, result.output
    assert "Traceback" not in result.output


@pytest.mark.gpu
def test_on_the_gpu_backends_it_matches_numpy(rng):
    for name in ("cupy", "triton"):
        K = get_backend(name)
        x = rng.uniform(-1, 1, (2, 3, 9, 11)).astype(np.float32)
        got = K.to_numpy(bilateral(K.asarray(x), 10.0, K.xp))
        # float32 on both; the sums differ in order only: a few ulps of values near 1
        np.testing.assert_allclose(got, bilateral(x, 10.0, np), rtol=0, atol=1e-5)
