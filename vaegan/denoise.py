"""The output filter: an edge-preserving smoothing of every frame the model draws (`--denoise`,
RunOptions.denoise, in grey levels; 0: off).

Why. The decoder leaves a fine grain where the film is flat (vaegan/grain.py measures it): a few grey
levels of texture, different from scene to scene, that no loss, width, length or upsampling tried took
off (bench/README.md, "Grain"). It is small next to the film's edges, which is what a bilateral filter
(Tomasi and Manduchi 1998) tells apart: each pixel becomes a weighted mean of its 3x3 neighbourhood,

    out[p] = sum_q w(p, q) a[q] / sum_q w(p, q),   q in the 3x3 neighbourhood of p (p itself included)
    w(p, q) = exp(-|p - q|^2 / 2)                              space: 1 for p, 0.61 beside, 0.37 diagonal
            * exp(-mean_c (a[q, c] - a[p, c])^2 / (2 sigma^2))   range: the colour difference, in grey levels

A neighbour that differs from p by much less than sigma (the grain) counts almost fully, so the flat
areas are averaged; one across an edge (tens of grey levels) hardly counts, so the edges stay. The range
term compares the colour as a whole (the mean over the three channels), so all three channels of a pixel
are smoothed alike and no colour fringe appears at an edge. Pixels outside the frame are the edge's own
(replicated), so the border is not taken for an edge.

What it does on three films and two seeds (bench/README.md, "The output filter"): the grain falls to
about the film's own, and PSNR and SSIM rise a little, since what the filter takes off is error. It is
not learned and does not change training: the checkpoint is the same with or without it, and
`reconstruct --denoise 0` shows the decoder's own output.

Plain array arithmetic on whatever arrays the backend has (NumPy or CuPy, `xp`): eight shifted
neighbours, no kernel of its own; on the frames as the decoder returns them, before they leave the device.
"""

MAX_SIGMA = 255.0    # grey levels: far above any edge, where the filter is a plain 3x3 Gaussian blur

NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def bilateral(x, sigma, xp):
    """(N, C, H, W) frames in [-1, 1] (the decoder's output) -> the same, filtered as the module says,
    with sigma in grey levels of 0..255 (1 grey level = 2/255 here). sigma <= 0 returns x itself."""
    if sigma <= 0:
        return x
    dtype = x.dtype
    s = sigma * 2.0 / 255.0
    range_scale = xp.asarray(-1.0 / (2.0 * s * s * x.shape[1]), dtype)     # the mean over channels, folded in
    h, w = x.shape[2], x.shape[3]
    padded = xp.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    total = x.copy()                                   # p itself: weight 1
    weight = xp.ones((x.shape[0], 1, h, w), dtype)
    for dy, dx in NEIGHBOURS:
        q = padded[:, :, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        d = q - x
        wq = xp.exp(xp.asarray(-(dy * dy + dx * dx) / 2.0, dtype) + range_scale * (d * d).sum(axis=1, keepdims=True))
        total += wq * q
        weight += wq
    return total / weight


def validate_denoise(sigma):
    """ValueError (one line) unless sigma is a number of grey levels in [0, MAX_SIGMA]."""
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 <= sigma <= MAX_SIGMA:
        raise ValueError(f"denoise must be a number of grey levels between 0 and {MAX_SIGMA:g} (0: off), got {sigma!r}")
