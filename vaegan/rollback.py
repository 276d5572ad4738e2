"""Training that survives its own collapse: watch a fixed probe set, and roll back when the run breaks.

The seed paper's pain: at 256x144 "one of the three networks would fail, resulting in a sharp,
irrevocable degradation of image quality, forcing the process to be started again from the beginning".
The Guard here watches a run (vaegan/train.py) and undoes such a failure instead:

    probe set    PROBE_FRAMES frames of the film, picked at the run's start from (seed, 7) and stored in
                 the checkpoint, and held out of the shuffled batches (vaegan/train.py) where the film
                 has at least HOLD_OUT_MIN frames besides them, so the probe asks "does the model still
                 reconstruct frames of this film it never trained on"; a collapse destroys that first.
                 A shorter film (a test clip) keeps them in its batches: it has none to spare
    every K      steps: the probe set through the model in eval mode, z = mu; its pixel MSE (on [-1, 1],
                 as the "pixel" loss) and L_sim (the discriminator's feature error, as the "sim" loss) go
                 into that step's line of metrics.jsonl as probe_mse and probe_sim
    collapse     (a) a loss is NaN or infinite (the step has moved no weight: vaegan/step.py), or
                 (b) probe_mse > best probe_mse so far x FACTOR at M checks in a row, or
                 (c) the discriminator wins outright at M checks in a row: over the steps since the last
                     check, mean L_GAN < DISC_FLOOR while the decoder's adversarial loss > GEN_CEILING.
                     The ceiling is for the non-saturating L_gen = -log D(fake), which explodes as D wins;
                     the minimax one, log(1 - D(fake)), goes to 0 instead, so there L_GAN alone decides
    healthy      a check with none of these: the state is written to checkpoint-good.safetensors (apart
                 from the latest checkpoint, atomically: vaegan/checkpoint.py) when GOOD_EVERY steps have
                 passed since the last such write (a broad model's checkpoint is ~400 MB: on a GPU a
                 write every 25 steps would cost as much as the steps), and a regular checkpoint (every
                 --checkpoint-every steps, each epoch's end) written while healthy is copied there too.
                 The save of a Ctrl-C (or SIGTERM, or of --checkpoint-minutes' clock) is not: the good
                 state must not depend on when a run was stopped or saved, so that an interrupted run keeps
                 the good state the uninterrupted one keeps and a resume stays exact through a later roll-back
    roll-back    restore weights, Adam moments, batch-norm statistics, step, data position and sigma from
                 the good checkpoint, multiply every learning rate by LR_FACTOR, write an event line
                 {"event": "rollback", step, cause, restored_step, lr_scale} to metrics.jsonl, go on
    give up      a collapse after ROLLBACKS roll-backs with no healthy check between: stop with one line,
                 the good checkpoint copied over the latest so the run folder holds the last good model

The defaults keep a normal run clear of all three (a probe error three times its best for three checks,
a discriminator loss under 0.02 while the decoder's over 10, on a sample-clip run that never leaves
0.3-2.5 and 1-5), see tests/test_rollback.py. Everything the guard decides from (best, counters, the
learning-rate scale, the probe's indices) lives in the checkpoint's state, so a resumed run decides as
an uninterrupted one would.
"""
import json
import math
import os
import shutil
from dataclasses import asdict, dataclass

import numpy as np

from . import checkpoint
from .errors import UserError

GOOD_FILENAME = "checkpoint-good.safetensors"
PROBE_FRAMES = 8
HOLD_OUT_MIN = 32     # frames a film must have besides the probe's for the probe to be held out


def pick_probe(n, seed, batch_size):
    """(the probe's frame indices, whether they are held out of training) for a fresh run on n frames."""
    probe = np.sort(np.random.default_rng([int(seed), 7]).choice(n, min(PROBE_FRAMES, n), replace=False))
    held_out = n - len(probe) >= max(HOLD_OUT_MIN, int(batch_size))
    return [int(i) for i in probe], bool(held_out)


def held_out_frames(state, n, seed, batch_size):
    """The frames a run leaves out of its batches: the probe's, if held out (a resumed run keeps what its
    checkpoint says; one from before the hold-out existed holds none out, so it resumes exactly)."""
    st = state.get("rollback")
    probe, held_out = pick_probe(n, seed, batch_size) if st is None else (st["probe"], st.get("held_out", False))
    return probe if held_out else []


