"""The CuPy backend against the NumPy reference, on a GPU (every test here is marked `gpu` and skips
where CuPy finds no device).

* Every case of tests/op_cases.py (awkward shapes and the real layers of broad256x144 and larsen64)
  on fresh random inputs, float32 and float64, with every output buffer poisoned with NaN before the
  kernels write it (kernels.cupy.set_poison), so an element a kernel forgets to write fails the test.
  Convolution cases run every variant of kernels.cupy.CONV_VARIANTS on the same inputs.
* The contract: kernels.api.missing_names(cupy backend) == [].
* normal(): a pure function of its key, and standard normal.
* End to end: a few VAE-GAN training steps from the same seed with the same host noise give the same
  losses on cupy as on numpy (vaegan.step.training_step on a tiny model).

Error bounds (relative L2 error |got - want| / |want| per output):
  FLOAT32_BOUND   1e-5: the team's bound for float32 paths. Our kernels accumulate in float32 (GEMMs,
                  batch norm) or double (losses, bias gradients); the reference in float32 or float64:
                  both are ~1e-7 off the exact result on these sizes, a wrong index or a missing term is
                  >= 1e-2. A batch-norm backward's outputs are measured against the size of the terms
                  that cancel in them (op_cases.cancellation_floor).
  FLOAT64_BOUND   1e-12: the same argument at double precision (~1e-16 per rounding, sums of <= 1e5 terms).
  TF32_BOUND      3e-3 for the "implicit_tf32" convolutions: TF32 keeps 10 of float32's 23 mantissa
                  bits, so each operand is rounded to within 2^-11 (4.9e-4) relative. With both
                  factors of every product rounded, errors of random sign add in quadrature and the
                  relative L2 error of a convolution output is a few 1e-4 (a NumPy simulation, both
                  operands rounded to TF32, over every conv case of op_cases: at most 5.3e-4, median
                  2.9e-4); 3e-3 is 5x that, while an indexing error would be O(1).
Set CUPY_TF32=1 in the environment and cuBLAS rounds float32 GEMMs to TF32 too: the float32 "im2col"
and linear cases then fail their 1e-5 bound, as they should.
"""
import numpy as np
import pytest

from kernels import get_backend
from kernels.api import missing_names
from tests.op_cases import CASES, cancellation_floor

pytestmark = pytest.mark.gpu

FLOAT32_BOUND = 1e-5
FLOAT64_BOUND = 1e-12
TF32_BOUND = 3e-3
REFERENCE = get_backend("numpy")


