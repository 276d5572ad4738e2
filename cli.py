"""Command line of the film VAE-GAN. Thin on purpose: parse, call into vaegan/, report.

    python cli.py info                          which backends can run here
    python cli.py probe FILM                    what is inside a video file
    python cli.py frames FILM -o STORE          decode a film into a frame store
    python cli.py train [FILM]                  learn a film (the sample clip when none is given)
    python cli.py reconstruct RUN FILM -o OUT   re-imagine any film with a trained model
    python cli.py sample RUN                    new frames, drawn from the film's density or the prior
    python cli.py fit-density RUN               the film's density in latent space, for sample
    python cli.py report RUN                    RUN/report.html: the films in sync, PSNR, losses, settings
"""
import errno
import os
import sys

import math

import click
from click.core import ParameterSource

from vaegan import __version__
from vaegan.errors import UserError
from vaegan.media.paths import check_output
from vaegan.recipes import DENSITY_COMPONENTS, RECIPES, SAMPLE_EPOCHS


class Number(click.ParamType):
    """An int or float option with its range: a value outside it (or NaN, or infinity) is refused before
    anything runs, in one line that names the option and the range."""

    def __init__(self, kind, low=None, high=None, low_open=False, high_open=False):
        self.kind, self.low, self.high, self.low_open, self.high_open = kind, low, high, low_open, high_open
        self.name = "integer" if kind is int else "number"

    def range_text(self):
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high}")
        return " and ".join(parts) or "finite"

    def convert(self, value, param, ctx):
        if isinstance(value, self.kind) and not isinstance(value, bool):
            v = value
        else:
            try:
                v = self.kind(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not {'a whole number' if self.kind is int else 'a number'}", param, ctx)
        if self.kind is float and not math.isfinite(v):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        below = self.low is not None and (v <= self.low if self.low_open else v < self.low)
        above = self.high is not None and (v >= self.high if self.high_open else v > self.high)
        if below or above:
            self.fail(f"{value} is out of range (must be {self.range_text()})", param, ctx)
        return v


def Int(low=None, high=None):
    return Number(int, low, high)


def Float(low=None, high=None, low_open=False, high_open=False):
    return Number(float, low, high, low_open, high_open)


class Commands(click.Group):
    """A click group that turns our errors into one line and a non-zero exit, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.BadParameter as e:   # one line, not click's usage block: the option and what is wrong
            error = click.ClickException(e.format_message())
            error.exit_code = 2
            raise error from None
        except UserError as e:
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt as e:   # Ctrl-C, or SIGTERM/SIGHUP (vaegan/stopping.py): 128 + the signal
            click.echo(f"\ninterrupted{': ' + str(e) if str(e) else ''}", err=True)
            sys.exit(getattr(e, "exit_code", 130))
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise click.ClickException(f"disk full while writing {e.filename or 'output'}") from None
            raise


def _warn_lost(message):
    """The line every command that reads a film prints about the frames lost from it; the wording is
    vaegan.media.decode.lost_frames_message's, for all of them."""
    from vaegan.media.decode import lost_frames_line

    if message:
        click.echo(lost_frames_line(message), err=True)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vaegan")
def cli():
    """Autoencoding Blade Runner: a VAE-GAN that learns every frame of a film and re-imagines it."""


@cli.command()
def info():
    """Print the version and which kernel backends can run on this machine (and why not)."""
    from kernels import BACKENDS, backend_status

    click.echo(f"vaegan {__version__}")
    for name in BACKENDS:
        usable, why = backend_status(name)
        click.echo(f"  backend {name:7s} {'yes' if usable else 'no '}  {why}")


# --- frames: probe / frames (vaegan/media/decode.py) -------------------------------------------

@cli.command("probe")
@click.argument("film", type=click.Path())
def probe_command(film):
    """What is inside FILM: streams, size, fps, duration, frame count."""
    from vaegan.media.decode import format_probe, probe

    click.echo(format_probe(probe(film)))


@cli.command("frames")
@click.argument("film", type=click.Path())
@click.option("-o", "--output", "store_dir", required=True, type=click.Path(), help="frame store directory")
@click.option("--size", default="96x64", show_default=True, help="WIDTHxHEIGHT of the stored frames")
@click.option("--fit", type=click.Choice(["crop", "pad", "stretch"]), default="crop", show_default=True,
              help="centre-crop or letterbox to the size's aspect, or stretch")
@click.option("--every", type=Int(1), default=1, show_default=True, help="keep every N-th frame")
@click.option("--start", type=Float(0), default=None, help="first second to keep")
@click.option("--end", type=Float(0, low_open=True), default=None, help="second to stop at (not kept)")
@click.option("--max-frames", type=Int(1), default=None, help="stop after this many frames")
@click.option("--quiet", is_flag=True, help="no progress bar")
def frames_command(film, store_dir, size, fit, every, start, end, max_frames, quiet):
    """Decode FILM into a frame store (reused when FILM and the settings are unchanged)."""
    from vaegan.media.decode import parse_size
    from vaegan.media.framestore import FrameStore

    store = FrameStore.open_or_build(film, store_dir, size=parse_size(size), fit=fit, every=every,
                                     start=start, end=end, max_frames=max_frames, progress=not quiet)
    _warn_lost(store.meta.get("lost_message"))
    click.echo(store.describe())


# --- model: train / reconstruct / sample / morph (vaegan/train.py, vaegan/reconstruct.py) ------

def _recipe_default(key):
    value = RECIPES["default"][key]
    return f"[default: {value}; --recipe sets it]"


def denoise_option(command):
    """--denoise for the commands that draw from a trained run: the run's own output filter unless given."""
    return click.option("--denoise", type=Float(0, 255), default=None, metavar="GREY_LEVELS",
                        help="the output filter's range (vaegan/denoise.py; 0: the decoder's own frames) "
                             "[default: the run's own, which train's --denoise set]")(command)


@cli.command()
@click.argument("film", required=False)
@click.option("--preset", default="tiny", show_default=True,
              type=click.Choice(["tiny", "broad96x64", "broad256x144", "larsen64"]), help="model shape")
@click.option("--width", type=Int(0), default=0, help="override the preset's frame width")
@click.option("--height", type=Int(0), default=0, help="override the preset's frame height")
@click.option("--z-dim", type=Int(0), default=0, help="override the latent size")
@click.option("--base-width", type=Int(0), default=0, help="scale every layer so the first conv has this many channels")
@click.option("--recipe", type=click.Choice(list(RECIPES)), default="default", show_default=True,
              help="a named set of the training settings below (vaegan/recipes.py); larsen: the paper's losses")
@click.option("--epochs", type=Int(1), default=None,
              help=f"passes over the film [default: {SAMPLE_EPOCHS} for the sample clip, else 10]")
@click.option("--batch-size", type=Int(1), default=None, help=_recipe_default("batch_size"))
@click.option("--backend", default="numpy", show_default=True, type=click.Choice(["numpy", "cupy", "triton"]))
@click.option("--out", "out", default=None,
              help="run folder [default: runs/<film>-<preset>, or -2, -3... when that holds a finished run]")
@click.option("--seed", type=Int(0), default=0, show_default=True)
@click.option("--noise-schedule", default=None,
              help="sigma of the sampler's noise over training: sigma@progress,... or linear:A:B, cosine:A:B, "
                   "step:A:B:.. " + _recipe_default("noise_schedule"))
@click.option("--gamma", type=Float(0), default=None, help="weight of L_rec in the decoder's loss " + _recipe_default("gamma"))
@click.option("--kl-weight", default=None,
              help="weight of L_prior in the encoder's loss; auto: z_dim / similarity features, Larsen's balance; "
                   "auto*N: N times that "
                   + _recipe_default("kl_weight"))
@click.option("--lr", type=Float(0, low_open=True), default=None, help="Adam learning rate (beta1 0.5) " + _recipe_default("lr"))
@click.option("--gen-loss", default=None, type=click.Choice(["nonsaturating", "minimax"]), help=_recipe_default("gen_loss"))
@click.option("--gen-weight", type=Float(0), default=None,
              help="weight of the adversarial loss in the decoder's loss " + _recipe_default("gen_weight"))
@click.option("--prior-weight", type=Float(0), default=None,
              help="the prior samples' share of the adversarial loss: their term weighs gen-weight x this in the "
                   "decoder's loss, the reconstructions' gen-weight " + _recipe_default("prior_weight"))
@click.option("--pixel-weight", type=Float(0), default=None,
              help="weight of the pixel error beside the learned similarity in L_rec (0: the paper's) "
                   + _recipe_default("pixel_weight"))
@click.option("--laplacian-weight", type=Float(0), default=None,
              help="weight of the Laplacian error (the pixel error of the frames' fine detail, "
                   "vaegan/laplacian_error.py) beside the pixel error " + _recipe_default("laplacian_weight"))
@click.option("--prior-bn-stats/--no-prior-bn-stats", default=None,
              help="let the decoder's pass on prior samples update its batch-norm running statistics "
                   + _recipe_default("prior_bn_stats"))
@click.option("--ema", type=Float(0, 1, high_open=True), default=None, metavar="DECAY",
              help="keep an exponential moving average of the encoder's and decoder's weights (vaegan/ema.py) "
                   "and draw with it; 0: off " + _recipe_default("ema"))
@click.option("--lr-schedule", default=None,
              help="the learning rate over the run: constant, cosine, linear-decay, or cosine@P / linear-decay@P "
                   "(the decay starts at progress P) " + _recipe_default("lr_schedule"))
@click.option("--kl-warmup", type=Float(0, 1), default=None, metavar="FRACTION",
              help="the KL weight rises linearly from 0 over this fraction of the run " + _recipe_default("kl_warmup"))
@click.option("--denoise", type=Float(0, 255), default=None, metavar="GREY_LEVELS",
              help="pass every frame the run draws (film, strip, grids, samples) through an edge-preserving filter "
                   "of this range, which takes the decoder's fine grain off flat areas (vaegan/denoise.py); it "
                   "changes no weight; 0: off " + _recipe_default("denoise"))
@click.option("--recon-as-fake/--no-recon-as-fake", default=True, show_default=True,
              help="show reconstructions to the discriminator as fakes")
@click.option("--equilibrium", type=Float(0, 1), default=0.0, show_default=True,
              help="Larsen's balancing rule (0.68 in his code); 0 disables it")
@click.option("--margin", type=Float(0, 1), default=0.35, show_default=True)
@click.option("--label-smoothing", type=Float(0, 0.5, high_open=True), default=0.0, show_default=True)
@click.option("--temporal-weight", type=Float(0), default=0.0, show_default=True,
              help="train on pairs of adjacent frames and hold their latents together, weighted by how little "
                   "the source changes between them (vaegan/temporal.py; 0: off)")
@click.option("--sim-layers", default=None, help="discriminator convs forming L_sim, e.g. 3 or 0,1,2,3 [default: preset's]")
@click.option("--fit", default="crop", show_default=True, type=click.Choice(["crop", "pad", "stretch"]))
@click.option("--every", type=Int(1), default=1, show_default=True, help="keep every N-th frame")
@click.option("--max-frames", type=Int(0), default=0, help="use at most this many frames (0: all)")
@click.option("--grid-every", type=Int(0), default=0, help="steps between sample grids (0: each epoch)")
@click.option("--checkpoint-every", type=Int(0), default=0, help="steps between checkpoints (0: each epoch)")
@click.option("--checkpoint-minutes", type=Float(0), default=10.0, show_default=True,
              help="also a checkpoint whenever this much time has passed since the last: the most work a crash "
                   "or kill -9 can lose (0: off; may change on --resume)")
@click.option("--resume", "resume", default=None, metavar="RUN_DIR", help="continue a run from its last checkpoint")
@click.option("--final-film/--no-final-film", default=True, show_default=True,
              help="reconstruct the training film when training ends")
@click.pass_context
def train(ctx, film, resume, epochs, final_film, recipe, **kw):
    """Learn FILM (the sample clip when none is given) and re-imagine it.

    Under mpirun (`mpirun -n N python cli.py train ...`) each of the N ranks trains on its share of
    every batch; rank 0 alone writes and prints. A rank that fails ends every rank."""
    from vaegan.distributed import from_environment

    comm = from_environment(kw["backend"])
    try:
        _train(ctx, film, resume, epochs, final_film, recipe, comm, kw)
    except BaseException as e:
        ended_well = isinstance(e, SystemExit) and not e.code
        if not (ended_well or isinstance(e, KeyboardInterrupt) and getattr(e, "stopped_together", False)):
            comm.fail(e)      # among ranks: its line, and every rank ends (none waits on this one)
        raise


def _train(ctx, film, resume, epochs, final_film, recipe, comm, kw):
    from vaegan.train import film_store, new_run, next_run_dir, resume_run, settings

    echo = click.echo if comm.rank == 0 else (lambda *a, **k: None)
    if resume:
        given = [name for name in kw if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE]
        if ctx.get_parameter_source("recipe") == ParameterSource.COMMANDLINE:
            given.append("recipe")
        if film is not None:
            raise UserError(f"--resume {resume} continues the run on its own film; drop {film}")
        shape = {k: kw[k] for k in ("preset", "width", "height", "z_dim", "base_width") if k in given}
        others = [f"--{k.replace('_', '-')}" for k in given if k not in shape and k != "checkpoint_minutes"]
        if others:
            raise UserError(f"--resume {resume} continues the run with the settings it started with; "
                            f"{', '.join(others)} cannot change (only --epochs and --checkpoint-minutes can)")
        run = resume_run(resume, film_store, epochs=epochs, shape=shape, comm=comm,
                         checkpoint_minutes=kw["checkpoint_minutes"] if "checkpoint_minutes" in given else None)
        ctx.call_on_close(run.close)      # the folder's lock, held to the end of the command (vaegan/runlock.py)
        if comm.rank == 0:
            _warn_lost(run.store.meta.get("lost_message"))
        if run.finished:
            echo(f"{resume} has finished its {run.opts.epochs} epochs ({run.state['step']} steps); nothing "
                 f"to train. To train on, give --epochs with more than {run.opts.epochs}")
            film_out = os.path.join(run.opts.out, "reconstruction.mp4")
            if os.path.exists(film_out):
                echo(f"its film: {film_out}")
                from vaegan.latent_density import film_density

                why_not = film_density(resume, run.state["step"], run.model.cfg.z_dim)[2]
                if why_not:        # (a run trained before train fitted densities)
                    echo(f"it has {why_not}; `python cli.py fit-density {resume}` fits one for `sample`")
                return
            if not final_film:
                return
        else:           # (its film is missing: written below)
            echo(f"resuming {resume} at step {run.state['step']} "
                 f"(epoch {run.state['epoch'] + 1}/{run.opts.epochs})")
            run.train()
    else:
        sample = film is None
        if sample:
            from vaegan.media.sample_clip import sample_clip_path

            film, about = sample_clip_path(os.path.join("runs", ".sample"))
            echo(f"no film given: training on the sample clip, {about}")
        sim_layers = kw.pop("sim_layers")
        # the recipe fills what the command line left out (an option not given is None)
        s = settings(recipe, film=film, epochs=epochs or (SAMPLE_EPOCHS if sample else None),
                     sim_layers=sim_layers and _int_list("--sim-layers", sim_layers), **kw)
        opts = s.run
        if not opts.out:       # the default folder, or the next numbered one when it holds a finished run
            stem = os.path.splitext(os.path.basename(film))[0]
            opts.out, finished = next_run_dir(os.path.join("runs", f"{stem}-{opts.preset}"))
            if finished:
                echo(f"{finished[-1]} holds a finished run (its film: "
                     f"{os.path.join(finished[-1], 'reconstruction.mp4')}); this run goes to {opts.out}")
        run = new_run(opts, s.train, film_store, comm)
        ctx.call_on_close(run.close)
        if comm.rank == 0:
            _warn_lost(run.store.meta.get("lost_message"))
        ranks = f" on {comm.size} ranks ({comm.name})" if comm.size > 1 else ""
        echo(f"training {run.model.cfg.describe()} on {len(run.store)} frames of {film} with the "
             f"{opts.backend} backend{ranks}, recipe {recipe}: {run.total_steps} steps -> {opts.out}")
        run.train()
    if comm.rank != 0:
        return          # the film, the strip and the report are rank 0's
    click.echo(f"checkpoint: {run.checkpoint_file()}")
    click.echo(f"frames over their reconstructions: {os.path.join(run.opts.out, 'strip.png')} "
               f"(PSNR {run.write_strip():.2f} dB on these frames)")
    with run.averaged() as model:      # the averaged weights where the run keeps them (--ema)
        if final_film:
            from vaegan.reconstruct import reconstruct_film

            out = os.path.join(run.opts.out, "reconstruction.mp4")
            summary = reconstruct_film(model, run.opts.film, out, fit=run.opts.fit)
            click.echo(f"re-imagined film: {out} ({summary['frames']} frames, mean PSNR {summary['psnr']:.2f} dB, "
                       f"SSIM {summary['ssim']:.3f}, grain {summary['grain']:.2f}{_filtered(model)}; per-frame error: "
                       f"{summary['plot']})")
            if summary["lost"] != run.store.meta.get("lost_message"):      # (said above when the store saw it)
                _warn_lost(summary["lost"])
        from vaegan.evaluate import write_new_frames, write_sample_score
        from vaegan.latent_density import FILENAME, fit_film_density

        path = os.path.join(run.opts.out, FILENAME)     # after the last checkpoint, with the weights it holds
        density, about = fit_film_density(path, model, run.store.frames, run.state["step"])
        score = write_sample_score(run.opts.out, model, run.store.frames, density)
        new_frames = write_new_frames(run.opts.out, model, density)
    click.echo(f"film density: {path} ({_density_about(about)}; `python cli.py sample {run.opts.out}` draws from it; "
               f"32 of its frames: {new_frames})")
    click.echo(_sample_score_line(score))
    click.echo(f"report: {_write_report(run.opts.out)}")


def _density_about(meta):
    k = meta["k"]
    return (f"{k} Gaussian{'s' if k > 1 else ''} fitted to the latent means of {meta['frames']} frames "
            f"at step {meta['step']}")


def _sample_score_line(score):
    density = score.get("density")
    theirs = f", from the film's density {density['swd']:.3f}" if density else ""
    return (f"samples against the film (sliced Wasserstein distance, lower is closer): from the prior "
            f"{score['swd']:.3f}{theirs}; the film against itself: {score['floor']:.3f}")


def _int_list(name, text):
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"{name} must be a comma-separated list of integers, got {text!r}") from None


