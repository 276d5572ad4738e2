"""The report page of a run: RUN/report.html, one file a person opens instead of five.

    write_report(run_dir) -> path of RUN/report.html

What the page shows, from what the run folder holds:
    original.mp4 | reconstruction.mp4   side by side, playing in sync (one play button drives both)
    reconstruction_error.csv            the per-frame PSNR over the film's timeline, under the videos;
                                        a click on it seeks both videos to that frame; the mean PSNR
                                        and SSIM (ssim.py) in the scores' table
    reconstruction_scores.json          the grain (grain.py, pooled over the film), in that table
    sample_score.json                   the prior samples' sliced Wasserstein distance to the film and
                                        the film's own floor (sliced_wasserstein.py), in that table, and
                                        the film density's samples' (latent_density.py)
    metrics.jsonl                       the loss curves, with the roll-backs (vaegan/rollback.py) marked
    grids/step_NNNNNN.png               the last sample grid
    samples.png                         new frames: the ones train drew from the film's density
    config.json, checkpoint metadata    the run's settings, its step and sigma
    frames/meta.json                    the frames lost from the film, in the words `frames` uses

Self-contained: no network, no scripts or styles from elsewhere. The curves are inline SVG drawn here,
the script is inline, and the films and the grid are referenced by relative path, so the folder can be
moved or copied as a whole. original.mp4 is written here when it is missing or older than the
reconstruction: the frames the reconstruction was made from, at the reconstruction's exact frame rate,
taken from the run's frame store when it holds exactly those frames, else decoded from the film again.

Sync: the original is the master clock. Play, pause, seek and rate changes are mirrored onto the
reconstruction, and while playing a requestAnimationFrame loop pulls the reconstruction back whenever
it drifts more than half a frame. A click on the curve at time t picks frame i = floor(t * fps) and
sets both clocks to the middle of that frame, (i + 1/2) / fps, so neither lands on a frame boundary
where a rounding error would show the neighbour.
"""
import csv
import glob
import html
import json
import math
import os
from fractions import Fraction

from .errors import UserError
from .media.paths import check_output

FILENAME = "report.html"
LOSS_PANELS = (("kl", "L_prior (KL)"), ("sim", "L_sim"), ("disc", "L_GAN (discriminator)"),
               ("gen", "decoder's adversarial loss"), ("pixel", "pixel MSE"), ("sigma", "noise sigma"),
               ("probe_mse", "probe pixel MSE"), ("probe_sim", "probe L_sim"))


# --- reading the run folder -------------------------------------------------------------------

