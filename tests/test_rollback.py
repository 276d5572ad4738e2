"""Roll-back on collapse (vaegan/rollback.py, hooked into vaegan/train.py), on a small model and a
generated clip: a collapse injected through a test hook (weights scrambled, a learning rate blown up)
is caught, rolled back and recovered from; a normal run never rolls back; a resume after a roll-back
continues exactly as the uninterrupted run."""
import json
import os
import signal
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

import cli
import vaegan.rollback as rollback
import vaegan.train as train_module
from tests.films import write_film
from vaegan import checkpoint

# 32x24 frames, widths 4/8/16, z = 8, batches of 4: 16 frames are 4 steps an epoch
SMALL = ["--width", "32", "--height", "24", "--base-width", "4", "--z-dim", "8", "--batch-size", "4"]
# a check every 2 steps, two bad checks make a collapse, a good checkpoint at every healthy check
# (the defaults: a check every 25 steps, a good checkpoint every 250)
FAST = dict(every=2, patience=2, good_every=2)


def invoke(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)


def lines(run_dir):
    return [json.loads(line) for line in open(run_dir / "metrics.jsonl")]


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    return write_film(tmp_path_factory.mktemp("film") / "clip.mp4", n=16, size=(48, 36), fps=8)


@pytest.fixture
def fast_checks(monkeypatch):
    monkeypatch.setattr(rollback, "DEFAULTS", replace(rollback.DEFAULTS, **FAST))


def inject(monkeypatch, at_call, harm, interrupt_at_call=None):
    """Wrap the training step: before call number `at_call` (0-based, counted over the whole test,
    roll-backs included; or a set of them) `harm(model, optimizers)` runs. Optionally a real Ctrl-C
    during another call."""
    original = train_module.training_step
    calls = {"n": 0}
    at_calls = {at_call} if isinstance(at_call, int) else set(at_call)

    def hooked(model, optimizers, *rest):
        if calls["n"] in at_calls:
            harm(model, optimizers)
        if calls["n"] == interrupt_at_call:
            os.kill(os.getpid(), signal.SIGINT)
        calls["n"] += 1
        return original(model, optimizers, *rest)

    monkeypatch.setattr(train_module, "training_step", hooked)
    return calls


def scramble_decoder(model, optimizers):
    flat = model.flat["decoder"].data
    flat[...] = model.K.asarray(np.random.default_rng(0).normal(0, 3, flat.shape).astype(flat.dtype))


def blow_up_learning_rates(model, optimizers):
    for opt in optimizers.values():
        opt.lr = 1e4


def test_a_normal_run_never_rolls_back(film, tmp_path, fast_checks):
    out = tmp_path / "normal"
    result = invoke("train", film, "--out", out, "--epochs", 3, *SMALL)
    assert result.exit_code == 0, result.output
    records = lines(out)
    assert not [r for r in records if "event" in r]
    assert [r["step"] for r in records] == list(range(1, 13))
    probed = [r for r in records if "probe_mse" in r]
    assert [r["step"] for r in probed] == [2, 4, 6, 8, 10, 12]
    assert all(np.isfinite(r["probe_mse"]) and np.isfinite(r["probe_sim"]) for r in probed)
    meta, _ = checkpoint.read(out)
    assert meta["rollback"]["rollbacks"] == 0 and meta["rollback"]["lr_scale"] == 1.0
    assert len(meta["rollback"]["probe"]) == rollback.PROBE_FRAMES
    good, _ = checkpoint.read(out / rollback.GOOD_FILENAME)
    assert good["step"] == 12


def record_progress_bars(monkeypatch):
    """Replace train's tqdm with a bar that notes its count after every change (and, like tqdm without a
    terminal, says it is disabled: train then prints a line per epoch)."""
    from vaegan import train as train_module
    bars = []

    class Bar:
        def __init__(self, total, initial=0, **kwargs):
            self.total, self.n, self.seen, self.disable = total, initial, [], True
            bars.append(self)

        def update(self, k):
            self.n += k
            self.seen.append(self.n)

        def refresh(self):
            self.seen.append(self.n)

        def set_postfix_str(self, text):
            pass

        def close(self):
            pass

    monkeypatch.setattr(train_module, "tqdm", Bar)
    return bars


