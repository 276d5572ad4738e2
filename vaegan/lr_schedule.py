"""The learning-rate schedule (`--lr-schedule`): each optimiser's rate times a factor of the run's progress.

    constant          1 throughout (the earlier runs)
    cosine            half a cosine from 1 at the start to 0 at the last step
    linear-decay      a straight line from 1 at the start to 0 at the last step
    cosine@P          1 until progress P (0 <= P < 1), then half a cosine to 0 at the end
    linear-decay@P    1 until progress P, then a straight line to 0 at the end

Progress p is the fraction of the run's steps done before this step (step / total steps), as for the
noise schedule, so a resumed run (or one given a larger --epochs) takes the same factor at the same
step. The factor multiplies the rate the run's settings and the roll-back guard give (Adam.scale), so a
roll-back's halving and the schedule compose. A decaying rate lets the last steps settle instead of
jittering at the full rate: the speckle of a run that ends at lr 1e-3.
"""
import math

SHAPES = ("constant", "cosine", "linear-decay")


class LRSchedule:
    def __init__(self, spec):
        self.spec = str(spec).strip()
        shape, at, start = self.spec.partition("@")
        if shape not in SHAPES or (at and shape == "constant"):
            raise ValueError(f"lr schedule {spec!r}: expected constant, cosine, linear-decay, cosine@P or "
                             f"linear-decay@P (P: the progress where the decay starts, 0 <= P < 1)")
        try:
            self.start = float(start) if at else 0.0
        except ValueError:
            self.start = float("nan")
        if not 0 <= self.start < 1:
            raise ValueError(f"lr schedule {spec!r}: the decay's start must be a number in [0, 1), got {start!r}")
        self.shape = shape

    def __call__(self, progress):
        p = min(max(progress, 0.0), 1.0)
        if self.shape == "constant" or p <= self.start:
            return 1.0
        q = (p - self.start) / (1.0 - self.start)
        if self.shape == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * q))
        return 1.0 - q

    def __repr__(self):
        return f"LRSchedule({self.spec!r})"
