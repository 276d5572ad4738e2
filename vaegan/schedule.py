"""The noise schedule: how much the sampler's noise is scaled down over training.

The seed paper's one change to the VAE-GAN: z = mu + sigma_noise * exp(logvar/2) * eps, with
sigma_noise lowered as training goes on, so that late in training the decoder sees nearly the posterior
mean and learns to tell similar frames apart (a film is thousands of nearly identical frames).

A schedule maps progress p in [0, 1] (the fraction of all training steps done) to sigma. Forms:

    "1.0@0,0.5@0.6,0.1@1.0"   points sigma@progress, linearly interpolated, constant outside them
    "linear:1.0:0.1"          from 1.0 at the start to 0.1 at the end
    "cosine:1.0:0.1"          half a cosine from 1.0 to 0.1 (slow, fast, slow)
    "step:1.0:0.5:0.1"        piecewise constant: equal thirds at 1.0, 0.5, 0.1
    "constant:1.0"  or "1.0"  no annealing (the plain VAE-GAN)
"""
import math

from .errors import UserError


class NoiseSchedule:
    def __init__(self, spec):
        self.spec = spec.strip()
        self._fn = _parse(self.spec)

    def __call__(self, progress):
        return float(self._fn(min(max(progress, 0.0), 1.0)))

    def __repr__(self):
        return f"NoiseSchedule({self.spec!r})"


def _numbers(spec, parts):
    try:
        values = [float(v) for v in parts]
    except ValueError:
        raise UserError(f"noise schedule {spec!r}: {', '.join(parts)} are not all numbers") from None
    if not values or any(v < 0 or not math.isfinite(v) for v in values):
        raise UserError(f"noise schedule {spec!r}: sigmas must be finite and non-negative")
    return values


def _parse(spec):
    if ":" in spec:
        shape, *rest = spec.split(":")
        values = _numbers(spec, rest)
        if shape == "constant" and len(values) == 1:
            return lambda p: values[0]
        if shape in ("linear", "cosine") and len(values) == 2:
            a, b = values
            if shape == "linear":
                return lambda p: a + (b - a) * p
            return lambda p: b + (a - b) * 0.5 * (1 + math.cos(math.pi * p))
        if shape == "step" and len(values) >= 1:
            return lambda p: values[min(int(p * len(values)), len(values) - 1)]
        raise UserError(f"noise schedule {spec!r}: expected constant:S, linear:A:B, cosine:A:B or step:S1:S2:...")
    if "@" in spec:
        points = []
        for item in spec.split(","):
            if item.count("@") != 1:
                raise UserError(f"noise schedule {spec!r}: {item!r} is not of the form sigma@progress")
            sigma, at = _numbers(spec, item.split("@"))
            if at > 1:
                raise UserError(f"noise schedule {spec!r}: progress {at} is past the end (1.0)")
            points.append((at, sigma))
        points.sort()
        return lambda p: _interpolate(points, p)
    return _parse("constant:" + spec)


def _interpolate(points, p):
    if p <= points[0][0]:
        return points[0][1]
    for (p0, s0), (p1, s1) in zip(points, points[1:]):
        if p <= p1:
            return s0 if p1 == p0 else s0 + (s1 - s0) * (p - p0) / (p1 - p0)
    return points[-1][1]