def test_scrambled_weights_are_caught_rolled_back_and_recovered_from(film, tmp_path, fast_checks, monkeypatch):
    out = tmp_path / "scrambled"
    inject(monkeypatch, 6, scramble_decoder)        # the 7th step starts from a destroyed decoder
    bars = record_progress_bars(monkeypatch)
    result = invoke("train", film, "--out", out, "--epochs", 3, *SMALL)
    assert result.exit_code == 0, result.output
    # the bar went back with the roll-back: it counts the steps of the run, never past its total
    # (step 10 is the check that rolls back: the bar had not counted it yet)
    assert bars[0].seen == list(range(1, 10)) + [6] + list(range(7, 13)) and bars[0].total == 12
    records = lines(out)
    events = [r for r in records if "event" in r]
    assert len(events) == 1, events
    e = events[0]
    # checks at 8 and 10 are bad (two in a row); the last good state is the check at 6
    assert (e["event"], e["step"], e["restored_step"], e["lr_scale"]) == ("rollback", 10, 6, 0.5)
    assert "probe" in e["cause"]
    after = records[records.index(e) + 1:]
    assert [r["step"] for r in after] == list(range(7, 13))
    best = min(r["probe_mse"] for r in records[:records.index(e)] if "probe_mse" in r)
    assert after[-1]["probe_mse"] < 3 * best          # recovered: as good as before the collapse
    meta, _ = checkpoint.read(out)
    assert meta["step"] == 12 and meta["rollback"]["rollbacks"] == 1 and meta["rollback"]["since_good"] == 0
    assert meta["rollback"]["lr_scale"] == 0.5
    assert "roll-back" in result.output


def test_a_learning_rate_that_blows_up_is_caught_and_lowered(film, tmp_path, fast_checks, monkeypatch):
    out = tmp_path / "lr"
    inject(monkeypatch, 6, blow_up_learning_rates)
    result = invoke("train", film, "--out", out, "--epochs", 3, *SMALL)
    assert result.exit_code == 0, result.output
    events = [r for r in lines(out) if "event" in r]
    assert events and all(e["restored_step"] == 6 for e in events)
    meta, _ = checkpoint.read(out)
    assert meta["step"] == 12 and meta["rollback"]["since_good"] == 0
    # the roll-back put the learning rates back to the run's own, halved once per roll-back
    assert meta["rollback"]["lr_scale"] == 0.5 ** len(events)


def test_resume_after_a_roll_back_is_exact(film, tmp_path, fast_checks, monkeypatch):
    """Calls 0-9 are steps 1-10; the first scramble (call 6) is rolled back at step 10 to step 6; calls
    10-12 are steps 7-9 again, with a healthy check (a good checkpoint) at 8; the interrupted run stops
    in step 9. The second scramble (call 13, step 10) is rolled back at step 12 to step 8: the
    interrupted run must come back to the same good state as the uninterrupted one (its Ctrl-C save
    at step 9 is no good checkpoint)."""
    harm = (6, 13)
    whole = tmp_path / "whole"
    inject(monkeypatch, harm, scramble_decoder)
    assert invoke("train", film, "--out", whole, "--epochs", 3, *SMALL).exit_code == 0
    monkeypatch.undo()
    monkeypatch.setattr(rollback, "DEFAULTS", replace(rollback.DEFAULTS, **FAST))
    events = [r for r in lines(whole) if "event" in r]
    assert [(e["step"], e["restored_step"]) for e in events] == [(10, 6), (12, 8)]

    parts = tmp_path / "parts"
    inject(monkeypatch, harm, scramble_decoder, interrupt_at_call=12)
    result = invoke("train", film, "--out", parts, "--epochs", 3, *SMALL)
    assert result.exit_code == 130, result.output
    meta, _ = checkpoint.read(parts)
    assert meta["step"] == 9 and meta["rollback"]["rollbacks"] == 1
    result = invoke("train", "--resume", parts)       # the same hook goes on counting: call 13 scrambles
    assert result.exit_code == 0, result.output
    (meta_a, a), (meta_b, b) = checkpoint.read(whole), checkpoint.read(parts)
    assert meta_a["step"] == meta_b["step"] == 12
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert meta_a["rollback"] == meta_b["rollback"]
    strip = lambda d: [{k: v for k, v in r.items() if k != "frames_per_s"} for r in lines(d)]   # noqa: E731
    assert strip(whole) == strip(parts)


