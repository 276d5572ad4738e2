"""How far the prior's samples are from the film's frames: the sliced Wasserstein distance (SWD) between
their Laplacian-pyramid patches, as Karras et al. (2018, "Progressive growing of GANs", section 5 and
their metrics/sliced_wasserstein.py) measure a GAN's samples against its training set.

    for each level l of the Laplacian pyramid (5-tap binomial filter, halving until the smaller side
    would drop under MIN_SIDE pixels; the last level is the low-pass residual):
        D_l(A) = DESCRIPTORS 7 x 7 x 3 patches of set A's level-l images (random images, random
                 positions), each channel normalised to mean 0, standard deviation 1 over the set's patches
        SWD_l(A, B) = mean over 512 random unit directions v of the 1-D Wasserstein-1 distance between
                      {v . d : d in D_l(A)} and {v . d : d in D_l(B)} (both sorted; mean |difference|)
    SWD(A, B) = mean over levels of SWD_l

Why this and not the FID or the Inception score: both need a network trained on ImageNet, which the
project has no copy of, does not download, and whose features know nothing of 64 x 48 film frames. The
SWD needs no trained network, costs under a second for a few hundred frames, and compares
distributions, not single pictures: the prior's samples are not meant to be any frame in particular (no
PSNR or SSIM can score them), but they should look as if they came from the film. The pyramid splits
"looks like" by scale: the coarse levels see colour layout (sky above road), the fine ones texture and
edges (sharpness, the grey speckle of a poorly trained prior). Per-channel normalisation of each set
takes out a global shift of brightness and contrast, so what is left is the patches' shape.

The floor: the same distance between the film and itself, one half against the other, with the same
number of patches per set. Two sets of patches drawn from one distribution are never at distance 0 (a
finite sample, and a film's halves are different moments of the same world), so a score is read
against that floor: at the floor, the samples are as close to the film as the film is to itself. The
halves alternate a second at a time (film_halves), so that both cover every shot: the first half
against the second would charge the film for changing scene (on the sample clip at 64 x 48: 0.16,
against 0.07 for alternating seconds and 0.04 for a copy of the film's every other frame), and single
frames interleaved would be near copies. Uniform noise scores 0.18-0.19 there, about 2.5x the floor:
each set is normalised to unit variance per channel, so a score compares the patches' shapes, not
their energy, and noise's shapes are not far from fine texture's. Near-constant samples score far
higher (0.78 for a small model two steps into training, whose samples' faint differences are
stretched to unit variance). Karras et al. go down to 16 x 16 pixels; at 64 x 48 that would leave two levels, hence
MIN_SIDE = 8 here.

What it misses: whether a sample is a whole, coherent frame (7 x 7 patches at every scale can all be
right in a collage of the wrong places); memorisation (a prior that decodes exact copies of the
training frames scores at the floor); and anything over time. Its value depends on the patch count,
the frame size and the film: compare scores on one film at one size, never across films.
"""
import numpy as np

PATCH = 7                # pixels, the side of each patch (Karras et al.)
DESCRIPTORS = 2048       # patches per set per level, the same for the score and its floor: the floor
                         # moves by about +-0.003 from seed to seed on the sample clip (0.067-0.073
                         # over seeds 0-3), a twentieth of it; twice as many cost twice the time
