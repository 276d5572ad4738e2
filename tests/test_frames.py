"""Decoding: probe, pixel formats, fitting (crop / pad / stretch), rotation, time selection, damage."""
import numpy as np
import pytest

from tests.films import decode_all, frame_index, pattern, write_audio_only, write_film
from vaegan.errors import UserError
from vaegan.media.decode import fit_frame, format_probe, iter_frames, parse_size, plan_fit, probe


def decode(path, **kw):
    frames = iter_frames(path, **kw)
    pairs = list(frames)
    return np.stack([p for p, _ in pairs]), [t for _, t in pairs], frames.stats


def test_probe_reports_streams_size_fps_and_count(tmp_path):
    film = write_film(tmp_path / "a.mp4", n=12, fps=10, audio="aac")
    info = probe(film)
    assert (info["width"], info["height"], info["fps"], info["frames"]) == (64, 48, 10.0, 12)
    assert info["frames_exact"] and info["rotation"] == 0
    assert [s["type"] for s in info["streams"]] == ["video", "audio"]
    assert info["duration"] == pytest.approx(1.2, abs=0.05)
    text = format_probe(info)
    assert "64x48, 10 fps, 12 frames" in text and "audio" in text and "44100 Hz" in text


def test_odd_sized_yuv444_decodes_to_the_picture_written(tmp_path):
    # yuv444p keeps full-resolution colour, so odd sides are legal; qp 0 is x264's lossless mode,
    # leaving only the RGB <-> YCbCr rounding (about half a level, a bound of 1.5 for the mean)
    film = write_film(tmp_path / "odd.mp4", n=5, size=(63, 47), pix_fmt="yuv444p", options={"qp": "0"})
    frames, _, stats = decode(film, size=(63, 47), fit="stretch")
    assert frames.shape == (5, 47, 63, 3) and frames.dtype == np.uint8
    for i, frame in enumerate(frames):
        assert np.abs(frame.astype(int) - pattern(i, 63, 47)).mean() < 1.5
    assert stats.lost == 0 and stats.kept == 5


def test_greyscale_film_gives_three_equal_channels(tmp_path):
    grey = [np.repeat(pattern(i)[:, :, :1], 3, axis=2) for i in range(4)]   # the red ramp, as grey
    film = write_film(tmp_path / "grey.mkv", pictures=grey, codec="ffv1", pix_fmt="gray")
    assert probe(film)["streams"][0]["pix_fmt"] == "gray"
    frames, _, _ = decode(film, size=(64, 48), fit="stretch")
    assert np.array_equal(frames[..., 0], frames[..., 1]) and np.array_equal(frames[..., 1], frames[..., 2])
    # ffv1 is lossless and gray -> RGB is a copy of the luma... of full-range grey, so within a level
    assert np.abs(frames.astype(int) - np.stack(grey)).max() <= 1


def test_ten_bit_film_decodes(tmp_path):
    film = write_film(tmp_path / "ten.mp4", n=4, pix_fmt="yuv420p10le")
    assert probe(film)["streams"][0]["pix_fmt"] == "yuv420p10le"
    frames, _, _ = decode(film, size=(64, 48), fit="stretch")
    assert frames.shape == (4, 48, 64, 3)
    assert [frame_index(f) for f in frames] == [0, 1, 2, 3]
    assert np.abs(frames.astype(int) - np.stack([pattern(i) for i in range(4)])).mean() < 3


def test_fit_crop_cuts_the_centre():
    picture = pattern(0)                       # 64 x 48 to 48 x 48: no scaling, 8 columns cut each side
    assert np.array_equal(fit_frame(picture, (48, 48), "crop"), picture[:, 8:56])
    plan = plan_fit(64, 48, (32, 32), "crop")       # 64 * 32/48 = 42.7 -> 43 wide, 5 cut on the left
    assert (plan.scaled_w, plan.scaled_h, plan.x, plan.y) == (43, 32, 5, 0)


def test_fit_pad_letterboxes_with_black():
    picture = pattern(3)
    out = fit_frame(picture, (64, 64), "pad")  # 64 x 48 inside 64 x 64: 8 black rows above and below
    assert np.array_equal(out[8:56], picture)
    assert not out[:8].any() and not out[56:].any()


def test_fit_stretch_shrinks_by_area_averaging(rng):
    picture = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    out = fit_frame(picture, (32, 24), "stretch")
    block_means = picture.reshape(24, 2, 32, 2, 3).mean(axis=(1, 3))   # what "area" means at a factor of 2
    assert np.abs(out - block_means).max() <= 1.0


