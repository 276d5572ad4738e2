"""What tests/test_triton_backend.py launches on the GPU, written once, so that the test and the cache
warmer (bench/warm_caches.py, which compiles every kernel the GPU check needs before it starts) cannot
disagree about it:

* FLAVOURS: every case of tests/op_cases.py in float32 with tl.dot "ieee", in float32 "tf32" where the op
  multiplies matrices (the ops in TF32_OPS), and in float64;
* TRAINING: a few VAE-GAN steps of the two small test models, in both precisions, on BATCH frames.

`drive(backend, rng)` runs all of it on `backend` with inputs of the real shapes, results unused: under
kernels.triton.runtime.record_specializations() that records what the GPU tests will compile.
"""
import numpy as np

from tests import op_cases
from tests.triton_shim import TF32_OPS, training_history

TRAINING_CONFIGS = ("MINI", "MINI_FC")      # the model configs of tests/test_vaegan_step.py
TRAINING_PRECISIONS = ("ieee", "tf32")
BATCH, STEPS = 4, 3


def flavours(cases=None):
    """(case, dtype, precision) for every case: float32 "ieee", float32 "tf32" where it changes anything,
    float64."""
    out = []
    for case in op_cases.CASES if cases is None else cases:
        out.append((case, np.float32, "ieee"))
        if case.op.startswith(TF32_OPS):
            out.append((case, np.float32, "tf32"))
        out.append((case, np.float64, "ieee"))
    return out


def flavour_id(case, dtype, precision):
    return f"{case.name}-float64" if dtype == np.float64 else f"{case.name}-float32-{precision}"


def training_inputs(cfg, rng):
    """Frames with some spatial structure, and the (eps, z_p) noise of each step."""
    x = np.clip(rng.standard_normal((BATCH, 3, cfg.height, cfg.width)).cumsum(axis=3) * 0.3, -1, 1)
    noise = [[rng.standard_normal((BATCH, cfg.z_dim)).astype("float32") for _ in range(2)] for _ in range(STEPS)]
    return x.astype("float32"), noise


def training_config(name):
    import tests.test_vaegan_step as step_tests
    return getattr(step_tests, name)


def drive(backend, rng):
    """Every op flavour, then the training steps, on `backend` (kernels.triton or a wrapper of it)."""
    for case, dtype, precision in flavours():
        backend.set_precision(precision)
        case.run(backend, case.make(rng, dtype))
    for name in TRAINING_CONFIGS:
        for precision in TRAINING_PRECISIONS:
            backend.set_precision(precision)
            cfg = training_config(name)
            training_history(backend, cfg, *training_inputs(cfg, rng))
    backend.set_precision("ieee")