def test_a_collapse_that_keeps_coming_back_stops_with_the_good_model_kept(film, tmp_path, fast_checks, monkeypatch):
    out = tmp_path / "hopeless"
    original = train_module.training_step

    def always_nan_from_the_7th(model, optimizers, x, *rest):
        if calls["n"] >= 6:
            x = x.copy()
            x[0, 0, 0, 0] = np.nan
        calls["n"] += 1
        return original(model, optimizers, x, *rest)

    calls = {"n": 0}
    monkeypatch.setattr(train_module, "training_step", always_nan_from_the_7th)
    result = invoke("train", film, "--out", out, "--epochs", 3, *SMALL)
    assert result.exit_code == 1
    message = next(line for line in result.output.splitlines() if "did not recover" in line)
    assert "non-finite at step 6" in message and "3 roll-backs" in message and "last good checkpoint" in message
    assert "Traceback" not in result.output
    events = [r for r in lines(out) if "event" in r]
    assert [e["restored_step"] for e in events] == [6, 6, 6]
    assert [e["lr_scale"] for e in events] == [0.5, 0.25, 0.125]
    meta, _ = checkpoint.read(out)
    assert meta["step"] == 6          # the last good model, also in the run's main checkpoint


@pytest.mark.parametrize("gen_loss, won, lost", [("nonsaturating", 20.0, 5.0), ("minimax", -0.001, -0.001)])
def test_a_discriminator_that_wins_outright_is_a_collapse(film, tmp_path, fast_checks, gen_loss, won, lost):
    """The rule on its own, fed metrics lines: L_GAN near 0 for two checks rolls back; with the
    non-saturating loss only while the decoder's loss explodes (the minimax one cannot)."""
    def guard(name):
        s = train_module.settings(film=str(film), out=str(tmp_path / name), width=32, height=24, base_width=4,
                                  z_dim=8, batch_size=4, epochs=1, gen_loss=gen_loss)
        return train_module.new_run(s.run, s.train, train_module.film_store).guard

    g = guard("won")
    assert [g.check({"step": s, "disc": 0.001, "gen": won}) for s in (1, 2, 3, 4)] == [False, False, False, True]
    assert "discriminator won outright" in g.pending[0]["cause"]
    g = guard("close")          # a discriminator that is merely ahead
    assert not any(g.check({"step": s, "disc": 0.05, "gen": won}) for s in range(1, 9))
    if gen_loss == "nonsaturating":
        g = guard("calm")       # near-0 L_GAN with a decoder's loss that does not explode: no collapse
        assert not any(g.check({"step": s, "disc": 0.001, "gen": lost}) for s in range(1, 9))


def test_the_probe_frames_are_held_out_of_training_where_the_film_can_spare_them(tmp_path, monkeypatch):
    """On a film with HOLD_OUT_MIN frames besides the probe's, no batch ever holds a probe frame and an
    epoch has the steps of the frames that remain; a short film (the 16-frame clip) keeps them in."""
    from vaegan.media.framestore import FrameStore
    seen = []
    original = FrameStore.batch

    def recording(self, indices):
        seen.append(np.asarray(indices).tolist())
        return original(self, indices)

    monkeypatch.setattr(FrameStore, "batch", recording)
    long_film = write_film(tmp_path / "long.mp4", n=48, size=(48, 36), fps=8)
    out = tmp_path / "long"
    result = invoke("train", long_film, "--out", out, "--epochs", 2, *SMALL)
    assert result.exit_code == 0, result.output
    meta, _ = checkpoint.read(out)
    probe = meta["rollback"]["probe"]
    assert meta["rollback"]["held_out"] is True and len(probe) == rollback.PROBE_FRAMES
    batches = [b for b in seen if len(b) == 4]                 # the training batches (batch size 4)
    assert len(batches) == 2 * (48 - rollback.PROBE_FRAMES) // 4
    assert not set(probe) & {i for b in batches for i in b}
    assert [r["step"] for r in lines(out) if "step" in r and "event" not in r] == list(range(1, 21))

    assert rollback.pick_probe(16, 0, 4)[1] is False            # 8 frames besides the probe: too few
    assert rollback.pick_probe(48, 0, 4)[1] is True
    assert rollback.held_out_frames({"rollback": {"probe": [1, 2], "held_out": False}}, 48, 0, 4) == []
    assert rollback.held_out_frames({"rollback": {"probe": [1, 2]}}, 48, 0, 4) == []   # an older checkpoint
