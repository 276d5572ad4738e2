"""A training-side remedy for flicker: neighbouring frames held to neighbouring latents (off by default).

Each frame is encoded alone, so frames a person sees as one moving picture can land far apart in latent
space, and the re-imagined film jitters. `--smooth` (smoothing.py) smooths the path of mu afterwards;
this asks the encoder for a smooth path while it learns. With `--temporal-weight W > 0` a batch of B
frames is B/2 pairs of adjacent frames, the anchors first (half of the epoch's shuffled order, so the
steps per epoch do not change), then each anchor's neighbour t+1 (t-1 where t+1 is past the end or held
out), and the encoder's loss gains W * L_temp:

    L_temp = 1/P sum_i w_i |mu_i - mu_i'|^2 / z_dim,     w_i = m / (m + d_i)

for P pairs (x_i, x_i'), d_i = mean((x_i - x_i')^2) the source's own change between them (pixels in
[-1, 1]) and m the median of d over the batch's pairs: a pair that barely changes is held together
hardest; a cut or a fast pan (large d) is let go. d depends on the frames only, so the gradient is

    dL_temp/dmu_i = 2 w_i (mu_i - mu_i') / (P z_dim),     dL_temp/dmu_i' = -dL_temp/dmu_i

added to the encoder's dmu (step.py); no other network sees it. tests/test_temporal.py checks it against
finite differences in float64.
"""
import numpy as np

from .errors import UserError


def neighbours(anchors, n, exclude=()):
    """Frame t+1 for each anchor t, or t-1 where t+1 is past the end or excluded (held out)."""
    anchors = np.asarray(anchors, dtype=np.int64)
    bad = np.zeros(n + 1, bool)
    bad[n] = True
    if len(exclude):
        bad[np.asarray(exclude, dtype=np.int64)] = True
    after = anchors + 1
    return np.where(bad[after], np.maximum(anchors - 1, 0), after)


def pair_batches(store, batch_size, seed, epoch, start_batch=0, exclude=()):
    """As store.shuffled_batches (the same order, the same number of batches), but each batch is the first
    half of its slice of the order (the anchors) followed by their neighbours."""
    batch_size = int(batch_size)
    if batch_size < 2 or batch_size % 2:
        raise UserError(f"--temporal-weight trains on pairs of frames: --batch-size must be even, got {batch_size}")
    order = store.epoch_order(seed, epoch)
    if len(exclude):
        order = order[~np.isin(order, np.asarray(exclude, dtype=np.int64))]
    half = batch_size // 2
    for b in range(int(start_batch), len(order) // batch_size):
        anchors = order[b * batch_size:b * batch_size + half]
        yield store.batch(np.concatenate([anchors, neighbours(anchors, len(store), exclude)]))


def pair_change(xp, x):
    """d_i = mean((x_i - x_i')^2) for a pair batch x (anchors first, neighbours second)."""
    p = x.shape[0] // 2
    return ((x[:p] - x[p:]) ** 2).reshape(p, -1).mean(axis=1)


def temporal_loss(xp, mu, change):
    """(L_temp, dL_temp/dmu) for mu of a pair batch (anchors first) and the pairs' source change d."""
    p, z_dim = mu.shape[0] // 2, mu.shape[1]
    m = xp.median(change)
    w = m / (m + change) if float(m) > 0 else xp.ones_like(change)
    diff = mu[:p] - mu[p:]
    loss = (w * (diff * diff).sum(axis=1)).sum() / (p * z_dim)
    g = (2.0 / (p * z_dim)) * w[:, None] * diff
    return loss, xp.concatenate([g, -g])
