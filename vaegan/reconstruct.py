"""Re-imagining: any film (or image) through a trained model, frame by frame, with z = mu.

    film -> frames at the model's resolution -> encoder (mu) -> decoder -> frames -> film
                                                                          (source frame rate and audio)

Batch-norm at inference (--bn-stats):
    running  the running statistics learned in training: each output frame depends on its own frame only
    batch    statistics of each batch of consecutive frames, as the original code did: a frame's output
             also depends on its neighbours, which gives the original's flicker

Alongside the film: the per-frame reconstruction error (MSE on 0..255 pixels, PSNR, and SSIM: ssim.py)
as CSV and as a plot over the film's timeline, which shows where the model "remembers" the film and
where it does not; and the film's flicker (smoothing.py) and warping error (warping.py, where OpenCV is
installed) beside its source's.
Also: samples from the prior or the film's density (a grid) and a latent morph between two moments of a
film.
"""
import csv
import json
import os
import time

import numpy as np
from tqdm import tqdm

from . import checkpoint
from .backend import backend_named
from .errors import UserError
from .model import VAEGAN


def load_model(run_or_ckpt, backend="numpy", denoise=None):
    """A model built from a checkpoint's own config, with its weights (optimiser state is not needed):
    the averaged encoder and decoder where the checkpoint has them (--ema, vaegan/ema.py), and the run's
    output filter (--denoise, vaegan/denoise.py) unless `denoise` gives another."""
    meta, tensors = checkpoint.read(run_or_ckpt)
    model = VAEGAN(backend_named(backend), checkpoint.config_of(meta))
    checkpoint.load_into(run_or_ckpt, meta, tensors, model, averaged=True)
    model.denoise = meta.get("run", {}).get("denoise", 0.0) if denoise is None else denoise   # (older runs: none)
    return model, meta


def _run_batch(model, frames_uint8, bn_stats):
    """uint8 NHWC frames -> uint8 NHWC reconstructions."""
    from .media.framestore import to_float_batch

    mode = "eval" if bn_stats == "running" or len(frames_uint8) < 2 else "batch"
    return model.frames(model.reconstruct(model.K.asarray(to_float_batch(frames_uint8)), mode=mode))


def frame_errors(original, rec):
    """Per-frame MSE (0..255 scale) and PSNR in dB (capped at 99 for identical frames)."""
    diff = original.astype(np.float64) - rec.astype(np.float64)
    mse = (diff * diff).reshape(len(original), -1).mean(axis=1)
    psnr = np.where(mse > 0, 10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-12)), 99.0)
    return mse, psnr


