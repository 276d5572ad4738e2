"""bench.density_study on two tiny films and a tiny model, two steps per run: one run per film and seed
holds every k asked, each scored beside the prior's on the same floor, the pictures are written, the
tables name every k, and a second call trains nothing it has recorded. Nothing about which k wins (the
study's job)."""
import json

import numpy as np

from tests.films import pattern, write_film

SMALL = "width=32 height=24 base_width=4 z_dim=8 batch_size=4"


def test_every_film_trains_once_and_every_k_is_scored(tmp_path, monkeypatch, capsys):
    from bench import density_study

    a = write_film(tmp_path / "a.mp4", n=8, size=(32, 24), fps=8)
    b = write_film(tmp_path / "b.mp4", n=9, size=(32, 24), fps=8,
                   pictures=[255 - pattern(i, 32, 24) for i in range(9)])
    paths = {"a.mp4": str(a), "b.mp4": str(b)}
    monkeypatch.setattr(density_study, "FILMS", ("a.mp4", "b.mp4"))
    monkeypatch.setattr(density_study, "film_paths", lambda films: [paths[f] for f in films])
    monkeypatch.setattr(density_study, "CACHE", str(tmp_path / "cache"))
    out, pictures = tmp_path / "runs.jsonl", tmp_path / "pictures"
    args = ["--steps", "2", "--seeds", "0", "--k", "1,3", "--row", f"default {SMALL}", "--json", str(out),
            "--pictures", str(pictures)]
    density_study.main(args)
    runs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["film"] for r in runs] == ["a.mp4", "b.mp4"]
    for r in runs:
        d = r["density"]
        assert d["prior"]["swd"] == r["swd"] and d["floor"] == r["swd_floor"]     # the prior's own score
        for k in ("1", "3"):
            assert d[k]["swd"] > 0 and np.isfinite(d[k]["near"]) and d[k]["k"] == int(k)
        name = r["film"].split(".")[0]
        for kind in ("samples", "strip", "density1_samples", "density3_samples"):
            assert (pictures / f"{name}_0_{kind}.png").stat().st_size > 0
    assert "| k = 1 | k = 3 |" in capsys.readouterr().out
    density_study.main(args)                                   # all recorded: nothing trains
    assert len(out.read_text().splitlines()) == 2
    density_study.main(["--table", str(out)])
    printed = capsys.readouterr().out
    assert "| a.mp4 | 0 |" in printed and "k = 3: dSWD" in printed and "adjacent frames" in printed
