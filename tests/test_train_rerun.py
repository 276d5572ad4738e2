"""Running the training command again: a finished run in the default folder sends the new run to the
next numbered folder (exit 0); an unfinished one stops the command with how to resume it; resuming a
finished run says so (no "epoch 5/4") and trains nothing."""
import json

import pytest
from click.testing import CliRunner

import cli
from tests.films import write_film

SMALL = ["--width", "32", "--height", "24", "--base-width", "4", "--z-dim", "8", "--batch-size", "4"]


def invoke(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_film(tmp_path / "clip.mp4", n=8, size=(48, 36), fps=8)
    return tmp_path


def test_the_same_command_twice_starts_a_numbered_run(here):
    first = invoke("train", "clip.mp4", "--epochs", 1, "--no-final-film", *SMALL)
    assert first.exit_code == 0, first.output
    assert (here / "runs/clip-tiny/checkpoint.safetensors").exists()
    second = invoke("train", "clip.mp4", "--epochs", 1, "--no-final-film", *SMALL)
    assert second.exit_code == 0, second.output
    assert "runs/clip-tiny holds a finished run" in second.output and "runs/clip-tiny-2" in second.output
    assert (here / "runs/clip-tiny-2/checkpoint.safetensors").exists()


def test_an_unfinished_run_in_the_default_folder_says_how_to_resume(here):
    assert invoke("train", "clip.mp4", "--epochs", 1, "--no-final-film", *SMALL).exit_code == 0
    _set_epochs(here / "runs/clip-tiny", 3)          # as if it had been stopped after 1 of 3 epochs
    result = CliRunner().invoke(cli.cli, ["train", "clip.mp4", "--epochs", "1", *SMALL])
    assert result.exit_code == 1
    assert "unfinished run" in result.output and "--resume runs/clip-tiny" in result.output
    assert "Traceback" not in result.output
    assert not (here / "runs/clip-tiny-2").exists()


def _set_epochs(run_dir, epochs):
    """Rewrite a checkpoint's total number of epochs (its weights and position stay)."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file
    path = str(run_dir / "checkpoint.safetensors")
    with safe_open(path, framework="np") as f:
        metadata = f.metadata()
    meta = json.loads(metadata["vaegan"])
    meta["run"]["epochs"] = epochs
    metadata["vaegan"] = json.dumps(meta)
    save_file(load_file(path), path, metadata=metadata)


def test_resuming_a_finished_run_trains_nothing_and_says_so(here):
    assert invoke("train", "clip.mp4", "--epochs", 2, "--no-final-film", *SMALL).exit_code == 0
    lines_before = (here / "runs/clip-tiny/metrics.jsonl").read_text().count("\n")
    result = invoke("train", "--resume", "runs/clip-tiny", "--no-final-film")
    assert result.exit_code == 0, result.output
    assert "has finished its 2 epochs" in result.output and "3/2" not in result.output
    assert (here / "runs/clip-tiny/metrics.jsonl").read_text().count("\n") == lines_before