def reconstruct_film(model, film, out, side_by_side=False, bn_stats="running", batch_size=32, fit="crop",
                     progress=True, smooth=0.0):
    """Write the re-imagined film to `out`, and beside it `<out stem>_error.csv` (each frame's MSE, PSNR and
    SSIM), `_error.png` (its PSNR plotted) and `_scores.json` (the film's means and its grain, which no
    frame has alone: grain.py pools it over the film).
    Returns a summary dict: frames, mean PSNR and SSIM, grain (grain.py), seconds, the flicker numbers, the warping error with
    its source floor (None for both where OpenCV is missing), and lost: the line on frames lost from the
    film, or None."""
    from .media.film import FilmWriter, side_by_side as join
    from .media.decode import iter_frames, probe
    from .media.plots import plot_frame_error

    if bn_stats not in ("running", "batch"):
        raise UserError(f"--bn-stats must be 'running' or 'batch', got {bn_stats!r}")
    cfg = model.cfg
    info = probe(film)
    video = next(s for s in info["streams"] if s["index"] == info["video"])
    fps = video.get("fps_fraction") or 25       # exact: 30000/1001 stays 30000/1001
    stem = os.path.splitext(out)[0]
    times, mses, psnrs, ssims = [], [], [], []
    t0 = time.perf_counter()
    frames = iter_frames(film, size=(cfg.width, cfg.height), fit=fit)
    width = cfg.width * (2 if side_by_side else 1)
    from .smoothing import FlickerMeter, SmoothedPath    # --smooth: a first pass encodes the whole film
    path = SmoothedPath(model, iter_frames(film, size=(cfg.width, cfg.height), fit=fit), fps, smooth, bn_stats,
                        batch_size) if smooth else None
    flicker = FlickerMeter(fps)
    from .grain import GrainMeter
    from .ssim import ssim
    from .warping import WarpMeter, available, pair_stride
    grain = GrainMeter()
    warping = WarpMeter(pair_stride(info.get("frames"))) if available() else None
    bar = tqdm(total=info.get("frames") or None, unit="frame", desc="reconstruct", disable=None if progress else True)
    with FilmWriter(out, fps, width, cfg.height, audio_from=film) as writer:
        for batch, pts in _batches(frames, batch_size):
            rec = path.next(batch) if path else _run_batch(model, batch, bn_stats)
            flicker.update(batch, rec)
            if warping is not None:
                warping.update(batch, rec)
            mse, psnr = frame_errors(batch, rec)
            ssims += ssim(batch, rec).tolist()
            grain.update(batch, rec)
            writer.write(join(batch, rec) if side_by_side else rec)
            times += pts
            mses += mse.tolist()
            psnrs += psnr.tolist()
            bar.update(len(batch))
            bar.set_postfix_str(f"PSNR {np.mean(psnrs):.2f} dB")
    bar.close()
    if not times:
        raise UserError(f"{film}: no frames could be decoded")
    with open(stem + "_error.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["frame", "time_s", "mse", "psnr_db", "ssim"])
        for i, (t, m, p, q) in enumerate(zip(times, mses, psnrs, ssims)):
            w.writerow([i, f"{t:.3f}", f"{m:.3f}", f"{p:.3f}", f"{q:.4f}"])
    plot_frame_error(times, psnrs, stem + "_error.png",
                     f"{os.path.basename(film)} through {cfg.name}: mean PSNR {np.mean(psnrs):.2f} dB")
    scores = {"frames": len(times), "psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)),
              "grain": grain.value()}
    checkpoint.write_atomically(stem + "_scores.json", json.dumps(scores).encode(), prefix=".scores-")
    warp = warping.summary(flicker.cut_indices()) if warping is not None else \
        {"warping_error": None, "warping_error_source": None, "warping_pairs": 0}
    return {**scores, "seconds": time.perf_counter() - t0, "csv": stem + "_error.csv", "plot": stem + "_error.png",
            "lost": frames.lost_message(), **flicker.summary(), **warp}


def _batches(frames, batch_size):
    batch, pts = [], []
    for frame, t in frames:
        batch.append(frame)
        pts.append(t)
        if len(batch) == batch_size:
            yield np.stack(batch), pts
            batch, pts = [], []
    if batch:
        yield np.stack(batch), pts


def reconstruct_image(model, path, out, side_by_side=False, fit="crop"):
    """One image through the model (the paper's black-frame experiment). Returns its PSNR."""
    from .media.film import side_by_side as join
    from .media.images import read_image, save_grid

    frame = read_image(path, (model.cfg.width, model.cfg.height), fit)[None]
    rec = _run_batch(model, frame, "running")
    save_grid(out, join(frame, rec) if side_by_side else rec, ncols=1, border=0)
    return float(frame_errors(frame, rec)[1][0])


def decoded(model, z, batch=64):
    """Codes (n x z_dim) -> the frames the decoder draws from them (batch-norm running statistics), uint8."""
    K, z = model.K, np.asarray(z, np.float32)
    return np.concatenate([model.frames(model.decode(K.asarray(z[i:i + batch]), mode="eval"))
                           for i in range(0, len(z), batch)])


def sample_grid(model, n, out, seed=0, ncols=8, density=None):
    """n frames decoded from z ~ N(0, I), or from z drawn from the film's density (latent_density.py)."""
    from .media.images import save_grid

    rng = np.random.default_rng(seed)
    z = density.sample(n, rng) if density is not None else rng.standard_normal((n, model.cfg.z_dim))
    save_grid(out, decoded(model, z), ncols=ncols)


def morph(model, film, t_from, t_to, seconds, out, fps=25.0, fit="crop"):
    """A latent walk: encode the frames at t_from and t_to (z = mu), decode the straight line between."""
    from .media.film import FilmWriter
    from .media.decode import iter_frames
    from .media.framestore import to_float_batch

    K, cfg = model.K, model.cfg
    ends = []
    for t in (t_from, t_to):
        got = next(iter(iter_frames(film, size=(cfg.width, cfg.height), fit=fit, start=t, max_frames=1)), None)
        if got is None:
            raise UserError(f"{film}: no frame at {t} s")
        ends.append(got[0])
    mu, _ = model.encode(K.asarray(to_float_batch(np.stack(ends))))
    n = max(2, int(round(seconds * fps)))
    alpha = K.asarray(np.linspace(0.0, 1.0, n, dtype="float32")[:, None])
    z = mu[0:1] * (1 - alpha) + mu[1:2] * alpha
    frames = []
    for i in range(0, n, 64):
        frames.append(model.frames(model.decode(z[i:i + 64])))
    with FilmWriter(out, fps, cfg.width, cfg.height) as writer:
        writer.write(np.concatenate(frames))
    return n
