"""The Triton backend on the GPU, against the NumPy reference (marked `gpu`: skipped without a device).

* every case of tests/op_cases.py, awkward shapes and the presets' real layer shapes, in float32 with
  tl.dot in "ieee" (exact float32 products) and, for the ops that use tl.dot, "tf32" (tensor cores),
  and in float64; fresh random inputs, every output buffer poisoned with NaN before its kernel runs;
  bounds (tests/triton_shim.py): 1e-5 for float32 "ieee", 5e-3 for "tf32" (derived there), 1e-12 for
  float64;
* the helpers (CuPy arrays, normal() a pure function of its key), kernels ordered on CuPy's stream;
* a few VAE-GAN training steps with the triton backend against the numpy backend, in both precisions.
"""
import numpy as np
import pytest

from kernels import get_backend
from kernels.api import missing_names
from tests import op_cases, triton_gpu_cases
from tests.triton_shim import bound_for, check_outputs, check_same_training, training_history

pytestmark = pytest.mark.gpu
REF = get_backend("numpy")


@pytest.fixture(scope="module")
def T():
    backend = get_backend("triton")
    backend.set_poison(True)
    yield backend
    backend.set_poison(False)
    backend.set_precision("ieee")


def _flavours():
    return [pytest.param(*f, id=triton_gpu_cases.flavour_id(*f)) for f in triton_gpu_cases.flavours()]


@pytest.mark.parametrize("case, dtype, precision", _flavours())
def test_op_matches_reference(T, case, dtype, precision, rng):
    import cupy

    T.set_precision(precision)
    inputs = case.make(rng, dtype)
    want = case.run(REF, inputs)
    got = case.run(T, inputs)
    assert all(isinstance(g, cupy.ndarray) for g in got), f"{case.name}: outputs must stay on the GPU"
    check_outputs(case, inputs, got, want, bound_for(case, dtype, precision), T.to_numpy)


def test_backend_meets_the_contract(T):
    import cupy

    assert missing_names(T) == []
    assert T.name == "triton" and T.xp is cupy


def test_helpers(T, rng):
    import cupy

    host = rng.standard_normal(5)
    a = T.asarray(host, dtype=np.float32)
    assert isinstance(a, cupy.ndarray) and a.dtype == np.float32
    back = T.to_numpy(a)
    assert isinstance(back, np.ndarray) and np.array_equal(back, host.astype(np.float32))
    z = T.normal((1000, 1000), (3, 1, 4), np.float32)
    assert isinstance(z, cupy.ndarray) and z.dtype == np.float32 and z.shape == (1000, 1000)
    assert cupy.array_equal(z, T.normal((1000, 1000), (3, 1, 4), np.float32))      # a pure function of the key
    assert not cupy.array_equal(z, T.normal((1000, 1000), (3, 1, 5), np.float32))
    # standard normal: over 10^6 draws the sample mean has standard deviation 1e-3 and the sample
    # standard deviation ~7e-4; five of those is far beyond chance and far below any wrong scale
    assert abs(float(z.mean())) < 5e-3 and abs(float(z.std()) - 1.0) < 3.5e-3


def test_kernels_run_in_order_on_cupys_current_stream(T, rng):
    """Triton launches on CuPy's current stream (runtime._CupyDriver): on a non-default stream the
    kernel must see the copy issued just before it and the read-back must see the kernel's result."""
    import cupy

    case = op_cases.cases_for("conv2d_forward", real=True)[0]
    inputs = case.make(rng, np.float32)
    want = case.run(REF, inputs)
    T.set_precision("ieee")
    with cupy.cuda.Stream(non_blocking=True):
        got = case.run(T, inputs)
        check_outputs(case, inputs, got, want, bound_for(case, np.float32), T.to_numpy)


# Bounds for the training steps. "ieee": float32 rounding through a dozen layers forward and back,
# ~1e-6 (measured under the interpreter); 1e-5 keeps a 10x margin. "tf32": every convolution and
# linear layer errs by ~7e-4 (triton_shim.TF32_BOUND); a loss or gradient passes through ~10 of them
# and independent errors add in quadrature, ~2e-3; 2e-2 keeps a 10x margin and still fails a wrong
# gradient (O(1)).
STEP_BOUNDS = {"ieee": 1e-5, "tf32": 2e-2}


@pytest.mark.parametrize("precision", triton_gpu_cases.TRAINING_PRECISIONS)
@pytest.mark.parametrize("config_name", triton_gpu_cases.TRAINING_CONFIGS)
def test_training_steps_match_the_numpy_backend(T, precision, config_name, rng):
    """Three VAE-GAN steps from the same weights, frames and noise: each step's losses, and each
    network's gradient after it. (The only gradients that are rounding noise, those of convolution
    biases followed by batch norm, have no effect on any loss: see the interpreted test.)"""
    cfg = triton_gpu_cases.training_config(config_name)
    T.set_precision(precision)
    x, noise = triton_gpu_cases.training_inputs(cfg, rng)
    check_same_training(training_history(REF, cfg, x, noise), training_history(T, cfg, x, noise),
                        STEP_BOUNDS[precision])
