"""The warping error (Lai et al. 2018, "Learning Blind Video Temporal Consistency"): does
the output move the way its source moves?

For each pair of consecutive frames (t-1, t), from the SOURCE x (never the output, which may be the
thing that jitters):
    F = optical flow x_{t-1} -> x_t, B = optical flow x_t -> x_{t-1}   (OpenCV's Farneback, on grey)
        so that x_{t-1}(p) ~ x_t(p + F(p)): F says where each pixel of frame t-1 went
    M = the non-occluded pixels of frame t-1 (the forward-backward check of Ruder et al. 2016 that Lai
        et al. use): p + F(p) inside the frame, the flows agree there,
            |F(p) + B(p + F(p))|^2 <= 0.01 (|F(p)|^2 + |B(p + F(p))|^2) + 0.5,
        and p not on a motion boundary, |grad u|^2 + |grad v|^2 <= 0.01 |F(p)|^2 + 0.002
then for the OUTPUT y:
    E_t = sum over p in M and channels c of (y_t(p + F(p), c) - y_{t-1}(p, c))^2 / (3 |M|)
          (y_t sampled bilinearly: frame t warped back onto frame t-1; intensities in 0..1)
    warping error = the mean of E_t over the film's pairs, the pairs across shot cuts left out (the
                    source's cuts, smoothing.find_cuts) and pairs with no non-occluded pixel; a film
                    of more than MAX_PAIRS frames is measured on MAX_PAIRS pairs spread evenly over it
The floor: the same number for the source itself (x warped by its own flow): what the flow, the
interpolation and the changes of light cost a film that moves exactly as the source does.

What it sees: flicker and jitter that the source's motion does not explain, where the change error
(smoothing.py) only compares changes pixel by pixel and so also charges an output that moves with the
source but sits a little differently. What it misses: an output that does not move at all or is
blurred flat scores well (a grey film has no warping error: read it beside PSNR and SSIM); occluded
pixels and shot cuts are left out; and it trusts the flow: Farneback on a small frame misjudges
fast motion and flat regions, which raises the floor (the source's own error) as much as the output's.

OpenCV is an optional extra (`pip install opencv-python-headless`, or the package's `eval` extra);
available() says whether it is there, and MISSING what to do when it is not.
"""
import numpy as np

MISSING = ("warping error: needs OpenCV (pip install opencv-python-headless, or "
           "pip install -e '.[eval]')")
# cv2.calcOpticalFlowFarneback's parameters, OpenCV's own example's (samples/python/opt_flow.py)
FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
CONSISTENCY = (0.01, 0.5)      # Ruder et al.'s forward-backward check: relative and absolute (pixels^2)
BOUNDARY = (0.01, 0.002)       # and their motion-boundary check
MAX_PAIRS = 2000               # pairs measured at most per film (two flows each: ~2-4 ms a pair at 64 x 48,
                               # ~20-36 ms at 256 x 144 on one shared core; a 2-hour film has 180 000)


def available():
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


def _grey(frame):
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.uint8), cv2.COLOR_RGB2GRAY)


def optical_flow(a, b):
    """Farneback flow from uint8 RGB frame a to frame b: H x W x 2 (dx, dy), a(p) ~ b(p + flow(p))."""
    import cv2

    return cv2.calcOpticalFlowFarneback(_grey(a), _grey(b), None, **FARNEBACK)


def warp(image, flow):
    """image sampled at p + flow(p) for every pixel p (bilinear; outside the frame: its edge), float32."""
    import cv2

    h, w = flow.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(np.ascontiguousarray(image, dtype=np.float32), xx + flow[..., 0], yy + flow[..., 1],
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def non_occluded(forward, backward):
    """The mask M above, on the grid of the first frame of the pair (H x W booleans)."""
    h, w = forward.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    tx, ty = xx + forward[..., 0], yy + forward[..., 1]
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    back = warp(backward, forward)
    rel, absolute = CONSISTENCY
    agree = (((forward + back) ** 2).sum(-1)
             <= rel * ((forward ** 2).sum(-1) + (back ** 2).sum(-1)) + absolute)
    du_dy, du_dx = np.gradient(forward[..., 0])
    dv_dy, dv_dx = np.gradient(forward[..., 1])
    rel, absolute = BOUNDARY
    boundary = du_dx ** 2 + du_dy ** 2 + dv_dx ** 2 + dv_dy ** 2 > rel * (forward ** 2).sum(-1) + absolute
    return inside & agree & ~boundary


def pair_error(prev_output, output, forward, mask):
    """E_t: output (frame t) warped back onto prev_output (frame t-1) by the source's flow, mean squared
    difference in 0..1 over the mask's pixels and the three channels; NaN for an empty mask."""
    if not mask.any():
        return float("nan")
    back = warp(output, forward) / 255.0
    diff = back[mask] - np.asarray(prev_output, np.float32)[mask] / 255.0
    return float((diff * diff).mean())


def pair_stride(frames, max_pairs=MAX_PAIRS):
    """Every how many frames a film of `frames` frames (0 or None: unknown) has a pair measured, so that
    at most max_pairs are: 1 for any film of up to max_pairs frames."""
    return max(1, -(-int(frames or 0) // max_pairs))


class WarpMeter:
    """The warping error of an output film and of its source (the floor), fed batch by batch in film
    order as reconstruct writes it; summary(cuts) leaves out the pairs that end at a cut. With stride
    k > 1 only the pairs (t-1, t) with t a multiple of k are measured (pair_stride: a long film's mean
    from evenly spread pairs, at a bounded cost)."""

    def __init__(self, stride=1):
        self.output_errors, self.source_errors = [], []      # one per frame; NaN where not measured
        self.stride = max(1, int(stride))
        self._last = None

    def update(self, source, output):
        for x, y in zip(source, output):
            if self._last is None or len(self.output_errors) % self.stride:
                self.output_errors.append(float("nan"))
                self.source_errors.append(float("nan"))
            else:
                px, py = self._last
                forward, backward = optical_flow(px, x), optical_flow(x, px)
                mask = non_occluded(forward, backward)
                self.output_errors.append(pair_error(py, y, forward, mask))
                self.source_errors.append(pair_error(px, x, forward, mask))
            self._last = (np.asarray(x), np.asarray(y))

    def summary(self, cuts=()):
        """{"warping_error", "warping_error_source", "warping_pairs"}: means over the pairs measured
        (NaN when none is left), and how many."""
        out, src = np.array(self.output_errors), np.array(self.source_errors)
        keep = np.isfinite(out) & np.isfinite(src)
        keep[[c for c in cuts if 0 <= c < len(keep)]] = False
        mean = (lambda e: float(e[keep].mean()) if keep.any() else float("nan"))
        return {"warping_error": mean(out), "warping_error_source": mean(src), "warping_pairs": int(keep.sum())}