@cli.command()
@click.argument("run_or_ckpt")
@click.argument("film", required=False)
@click.option("-o", "--out", required=True, help="output film (.mp4), or image with --image")
@click.option("--image", default=None, help="re-imagine one image instead of a film")
@click.option("--smooth", type=Float(0), default=0.0, show_default=True, metavar="SECONDS",
              help="smooth the latent path in film order: a centred Gaussian of this standard deviation (s), reset at shot cuts; 0: off")
@click.option("--side-by-side", is_flag=True, help="original | reconstruction")
@click.option("--strip", default=None, metavar="PNG",
              help="also a picture: eight evenly spaced frames of FILM over their re-imagining (z = mu, unsmoothed)")
@click.option("--bn-stats", default="running", show_default=True, type=click.Choice(["running", "batch"]),
              help="batch-norm statistics: learned running ones, or each batch's own (the original's)")
@click.option("--batch-size", type=Int(1), default=32, show_default=True)
@click.option("--fit", default="crop", show_default=True, type=click.Choice(["crop", "pad", "stretch"]))
@click.option("--backend", default="numpy", show_default=True, type=click.Choice(["numpy", "cupy", "triton"]))
@denoise_option
def reconstruct(run_or_ckpt, film, out, image, side_by_side, bn_stats, batch_size, fit, backend, smooth, strip, denoise):
    """Re-imagine FILM (any film) frame by frame with the model in RUN_OR_CKPT."""
    from vaegan.reconstruct import load_model, reconstruct_film, reconstruct_image

    if (film is None) == (image is None):
        raise UserError("give either a FILM or --image IMAGE")
    check_output(out)
    if strip is not None:
        if image:
            raise UserError("--strip pictures a FILM; with --image the output is already one picture")
        check_output(strip)
    model, _ = load_model(run_or_ckpt, backend, denoise)
    if image:
        psnr = reconstruct_image(model, image, out, side_by_side, fit)
        click.echo(f"{out}: PSNR {psnr:.2f} dB")
        return
    s = reconstruct_film(model, film, out, side_by_side, bn_stats, batch_size, fit, smooth=smooth)
    click.echo(f"{out}: {s['frames']} frames in {s['seconds']:.1f} s, mean PSNR {s['psnr']:.2f} dB, "
               f"SSIM {s['ssim']:.3f}, grain {s['grain']:.2f} (texture added where the film is flat: 1 is the "
               f"film's own){_filtered(model)}; per-frame error: {s['csv']}, {s['plot']}")
    click.echo(f"flicker (mean |frame - previous frame|, 0..255, {s['cuts']} cuts left out): "
               f"{s['flicker_output']:.2f} against the source's {s['flicker_source']:.2f}; its change from frame to "
               f"frame is {s['change_error']:.2f} off the source's")
    click.echo(_warping_line(s))
    _warn_lost(s["lost"])
    if strip is not None:
        import numpy as np
        from vaegan.evaluate import save_strip
        from vaegan.media.decode import iter_frames

        frames = np.stack([f for f, _ in iter_frames(film, size=(model.cfg.width, model.cfg.height), fit=fit)])
        psnr = save_strip(strip, model, frames)
        click.echo(f"{strip}: eight frames of the film over their re-imagining (PSNR of those frames {psnr:.2f} dB)")


