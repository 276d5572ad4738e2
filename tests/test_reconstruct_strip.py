"""reconstruct --strip: eight evenly spaced frames of the film (top row) over the model's re-imagining of
them (bottom row), doubled in size, written by the same strip writer as training's strip.png
(vaegan/evaluate.save_strip); and refused beside --image."""
import numpy as np
from click.testing import CliRunner
from PIL import Image

import cli
from kernels import get_backend
from tests.films import write_film
from vaegan import checkpoint
from vaegan.config import make_config
from vaegan.media.decode import iter_frames
from vaegan.model import VAEGAN
from vaegan.optim import Adam

SIZE = (32, 24)


def test_strip_shows_the_films_frames_over_their_reconstruction(tmp_path):
    cfg = make_config("tiny", width=SIZE[0], height=SIZE[1], z_dim=8, base_width=4)
    model = VAEGAN(get_backend("numpy"), cfg, seed=0)
    run = tmp_path / "run"
    run.mkdir()
    checkpoint.save(str(run / checkpoint.FILENAME), model, {n: Adam(model.K, f) for n, f in model.flat.items()},
                    {"step": 0, "epoch": 0, "batch": 0, "sigma": None, "seed": 0})
    film = write_film(tmp_path / "film.mp4", n=20, fps=10)
    strip = tmp_path / "strip.png"
    result = CliRunner().invoke(cli.cli, ["reconstruct", str(run), str(film), "-o", str(tmp_path / "o.mp4"),
                                          "--strip", str(strip)])
    assert result.exit_code == 0, result.output
    grid = np.asarray(Image.open(strip).convert("RGB"))
    w, h, border = 2 * SIZE[0], 2 * SIZE[1], 2                        # each pixel 2 x 2, 2-pixel borders
    assert grid.shape == (2 * (h + border) + border, 8 * (w + border) + border, 3)
    frames = np.stack([f for f, _ in iter_frames(str(film), size=SIZE)])
    last = frames[-1].repeat(2, axis=0).repeat(2, axis=1)             # the eighth of the top row: the last frame
    np.testing.assert_array_equal(grid[border:border + h, -border - w:-border], last)
    assert not np.array_equal(grid[2 * border + h:2 * border + 2 * h, border:border + w],
                              frames[0].repeat(2, axis=0).repeat(2, axis=1))   # the bottom row: not the frames themselves
    result = CliRunner().invoke(cli.cli, ["reconstruct", str(run), "--image", str(strip), "-o", str(tmp_path / "i.png"),
                                          "--strip", str(tmp_path / "s.png")])
    assert result.exit_code != 0 and "--strip" in result.output and "Traceback" not in result.output
