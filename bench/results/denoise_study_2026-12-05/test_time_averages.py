"""Test-time ideas on a trained run, no training: posterior averaging, shift averaging, a bilateral filter
(the range here is over the sum of the channels' squared differences, not their mean as in vaegan/denoise.py).

    python bench/results/denoise_study_2026-12-05/test_time_averages.py RUN
"""
import sys, numpy as np
sys.path.insert(0, ".")
from vaegan.media.framestore import FrameStore, to_float_batch, to_uint8_frames
from vaegan.reconstruct import load_model
from vaegan.evaluate import reconstruction_scores

run = sys.argv[1]
frames = np.asarray(FrameStore.open(run + "/frames").frames)
model, _ = load_model(run, denoise=0)
K = model.K
def dec_float(x_uint8, eps_scale=0.0, seed=0):
    out = []
    rng = np.random.default_rng(seed)
    for i in range(0, len(x_uint8), 64):
        x = K.asarray(to_float_batch(x_uint8[i:i+64]))
        mu, logvar = model.encode(x)
        z = K.to_numpy(mu)
        if eps_scale:
            z = z + eps_scale * np.exp(0.5 * K.to_numpy(logvar)) * rng.standard_normal(z.shape).astype(z.dtype)
        out.append(K.to_numpy(model.decode(K.asarray(z))))
    return np.concatenate(out)
def u8(f): return to_uint8_frames(f)
def show(name, rec):
    s = reconstruction_scores(frames, rec)
    print(f"{name:40s} psnr {s['psnr']:.2f} ssim {s['ssim']:.3f} grain {s['grain']:.3f}", flush=True)
base = dec_float(frames)
show("mu", u8(base))
z_sd = None
for n in (8,):
    avg = sum(dec_float(frames, 1.0, seed=s) for s in range(n)) / n
    show(f"posterior mean of {n} decodes", u8(avg))
# shifts: roll by (dy,dx) with edge padding
def shift(a, dy, dx):
    H, W = a.shape[1:3]
    p = np.pad(a, ((0,0),(abs(dy),abs(dy)),(abs(dx),abs(dx)),(0,0)), mode="edge")
    return p[:, abs(dy)-dy:abs(dy)-dy+H, abs(dx)-dx:abs(dx)-dx+W]
for shifts in ([(0,0),(0,1),(1,0),(1,1)], [(dy,dx) for dy in (-1,0,1) for dx in (-1,0,1)]):
    acc = 0
    for dy, dx in shifts:
        r = dec_float(shift(frames, dy, dx))
        acc = acc + shift(r, -dy, -dx)
    show(f"shift average over {len(shifts)}", u8(acc / len(shifts)))
    for dy, dx in shifts[1:3]:
        show(f"  one shift {dy},{dx}", u8(shift(dec_float(shift(frames, dy, dx)), -dy, -dx)))
# bilateral 3x3 on the reconstruction
def bilateral(f, sigma_r, sigma_s=1.0):
    x = (f.astype(np.float64) + 1) * 127.5 if f.dtype != np.uint8 else f.astype(np.float64)
    p = np.pad(x, ((0,0),(1,1),(1,1),(0,0)), mode="edge")
    H, W = x.shape[1:3]
    num = 0; den = 0
    for dy in (-1,0,1):
        for dx in (-1,0,1):
            n = p[:, 1+dy:1+dy+H, 1+dx:1+dx+W]
            w = np.exp(-(dy*dy+dx*dx)/(2*sigma_s**2)) * np.exp(-((n - x)**2).sum(-1, keepdims=True)/(2*sigma_r**2))
            num = num + w*n; den = den + w
    return np.clip(np.rint(num/den), 0, 255).astype(np.uint8)
rb = u8(base)
for sr in (4, 8, 12, 20):
    show(f"bilateral sigma_r={sr}", bilateral(rb, sr))
