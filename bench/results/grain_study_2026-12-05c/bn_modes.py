"""Grain of a run's reconstructions under: eval (running BN stats), batch stats; averaged vs live weights."""
import sys, numpy as np
sys.path.insert(0, ".")
from vaegan.reconstruct import load_model
from vaegan.media.framestore import FrameStore, to_float_batch, to_uint8_frames
from vaegan.evaluate import reconstruction_scores
from vaegan import checkpoint
from vaegan.model import VAEGAN
from vaegan.backend import backend_named

run = sys.argv[1]
store = FrameStore.open(run + "/frames")
frames = np.asarray(store.frames)
def rec(model, mode, bs=64):
    K = model.K; out = []
    for i in range(0, len(frames), bs):
        x = K.asarray(to_float_batch(frames[i:i+bs]))
        out.append(to_uint8_frames(K.to_numpy(model.reconstruct(x, mode=mode))))
    return np.concatenate(out)
for averaged in (True, False):
    meta, tensors = checkpoint.read(run)
    model = VAEGAN(backend_named("numpy"), checkpoint.config_of(meta))
    checkpoint.load_into(run, meta, tensors, model, averaged=averaged)
    for mode in ("eval", "batch"):
        s = reconstruction_scores(frames, rec(model, mode))
        print(f"averaged={averaged} mode={mode}: psnr {s['psnr']:.2f} ssim {s['ssim']:.3f} grain {s['grain']:.3f}")
