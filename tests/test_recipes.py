"""The recipes (vaegan/recipes.py) and the one default: TrainConfig's and RunOptions' defaults are the
default recipe's; vaegan.train.settings turns any recipe and overrides into the settings of a run, kl_weight
resolved; `python cli.py train` trains with exactly those; a run saved before a setting existed resumes
with the value it trained with. (What the docs say the defaults are: tests/test_docs.py.)"""
import pytest
from click.testing import CliRunner

import cli
import vaegan.train as train_module
from kernels import get_backend
from tests.films import write_film
from tests.test_vaegan_step import MINI
from vaegan.errors import UserError
from vaegan.model import VAEGAN
from vaegan.recipes import RECIPES
from vaegan.step import TrainConfig, forward_and_gradients, larsen_kl_weight
from vaegan.train import RunOptions, settings


def _value(s, key):
    return getattr(s.train if key in TrainConfig.__dataclass_fields__ else s.run, key)


def test_the_dataclasses_default_to_the_default_recipe():
    bare = TrainConfig(), RunOptions(film="", out="")
    for key, value in RECIPES["default"].items():
        got = [getattr(d, key) for d in bare if key in d.__dataclass_fields__]
        assert got == [value], f"{key}: the dataclass's default {got} is not the default recipe's {value!r}"


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_settings_carry_every_value_of_a_recipe(recipe):
    s = settings(recipe, preset="tiny")
    for key, value in RECIPES[recipe].items():
        if key == "kl_weight":        # resolved for the model: "auto" is Larsen's balance, "auto*N" N times it
            times = 1.0 if value == "auto" else float(value.split("*")[1])
            assert s.train.kl_weight == pytest.approx(times * larsen_kl_weight(s.model))
        else:
            assert _value(s, key) == value, key


def test_an_override_wins_and_none_is_not_given():
    s = settings("larsen", lr=5e-4, gen_weight=None, ema=0.5, z_dim=16)
    assert (s.train.lr, s.train.gen_weight, s.run.ema) == (5e-4, RECIPES["larsen"]["gen_weight"], 0.5)
    assert s.model.z_dim == 16 and s.train.kl_weight == pytest.approx(larsen_kl_weight(s.model))
    assert settings("seed", kl_weight="auto*2").train.kl_weight == pytest.approx(2 * settings("seed").train.kl_weight)


def test_an_unknown_recipe_or_setting_is_refused():
    with pytest.raises(UserError, match="unknown recipe 'nonesuch'"):
        settings("nonesuch")
    with pytest.raises(UserError, match="unknown setting 'learning_rate'"):
        settings("default", learning_rate=1e-3)


def test_kl_weight_specs_resolve_for_a_model_and_the_step_takes_numbers_only():
    tc = TrainConfig()
    assert tc.kl_weight == RECIPES["default"]["kl_weight"] and isinstance(tc.kl_weight, str)
    assert tc.resolved(MINI).kl_weight == pytest.approx(30 * larsen_kl_weight(MINI))
    assert TrainConfig(kl_weight="0.25").resolved(MINI).kl_weight == 0.25
    for bad in ("auto*x", "auto*-1", "lots"):
        with pytest.raises(ValueError, match="kl-weight"):
            TrainConfig(kl_weight=bad).resolved(MINI)
    model = VAEGAN(get_backend("numpy"), MINI, seed=0)
    with pytest.raises(ValueError, match="resolved"):
        forward_and_gradients(model, None, None, None, 1.0, tc)


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    return write_film(tmp_path_factory.mktemp("film") / "clip.mp4", n=8, size=(48, 36), fps=10)


class Built(Exception):
    pass


@pytest.mark.parametrize("argv, recipe, overrides", [
    ([], "default", {}),
    (["--recipe", "seed"], "seed", {}),
    (["--recipe", "larsen", "--lr", "1e-3", "--no-prior-bn-stats", "--kl-weight", "auto*3", "--ema", "0.9"],
     "larsen", dict(lr=1e-3, prior_bn_stats=False, kl_weight="auto*3", ema=0.9)),
])
def test_the_train_command_trains_with_the_recipes_settings(film, tmp_path, monkeypatch, argv, recipe, overrides):
    seen = []

    def capture(opts, tc, *rest):
        seen.append((opts, tc))
        raise Built()

    monkeypatch.setattr(train_module, "new_run", capture)
    out = str(tmp_path / "run")
    result = CliRunner().invoke(cli.cli, ["train", str(film), "--out", out, *argv])
    assert isinstance(result.exception, Built), result.output
    want = settings(recipe, film=str(film), out=out, **overrides)
    assert seen == [(want.run, want.train)]


def test_a_run_saved_before_a_setting_existed_resumes_with_what_it_trained_with():
    run, train = train_module._saved_settings({"film": "f.mp4", "out": "r", "noise": "backend"},
                                             {"gamma": 2.5, "kl_weight": 0.1, "lr": 2e-4})
    seed = RECIPES["seed"]
    assert (run.ema, run.lr_schedule, run.kl_warmup) == (seed["ema"], seed["lr_schedule"], seed["kl_warmup"])
    assert (train.pixel_weight, train.gen_weight, train.gen_loss, train.prior_bn_stats) == \
        (seed["pixel_weight"], seed["gen_weight"], seed["gen_loss"], seed["prior_bn_stats"])
    assert (train.kl_weight, train.lr, run.film) == (0.1, 2e-4, "f.mp4")
