"""The film's density in latent space (vaegan/latent_density.py) and the commands that use it: EM against a
mixture it must recover, the log-density against the textbook formula, 1 component against the sample
mean and covariance, sampling against the mixture's moments, one fit per seed, the file; then on a tiny
trained run, that train fits it with the weights `reconstruct` uses (also when a run is resumed), that
`sample` draws from it and `--from prior` does not, `--from film` without a density (or with one fitted
to another step) is refused in one line, `fit-density` refits it and the report shows its score.
What it cannot check: that the density's samples look like the film (bench/density_study.py and the
pictures in bench/README.md)."""
import json
import os
import shutil
import signal

import numpy as np
import pytest

import cli
import vaegan.train as train_module
from tests.cli_runs import SMALL, invoke
from tests.films import write_film
from vaegan import checkpoint
from vaegan.latent_density import COMPONENTS, FILENAME, RIDGE, GaussianMixture, latent_means

FRAMES = 16


def mixture(rng, n):
    """n codes from a known, well separated mixture in 4 dimensions: weights 0.5/0.3/0.2, means 12 apart
    or more, standard deviations 0.5-2 with correlations (full covariances)."""
    weights = np.array([0.5, 0.3, 0.2])
    means = np.array([[0, 0, 0, 0], [12, -12, 12, 0], [-12, 12, 0, 12]], float)
    A = rng.uniform(-0.5, 0.5, (3, 4, 4)) + np.diag([2.0, 1.0, 0.5, 1.5])
    covs = A @ A.transpose(0, 2, 1)
    j = rng.choice(3, n, p=weights)
    z = means[j] + np.einsum("nab,nb->na", np.linalg.cholesky(covs)[j], rng.standard_normal((n, 4)))
    return z, weights, means, covs


# --- the mixture ----------------------------------------------------------------------------------

def test_em_recovers_a_well_separated_mixture(rng):
    z, weights, means, covs = mixture(rng, 4000)
    gm = GaussianMixture.fit(z, 3, seed=0)
    order = [int(np.argmin(((gm.means - m) ** 2).sum(axis=1))) for m in means]
    assert sorted(order) == [0, 1, 2]                  # each true component found once
    # Tolerances: with components 12 apart and the widest at a standard deviation of about 2.5, EM's
    # answer is the per-component sample estimate (responsibilities are 0 or 1 to ~1e-7). A weight's
    # standard error is sqrt(w (1 - w) / n) <= 0.008 at n = 4000: 0.03 is over 3.5 of them. A mean's is
    # sigma / sqrt(n w) <= 2.5 / sqrt(800) = 0.09: 0.4 is over 4 of them. A covariance entry's is about
    # sqrt(2 / (n w)) sigma^2 = 0.05 x 6: 1.0 allows 3 of the widest.
    np.testing.assert_allclose(gm.weights[order], weights, atol=0.03)
    np.testing.assert_allclose(gm.means[order], means, atol=0.4)
    np.testing.assert_allclose(gm.covariances[order], covs, atol=1.0)
    assert 1 < gm.iterations < 300                      # converged, by the tolerance, not the cap


def test_the_log_density_is_the_textbook_formula(rng):
    _, weights, means, covs = mixture(rng, 1)
    gm = GaussianMixture(weights, means, covs)
    x = rng.normal(0, 8, (5, 4))
    want = []
    for xi in x:
        p = sum(w * np.exp(-0.5 * (xi - m) @ np.linalg.inv(S) @ (xi - m)) / np.sqrt(np.linalg.det(2 * np.pi * S))
                for w, m, S in zip(weights, means, covs))
        want.append(np.log(p))
    assert gm.log_likelihood(x) == pytest.approx(np.mean(want), rel=1e-10)


def test_one_component_is_the_sample_mean_and_covariance_plus_the_ridge(rng):
    z = rng.normal(3.0, 2.0, (200, 5)) @ rng.normal(size=(5, 5))
    gm = GaussianMixture.fit(z, 1, seed=0)
    ridge = RIDGE * z.var(axis=0).mean()
    assert gm.weights == pytest.approx([1.0])
    np.testing.assert_allclose(gm.means[0], z.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gm.covariances[0], np.cov(z.T, bias=True) + ridge * np.eye(5), rtol=1e-10, atol=1e-12)


