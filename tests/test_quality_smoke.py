"""bench.quality on a tiny film and model, two steps per seed: it trains each row once per seed, and
its mean-frame column is the film's mean frame scored by hand here. Nothing about a speed or a PSNR
the model reaches (that is the study's job, not a test's)."""
import json

import numpy as np

from tests.films import decode_all, write_film

SMALL = ["--set", "width=32", "--set", "height=24", "--set", "base_width=4", "--set", "z_dim=8",
         "--set", "batch_size=4"]


def test_the_study_reports_every_row_and_the_mean_frame(tmp_path, monkeypatch, capsys):
    from bench import quality

    film = write_film(tmp_path / "clip.mp4", n=8, size=(32, 24), fps=8)
    monkeypatch.setattr(quality, "CACHE", str(tmp_path / "cache"))
    out = tmp_path / "rows.jsonl"
    quality.main(["--film", str(film), "--steps", "2", "--seeds", "0,1", "--row", "seed",
                  "--row", "default pixel_weight=0", "--json", str(out), *SMALL])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["label"].split()[:2] for r in rows] == [["seed", "width=32"], ["default", "pixel_weight=0"]]
    frames = decode_all(film)
    mean = np.rint(frames.astype(np.float64).mean(axis=0))
    mse = ((frames - mean) ** 2).reshape(len(frames), -1).mean(axis=1)
    expected = float(np.mean(10 * np.log10(255.0 ** 2 / mse)))
    for r in rows:
        assert [run["seed"] for run in r["runs"]] == [0, 1]
        for run in r["runs"]:
            assert run["steps"] == 2 and np.isfinite(run["psnr"]) and np.isfinite(run["unseen"])
            assert -1 <= run["ssim"] < 1 and -1 <= run["unseen_ssim"] < 1 and run["swd"] > 0 and run["swd_floor"] > 0
            assert abs(run["mean_frame"] - expected) < 1e-6
    assert "default pixel_weight=0" in capsys.readouterr().out
