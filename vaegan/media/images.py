"""Still images: a batch of frames as one PNG grid, and one image file read as a frame.

save_grid lays N frames out row by row, ncols to a row, with `border` pixels of black between and
around them (the last row is filled with black where frames run out). read_image opens any image
Pillow reads, turns it upright by its EXIF orientation (as decode.py honours a film's rotation tag),
drops transparency, and fits it to W x H exactly as a film's frames are fitted (decode.fit_frame).
"""
import math
import os

import numpy as np

from vaegan.errors import UserError
from vaegan.media.decode import fit_frame
from vaegan.media.paths import check_output


def save_grid(path, frames, ncols, border=2):
    """uint8 N x H x W x 3 -> one PNG of ceil(N / ncols) rows; returns the grid array."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"frames must be uint8 N x H x W x 3 with N >= 1, got {frames.dtype} {frames.shape}")
    ncols, border = max(1, min(int(ncols), len(frames))), int(border)
    if border < 0:
        raise ValueError(f"border must not be negative, got {border}")
    n, h, w, _ = frames.shape
    nrows = math.ceil(n / ncols)
    grid = np.zeros((nrows * (h + border) + border, ncols * (w + border) + border, 3), np.uint8)
    for i, frame in enumerate(frames):
        top = border + (i // ncols) * (h + border)
        left = border + (i % ncols) * (w + border)
        grid[top:top + h, left:left + w] = frame
    _save_png(path, grid)
    return grid


def _save_png(path, array):
    from PIL import Image
    path = check_output(path)
    try:
        Image.fromarray(array, "RGB").save(path, format="PNG")
    except OSError as e:
        raise UserError(f"{path}: cannot write the image ({e.strerror or e})") from None


def read_image(path, size, fit="crop"):
    """An image file -> uint8 H x W x 3 RGB at size=(W, H), upright, fitted like a film's frames."""
    from PIL import Image, ImageOps, UnidentifiedImageError
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such file")
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):     # 16-bit greyscale: keep the top 8 bits
                picture = np.clip(np.asarray(image, dtype=np.int64) >> 8, 0, 255).astype(np.uint8)
            else:
                picture = np.asarray(image.convert("RGB"))
    except UnidentifiedImageError:
        raise UserError(f"{path}: not an image Pillow can read") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read the image ({e})") from None
    return fit_frame(np.ascontiguousarray(picture), size, fit, rotation=0)
