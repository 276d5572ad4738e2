"""The training run: epochs of shuffled mini-batches from the frame store, the noise schedule, and what
a person watches while it runs (progress bar, sample grids, loss curves, metrics log, checkpoints).

A run folder holds:
    checkpoint.safetensors   the latest checkpoint (resume with --resume RUN_DIR): at the start, every
                             --checkpoint-minutes, each epoch's end (and every --checkpoint-every steps)
    metrics.jsonl            one line per step: losses, sigma, which networks were updated, frames/s
                             (flushed each step; a resume cuts it back to the checkpoint it resumes from)
    run.lock                 held by the process training in the folder (vaegan/runlock.py)
    losses.png               the loss curves so far
    grids/step_NNNNNN.png    rows: real frames | reconstructions (z = mu) | samples from the prior
    config.json              the model, run and training settings the run started with
    frames/                  the frame store of the training film
    checkpoint-good.safetensors   the last state the roll-back guard found healthy (vaegan/rollback.py)
and, when training ends, from the `train` command (cli.py):
    strip.png                                            evenly spaced frames over their reconstructions
    latent_density.safetensors                           the film's density in latent space, which `sample`
                                                         draws from (vaegan/latent_density.py)
    sample_score.json                                    the samples' distance to the film (vaegan/evaluate.py)
    reconstruction.mp4, reconstruction_error.{csv,png}   the training film re-imagined (vaegan/reconstruct.py)
    report.html, original.mp4                            the run's page (vaegan/report.py)

Reproducibility: the data order of epoch e is a pure function of (seed, e), the noise of step s a pure
function of (seed, s), so stopping after any step and resuming gives the next step exactly as an
uninterrupted run would. That is why a checkpoint can be written whenever the clock says so
(--checkpoint-minutes): where it falls changes nothing the run computes.

Stopping (vaegan/stopping.py): Ctrl-C, SIGTERM or SIGHUP finishes the step, saves and exits; a second
signal stops at once. kill -9 or a crash loses the steps since the last checkpoint: at most
--checkpoint-minutes of work. Each checkpoint records how long metrics.jsonl was when it was written, and
a resume cuts the log back to that length, so the log never holds steps the model has not taken.
"""
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from . import checkpoint
from .backend import backend_named
from .config import ModelConfig, make_config
from .denoise import validate_denoise
from .distributed import SINGLE, EveryRank
from .ema import EMA, averaged, validate_decay
from .errors import UserError
from .media.paths import check_output
from .model import VAEGAN
from .lr_schedule import LRSchedule
from .optim import Adam
from .recipes import RECIPES
from .runlock import RunLock, remove_leftovers
from .schedule import NoiseSchedule
from .stopping import StopFlag
from .step import LOSS_NAMES, TrainConfig, training_step

_DEFAULT = RECIPES["default"]

GRID_FRAMES = 8


@dataclass
class RunOptions:
    """The run's own settings (the step's are TrainConfig's). As there, every field a recipe sets takes its
    default from the default recipe (vaegan/recipes.py); settings() below fills both from any recipe."""
    film: str
    out: str
    preset: str = "tiny"
    width: int = 0
    height: int = 0
    z_dim: int = 0
    base_width: int = 0
    epochs: int = 10
    batch_size: int = _DEFAULT["batch_size"]
    backend: str = "numpy"
    seed: int = 0
    noise_schedule: str = _DEFAULT["noise_schedule"]
    fit: str = "crop"
    every: int = 1
    max_frames: int = 0
    grid_every: int = 0          # steps between sample grids (0: once per epoch)
    checkpoint_every: int = 0    # steps between checkpoints (0: once per epoch)
    checkpoint_minutes: float = 10.0   # and a checkpoint whenever this much time has passed since the last (0: off)
    sim_layers: tuple = ()       # override the preset's learned-similarity layers
    ema: float = _DEFAULT["ema"]     # decay of the generator's averaged weights (vaegan/ema.py); 0: none
    lr_schedule: str = _DEFAULT["lr_schedule"]    # the learning rate over the run (vaegan/lr_schedule.py)
    kl_warmup: float = _DEFAULT["kl_warmup"]      # the KL weight rises linearly from 0 over this fraction of the run
    denoise: float = _DEFAULT["denoise"]          # the output filter's range in grey levels (vaegan/denoise.py); 0: off


