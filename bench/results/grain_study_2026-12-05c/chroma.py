import sys, numpy as np
sys.path.insert(0, ".")
from vaegan.reconstruct import load_model
from vaegan.media.framestore import FrameStore, to_float_batch, to_uint8_frames
from vaegan.grain import laplacian, flat_mask
run = sys.argv[1]
frames = np.asarray(FrameStore.open(run + "/frames").frames)
model, _ = load_model(run)
K = model.K
rec = np.concatenate([to_uint8_frames(K.to_numpy(model.reconstruct(K.asarray(to_float_batch(frames[i:i+64])), mode="eval"))) for i in range(0, len(frames), 64)])
o, r = frames.astype(np.float64), rec.astype(np.float64)
lo = laplacian(o); flat = flat_mask(lo); lr = laplacian(r)
def part(a):  # luma, chroma
    m = a.mean(-1, keepdims=True); return m, a - m
for name, f in (("luma", 0), ("chroma", 1)):
    A, B = part(lo)[f], part(lr)[f]
    print(name, "film rms", np.sqrt((A[flat]**2).mean()), "ours rms", np.sqrt((B[flat]**2).mean()), "ratio", np.sqrt((B[flat]**2).mean()/(A[flat]**2).mean()))
# dark vs bright flat pixels
lum = o.mean(-1)
for lo_, hi in ((0, 40), (40, 100), (100, 256)):
    m = flat & (lum >= lo_) & (lum < hi)
    print(f"luma {lo_}-{hi}: share {m.sum()/flat.sum():.2f} ratio {np.sqrt((lr[m]**2).mean()/(lo[m]**2).mean()):.2f}")
