"""The prior samples' score (vaegan/sliced_wasserstein.py): the Laplacian pyramid adds back up to the
image, the 1-D Wasserstein distance of a shifted set is the shift, and on a film (the generated sample
clip, three shots): a copy of the frames scores at the floor (no further from the film than the film's
halves are from each other), a blurred copy above the copy, uniform noise far above the floor."""
import numpy as np
import pytest

from vaegan.media.sample_clip import generated_frames
from vaegan.sliced_wasserstein import _up, laplacian_pyramid, sample_score, sliced_wasserstein

EXACT = 1e-9           # float64 sums of O(255) numbers
PROJECTED = 1e-5       # the projections are float32 (relative error ~1e-7) of O(1) values
FAR = 2.0              # "far above the floor": at least twice it. Every set is normalised to unit
                       # variance per channel before projecting, so noise differs from film only in its
                       # patches' shape, not their energy: 2.5-3x the floor on the films measured


@pytest.fixture(scope="module")
def film():
    return np.stack(list(generated_frames(size=(32, 24))))


def test_the_pyramid_adds_back_up_to_the_image(rng):
    images = rng.uniform(0, 255, (2, 24, 40, 3))
    levels = laplacian_pyramid(images)
    assert len(levels) >= 2 and levels[-1].shape[1] < 24
    total = levels[-1]
    for band in reversed(levels[:-1]):
        total = band + _up(total, band.shape[1:3])
    assert np.max(np.abs(total - images)) < EXACT


def test_a_shifted_set_is_as_far_as_its_shift_on_each_direction(rng):
    a = rng.normal(0, 1, (300, 12))
    shift = rng.normal(0, 1, 12)
    got = sliced_wasserstein(a, a + shift, np.random.default_rng(5), directions=64)
    v = np.random.default_rng(5).standard_normal((12, 64))     # the directions it drew
    v /= np.linalg.norm(v, axis=0, keepdims=True)
    assert abs(got - np.abs(shift @ v).mean()) < PROJECTED
    assert sliced_wasserstein(a, a, np.random.default_rng(5), directions=64) == 0


def test_a_copy_scores_at_the_floor_and_noise_far_above(film, rng):
    copy = sample_score(film.copy(), film)
    assert copy["swd"] <= copy["floor"], copy
    blurred = (film[:, :-1, :-1].astype(float) + film[:, 1:, 1:] + film[:, 1:, :-1] + film[:, :-1, 1:]) / 4
    blurred = np.pad(blurred, ((0, 0), (0, 1), (0, 1), (0, 0)), mode="edge")
    assert sample_score(blurred, film)["swd"] > copy["swd"]
    noise = rng.integers(0, 256, film.shape).astype(np.uint8)
    assert sample_score(noise, film)["swd"] > FAR * copy["floor"]

