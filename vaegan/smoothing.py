"""Less flicker: the latent path of a film, smoothed in film order and cut at shot changes.

Every frame is encoded alone, so fast motion (and mere noise in the encoder's answer) makes z = mu jump
from frame to frame, and the film flickers. `reconstruct --smooth S` replaces each mu_t by a centred
Gaussian average of its neighbours in the same shot:

    z_t = sum_k w_k mu_{t+k} / sum_k w_k      w_k = exp(-k^2 / 2 s^2),  s = S * fps frames,  |k| <= 3s,
                                              only the k with t+k in t's shot

so the sum is renormalised where the window meets a cut or either end of the film: a shot never borrows
from its neighbour, and a still shot stays where it is. The average needs frames after t, so this is two
passes over the film: the first encodes every frame and records the frame-to-frame change (the path is
N x z_dim floats: 144 MB for two hours at 25 fps and z = 200), the second decodes the smoothed path.

Shot cuts, from the frames: d_t = mean |x_t - x_{t-1}| over pixels (0..255). A cut between t-1 and t
is a jump that stands out from its surroundings:

    d_t > CUT_RATIO * median(d over the second around t, t excluded)   and   d_t > CUT_FLOOR

the ratio makes it relative to how much the shot moves anyway (a pan changes every pixel a little, a
cut changes them a lot at once), the floor keeps a still shot's noise from counting.

Flicker, what --smooth lowers: the mean absolute frame-to-frame difference of the output film,
mean_t mean |y_t - y_{t-1}|, reported beside the same number for the source; cuts are left out of both
(a cut is a change that belongs there). It counts real motion too, and a blurry model moves less than
its source, so beside it: the change error mean_t mean |(y_t - y_{t-1}) - (x_t - x_{t-1})|, the part of
the output's frame-to-frame change that the source does not have (jitter, and motion lost).
"""
from fractions import Fraction

import numpy as np

from .errors import UserError

CUT_RATIO = 4.0
CUT_FLOOR = 12.0       # mean |difference| in 0..255 levels


def frame_rate(fps):
    """25, 29.97, Fraction(30000, 1001) or the probe's "30000/1001" -> frames per second as a float."""
    return float(Fraction(str(fps)))


def frame_differences(frames, previous=None):
    """Mean absolute difference of each uint8 frame from the one before it (N values; the first
    against `previous`, or NaN when there is none)."""
    f = np.asarray(frames, dtype=np.int16)
    d = np.empty(len(f))
    d[0] = np.nan if previous is None else np.abs(f[0] - np.asarray(previous, np.int16)).mean()
    if len(f) > 1:
        d[1:] = np.abs(np.diff(f, axis=0)).reshape(len(f) - 1, -1).mean(axis=1)
    return d


def change_errors(source, output, previous=None):
    """Mean |(y_t - y_{t-1}) - (x_t - x_{t-1})| per frame: how far the output's change from one frame
    to the next is from the source's (the first against `previous` = (x, y) of the frame before, or
    NaN). Motion the source has costs nothing here; jitter it does not have does."""
    x, y = np.asarray(source, np.int16), np.asarray(output, np.int16)
    e = np.empty(len(x))
    if previous is None:
        e[0] = np.nan
    else:
        px, py = (np.asarray(p, np.int16) for p in previous)
        e[0] = np.abs((y[0] - py) - (x[0] - px)).mean()
    if len(x) > 1:
        e[1:] = np.abs(np.diff(y, axis=0) - np.diff(x, axis=0)).reshape(len(x) - 1, -1).mean(axis=1)
    return e


def find_cuts(diffs, fps, ratio=CUT_RATIO, floor=CUT_FLOOR):
    """Indices t where a new shot begins (t >= 1), from d_t = frame_differences()."""
    d = np.asarray(diffs, dtype=np.float64)
    half = max(1, int(round(frame_rate(fps) / 2)))
    cuts = []
    for t in range(1, len(d)):
        if not d[t] > floor:
            continue
        around = np.concatenate([d[max(1, t - half):t], d[t + 1:t + 1 + half]])
        around = around[np.isfinite(around)]
        base = np.median(around) if len(around) else 0.0
        if d[t] > ratio * base:
            cuts.append(t)
    return cuts


