"""The training run: epochs of shuffled mini-batches from the frame store, the noise schedule, and what
a person watches while it runs (progress bar, sample grids, loss curves, metrics log, checkpoints).

A run folder holds:
    checkpoint.safetensors   the latest checkpoint (resume with --resume RUN_DIR)
    metrics.jsonl            one line per step: losses, sigma, which networks were updated, frames/s
    losses.png               the loss curves so far
    grids/step_NNNNNN.png    rows: real frames | reconstructions (z = mu) | samples from the prior
    config.json              the model, run and training settings the run started with
    frames/                  the frame store of the training film
    checkpoint-good.safetensors   the last state the roll-back guard found healthy (vaegan/rollback.py)
and, when training ends, from the `train` command (cli.py):
    strip.png                                            evenly spaced frames over their reconstructions
    reconstruction.mp4, reconstruction_error.{csv,png}   the training film re-imagined (vaegan/reconstruct.py)
    report.html, original.mp4                            the run's page (vaegan/report.py)

Reproducibility: the data order of epoch e is a pure function of (seed, e), the noise of step s a pure
function of (seed, s), so stopping after any step and resuming gives the next step exactly as an
uninterrupted run would.
"""
import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
from tqdm import tqdm

from . import checkpoint
from .config import make_config
from .ema import EMA, averaged, validate_decay
from .errors import UserError
from .media.paths import check_output
from .model import VAEGAN
from .lr_schedule import LRSchedule
from .optim import Adam
from .schedule import NoiseSchedule
from .step import LOSS_NAMES, TrainConfig, larsen_kl_weight, training_step

GRID_FRAMES = 8


@dataclass
class RunOptions:
    film: str
    out: str
    preset: str = "tiny"
    width: int = 0
    height: int = 0
    z_dim: int = 0
    base_width: int = 0
    epochs: int = 10
    batch_size: int = 16
    backend: str = "numpy"
    seed: int = 0
    noise_schedule: str = "1.0@0,0.5@0.6,0.1@1.0"
    fit: str = "crop"
    every: int = 1
    max_frames: int = 0
    grid_every: int = 0          # steps between sample grids (0: once per epoch)
    checkpoint_every: int = 0    # steps between checkpoints (0: once per epoch)
    sim_layers: tuple = ()       # override the preset's learned-similarity layers
    ema: float = 0.0             # decay of the generator's averaged weights (vaegan/ema.py); 0: none
    lr_schedule: str = "constant"    # the learning rate over the run (vaegan/lr_schedule.py)
    kl_warmup: float = 0.0       # the KL weight rises linearly from 0 over this fraction of the run


