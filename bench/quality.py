"""python -m bench.quality: how well a training recipe re-imagines a film, per step and per second.

    python -m bench.quality --steps 450 --seeds 0,1 --row default --row larsen
    python -m bench.quality --steps 450 --row "default pixel_weight=0 gen_weight=0.3" --row seed

Each row trains one recipe from scratch for --steps steps on the film (the sample clip unless --film
names another), once per seed, exactly as `python cli.py train` would: the same frame store, data
order, noise and schedule (vaegan.train.Run.step), without the pictures, checkpoints and roll-back
guard. --engine torch runs the same step in PyTorch instead (bench/torch_peer.py's networks from our
initial weights, the losses of bench/torch_peer.losses): about 3x less CPU per step, for ranking many
recipes; confirm the winner on ours. The training and the scores are bench/quality_runs.py's, which
other studies share; this file is the recipes' study: its rows, its table. Then:

    PSNR     the mean over the film's frames of 10 log10(255^2 / MSE) between each frame and its
             reconstruction (z = mu, batch-norm running statistics, the row's output filter: what `reconstruct` writes)
    SSIM     the mean structural similarity of the same pairs (vaegan/ssim.py)
    grain    the texture the reconstructions add where the film is flat (vaegan/grain.py): 1 is the
             film's own, above 1 speckle, below 1 smoother than the film
    mean     the PSNR of the film's mean frame, the score of a model that learned nothing frame-specific
    unseen   the reconstruction's PSNR and SSIM on a clip the model never trained on
             (vaegan.media.sample_clip's generated shapes at the model's size), beside that clip's own
             mean-frame PSNR
    denoise  with --denoise S,S,...: each run drawn again through each output filter (vaegan/denoise.py;
             it changes no weight, so one run serves them all): PSNR, SSIM, grain and SWD per filter
    SWD      the prior's samples against the film: the sliced Wasserstein distance of their
             Laplacian-pyramid patches (vaegan/sliced_wasserstein.py), beside the film's own
             half-against-half distance, the floor
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
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from vaegan.denoise import validate_denoise
from vaegan.recipes import RECIPES

from .quality_runs import Job, prepare_stores, settings_of, summary, train_one
from .report import environment

CACHE = os.path.join("runs", ".quality")


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
    p.add_argument("--denoise", default="", metavar="S,S,...",
                   help="also score each run drawn through these output filters (grey levels, vaegan/denoise.py; "
                        "0: none): a second table, one line per row and filter")
    p.add_argument("--pictures", default=None, metavar="DIR",
                   help="write each run's strip and 32 prior samples there (ROW-SEED_strip.png, ..._samples.png; "
                        "ROW: the row's place in the order given, from 0)")
    args = p.parse_args(argv)
    if args.steps < 1 or args.jobs < 1:
        raise SystemExit("--steps and --jobs must be positive")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        raise SystemExit(f"--seeds must be comma-separated integers, got {args.seeds!r}") from None
    try:
        denoise = tuple(float(s) for s in args.denoise.split(",")) if args.denoise else ()
        for sigma in denoise:
            validate_denoise(sigma)
    except ValueError as e:
        raise SystemExit(f"--denoise: {e}") from None
    film = args.film
    if film is None:
        from vaegan.media.sample_clip import sample_clip_path
        film, _ = sample_clip_path(os.path.join("runs", ".sample"))
    rows = [settings_of(r, args.set) for r in (args.row or ["default"])]
    prepare_stores([s for _, s in rows], film, CACHE)
    print(", ".join(f"{k} {v}" for k, v in environment().items()), flush=True)
    print(f"film {film}, engine {args.engine}, {args.steps} steps, seeds {seeds}, load average {os.getloadavg()}", flush=True)
    jobs = [Job(s, seed, args.steps, film, os.path.join(CACHE, f"run-{os.getpid()}-{i}-{seed}"), CACHE, args.engine,
                pictures=os.path.join(args.pictures, f"{i}-{seed}") if args.pictures else "", denoise=denoise)
            for i, (_, s) in enumerate(rows) for seed in seeds]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(train_one, jobs))
    else:
        results = [train_one(j) for j in jobs]
    print(f"{'recipe':60s} {'steps':>5s} {'PSNR dB':>19s} {'SSIM':>19s} {'grain':>19s} {'mean frame':>10s} {'unseen dB':>19s} "
          f"{'unseen SSIM':>19s} {'unseen mean':>11s} {'SWD':>19s} {'SWD floor':>9s} {'s/step':>6s} {'CPU s/step':>10s}")
    for i, (label, s) in enumerate(rows):
        got = results[i * len(seeds):(i + 1) * len(seeds)]
        line = (f"{label:60s} {got[0]['steps']:5d} {summary([g['psnr'] for g in got]):>19s} "
                f"{summary([g['ssim'] for g in got], 3):>19s} {summary([g['grain'] for g in got], 3):>19s} "
                f"{got[0]['mean_frame']:10.2f} "
                f"{summary([g['unseen'] for g in got]):>19s} {summary([g['unseen_ssim'] for g in got], 3):>19s} "
                f"{got[0]['unseen_mean_frame']:11.2f} {summary([g['swd'] for g in got], 3):>19s} "
                f"{got[0]['swd_floor']:9.3f} {np.mean([g['seconds'] / g['steps'] for g in got]):6.3f} "
                f"{np.mean([g['cpu_seconds'] / g['steps'] for g in got]):10.3f}")
        print(line, flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps({"label": label, "settings": s, "film": film, "runs": got}) + "\n")
    if denoise:
        print(f"\n{'recipe':60s} {'denoise':>7s} {'PSNR dB':>19s} {'SSIM':>19s} {'grain':>19s} {'SWD':>19s}")
        for i, (label, _) in enumerate(rows):
            got = [g["denoise"] for g in results[i * len(seeds):(i + 1) * len(seeds)]]
            for sigma in denoise:
                at = [g[str(sigma)] for g in got]
                print(f"{label:60s} {sigma:7g} {summary([a['psnr'] for a in at]):>19s} "
                      f"{summary([a['ssim'] for a in at], 3):>19s} {summary([a['grain'] for a in at], 3):>19s} "
                      f"{summary([a['swd'] for a in at], 3):>19s}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