class Settings(NamedTuple):
    train: TrainConfig          # kl_weight resolved to a number for `model`
    run: RunOptions
    model: ModelConfig          # the model the run options describe


def settings(recipe="default", **overrides):
    """(a recipe's name, overrides) -> Settings: the one place where a recipe becomes what a run or a
    step is given (the CLI's train, bench/quality_runs.py, bench/train.py, the tests all come here).

    The recipe (RECIPES, vaegan/recipes.py) sets what it names; an override (any TrainConfig or
    RunOptions field; None means not given) replaces it; what neither sets keeps the dataclass's own
    default, which for a recipe's keys is the default recipe's. film and out, which no recipe names,
    are "" unless given (for callers that only step). Then kl_weight's spec ("auto", "auto*N") is
    resolved for the model the run options describe, and every value is checked: one-line UserError
    for an unknown recipe or setting, or a value out of range."""
    if recipe not in RECIPES:
        raise UserError(f"unknown recipe {recipe!r}; choose from {', '.join(RECIPES)}")
    given = {**RECIPES[recipe], **{k: v for k, v in overrides.items() if v is not None}}
    train_keys, run_keys = _field_names(TrainConfig), _field_names(RunOptions)
    unknown = sorted(set(given) - train_keys - run_keys)
    if unknown:
        raise UserError(f"unknown setting {', '.join(map(repr, unknown))}: not a field of TrainConfig or RunOptions")
    opts = RunOptions(**{"film": "", "out": "", **{k: v for k, v in given.items() if k in run_keys}})
    cfg, tc = _settings(opts, TrainConfig(**{k: v for k, v in given.items() if k in train_keys}))
    return Settings(tc, opts, cfg)


def _field_names(cls):
    return {f.name for f in fields(cls)}


def _saved_settings(run, train):
    """RunOptions and TrainConfig from a run's config.json or checkpoint. A setting missing there was
    added after the run began, which trained as if it had the seed recipe's value (the project's defaults
    before the recipes: no averaged weights, no pixel term...), not today's default."""
    seed = RECIPES["seed"]
    run = {**{k: v for k, v in seed.items() if k in _field_names(RunOptions)}, **run}
    train = {**{k: v for k, v in seed.items() if k in _field_names(TrainConfig)}, **train}
    run.pop("noise", None)   # written by runs before RunOptions.noise was removed (always "backend": the only RNG)
    return RunOptions(**run), TrainConfig(**train)


