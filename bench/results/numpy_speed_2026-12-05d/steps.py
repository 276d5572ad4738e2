import sys, time
sys.path.insert(0, "/work/main")
import numpy as np
import os
if os.environ.get("T"): import torch
from kernels import get_backend
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
ts = []
for i in range(int(sys.argv[1])):
    e1 = rng.standard_normal((16, cfg.z_dim)).astype(np.float32); e2 = rng.standard_normal((16, cfg.z_dim)).astype(np.float32)
    t = time.perf_counter(); training_step(model, opt, x, e1, e2, 1.0, tc); ts.append((time.perf_counter() - t) * 1e3)
print(" ".join(f"{t:.0f}" for t in ts))
print("median last half", np.median(ts[len(ts)//2:]))
import resource
r0 = resource.getrusage(resource.RUSAGE_SELF)
for i in range(5):
    training_step(model, opt, x, e1, e2, 1.0, tc)
r1 = resource.getrusage(resource.RUSAGE_SELF)
print("minflt/step", (r1.ru_minflt - r0.ru_minflt) / 5, "user", (r1.ru_utime - r0.ru_utime) / 5, "sys", (r1.ru_stime - r0.ru_stime) / 5)