def relative_error(got, want, floor=0.0):
    """|got - want|_2 / max(|want|_2, floor), in float64 (NaN, from a poisoned element never written,
    stays NaN and fails every bound)."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    scale = max(np.linalg.norm(want), floor)
    return np.linalg.norm(got - want) / (scale if scale > 0 else 1.0)


def case_errors(K, case, inputs, want):
    """Run `case` on backend K; [(output index, relative error)] against the reference outputs `want`."""
    got = case.run(K, inputs)
    assert len(got) == len(want), f"{case.name}: {len(got)} outputs, the reference gives {len(want)}"
    errors = []
    for i, (g, w) in enumerate(zip(got, want)):
        assert isinstance(g, K.xp.ndarray), f"{case.name} output {i} is a {type(g).__name__}, not a backend array"
        g = K.to_numpy(g)
        assert g.dtype == w.dtype and g.shape == w.shape, \
            f"{case.name} output {i}: {g.dtype}{g.shape}, the reference gives {w.dtype}{w.shape}"
        errors.append((i, relative_error(g, w, cancellation_floor(case, inputs, i))))
    return errors


def bound(dtype, variant=None):
    if np.dtype(dtype) == np.float64:
        return FLOAT64_BOUND
    return TF32_BOUND if variant == "implicit_tf32" else FLOAT32_BOUND


def check_case(K, case, dtype, rng, variants=(None,), select=None):
    """Fresh inputs of `dtype`; every variant (selected with select(variant)) against the reference."""
    inputs = case.make(rng, dtype)
    want = case.run(REFERENCE, inputs)
    failures = []
    for variant in variants:
        if select is not None:
            select(variant)
        for i, err in case_errors(K, case, inputs, want):
            if not err < bound(dtype, variant):   # written so that NaN fails
                failures.append(f"{variant or K.name} output {i}: relative L2 error {err:.2e} "
                                f"(bound {bound(dtype, variant):.0e})")
    assert not failures, f"{case.name} ({np.dtype(dtype)}): " + "; ".join(failures)


# --- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def K():
    return get_backend("cupy")


@pytest.fixture
def poisoned(K):
    """Every buffer the backend allocates is NaN until a kernel writes it; the variant is reset after."""
    from kernels.cupy import conv, runtime
    before = conv.conv_variant()
    runtime.set_poison(True)
    yield
    runtime.set_poison(False)
    conv.set_conv_variant(before)


CONV_CASES = [c for c in CASES if c.op.startswith("conv")]
OTHER_CASES = [c for c in CASES if not c.op.startswith("conv")]


# --- every op against the reference ---------------------------------------------------------------

def test_backend_meets_the_contract(K):
    assert missing_names(K) == []
    assert K.name == "cupy" and K.xp.__name__ == "cupy"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: c.name)
def test_convolution_every_variant_against_reference(K, case, dtype, rng, poisoned):
    from kernels.cupy import CONV_VARIANTS, set_conv_variant
    # float64 runs "implicit_tf32" as "implicit" (TF32 is a float32 format): no need to run it twice
    variants = CONV_VARIANTS if dtype == "float32" else tuple(v for v in CONV_VARIANTS if v != "implicit_tf32")
    check_case(K, case, dtype, rng, variants, set_conv_variant)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", OTHER_CASES, ids=lambda c: c.name)
def test_op_against_reference(K, case, dtype, rng, poisoned):
    check_case(K, case, dtype, rng)


def check_argument_errors(K):
    """Bad arguments raise ValueError naming the argument, before any launch (shared with the host tests)."""
    x = K.asarray(np.zeros((2, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match="input channels"):
        K.conv2d_forward(x, K.asarray(np.zeros((4, 2, 3, 3), np.float32)), None, 1, 1)
    with pytest.raises(ValueError, match="stride"):
        K.conv2d_forward(x, K.asarray(np.zeros((4, 3, 3, 3), np.float32)), None, 0, 1)
    with pytest.raises(ValueError, match="x_shape"):
        K.conv2d_backward_data(x, K.asarray(np.zeros((4, 3, 3, 3), np.float32)), (2, 3, 5), 1, 1)
    with pytest.raises(ValueError, match="x must be a CuPy device array"):
        K.relu_forward([1.0, 2.0])
    with pytest.raises(ValueError, match="b must have dtype float32"):
        K.mse(K.asarray(np.zeros(3, np.float32)), K.asarray(np.zeros(3, np.float64)))
    with pytest.raises(ValueError, match="slope"):
        K.leaky_relu_forward(x, 1.5)
    with pytest.raises(ValueError, match="eps must be positive"):
        K.batch_norm_forward(x, K.asarray(np.ones(3, np.float32)), K.asarray(np.zeros(3, np.float32)), 0.0)
    with pytest.raises(ValueError, match="sigma"):
        K.reparam_forward(x, x, x, -1.0)
    with pytest.raises(ValueError, match="dy must have shape"):
        K.conv_transpose2d_backward_weight(x, x, (3, 4, 3, 3), 2, 1)
    p = K.asarray(np.zeros((4, 4), np.float32)).T
    with pytest.raises(ValueError, match="param must be C-contiguous"):
        K.adam_step(p, p.copy(), p.copy(), p.copy(), 1, 1e-3, 0.9, 0.999, 1e-8, 0.0)
    with pytest.raises(ValueError, match="step"):
        K.adam_step(p.copy(), p.copy(), p.copy(), p.copy(), 0, 1e-3, 0.9, 0.999, 1e-8, 0.0)


def test_arguments_are_checked_like_the_reference(K):
    check_argument_errors(K)


# --- noise on the device ------------------------------------------------------------------------------

def test_normal_is_a_pure_function_of_its_key(K):
    a = K.to_numpy(K.normal((999, 7), (3, 14, 0), "float32"))
    K.normal((5,), (3, 14, 1), "float32")                  # another draw in between changes nothing
    b = K.to_numpy(K.normal((999, 7), (3, 14, 0), "float32"))
    c = K.to_numpy(K.normal((999, 7), (3, 15, 0), "float32"))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and not np.allclose(a, c)
    # standard normal: mean and std of 6993 draws within 5 standard errors of (0, 1)
    assert abs(a.mean()) < 5 / np.sqrt(a.size) and abs(a.std() - 1) < 5 / np.sqrt(2 * a.size)
    assert K.normal((3,), (1,), "float64").dtype == np.float64
    with pytest.raises(ValueError, match="key"):
        K.normal((3,), (1, -2), "float32")


# --- end to end: a few training steps ---------------------------------------------------------------------

# Bounds on the relative difference of each loss after STEPS steps (cupy vs numpy, same weights, same noise):
#   float64       1e-10: every op agrees to ~1e-15; Adam's first step moves each weight by ~lr * sign(g),
#                 which only a gradient within ~1e-15 of zero could flip. (The host build of these kernels,
#                 tests/test_cupy_host.py, differs from numpy by at most 7e-16.)
#   float32       1e-4: the ops agree to ~1e-7 and the losses at step 1 to ~1e-6; the same sign argument
#                 holds at 1e-7, so the two runs drift apart by little more than rounding over 3 steps.
#                 (Host build: at most 7e-7. The GPU adds FMA contraction and its own exp/tanh.)
#   tf32          5e-3: the convolutions differ by a few 1e-4 (see TF32_BOUND); a NumPy run of these steps
#                 with every convolution's operands rounded to TF32 differs from the exact run by at most
#                 5.2e-4 over four seeds; 5e-3 is 10x that.
STEPS = 3
E2E_BOUNDS = {("float64", "im2col"): 1e-10, ("float64", "implicit"): 1e-10, ("float32", "im2col"): 1e-4,
              ("float32", "implicit"): 1e-4, ("float32", "implicit_tf32"): 5e-3}


def run_steps(K, dtype, steps=STEPS, seed=7):
    """Losses of `steps` training steps of a tiny VAE-GAN; inputs and noise drawn on the host."""
    from vaegan.config import ModelConfig
    from vaegan.model import VAEGAN
    from vaegan.optim import Adam
    from vaegan.step import training_step
    from vaegan.train import settings

    cfg = ModelConfig(name="mini", width=16, height=12, z_dim=6, enc_widths=(4, 6), dec_start=6, dec_widths=(4, 3),
                      disc_widths=(4, 6), disc_strides=(2, 2), sim_layers=(0, 1))
    tc = settings("seed", kl_weight=1.0).train
    model = VAEGAN(K, cfg, seed=seed, dtype=dtype)
    optimizers = {n: Adam(K, f, lr=tc.lr, beta1=tc.beta1) for n, f in model.flat.items()}
    rng = np.random.default_rng(seed)
    x = np.clip(rng.standard_normal((4, 3, cfg.height, cfg.width)).cumsum(axis=3) * 0.3, -1, 1).astype(dtype)
    history = []
    for _ in range(steps):
        eps, z_p = (K.asarray(rng.standard_normal((4, cfg.z_dim)).astype(dtype)) for _ in range(2))
        losses, updated = training_step(model, optimizers, K.asarray(x), eps, z_p, 0.8, tc)
        assert updated is not None, f"non-finite loss: {losses}"
        history.append(losses)
    return history


@pytest.mark.parametrize("dtype, variant", sorted(E2E_BOUNDS), ids=lambda v: str(v))
def test_training_steps_match_numpy(K, dtype, variant, poisoned):
    from kernels.cupy import set_conv_variant
    set_conv_variant(variant)
    want = run_steps(REFERENCE, dtype)
    got = run_steps(K, dtype)
    limit = E2E_BOUNDS[dtype, variant]
    for step, (g, w) in enumerate(zip(got, want)):
        for name in w:
            diff = abs(g[name] - w[name]) / max(abs(w[name]), 1e-6)
            assert diff < limit, f"step {step} loss {name}: cupy {g[name]!r} vs numpy {w[name]!r} (rel {diff:.1e})"
