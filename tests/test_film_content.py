"""The film `reconstruct` writes, checked for what a user sees and hears (tests/filmcheck.py): frame i is
the model's reconstruction of source frame i, at the source's exact rate, with the source's sound.

The model is a fresh one whose encoder and decoder weights are scaled by GAIN: a freshly built model
(or one trained for the few steps a test can afford) gives nearly the same grey frame for every input,
and a film of one grey frame repeated is as close to the source's frames as to anything. Scaled, eval-mode
batch-norm (running mean 0, variance 1) passes the gain through every layer, and the reconstruction is
vivid, 7-16 dB from the source frame it came from, so a film of the inputs fails the check.
"""
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

import cli
from kernels import get_backend
from tests.filmcheck import check_audio, check_frames, check_rate, expected_reconstruction
from tests.films import decode_all, frame_index, pattern, write_film
from vaegan import checkpoint
from vaegan.config import ModelConfig
from vaegan.model import VAEGAN
from vaegan.optim import Adam
from vaegan.reconstruct import load_model

CFG = ModelConfig(name="tiny", width=32, height=24, z_dim=8, enc_widths=(4, 8, 16), dec_start=16,
                  dec_widths=(8, 4, 3), disc_widths=(4, 8, 16), disc_strides=(2, 2, 2), sim_layers=(0, 1, 2))
GAIN = 3.5


def moving_blob(i, width=80, height=40):
    """pattern(i) with a bright blob that jumps across the frame: each frame unlike the one before."""
    yy, xx = np.mgrid[0:height, 0:width]
    blob = 120 * np.exp(-((xx - (i * 37) % width) ** 2 + (yy - (i * 23) % height) ** 2) / 60.0)
    return np.clip(pattern(i, width, height) + blob[..., None] * np.array([1.0, -1.0, 0.5]), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    K = get_backend("numpy")
    model = VAEGAN(K, CFG, seed=0)
    for name in ("encoder", "decoder"):
        model.flat[name].data *= np.float32(GAIN)
    optimizers = {n: Adam(K, f) for n, f in model.flat.items()}
    out = tmp_path_factory.mktemp("gained")
    checkpoint.save(str(out / checkpoint.FILENAME), model, optimizers, {"step": 0})
    return out


def reconstruct(run_dir, source, out, *extra):
    result = CliRunner().invoke(cli.cli, ["reconstruct", str(run_dir), str(source), "-o", str(out), "--batch-size", "4",
                                          *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("fps", [Fraction(30000, 1001), Fraction(25)], ids=["29.97", "25"])
def test_reconstruct_writes_the_models_frames_at_the_source_rate_with_its_sound(run_dir, tmp_path, fps):
    n = 10
    source = write_film(tmp_path / "source.mp4", pictures=[moving_blob(i) for i in range(n)], size=(80, 40),
                        fps=fps, audio="aac")
    reconstruct(run_dir, source, tmp_path / "dream.mp4")
    model, _ = load_model(str(run_dir))
    _, expected = expected_reconstruction(model, source)
    check_frames(decode_all(tmp_path / "dream.mp4"), expected, "dream.mp4")
    check_rate(tmp_path / "dream.mp4", fps)
    check_audio(tmp_path / "dream.mp4", source, n, fps)


def test_side_by_side_keeps_each_source_frame_beside_its_own_reconstruction_in_order(run_dir, tmp_path):
    """The model's frames look alike through H.264 (they differ by less than the codec's error), so the
    order is read off the left half: pattern(i) says which frame it is (its blue channel)."""
    n = 12
    source = write_film(tmp_path / "source.mp4", n=n, size=(80, 40), fps=Fraction(30000, 1001))
    reconstruct(run_dir, source, tmp_path / "both.mp4", "--side-by-side")
    model, _ = load_model(str(run_dir))
    inputs, expected = expected_reconstruction(model, source)
    got = decode_all(tmp_path / "both.mp4")
    assert got.shape == (n, CFG.height, 2 * CFG.width, 3)
    assert [frame_index(p) for p in got[:, :, :CFG.width]] == list(range(n))
    check_frames(got[:, :, :CFG.width], inputs, "both.mp4, left")
    check_frames(got[:, :, CFG.width:], expected, "both.mp4, right")
    check_rate(tmp_path / "both.mp4", Fraction(30000, 1001))
