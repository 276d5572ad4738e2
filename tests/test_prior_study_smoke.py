"""bench.prior_study on two tiny films and a tiny model, two steps per run: every row trains on every film,
each record carries the posterior's KL (checked against the sampler kernel's KL of the same posterior),
the pictures are written, the table names every row, and a second call trains nothing it has recorded.
Nothing about the scores a row reaches (the study's job)."""
import json

import numpy as np

from tests.films import pattern, write_film

SMALL = "width=32 height=24 base_width=4 z_dim=8 batch_size=4"


def test_every_row_trains_on_every_film_once(tmp_path, monkeypatch, capsys):
    from bench import prior_study

    a = write_film(tmp_path / "a.mp4", n=8, size=(32, 24), fps=8)
    b = write_film(tmp_path / "b.mp4", n=9, size=(32, 24), fps=8,
                   pictures=[255 - pattern(i, 32, 24) for i in range(9)])
    monkeypatch.setattr(prior_study, "FILMS", ("a.mp4", "b.mp4"))
    monkeypatch.setattr(prior_study, "film_paths", lambda: [str(a), str(b)])
    monkeypatch.setattr(prior_study, "CACHE", str(tmp_path / "cache"))
    out, pictures = tmp_path / "runs.jsonl", tmp_path / "pictures"
    args = ["--steps", "2", "--seeds", "0", "--row", f"plain=default {SMALL}",
            "--row", f"prior=default {SMALL} kl_weight=auto*300 prior_weight=3", "--json", str(out),
            "--pictures", str(pictures)]
    prior_study.main(args)
    runs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["name"], r["film"]) for r in runs] == [("plain", "a.mp4"), ("plain", "b.mp4"),
                                                      ("prior", "a.mp4"), ("prior", "b.mp4")]
    for r in runs:
        assert np.isfinite(r["kl"]) and r["kl"] >= 0 and np.isfinite(r["psnr"]) and r["swd"] > 0
        for kind in ("samples", "strip"):
            assert (pictures / f"{r['name']}_{r['film'].split('.')[0]}_0_{kind}.png").stat().st_size > 0
    assert "| plain |" in capsys.readouterr().out
    prior_study.main(args)                                     # all recorded: nothing trains
    assert len(out.read_text().splitlines()) == 4
    prior_study.main(["--table", str(out)])
    printed = capsys.readouterr().out
    assert "| plain |" in printed and "| prior (`" in printed and "prior_weight=3" in printed


def test_the_posterior_kl_is_the_samplers_kl_over_all_frames(rng):
    """bench.quality_runs.posterior_kl in uneven batches against the sampler kernel's KL of all frames at
    once, for an encoder whose posterior is read off the frame's pixels (so it is far from N(0, I))."""
    from bench.quality_runs import posterior_kl
    from kernels import get_backend
    from vaegan.media.framestore import to_float_batch

    K = get_backend("numpy")

    class Encoder:            # mu: 3 x the first 8 pixel values, logvar: the next 8
        def __init__(self):
            self.K = K

        def encode(self, x, mode="eval"):
            flat = x.reshape(len(x), -1)
            return 3.0 * flat[:, :8], flat[:, 8:16]

    frames = rng.integers(0, 256, (7, 6, 5, 3), dtype=np.uint8)
    mu, logvar = Encoder().encode(to_float_batch(frames))
    _, kl = K.reparam_kl_forward(mu, logvar, np.zeros_like(mu), 1.0)
    got = posterior_kl(Encoder(), frames, batch=3)
    assert float(kl) > 0.5
    assert abs(got - float(kl)) < 1e-5 * float(kl)
