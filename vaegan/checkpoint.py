"""Checkpoints: safetensors (arrays) + JSON (everything else); written atomically; no pickle.

One file holds, per network, the flat parameter buffer, Adam's two moment buffers and the batch-norm
running statistics (and, with --ema, the encoder's and decoder's averaged weights: vaegan/ema.py); its metadata holds the ModelConfig, the training options, the step, the position
in the data (epoch, batch), the noise schedule and its current sigma, the seed and Adam's step counts.
Noise and data order are pure functions of (seed, step) and (seed, epoch), so that is all the
"random state" an exact resume needs.

Writing goes to a temporary file in the same folder, flushed to disk, then renamed over the old one:
a crash or a full disk mid-write leaves the previous checkpoint intact.
"""
import json
import os
import tempfile

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save as st_save

from .config import ModelConfig
from .errors import UserError
from .media.paths import usual_permissions

FORMAT = 1
FILENAME = "checkpoint.safetensors"
# The fields that decide the parameters' shapes: a checkpoint fits a model only if these agree.
SHAPE_FIELDS = ("width", "height", "z_dim", "enc_widths", "dec_start", "dec_widths", "disc_widths",
                "disc_strides", "enc_fc", "disc_fc", "dec_final_conv", "kernel")


def checkpoint_path(path):
    """A run folder or a checkpoint file -> the checkpoint file."""
    return os.path.join(path, FILENAME) if os.path.isdir(path) else path


def save(path, model, optimizers, state):
    """Write model weights, Adam state and `state` (a JSON-able dict) atomically to `path`."""
    K = model.K
    tensors = {}
    for name, net in model.networks().items():
        tensors[f"{name}.params"] = K.to_numpy(model.flat[name].data)
        tensors[f"{name}.adam_m"] = K.to_numpy(optimizers[name].m)
        tensors[f"{name}.adam_v"] = K.to_numpy(optimizers[name].v)
        for bname, buf in net.named_buffers():
            tensors[f"{name}.{bname}"] = K.to_numpy(buf)
    meta = dict(state, format=FORMAT, model=model.cfg.to_dict(),
                adam_steps={n: o.step_count for n, o in optimizers.items()})
    ema = getattr(model, "ema", None)          # the averaged weights (vaegan/ema.py), beside the live ones
    if ema is not None:
        tensors.update(ema.tensors(K.to_numpy))
        meta["ema_updates"] = ema.updates
    write_atomically(path, st_save(tensors, metadata={"vaegan": json.dumps(meta)}))


def write_atomically(path, blob, prefix=".checkpoint-"):
    """Write the bytes `blob` to `path` as the module docstring says: a temporary file in the same folder,
    flushed to disk, renamed over the old one (the film's density, latent_density.py, is written so too)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        usual_permissions(tmp)                 # mkstemp made it private; a checkpoint is a file like any other
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read(path):
    """-> (metadata dict, {name: numpy array}). Refuses anything that is not one of our checkpoints."""
    path = checkpoint_path(path)
    if not os.path.exists(path):
        raise UserError(f"{path}: no such checkpoint")
    try:
        with safe_open(path, framework="np") as f:
            raw = (f.metadata() or {}).get("vaegan")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path}: not a readable checkpoint ({e})") from None
    if raw is None:
        raise UserError(f"{path}: a safetensors file, but not a vaegan checkpoint")
    meta = json.loads(raw)
    if meta.get("format") != FORMAT:
        raise UserError(f"{path}: checkpoint format {meta.get('format')}, this version reads {FORMAT}")
    return meta, tensors


def config_of(meta):
    return ModelConfig.from_dict(meta["model"])


def check_compatible(path, saved_cfg, cfg):
    diffs = [f for f in SHAPE_FIELDS if getattr(saved_cfg, f) != getattr(cfg, f)]
    if diffs:
        raise UserError(f"{path}: checkpoint is for {saved_cfg.describe()}, not {cfg.describe()} "
                        f"(they differ in {', '.join(diffs)})")


def load_into(path, meta, tensors, model, optimizers=None, averaged=False):
    """Copy a checkpoint's arrays into a built model (and its optimisers, and its averaged weights
    where the model keeps them: model.ema). averaged: a model that only draws takes the checkpoint's
    averaged encoder and decoder as its weights, where it has them (vaegan/ema.py)."""
    from . import ema as ema_mod

    K = model.K
    check_compatible(path, config_of(meta), model.cfg)
    for name, net in model.networks().items():
        _copy(K, model.flat[name].data, tensors[f"{name}.params"], f"{name}.params")
        for bname, buf in net.named_buffers():
            _copy(K, buf, tensors[f"{name}.{bname}"], f"{name}.{bname}")
        if optimizers is not None:
            _copy(K, optimizers[name].m, tensors[f"{name}.adam_m"], f"{name}.adam_m")
            _copy(K, optimizers[name].v, tensors[f"{name}.adam_v"], f"{name}.adam_v")
            optimizers[name].step_count = int(meta["adam_steps"][name])
    copy = lambda dst, src, what: _copy(K, dst, src, what)
    ema = getattr(model, "ema", None)
    if ema is not None and ema_mod.has_averages(tensors):
        ema.load(tensors, meta.get("ema_updates", 0), copy)
    elif ema is not None:        # a checkpoint without averages: they start from its weights
        model.ema = ema_mod.EMA(model, ema.decay)
    if averaged:
        ema_mod.load_averaged(model, tensors, copy)


def _copy(K, dst, src, what):
    if tuple(dst.shape) != tuple(src.shape):
        raise UserError(f"checkpoint array {what} has shape {src.shape}, the model expects {tuple(dst.shape)}")
    dst[...] = K.asarray(np.ascontiguousarray(src).astype(str(dst.dtype)))