class Run:
    """Everything a training run holds: the model, its optimisers, the data, the position in it."""

    def __init__(self, opts, tc, K, store, model, optimizers, state):
        self.opts, self.tc, self.K, self.store = opts, tc, K, store
        self.model, self.optimizers, self.state = model, optimizers, state
        self.schedule = NoiseSchedule(opts.noise_schedule)
        self.lr_schedule = LRSchedule(opts.lr_schedule)
        from .rollback import Guard, held_out_frames    # (vaegan/rollback.py)
        self.held_out = held_out_frames(state, len(store), opts.seed, opts.batch_size)   # the probe's frames
        self.steps_per_epoch = (len(store) - len(self.held_out)) // opts.batch_size
        self.total_steps = self.steps_per_epoch * opts.epochs
        self.history = _read_history(os.path.join(opts.out, "metrics.jsonl"), state["step"])
        self.grid_frames = store.batch(np.linspace(0, len(store) - 1, GRID_FRAMES).astype(int))
        self.grid_z = self.noise((GRID_FRAMES, model.cfg.z_dim), (opts.seed, 2**31 - 1))
        self.guard = Guard(self)       # probe checks every K steps; a collapse rolls back

    @property
    def finished(self):
        """Every epoch trained (a finished run resumed without a larger --epochs has nothing to do)."""
        return self.state["epoch"] >= self.opts.epochs

    # --- noise ----------------------------------------------------------------------------------
    def noise(self, shape, key):
        return self.K.normal(shape, key, "float32")

    # --- one step -------------------------------------------------------------------------------
    def step(self, x_host):
        s = self.state["step"]
        progress = s / max(self.total_steps, 1)
        sigma = self.schedule(progress)
        for opt in self.optimizers.values():
            opt.scale = self.lr_schedule(progress)
        tc = self.tc
        if self.opts.kl_warmup:
            tc = replace(tc, kl_weight=tc.kl_weight * min(1.0, progress / self.opts.kl_warmup))
        x = self.K.asarray(x_host)
        eps = self.noise((x.shape[0], self.model.cfg.z_dim), (self.opts.seed, s, 0))
        z_p = self.noise((x.shape[0], self.model.cfg.z_dim), (self.opts.seed, s, 1))
        losses, updated = training_step(self.model, self.optimizers, x, eps, z_p, sigma, tc)
        if updated is not None and self.model.ema is not None:
            self.model.ema.update()
        if updated is None:
            bad = ", ".join(f"{k}={v}" for k, v in losses.items() if not np.isfinite(v))
            if self.guard.non_finite(bad):
                return sigma, losses, None          # rolled back to the last good checkpoint
            raise UserError(f"a loss became non-finite at step {s} ({bad}); stopped without updating. "
                            f"The last good checkpoint is {self.checkpoint_file()}")
        return sigma, losses, updated

    # --- the loop -------------------------------------------------------------------------------
    def train(self):
        opts, state = self.opts, self.state
        stop = _StopFlag()
        log = open(os.path.join(opts.out, "metrics.jsonl"), "a")
        started, first_step = time.perf_counter(), state["step"]
        bar = tqdm(total=self.total_steps, initial=state["step"], unit="step", dynamic_ncols=True,
                   desc=f"{self.model.cfg.name}", disable=None)
        try:
            with stop:
                while state["epoch"] < opts.epochs:
                    epoch, start = state["epoch"], state["batch"]
                    for x in self.store.shuffled_batches(opts.batch_size, opts.seed, epoch, start_batch=start,
                                                           exclude=self.held_out):
                        t0 = time.perf_counter()
                        sigma, losses, updated = self.step(x)
                        if updated is None:
                            break                   # rolled back: the loop starts again from there
                        fps = x.shape[0] / (time.perf_counter() - t0)
                        state["step"] += 1
                        state["batch"] += 1
                        state["sigma"] = sigma
                        record = {"step": state["step"], "epoch": epoch, "sigma": round(sigma, 6),
                                  **{k: round(v, 6) for k, v in losses.items()},
                                  "updated": [k[:3] for k, v in updated.items() if v], "frames_per_s": round(fps, 2)}
                        rolled_back = self.guard.check(record)   # every K steps: the probe; perhaps a roll-back
                        log.write(json.dumps(record) + "\n")
                        self.history.append(record)
                        if rolled_back:
                            break
                        bar.set_postfix_str(f"ep {epoch + 1}/{opts.epochs} " + " ".join(
                            f"{k} {losses[k]:.3f}" for k in LOSS_NAMES) + f" sigma {sigma:.2f} {fps:.0f} fr/s")
                        bar.update(1)
                        s = state["step"]
                        if opts.grid_every and s % opts.grid_every == 0:
                            self.write_pictures()
                        if opts.checkpoint_every and s % opts.checkpoint_every == 0:
                            log.flush()
                            self.save()
                        if stop.requested:
                            break
                    if self.guard.restart(log):
                        bar.n = state["step"]           # back to the restored step, not past the total
                        bar.refresh()
                        continue
                    if stop.requested:
                        break
                    state["epoch"] += 1
                    state["batch"] = 0
                    log.flush()
                    if bar.disable:      # no terminal (a log file, CI): one line per epoch instead of the bar
                        self._epoch_line(started, first_step)
                    self.write_pictures()
                    self.save()
        finally:
            bar.close()
            log.close()
        if stop.requested:
            self.save()
            raise KeyboardInterrupt(f"interrupted after step {state['step']}; checkpoint saved. "
                                    f"Resume with: python cli.py train --resume {opts.out}")

    def _epoch_line(self, started, first_step):
        s, done = self.state["step"], self.state["step"] - first_step
        elapsed = time.perf_counter() - started
        left = elapsed / max(done, 1) * (self.total_steps - s)
        last = self.history[-1] if self.history else {}
        losses = " ".join(f"{k} {last[k]:.3f}" for k in LOSS_NAMES if k in last)
        print(f"epoch {self.state['epoch']}/{self.opts.epochs}  step {s}/{self.total_steps}  {losses}  "
              f"sigma {self.state['sigma']:.2f}  {done * self.opts.batch_size / max(elapsed, 1e-9):.0f} frames/s  "
              f"{left / 60:.1f} min left", file=sys.stderr, flush=True)

    # --- outputs --------------------------------------------------------------------------------
    def checkpoint_file(self):
        return os.path.join(self.opts.out, checkpoint.FILENAME)

    def save(self):
        state = dict(self.state, run=asdict(self.opts), train=asdict(self.tc), total_steps=self.total_steps)
        checkpoint.save(self.checkpoint_file(), self.model, self.optimizers, state)
        self.guard.saved()

    def write_strip(self, n=GRID_FRAMES):
        """strip.png: n evenly spaced frames of the film over their reconstructions (the README's picture).
        Returns the PSNR of the frames shown."""
        from .evaluate import save_strip

        with self.averaged() as model:
            return save_strip(os.path.join(self.opts.out, "strip.png"), model, self.store.frames, n)

    def averaged(self):
        """`with run.averaged() as model:` the model drawing with its averaged weights (--ema), if any."""
        return averaged(self.model)

    def write_pictures(self):
        from .media.framestore import to_uint8_frames
        from .media.images import save_grid
        from .media.plots import plot_losses

        K = self.K
        real = K.asarray(self.grid_frames)
        with self.averaged() as model:
            rec = model.reconstruct(real, mode="eval")
            prior = model.decode(self.grid_z, mode="eval")
        rows = [to_uint8_frames(K.to_numpy(a)) for a in (real, rec, prior)]
        os.makedirs(os.path.join(self.opts.out, "grids"), exist_ok=True)
        save_grid(os.path.join(self.opts.out, "grids", f"step_{self.state['step']:06d}.png"),
                  np.concatenate(rows), ncols=GRID_FRAMES)
        plot_losses(self.history, os.path.join(self.opts.out, "losses.png"))


