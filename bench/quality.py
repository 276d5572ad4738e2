"""python -m bench.quality: how well a training recipe re-imagines a film, per step and per second.

    python -m bench.quality --steps 450 --seeds 0,1 --row default --row larsen
    python -m bench.quality --steps 450 --row "default pixel_weight=0 gen_weight=0.3" --row seed

Each row trains one recipe from scratch for --steps steps on the film (the sample clip unless --film
names another), once per seed, exactly as `python cli.py train` would: the same frame store, data
order, noise and schedule (vaegan.train.Run.step), without the pictures, checkpoints and roll-back
guard. --engine torch runs the same step in PyTorch instead (bench/torch_peer.py's networks from our
initial weights, the losses of bench/torch_peer.losses): about 3x less CPU per step, for ranking many
recipes; confirm the winner on ours. Then:

    PSNR     the mean over the film's frames of 10 log10(255^2 / MSE) between each frame and its
             reconstruction (z = mu, batch-norm running statistics: what `reconstruct` writes)
    mean     the same for the film's mean frame, the score of a model that learned nothing frame-specific
    unseen   the reconstruction's PSNR on a clip the model never trained on (vaegan.media.sample_clip's
             generated shapes at the model's size), beside that clip's own mean-frame score
    s/step   training wall time / steps (the CPU is shared: each report prints the load average), and
             CPU s/step, the process's CPU time / steps (what an idle machine's wall time would be, about)

A row is a named recipe (vaegan/recipes.py: the CLI's defaults, Larsen's paper, the seed's) followed
by any key=value overrides (a RunOptions or TrainConfig field, model overrides included: width, height,
z_dim, base_width, preset); --set key=value applies to every row. Rows over seeds are summarised as
mean (min..max). Nothing here is a test.
"""
import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields, replace

import numpy as np

from vaegan.evaluate import mean_frame_psnr, reconstruction_psnr
from vaegan.recipes import RECIPES
from vaegan.step import TrainConfig
from vaegan.train import Run, RunOptions, film_store, new_run

from .report import environment

CACHE = os.path.join("runs", ".quality")


def _parse_value(text):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def settings_of(row, sets):
    """'recipe key=value ...' + ['key=value', ...] -> (label, dict of settings)."""
    recipe, *items = row.split()
    if recipe not in RECIPES:
        raise SystemExit(f"unknown recipe {recipe!r}; choose from {', '.join(RECIPES)}")
    s = dict(RECIPES[recipe])
    label = [recipe]
    for item in items + sets:
        if "=" not in item:
            raise SystemExit(f"{item!r} is not key=value")
        key, _, value = item.partition("=")
        s[key] = _parse_value(value)
        label.append(f"{key}={value}")
    return " ".join(label), s


def split_settings(s):
    run_keys = {f.name for f in fields(RunOptions)}
    train_keys = {f.name for f in fields(TrainConfig)}
    run, train = {}, {}
    for k, v in s.items():
        if k in train_keys:
            train[k] = v
        elif k in run_keys:
            run[k] = v
        else:
            raise SystemExit(f"unknown setting {k!r}")
    return run, train


def evaluate(model, frames_uint8):
    """(PSNR of the reconstructions, PSNR of the frames' mean frame), vaegan/evaluate.py's definitions."""
    return reconstruction_psnr(model, frames_uint8), mean_frame_psnr(frames_uint8)


def unseen_frames(width, height):
    from vaegan.media.sample_clip import generated_frames
    return np.stack(list(generated_frames(size=(width, height))))


