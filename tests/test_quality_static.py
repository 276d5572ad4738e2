"""A static camera is what the model remembers best (the seed's observation): on a clip with a fixed
background and small moving objects, the default recipe's reconstruction must beat the clip's mean frame
by at least 1 dB (MARGIN_DB).

The mean frame is the best any constant picture can do in MSE: here it is the background with faint
trails, wrong exactly where the objects are. Beating it means the model has learned, frame by frame,
where the objects are (and the background well enough not to lose that back). The PSNR is measured
as `reconstruct` measures it: z = mu, batch-norm running statistics, uint8 frames."""
import numpy as np

from tests.films import write_film
from vaegan.evaluate import mean_frame_psnr, reconstruction_psnr
from vaegan.train import film_store, new_run, settings

W, H, FRAMES = 32, 24, 48
MARGIN_DB = 1.0


def static_camera_clip(n=FRAMES, width=W, height=H):
    """A fixed scene (sky gradient, a dark building, a green ground) and two small discs crossing it:
    a red one left to right above the ground, a yellow one right to left lower down."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    scene = np.stack([90 + 100 * yy / height, 120 + 60 * yy / height, 220 - 80 * yy / height], axis=-1)
    scene[(xx > 0.55 * width) & (xx < 0.8 * width) & (yy > 0.25 * height)] = (60, 50, 70)
    scene[yy > 0.75 * height] = (50, 150, 60)
    frames = []
    for i in range(n):
        frame = scene.copy()
        t = i / (n - 1)
        for cx, cy, colour in ((2 + (width - 4) * t, 0.45 * height, (230, 40, 30)),
                               (width - 2 - (width - 4) * t, 0.85 * height, (250, 230, 40))):
            frame[(xx - cx) ** 2 + (yy - cy) ** 2 <= 3.2 ** 2] = colour
        frames.append(np.rint(frame).astype(np.uint8))
    return frames


def test_a_static_camera_reconstruction_beats_the_mean_frame(tmp_path):
    film = write_film(tmp_path / "static.mp4", pictures=static_camera_clip(), size=(W, H), fps=12,
                      options={"crf": "12"})
    s = settings("default", film=str(film), out=str(tmp_path / "run"), preset="tiny", width=W, height=H,
                 z_dim=16, base_width=8, batch_size=8, epochs=30, seed=0)
    run = new_run(s.run, s.train, film_store)
    run.train()
    frames = np.asarray(run.store.frames)
    with run.averaged() as model:        # what `reconstruct` draws with: the averaged weights, if kept
        got = reconstruction_psnr(model, frames)
    bar = mean_frame_psnr(frames)
    assert got >= bar + MARGIN_DB, \
        f"reconstruction {got:.2f} dB does not beat the mean frame's {bar:.2f} dB by {MARGIN_DB} dB"
