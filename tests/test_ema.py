"""Averaged weights (vaegan/ema.py) and the learning-rate schedule (vaegan/lr_schedule.py): the average
follows its formula, a checkpoint keeps it, a resumed run continues it exactly, and every command that
draws (reconstruct, sample, the strip) draws with it rather than with the live weights."""
import json

import numpy as np
import pytest

import vaegan.train as train_module
from kernels import get_backend
from tests.cli_runs import SMALL, invoke
from tests.films import write_film
from vaegan import checkpoint
from vaegan.config import make_config
from vaegan.ema import EMA, averaged, decay_at, validate_decay
from vaegan.lr_schedule import LRSchedule
from vaegan.model import VAEGAN
from vaegan.optim import Adam


def small_model(seed=0):
    return VAEGAN(get_backend("numpy"), make_config("tiny", 32, 24, 8, 4), seed=seed)


def live(model, name):
    return model.flat[name].data, dict(model.networks()[name].named_buffers())


def test_the_average_is_the_decay_weighted_mean_of_the_steps_weights():
    model, d = small_model(), 0.9
    ema = EMA(model, d)
    rng = np.random.default_rng(0)
    seen = {"encoder": [], "decoder": []}
    seen_bn = []
    for _ in range(4):
        for name in seen:
            params, buffers = live(model, name)
            params[...] = rng.standard_normal(params.shape).astype(params.dtype)
            for buf in buffers.values():
                buf[...] = rng.random(buf.shape).astype(buf.dtype)
            seen[name].append(params.copy())
        seen_bn.append(next(iter(live(model, "decoder")[1].items()))[1].copy())
        ema.update()
    weights = np.array([d ** (3 - k) for k in range(4)])     # age 3, 2, 1, 0
    weights /= weights.sum()
    for name in seen:
        expect = sum(w * p.astype(np.float64) for w, p in zip(weights, seen[name]))
        np.testing.assert_allclose(ema.params[name], expect, rtol=1e-5, atol=1e-6)
    first_bn = next(iter(ema.buffers["decoder"].values()))
    np.testing.assert_allclose(first_bn, sum(w * b for w, b in zip(weights, seen_bn)), rtol=1e-5, atol=1e-6)
    assert ema.updates == 4
    assert decay_at(d, 1) == 0.0 and decay_at(d, 10 ** 6) == pytest.approx(d)


def test_the_discriminator_is_not_averaged_and_applied_restores_the_live_weights():
    model = small_model()
    ema = EMA(model, 0.5)
    model.flat["decoder"].data += 1.0
    model.flat["discriminator"].data += 1.0
    ema.update()
    assert set(ema.params) == {"encoder", "decoder"}
    before = {n: f.data.copy() for n, f in model.flat.items()}
    model.ema = ema
    model.flat["decoder"].data += 1.0                  # live moves on; the average does not
    live_now = model.flat["decoder"].data.copy()
    with averaged(model):
        np.testing.assert_array_equal(model.flat["decoder"].data, ema.params["decoder"])
        np.testing.assert_array_equal(model.flat["discriminator"].data, before["discriminator"])
    np.testing.assert_array_equal(model.flat["decoder"].data, live_now)


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, float("nan"), "x", True])
def test_a_bad_decay_is_refused(bad):
    with pytest.raises(ValueError, match="ema decay"):
        validate_decay(bad)


def test_a_checkpoint_round_trips_the_averages(tmp_path):
    model = small_model()
    model.ema = EMA(model, 0.9)
    opts = {n: Adam(model.K, f) for n, f in model.flat.items()}
    for _ in range(3):
        model.flat["encoder"].data += 0.5
        model.ema.update()
    path = str(tmp_path / "c.safetensors")
    checkpoint.save(path, model, opts, {"step": 3})
    meta, tensors = checkpoint.read(path)
    other = small_model(seed=1)
    other.ema = EMA(other, 0.9)
    checkpoint.load_into(path, meta, tensors, other, {n: Adam(other.K, f) for n, f in other.flat.items()})
    assert other.ema.updates == 3
    for name in ("encoder", "decoder"):
        np.testing.assert_array_equal(other.ema.params[name], model.ema.params[name])
        for b, v in model.ema.buffers[name].items():
            np.testing.assert_array_equal(other.ema.buffers[name][b], v)
        np.testing.assert_array_equal(other.flat[name].data, model.flat[name].data)     # live stays live
    # a model that only draws takes the averages as its weights
    drawer = small_model(seed=2)
    checkpoint.load_into(path, meta, tensors, drawer, averaged=True)
    np.testing.assert_array_equal(drawer.flat["encoder"].data, model.ema.params["encoder"])
    assert not np.array_equal(drawer.flat["encoder"].data, model.flat["encoder"].data)


def test_the_lr_schedules():
    assert [LRSchedule("constant")(p) for p in (0, 0.5, 1)] == [1, 1, 1]
    assert [LRSchedule("linear-decay")(p) for p in (0, 0.25, 1)] == [1, 0.75, 0]
    assert LRSchedule("cosine")(0.5) == pytest.approx(0.5) and LRSchedule("cosine")(1) == pytest.approx(0)
    late = LRSchedule("cosine@0.5")
    assert late(0.4) == 1 and late(0.75) == pytest.approx(0.5) and late(1) == pytest.approx(0)
    assert LRSchedule("linear-decay@0.6")(0.8) == pytest.approx(0.5)
    for bad in ("fast", "constant@0.5", "cosine@1", "cosine@-0.1", "cosine@x", "linear"):
        with pytest.raises(ValueError, match="lr schedule"):
            LRSchedule(bad)


