"""The noise schedule: each form, checked against its formula at chosen progress points."""
import math

import pytest

from vaegan.errors import UserError
from vaegan.schedule import NoiseSchedule


def test_points_interpolate_linearly_and_hold_outside():
    s = NoiseSchedule("1.0@0,0.5@0.6,0.1@1.0")
    assert s(0.0) == pytest.approx(1.0)
    assert s(0.3) == pytest.approx(0.75)          # halfway from 1.0@0 to 0.5@0.6
    assert s(0.8) == pytest.approx(0.3)           # halfway from 0.5@0.6 to 0.1@1.0
    assert s(1.0) == pytest.approx(0.1)
    assert s(-1.0) == pytest.approx(1.0) and s(2.0) == pytest.approx(0.1)  # clamped progress


def test_points_need_not_be_sorted_and_hold_before_first():
    s = NoiseSchedule("0.2@1.0,0.8@0.5")
    assert s(0.1) == pytest.approx(0.8)
    assert s(0.75) == pytest.approx(0.5)


@pytest.mark.parametrize("p", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_named_shapes(p):
    assert NoiseSchedule("linear:1.0:0.1")(p) == pytest.approx(1.0 - 0.9 * p)
    assert NoiseSchedule("cosine:1.0:0.1")(p) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))
    assert NoiseSchedule("constant:0.7")(p) == pytest.approx(0.7)
    assert NoiseSchedule("0.7")(p) == pytest.approx(0.7)


def test_step_shape_has_equal_segments():
    s = NoiseSchedule("step:1.0:0.5:0.1")
    assert [s(p) for p in (0.0, 0.32, 0.34, 0.65, 0.67, 1.0)] == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.1, 0.1])


@pytest.mark.parametrize("spec", ["", "abc", "1.0@0,x@1", "linear:1.0", "cosine:a:b", "1.0@2.0", "-1", "1@2@3"])
def test_bad_specs_are_user_errors(spec):
    with pytest.raises(UserError, match="noise schedule"):
        NoiseSchedule(spec)
