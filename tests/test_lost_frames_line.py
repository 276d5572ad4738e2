"""Every command that reads a film says what `frames` says about the frames lost from it, in the same words:
one line, made by vaegan.media.decode (lost_frames_message, lost_frames_line), and on the report page.

The damaged films are cut short, as a download or a copy that stopped part-way: an mp4 whose index
(written first, faststart) lists 30 frames of which about half are in the file, and an AVI whose header
promises 30 frames of which a few arrive (the issue's film: an AVI listing 444 frames, 68 decodable)."""
import html

import pytest

from tests.cli_runs import SMALL, invoke
from tests.films import write_film
from vaegan.media.decode import iter_frames, lost_frames_line


CUTS = {"mp4": (dict(container_options={"movflags": "faststart"}), 0.6),
        "avi": (dict(codec="mpeg4"), 0.7)}     # (a small AVI's header takes a third of it)


@pytest.fixture(scope="module", params=sorted(CUTS))
def damaged(request, tmp_path_factory):
    """(the cut film, the line every command must print about it)."""
    folder = tmp_path_factory.mktemp("damaged")
    kw, keep = CUTS[request.param]
    whole = write_film(folder / f"whole.{request.param}", n=30, size=(48, 36), fps=10, options={"g": "1"}, **kw)
    data = whole.read_bytes()
    cut = folder / f"cut.{request.param}"
    cut.write_bytes(data[:int(len(data) * keep)])
    frames = iter_frames(cut, size=(32, 24))
    kept = sum(1 for _ in frames)
    assert 0 < kept < 30 and frames.stats.lost == 30 - kept
    line = lost_frames_line(frames.lost_message())
    assert line == f"warning: {cut}: {30 - kept} frames lost to truncation or corruption " \
                   f"({30 - kept} of the 30 frames in the index are missing)"
    return cut, line


@pytest.fixture(scope="module")
def trained(damaged, tmp_path_factory):
    cut, line = damaged
    out = tmp_path_factory.mktemp("run") / "run"
    result = invoke("train", cut, "--out", out, "--epochs", 1, *SMALL)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_frames_and_train_say_it_once(damaged, trained, tmp_path):
    cut, line = damaged
    result = invoke("frames", cut, "-o", tmp_path / "store", "--size", "32x24", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines().count(line) == 1
    # train decodes the film twice (the frame store, the final film) and says it once
    assert trained[1].splitlines().count(line) == 1


def test_resume_reconstruct_morph_and_report_say_it(damaged, trained, tmp_path):
    cut, line = damaged
    out = trained[0]
    for args in (["train", "--resume", out, "--no-final-film"],
                 ["reconstruct", out, cut, "-o", tmp_path / "r.mp4"],
                 ["morph", out, cut, "--from", 0, "--to", 0.5, "--seconds", 1, "-o", tmp_path / "m.mp4"],
                 ["report", out]):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        assert result.output.splitlines().count(line) == 1, (args[0], result.output)
    assert html.escape(line) in (out / "report.html").read_text()


def test_an_undamaged_film_gets_no_such_line(trained, tmp_path):
    film = write_film(tmp_path / "whole.mp4", n=12, size=(48, 36), fps=10)
    result = invoke("reconstruct", trained[0], film, "-o", tmp_path / "r.mp4")
    assert result.exit_code == 0, result.output
    assert "frames lost" not in result.output