def _read_history(path, upto_step):
    """The metrics of steps 1..upto_step from an earlier part of this run (for the loss curves)."""
    from .report import metrics_lines
    return [rec for rec in metrics_lines(path) if rec.get("step", 0) <= upto_step]


class _StopFlag:
    """Ctrl-C during a step sets a flag instead of tearing the step in half: the step finishes, a
    checkpoint is written, and the run stops. A second Ctrl-C stops at once (the last checkpoint stays)."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self._old = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt("interrupted twice: stopped at once; the last checkpoint is kept")
        self.requested = True
        tqdm.write("Ctrl-C: finishing this step and saving a checkpoint (press again to stop at once)")

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._old)
        return False


# --- building a run -------------------------------------------------------------------------------

def new_run(opts, tc, store_builder):
    """Set up a fresh run in opts.out. store_builder(film, store_dir, cfg, opts) -> FrameStore."""
    K = _backend(opts.backend)
    try:
        cfg = make_config(opts.preset, opts.width, opts.height, opts.z_dim, opts.base_width)
        if opts.sim_layers:
            cfg = replace(cfg, sim_layers=tuple(opts.sim_layers)).validate()
    except ValueError as e:
        raise UserError(str(e)) from None
    tc = _resolve_kl_weight(tc, cfg)
    try:
        tc.validate()
        _validate_run_options(opts)
    except ValueError as e:
        raise UserError(str(e)) from None
    check_output(opts.out, folder="run folder", create=True)
    if os.path.exists(os.path.join(opts.out, checkpoint.FILENAME)):
        raise UserError(f"{opts.out} already holds a run; resume it with --resume {opts.out}, or choose "
                        f"another --out")
    store = store_builder(opts.film, os.path.join(opts.out, "frames"), cfg, opts)
    if len(store) < opts.batch_size:
        raise UserError(f"{opts.film}: {len(store)} frames, fewer than one batch of {opts.batch_size}; "
                        f"lower --batch-size")
    model = VAEGAN(K, cfg, seed=opts.seed)
    model.ema = EMA(model, opts.ema) if opts.ema else None
    optimizers = {n: Adam(K, f, lr=tc.lr, beta1=tc.beta1, beta2=tc.beta2) for n, f in model.flat.items()}
    state = {"step": 0, "epoch": 0, "batch": 0, "sigma": None, "seed": opts.seed}
    open(os.path.join(opts.out, "metrics.jsonl"), "w").close()
    with open(os.path.join(opts.out, "config.json"), "w") as f:
        json.dump({"model": cfg.to_dict(), "run": asdict(opts), "train": asdict(tc)}, f, indent=2)
    return Run(opts, tc, K, store, model, optimizers, state)


def resume_run(run_dir, store_builder, epochs=None, shape=None):
    """Rebuild a run from its checkpoint: the same options, weights, optimiser state and position.

    epochs: a new total (the noise schedule is then spread over the new number of steps).
    shape: model options the user gave again (preset, width, ...); refused unless they describe the
    checkpoint's own model."""
    meta, tensors = checkpoint.read(run_dir)
    run = dict(meta["run"])
    run.pop("noise", None)   # written by runs before RunOptions.noise was removed (always "backend": the only RNG)
    opts = RunOptions(**run)
    opts.out = run_dir
    if epochs:
        opts.epochs = epochs
    tc = TrainConfig(**meta["train"])
    cfg = checkpoint.config_of(meta)
    if shape:
        # a preset given again stands alone; a width (etc.) alone is read against the run's preset
        asked = {"preset": opts.preset, "width": 0, "height": 0, "z_dim": 0, "base_width": 0} if "preset" in shape \
            else {k: getattr(opts, k) for k in ("preset", "width", "height", "z_dim", "base_width")}
        asked.update(shape)
        try:
            wanted = make_config(asked["preset"], asked["width"], asked["height"], asked["z_dim"], asked["base_width"])
        except ValueError as e:
            raise UserError(str(e)) from None
        checkpoint.check_compatible(checkpoint.checkpoint_path(run_dir), cfg, wanted)
    K = _backend(opts.backend)
    store = store_builder(opts.film, os.path.join(run_dir, "frames"), cfg, opts)
    model = VAEGAN(K, cfg, seed=opts.seed)
    model.ema = EMA(model, opts.ema) if opts.ema else None
    optimizers = {n: Adam(K, f, lr=tc.lr, beta1=tc.beta1, beta2=tc.beta2) for n, f in model.flat.items()}
    checkpoint.load_into(run_dir, meta, tensors, model, optimizers)
    state = {k: meta[k] for k in ("step", "epoch", "batch", "sigma", "seed")}
    state["rollback"] = meta.get("rollback")
    return Run(opts, tc, K, store, model, optimizers, state)


