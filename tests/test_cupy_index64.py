"""The 64-bit branches of kernels/cupy/channel_index.cuh compute exactly what the 32-bit ones do.

The per-channel loops (batch-norm statistics, apply and backward; the channel bias and its gradient)
decode positions in 32-bit arithmetic while every index they form stays at or below INDEX32_LAST
(2^32 - 1), and in 64 bits past it. No test can afford a tensor of 2^32 elements, so every other test
runs the 32-bit branches only. Here the host build (tests/host_cuda.py) is compiled a second time with
VAEGAN_INDEX32_LAST lowered: to 0, where every loop takes the 64-bit branch, and to 600, where the small
cases stay in 32 bits and the larger ones (and the larger launches of one op) go to 64, mixed in one
run. Every case that reaches those loops (awkward and multi-tile, both launch plans of
test_cupy_host.py) must give the same outputs, bit for bit, as the default build: the two branches
visit the same positions in the same order, so any difference is a decoding bug of one branch. In
float32 only: the index arithmetic is the same code whatever the data type.

What it cannot check: the 64-bit branch at a real size past 2^32 (the arithmetic is the same; the
launchers' own 64-bit sizes are checked in tests/test_contract.py), nor the speed difference that is the
branch's reason to exist (bench/).
"""
import numpy as np
import pytest

from kernels.cupy import plan, runtime
from tests import host_cuda, op_cases
from tests.host_cuda import HostKernels
from tests.test_cupy_host import TIGHT, _host_backend

# the ops whose kernels loop with channel_index.cuh: batch-norm (stats, apply, backward), the channel bias
# of a convolution (bias_forward) and its gradient (bias_backward_partial)
PER_CHANNEL_OPS = ("batch_norm", "conv2d_forward", "conv2d_backward_weight", "conv_transpose2d_forward",
                   "conv_transpose2d_backward_weight")
CASES = [c for c in op_cases.AWKWARD_CASES + op_cases.MULTI_TILE_CASES
         if c.op.startswith(PER_CHANNEL_OPS) and (c.op.startswith("batch_norm") or "nobias" not in c.name)
         and not (c in op_cases.MULTI_TILE_CASES and c.op.startswith("conv"))]
THRESHOLDS = ("0", "600")


@pytest.fixture(scope="module")
def default_build():
    return HostKernels(host_cuda.library())


@pytest.fixture(scope="module", params=THRESHOLDS, ids=lambda t: f"INDEX32_LAST={t}")
def lowered_build(request):
    return HostKernels(host_cuda.library(defines={"VAEGAN_INDEX32_LAST": request.param}))


def outputs(kernels, case, inputs):
    runtime.use_host(np, kernels)
    runtime.set_poison(True)
    try:
        return [np.array(o) for o in case.run(_host_backend(), inputs)]
    finally:
        runtime.set_poison(False)
        runtime.use_host(None, None)


def test_cases_reach_every_per_channel_kernel():
    ops = {c.op for c in CASES}
    assert {"batch_norm_act_forward", "batch_norm_act_backward", "batch_norm_act_inference",
            "conv2d_forward", "conv2d_backward_weight"} <= ops, ops


@pytest.mark.parametrize("launch_plan", ["h100", "tight"])
def test_64_bit_branches_equal_the_32_bit_ones(default_build, lowered_build, launch_plan, rng, monkeypatch):
    if launch_plan == "tight":
        for k, v in TIGHT.items():
            monkeypatch.setattr(plan, k, v)
    differ = []
    for case in CASES:
        inputs = case.make(rng, "float32")
        want, got = outputs(default_build, case, inputs), outputs(lowered_build, case, inputs)
        for i, (w, g) in enumerate(zip(want, got)):
            assert np.isfinite(w).all(), f"{case.name} output {i}: the default build gives non-finite values"
            if w.tobytes() != g.tobytes():
                differ.append(f"{case.name} output {i}: max |difference| {np.max(np.abs(w - g)):.3g}")
    assert not differ, f"{len(differ)} outputs differ between the branches:\n" + "\n".join(differ[:10])
