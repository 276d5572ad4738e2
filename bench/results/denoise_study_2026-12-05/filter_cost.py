"""The output filter's cost on this CPU, per frame, median of 5 (a batch of 64, float32, NumPy).

    python bench/results/denoise_study_2026-12-05/filter_cost.py > bench/results/denoise_study_2026-12-05/filter_cost.txt
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, ".")
from vaegan.denoise import bilateral  # noqa: E402

print("load", os.getloadavg())
rng = np.random.default_rng(0)
for (w, h) in ((64, 48), (96, 64), (256, 144)):
    x = rng.uniform(-1, 1, (64, 3, h, w)).astype(np.float32)
    t = []
    for _ in range(5):
        t0 = time.perf_counter()
        bilateral(x, 6.0, np)
        t.append(time.perf_counter() - t0)
    print(f"{w}x{h}: {np.median(t) / 64 * 1e3:.2f} ms a frame (batch of 64, float32)")
