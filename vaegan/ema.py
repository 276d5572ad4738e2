"""Averaged weights (`--ema DECAY`): an exponential moving average of the generator's weights.

The live weights of a GAN trained at a high learning rate jitter from step to step; each picture they
draw carries the last few updates' noise (the coloured speckle of an unaveraged run). The average of
the last few hundred steps' weights draws the same scene without it (Karras et al. 2018, Yazici et al.
2019). After every step that updated the networks, for the encoder and the decoder (the discriminator
is not averaged: nothing is drawn with it):

    d_n    = 1 - (1 - DECAY) / (1 - DECAY^n)         n: this update's number, 1 at the first
    avg   <- d_n * avg + (1 - d_n) * live             for the flat parameter buffer and for each
                                                      batch-norm running mean and variance

which is the bias-corrected average of Adam's moments: after n updates avg is exactly
sum_k DECAY^(n-k) live_k / sum_k DECAY^(n-k), the weights of the steps taken so far weighted by DECAY per
step of age, with no share for the random initial weights (d_1 = 0: the first update copies). A plain
average started from the initial weights would keep DECAY^n of them: 74% after 300 steps at 0.999.

The checkpoint keeps the averages beside the live weights (`encoder.ema.params`, ...), and the count n
in its metadata, so a resumed run goes on exactly; reconstruct, sample, morph, the strip, the grids, the
film and the report draw with the averages when a checkpoint has them (`applied`, `load_averaged`).
"""
from contextlib import contextmanager

AVERAGED = ("encoder", "decoder")


def validate_decay(decay):
    """0 (off) or a number in (0, 1). Raises ValueError with one line."""
    if not (isinstance(decay, (int, float)) and not isinstance(decay, bool)) or decay != decay or \
            not (decay == 0 or 0 < decay < 1):
        raise ValueError(f"ema decay must be 0 (off) or a number between 0 and 1 (e.g. 0.99), got {decay!r}")
    return float(decay)


def decay_at(decay, n):
    """The decay of the n-th update (n = 1 for the first): 1 - (1 - decay) / (1 - decay^n)."""
    return 1.0 - (1.0 - decay) / (1.0 - decay ** n)


class EMA:
    """The averages of the encoder's and decoder's parameters and batch-norm running statistics."""

    def __init__(self, model, decay):
        self.model, self.decay = model, validate_decay(decay)
        self.updates = 0
        xp = model.K.xp
        self.params = {name: xp.array(model.flat[name].data, copy=True) for name in AVERAGED}
        self.buffers = {name: {b: xp.array(buf, copy=True) for b, buf in model.networks()[name].named_buffers()}
                        for name in AVERAGED}

    def _live(self, name):
        return self.model.flat[name].data, dict(self.model.networks()[name].named_buffers())

    def update(self):
        """One step of the average towards the live weights (after a step that updated them)."""
        d = decay_at(self.decay, self.updates + 1)
        for name in AVERAGED:
            live, live_buffers = self._live(name)
            _blend(self.params[name], live, d)
            for b, avg in self.buffers[name].items():
                _blend(avg, live_buffers[b], d)
        self.updates += 1

    # --- the checkpoint's share --------------------------------------------------------------------
    def tensors(self, to_numpy):
        out = {}
        for name in AVERAGED:
            out[f"{name}.ema.params"] = to_numpy(self.params[name])
            for b, avg in self.buffers[name].items():
                out[f"{name}.ema.{b}"] = to_numpy(avg)
        return out

    def load(self, tensors, updates, copy):
        """copy(dst, src, what): the checkpoint's copy with its shape check."""
        for name in AVERAGED:
            copy(self.params[name], tensors[f"{name}.ema.params"], f"{name}.ema.params")
            for b, avg in self.buffers[name].items():
                copy(avg, tensors[f"{name}.ema.{b}"], f"{name}.ema.{b}")
        self.updates = int(updates)

    # --- drawing with the averages -----------------------------------------------------------------
    @contextmanager
    def applied(self):
        """Within: the model's encoder and decoder hold the averaged weights; after: the live ones again."""
        saved = {}
        for name in AVERAGED:
            live, live_buffers = self._live(name)
            saved[name] = (live.copy(), {b: v.copy() for b, v in live_buffers.items()})
            live[...] = self.params[name]
            for b, v in live_buffers.items():
                v[...] = self.buffers[name][b]
        try:
            yield self.model
        finally:
            for name in AVERAGED:
                live, live_buffers = self._live(name)
                live[...] = saved[name][0]
                for b, v in live_buffers.items():
                    v[...] = saved[name][1][b]


def _blend(avg, live, d):
    avg *= d
    avg += (1.0 - d) * live


@contextmanager
def averaged(model):
    """The model with its averaged weights where it has them (model.ema), else as it is."""
    ema = getattr(model, "ema", None)
    if ema is None:
        yield model
    else:
        with ema.applied():
            yield model


def has_averages(tensors):
    return all(f"{name}.ema.params" in tensors for name in AVERAGED)


def load_averaged(model, tensors, copy):
    """Put a checkpoint's averaged encoder and decoder (parameters and running statistics) into the
    model's live weights: for a model that only draws (reconstruct, sample, morph). True if it had them."""
    if not has_averages(tensors):
        return False
    for name in AVERAGED:
        copy(model.flat[name].data, tensors[f"{name}.ema.params"], f"{name}.ema.params")
        for b, buf in model.networks()[name].named_buffers():
            copy(buf, tensors[f"{name}.ema.{b}"], f"{name}.ema.{b}")
    return True
