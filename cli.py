"""Command line of the film VAE-GAN. Thin on purpose: parse, call into vaegan/, report.

    python cli.py info                          which backends can run here
    python cli.py probe FILM                    what is inside a video file
    python cli.py frames FILM -o STORE          decode a film into a frame store
    python cli.py train [FILM]                  learn a film (the sample clip when none is given)
    python cli.py reconstruct RUN FILM -o OUT   re-imagine any film with a trained model
"""
import errno
import sys

import click

from vaegan import __version__
from vaegan.errors import UserError


class Commands(click.Group):
    """A click group that turns our errors into one line and a non-zero exit, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as e:
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
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

# --- model: train / reconstruct / sample / morph (vaegan/train.py, vaegan/reconstruct.py) ------


def main():
    cli(prog_name="vaegan")


if __name__ == "__main__":
    main()
