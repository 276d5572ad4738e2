import sys, time
sys.path.insert(0, "/work/main")
import numpy as np
from kernels import get_backend
from kernels.numpy_ref import conv_phases as cp
from vaegan.train import settings
from vaegan.model import VAEGAN
from vaegan.optim import Adam
from vaegan.step import training_step
K = get_backend("numpy")
s = settings("default", preset="tiny"); cfg, tc = s.model, s.train
model = VAEGAN(K, cfg, seed=0)
opt = {n: Adam(K, f, lr=tc.lr, beta1=tc.beta1, beta2=tc.beta2) for n, f in model.flat.items()}
rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, (16, 3, cfg.height, cfg.width)).astype(np.float32)
e1 = rng.standard_normal((16, cfg.z_dim)).astype(np.float32); e2 = rng.standard_normal((16, cfg.z_dim)).astype(np.float32)
KEEP = cp.KEEP_COLS_BYTES
def step(keep):
    cp.KEEP_COLS_BYTES = KEEP if keep else -1
    t = time.perf_counter(); training_step(model, opt, x, e1, e2, 1.0, tc); return (time.perf_counter() - t) * 1e3
for i in range(4): step(False); step(True)
a, b = [], []
for i in range(int(sys.argv[1])):
    if i % 2: a.append(step(False)); b.append(step(True))
    else: b.append(step(True)); a.append(step(False))
a, b = np.array(a), np.array(b)
print("gather twice %.1f  keep %.1f  ratio %.3f (per-pair median %.3f)" % (np.median(a), np.median(b), np.median(a)/np.median(b), np.median(a/b)))