class Run:
    """Everything a training run holds: the model, its optimisers, the data, the position in it."""

    def __init__(self, opts, tc, K, store, model, optimizers, state, comm=SINGLE):
        self.opts, self.tc, self.K, self.store = opts, tc, K, store
        self.model, self.optimizers, self.state = model, optimizers, state
        self.comm = comm              # among ranks (vaegan/distributed.py): rank 0 alone writes files
        self.writer = comm.rank == 0
        model.use_communicator(comm)
        model.denoise = opts.denoise  # every frame the run draws for a person passes the output filter
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
        self.lock = None               # the folder's RunLock, set by new_run / resume_run
        self.last_saved = time.monotonic()

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
        n = x_host.shape[0]
        eps = self.noise((n, self.model.cfg.z_dim), (self.opts.seed, s, 0))
        z_p = self.noise((n, self.model.cfg.z_dim), (self.opts.seed, s, 1))
        share = _share(n, self.comm)     # this rank's part of the global batch (all of it when alone)
        x = self.K.asarray(x_host[share])
        losses, updated = training_step(self.model, self.optimizers, x, eps[share], z_p[share], sigma, tc,
                                        self.comm)
        if updated is not None and self.model.ema is not None:
            self.model.ema.update()       # (the same on every rank: their weights are equal after each step)
        if updated is None:
            bad = ", ".join(f"{k}={v}" for k, v in losses.items() if not np.isfinite(v))
            if self.guard.non_finite(bad):
                return sigma, losses, None          # rolled back to the last good checkpoint
            raise UserError(f"a loss became non-finite at step {s} ({bad}); stopped without updating. "
                            f"The last good checkpoint is {self.checkpoint_file()}")
        return sigma, losses, updated

    def batches(self, epoch, start_batch=0):
        """Epoch `epoch`'s batches from start_batch on: the store's shuffled batches, or with
        temporal_weight > 0 the same order as pairs of adjacent frames (vaegan/temporal.py)."""
        if self.tc.temporal_weight:
            from .temporal import pair_batches
            return pair_batches(self.store, self.opts.batch_size, self.opts.seed, epoch, start_batch, self.held_out)
        return self.store.shuffled_batches(self.opts.batch_size, self.opts.seed, epoch, start_batch=start_batch,
                                           exclude=self.held_out)

    # --- the loop -------------------------------------------------------------------------------
    def train(self):
        opts, state = self.opts, self.state
        stop = StopFlag()
        log = open(os.path.join(opts.out, "metrics.jsonl") if self.writer else os.devnull, "a")
        self.last_saved = time.monotonic()
        started, first_step = time.perf_counter(), state["step"]
        bar = tqdm(total=self.total_steps, initial=state["step"], unit="step", dynamic_ncols=True,
                   desc=f"{self.model.cfg.name}", disable=None if self.writer else True)
        try:
            with stop:
                while state["epoch"] < opts.epochs:
                    epoch, start = state["epoch"], state["batch"]
                    for x in self.batches(epoch, start):
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
                        log.flush()                 # a kill -9 leaves every finished step in the log
                        self.history.append(record)
                        if rolled_back:
                            break
                        bar.set_postfix_str(f"ep {epoch + 1}/{opts.epochs} " + " ".join(
                            f"{k} {losses[k]:.3f}" for k in LOSS_NAMES) + f" sigma {sigma:.2f} {fps:.0f} fr/s")
                        bar.update(1)
                        s = state["step"]
                        if opts.grid_every and s % opts.grid_every == 0:
                            self.write_pictures()
                        if (opts.checkpoint_every and s % opts.checkpoint_every == 0) or self.checkpoint_due():
                            self.save(log)
                        if self.comm.size > 1:     # a signal to any rank stops every rank after this step
                            stop.agree(self.comm.any(stop.requested))
                        if stop.requested:
                            break
                    if self.comm.size > 1:         # every rank leaves the batches at the same step: agree again
                        stop.agree(self.comm.any(stop.requested))
                    if self.guard.restart(log):
                        bar.n = state["step"]           # back to the restored step, not past the total
                        bar.refresh()
                        continue
                    if stop.requested:
                        break
                    state["epoch"] += 1
                    state["batch"] = 0
                    log.flush()
                    if bar.disable and self.writer:   # no terminal (a log file, CI): one line per epoch instead of the bar
                        self._epoch_line(started, first_step)
                    self.write_pictures()
                    self.save(log)
                if stop.requested:
                    self.save(log)
        finally:
            bar.close()
            log.close()
        if stop.requested:
            stopped = stop.interrupted(state["step"], opts.out)
            stopped.stopped_together = True     # every rank stops here together: none is to end the others
            raise stopped

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

    def checkpoint_due(self):
        """True when --checkpoint-minutes have passed since the last checkpoint (the time a crash may lose).
        (Among ranks only rank 0's answer matters: it alone writes.)"""
        minutes = self.opts.checkpoint_minutes
        return bool(minutes) and time.monotonic() - self.last_saved >= minutes * 60

    def save(self, log=None, guard=True):
        """Write the checkpoint (rank 0 alone, among ranks). log: the open metrics.jsonl, flushed first; its
        length goes into the checkpoint (metrics_bytes) so that a resume can cut the log back to the steps
        this checkpoint holds. guard: let the roll-back guard copy a regular checkpoint to the good one."""
        if not self.writer:
            return
        if log is not None:
            log.flush()
            self.state["metrics_bytes"] = os.fstat(log.fileno()).st_size
        state = dict(self.state, run=asdict(self.opts), train=asdict(self.tc), total_steps=self.total_steps)
        checkpoint.save(self.checkpoint_file(), self.model, self.optimizers, state)
        self.last_saved = time.monotonic()
        if guard:
            self.guard.saved()

    def close(self):
        """Give up the run folder's lock (the process's end does it too)."""
        lock, self.lock = getattr(self, "lock", None), None
        if lock is not None:
            lock.release()

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
        if not self.writer:
            return
        from .media.framestore import to_uint8_frames
        from .media.images import save_grid
        from .media.plots import plot_losses

        K = self.K
        real = K.asarray(self.grid_frames)
        with self.averaged() as model:
            rec = model.reconstruct(real, mode="eval")
            prior = model.decode(self.grid_z, mode="eval")
            rows = [to_uint8_frames(K.to_numpy(real)), model.frames(rec), model.frames(prior)]
        os.makedirs(os.path.join(self.opts.out, "grids"), exist_ok=True)
        save_grid(os.path.join(self.opts.out, "grids", f"step_{self.state['step']:06d}.png"),
                  np.concatenate(rows), ncols=GRID_FRAMES)
        plot_losses(self.history, os.path.join(self.opts.out, "losses.png"))