def train_one(job):
    """One (settings, seed, steps, film, out, engine) row, in a worker process. Returns a dict of results."""
    settings, seed, steps, film, out, engine = job
    run_kw, train_kw = split_settings(settings)
    opts = RunOptions(film=film, out=out, seed=seed, **run_kw)

    def store_builder(film, _store_dir, cfg, opts):   # one frame store per size, shared by every row
        return film_store(film, _store_path(film, cfg), cfg, opts)

    probe = new_run(replace(opts, epochs=1), TrainConfig(**train_kw), store_builder)
    spe = probe.steps_per_epoch
    opts.epochs = max(1, -(-steps // spe))
    run = Run(opts, probe.tc, probe.K, probe.store, probe.model, probe.optimizers, probe.state)
    if engine == "torch":
        result = _train_torch(run, steps)
    else:
        result = _train_ours(run, steps)
    shutil.rmtree(out, ignore_errors=True)
    print(f"  done: seed {seed} {result['steps']} steps, PSNR {result['psnr']:.2f} dB (unseen {result['unseen']:.2f}), "
          f"{result['seconds']:.0f} s ({result['cpu_seconds']:.0f} s CPU), load {os.getloadavg()[0]:.1f}: {settings}",
          file=sys.stderr, flush=True)
    return dict(seed=seed, load=os.getloadavg(), **result)


def _store_path(film, cfg):
    return os.path.join(CACHE, f"store-{cfg.width}x{cfg.height}-{os.path.basename(film)}")


def _train_ours(run, steps):
    t0, c0 = time.perf_counter(), time.process_time()
    done, last = 0, {}
    for epoch in range(run.opts.epochs):
        for x in run.store.shuffled_batches(run.opts.batch_size, run.opts.seed, epoch, exclude=run.held_out):
            _, last, _ = run.step(x)
            run.state["step"] += 1
            done += 1
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    frames = np.asarray(run.store.frames)
    unseen = unseen_frames(run.model.cfg.width, run.model.cfg.height)
    psnr, base = evaluate(run.model, frames)
    psnr_u, base_u = evaluate(run.model, unseen)
    return dict(steps=done, seconds=seconds, cpu_seconds=cpu, psnr=psnr, mean_frame=base, unseen=psnr_u,
                unseen_mean_frame=base_u, last_losses=last)


def _train_torch(run, steps):
    """The same run in PyTorch (bench/torch_peer.py's networks, from our initial weights; the same data
    order, schedule and host noise), for ranking many recipes quickly. Its step is bench/torch_peer.gradients."""
    from . import torch_peer
    from .peers import load_torch
    from vaegan.media.framestore import to_float_batch, to_uint8_frames
    from vaegan.reconstruct import frame_errors

    torch, why = load_torch()
    if torch is None:
        raise SystemExit(f"--engine torch: {why}")
    torch.set_num_threads(1)
    cfg, tc, opts = run.model.cfg, run.tc, run.opts
    nets = torch_peer.build(torch, cfg, "cpu")
    torch_peer.load_weights(torch, nets, run.model, run.K.to_numpy)
    optimizers = torch_peer.make_optimizers(torch, nets, tc)
    total = run.steps_per_epoch * opts.epochs

    def noise(key):
        return torch.from_numpy(np.random.default_rng(key).standard_normal((opts.batch_size, cfg.z_dim)).astype("float32"))

    t0, c0, s, last = time.perf_counter(), time.process_time(), 0, {}
    for epoch in range(opts.epochs):
        for x in run.store.shuffled_batches(opts.batch_size, opts.seed, epoch, exclude=run.held_out):
            sigma = run.schedule(s / max(total, 1))
            losses, grads = torch_peer.gradients(torch, nets, cfg, tc, torch.from_numpy(x),
                                                 noise((opts.seed, s, 0)), noise((opts.seed, s, 1)), sigma)
            for name, net in nets.items():
                for p, g in zip(net.parameters(), grads[name]):
                    p.grad = g
                optimizers[name].step()
            last = {k: float(v.detach()) for k, v in losses.items()}
            s += 1
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0

    def psnr_of(frames):
        with torch.no_grad():
            for net in nets.values():
                net.eval()
            out = []
            for i in range(0, len(frames), 64):
                x = torch.from_numpy(to_float_batch(frames[i:i + 64]))
                mu = nets["encoder"]["mu"](nets["encoder"]["body"](x))
                out.append(to_uint8_frames(nets["decoder"](mu).numpy()))
        return float(frame_errors(frames, np.concatenate(out))[1].mean()), mean_frame_psnr(frames)

    frames = np.asarray(run.store.frames)
    psnr, base = psnr_of(frames)
    psnr_u, base_u = psnr_of(unseen_frames(cfg.width, cfg.height))
    return dict(steps=s, seconds=seconds, cpu_seconds=cpu, psnr=psnr, mean_frame=base, unseen=psnr_u,
                unseen_mean_frame=base_u, last_losses=last)


def _summary(values):
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.2f} ({v.min():.2f}..{v.max():.2f})" if len(v) > 1 else f"{v.mean():.2f}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--film", default=None, help="film to train on [default: the sample clip]")
    p.add_argument("--steps", type=int, default=450)
    p.add_argument("--seeds", default="0,1", help="comma-separated seeds; each row is their mean")
    p.add_argument("--row", action="append", default=None,
                   help=f"'RECIPE [key=value ...]', RECIPE one of {', '.join(RECIPES)} (repeatable)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting for every row")
    p.add_argument("--engine", choices=("ours", "torch"), default="ours",
                   help="ours: vaegan's step on the NumPy backend; torch: the same step in PyTorch, for ranking")
    p.add_argument("--jobs", type=int, default=1, help="rows trained at once (processes)")
    p.add_argument("--json", default=None, help="append each row as a JSON line here")
    args = p.parse_args(argv)
    if args.steps < 1 or args.jobs < 1:
        raise SystemExit("--steps and --jobs must be positive")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        raise SystemExit(f"--seeds must be comma-separated integers, got {args.seeds!r}") from None
    film = args.film
    if film is None:
        from vaegan.media.sample_clip import sample_clip_path
        film, _ = sample_clip_path(os.path.join("runs", ".sample"))
    rows = [settings_of(r, args.set) for r in (args.row or ["default"])]
    os.makedirs(CACHE, exist_ok=True)
    # build each store once before the workers run (they would race to build it)
    for _, s in rows:
        run_kw, train_kw = split_settings(s)
        from vaegan.config import make_config
        cfg = make_config(run_kw.get("preset", "tiny"), run_kw.get("width"), run_kw.get("height"))
        film_store(film, _store_path(film, cfg), cfg,
                   RunOptions(film=film, out="", **{k: v for k, v in run_kw.items() if k in ("fit", "every", "max_frames")}))
    print(", ".join(f"{k} {v}" for k, v in environment().items()), flush=True)
    print(f"film {film}, engine {args.engine}, {args.steps} steps, seeds {seeds}, load average {os.getloadavg()}", flush=True)
    jobs = [(s, seed, args.steps, film, os.path.join(CACHE, f"run-{os.getpid()}-{i}-{seed}"), args.engine)
            for i, (_, s) in enumerate(rows) for seed in seeds]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(train_one, jobs))
    else:
        results = [train_one(j) for j in jobs]
    print(f"{'recipe':60s} {'steps':>5s} {'PSNR dB':>19s} {'mean frame':>10s} {'unseen dB':>19s} "
          f"{'unseen mean':>11s} {'s/step':>6s} {'CPU s/step':>10s}")
    for i, (label, s) in enumerate(rows):
        got = results[i * len(seeds):(i + 1) * len(seeds)]
        line = (f"{label:60s} {got[0]['steps']:5d} {_summary([g['psnr'] for g in got]):>19s} "
                f"{got[0]['mean_frame']:10.2f} {_summary([g['unseen'] for g in got]):>19s} "
                f"{got[0]['unseen_mean_frame']:11.2f} {np.mean([g['seconds'] / g['steps'] for g in got]):6.3f} "
                f"{np.mean([g['cpu_seconds'] / g['steps'] for g in got]):10.3f}")
        print(line, flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps({"label": label, "settings": s, "film": film, "runs": got}) + "\n")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
