"""The Laplacian error (vaegan/laplacian_error.py): its Laplacian is the 5-point stencil with zeros
outside the frame, symmetric, and its gradient is L_lap's, checked against central finite differences in
float64. How the step adds it is checked against PyTorch's autograd (tests/test_torch_oracle.py, the
"laplacian" settings)."""
import numpy as np

from vaegan.laplacian_error import laplacian, laplacian_error, laplacian_error_gradient

FD_STEP, FD_TOL = 1e-6, 1e-7


def stencil(a):
    """The same Laplacian written out: a padded with zeros, then 4 a[i, j] minus the four neighbours."""
    p = np.pad(a, ((0, 0), (0, 0), (1, 1), (1, 1)))
    return 4 * p[:, :, 1:-1, 1:-1] - p[:, :, :-2, 1:-1] - p[:, :, 2:, 1:-1] - p[:, :, 1:-1, :-2] - p[:, :, 1:-1, 2:]


def test_the_laplacian_is_the_five_point_stencil_with_zeros_outside():
    rng = np.random.default_rng(0)
    for shape in ((2, 3, 5, 7), (1, 1, 1, 4), (3, 2, 6, 1)):
        a = rng.standard_normal(shape)
        np.testing.assert_allclose(laplacian(a), stencil(a), rtol=0, atol=1e-12)
    ramp = np.add.outer(np.arange(6.0), 2 * np.arange(8.0))[None, None]      # a linear ramp: 0 inside
    assert np.abs(laplacian(ramp)[:, :, 1:-1, 1:-1]).max() == 0


def test_the_laplacian_is_symmetric():
    """<L a, b> = <a, L b>: why the gradient is L applied twice (the module's docstring)."""
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((2, 3, 6, 5))
    assert abs(np.sum(laplacian(a) * b) - np.sum(a * laplacian(b))) < 1e-10


def test_the_gradient_is_the_losses_by_central_differences():
    rng = np.random.default_rng(2)
    x_rec, x = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 4, 5))
    grad = laplacian_error_gradient(x_rec, x)
    numeric = np.zeros_like(x_rec)
    for i in np.ndindex(x_rec.shape):
        up, down = x_rec.copy(), x_rec.copy()
        up[i] += FD_STEP
        down[i] -= FD_STEP
        numeric[i] = (laplacian_error(up, x) - laplacian_error(down, x)) / (2 * FD_STEP)
    assert np.abs(grad - numeric).max() < FD_TOL * max(1.0, np.abs(numeric).max())
    assert laplacian_error(x, x) == 0 and not laplacian_error_gradient(x, x).any()


def test_float32_stays_float32():
    rng = np.random.default_rng(3)
    x_rec, x = (rng.standard_normal((2, 3, 4, 5)).astype(np.float32) for _ in range(2))
    assert laplacian_error_gradient(x_rec, x).dtype == np.float32
