"""Frames out (vaegan/media/film.py, vaegan/media/images.py): H.264 films any player plays, the source's sound
carried over, odd sizes, side by side, PNG grids, and the whole round trip through the frame store."""
from fractions import Fraction

import av
import numpy as np
import pytest

from tests.films import audio_of, decode_all, frame_index, loudness, pattern, write_film
from vaegan.errors import UserError
from vaegan.media.film import FilmWriter, side_by_side
from vaegan.media.framestore import FrameStore
from vaegan.media.images import save_grid


def video_stream_of(path):
    with av.open(str(path)) as film:
        v = film.streams.video[0]
        return v.codec_context.name, v.codec_context.pix_fmt, Fraction(v.average_rate), film.streams.audio


def write(path, pictures, fps=10, **kw):
    with FilmWriter(path, fps, pictures[0].shape[1], pictures[0].shape[0], **kw) as film:
        film.write(np.stack(pictures))
    return film


def test_h264_yuv420p_at_the_exact_source_rate(tmp_path):
    pictures = [pattern(i) for i in range(8)]
    write(tmp_path / "out.mp4", pictures, fps="30000/1001")
    codec, pix_fmt, rate, audio = video_stream_of(tmp_path / "out.mp4")
    assert (codec, pix_fmt, rate) == ("h264", "yuv420p", Fraction(30000, 1001))
    assert len(audio) == 0
    back = decode_all(tmp_path / "out.mp4")
    assert back.shape == (8, 48, 64, 3)
    assert [frame_index(p) for p in back] == list(range(8))
    # CRF 18 on a smooth pattern: within a few levels of what was written
    assert np.abs(back.astype(int) - np.stack(pictures).astype(int)).mean() < 3


def test_odd_sizes_are_padded_by_one_copied_pixel(tmp_path):
    pictures = [pattern(i, width=33, height=21) for i in range(4)]
    write(tmp_path / "odd.mp4", pictures)
    back = decode_all(tmp_path / "odd.mp4")
    assert back.shape == (4, 22, 34, 3)
    # the extra column repeats the last one (up to coding error), nothing is cut
    assert np.abs(back[:, :21, 33].astype(int) - back[:, :21, 32].astype(int)).mean() < 4
    assert np.abs(back[:, :21, :33].astype(int) - np.stack(pictures).astype(int)).mean() < 3


@pytest.mark.parametrize("codec, carried", [("aac", "copy"), ("pcm_s16le", "aac")])
def test_source_audio_is_carried_over_and_cut_to_the_film(tmp_path, codec, carried):
    ext = ".mp4" if codec == "aac" else ".mov"
    source = write_film(tmp_path / f"source{ext}", n=20, fps=10, audio=codec)   # 2 s of a rising tone
    pictures = [pattern(i) for i in range(10)]                                     # 1 s of film
    film = write(tmp_path / "out.mp4", pictures, audio_from=source)
    assert film.audio == carried
    samples, rate, name = audio_of(tmp_path / "out.mp4")
    assert name == "aac"
    seconds = samples.shape[1] / rate
    assert 0.9 < seconds < 1.2, seconds            # cut with the last frame (AAC frames are 1024 samples)
    # it is the START of the source's tone: the loudness at the end matches the source's at 1 s, not 2 s
    tail = np.abs(samples[0, int(0.8 * rate):int(0.95 * rate)]).max()
    assert abs(tail - loudness(0.95, 2.0)) < 0.05, tail


def test_audio_starts_where_the_store_started(tmp_path):
    source = write_film(tmp_path / "source.mp4", n=20, fps=10, audio="aac")
    write(tmp_path / "out.mp4", [pattern(i) for i in range(5)], audio_from=source, audio_start=1.0)
    samples, rate, _ = audio_of(tmp_path / "out.mp4")
    head = np.abs(samples[0, int(0.05 * rate):int(0.2 * rate)]).max()
    assert abs(head - loudness(1.2, 2.0)) < 0.05, head     # loud already: the source from 1 s on


def test_side_by_side_puts_original_left_and_reconstruction_right():
    a = np.zeros((2, 4, 6, 3), np.uint8)
    b = np.full((2, 4, 6, 3), 200, np.uint8)
    both = side_by_side(a, b)
    assert both.shape == (2, 4, 12, 3)
    assert (both[:, :, :6] == 0).all() and (both[:, :, 6:] == 200).all()
    with pytest.raises(ValueError):
        side_by_side(a, b[:, :3])


def test_png_grid_lays_frames_out_row_by_row(tmp_path):
    from PIL import Image

    frames = np.stack([np.full((5, 7, 3), 10 * (i + 1), np.uint8) for i in range(5)])
    grid = save_grid(tmp_path / "grid.png", frames, ncols=3, border=1)
    assert grid.shape == (2 * 6 + 1, 3 * 8 + 1, 3)
    on_disk = np.asarray(Image.open(tmp_path / "grid.png"))
    assert np.array_equal(on_disk, grid)
    assert (grid[1:6, 1:8] == 10).all() and (grid[7:12, 9:16] == 50).all()   # frame 0 and frame 4
    assert (grid[7:12, 17:24] == 0).all()                                      # the empty sixth place


def test_bad_output_paths_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        FilmWriter(tmp_path / "missing" / "out.mp4", 10, 8, 8)
    with pytest.raises(UserError, match="films are written as"):
        FilmWriter(tmp_path / "out.gif", 10, 8, 8)
    with pytest.raises(UserError, match="does not exist"):
        save_grid(tmp_path / "missing" / "grid.png", np.zeros((1, 4, 4, 3), np.uint8), ncols=1)


def test_a_film_abandoned_by_an_exception_is_removed(tmp_path):
    path = tmp_path / "half.mp4"
    with pytest.raises(RuntimeError):
        with FilmWriter(path, 10, 64, 48) as film:
            film.write(np.stack([pattern(i) for i in range(3)]))
            raise RuntimeError("interrupted")
    assert not path.exists()


def test_round_trip_film_store_film(tmp_path):
    """decode -> store -> write mp4 -> decode again: the same number of frames, close to the store."""
    source = write_film(tmp_path / "source.mp4", n=15, size=(64, 48), fps=12, audio="aac")
    store = FrameStore.open_or_build(source, tmp_path / "store", size=(32, 24), fit="crop", progress=False)
    with FilmWriter(tmp_path / "again.mp4", store.fps, store.width, store.height, audio_from=source) as film:
        film.write(np.asarray(store.frames))
    again = FrameStore.open_or_build(tmp_path / "again.mp4", tmp_path / "store2", size=(32, 24), progress=False)
    assert len(again) == len(store) == 15
    assert again.fps == pytest.approx(12)
    assert np.abs(np.asarray(again.frames, int) - np.asarray(store.frames, int)).mean() < 4
    assert audio_of(tmp_path / "again.mp4")[0].shape[1] > 0
