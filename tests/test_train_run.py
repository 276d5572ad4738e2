"""The training command end to end, on a tiny model and a generated clip (vaegan/train.py, cli.py):
what a run writes, Ctrl-C and an exact resume, the NaN guard, refusal of a checkpoint of another
shape, and the commands that use a trained model (reconstruct, sample, morph)."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

import cli
import vaegan.train as train_module
from tests.filmcheck import check_audio, check_frames, check_rate, expected_reconstruction, psnr
from tests.films import decode_all, write_film
from vaegan import checkpoint
from vaegan.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# a model small enough for a test: 32x24 frames, widths 4/8/16, z = 8
FILM_FPS = Fraction(30000, 1001)
SMALL = ["--width", "32", "--height", "24", "--base-width", "4", "--z-dim", "8", "--batch-size", "4"]


def invoke(*args):
    result = CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)
    return result


def train_args(film, out, epochs=2, *extra):
    return ["train", film, "--out", out, "--epochs", epochs, *SMALL, *extra]


def params(run_dir):
    meta, tensors = checkpoint.read(run_dir)
    return meta, tensors


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    # NTSC's 30000/1001 frames/s, with sound: the run's reconstruction.mp4 must keep both exactly
    return write_film(tmp_path_factory.mktemp("film") / "clip.mp4", n=16, size=(48, 36), fps=FILM_FPS, audio="aac")


@pytest.fixture(scope="module")
def run(film, tmp_path_factory):
    """One uninterrupted run of 3 epochs x 4 steps, kept for the tests that read it."""
    out = tmp_path_factory.mktemp("runs") / "run"
    result = invoke(*train_args(film, out, 3))
    assert result.exit_code == 0, result.output
    return out, result.output


def test_a_run_writes_checkpoint_grids_curves_metrics_and_the_film(run, film):
    out, output = run
    assert "re-imagined film" in output and "mean PSNR" in output
    records = [json.loads(line) for line in open(out / "metrics.jsonl")]
    assert [r["step"] for r in records] == list(range(1, 13))
    for r in records:
        assert {"kl", "sim", "disc", "gen", "pixel", "sigma", "frames_per_s"} <= set(r)
        assert all(np.isfinite(r[k]) for k in ("kl", "sim", "disc", "gen", "pixel"))
    sigmas = [r["sigma"] for r in records]
    assert sigmas[0] == 1.0 and sigmas == sorted(sigmas, reverse=True) and sigmas[-1] < 0.2
    assert sorted(os.listdir(out / "grids")) == ["step_000004.png", "step_000008.png", "step_000012.png"]
    assert (out / "losses.png").stat().st_size > 0
    meta, _ = params(out)
    assert (meta["step"], meta["epoch"], meta["batch"]) == (12, 3, 0)
    # the default recipe's --kl-weight auto*30: 30 x z_dim 8 over the 4*16*12 + 8*8*6 + 16*4*3 features
    # the similarity compares
    assert meta["train"]["kl_weight"] == pytest.approx(30 * 8 / (768 + 384 + 192))
    assert meta["sigma"] == pytest.approx(sigmas[-1], abs=1e-6)
    # the film: frame i within the codec's error of the final model's reconstruction of training frame i
    # (the checkpoint holds the model the film was made with; 12 steps give look-alike frames, so the
    # order is checked in test_film_content.py), at the film's exact rate, with its sound
    from vaegan.reconstruct import load_model
    inputs, expected = expected_reconstruction(load_model(str(out))[0], film)
    check_frames(decode_all(out / "reconstruction.mp4"), expected, "reconstruction.mp4")
    check_rate(out / "reconstruction.mp4", FILM_FPS)
    check_audio(out / "reconstruction.mp4", film, 16, FILM_FPS)
    rows = list(csv.DictReader(open(out / "reconstruction_error.csv")))
    assert [int(r["frame"]) for r in rows] == list(range(16))
    for r, a, b in zip(rows, inputs, expected):   # the error the CSV reports is the reconstruction's, frame by frame
        assert float(r["psnr_db"]) == pytest.approx(psnr(a, b), abs=0.01)
    assert (out / "reconstruction_error.png").stat().st_size > 0


def _interrupt_at(monkeypatch, step):
    """Send ourselves SIGINT (a real Ctrl-C) while step `step` runs."""
    original = train_module.Run.step

    def step_then_interrupt(self, x):
        if self.state["step"] + 1 == step:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, x)

    monkeypatch.setattr(train_module.Run, "step", step_then_interrupt)


def test_ctrl_c_saves_and_resume_continues_exactly(run, film, tmp_path, monkeypatch):
    out = tmp_path / "interrupted"
    _interrupt_at(monkeypatch, 6)                      # in the middle of epoch 2
    result = invoke(*train_args(film, out, 3))
    assert result.exit_code == 130
    assert "interrupted after step 6; checkpoint saved" in result.output and "--resume" in result.output
    assert params(out)[0]["step"] == 6
    monkeypatch.undo()
    result = invoke("train", "--resume", out)
    assert result.exit_code == 0, result.output
    assert "resuming" in result.output and "at step 6" in result.output
    # the same steps, noise and data order as the uninterrupted run: identical weights and losses
    (meta_a, a), (meta_b, b) = params(run[0]), params(out)
    assert meta_b["step"] == meta_a["step"] == 12
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    lines = lambda d: [{k: v for k, v in json.loads(l).items() if k != "frames_per_s"} for l in open(d / "metrics.jsonl")]
    assert lines(out) == lines(run[0])


def test_ctrl_c_in_a_real_process_exits_cleanly_with_a_checkpoint(film, tmp_path):
    out = tmp_path / "proc"
    args = [sys.executable, os.path.join(ROOT, "cli.py"), *map(str, train_args(film, out, 400, "--checkpoint-every", 1))]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "checkpoint saved" in err
    meta, _ = params(out)
    assert meta["step"] >= 3 and meta["step"] == len(metrics.read_text().splitlines())


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(film, tmp_path, monkeypatch):
    original = train_module.training_step

    def poisoned(model, optimizers, x, *rest):
        if train_module_state["calls"] >= 2:            # from the third step on (roll-backs cannot help)
            x = x.copy()
            x[0, 0, 0, 0] = np.nan
        train_module_state["calls"] += 1
        return original(model, optimizers, x, *rest)

    train_module_state = {"calls": 0}
    monkeypatch.setattr(train_module, "training_step", poisoned)
    out = tmp_path / "nan"
    result = invoke(*train_args(film, out, 2, "--checkpoint-every", 1))
    assert result.exit_code == 1
    assert "non-finite at step 2" in result.output and "last good checkpoint" in result.output
    assert "Traceback" not in result.output
    assert params(out)[0]["step"] == 2


def test_a_checkpoint_of_another_shape_is_refused_naming_both(run):
    from kernels import get_backend
    from vaegan.config import make_config
    from vaegan.model import VAEGAN

    meta, tensors = checkpoint.read(run[0])
    other = VAEGAN(get_backend("numpy"), make_config("tiny"))
    with pytest.raises(UserError, match=r"checkpoint is for tiny \(32x24.*not tiny \(64x48"):
        checkpoint.load_into(run[0], meta, tensors, other)
    result = invoke("train", "--resume", run[0], "--preset", "broad96x64")
    assert result.exit_code == 1 and "broad96x64" in result.output and "tiny" in result.output


def test_reconstruct_any_film_with_sound_side_by_side(run, tmp_path):
    other = write_film(tmp_path / "other.mp4", n=10, size=(80, 40), fps=5, audio="aac")   # not the training film
    out = tmp_path / "re.mp4"
    result = invoke("reconstruct", run[0], other, "-o", out, "--side-by-side", "--bn-stats", "batch",
                    "--batch-size", 4)
    assert result.exit_code == 0, result.output
    frames = decode_all(out)
    assert frames.shape == (10, 24, 64, 3)                 # original | reconstruction
    assert len(list(csv.DictReader(open(tmp_path / "re_error.csv")))) == 10
    assert (tmp_path / "re_error.png").exists()
    import av
    with av.open(str(out)) as f:
        assert len(f.streams.audio) == 1


def test_reconstruct_one_image(run, tmp_path):
    from PIL import Image
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "black.png")   # the paper's black frame
    result = invoke("reconstruct", run[0], "--image", tmp_path / "black.png", "-o", tmp_path / "out.png")
    assert result.exit_code == 0, result.output
    assert "PSNR" in result.output
    assert Image.open(tmp_path / "out.png").size == (32, 24)


def test_sample_and_morph(run, film, tmp_path):
    from PIL import Image
    result = invoke("sample", run[0], "--n", 6, "-o", tmp_path / "s.png")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "s.png").size == (2 + 6 * 34, 2 + 26)        # 6 frames in one row, 2-px borders
    result = invoke("morph", run[0], film, "--from", 0.0, "--to", 0.4, "--seconds", 2, "--fps", 5,
                    "-o", tmp_path / "m.mp4")
    assert result.exit_code == 0, result.output
    assert decode_all(tmp_path / "m.mp4").shape == (10, 24, 32, 3)


@pytest.mark.parametrize("args, message", [
    (["reconstruct", "{run}", "{missing}", "-o", "{tmp}/o.mp4"], "no such file"),
    (["reconstruct", "{tmp}/nothing", "{film}", "-o", "{tmp}/o.mp4"], "no such checkpoint"),
    (["reconstruct", "{text}", "{film}", "-o", "{tmp}/o.mp4"], "not a readable checkpoint"),
    (["reconstruct", "{run}", "{film}", "-o", "{tmp}/no/dir/o.mp4"], "does not exist"),
    (["train", "{text}", "--out", "{tmp}/r"], "not a media file"),
    (["train", "{film}", "--out", "{tmp}/r2", "--batch-size", "64", "--width", "32", "--height", "24"],
     "fewer than one batch"),
    (["train", "{film}", "--out", "{tmp}/r3", "--width", "30"], "divisible by 8"),
    (["train", "{film}", "--out", "{tmp}/r4", "--noise-schedule", "fast"], "noise schedule"),
    (["train", "--resume", "{tmp}/nothing"], "no such checkpoint"),
])
def test_bad_input_is_one_line_and_a_non_zero_exit(run, film, tmp_path, args, message):
    text = tmp_path / "notes.mp4"   # text named like a film (FFmpeg would render a .txt as ANSI art)
    text.write_text("not a film\n" * 40)
    fill = dict(run=run[0], film=film, tmp=tmp_path, missing=tmp_path / "missing.mp4", text=text)
    result = invoke(*[a.format(**fill) for a in args])
    assert result.exit_code == 1, result.output
    assert message in result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error: ") and "Traceback" not in result.output