def _filtered(model):
    """What the scores before it were measured on, where the frames passed the output filter."""
    return f", through the output filter (--denoise {model.denoise:g})" if model.denoise else ""


def _warping_line(s):
    from vaegan.warping import MISSING

    if s["warping_error"] is None:
        return MISSING
    return (f"warping error (the output warped by the source's optical flow, mean squared error x 1e3 in 0..1, "
            f"{s['warping_pairs']} pairs of frames): {1e3 * s['warping_error']:.3f} against the source's own "
            f"{1e3 * s['warping_error_source']:.3f}")


@cli.command()
@click.argument("run_or_ckpt")
@click.option("--n", type=Int(1), default=64, show_default=True, help="how many samples")
@click.option("-o", "--out", default="samples.png", show_default=True)
@click.option("--seed", type=Int(0), default=0, show_default=True)
@click.option("--from", "source", type=click.Choice(["film", "prior"]), default=None,
              help="draw z from the film's density (RUN/latent_density.safetensors, which train writes) or from "
                   "the prior N(0, I) [default: film where RUN has a density fitted to its checkpoint, else prior]")
@click.option("--backend", default="numpy", show_default=True, type=click.Choice(["numpy", "cupy", "triton"]))
@denoise_option
def sample(run_or_ckpt, n, out, seed, source, backend, denoise):
    """A grid of frames decoded from z drawn from the film's density in latent space, or from the prior."""
    from vaegan.latent_density import film_density
    from vaegan.reconstruct import load_model, sample_grid

    check_output(out)
    model, meta = load_model(run_or_ckpt, backend, denoise)
    density, about, why_not = (None, None, None) if source == "prior" else \
        film_density(run_or_ckpt, meta.get("step"), model.cfg.z_dim)
    if source == "film" and density is None:
        error = click.ClickException(f"--from film: {run_or_ckpt} has {why_not}; fit one to its checkpoint with: "
                                     f"python cli.py fit-density {run_or_ckpt}")
        error.exit_code = 2
        raise error
    sample_grid(model, n, out, seed, density=density)
    if density is not None:
        click.echo(f"{out}: {n} samples from the film's density ({_density_about(about)})")
    else:
        click.echo(f"{out}: {n} samples from the prior N(0, I)"
                   + (f" ({run_or_ckpt} has {why_not}; `python cli.py fit-density {run_or_ckpt}` fits one)"
                      if why_not else ""))


