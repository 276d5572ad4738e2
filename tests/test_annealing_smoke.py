"""bench.annealing on two tiny films and a tiny model, two steps per run: each schedule trains on each film
and is scored on the other (its mean-frame column is that film's mean frame, scored by hand here), and
a second call trains nothing it has recorded. Nothing about the PSNR a schedule reaches (the study's job)."""
import json

import numpy as np

from tests.films import decode_all, pattern, write_film

ROW = "default width=32 height=24 base_width=4 z_dim=8 batch_size=4"


def mean_frame_psnr(frames):
    mean = np.rint(frames.astype(np.float64).mean(axis=0))
    mse = ((frames - mean) ** 2).reshape(len(frames), -1).mean(axis=1)
    return float(np.mean(10 * np.log10(255.0 ** 2 / mse)))


def test_each_schedule_learns_each_film_and_is_scored_on_the_other(tmp_path, monkeypatch):
    from bench import annealing

    a = write_film(tmp_path / "a.mp4", n=8, size=(32, 24), fps=8)
    b = write_film(tmp_path / "b.mp4", n=9, size=(32, 24), fps=8,
                   pictures=[255 - pattern(i, 32, 24) for i in range(9)])
    monkeypatch.setattr(annealing, "FILMS", ("a.mp4", "b.mp4"))
    monkeypatch.setattr(annealing, "film_paths", lambda: [str(a), str(b)])
    monkeypatch.setattr(annealing, "CACHE", str(tmp_path / "cache"))
    out = tmp_path / "runs.jsonl"
    args = ["--steps", "2", "--seeds", "0", "--schedule", "const-1.0", "--schedule", "seed", "--row", ROW,
            "--json", str(out)]
    annealing.main(args)
    runs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["schedule"], r["film"], r["unseen_film"]) for r in runs] == [
        ("const-1.0", "a.mp4", "b.mp4"), ("const-1.0", "b.mp4", "a.mp4"),
        ("seed", "a.mp4", "b.mp4"), ("seed", "b.mp4", "a.mp4")]
    bars = {"a.mp4": mean_frame_psnr(decode_all(a)), "b.mp4": mean_frame_psnr(decode_all(b))}
    for r in runs:
        assert abs(r["mean_frame"] - bars[r["film"]]) < 1e-6
        assert abs(r["unseen_mean_frame"] - bars[r["unseen_film"]]) < 1e-6   # the other film, not the shapes
    annealing.main(args)                                                      # all recorded: nothing trains
    assert len(out.read_text().splitlines()) == 4