@dataclass(frozen=True)
class Options:
    every: int = 25            # K: steps between probe checks (0: the guard is off)
    good_every: int = 250      # steps between writes of the good checkpoint at healthy checks
    factor: float = 3.0        # probe_mse above best x factor counts as a bad check
    patience: int = 3          # M: bad checks in a row that make a collapse
    disc_floor: float = 0.02   # the discriminator "wins outright": its loss under this ...
    gen_ceiling: float = 10.0  # ... while the decoder's adversarial loss is over this
    lr_factor: float = 0.5     # every learning rate times this at each roll-back
    rollbacks: int = 3         # R: roll-backs without a healthy check between before giving up


DEFAULTS = Options()


class Guard:
    """Attached to a Run (vaegan/train.py); its state is run.state["rollback"] (saved with every checkpoint)."""

    def __init__(self, run):
        self.run = run
        st = run.state.get("rollback")
        if st is None:        # a fresh run: pick the probe set, the options are today's defaults
            probe, held_out = pick_probe(len(run.store), run.opts.seed, run.opts.batch_size)
            st = {"options": asdict(DEFAULTS), "probe": probe, "held_out": held_out, "best": None, "bad_probe": 0,
                  "bad_disc": 0, "since_good": 0, "rollbacks": 0, "lr_scale": 1.0, "window": [0.0, 0.0, 0],
                  "good_step": None}
            run.state["rollback"] = st
        self.opts = Options(**{**asdict(Options()), **st["options"]})
        self.probe = run.store.batch(st["probe"])
        self.pending = []            # event lines waiting for the metrics log
        self.restored = None         # the step rolled back to, until restart() has acted on it
        self.base_lr = {name: opt.lr for name, opt in run.optimizers.items()}   # as the run's settings made them
        self._set_lr()
        if self.opts.every and not os.path.exists(self.good_file()):
            self._write_good()       # a collapse before the first check goes back to the start

    @property
    def st(self):
        return self.run.state["rollback"]

    def good_file(self):
        return os.path.join(self.run.opts.out, GOOD_FILENAME)

    def _set_lr(self):
        for name, opt in self.run.optimizers.items():
            opt.lr = self.base_lr[name] * self.st["lr_scale"]

    # --- the hooks the training loop calls -------------------------------------------------------
    def non_finite(self, bad):
        """A step's loss was NaN/Inf (no weight moved; bad names them). True: rolled back; False: the
        guard is off."""
        if not self.opts.every:
            return False
        self._roll_back("a loss became non-finite", bad)
        return True

    def check(self, record):
        """After each step (record: its metrics line, step already counted). Every K steps: the probe's
        numbers into the record, then healthy (-> good checkpoint) or one more bad check (-> perhaps a
        roll-back). True when it rolled back."""
        if not self.opts.every:
            return False
        w = self.st["window"]               # sums of disc and gen over the steps since the last check
        w[0] += record["disc"]
        w[1] += record["gen"]
        w[2] += 1
        if record["step"] % self.opts.every:
            return False
        mse, sim = self.evaluate_probe()
        record["probe_mse"], record["probe_sim"] = round(mse, 6), round(sim, 6)
        disc, gen = w[0] / w[2], w[1] / w[2]
        self.st["window"] = [0.0, 0.0, 0]
        best = self.st["best"]
        probe_bad = not math.isfinite(mse) or (best is not None and mse > best * self.opts.factor)
        explodes = gen > self.opts.gen_ceiling if self.run.tc.gen_loss == "nonsaturating" else True
        disc_wins = disc < self.opts.disc_floor and explodes
        self.st["bad_probe"] = self.st["bad_probe"] + 1 if probe_bad else 0
        self.st["bad_disc"] = self.st["bad_disc"] + 1 if disc_wins else 0
        if self.st["bad_probe"] >= self.opts.patience:
            self._roll_back(f"the probe's pixel MSE {mse:.4g} stayed above {self.opts.factor:g} x its best "
                            f"{best:.4g} for {self.opts.patience} checks" if math.isfinite(mse)
                            else f"the probe's pixel MSE is {mse}")
            return True
        if self.st["bad_disc"] >= self.opts.patience:
            self._roll_back(f"the discriminator won outright for {self.opts.patience} checks (L_GAN {disc:.3g}, "
                            f"decoder's adversarial loss {gen:.3g})")
            return True
        if not (probe_bad or disc_wins):
            self.st["best"] = mse if best is None else min(best, mse)
            self.st["since_good"] = 0
            last = self.st.get("good_step")
            if last is None or record["step"] - last >= self.opts.good_every:
                self._write_good()
        return False

    def saved(self):
        """After a checkpoint: a regular one (not a Ctrl-C's) is copied to the good one while nothing is
        suspect."""
        s, every = self.run.state, self.run.opts.checkpoint_every
        regular = s["batch"] == 0 or (every and s["step"] % every == 0)
        if self.opts.every and regular and self.healthy():
            _copy_atomic(self.run.checkpoint_file(), self.good_file())

    def restart(self, log):
        """After the batch loop broke off: True (and the event in the log) if that was a roll-back, so
        the loop starts again at the restored position."""
        if self.restored is None:
            return False
        events, self.pending = self.pending, []
        for event in events:
            log.write(json.dumps(event) + "\n")
        log.flush()
        self.run.history = [r for r in self.run.history if r.get("step", 0) <= self.restored and "event" not in r] + \
            [r for r in self.run.history if "event" in r] + events     # losses.png marks them (vaegan/media/plots.py)
        self.restored = None
        return True

    # --- the parts ------------------------------------------------------------------------------
    def healthy(self):
        return self.st["bad_probe"] == 0 and self.st["bad_disc"] == 0 and self.restored is None

    def evaluate_probe(self):
        """(pixel MSE, L_sim) of the probe set through the model, eval mode, z = mu."""
        model, K = self.run.model, self.run.K
        x = K.asarray(self.probe)
        rec = model.reconstruct(x, mode="eval")
        pixel = float(K.to_numpy(K.mse(rec, x)[0]))
        taps = model.discriminator.sim_taps
        _, real = model.discriminator.forward(x, "eval", features=True)
        _, fake = model.discriminator.forward(rec, "eval", features=True)
        sim = sum(float(K.to_numpy(K.mse(fake.taps[t], real.taps[t])[0])) for t in taps) / len(taps)
        return pixel, sim

    def _state_to_save(self):
        r = self.run
        return dict(r.state, run=asdict(r.opts), train=asdict(r.tc), total_steps=r.total_steps)

    def _write_good(self):
        self.st["good_step"] = self.run.state["step"]
        if getattr(self.run, "writer", True):     # among ranks, rank 0 alone writes (vaegan/distributed.py)
            checkpoint.save(self.good_file(), self.run.model, self.run.optimizers, self._state_to_save())

    def _roll_back(self, cause, detail=""):
        run, st = self.run, self.st
        at = run.state["step"]
        cause = f"{cause} at step {at}" + (f" ({detail})" if detail else "")
        if st["since_good"] >= self.opts.rollbacks:
            if getattr(run, "writer", True):
                _copy_atomic(self.good_file(), run.checkpoint_file())
            raise UserError(f"{cause}; {st['since_good']} roll-backs with lower learning rates "
                            f"did not recover, stopped. The last good checkpoint is {self.good_file()} "
                            f"(also copied to {run.checkpoint_file()})")
        meta, tensors = checkpoint.read(self.good_file())
        checkpoint.load_into(self.good_file(), meta, tensors, run.model, run.optimizers)
        for k in ("step", "epoch", "batch", "sigma"):
            run.state[k] = meta[k]
        good = meta["rollback"]
        # the good state's own counters, with the roll-back counted and the learning rates lowered
        run.state["rollback"] = dict(good, since_good=st["since_good"] + 1, rollbacks=st["rollbacks"] + 1,
                                     lr_scale=st["lr_scale"] * self.opts.lr_factor)
        self._set_lr()
        self.restored = meta["step"]
        self.pending.append({"event": "rollback", "step": at, "cause": cause, "restored_step": meta["step"],
                             "lr_scale": self.st["lr_scale"], "rollbacks": self.st["rollbacks"]})
        from tqdm import tqdm

        tqdm.write(f"roll-back: {cause}; restored step {meta['step']}, learning rates x {self.st['lr_scale']:g}")


def _copy_atomic(src, dst):
    tmp = dst + ".tmp"
    shutil.copyfile(src, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, dst)
