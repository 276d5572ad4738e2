"""The run's report page (vaegan/report.py) in a real browser: Debian's chromium driven by selenium.

Two run folders: one put together here without training (a generated film, its frame store, a
"reconstruction" that is the film with its colours inverted, metrics with one roll-back), so the page is
tested on what it reads, and one that a short `train` wrote, page included, as a user's run does. The browser tests skip where chromium, chromedriver or
selenium is missing, except on CI (CI=true), where .ci/run installs them and a skip would hide a failure.
"""
import json
import os
import shutil
import tempfile

import numpy as np
import pytest
from click.testing import CliRunner

import cli
from tests.films import pattern, write_film
from vaegan.media.film import FilmWriter
from vaegan.media.framestore import FrameStore
from vaegan.reconstruct import frame_errors

FPS, N = 10, 25          # a 2.5 s film
SIZE = (32, 24)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    film = write_film(root / "film.mp4", n=N, size=SIZE, fps=FPS)
    run = root / "run"
    run.mkdir()
    store = FrameStore.open_or_build(film, run / "frames", size=SIZE, progress=False)
    original = np.asarray(store.frames)
    rec = 255 - original
    with FilmWriter(run / "reconstruction.mp4", FPS, *SIZE) as w:
        w.write(rec)
    _, psnr = frame_errors(original, rec)
    with open(run / "reconstruction_error.csv", "w") as f:
        f.write("frame,time_s,mse,psnr_db\n")
        for i, p in enumerate(psnr):
            f.write(f"{i},{i / FPS:.3f},0,{p:.3f}\n")
    with open(run / "metrics.jsonl", "w") as f:
        for s in range(1, 11):
            f.write(json.dumps({"step": s, "kl": 1.0 / s, "sim": 2.0 / s, "disc": 1.3, "gen": 0.7,
                                "pixel": 0.1, "sigma": 1.0}) + "\n")
        f.write(json.dumps({"event": "rollback", "step": 8, "cause": "probe error at step 8", "restored_step": 5,
                            "lr_scale": 0.5}) + "\n")
        for s in range(6, 9):                      # the steps after the roll-back, run again
            f.write(json.dumps({"step": s, "kl": 0.5, "sim": 0.5, "disc": 1.3, "gen": 0.7, "pixel": 0.1,
                                "sigma": 1.0}) + "\n")
    (run / "grids").mkdir()
    from vaegan.media.images import save_grid
    save_grid(run / "grids" / "step_000010.png", np.stack([pattern(i, *SIZE) for i in range(4)]), ncols=4)
    with open(run / "config.json", "w") as f:
        json.dump({"run": {"film": str(film), "fit": "crop"}, "model": {"width": SIZE[0], "height": SIZE[1]},
                   "train": {"lr": 2e-4}}, f)
    result = CliRunner().invoke(cli.cli, ["report", str(run)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A real (very short) training run: the page its end writes, from what train itself left."""
    root = tmp_path_factory.mktemp("trained")
    film = write_film(root / "film.mp4", n=N, size=(48, 36), fps=FPS)
    result = CliRunner().invoke(cli.cli, ["train", str(film), "--out", str(root / "run"), "--epochs", "1",
                                          "--width", str(SIZE[0]), "--height", str(SIZE[1]), "--base-width", "4",
                                          "--z-dim", "8", "--batch-size", "8"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"report: {root / 'run' / 'report.html'}" in result.output
    return root / "run"


def test_report_command_writes_a_self_contained_page(run_dir):
    page = (run_dir / "report.html").read_text()
    assert (run_dir / "original.mp4").exists()
    # nothing fetched from elsewhere: every src/href is relative (or a data: URL)
    for attr in ("src=", "href="):
        for part in page.split(attr)[1:]:
            target = part[1:].split(part[0])[0]
            assert not target.startswith(("http:", "https:", "//")), target
            if not target.startswith("data:"):
                assert (run_dir / target).exists(), target
    assert "probe error at step 8; restored step 5" in page and 'id="psnr"' in page
    assert "<th>grain</th>" not in page          # no reconstruction_scores.json here (a run from before it)
    assert "<th>output filter</th>" not in page  # nor an output filter in its config
    assert page.count('class="ghost"') == 6       # steps 6-8 of the first run, faint, in each of the 6 panels


def test_a_trained_runs_page_shows_its_scores(trained_run):
    """The numbers in the page's scores table are the run's own: the mean of the CSV's PSNR and SSIM
    columns, and sample_score.json, which train wrote."""
    import csv
    import re

    page = (trained_run / "report.html").read_text()
    table = page[page.index('<table id="scores">'):]
    table = table[:table.index("</table>")]
    rows = list(csv.DictReader(open(trained_run / "reconstruction_error.csv")))
    score = json.loads((trained_run / "sample_score.json").read_text())
    shown = dict(re.findall(r"<th>([^<]+)</th><td>([^<]+)</td>", table))
    assert shown["mean PSNR"] == f"{np.mean([float(r['psnr_db']) for r in rows]):.2f} dB"
    assert shown["mean SSIM"] == f"{np.mean([float(r['ssim']) for r in rows]):.3f}"
    assert shown["prior samples: SWD"] == f"{score['swd']:.3f} (the film against itself: {score['floor']:.3f})"
    scores = json.loads((trained_run / "reconstruction_scores.json").read_text())
    assert scores["frames"] == len(rows) and scores["ssim"] == pytest.approx(np.mean([float(r['ssim']) for r in rows]),
                                                                          abs=1e-4)
    assert shown["grain"] == f"{scores['grain']:.2f}" and scores["grain"] >= 0     # (a 1-epoch model draws flat frames)
    assert 0 < score["floor"] and 0 < score["swd"]
    # the default recipe's output filter, which every frame scored passed: the run's own range
    denoise = json.loads((trained_run / "config.json").read_text())["run"]["denoise"]
    assert denoise > 0 and shown["output filter"] == f"{denoise:g} grey levels"


def test_report_of_a_missing_folder_is_one_line(tmp_path):
    result = CliRunner().invoke(cli.cli, ["report", str(tmp_path / "nope")])
    assert result.exit_code != 0 and "no such run folder" in result.output
    assert "Traceback" not in result.output


# --- in the browser ---------------------------------------------------------------------------

def _browser():
    """A headless chromium, or a skip (a failure on CI) naming what is missing."""
    missing = []
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium (pip install selenium)")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not binary:
        missing.append("chromium (apt-get install chromium)")
    if not driver:
        missing.append("chromedriver (apt-get install chromium-driver)")
    if missing:
        why = "report page test needs " + ", ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(why + "; .ci/run installs them")
        pytest.skip(why)
    options = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1000", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options.add_argument(f"--user-data-dir={profile}")
    options.binary_location = binary
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(driver)), profile


@pytest.fixture(scope="module", params=["assembled", "trained"])
def page(request):
    folder = request.getfixturevalue("run_dir" if request.param == "assembled" else "trained_run")
    browser, profile = _browser()
    try:
        browser.get((folder / "report.html").as_uri())
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(browser, script, what, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, timeout, poll_frequency=0.1).until(lambda b: b.execute_script(script), what)


def _videos(browser):
    return browser.execute_script(
        "return ['original', 'reconstruction'].map(id => { const v = document.getElementById(id);"
        " return {t: v.currentTime, d: v.duration, ready: v.readyState, seeking: v.seeking,"
        " error: v.error && v.error.code}; });")


def test_page_loads_both_films_at_the_films_duration_without_console_errors(page):
    _wait(page, "return ['original', 'reconstruction'].every(id => document.getElementById(id).readyState >= 2"
                " || document.getElementById(id).error)", "both videos loaded")
    for v in _videos(page):
        assert v["error"] is None, f"the browser cannot play the film (MediaError {v['error']})"
        assert abs(v["d"] - N / FPS) <= 1 / FPS, v
    severe = [e for e in page.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


@pytest.mark.parametrize("t", [0.05, 1.23, 2.41])
def test_a_click_on_the_curve_at_t_seeks_both_films_to_t(page, t):
    from selenium.webdriver.common.action_chains import ActionChains

    _wait(page, "return ['original', 'reconstruction'].every(id => document.getElementById(id).readyState >= 1)",
          "video metadata")
    curve = page.find_element("id", "psnr")
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", curve)
    # where t lies on the curve, in CSS pixels from the element's centre (selenium's offsets)
    dx, dy = page.execute_script(
        "const c = arguments[0], t = arguments[1], box = c.getBoundingClientRect(), vb = c.viewBox.baseVal;"
        "const x0 = +c.dataset.x0, x1 = +c.dataset.x1, l = +c.dataset.left, r = +c.dataset.right;"
        "const ux = l + (t - x0) / (x1 - x0) * (r - l);"
        "return [ux / vb.width * box.width - box.width / 2, 0];", curve, t)
    ActionChains(page).move_to_element_with_offset(curve, round(dx), dy).click().perform()
    _wait(page, "return ['original', 'reconstruction'].every(id => { const v = document.getElementById(id);"
                " return !v.seeking && v.readyState >= 2; })", "both videos seeked")
    for v in _videos(page):
        assert abs(v["t"] - t) <= 1 / FPS, (t, v)
    severe = [e for e in page.get_log("browser") if e["level"] == "SEVERE"]   # the page's own handlers ran clean
    assert not severe, severe


def test_playing_the_original_plays_the_reconstruction_in_step(page):
    """play() stands in for the user's click on the original's play button (the flag above lets a
    script start sound, as a click would)."""
    _wait(page, "return ['original', 'reconstruction'].every(id => document.getElementById(id).readyState >= 2)",
          "both videos loaded")
    page.execute_script("window.seekTo(0); document.getElementById('original').play();")
    _wait(page, "return document.getElementById('original').currentTime > 1.0", "the original playing")
    state = page.execute_script(
        "const a = document.getElementById('original'), b = document.getElementById('reconstruction');"
        "const s = {a: a.currentTime, b: b.currentTime, playing: !a.paused && !b.paused}; a.pause(); return s;")
    assert state["playing"], state
    assert abs(state["a"] - state["b"]) <= 1 / FPS, state
    _wait(page, "return document.getElementById('reconstruction').paused", "pause mirrored")
    severe = [e for e in page.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
