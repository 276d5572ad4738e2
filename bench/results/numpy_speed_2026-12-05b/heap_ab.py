"""The allocation policy's effect on the step a user's `cli.py train` runs (no PyTorch in the process).

    python bench/results/numpy_speed_2026-12-05b/heap_ab.py [rounds]

Each round runs two fresh processes back to back, the policy on (as the backend sets it) and off (the
environment's VAEGAN_KEEP_FREED_MEMORY=0), each timing 16 steps of
the default recipe's step on the tiny preset at batch 16 and printing the median of the last 8 and their
minor page faults per step (VAEGAN_KEEP_FREED_MEMORY: kernels/numpy_ref/heap.py). Alternating rounds, because this machine's speed drifts by up to 1.7x.
"""
import json
import os
import subprocess
import sys

CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, os.getcwd())
import numpy as np
import kernels.numpy_ref as nr
from vaegan.model import VAEGAN
from vaegan.optim import Adam
from vaegan.step import training_step
from vaegan.train import settings
chosen = settings("default", preset="tiny"); cfg, tc = chosen.model, chosen.train
model = VAEGAN(nr, cfg, seed=0)
opt = {n: Adam(nr, f, lr=tc.lr, beta1=tc.beta1, beta2=tc.beta2) for n, f in model.flat.items()}
rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, (16, 3, cfg.height, cfg.width)).astype(np.float32)
eps = [rng.standard_normal((16, cfg.z_dim)).astype(np.float32) for _ in range(2)]
ms = []
for i in range(16):
    if i == 8:
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t = time.perf_counter(); training_step(model, opt, x, *eps, 1.0, tc); ms.append((time.perf_counter() - t) * 1e3)
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 8
print(json.dumps({"policy": nr.KEEPS_FREED_MEMORY, "ms": float(np.median(ms[8:])), "faults": faults}))
"""

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
for r in range(rounds):
    got = {}
    for mode in ("off", "on"):
        env = dict(os.environ, VAEGAN_KEEP_FREED_MEMORY="0" if mode == "off" else "1")
        out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True, env=env)
        got[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"round {r + 1}: policy off {got['off']['ms']:.1f} ms/step ({got['off']['faults']:.0f} faults/step), "
          f"on {got['on']['ms']:.1f} ms/step ({got['on']['faults']:.0f} faults/step): "
          f"{got['off']['ms'] / got['on']['ms']:.2f}x", flush=True)