def metrics_lines(path):
    """The records of metrics.jsonl in file order (none if it does not exist); a torn line (a run killed
    mid-write) is skipped."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                yield rec


def read_metrics(path):
    """metrics.jsonl -> (step records, one per step, in order; events; abandoned). Events are the lines
    with an "event" key (roll-backs). A step run again after a roll-back (or after a resume from an
    earlier checkpoint) counts as its last run; the runs it replaced are `abandoned`, a list of
    stretches of consecutive lines. A torn last line (a run killed mid-write) is skipped."""
    steps, events = [], []
    for rec in metrics_lines(path):
        (events if "event" in rec else steps).append(rec)
    last = {r.get("step", 0): i for i, r in enumerate(steps)}
    abandoned, stretch = [], []
    for i, r in enumerate(steps):
        if last[r.get("step", 0)] != i:
            stretch.append(r)
        elif stretch:
            abandoned.append(stretch)
            stretch = []
    return [steps[i] for i in sorted(last.values(), key=lambda i: steps[i].get("step", 0))], events, abandoned


def read_frame_error(path):
    """reconstruction_error.csv -> (times, psnr, ssim) lists (empty when the file is missing; ssim also
    when the file was written before it had that column)."""
    if not os.path.exists(path):
        return [], [], []
    times, psnr, ssim = [], [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                t, p = float(row["time_s"]), float(row["psnr_db"])
            except (KeyError, TypeError, ValueError):
                continue
            times.append(t)
            psnr.append(p)
            try:
                ssim.append(float(row["ssim"]))
            except (KeyError, TypeError, ValueError):
                pass
    return times, psnr, ssim if len(ssim) == len(psnr) else []


def read_sample_score(run_dir):
    """RUN/sample_score.json (evaluate.write_sample_score) as a dict, or None."""
    from .evaluate import SAMPLE_SCORE_FILE

    try:
        with open(os.path.join(run_dir, SAMPLE_SCORE_FILE)) as f:
            score = json.load(f)
    except (OSError, ValueError):
        return None
    return score if isinstance(score, dict) and {"swd", "floor"} <= set(score) else None


def read_reconstruction_scores(run_dir):
    """RUN/reconstruction_scores.json (reconstruct.reconstruct_film's) as a dict, or None (runs before it)."""
    try:
        with open(os.path.join(run_dir, "reconstruction_scores.json")) as f:
            scores = json.load(f)
    except (OSError, ValueError):
        return None
    return scores if isinstance(scores, dict) else None


def _scores_table(psnr, ssim, sample, reconstruction=None, denoise=0):
    """The run's numbers, each with what it measures (and the output filter the frames passed, if any)."""
    def number(v, fmt):
        return format(v, fmt) if isinstance(v, (int, float)) and math.isfinite(v) else "n/a"

    rows = []
    if psnr:
        rows.append(("mean PSNR", f"{number(sum(psnr) / len(psnr), '.2f')} dB",
                     "each frame against its reconstruction, pixel by pixel (higher is closer)"))
    if ssim:
        rows.append(("mean SSIM", number(sum(ssim) / len(ssim), ".3f"),
                     "structural similarity (Wang et al. 2004), 11-pixel Gaussian window, RGB channels "
                     "averaged: 1 for a perfect copy, lower as edges and texture are lost"))
    if reconstruction and "grain" in reconstruction:
        rows.append(("grain", number(reconstruction["grain"], ".2f"),
                     "the texture the reconstruction adds where the film is flat: the RMS of its Laplacian over "
                     "each frame's flattest quarter, over the film's own there (grain.py): 1 as textured as the "
                     "film, below 1 smoother (a blur), above 1 a speckle the film does not have"))
    if isinstance(denoise, (int, float)) and denoise > 0 and rows:
        rows.append(("output filter", f"{denoise:g} grey levels",
                     "every frame scored above and drawn on this page passed the run's edge-preserving filter "
                     "(--denoise, denoise.py), which takes the decoder's fine grain off flat areas; "
                     "`python cli.py reconstruct --denoise 0` scores the decoder's own frames"))
    if sample:
        rows.append(("prior samples: SWD", f"{number(sample['swd'], '.3f')} (the film against itself: "
                                           f"{number(sample['floor'], '.3f')})",
                     "sliced Wasserstein distance between Laplacian-pyramid patches of samples from the prior "
                     "and of the film's frames (Karras et al. 2018): at the floor, the samples are as close to "
                     "the film as its halves are to each other; noise scores about 2.5x the floor"))
        density = sample.get("density")
        if isinstance(density, dict) and "swd" in density:
            rows.append(("film density samples: SWD", f"{number(density['swd'], '.3f')} (k = {density.get('k')})",
                         "the same distance for as many samples drawn from the film's density in latent space "
                         "(a mixture of k Gaussians fitted to the latent means of the film's frames: "
                         "latent_density.safetensors), which `python cli.py sample` draws from"))
    if not rows:
        return '<p class="note">no scores yet (they are written when training ends)</p>'
    return ('<table id="scores">' + "".join(f"<tr><th>{html.escape(a)}</th><td>{html.escape(b)}</td>"
                                             f"<td>{html.escape(c)}</td></tr>" for a, b, c in rows) + "</table>")


def read_settings(run_dir):
    """The run's settings: config.json, updated by the checkpoint's metadata (read without its arrays)."""
    settings = {}
    cfg_path = os.path.join(run_dir, "config.json")
    if os.path.exists(cfg_path):
        try:
            with open(cfg_path) as f:
                settings.update(json.load(f))
        except (OSError, ValueError):
            pass
    from . import checkpoint

    ckpt = os.path.join(run_dir, checkpoint.FILENAME)
    if os.path.exists(ckpt):
        try:
            from safetensors import safe_open

            with safe_open(ckpt, framework="np") as f:
                meta = json.loads((f.metadata() or {}).get("vaegan", "{}"))
            settings["checkpoint"] = {k: meta[k] for k in ("step", "epoch", "batch", "sigma", "total_steps")
                                      if k in meta}
            for k in ("run", "train", "model"):
                if k in meta:
                    settings[k] = meta[k]
        except Exception:           # a damaged checkpoint still gets a page, without these lines
            pass
    return settings


def film_losses(run_dir):
    """The line on frames lost from the run's film (vaegan.media.decode.lost_frames_message, kept in the
    frame store's meta.json when the store was built), or None."""
    try:
        with open(os.path.join(run_dir, "frames", "meta.json")) as f:
            return json.load(f).get("lost_message")
    except (OSError, ValueError, AttributeError):
        return None


def film_rate(path):
    """(frame rate as a Fraction, frame count) of a film we wrote, or (None, 0)."""
    import av

    try:
        with av.open(path) as c:
            s = c.streams.video[0]
            rate = s.average_rate or s.guessed_rate
            return (Fraction(rate) if rate else None), int(s.frames or 0)
    except (av.FFmpegError, OSError, IndexError):
        return None, 0


# --- the original film beside the reconstruction ----------------------------------------------

def write_original(run_dir, n_frames, fps):
    """RUN/original.mp4: the n_frames the reconstruction was made from, at `fps`. Returns its path or
    None when neither the frame store nor the film can give them."""
    import numpy as np

    from .media.film import FilmWriter

    out = os.path.join(run_dir, "original.mp4")
    rec = os.path.join(run_dir, "reconstruction.mp4")
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(rec):
        return out
    frames = _store_frames(run_dir, n_frames)
    if frames is None:
        frames = _film_frames(run_dir, n_frames)
    if frames is None:
        return None
    with FilmWriter(out, fps, frames.shape[2], frames.shape[1]) as writer:
        for i in range(0, len(frames), 64):
            writer.write(np.ascontiguousarray(frames[i:i + 64]))
    return out


def _store_frames(run_dir, n_frames):
    """The frame store's frames, if it holds every frame of the film (no --every, --max-frames cut)."""
    from .media.framestore import FrameStore

    try:
        store = FrameStore.open(os.path.join(run_dir, "frames"))
    except UserError:
        return None
    s = store.meta.get("settings", {})
    if len(store) != n_frames or s.get("every", 1) != 1 or s.get("start") or s.get("end"):
        return None
    return store.frames


def _film_frames(run_dir, n_frames):
    """Decode the run's film again at the model's size, as the reconstruction did."""
    import numpy as np

    from .media.decode import iter_frames

    settings = read_settings(run_dir)
    run, model = settings.get("run", {}), settings.get("model", {})
    film = run.get("film")
    if not film or not os.path.exists(film) or "width" not in model:
        return None
    try:
        frames = [f for f, _ in iter_frames(film, size=(model["width"], model["height"]),
                                            fit=run.get("fit", "crop"), max_frames=n_frames)]
    except UserError:
        return None
    return np.stack(frames) if frames else None


# --- inline SVG -------------------------------------------------------------------------------

def _ticks(lo, hi, n=5):
    """About n round numbers spanning [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), default=raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v):
    return f"{v:.4g}"


def svg_curve(xs, ys, width, height, x_label, title="", marks=(), pad=(46, 10, 22, 30), element_id=None,
              extra="", ghosts=()):
    """A line plot as an SVG string. marks: (x, label) vertical lines (the roll-backs); ghosts: lists of
    (x, y) drawn faint (the stretches a roll-back abandoned). The plot area
    is [pad_left, width - pad_right] x [pad_top, height - pad_bottom] in the viewBox; its x range
    rides on data- attributes so the page's script can map a click back to x."""
    pts = [(x, y) for x, y in zip(xs, ys) if y is not None and math.isfinite(x) and math.isfinite(y)]
    left, right, top, bottom = pad
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x1 <= x0:
        x1 = x0 + 1.0
    ghosts = [[(x, y) for x, y in g if math.isfinite(x) and math.isfinite(y)] for g in ghosts]
    every = pts + [p for g in ghosts for p in g]
    y0, y1 = (min(p[1] for p in every), max(p[1] for p in every)) if every else (0.0, 1.0)
    if y1 <= y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    span_x, span_y = width - left - right, height - top - bottom

    def px(x):
        return left + (x - x0) / (x1 - x0) * span_x

    def py(y):
        return top + (y1 - y) / (y1 - y0) * span_y

    ident = f' id="{element_id}"' if element_id else ""
    out = [f'<svg{ident} class="curve" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'data-x0="{x0!r}" data-x1="{x1!r}" data-left="{left}" data-right="{width - right}" '
           f'xmlns="http://www.w3.org/2000/svg">']
    if title:
        out.append(f'<text x="{left}" y="{top - 2 if top > 12 else 11}" class="title">{html.escape(title)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{span_x}" height="{span_y}" class="frame"/>')
    for t in _ticks(y0, y1, 4):
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{py(t):.1f}" y2="{py(t):.1f}" class="grid"/>'
                   f'<text x="{left - 4}" y="{py(t) + 3:.1f}" class="ylab">{_fmt(t)}</text>')
    for t in _ticks(x0, x1, 6):
        out.append(f'<text x="{px(t):.1f}" y="{height - bottom + 12}" class="xlab">{_fmt(t)}</text>')
    out.append(f'<text x="{left + span_x / 2:.1f}" y="{height - 3}" class="xlab">{html.escape(x_label)}</text>')
    for g in ghosts:
        if g:
            out.append(f'<polyline points="{" ".join(f"{px(x):.2f},{py(y):.2f}" for x, y in g)}" class="ghost"/>')
    if pts:
        path = " ".join(f"{px(x):.2f},{py(y):.2f}" for x, y in pts)
        out.append(f'<polyline points="{path}" class="line"/>')
    for x, label in marks:
        out.append(f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{top}" y2="{height - bottom}" class="mark">'
                   f'<title>{html.escape(label)}</title></line>')
    out.append(extra)
    out.append("</svg>")
    return "".join(out)


