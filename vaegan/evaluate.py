"""How well a model re-imagines frames, in the numbers and pictures a person judges it by.

    reconstruction_psnr   mean over frames of 10 log10(255^2 / MSE) between each uint8 frame and its
                          reconstruction (z = mu, batch-norm running statistics: what `reconstruct` writes)
    mean_frame_psnr       the same for the frames' mean frame: the score of a model that learned nothing
                          frame-specific (a constant picture cannot do better in MSE), the bar to beat
    save_strip            a picture of evenly spaced frames: originals on top, reconstructions below
"""
import numpy as np

from .media.framestore import to_float_batch, to_uint8_frames
from .reconstruct import frame_errors


def reconstruct_frames(model, frames_uint8, batch=64):
    """uint8 N x H x W x 3 -> their reconstructions, uint8, in batches (running statistics: each output
    frame depends on its own frame only, so the batch size does not change the result)."""
    K, out = model.K, []
    for i in range(0, len(frames_uint8), batch):
        x = K.asarray(to_float_batch(frames_uint8[i:i + batch]))
        out.append(to_uint8_frames(K.to_numpy(model.reconstruct(x, mode="eval"))))
    return np.concatenate(out)


def reconstruction_psnr(model, frames_uint8):
    return float(frame_errors(frames_uint8, reconstruct_frames(model, frames_uint8))[1].mean())


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