def test_adam_moves_by_the_scaled_rate():
    model = small_model()
    flat = model.flat["decoder"]
    flat.grad[...] = 1.0
    start = flat.data.copy()
    opt = Adam(model.K, flat, lr=1e-3)
    opt.scale = 0.0
    opt.step()
    np.testing.assert_array_equal(flat.data, start)
    opt.scale = 0.5
    opt.step()        # Adam's first moves are lr * sign(grad) (bias-corrected m / sqrt(v) = 1)
    np.testing.assert_allclose(start - flat.data, 0.5e-3, rtol=1e-3)


# --- end to end: a run with --ema and --lr-schedule --------------------------------------------


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    return write_film(tmp_path_factory.mktemp("film") / "clip.mp4", n=16, size=(48, 36), fps=12)


AVG = ["--ema", "0.9", "--lr-schedule", "cosine", "--kl-warmup", "0.5", "--no-final-film"]


@pytest.fixture(scope="module")
def ema_run(film, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ema"
    result = invoke("train", film, "--out", out, "--epochs", 2, *SMALL, *AVG)
    assert result.exit_code == 0, result.output
    return out


def test_a_resumed_run_continues_the_average_exactly(ema_run, film, tmp_path, monkeypatch):
    out = tmp_path / "interrupted"
    real_step = train_module.Run.step

    def step_then_interrupt(self, x):
        got = real_step(self, x)
        if self.state["step"] == 4:                  # the 5th step (counted after this returns)
            import signal
            signal.raise_signal(signal.SIGINT)
        return got
    monkeypatch.setattr(train_module.Run, "step", step_then_interrupt)
    assert invoke("train", film, "--out", out, "--epochs", 2, *SMALL, *AVG).exit_code == 130
    monkeypatch.undo()
    assert checkpoint.read(str(out))[0]["ema_updates"] == 5
    assert invoke("train", "--resume", out, "--no-final-film").exit_code == 0
    (meta_a, a), (meta_b, b) = checkpoint.read(str(ema_run)), checkpoint.read(str(out))
    assert meta_a["ema_updates"] == meta_b["ema_updates"] == meta_a["step"] == 8
    assert "encoder.ema.params" in a and set(a) == set(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    lines = lambda d: [{k: v for k, v in json.loads(l).items() if k != "frames_per_s"} for l in open(d / "metrics.jsonl")]
    assert lines(out) == lines(ema_run)


def test_reconstruct_and_sample_draw_with_the_averages(ema_run, film, tmp_path):
    from vaegan.evaluate import reconstruct_frames
    from vaegan.media.decode import iter_frames
    from vaegan.reconstruct import load_model

    meta, tensors = checkpoint.read(str(ema_run))
    model, _ = load_model(str(ema_run))
    np.testing.assert_array_equal(model.flat["decoder"].data, tensors["decoder.ema.params"])
    live_model = small_model()
    checkpoint.load_into(str(ema_run), meta, tensors, live_model)
    frames = np.stack([f for f, _ in iter_frames(str(film), size=(32, 24))])
    assert not np.array_equal(reconstruct_frames(model, frames), reconstruct_frames(live_model, frames))
    # the sample command's picture is the averaged model's, not the live one's
    from PIL import Image
    from vaegan.reconstruct import sample_grid

    assert invoke("sample", ema_run, "--n", 4, "-o", tmp_path / "s.png", "--from", "prior").exit_code == 0
    sample_grid(model, 4, str(tmp_path / "avg.png"))
    sample_grid(live_model, 4, str(tmp_path / "live.png"))
    pixels = lambda name: np.asarray(Image.open(tmp_path / name))
    np.testing.assert_array_equal(pixels("s.png"), pixels("avg.png"))
    assert not np.array_equal(pixels("s.png"), pixels("live.png"))


@pytest.mark.parametrize("args,message", [
    (["--ema", "1"], "--ema"),
    (["--lr-schedule", "fast"], "lr schedule"),
    (["--kl-weight", "auto*x"], "auto*N"),
    (["--kl-warmup", "2"], "--kl-warmup"),
])
def test_bad_options_are_one_line(film, tmp_path, args, message):
    result = invoke("train", film, "--out", tmp_path / "r", *SMALL, *args)
    assert result.exit_code != 0 and message in result.output, result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: ") and "Traceback" not in result.output


def test_each_step_gets_the_scheduled_rate_and_kl_weight(film, tmp_path, monkeypatch):
    seen = []
    real = train_module.training_step

    def spy(model, optimizers, x, eps, z_p, sigma, tc, *comm):
        seen.append((optimizers["decoder"].scale, tc.kl_weight))
        return real(model, optimizers, x, eps, z_p, sigma, tc, *comm)
    monkeypatch.setattr(train_module, "training_step", spy)
    result = invoke("train", film, "--out", tmp_path / "r", "--epochs", 2, *SMALL, "--lr-schedule", "linear-decay",
                    "--kl-warmup", "0.5", "--kl-weight", "0.2", "--no-final-film")
    assert result.exit_code == 0, result.output
    total = len(seen)
    assert total == 8
    for s, (scale, kl) in enumerate(seen):
        p = s / total
        assert scale == pytest.approx(1 - p) and kl == pytest.approx(0.2 * min(1.0, p / 0.5))