def next_run_dir(base):
    """The folder a new run with no --out goes to: `base`, or base-2, base-3, ... past the folders that
    hold finished runs, so that running the same command again starts a new run. A folder holding an
    unfinished run stops the search: UserError saying how to resume it. -> (folder, [finished runs])."""
    finished = []
    for n in range(1, 10000):
        path = base if n == 1 else f"{base}-{n}"
        if not os.path.exists(os.path.join(path, checkpoint.FILENAME)):
            return path, finished
        meta, _ = checkpoint.read(path)
        epochs = meta.get("run", {}).get("epochs", 0)
        if meta.get("epoch", 0) < epochs:
            raise UserError(f"{path} holds an unfinished run (step {meta.get('step')} of {meta.get('total_steps')}); "
                            f"resume it with: python cli.py train --resume {path} (or give another --out)")
        finished.append(path)
    raise UserError(f"{base}: 9999 finished runs; give --out")


def _validate_run_options(opts):
    """The run's own options with a range (ValueError, one line)."""
    validate_decay(opts.ema)
    LRSchedule(opts.lr_schedule)
    w = opts.kl_warmup
    if not (isinstance(w, (int, float)) and 0 <= w <= 1):
        raise ValueError(f"kl warm-up must be a fraction of the run between 0 and 1, got {w!r}")


def _resolve_kl_weight(tc, cfg):
    """kl_weight "auto" (the CLI's default) -> larsen_kl_weight(cfg); "auto*N" -> N times that (the
    same multiple of Larsen's balance for every preset); a number given as text -> float."""
    w = tc.kl_weight
    if w == "auto":
        return replace(tc, kl_weight=larsen_kl_weight(cfg))
    if isinstance(w, str) and w.replace(" ", "").startswith("auto*"):
        try:
            times = float(w.replace(" ", "")[len("auto*"):])
        except ValueError:
            times = float("nan")
        if not (times >= 0 and times < float("inf")):
            raise UserError(f"--kl-weight auto*N needs a non-negative number N, got {w!r}")
        return replace(tc, kl_weight=times * larsen_kl_weight(cfg))
    try:
        w = float(w)
    except (TypeError, ValueError):
        raise UserError(f"--kl-weight must be a number or 'auto', got {tc.kl_weight!r}") from None
    return replace(tc, kl_weight=w)


def _backend(name):
    from kernels import get_backend

    try:
        return get_backend(name)
    except (RuntimeError, ValueError) as e:
        raise UserError(str(e)) from None


def film_store(film, store_dir, cfg, opts):
    """The frame store of `film` at the model's resolution (reused when it already exists)."""
    from .media.framestore import FrameStore

    return FrameStore.open_or_build(film, store_dir, size=(cfg.width, cfg.height), fit=opts.fit,
                                    every=opts.every, max_frames=opts.max_frames or None)