# --- the page ---------------------------------------------------------------------------------

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
.films { display: flex; gap: 12px; flex-wrap: wrap; }
.films figure { margin: 0; } .films figcaption { font-size: 12px; color: #555; }
video { width: 480px; background: #000; image-rendering: pixelated; }
svg.curve { background: #fff; display: block; }
svg .frame { fill: none; stroke: #bbb; } svg .grid { stroke: #eee; } svg .line { fill: none; stroke: #1f6fb4; stroke-width: 1.2; }
svg .ghost { fill: none; stroke: #d62728; stroke-opacity: 0.35; stroke-width: 1; }
svg .mark { stroke: #d62728; stroke-width: 1.5; stroke-dasharray: 4 2; } svg .head { stroke: #e67e00; stroke-width: 1.5; }
svg text { font-size: 10px; fill: #444; } svg .ylab { text-anchor: end; } svg .xlab { text-anchor: middle; }
svg .title { font-size: 11px; font-weight: 600; }
#psnr { cursor: crosshair; }
.panels { display: flex; flex-wrap: wrap; gap: 8px; }
table { border-collapse: collapse; font-size: 12px; } td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
.note { color: #a33; } img.grid { image-rendering: pixelated; max-width: 100%; }
"""

SCRIPT = """
(function () {
  const a = document.getElementById('original'), b = document.getElementById('reconstruction');
  const curve = document.getElementById('psnr'), head = document.getElementById('playhead');
  const fps = parseFloat(document.body.dataset.fps);
  const frames = parseInt(document.body.dataset.frames, 10);
  function follow() {                       // the reconstruction follows the original's clock
    if (!a || !b) return;
    if (Math.abs(b.currentTime - a.currentTime) > 0.5 / fps) b.currentTime = a.currentTime;
  }
  if (a && b) {
    a.addEventListener('play', () => { follow(); b.play().catch(() => {}); });
    a.addEventListener('pause', () => { b.pause(); follow(); });
    a.addEventListener('seeked', follow);
    a.addEventListener('ratechange', () => { b.playbackRate = a.playbackRate; });
    const tick = () => { if (!a.paused) follow(); moveHead(); requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  }
  function moveHead() {
    if (!curve || !head || !a) return;
    const x0 = parseFloat(curve.dataset.x0), x1 = parseFloat(curve.dataset.x1);
    const l = parseFloat(curve.dataset.left), r = parseFloat(curve.dataset.right);
    const x = l + (a.currentTime - x0) / (x1 - x0) * (r - l);
    head.setAttribute('x1', x); head.setAttribute('x2', x);
  }
  window.seekTo = function (t) {            // both videos to the middle of the frame at time t
    const i = Math.max(0, Math.min(frames - 1, Math.floor(t * fps + 1e-6)));
    const target = (i + 0.5) / fps;
    for (const v of [a, b]) if (v) v.currentTime = target;
    return target;
  };
  if (curve) curve.addEventListener('click', (e) => {
    const box = curve.getBoundingClientRect(), vb = curve.viewBox.baseVal;
    const ux = (e.clientX - box.left) / box.width * vb.width;   // click -> viewBox units
    const x0 = parseFloat(curve.dataset.x0), x1 = parseFloat(curve.dataset.x1);
    const l = parseFloat(curve.dataset.left), r = parseFloat(curve.dataset.right);
    const t = x0 + (ux - l) / (r - l) * (x1 - x0);
    window.seekTo(Math.max(0, t));
  });
})();
"""


def _settings_table(settings):
    rows = []
    for section in ("checkpoint", "model", "run", "train"):
        for k, v in (settings.get(section) or {}).items():
            rows.append(f"<tr><th>{html.escape(section)}</th><td>{html.escape(str(k))}</td>"
                        f"<td>{html.escape(json.dumps(v))}</td></tr>")
    if not rows:
        return '<p class="note">no config.json or checkpoint in this run folder</p>'
    return "<table>" + "".join(rows) + "</table>"


def _loss_panels(steps, events, abandoned=()):
    marks = [(e.get("step", 0), f"roll-back: {e.get('cause', '')}; restored step {e.get('restored_step', '?')}, "
                                f"learning rates x {e.get('lr_scale', '?')}")
             for e in events if e.get("event") == "rollback"]

    def has(r, key):
        return isinstance(r.get(key), (int, float)) and isinstance(r.get("step"), (int, float))

    panels = []
    for key, title in LOSS_PANELS:
        xs = [r["step"] for r in steps if has(r, key)]
        ys = [r[key] for r in steps if has(r, key)]
        if not xs:
            continue
        ghosts = [[(r["step"], r[key]) for r in g if has(r, key)] for g in abandoned]
        panels.append(svg_curve(xs, ys, 300, 170, "step", title, marks, pad=(46, 8, 18, 30), ghosts=ghosts))
    return panels, marks


def _new_frames_html(run_dir, sample):
    """The frames train drew from the film's density (RUN/samples.png), where there are any."""
    from .evaluate import NEW_FRAMES_FILE

    if not os.path.exists(os.path.join(run_dir, NEW_FRAMES_FILE)):
        return ""
    k = (sample or {}).get("density", {}).get("k")
    about = f"a mixture of {k} Gaussians" if k else "a mixture of Gaussians"
    return (f'<h2>New frames</h2><img class="grid" src="{NEW_FRAMES_FILE}" alt="frames drawn from the film\'s '
            f'density"><p>{NEW_FRAMES_FILE}: frames the film never had, decoded from z drawn from the film\'s '
            f'density in latent space ({about} fitted to the latent means of its frames, '
            f'latent_density.safetensors), as <code>python cli.py sample</code> draws them</p>')


def write_report(run_dir):
    """Write RUN/report.html (and RUN/original.mp4 when it is needed). Returns the page's path."""
    run_dir = os.fspath(run_dir)
    check_output(run_dir, folder="run folder")
    steps, events, abandoned = read_metrics(os.path.join(run_dir, "metrics.jsonl"))
    times, psnr, ssim = read_frame_error(os.path.join(run_dir, "reconstruction_error.csv"))
    from .media.decode import lost_frames_line

    settings = read_settings(run_dir)
    lost = film_losses(run_dir)
    notes = [lost_frames_line(lost)] if lost else []

    rec = os.path.join(run_dir, "reconstruction.mp4")
    fps, n_frames, original = None, 0, None
    if os.path.exists(rec):
        fps, n_frames = film_rate(rec)
        n_frames = n_frames or len(times)
        if fps and n_frames:
            original = write_original(run_dir, n_frames, fps)
        if original is None:
            notes.append("the original film could not be rebuilt (no matching frame store, film not found)")
    else:
        notes.append("no reconstruction.mp4 yet (it is written when training ends)")
    fps_value = float(fps) if fps else 25.0

    films = []
    for path, caption, vid in ((original, "original", "original"), (rec, "reconstruction", "reconstruction")):
        if path and os.path.exists(path):
            muted = " muted" if vid == "original" else ""
            films.append(f'<figure><video id="{vid}" src="{os.path.basename(path)}" preload="auto" '
                         f'playsinline{muted}{" controls" if vid == "original" else ""}></video>'
                         f'<figcaption>{caption}</figcaption></figure>')

    psnr_svg = ""
    if times:
        mean = sum(psnr) / len(psnr)
        psnr_svg = svg_curve(times, psnr, 980, 200, "time in the film (s); click to seek both films",
                             f"PSNR per frame (dB), mean {mean:.2f}", element_id="psnr",
                             extra='<line id="playhead" class="head" x1="46" x2="46" y1="10" y2="170"/>',
                             pad=(46, 10, 20, 30))
    panels, marks = _loss_panels(steps, events, abandoned)
    grids = sorted(glob.glob(os.path.join(run_dir, "grids", "step_*.png")))
    grid_html = (f'<img class="grid" src="grids/{html.escape(os.path.basename(grids[-1]))}" '
                 f'alt="last sample grid">' f'<p>{html.escape(os.path.basename(grids[-1]))}: rows are real '
                 f'frames, their reconstructions (z = mu), samples from the prior</p>') if grids else \
        '<p class="note">no sample grid yet</p>'
    new_frames_html = _new_frames_html(run_dir, read_sample_score(run_dir))
    rollbacks = "".join(f"<li>{html.escape(label)}</li>" for _, label in marks)
    name = os.path.basename(os.path.abspath(run_dir))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(name)}: report</title>
<link rel="icon" href="data:,"><style>{STYLE}</style></head>
<body data-fps="{fps_value!r}" data-frames="{n_frames}">
<h1>{html.escape(name)}</h1>
{''.join(f'<p class="note">{html.escape(n)}</p>' for n in notes)}
<div class="films">{''.join(films)}</div>
{psnr_svg}
<h2>Scores</h2>
{_scores_table(psnr, ssim, read_sample_score(run_dir), read_reconstruction_scores(run_dir),
               (settings.get("run") or {}).get("denoise", 0))}
<h2>Training losses</h2>
<div class="panels">{''.join(panels) or '<p class="note">no metrics.jsonl yet</p>'}</div>
<p>{'Roll-backs (dashed red lines; faint red: the steps they undid):<ul>' + rollbacks + '</ul>' if rollbacks else 'No roll-backs.'}</p>
<h2>Last sample grid</h2>
{grid_html}
{new_frames_html}
<h2>Settings</h2>
{_settings_table(settings)}
<script>{SCRIPT}</script>
</body></html>
"""
    out = os.path.join(run_dir, FILENAME)
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(tmp, out)
    return out