def test_non_square_pixels_are_widened_before_fitting():
    # a 720 x 480 DVD frame shown at 16:9 (SAR 32:27) is 853 x 480: cropping to 16:9 cuts nothing
    plan = plan_fit(720, 480, (256, 144), "crop", sample_aspect=32 / 27)
    assert (plan.scaled_w, plan.scaled_h, plan.x, plan.y) == (256, 144, 0, 0)


@pytest.mark.parametrize("degrees, corner", [(90, (-1, 0)), (-90, (0, -1)), (180, (-1, -1))])
def test_rotation_tag_turns_the_picture(tmp_path, degrees, corner):
    stored = np.full((48, 64, 3), 40, np.uint8)
    stored[:8, :8] = 230                          # a bright block in the stored top-left corner
    film = write_film(tmp_path / "turned.mp4", pictures=[stored] * 3, rotation=degrees)
    assert probe(film)["rotation"] == degrees
    shown = (48, 64) if degrees % 180 else (64, 48)   # a quarter turn shows the film portrait
    frames, _, stats = decode(film, size=shown, fit="stretch")
    assert stats.rotation == degrees and frames.shape[1:3] == shown[::-1]
    # counter-clockwise: a quarter turn takes the top-left corner to the bottom-left, and so on
    y, x = corner
    assert frames[0, y, x].mean() > 200 and frames[0, 0 if y else -1, 0 if x else -1].mean() < 80


def test_every_start_end_and_max_frames_select_frames(tmp_path):
    film = write_film(tmp_path / "t.mp4", n=20, fps=10)
    frames, times, _ = decode(film, size=(32, 24), every=3)
    assert [frame_index(f) for f in frames] == [0, 3, 6, 9, 12, 15, 18]
    assert times == pytest.approx([0.0, 0.3, 0.6, 0.9, 1.2, 1.5, 1.8])
    frames, times, _ = decode(film, size=(32, 24), start=0.5, end=1.2)     # [start, end)
    assert [frame_index(f) for f in frames] == [5, 6, 7, 8, 9, 10, 11]
    frames, _, stats = decode(film, size=(32, 24), start=1.0, max_frames=4)
    assert [frame_index(f) for f in frames] == [10, 11, 12, 13] and not stats.reached_end


def test_variable_frame_rate_keeps_each_frames_time(tmp_path):
    times_ms = [0, 100, 150, 400, 420, 1000]
    film = write_film(tmp_path / "vfr.mkv", n=6, times_ms=times_ms)
    frames, times, _ = decode(film, size=(32, 24))
    assert times == pytest.approx([t / 1000 for t in times_ms])
    assert [frame_index(f) for f in frames] == list(range(6))


def test_truncated_mp4_gives_what_was_readable_and_counts_the_rest(tmp_path):
    # faststart puts the index first, so a file cut short still says how many frames it had; every
    # frame a keyframe (g=1) makes each a few hundred bytes, so the cut falls well inside the film
    film = write_film(tmp_path / "full.mp4", n=30, container_options={"movflags": "faststart"}, options={"g": "1"})
    data = film.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:int(len(data) * 0.6)])
    frames, _, stats = decode(cut, size=(64, 48), fit="stretch")
    assert 0 < len(frames) < 30
    assert stats.lost == 30 - len(frames)
    assert [frame_index(f) for f in frames] == list(range(len(frames)))
    good = decode_all(film)[:len(frames)]      # what was kept is what the whole file holds
    assert np.array_equal(frames, good)


def test_unindexed_film_cut_short_is_noticed_from_its_duration(tmp_path):
    film = write_film(tmp_path / "full.mkv", n=30, options={"g": "1"})   # 3 s; mkv states its duration first
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(film.read_bytes()[:int(film.stat().st_size * 0.4)])
    frames = iter_frames(cut, size=(32, 24))
    kept = sum(1 for _ in frames)
    assert 0 < kept < 30 and frames.stats.missing_estimated
    assert abs(frames.stats.lost - (30 - kept)) <= 2        # estimated from seconds, to a frame or two
    assert "lost" in frames.lost_message()


def test_bad_input_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        iter_frames(tmp_path / "missing.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("not a film\n" * 50)
    with pytest.raises(UserError, match="not a media file"):
        probe(text)
    with pytest.raises(UserError, match="no video stream"):
        iter_frames(write_audio_only(tmp_path / "sound.m4a"))
    film = write_film(tmp_path / "ok.mp4", n=5)
    with pytest.raises(UserError, match="no frames after --start 3"):
        decode(film, start=3.0)
    with pytest.raises(UserError, match="--end"):
        iter_frames(film, start=1.0, end=0.5)
    for bad in ("96", "0x10", "axb"):
        with pytest.raises(UserError):
            parse_size(bad)
    assert parse_size("96x64") == (96, 64)