def test_samples_have_the_mixtures_weights_mean_and_covariance(rng):
    _, weights, means, covs = mixture(rng, 1)
    gm = GaussianMixture(weights, means, covs)
    n = 200_000
    z = gm.sample(n, np.random.default_rng(5))
    mean = weights @ means
    cov = sum(w * (S + np.outer(m, m)) for w, m, S in zip(weights, means, covs)) - np.outer(mean, mean)
    # Monte Carlo: the standard error of a mean is sqrt(var / n) <= sqrt(75 / 2e5) = 0.02 (the mixture's
    # variance along an axis is at most ~75, the spread of the means); 0.1 is 5 of them. A covariance
    # entry's is about var sqrt(2 / n) = 75 x 0.003 = 0.24: 1.2 is 5 of them. Each component's share of
    # the draws (by the nearest mean: 12 apart, no overlap) within 0.01 (3 standard errors).
    np.testing.assert_allclose(z.mean(axis=0), mean, atol=0.1)
    np.testing.assert_allclose(np.cov(z.T), cov, atol=1.2)
    nearest = np.argmin(((z[:, None] - means[None]) ** 2).sum(axis=2), axis=1)
    np.testing.assert_allclose(np.bincount(nearest, minlength=3) / n, weights, atol=0.01)
    # within a component, its own covariance (the sampler's factor is the Cholesky factor, not S)
    np.testing.assert_allclose(np.cov(z[nearest == 2].T), covs[2], atol=0.1)


def test_the_fit_is_the_same_for_a_seed_and_its_start_follows_the_seed(rng):
    z = rng.uniform(-1, 1, (300, 3))               # no clusters: where EM ends depends on the start
    a, b = GaussianMixture.fit(z, 6, seed=4), GaussianMixture.fit(z, 6, seed=4)
    for name in ("weights", "means", "covariances"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    other = GaussianMixture.fit(z, 6, seed=5)
    assert not np.allclose(np.sort(a.means[:, 0]), np.sort(other.means[:, 0]))


def test_k_is_cut_to_the_number_of_codes(rng):
    assert GaussianMixture.fit(rng.normal(size=(3, 2)), 10, seed=0).k == 3


def test_the_file_round_trips_and_refuses_what_is_not_one(rng, tmp_path):
    gm = GaussianMixture.fit(mixture(rng, 500)[0], 3, seed=0)
    path = tmp_path / FILENAME
    gm.save(str(path), step=12, frames=500)
    back, meta = GaussianMixture.load(str(path))
    for name in ("weights", "means", "covariances"):
        np.testing.assert_array_equal(getattr(back, name), getattr(gm, name))
    assert meta == {"step": 12, "frames": 500, "k": 3}
    assert os.listdir(tmp_path) == [FILENAME]                   # no temporary file left
    (tmp_path / "bad").write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="not a readable latent density"):
        GaussianMixture.load(str(tmp_path / "bad"))


# --- a run's density, and the commands --------------------------------------------------------------

@pytest.fixture(scope="module")
def film(tmp_path_factory):
    return write_film(tmp_path_factory.mktemp("film") / "clip.mp4", n=FRAMES, size=(48, 36), fps=8)