def _read_history(path, upto_step):
    """The metrics of steps 1..upto_step from an earlier part of this run (for the loss curves)."""
    from .report import metrics_lines
    return [rec for rec in metrics_lines(path) if rec.get("step", 0) <= upto_step]


# --- building a run -------------------------------------------------------------------------------

def new_run(opts, tc, store_builder, comm=SINGLE):
    """Set up a fresh run in opts.out. store_builder(film, store_dir, cfg, opts) -> FrameStore.
    Among ranks (comm), rank 0 creates the folder, holds its lock and builds the frame store; the others
    then open it."""
    _check_ranks(opts.batch_size, comm)
    backend_named(opts.backend)
    cfg, tc = _settings(opts, tc)
    if comm.rank == 0:
        check_output(opts.out, folder="run folder", create=True)

    def begin():
        if comm.rank == 0 and os.path.exists(os.path.join(opts.out, checkpoint.FILENAME)):
            raise UserError(f"{opts.out} already holds a run; resume it with --resume {opts.out}, or choose "
                            f"another --out")
        return _begin(opts, tc, cfg, store_builder, comm)

    # the lock before anything is written: one process per run folder
    return _with_lock(opts.out, comm.rank == 0, begin)


def _with_lock(run_dir, take, build):
    """build() with run_dir's lock held (if `take`: among ranks rank 0 alone holds it), given up again if
    build fails; the run it returns keeps the lock (run.lock, released by run.close or the process's end)."""
    lock = RunLock(run_dir).acquire() if take else None
    try:
        run = build()
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    run.lock = lock
    return run


def _settings(opts, tc):
    """The model's config from the run's options, and the training settings with kl_weight resolved,
    both checked (UserError)."""
    try:
        cfg = make_config(opts.preset, opts.width, opts.height, opts.z_dim, opts.base_width)
        if opts.sim_layers:
            cfg = replace(cfg, sim_layers=tuple(opts.sim_layers)).validate()
    except ValueError as e:
        raise UserError(str(e)) from None
    try:
        tc = tc.resolved(cfg).validate()
        _validate_run_options(opts)
    except ValueError as e:
        raise UserError(str(e)) from None
    return cfg, tc


