"""Every numeric option of every command refuses a value out of its range in one line, before anything
runs: exit code 2, `Error: Invalid value for '--opt': ...`, no traceback. The options are found by
walking the click commands, so an option added later without a range fails here."""
import math

import pytest
from click.testing import CliRunner

import cli

# what the commands' required arguments and options need to get as far as parsing the bad one
PLACEHOLDERS = {"run_or_ckpt": "RUN", "film": "FILM.mp4", "store_dir": "STORE", "out": "OUT.mp4",
                "t_from": "0", "t_to": "1"}


def numeric_options():
    for name, command in sorted(cli.cli.commands.items()):
        for param in command.params:
            if isinstance(param, cli.click.Option) and isinstance(param.type, (cli.Number, cli.click.types._NumberParamTypeBase)):
                yield name, command, param


def out_of_range(kind):
    """Values just outside the option's range (and NaN / infinity for floats)."""
    bad = []
    if kind.low is not None:
        step = 1 if kind.kind is int else 0.5
        bad.append(kind.low if kind.low_open else kind.low - step)
    if kind.high is not None:
        step = 1 if kind.kind is int else 0.5
        bad.append(kind.high if kind.high_open else kind.high + step)
    if kind.kind is float:
        bad += [math.nan, math.inf]
    else:
        bad.append(1.5)       # not a whole number
    return bad


def argv_for(name, command, param, value):
    argv = [name]
    for p in command.params:
        if p is param or not p.required:
            continue
        placeholder = PLACEHOLDERS[p.name]
        argv += [placeholder] if isinstance(p, cli.click.Argument) else [p.opts[0], placeholder]
    return argv + [param.opts[0], str(value)]


CASES = [(name, command, param, value) for name, command, param in numeric_options()
         if isinstance(param.type, cli.Number) for value in out_of_range(param.type)]


def test_every_numeric_option_has_a_range():
    plain = [f"{name} {param.opts[0]}" for name, _, param in numeric_options() if not isinstance(param.type, cli.Number)]
    assert not plain, f"numeric options without a range (use cli.Int / cli.Float): {plain}"
    assert len(CASES) > 40      # the walk found the options (frames, train, reconstruct, sample, morph)


@pytest.mark.parametrize("name,command,param,value", CASES,
                         ids=[f"{c[0]}{c[2].opts[0]}={c[3]}" for c in CASES])
def test_an_out_of_range_number_is_one_line_and_exit_2(name, command, param, value):
    result = CliRunner().invoke(cli.cli, argv_for(name, command, param, value))
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith(f"Error: Invalid value for '{param.opts[0]}'"), result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)   # no exception escaped


def test_sample_n_zero_names_the_option():
    result = CliRunner().invoke(cli.cli, ["sample", "RUN", "--n", "0"])
    assert result.exit_code == 2
    assert result.output.strip() == "Error: Invalid value for '--n': 0 is out of range (must be >= 1)"


def test_an_in_range_number_passes_parsing():
    """The ranges refuse only what is wrong: a valid --n gets past parsing to the missing checkpoint."""
    result = CliRunner().invoke(cli.cli, ["sample", "no_such_run", "--n", "4"])
    assert result.exit_code == 1 and "no such checkpoint" in result.output