@pytest.fixture(scope="module")
def run(film, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    result = invoke("train", film, "--out", out, "--epochs", 2, *SMALL)
    assert result.exit_code == 0, result.output
    return out, result.output


def _codes(run_dir):
    from vaegan.media.framestore import FrameStore
    from vaegan.reconstruct import load_model

    model, meta = load_model(str(run_dir))
    return latent_means(model, FrameStore.open(os.path.join(run_dir, "frames")).frames), meta


def test_train_fits_the_density_to_the_codes_reconstruct_uses(run):
    out, output = run
    gm, meta = GaussianMixture.load(str(out / FILENAME))
    codes, ckpt = _codes(out)          # the averaged weights (--ema: the default recipe's), as reconstruct
    assert (meta["step"], meta["frames"], meta["k"]) == (ckpt["step"], FRAMES, min(COMPONENTS, FRAMES))
    assert meta["mean_log_likelihood"] == pytest.approx(gm.log_likelihood(codes), rel=1e-9, abs=1e-9)
    refit = GaussianMixture.fit(codes, COMPONENTS, seed=0)
    np.testing.assert_array_equal(refit.means, gm.means)
    score = json.loads((out / "sample_score.json").read_text())
    assert score["density"]["k"] == meta["k"] and score["density"]["swd"] > 0 and score["swd"] > 0
    assert f"film density: {out / FILENAME}" in output
    assert f"from the film's density {score['density']['swd']:.3f}" in output


def test_train_writes_new_frames_from_the_density_and_the_report_shows_them(run, tmp_path):
    """RUN/samples.png holds the frames `sample RUN --n 32 --seed 0` draws, and the page shows it."""
    from PIL import Image
    from vaegan.report import write_report

    out, output = run
    assert f"32 of its frames: {out / 'samples.png'}" in output
    result = invoke("sample", out, "--n", 32, "--seed", 0, "-o", tmp_path / "again.png")
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.asarray(Image.open(out / "samples.png")), np.asarray(Image.open(tmp_path / "again.png")))
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    page = open(write_report(str(copy))).read()
    assert '<h2>New frames</h2><img class="grid" src="samples.png"' in page and "a mixture of" in page
    os.remove(copy / "samples.png")
    assert "New frames" not in open(write_report(str(copy))).read()


def test_a_resumed_run_fits_the_density_when_it_ends(film, tmp_path, monkeypatch):
    out = tmp_path / "stopped"
    original = train_module.Run.step

    def step_then_interrupt(self, x):
        if self.state["step"] + 1 == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, x)

    monkeypatch.setattr(train_module.Run, "step", step_then_interrupt)
    assert invoke("train", film, "--out", out, "--epochs", 2, *SMALL).exit_code == 130
    assert not (out / FILENAME).exists()
    monkeypatch.undo()
    result = invoke("train", "--resume", out)
    assert result.exit_code == 0, result.output
    assert GaussianMixture.load(str(out / FILENAME))[1]["step"] == checkpoint.read(str(out))[0]["step"] == 8


@pytest.fixture
def draws(monkeypatch):
    """The number of times a mixture was sampled."""
    calls = []
    real = GaussianMixture.sample
    monkeypatch.setattr(GaussianMixture, "sample", lambda self, n, rng: calls.append(n) or real(self, n, rng))
    return calls


def test_sample_draws_from_the_density_and_from_the_prior_only_when_asked(run, tmp_path, draws):
    from PIL import Image
    from vaegan.reconstruct import load_model, sample_grid

    out, _ = run
    model, _ = load_model(str(out))
    gm, _ = GaussianMixture.load(str(out / FILENAME))
    result = invoke("sample", out, "--n", 5, "-o", tmp_path / "film.png", "--seed", 3)
    assert result.exit_code == 0 and "5 samples from the film's density" in result.output, result.output
    assert draws == [5]
    result = invoke("sample", out, "--n", 5, "-o", tmp_path / "prior.png", "--seed", 3, "--from", "prior")
    assert result.exit_code == 0 and "5 samples from the prior N(0, I)" in result.output, result.output
    assert draws == [5]                                          # the prior's draw sampled no mixture
    sample_grid(model, 5, str(tmp_path / "want_film.png"), 3, density=gm)
    sample_grid(model, 5, str(tmp_path / "want_prior.png"), 3)
    pixels = lambda name: np.asarray(Image.open(tmp_path / name))
    np.testing.assert_array_equal(pixels("film.png"), pixels("want_film.png"))
    np.testing.assert_array_equal(pixels("prior.png"), pixels("want_prior.png"))