DIRECTIONS = 512         # random projections (Karras et al.: 4 repeats of 128)
MIN_SIDE = 8             # the smallest level's shorter side, in pixels (a 7 x 7 patch and a margin)
BLOCK = 25               # frames: the floor's halves alternate in stretches of this many (1 s at 25 fps)
MAX_FRAMES = 512         # frames of the film (evenly spaced) the score reads at most,
MAX_PIXELS = 2 ** 21     # and at most this many pixels of them (its pyramid's finest level: 24 MB)
BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(a):
    """The 5-tap binomial filter along H and W of N x H x W x C, reflecting at the edges."""
    p = np.pad(a, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    h, w = a.shape[1], a.shape[2]
    k = BINOMIAL.astype(a.dtype)
    rows = sum(k[i] * p[:, i:i + h] for i in range(5))
    return sum(k[i] * rows[:, :, i:i + w] for i in range(5))


def _down(a):
    return _blur(a)[:, ::2, ::2]


def _up(a, shape):
    """Upsample N x h x w x C to N x H x W x C: zeros between the samples, then the filter x 4."""
    out = np.zeros((a.shape[0], shape[0], shape[1], a.shape[3]), a.dtype)
    out[:, ::2, ::2] = a
    return 4.0 * _blur(out)


def laplacian_pyramid(images, chunk=32):
    """N x H x W x C images -> [finest band-pass level, ..., low-pass residual], in float32 for uint8
    images (a film's pyramid is large), in the images' own precision for floats; `chunk` images at a
    time, so that the filters' temporaries stay small."""
    images = np.asarray(images)
    if len(images) > chunk:
        parts = [laplacian_pyramid(images[i:i + chunk], chunk) for i in range(0, len(images), chunk)]
        return [np.concatenate(level) for level in zip(*parts)]
    levels, g = [], images.astype(np.result_type(images.dtype, np.float32))
    while min(g.shape[1], g.shape[2]) // 2 >= MIN_SIDE:
        small = _down(g)
        levels.append(g - _up(small, g.shape[1:3]))
        g = small
    levels.append(g)
    return levels


def patch_descriptors(level, n, rng):
    """n random PATCH x PATCH patches of N x H x W x C -> n x (PATCH*PATCH*C), each channel normalised
    to mean 0 and standard deviation 1 over the n patches."""
    N, H, W, C = level.shape
    i = rng.integers(0, N, n)
    y = rng.integers(0, H - PATCH + 1, n)
    x = rng.integers(0, W - PATCH + 1, n)
    dy, dx = np.mgrid[0:PATCH, 0:PATCH]
    d = level[i[:, None, None], y[:, None, None] + dy, x[:, None, None] + dx]     # n x P x P x C
    d = d - d.mean(axis=(0, 1, 2), keepdims=True)
    d = d / np.maximum(d.std(axis=(0, 1, 2), keepdims=True), 1e-8)
    return d.reshape(n, -1)


def sliced_wasserstein(a, b, rng, directions=DIRECTIONS):
    """Mean over random unit directions of the 1-D Wasserstein-1 distance between two equal-sized sets of
    descriptors (n x D each) projected on each direction."""
    if a.shape != b.shape:
        raise ValueError(f"sliced_wasserstein: sets of {a.shape} and {b.shape} descriptors")
    v = rng.standard_normal((a.shape[1], directions))
    v = (v / np.linalg.norm(v, axis=0, keepdims=True)).T.astype(np.float32)
    # directions x n, in float32 (half the time of float64 to sort, ~1e-7 relative error): rows sort fast
    pa = np.sort(v @ a.T.astype(np.float32), axis=1)
    pb = np.sort(v @ b.T.astype(np.float32), axis=1)
    return float(np.abs(pa - pb).mean(dtype=np.float64))


def swd(images_a, images_b, seed=0, descriptors=DESCRIPTORS):
    """SWD between two sets of images (N x H x W x C, uint8 or float; the same H, W, C; any N): the
    mean over the pyramid's levels, and the list of per-level distances."""
    return _swd_levels(laplacian_pyramid(images_a), laplacian_pyramid(images_b), seed, descriptors)


def _swd_levels(pa, pb, seed, descriptors):
    rng = np.random.default_rng(seed)
    if min(pa[-1].shape[1:3]) < PATCH:
        raise ValueError(f"swd: images of {pa[0].shape[2]}x{pa[0].shape[1]} are smaller than a {PATCH}-pixel patch")
    per_level = [sliced_wasserstein(patch_descriptors(la, descriptors, rng),
                                    patch_descriptors(lb, descriptors, rng), rng) for la, lb in zip(pa, pb)]
    return float(np.mean(per_level)), per_level


def film_halves(n, block=BLOCK):
    """A boolean mask over n frames in film order: alternate stretches of `block` frames (shorter where
    the film is short), True for the first half. Two stretches of the same film that both cover the
    whole of it; not interleaved single frames, whose neighbours would be near copies of each other."""
    block = max(1, min(int(block), n // 2))
    return (np.arange(n) // block) % 2 == 0


def frames_read(n, height, width):
    """How many of a film's n frames (evenly spaced) sample_score reads: MAX_FRAMES, MAX_PIXELS."""
    return min(n, max(2, min(MAX_FRAMES, MAX_PIXELS // (height * width))))


def sample_count(frames):
    """How many prior samples to score against `frames`: as many as each half of the floor has."""
    return frames_read(len(frames), frames.shape[1], frames.shape[2]) // 2


def sample_score(samples, frames, seed=0, block=BLOCK):
    """{"swd": SWD(samples, frames), "floor": SWD(one half of the frames, the other)}. frames in film
    order; frames_read() of them, evenly spaced, are used (a long film's pyramid would not fit in
    memory: MAX_PIXELS caps them too), and `block` shrinks with the spacing. The halves are film_halves()."""
    got = sample_scores([samples], frames, seed, block)
    return {"swd": got["swd"][0], "floor": got["floor"]}


def sample_scores(sample_sets, frames, seed=0, block=BLOCK):
    """sample_score of several sets of samples against the same frames, the frames' pyramid and floor
    computed once: {"swd": [one per set], "floor"}. Each set's patches are drawn at the same positions
    (the same seed), so equal-sized sets are compared on the same frames' patches."""
    frames = np.asarray(frames)
    if len(frames) < 2:
        raise ValueError("sample_score: the floor needs at least two frames")
    n = frames_read(len(frames), frames.shape[1], frames.shape[2])
    pick = np.unique(np.linspace(0, len(frames) - 1, n).round().astype(int))
    pf = laplacian_pyramid(frames[pick])
    first = film_halves(len(pick), max(1, round(block * len(pick) / len(frames))))
    scores = [_swd_levels(laplacian_pyramid(samples), pf, seed, DESCRIPTORS)[0] for samples in sample_sets]
    floor = _swd_levels([l[first] for l in pf], [l[~first] for l in pf], seed + 1, DESCRIPTORS)[0]
    return {"swd": scores, "floor": floor}
