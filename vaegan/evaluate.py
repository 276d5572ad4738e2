"""How well a model re-imagines frames, in the numbers and pictures a person judges it by.

    reconstruction_psnr   mean over frames of 10 log10(255^2 / MSE) between each uint8 frame and its
                          reconstruction (z = mu, batch-norm running statistics: what `reconstruct` writes)
    mean_frame_psnr       the same for the frames' mean frame: the score of a model that learned nothing
                          frame-specific (a constant picture cannot do better in MSE), the bar to beat
    reconstruction_scores mean PSNR and SSIM (ssim.py) of frames against their reconstructions, and their
                          grain (grain.py: texture added where the film is flat, 1 = as much as the film's)
    prior_sample_score    the prior's samples against the frames: the sliced Wasserstein distance and the
                          frames' own half-against-half floor (sliced_wasserstein.py); beside them, the
                          samples of the film's density (latent_density.py), where the run has one
    write_sample_score    prior_sample_score into RUN/sample_score.json, for the report page
    write_new_frames      RUN/samples.png: 32 frames drawn from the film's density, for the report page
    save_strip            a picture of evenly spaced frames: originals on top, reconstructions below
"""
import json
import os

import numpy as np

from .checkpoint import write_atomically
from .media.framestore import to_float_batch
from .reconstruct import decoded, frame_errors


def reconstruct_frames(model, frames_uint8, batch=64):
    """uint8 N x H x W x 3 -> their reconstructions, uint8, in batches (running statistics: each output
    frame depends on its own frame only, so the batch size does not change the result)."""
    K, out = model.K, []
    for i in range(0, len(frames_uint8), batch):
        x = K.asarray(to_float_batch(frames_uint8[i:i + batch]))
        out.append(model.frames(model.reconstruct(x, mode="eval")))
    return np.concatenate(out)


def reconstruction_psnr(model, frames_uint8):
    return float(frame_errors(frames_uint8, reconstruct_frames(model, frames_uint8))[1].mean())


def reconstruction_scores(frames_uint8, rec_uint8):
    """{"psnr", "ssim", "grain"}: means over the frames (SSIM NaN for frames smaller than its window), and
    the grain ratio pooled over them."""
    from .grain import grain
    from .ssim import ssim

    return {"psnr": float(frame_errors(frames_uint8, rec_uint8)[1].mean()),
            "ssim": float(ssim(frames_uint8, rec_uint8).mean()),
            "grain": grain(frames_uint8, rec_uint8)}


SAMPLE_SEED = 2**31 - 2      # the draws of the sample score (a key no training step uses)
SAMPLE_SCORE_FILE = "sample_score.json"


def prior_samples(model, n, seed=SAMPLE_SEED, batch=64):
    """n frames decoded from z ~ N(0, I) (batch-norm running statistics), uint8."""
    return decoded(model, np.random.default_rng(seed).standard_normal((n, model.cfg.z_dim)), batch)


def density_samples(model, density, n, seed=SAMPLE_SEED, batch=64):
    """n frames decoded from z drawn from the film's density (latent_density.GaussianMixture), uint8."""
    return decoded(model, density.sample(n, np.random.default_rng(seed)), batch)


def prior_sample_score(model, frames_uint8, density=None, seed=SAMPLE_SEED):
    """{"swd", "floor", "samples"}: the SWD of as many prior samples as each half of the floor has
    (sliced_wasserstein.sample_count) against the frames, and the frames' own floor
    (sliced_wasserstein.sample_score); with a density, also "density": {"swd", "k"}, the same number of
    its samples against the same frames. NaN for frames too small for its patches."""
    from .sliced_wasserstein import PATCH, sample_count, sample_scores

    n = sample_count(frames_uint8)
    if min(frames_uint8.shape[1:3]) < PATCH or n < 1:
        nan = float("nan")
        return {"swd": nan, "floor": nan, "samples": 0, **({"density": {"swd": nan, "k": density.k}} if density else {})}
    sets = [prior_samples(model, n, seed)] + ([density_samples(model, density, n, seed)] if density else [])
    got = sample_scores(sets, frames_uint8, seed=seed)
    score = {"swd": got["swd"][0], "floor": got["floor"], "samples": n}
    if density:
        score["density"] = {"swd": got["swd"][1], "k": density.k}
    return score


def write_sample_score(run_dir, model, frames_uint8, density=None):
    """RUN/sample_score.json: prior_sample_score of the run's model on its frames (and of its film's
    density's samples, where given). Returns the dict."""
    score = prior_sample_score(model, frames_uint8, density)
    write_atomically(os.path.join(run_dir, SAMPLE_SCORE_FILE), json.dumps(score).encode(), prefix=".score-")
    return score


NEW_FRAMES_FILE = "samples.png"
NEW_FRAMES = 32


def write_new_frames(run_dir, model, density, n=NEW_FRAMES, seed=0):
    """RUN/samples.png: n frames decoded from z drawn from the film's density, eight to a row: what
    `python cli.py sample RUN --n n --seed seed` draws. Returns the path."""
    from .reconstruct import sample_grid

    path = os.path.join(run_dir, NEW_FRAMES_FILE)
    sample_grid(model, n, path, seed, density=density)
    return path


def mean_frame_psnr(frames_uint8):
    mean = np.rint(np.asarray(frames_uint8, np.float64).mean(axis=0)).astype(np.uint8)
    return float(frame_errors(frames_uint8, np.broadcast_to(mean, frames_uint8.shape))[1].mean())


def save_strip(path, model, frames_uint8, n=8, scale=2):
    """n evenly spaced frames (top) over their reconstructions (bottom), each pixel `scale` x `scale`,
    as one PNG. Returns the PSNR of the frames shown."""
    from .media.images import save_grid

    pick = np.linspace(0, len(frames_uint8) - 1, n).round().astype(int)
    real = np.asarray(frames_uint8[pick])
    rec = reconstruct_frames(model, real)
    both = np.concatenate([real, rec])
    if scale > 1:
        both = both.repeat(scale, axis=1).repeat(scale, axis=2)
    save_grid(path, both, ncols=n)
    return float(frame_errors(real, rec)[1].mean())
