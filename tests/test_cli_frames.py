"""The command line's small commands (info, probe, frames) as a user runs them: readable output, and
for every bad input one line starting "Error:" and exit code 1, never a traceback."""
import errno
import os

import pytest

import vaegan.media.framestore as framestore
from tests.cli_runs import invoke
from tests.films import write_audio_only, write_film


def assert_one_line_error(result, message):
    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: ") and message in last, result.output
    assert "Traceback" not in result.output


def test_help_lists_every_command_and_info_names_each_backend():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("info", "probe", "frames", "train", "reconstruct", "sample", "morph"):
        assert command in result.output
    result = invoke("info")
    assert result.exit_code == 0
    assert "backend numpy   yes" in result.output
    for name in ("cupy", "triton"):
        assert f"backend {name}" in result.output       # with a reason when it cannot run


def test_probe_prints_one_readable_block(tmp_path):
    film = write_film(tmp_path / "f.mp4", n=12, size=(64, 48), fps=10, audio="aac")
    result = invoke("probe", film)
    assert result.exit_code == 0, result.output
    assert "video     64x48, 10 fps, 12 frames" in result.output
    assert "audio" in result.output and "44100 Hz" in result.output


def test_frames_builds_a_store_then_reuses_it(tmp_path):
    film = write_film(tmp_path / "f.mp4", n=12, size=(64, 48), fps=10)
    args = ("frames", film, "-o", tmp_path / "store", "--size", "32x24", "--quiet")
    first = invoke(*args)
    assert first.exit_code == 0 and "12 frames 32x24" in first.output and "built" in first.output
    second = invoke(*args)
    assert second.exit_code == 0 and "reused" in second.output


@pytest.mark.parametrize("make, extra, message", [
    (lambda d: d / "missing.mp4", (), "no such file"),
    (lambda d: write_audio_only(d / "sound.m4a"), (), "no video stream"),
    (lambda d: (d / "text.mp4").write_text("not a film\n" * 40) and d / "text.mp4", (), "not a media file"),
    (lambda d: write_film(d / "short.mp4", n=5, fps=10), ("--start", "3"), "no frames after --start 3"),
    (lambda d: write_film(d / "ok.mp4", n=5, fps=10), ("--size", "96"), "is not WIDTHxHEIGHT"),
])
def test_bad_films_and_settings(tmp_path, make, extra, message):
    result = invoke("frames", make(tmp_path), "-o", tmp_path / "store", "--quiet", *extra)
    assert_one_line_error(result, message)


def test_store_in_a_missing_directory(tmp_path):
    film = write_film(tmp_path / "ok.mp4", n=5, fps=10)
    assert_one_line_error(invoke("frames", film, "-o", tmp_path / "no" / "store"), "does not exist")


def test_a_full_disk_removes_the_partial_store(tmp_path, monkeypatch):
    film = write_film(tmp_path / "ok.mp4", n=12, fps=10)
    monkeypatch.setattr(framestore, "CHUNK_BYTES", 32 * 24 * 3 * 4)        # write every 4 frames
    calls = []

    def full_after_one_chunk(file, chunk):
        calls.append(len(chunk))
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        file.write(memoryview(chunk).cast("B"))

    monkeypatch.setattr(framestore, "write_chunk", full_after_one_chunk)
    result = invoke("frames", film, "-o", tmp_path / "store", "--size", "32x24", "--quiet")
    assert_one_line_error(result, "disk full while writing the frame store")
    assert "partial store removed" in result.output
    assert not os.path.exists(tmp_path / "store" / "meta.json")
    assert not os.path.exists(tmp_path / "store" / "frames.u8")
