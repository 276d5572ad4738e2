"""Command line of the film VAE-GAN. Thin on purpose: parse, call into vaegan/, report.

    python cli.py info                          which backends can run here
    python cli.py probe FILM                    what is inside a video file
    python cli.py frames FILM -o STORE          decode a film into a frame store
    python cli.py train [FILM]                  learn a film (the sample clip when none is given)
    python cli.py reconstruct RUN FILM -o OUT   re-imagine any film with a trained model
    python cli.py report RUN                    RUN/report.html: the films in sync, PSNR, losses, settings
"""
import errno
import os
import sys

import click
from click.core import ParameterSource

from vaegan import __version__
from vaegan.errors import UserError


class Commands(click.Group):
    """A click group that turns our errors into one line and a non-zero exit, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as e:
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt as e:
            click.echo(f"\ninterrupted{': ' + str(e) if str(e) else ''}", err=True)
            sys.exit(130)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise click.ClickException(f"disk full while writing {e.filename or 'output'}") from None
            raise


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


# --- frames: probe / frames (vaegan/frames.py) --------------------------------------------------

@cli.command("probe")
@click.argument("film", type=click.Path())
def probe_command(film):
    """What is inside FILM: streams, size, fps, duration, frame count."""
    from vaegan.frames import format_probe, probe

    click.echo(format_probe(probe(film)))


@cli.command("frames")
@click.argument("film", type=click.Path())
@click.option("-o", "--output", "store_dir", required=True, type=click.Path(), help="frame store directory")
@click.option("--size", default="96x64", show_default=True, help="WIDTHxHEIGHT of the stored frames")
@click.option("--fit", type=click.Choice(["crop", "pad", "stretch"]), default="crop", show_default=True,
              help="centre-crop or letterbox to the size's aspect, or stretch")
@click.option("--every", type=int, default=1, show_default=True, help="keep every N-th frame")
@click.option("--start", type=float, default=None, help="first second to keep")
@click.option("--end", type=float, default=None, help="second to stop at (not kept)")
@click.option("--max-frames", type=int, default=None, help="stop after this many frames")
@click.option("--quiet", is_flag=True, help="no progress bar")
def frames_command(film, store_dir, size, fit, every, start, end, max_frames, quiet):
    """Decode FILM into a frame store (reused when FILM and the settings are unchanged)."""
    from vaegan.frames import parse_size
    from vaegan.framestore import FrameStore

    store = FrameStore.open_or_build(film, store_dir, size=parse_size(size), fit=fit, every=every,
                                     start=start, end=end, max_frames=max_frames, progress=not quiet)
    if store.meta.get("lost_message"):
        click.echo(f"warning: {store.meta['lost_message']}", err=True)
    click.echo(store.describe())


# --- model: train / reconstruct / sample / morph (vaegan/train.py, vaegan/reconstruct.py) ------

@cli.command()
@click.argument("film", required=False)
@click.option("--preset", default="tiny", show_default=True,
              type=click.Choice(["tiny", "broad96x64", "broad256x144", "larsen64"]), help="model shape")
@click.option("--width", type=int, default=0, help="override the preset's frame width")
@click.option("--height", type=int, default=0, help="override the preset's frame height")
@click.option("--z-dim", type=int, default=0, help="override the latent size")
@click.option("--base-width", type=int, default=0, help="scale every layer so the first conv has this many channels")
@click.option("--epochs", type=int, default=None, help="passes over the film [default: 20 for the sample clip, else 10]")
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--backend", default="numpy", show_default=True, type=click.Choice(["numpy", "cupy", "triton"]))
@click.option("--out", "out", default=None, help="run folder [default: runs/<film>-<preset>]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--noise-schedule", default="1.0@0,0.5@0.6,0.1@1.0", show_default=True,
              help="sigma of the sampler's noise over training: sigma@progress,... or linear:A:B, cosine:A:B, step:A:B:..")
@click.option("--gamma", type=float, default=2.5, show_default=True, help="weight of L_sim in the decoder's loss")
@click.option("--kl-weight", default="auto", show_default=True,
              help="weight of L_prior in the encoder's loss; auto: z_dim / similarity features, Larsen's balance")
@click.option("--lr", type=float, default=2e-4, show_default=True, help="Adam learning rate (beta1 0.5)")
@click.option("--gen-loss", default="nonsaturating", show_default=True, type=click.Choice(["nonsaturating", "minimax"]))
@click.option("--recon-as-fake/--no-recon-as-fake", default=True, show_default=True,
              help="show reconstructions to the discriminator as fakes")
@click.option("--equilibrium", type=float, default=0.0, show_default=True,
              help="Larsen's balancing rule (0.68 in his code); 0 disables it")
@click.option("--margin", type=float, default=0.35, show_default=True)
@click.option("--label-smoothing", type=float, default=0.0, show_default=True)
@click.option("--sim-layers", default=None, help="discriminator convs forming L_sim, e.g. 3 or 0,1,2,3 [default: preset's]")
@click.option("--fit", default="crop", show_default=True, type=click.Choice(["crop", "pad", "stretch"]))
@click.option("--every", type=int, default=1, show_default=True, help="keep every N-th frame")
@click.option("--max-frames", type=int, default=0, help="use at most this many frames (0: all)")
@click.option("--grid-every", type=int, default=0, help="steps between sample grids (0: each epoch)")
@click.option("--checkpoint-every", type=int, default=0, help="steps between checkpoints (0: each epoch)")
@click.option("--resume", "resume", default=None, metavar="RUN_DIR", help="continue a run from its last checkpoint")
@click.option("--final-film/--no-final-film", default=True, show_default=True,
              help="reconstruct the training film when training ends")
@click.pass_context
def train(ctx, film, resume, epochs, final_film, **kw):
    """Learn FILM (the sample clip when none is given) and re-imagine it."""
    from vaegan.step import TrainConfig
    from vaegan.train import RunOptions, film_store, new_run, resume_run

    if resume:
        given = [name for name in kw if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE]
        if film is not None:
            raise UserError(f"--resume {resume} continues the run on its own film; drop {film}")
        shape = {k: kw[k] for k in ("preset", "width", "height", "z_dim", "base_width") if k in given}
        others = [f"--{k.replace('_', '-')}" for k in given if k not in shape]
        if others:
            raise UserError(f"--resume {resume} continues the run with the settings it started with; "
                            f"{', '.join(others)} cannot change (only --epochs can)")
        run = resume_run(resume, film_store, epochs=epochs, shape=shape)
        click.echo(f"resuming {resume} at step {run.state['step']} (epoch {run.state['epoch'] + 1}/{run.opts.epochs})")
    else:
        sample = film is None
        if sample:
            from vaegan.sample_clip import sample_clip_path

            film, about = sample_clip_path(os.path.join("runs", ".sample"))
            click.echo(f"no film given: training on the sample clip, {about}")
        stem = os.path.splitext(os.path.basename(film))[0]
        tc = TrainConfig(gamma=kw.pop("gamma"), kl_weight=kw.pop("kl_weight"), lr=kw.pop("lr"),
                         gen_loss=kw.pop("gen_loss"), recon_as_fake=kw.pop("recon_as_fake"),
                         label_smoothing=kw.pop("label_smoothing"), equilibrium=kw.pop("equilibrium"),
                         margin=kw.pop("margin"))
        sim_layers = kw.pop("sim_layers")
        opts = RunOptions(film=film, out=kw.pop("out") or os.path.join("runs", f"{stem}-{kw['preset']}"),
                          epochs=epochs or (20 if sample else 10), **kw)
        if sim_layers:
            opts.sim_layers = _int_list("--sim-layers", sim_layers)
        run = new_run(opts, tc, film_store)
        click.echo(f"training {run.model.cfg.describe()} on {len(run.store)} frames of {film} with the "
                   f"{opts.backend} backend: {run.total_steps} steps -> {opts.out}")
    run.train()
    click.echo(f"checkpoint: {run.checkpoint_file()}")
    if final_film:
        from vaegan.reconstruct import reconstruct_film

        out = os.path.join(run.opts.out, "reconstruction.mp4")
        summary = reconstruct_film(run.model, run.opts.film, out, fit=run.opts.fit)
        click.echo(f"re-imagined film: {out} ({summary['frames']} frames, mean PSNR {summary['psnr']:.2f} dB; "
                   f"per-frame error: {summary['plot']})")
    click.echo(f"report: {_write_report(run.opts.out)}")


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
@click.option("--smooth", type=float, default=0.0, show_default=True, metavar="SECONDS",
              help="smooth the latent path in film order: a centred Gaussian of this standard deviation (s), reset at shot cuts; 0: off")
@click.option("--side-by-side", is_flag=True, help="original | reconstruction")
@click.option("--bn-stats", default="running", show_default=True, type=click.Choice(["running", "batch"]),
              help="batch-norm statistics: learned running ones, or each batch's own (the original's)")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--fit", default="crop", show_default=True, type=click.Choice(["crop", "pad", "stretch"]))
@click.option("--backend", default="numpy", show_default=True, type=click.Choice(["numpy", "cupy", "triton"]))
def reconstruct(run_or_ckpt, film, out, image, side_by_side, bn_stats, batch_size, fit, backend, smooth):
    """Re-imagine FILM (any film) frame by frame with the model in RUN_OR_CKPT."""
    from vaegan.reconstruct import load_model, reconstruct_film, reconstruct_image

    if (film is None) == (image is None):
        raise UserError("give either a FILM or --image IMAGE")
    _check_out_dir(out)
    model, _ = load_model(run_or_ckpt, backend)
    if image:
        psnr = reconstruct_image(model, image, out, side_by_side, fit)
        click.echo(f"{out}: PSNR {psnr:.2f} dB")
        return
    s = reconstruct_film(model, film, out, side_by_side, bn_stats, batch_size, fit, smooth=smooth)
    click.echo(f"{out}: {s['frames']} frames in {s['seconds']:.1f} s, mean PSNR {s['psnr']:.2f} dB; "
               f"per-frame error: {s['csv']}, {s['plot']}")
    click.echo(f"flicker (mean |frame - previous frame|, 0..255, {s['cuts']} cuts left out): "
               f"{s['flicker_output']:.2f} against the source's {s['flicker_source']:.2f}")


@cli.command()
@click.argument("run_or_ckpt")
@click.option("--n", type=int, default=64, show_default=True)
@click.option("-o", "--out", default="samples.png", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--backend", default="numpy", show_default=True, type=click.Choice(["numpy", "cupy", "triton"]))
def sample(run_or_ckpt, n, out, seed, backend):
    """A grid of frames decoded from the prior, z ~ N(0, I)."""
    from vaegan.reconstruct import load_model, sample_grid

    _check_out_dir(out)
    model, _ = load_model(run_or_ckpt, backend)
    sample_grid(model, n, out, seed)
    click.echo(f"{out}: {n} samples")


@cli.command()
@click.argument("run_or_ckpt")
@click.argument("film")
@click.option("--from", "t_from", type=float, required=True, help="seconds into FILM")
@click.option("--to", "t_to", type=float, required=True, help="seconds into FILM")
@click.option("--seconds", type=float, default=4.0, show_default=True, help="length of the morph")
@click.option("--fps", type=float, default=25.0, show_default=True)
@click.option("-o", "--out", default="morph.mp4", show_default=True)
@click.option("--backend", default="numpy", show_default=True, type=click.Choice(["numpy", "cupy", "triton"]))
def morph(run_or_ckpt, film, t_from, t_to, seconds, fps, out, backend):
    """A latent interpolation between the frames of FILM at --from and --to, as a short clip."""
    from vaegan.reconstruct import load_model, morph as run_morph

    _check_out_dir(out)
    model, _ = load_model(run_or_ckpt, backend)
    n = run_morph(model, film, t_from, t_to, seconds, out, fps)
    click.echo(f"{out}: {n} frames")


@cli.command("report")
@click.argument("run_dir")
def report_command(run_dir):
    """Write RUN_DIR/report.html: the films side by side, per-frame PSNR, losses, samples, settings."""
    click.echo(_write_report(run_dir))


def _write_report(run_dir):
    from vaegan.report import write_report

    return write_report(run_dir)


def _check_out_dir(path):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UserError(f"{path}: the folder {folder} is not writable")


def main():
    cli(prog_name="vaegan")


if __name__ == "__main__":
    main()