def _bare_copy(run_dir, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(run_dir / checkpoint.FILENAME, bare / checkpoint.FILENAME)
    return bare


@pytest.mark.parametrize("target", ["folder", "file"])
def test_from_film_without_a_density_is_one_line_and_exit_2(run, tmp_path, target, draws):
    bare = _bare_copy(run[0], tmp_path)
    where = bare if target == "folder" else bare / checkpoint.FILENAME
    result = invoke("sample", where, "-o", tmp_path / "s.png", "--from", "film")
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("Error: --from film:") and f"python cli.py fit-density {where}" in lines[0]
    assert not (tmp_path / "s.png").exists()
    result = invoke("sample", where, "--n", 2, "-o", tmp_path / "s.png")      # not asked for: the prior, said so
    assert result.exit_code == 0 and "from the prior N(0, I)" in result.output and "fit-density" in result.output
    assert draws == []


def test_a_density_of_another_step_is_not_drawn_from(run, tmp_path, draws):
    bare = _bare_copy(run[0], tmp_path)
    gm, meta = GaussianMixture.load(str(run[0] / FILENAME))
    gm.save(str(bare / FILENAME), **dict(meta, step=meta["step"] - 4))
    result = invoke("sample", bare, "--n", 2, "-o", tmp_path / "s.png")
    assert result.exit_code == 0 and "from the prior" in result.output and "fitted at step 4," in result.output
    result = invoke("sample", bare, "-o", tmp_path / "t.png", "--from", "film")
    assert result.exit_code == 2 and "fitted at step 4, not at its checkpoint's step 8" in result.output
    assert draws == []


def test_fit_density_refits_a_run_and_its_score_and_report(run, tmp_path):
    from vaegan.report import write_report

    out = tmp_path / "run"
    shutil.copytree(run[0], out)
    os.remove(out / FILENAME)
    result = invoke("fit-density", out, "--k", 2)
    assert result.exit_code == 0, result.output
    gm, meta = GaussianMixture.load(str(out / FILENAME))
    codes, ckpt = _codes(out)
    assert (meta["k"], meta["step"], meta["frames"]) == (2, ckpt["step"], FRAMES)
    np.testing.assert_array_equal(gm.means, GaussianMixture.fit(codes, 2, seed=0).means)
    score = json.loads((out / "sample_score.json").read_text())
    assert score["density"]["k"] == 2
    assert f"32 of its frames: {out / 'samples.png'}" in result.output
    page = open(write_report(str(out))).read()
    assert f"<th>film density samples: SWD</th><td>{score['density']['swd']:.3f} (k = 2)</td>" in page
    assert f"<th>prior samples: SWD</th><td>{score['swd']:.3f} (the film against itself:" in page


def test_fit_density_refuses_a_run_that_is_training(run, tmp_path):
    """A run folder whose lock a training process holds: one line, exit 1, nothing written."""
    from vaegan.runlock import RunLock

    out = tmp_path / "run"
    shutil.copytree(run[0], out)
    os.remove(out / FILENAME)
    with RunLock(out):                      # flock: a second open of the file conflicts, in this process too
        result = invoke("fit-density", out, "--k", 2)
    assert result.exit_code == 1 and "is in use by process" in result.output.strip().splitlines()[-1]
    assert "Traceback" not in result.output and not (out / FILENAME).exists()
    assert invoke("fit-density", out, "--k", 2).exit_code == 0 and (out / FILENAME).exists()


def test_fit_density_of_a_bare_checkpoint_needs_its_film(run, film, tmp_path):
    bare = _bare_copy(run[0], tmp_path)
    result = invoke("fit-density", bare)
    assert result.exit_code == 1 and "give --film FILM" in result.output.strip().splitlines()[-1]
    result = invoke("fit-density", bare / checkpoint.FILENAME, "--film", film, "--k", 3)
    assert result.exit_code == 0, result.output
    assert GaussianMixture.load(str(bare / FILENAME))[1]["k"] == 3
    assert not (bare / "sample_score.json").exists()        # a film given: scores printed, no run's file
