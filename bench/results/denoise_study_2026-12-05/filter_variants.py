"""Output-filter variants on a trained run (no training): 3x3 bilateral, 5x5, two passes.

    python bench/results/denoise_study_2026-12-05/filter_variants.py RUN [PICTURE.png]
"""
import sys, numpy as np
sys.path.insert(0, ".")
from vaegan.media.framestore import FrameStore, to_float_batch, to_uint8_frames
from vaegan.reconstruct import load_model
from vaegan.evaluate import reconstruction_scores
from PIL import Image

run = sys.argv[1]
frames = np.asarray(FrameStore.open(run + "/frames").frames)
model, _ = load_model(run, denoise=0)
K = model.K
raw = np.concatenate([K.to_numpy(model.reconstruct(K.asarray(to_float_batch(frames[i:i+64])))) for i in range(0, len(frames), 64)])

def bil(x, sigma, radius=1, sigma_s=1.0):
    s = sigma * 2 / 255
    h, w = x.shape[2:]
    p = np.pad(x, ((0,0),(0,0),(radius,radius),(radius,radius)), mode="edge")
    tot = 0; wt = 0
    for dy in range(-radius, radius+1):
        for dx in range(-radius, radius+1):
            q = p[:, :, radius+dy:radius+dy+h, radius+dx:radius+dx+w]
            wq = np.exp(-(dy*dy+dx*dx)/(2*sigma_s**2) - ((q-x)**2).mean(1, keepdims=True)/(2*s*s))
            tot = tot + wq*q; wt = wt + wq
    return tot / wt
out = {}
def show(name, f):
    r = to_uint8_frames(f); out[name] = r
    s = reconstruction_scores(frames, r)
    print(f"{name:28s} psnr {s['psnr']:.2f} ssim {s['ssim']:.3f} grain {s['grain']:.3f}", flush=True)
show("raw", raw)
for sg in (6, 8, 10):
    show(f"3x3 s{sg}", bil(raw, sg))
for sg in (6, 8, 10):
    show(f"5x5 ss1.5 s{sg}", bil(raw, sg, 2, 1.5))
for sg in (5, 6, 8):
    show(f"3x3 twice s{sg}", bil(bil(raw, sg), sg))
if len(sys.argv) > 2:
    idx = np.linspace(0, len(frames) - 1, 8).round().astype(int)[:4]
    names = ["raw", "3x3 s8", "5x5 ss1.5 s8", "3x3 twice s6"]
    rows = [frames[idx]] + [out[n][idx] for n in names]
    pic = np.concatenate([np.concatenate(list(r), axis=1) for r in rows])
    Image.fromarray(pic).resize((pic.shape[1]*4, pic.shape[0]*4), Image.NEAREST).save(sys.argv[2])
