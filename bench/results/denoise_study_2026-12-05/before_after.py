"""docs/images/denoise_bikes.png: four frames of the sample clip (top), the default run's reconstructions
without the output filter (middle, --denoise 0) and with it (bottom, the run's own 6), each pixel 3 x 3.

    python bench/results/denoise_study_2026-12-05/before_after.py runs/bikes-tiny docs/images/denoise_bikes.png
"""
import sys

import numpy as np

sys.path.insert(0, ".")
from vaegan.evaluate import reconstruct_frames  # noqa: E402
from vaegan.media.framestore import FrameStore  # noqa: E402
from vaegan.media.images import save_grid  # noqa: E402
from vaegan.reconstruct import load_model  # noqa: E402

run, out = sys.argv[1:3]
frames = np.asarray(FrameStore.open(run + "/frames").frames)
pick = np.linspace(0, len(frames) - 1, 8).round().astype(int)[:4]
model, _ = load_model(run)
filtered = reconstruct_frames(model, frames[pick])
model.denoise = 0.0
raw = reconstruct_frames(model, frames[pick])
rows = np.concatenate([frames[pick], raw, filtered]).repeat(3, axis=1).repeat(3, axis=2)
save_grid(out, rows, ncols=4)