def _begin(opts, tc, cfg, store_builder, comm=SINGLE):
    """Step 0 of a run in opts.out, whose lock rank 0 holds: config.json first (so that a run stopped
    while its film is decoded can be started again by --resume), the frame store, the model, the step-0
    checkpoint."""
    K = backend_named(opts.backend)
    if comm.rank == 0:
        remove_leftovers(opts.out)
        with open(os.path.join(opts.out, "config.json"), "w") as f:
            json.dump({"model": cfg.to_dict(), "run": asdict(opts), "train": asdict(tc)}, f, indent=2)
    store = _frame_store(store_builder, opts, cfg, opts.out, comm)
    if len(store) < opts.batch_size:
        raise UserError(f"{opts.film}: {len(store)} frames, fewer than one batch of {opts.batch_size}; "
                        f"lower --batch-size")
    model = VAEGAN(K, cfg, seed=opts.seed)
    model.ema = EMA(model, opts.ema) if opts.ema else None
    optimizers = {n: Adam(K, f, lr=tc.lr, beta1=tc.beta1, beta2=tc.beta2) for n, f in model.flat.items()}
    state = {"step": 0, "epoch": 0, "batch": 0, "sigma": None, "seed": opts.seed, "metrics_bytes": 0}
    if comm.rank == 0:
        open(os.path.join(opts.out, "metrics.jsonl"), "w").close()
    run = Run(opts, tc, K, store, model, optimizers, state, comm)
    run.save(guard=False)        # step 0: from here on --resume works, whenever the process ends
    return run


def resume_run(run_dir, store_builder, epochs=None, shape=None, checkpoint_minutes=None, comm=SINGLE):
    """Rebuild a run from its checkpoint: the same options, weights, optimiser state and position.
    Takes the folder's lock first (UserError naming the owner when another process trains there), removes
    the temporary files a killed process left, and cuts metrics.jsonl back to the checkpoint's step.

    epochs: a new total (the noise schedule is then spread over the new number of steps).
    checkpoint_minutes: a new interval between timed checkpoints (it changes nothing the run computes).
    shape: model options the user gave again (preset, width, ...); refused unless they describe the
    checkpoint's own model."""
    is_run = any(os.path.exists(os.path.join(run_dir, name)) for name in (checkpoint.FILENAME, "config.json"))
    # (no lock file left in a folder that is no run)
    return _with_lock(run_dir, is_run and comm.rank == 0,
                      lambda: _resume(run_dir, store_builder, epochs, shape, checkpoint_minutes, comm))


def _resume(run_dir, store_builder, epochs, shape, checkpoint_minutes, comm):
    if os.path.isdir(run_dir) and not os.path.exists(checkpoint.checkpoint_path(run_dir)) \
            and os.path.exists(os.path.join(run_dir, "config.json")):
        return _start_again(run_dir, store_builder, epochs, shape, checkpoint_minutes, comm)
    meta, tensors = checkpoint.read(run_dir)
    if comm.rank == 0:
        remove_leftovers(run_dir)
        _cut_metrics(os.path.join(run_dir, "metrics.jsonl"), meta.get("metrics_bytes"))
    opts, tc = _saved_settings(meta["run"], meta["train"])
    opts.out = run_dir
    _check_ranks(opts.batch_size, comm)      # (any number of ranks resumes a run: its batch is global)
    if epochs:
        opts.epochs = epochs
    if checkpoint_minutes is not None:
        opts.checkpoint_minutes = checkpoint_minutes
    cfg = checkpoint.config_of(meta)
    if shape:
        _check_shape(run_dir, opts, cfg, shape)
    K = backend_named(opts.backend)
    store = _frame_store(store_builder, opts, cfg, run_dir, comm)
    model = VAEGAN(K, cfg, seed=opts.seed)
    model.ema = EMA(model, opts.ema) if opts.ema else None
    optimizers = {n: Adam(K, f, lr=tc.lr, beta1=tc.beta1, beta2=tc.beta2) for n, f in model.flat.items()}
    checkpoint.load_into(run_dir, meta, tensors, model, optimizers)
    state = {k: meta[k] for k in ("step", "epoch", "batch", "sigma", "seed")}
    state["rollback"] = meta.get("rollback")
    return Run(opts, tc, K, store, model, optimizers, state, comm)


def _frame_store(store_builder, opts, cfg, run_dir, comm):
    """The run's frame store: rank 0 builds it (or rebuilds a missing one), then the other ranks open it.
    (Decoding a long film takes a while: the barrier waits without a timeout; a failure on rank 0 ends
    all ranks.)"""
    path = os.path.join(run_dir, "frames")
    store = store_builder(opts.film, path, cfg, opts) if comm.rank == 0 else None
    comm.barrier(timeout=math.inf)
    return store if comm.rank == 0 else store_builder(opts.film, path, cfg, opts)