def smooth_path(mu, fps, seconds, cuts=()):
    """The Gaussian-smoothed latent path (N x z_dim), each shot on its own. seconds <= 0: mu itself."""
    mu = np.asarray(mu)
    s = float(seconds) * frame_rate(fps)
    if s <= 0 or len(mu) < 2:
        return mu.copy()
    radius = int(np.ceil(3 * s))
    weights = np.exp(-0.5 * (np.arange(-radius, radius + 1) / s) ** 2)
    out = np.empty_like(mu)
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < len(mu)), len(mu)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        seg = mu[a:b].astype(np.float64)
        n = len(seg)
        acc = np.zeros_like(seg)
        norm = np.zeros((n, 1))
        for k, w in zip(range(-radius, radius + 1), weights):
            if abs(k) >= n:
                continue     # the window reaches past the shot: those frames are not in it
            lo, hi = max(0, -k), n - max(0, k)     # t in [lo, hi) has t + k inside the shot
            acc[lo:hi] += w * seg[lo + k:hi + k]
            norm[lo:hi] += w
        out[a:b] = acc / norm
    return out


class FlickerMeter:
    """Mean absolute frame-to-frame difference of a film's source and of its output, and the output's
    change error against the source's (change_errors), fed batch by batch, the source's cuts left out."""

    def __init__(self, fps):
        self.fps = frame_rate(fps)
        self.src_d, self.out_d, self.err = [], [], []
        self._last = None

    def update(self, source, output):
        prev_src, prev_out = self._last if self._last is not None else (None, None)
        self.src_d.append(frame_differences(source, prev_src))
        self.out_d.append(frame_differences(output, prev_out))
        self.err.append(change_errors(source, output, None if prev_src is None else (prev_src, prev_out)))
        self._last = (np.asarray(source[-1]), np.asarray(output[-1]))

    def cut_indices(self):
        """The frames where a new shot begins in the source fed so far (find_cuts)."""
        return find_cuts(np.concatenate(self.src_d) if self.src_d else np.zeros(0), self.fps)

    def summary(self):
        """{"flicker_source", "flicker_output", "change_error", "cuts"} (NaN for a film of one frame)."""
        src = np.concatenate(self.src_d) if self.src_d else np.zeros(0)
        out = np.concatenate(self.out_d) if self.out_d else np.zeros(0)
        keep = np.isfinite(src)
        cuts = self.cut_indices()
        keep[cuts] = False
        mean = (lambda d: float(d[keep].mean()) if keep.any() else float("nan"))
        err = np.concatenate(self.err) if self.err else np.zeros(0)
        return {"flicker_source": mean(src), "flicker_output": mean(out), "change_error": mean(err),
                "cuts": len(cuts)}


class SmoothedPath:
    """The first pass of `reconstruct --smooth`: encode every frame of the film, find its cuts, smooth
    the path. Then next(batch) gives the decoded frames of the next len(batch) positions, in order."""

    def __init__(self, model, frames, fps, seconds, bn_stats="running", batch_size=32):
        """frames: an iterable of (uint8 H x W x 3 frame, time) in film order (media.decode.iter_frames)."""
        from .media.framestore import to_float_batch

        seconds = float(seconds)
        if not (np.isfinite(seconds) and seconds >= 0):
            raise UserError(f"--smooth must be a number of seconds >= 0, got {seconds}")
        K = model.K
        self.model, self.bn_stats = model, bn_stats
        mus, diffs, batch, last = [], [], [], None

        def flush():
            x = K.asarray(to_float_batch(np.stack(batch)))
            mus.append(K.to_numpy(model.encode(x, self._mode(len(batch)))[0]).astype(np.float32))
            diffs.append(frame_differences(batch, last))

        for frame, _ in frames:
            batch.append(frame)
            if len(batch) == batch_size:
                flush()
                last = batch[-1]
                batch = []
        if batch:
            flush()
        mu = np.concatenate(mus) if mus else np.zeros((0, model.cfg.z_dim))
        self.cuts = find_cuts(np.concatenate(diffs), fps) if diffs else []
        self.z = smooth_path(mu, fps, seconds, self.cuts).astype(np.float32)
        self.position = 0

    def _mode(self, n):
        return "eval" if self.bn_stats == "running" or n < 2 else "batch"

    def next(self, batch):
        """Decoded uint8 frames for the next len(batch) frames of the film (the batch is only counted)."""
        n = len(batch)
        z = self.z[self.position:self.position + n]
        if len(z) != n:
            raise RuntimeError(f"the film gave {self.position + n} frames on its second pass, {len(self.z)} on its first")
        self.position += n
        K = self.model.K
        return self.model.frames(self.model.decode(K.asarray(np.ascontiguousarray(z)), self._mode(n)))
