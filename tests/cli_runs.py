"""The command line as the CLI tests drive it, in this process: `invoke(*args)` (click's runner, each
argument as text, exceptions raised rather than caught) and SMALL, the options of a model small enough
that a few epochs of `train` take seconds. No tests here."""
from click.testing import CliRunner

import cli

SMALL = ["--width", "32", "--height", "24", "--base-width", "4", "--z-dim", "8", "--batch-size", "4"]


def invoke(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)