def _start_again(run_dir, store_builder, epochs, shape, checkpoint_minutes, comm=SINGLE):
    """--resume of a run stopped before its step-0 checkpoint (while its film was decoded): it starts
    again from step 0 with the settings config.json holds."""
    try:
        with open(os.path.join(run_dir, "config.json")) as f:
            saved = json.load(f)
        opts, tc = _saved_settings(saved["run"], saved["train"])
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise UserError(f"{run_dir}: no checkpoint, and its config.json is unreadable ({e}); start the run "
                        f"again with train FILM --out {run_dir}") from None
    opts.out = run_dir
    if epochs:
        opts.epochs = epochs
    if checkpoint_minutes is not None:
        opts.checkpoint_minutes = checkpoint_minutes
    cfg, tc = _settings(opts, tc)
    if shape:
        _check_shape(run_dir, opts, cfg, shape)
    return _begin(opts, tc, cfg, store_builder, comm)


def _check_shape(run_dir, opts, cfg, shape):
    """Refuse model options given again on --resume unless they describe the run's own model."""
    # a preset given again stands alone; a width (etc.) alone is read against the run's preset
    asked = {"preset": opts.preset, "width": 0, "height": 0, "z_dim": 0, "base_width": 0} if "preset" in shape \
        else {k: getattr(opts, k) for k in ("preset", "width", "height", "z_dim", "base_width")}
    asked.update(shape)
    try:
        wanted = make_config(asked["preset"], asked["width"], asked["height"], asked["z_dim"], asked["base_width"])
    except ValueError as e:
        raise UserError(str(e)) from None
    checkpoint.check_compatible(checkpoint.checkpoint_path(run_dir), cfg, wanted)


def _cut_metrics(path, length):
    """Cut metrics.jsonl back to `length` bytes, its length when the checkpoint being resumed was
    written: the lines after it are steps the resumed run will take again (a kill -9 or a crash between
    checkpoints). A checkpoint from before metrics_bytes existed leaves the log as it is."""
    if length is None or not os.path.exists(path) or os.path.getsize(path) <= int(length):
        return
    with open(path, "r+b") as f:
        f.truncate(int(length))
        f.flush()
        os.fsync(f.fileno())


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
            RunLock(path).acquire().release()     # a run in progress there: say whose (UserError), not "resume it"
            raise UserError(f"{path} holds an unfinished run (step {meta.get('step')} of {meta.get('total_steps')}); "
                            f"resume it with: python cli.py train --resume {path} (or give another --out)")
        finished.append(path)
    raise UserError(f"{base}: 9999 finished runs; give --out")


def _check_ranks(batch_size, comm):
    if batch_size % comm.size:
        raise EveryRank(f"the batch of {batch_size} frames does not split evenly among {comm.size} ranks; give a "
                        f"--batch-size divisible by {comm.size}, or another number of ranks")


def _share(n, comm):
    """This rank's rows of a global batch of n: equal, consecutive shares in rank order."""
    b = n // comm.size
    return slice(comm.rank * b, (comm.rank + 1) * b)


def _validate_run_options(opts):
    """The run's own options with a range (ValueError, one line)."""
    validate_decay(opts.ema)
    LRSchedule(opts.lr_schedule)
    w = opts.kl_warmup
    if not (isinstance(w, (int, float)) and 0 <= w <= 1):
        raise ValueError(f"kl warm-up must be a fraction of the run between 0 and 1, got {w!r}")
    validate_denoise(opts.denoise)


def film_store(film, store_dir, cfg, opts):
    """The frame store of `film` at the model's resolution (reused when it already exists)."""
    from .media.framestore import FrameStore

    return FrameStore.open_or_build(film, store_dir, size=(cfg.width, cfg.height), fit=opts.fit,
                                    every=opts.every, max_frames=opts.max_frames or None)
