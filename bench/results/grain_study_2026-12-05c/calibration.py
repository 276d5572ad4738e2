"""What grain numbers mean (vaegan/grain.py): the film scored against itself with independent Gaussian noise
of 1, 2 and 3 grey levels added, and against its own next frame. Run from the repository root on a run
folder (or a frame store folder, bench.quality's runs/.quality/store-*):
    python bench/results/grain_study_2026-12-05c/calibration.py runs/bikes-tiny"""
import sys

import numpy as np

sys.path.insert(0, ".")
from vaegan.grain import grain  # noqa: E402
from vaegan.media.framestore import FrameStore  # noqa: E402

f = np.asarray(FrameStore.open(sys.argv[1] if sys.argv[1].rstrip("/").endswith((".mp4", "frames")) else sys.argv[1] + "/frames").frames)
print(f"{sys.argv[1]}: {len(f)} frames")
print(f"the next frame: {grain(f[:-1], f[1:]):.3f}; two frames on: {grain(f[:-2], f[2:]):.3f}")
rng = np.random.default_rng(0)
for s in (0.5, 1, 2, 3, 4):
    noisy = np.clip(f + rng.normal(0, s, f.shape), 0, 255).round()
    print(f"film + N(0, {s}^2) grey levels: {grain(f, noisy):.3f}")