@cli.command("fit-density")
@click.argument("run_or_ckpt")
@click.option("--film", default=None,
              help="the film whose latent codes to fit [default: the run's frame store, RUN/frames]")
@click.option("--k", type=Int(1), default=DENSITY_COMPONENTS, show_default=True, help="Gaussians in the mixture")
@click.option("--seed", type=Int(0), default=0, show_default=True, help="the k-means++ start's seed")
@click.option("--fit", default=None, type=click.Choice(["crop", "pad", "stretch"]),
              help="how --film is fitted to the model's frame [default: the run's, else crop]")
@click.option("--backend", default="numpy", show_default=True, type=click.Choice(["numpy", "cupy", "triton"]))
def fit_density(run_or_ckpt, film, k, seed, fit, backend):
    """Fit the film's density in latent space (a Gaussian mixture over the latent means of its frames)
    for the checkpoint in RUN_OR_CKPT, beside it: what `sample` draws from. `train` does this when it ends;
    this is for a run trained before that, another k, or a checkpoint outside its run folder (give --film)."""
    import numpy as np
    from vaegan.evaluate import write_sample_score, prior_sample_score
    from vaegan.latent_density import density_path, fit_film_density
    from vaegan.reconstruct import load_model

    from vaegan.runlock import FILENAME as LOCK_FILE, RunLock

    folder = os.path.dirname(density_path(run_or_ckpt))
    if os.path.exists(os.path.join(folder, LOCK_FILE)):
        # a run folder: while a training run holds it, its checkpoint moves on and its end fits a density
        # over this one; the lock is held to the end of the command
        click.get_current_context().call_on_close(RunLock(folder).acquire().release)
    model, meta = load_model(run_or_ckpt, backend)
    store_dir = os.path.join(folder, "frames")
    if film is None and not os.path.exists(os.path.join(store_dir, "meta.json")):
        raise UserError(f"{folder} holds no frame store (frames/); give --film FILM, the film the model learned")
    if film is None:
        from vaegan.media.framestore import FrameStore

        store = FrameStore.open(store_dir)
        if (store.width, store.height) != (model.cfg.width, model.cfg.height):
            raise UserError(f"{store_dir}: frames of {store.width}x{store.height}, the model draws "
                            f"{model.cfg.width}x{model.cfg.height}; give --film FILM")
        frames = store.frames
    else:
        from vaegan.media.decode import iter_frames

        fit = fit or meta.get("run", {}).get("fit", "crop")
        decoded = iter_frames(film, size=(model.cfg.width, model.cfg.height), fit=fit)
        frames = np.stack([f for f, _ in decoded])
        _warn_lost(decoded.lost_message())
    density, about = fit_film_density(density_path(run_or_ckpt), model, frames, meta.get("step"), k, seed)
    click.echo(f"film density: {density_path(run_or_ckpt)} ({_density_about(about)})")
    if film is None:       # the run's own film: its sample score, new frames (and the report page, once rewritten) follow
        from vaegan.evaluate import write_new_frames

        score = write_sample_score(folder, model, frames, density)
        click.echo(f"32 of its frames: {write_new_frames(folder, model, density)}")
        click.echo(_sample_score_line(score) + f" (`python cli.py report {folder}` shows it)")
    else:
        click.echo(_sample_score_line(prior_sample_score(model, frames, density)))


@cli.command()
@click.argument("run_or_ckpt")
@click.argument("film")
@click.option("--from", "t_from", type=Float(0), required=True, help="seconds into FILM")
@click.option("--to", "t_to", type=Float(0), required=True, help="seconds into FILM")
@click.option("--seconds", type=Float(0, low_open=True), default=4.0, show_default=True, help="length of the morph")
@click.option("--fps", type=Float(0, 1000, low_open=True), default=25.0, show_default=True)
@click.option("-o", "--out", default="morph.mp4", show_default=True)
@click.option("--backend", default="numpy", show_default=True, type=click.Choice(["numpy", "cupy", "triton"]))
@denoise_option
def morph(run_or_ckpt, film, t_from, t_to, seconds, fps, out, backend, denoise):
    """A latent interpolation between the frames of FILM at --from and --to, as a short clip."""
    from vaegan.reconstruct import load_model, morph as run_morph

    check_output(out)
    model, _ = load_model(run_or_ckpt, backend, denoise)
    n = run_morph(model, film, t_from, t_to, seconds, out, fps)
    click.echo(f"{out}: {n} frames")
    from vaegan.media.decode import scan_losses

    _warn_lost(scan_losses(film))     # morph decodes two frames; the packets say what the film lost


@cli.command("report")
@click.argument("run_dir")
def report_command(run_dir):
    """Write RUN_DIR/report.html: the films side by side, per-frame PSNR, losses, samples, settings."""
    from vaegan.report import film_losses

    click.echo(_write_report(run_dir))
    _warn_lost(film_losses(run_dir))


def _write_report(run_dir):
    from vaegan.report import write_report

    return write_report(run_dir)


def main():
    from vaegan.stopping import stop_on_termination

    stop_on_termination()      # SIGTERM and SIGHUP stop the process as Ctrl-C does, never half-way through a write
    cli(prog_name="vaegan")


if __name__ == "__main__":
    main()
