"""The Triton backend's kernels, run on the CPU by Triton's interpreter, against the NumPy reference.

Every op goes through the backend's own launchers (argument checks, block sizes, grids, split-K and
two-stage reductions included) on a private copy of kernels.triton whose kernels were decorated with
TRITON_INTERPRET=1 and whose arrays are NumPy arrays (tests/triton_shim.py); the package itself, and
with it the compile test and the GPU tests in the same process, is untouched.

* every awkward case of tests/op_cases.py, float32 (tl.dot with input_precision="ieee") and float64,
  outputs poisoned with NaN before every launch, against the reference;
* a few larger shapes that make the launchers split their reductions over several programs (on the
  interpreter the backend assumes a device of 4 programs, so these paths run on small shapes too);
* multi-tile shapes (op_cases.MULTI_TILE_CASES: 70-260 channels) that need a second program along every
  axis a kernel tiles, each autotuned kernel at every one of its configs (runtime.set_forced_config);
* the contract's helpers, its argument checks (the reference's ValueErrors), in-place Adam on a view;
* the adapter itself (pinned to the Triton version whose internals it uses);
* two VAE-GAN training steps of a tiny model, against the numpy backend (losses and gradients).
Each kernel instance runs as NumPy code, ~0.5 ms per program, so the shapes stay small.
"""
import numpy as np
import pytest
import triton

from kernels import get_backend
from kernels.api import OPS, missing_names
from tests import op_cases
from tests.op_cases import conv, conv_t
from tests.triton_shim import (TRITON_VERSION, HostTensor, bound_for, check_outputs, check_same_training,
                               interpreted_backend, relative_l2, training_history)

REF = get_backend("numpy")
DTYPES = (np.float32, np.float64)


@pytest.fixture(scope="module")
def T():
    backend = interpreted_backend()
    backend.set_precision("ieee")
    backend.set_poison(True)
    return backend


def run_against_reference(T, case, rng, dtype):
    inputs = case.make(rng, dtype)
    want = case.run(REF, inputs)
    got = case.run(T, inputs)
    check_outputs(case, inputs, got, want, bound_for(case, dtype), T.to_numpy)


# --- every op on the awkward shapes -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", op_cases.AWKWARD_CASES, ids=repr)
def test_op_matches_reference(T, case, rng, dtype):
    run_against_reference(T, case, rng, dtype)


# --- shapes on which the launchers split a reduction over several programs ---------------------------
# (the interpreted backend assumes 4 programs fill the device: runtime.parallelism)

def _only(cases, *ops):
    return [c for c in cases if c.op in ops]


SPLIT_CASES = (
    # weight gradient split-K: N*H_out*W_out = 2048 output pixels in 4 slabs of 512, then reduce.finish;
    # the bias gradient in two partial rows per channel (bias_backward)
    _only(op_cases.conv_cases(conv(2, 2, 3, 32, 32, k=3, stride=1, padding=1)), "conv2d_backward_weight")
    + _only(op_cases.conv_cases(conv_t(2, 3, 2, 16, 32, k=3, stride=2, padding=1, output_padding=1)),
            "conv_transpose2d_backward_weight")
    # split-K over 600 inputs, the bias added by the reduction rather than the GEMM
    + _only(op_cases.linear_cases(3, 600, 5, True), "linear_forward")
    # batch-norm sums over 6400 values per channel in 2 splits (tall tiles), and 300 rows in 3 (wide)
    + _only(op_cases.bn_cases((4, 3, 40, 40), 0.2), "batch_norm_act_forward", "batch_norm_act_backward")
    + _only(op_cases.bn_cases((300, 5), None), "batch_norm_forward", "batch_norm_backward")
    # losses and the fused sampler: 4 programs, each striding over several blocks
    + _only(op_cases.loss_cases((5, 1000)), "mse", "bce_with_logits")
    + _only(op_cases.sampler_cases((3000, 2), 0.5, 0.8), "reparam_kl_forward", "kl_normal")
)


@pytest.mark.parametrize("case", SPLIT_CASES, ids=repr)
def test_split_reductions_match_reference(T, case, rng):
    run_against_reference(T, case, rng, np.float32)


@pytest.mark.parametrize("name", list(op_cases.BN_HARD))
def test_batch_norm_statistics_hold_on_hard_inputs(T, name, rng):
    """A large mean against a small spread, images far apart, the shift an outlier: op_cases.BN_HARD."""
    op_cases.check_bn_hard(T, name, rng)


# --- multi-tile shapes, and every autotune config ----------------------------------------------------
# op_cases.MULTI_TILE_CASES run 70-260 channels, up to 324 pixels and reductions a little past one step
# through the kernels, so that a program other than the first along each tiled axis has to find its
# own tile. The autotuned kernels (the three convolution kernels, the GEMM) run each of their configs
# in turn on one shape (runtime.set_forced_config; the interpreter would otherwise run only the first);
# the other shapes run config 0. float32 only: the tiling does not depend on the dtype, and the
# awkward cases run both. What each crosses, in programs per grid axis (BLOCK sizes from
# conv.CONV_CONFIGS: M 64/128, N 64/128/16, K 32; linear.GEMM_CONFIGS: M 32..128, N 64/128, K 32/64;
# batch norm: 64-channel programs, rows in splits of 16-row steps, elements in blocks of 1024):
#   conv2d_forward 4->130, 162 px   forward kernel: pixels 3/2 tiles (BLOCK_M 64/128, last ragged),
#                                   channels 3/2/9 (BLOCK_N 64/128/16), reduction 36: 2 steps of 32
#   conv2d_backward_data 130->4     data kernel: input pixels 162, input channels 130, as above
#   conv2d_backward_weight 15->130  weight kernel: channels 130 (rows), columns 135 (3/2/9), 36 pixels
#                                   in 2 steps; bias gradient: 3 channel programs x 2 row splits
#   conv2d_backward_weight 4->70, 33x33   the reduction over 1089 pixels split in 2 (1024 + 65),
#                                   channels in 2 tiles; the splits added by finish over 2520 columns
#   conv_transpose2d_forward 30->130 data kernel at stride 2: 4 phases of 81 pixels (2 tiles),
#                                   130 channels, reduction 120 per phase (4 steps, ragged)
#   conv_transpose2d_backward_data  forward kernel on dy: 162 pixels, 130 channels
#   conv_transpose2d_backward_weight weight kernel, x and dy exchanged: 130 rows, 135 columns
#   linear 130->130, batch 130      GEMM: 3/2/5 row tiles, 3/2 column tiles, K 130 in 5/3 steps, in the
#                                   forward and both gradient products; bias gradient 3 x 2 programs
#   linear 2x600->130               split-K: 2 splits (512 + 88), 3/2 column tiles
#   batch norm 2x70x5x5, 40x70      partial sums: 2 channel programs x 2 row splits; finish: 2
#                                   programs; apply: 4 / 3 blocks; backward finish: 3 programs
#   batch norm 2x40x6x6             partial sums in 3 row splits (one channel program); apply: 3 blocks
#   batch norm 3x260                partial sums: 5 channel programs; finish: 5
#   adam 70x70                      5 programs of 1024 elements, the last ragged
# Each case's claim below is checked against the grids its launches actually got: a kernel named here
# that ran with one program on an axis named here fails the test (a config or shape change that made
# the case fit in one tile again).


def _config_count(case):
    from kernels.triton.conv import CONV_CONFIGS
    from kernels.triton.linear import GEMM_CONFIGS
    return len(GEMM_CONFIGS if case.op.startswith("linear") else CONV_CONFIGS)


_BN_FORWARD = {"batch_norm_forward_partial_kernel": (0, 1), "batch_norm_forward_finish_kernel": (0,),
               "batch_norm_inference_kernel": (0,)}
_BN_BACKWARD = {"batch_norm_backward_partial_kernel": (0, 1), "finish_kernel": (0,),
                "batch_norm_backward_kernel": (0,)}
# case name -> (every config, or config 0 only; {kernel: the grid axes that must hold more than one program})
MULTI_TILE_CLAIMS = {
    "conv2d_forward[n2 4->130 9x9 k3x3 s1 p1]": (True, {"conv2d_forward_kernel": (0, 1)}),
    "conv2d_backward_data[n2 130->4 9x9 k3x3 s1 p1]": (True, {"conv2d_backward_data_kernel": (0, 1)}),
    "conv2d_backward_weight[n1 15->130 6x6 k3x3 s1 p1]": (True, {
        "conv2d_backward_weight_kernel": (0, 1), "bias_backward_partial_kernel": (0, 1), "finish_kernel": (0,)}),
    "conv2d_backward_weight[n1 4->70 33x33 k3x3 s1 p1]": (False, {
        "conv2d_backward_weight_kernel": (0, 2), "finish_kernel": (0,)}),
    "conv_transpose2d_forward[n1 30->130 9x9 k3x3 s2 p1 op1]": (False, {
        "conv2d_backward_data_kernel": (0, 1, 2)}),
    "conv_transpose2d_backward_data[n2 130->4 9x9 k3x3 s2 p1 op1]": (False, {"conv2d_forward_kernel": (0, 1)}),
    "conv_transpose2d_backward_weight[n1 130->15 6x6 k3x3 s2 p1 op1]": (False, {
        "conv2d_backward_weight_kernel": (0, 1)}),
    "linear_forward[n130 130->130]": (True, {"linear_kernel": (0, 1)}),
    "linear_backward[n130 130->130]": (True, {"linear_kernel": (0, 1), "bias_backward_partial_kernel": (0, 1)}),
    "linear_forward[n2 600->130]": (True, {"linear_kernel": (1, 2), "finish_kernel": (0,)}),
    "batch_norm_act_forward[2x70x5x5 slope=0.2]": (False, _BN_FORWARD),
    "batch_norm_act_backward[2x70x5x5 slope=0.2]": (False, _BN_BACKWARD),
    "batch_norm_act_inference[2x70x5x5 slope=0.2]": (False, {"batch_norm_inference_kernel": (0,)}),
    "batch_norm_act_forward[40x70 slope=0.2]": (False, _BN_FORWARD),
    "batch_norm_act_backward[40x70 slope=0.2]": (False, _BN_BACKWARD),
    "batch_norm_act_inference[40x70 slope=0.2]": (False, {"batch_norm_inference_kernel": (0,)}),
    "batch_norm_act_forward[2x40x6x6 slope=0.0]": (False, {"batch_norm_forward_partial_kernel": (1,), "batch_norm_inference_kernel": (0,)}),
    "batch_norm_act_backward[2x40x6x6 slope=0.0]": (False, {"batch_norm_backward_partial_kernel": (1,), "finish_kernel": (0,)}),
    "batch_norm_act_inference[2x40x6x6 slope=0.0]": (False, {"batch_norm_inference_kernel": (0,)}),
    "batch_norm_act_forward[3x260 slope=0.2]": (False, {"batch_norm_forward_partial_kernel": (0,), "batch_norm_forward_finish_kernel": (0,)}),
    "batch_norm_act_backward[3x260 slope=0.2]": (False, {"batch_norm_backward_partial_kernel": (0,), "finish_kernel": (0,)}),
    "adam_step[70x70 step=5 lr=0.001 b1=0.9 b2=0.999 eps=1e-08 wd=0.01]": (False, {"adam_step_kernel": (0,)}),
}
_MULTI_TILE = {c.name: c for c in op_cases.MULTI_TILE_CASES}
MULTI_TILE_RUNS = [pytest.param(_MULTI_TILE[name], config, claims, id=f"{name}-config{config}")
                   for name, (every, claims) in MULTI_TILE_CLAIMS.items()
                   for config in range(_config_count(_MULTI_TILE[name]) if every else 1)]


def _kernel_name(kernel):
    return kernel.fn.__name__ if isinstance(kernel, triton.runtime.Autotuner) else kernel.__name__


def _record_grids(T, monkeypatch, config):
    """From here on, every launch of the interpreted backend also appends (kernel name, grid as 3 ints)
    to the returned list; an autotuned kernel's grid is evaluated for the config it is forced to."""
    grids, launch = [], T.runtime.launch

    def recording(kernel, grid, *args, **meta):
        shape = grid
        if callable(grid):
            tuned = kernel.configs[config % len(kernel.configs)].kwargs if isinstance(
                kernel, triton.runtime.Autotuner) else {}
            shape = grid({**meta, **tuned})
        grids.append((_kernel_name(kernel), tuple(shape) + (1,) * (3 - len(shape))))
        return launch(kernel, grid, *args, **meta)

    monkeypatch.setattr(T.runtime, "launch", recording)
    return grids


@pytest.mark.parametrize("case, config, claims", MULTI_TILE_RUNS)
def test_multi_tile_shapes_match_reference_at_every_config(T, case, config, claims, rng, monkeypatch):
    grids = _record_grids(T, monkeypatch, config)
    previous = T.runtime.set_forced_config(config)
    try:
        run_against_reference(T, case, rng, np.float32)
    finally:
        T.runtime.set_forced_config(previous)
    for kernel, axes in claims.items():
        got = [grid for name, grid in grids if name == kernel]
        assert got, f"{case.name}: {kernel} never ran (ran: {sorted({name for name, _ in grids})})"
        for grid in got:
            assert all(grid[a] > 1 for a in axes), (
                f"{case.name} config {config}: {kernel} ran on grid {grid}, one program on an axis of {axes}: "
                f"the case no longer crosses a tile there")


def test_every_autotuned_kernel_runs_every_config(T):
    """Each autotuned kernel of the backend is the one a case of MULTI_TILE_CLAIMS runs at every config."""
    import types
    tuned = {name for module in vars(T).values() if isinstance(module, types.ModuleType)
             for name, value in vars(module).items() if isinstance(value, triton.runtime.Autotuner)}
    swept = {kernel for every, claims in MULTI_TILE_CLAIMS.values() if every for kernel in claims}
    assert tuned and tuned <= swept, f"autotuned kernels no multi-tile case runs at every config: {tuned - swept}"


def test_every_multi_tile_case_has_a_claim():
    assert set(MULTI_TILE_CLAIMS) <= set(_MULTI_TILE)
    unrun = set(_MULTI_TILE) - set(MULTI_TILE_CLAIMS)
    # the inference of 3x260 is one apply block of 1024 elements here, nothing tiled: left to test_cupy_host.py
    assert unrun == {"batch_norm_act_inference[3x260 slope=0.2]"}, f"multi-tile cases with no claim: {sorted(unrun)}"


# --- the contract: names, helpers, argument checks -----------------------------------------------------

def test_backend_meets_the_contract(T):
    assert missing_names(T) == []
    assert T.name == "triton" and T.xp is np
    assert {c.op for c in op_cases.AWKWARD_CASES} == set(OPS)


def test_helpers(T, rng):
    host = rng.standard_normal(5)
    a = T.asarray(host, dtype=np.float32)
    assert a.dtype == np.float32
    a[0] = 7.0
    assert host[0] != 7.0                                  # asarray copies
    back = T.to_numpy(a)
    assert np.array_equal(back, a) and back is not a
    z = T.normal((3, 4), (1, 2, 3), np.float32)
    assert z.dtype == np.float32 and z.shape == (3, 4)
    assert np.array_equal(z, T.normal((3, 4), (1, 2, 3), np.float32))        # a pure function of the key
    assert not np.array_equal(z, T.normal((3, 4), (1, 2, 4), np.float32))
    with pytest.raises(ValueError, match="key"):
        T.normal((2,), (1, -2), np.float32)


def _bad_calls():
    """(label, call(K, arrays) that must raise, arrays made by rng) for a sample of every check kind."""
    f32, f64 = np.float32, np.float64

    def arrays(rng):
        def draw(*shape):
            return rng.standard_normal(shape).astype(f32)

        x = draw(2, 3, 6, 6)
        return dict(x=x, x64=x.astype(f64), x16=x.astype(np.float16), w=draw(4, 3, 3, 3), w_bad=draw(4, 2, 3, 3),
                    wt=draw(3, 4, 3, 3), g3=np.ones(3, f32), g2=np.ones(2, f32), dy=draw(2, 4, 6, 6), m=draw(4, 5),
                    lw=draw(2, 6), v=np.ones(5, f32), v6=np.ones(6, f32))

    return [
        ("conv rank", lambda K, a: K.conv2d_forward(a["m"], a["w"], None, 1, 1)),
        ("conv channels", lambda K, a: K.conv2d_forward(a["x"], a["w_bad"], None, 1, 1)),
        ("conv dtype", lambda K, a: K.conv2d_forward(a["x16"], a["w"], None, 1, 1)),
        ("conv mixed dtypes", lambda K, a: K.conv2d_forward(a["x64"], a["w"], None, 1, 1)),
        ("conv stride", lambda K, a: K.conv2d_forward(a["x"], a["w"], None, 0, 1)),
        ("conv bias", lambda K, a: K.conv2d_forward(a["x"], a["w"], a["g3"], 1, 1)),
        ("conv x_shape", lambda K, a: K.conv2d_backward_data(a["dy"], a["w"], (2, 3, 6), 1, 1)),
        ("conv dy shape", lambda K, a: K.conv2d_backward_weight(a["dy"], a["x"], (4, 3, 3, 3), 2, 1)),
        ("conv_t output_padding", lambda K, a: K.conv_transpose2d_forward(a["x"], a["wt"], None, 2, 1, 2)),
        ("conv_t dy channels", lambda K, a: K.conv_transpose2d_backward_data(a["x"], a["wt"], 2, 1)),
        ("bn gamma", lambda K, a: K.batch_norm_forward(a["x"], a["g2"], a["g2"], 1e-5)),
        ("bn eps", lambda K, a: K.batch_norm_act_forward(a["x"], a["g3"], a["g3"], 0.0, 0.2)),
        ("bn slope", lambda K, a: K.batch_norm_act_forward(a["x"], a["g3"], a["g3"], 1e-5, 1.5)),
        ("linear in", lambda K, a: K.linear_forward(a["m"], a["lw"], None)),
        ("leaky slope", lambda K, a: K.leaky_relu_forward(a["x"], None)),
        ("tanh dy shape", lambda K, a: K.tanh_backward(a["m"], a["x"])),
        ("sampler sigma", lambda K, a: K.reparam_forward(a["m"], a["m"], a["m"], -1.0)),
        ("sampler shapes", lambda K, a: K.reparam_kl_forward(a["m"], a["m"], a["x"], 1.0)),
        ("mse shapes", lambda K, a: K.mse(a["m"], a["x"])),
        ("bce target", lambda K, a: K.bce_with_logits(a["m"], "one")),
        ("adam step", lambda K, a: K.adam_step(a["v"], a["v"], a["v"], a["v"], 0, 1e-3, 0.9, 0.999, 1e-8, 0.0)),
        ("adam beta1", lambda K, a: K.adam_step(a["v"], a["v"], a["v"], a["v"], 1, 1e-3, 1.0, 0.999, 1e-8, 0.0)),
        ("adam shapes", lambda K, a: K.adam_step(a["v"], a["v6"], a["v"], a["v"], 1, 1e-3, 0.9, 0.999, 1e-8, 0.0)),
    ], arrays


BAD_CALLS, BAD_ARRAYS = _bad_calls()


@pytest.mark.parametrize("call", [c for _, c in BAD_CALLS], ids=[label for label, _ in BAD_CALLS])
def test_bad_arguments_raise_like_the_reference(T, call, rng):
    """The same ValueError as the reference, naming the same argument (its message's first word)."""
    host = BAD_ARRAYS(rng)
    with pytest.raises(ValueError) as ref_error:
        call(REF, {k: REF.asarray(v) for k, v in host.items()})
    with pytest.raises(ValueError) as our_error:
        call(T, {k: T.asarray(v) for k, v in host.items()})
    assert str(our_error.value).split()[0] == str(ref_error.value).split()[0], (our_error.value, ref_error.value)


def test_adam_updates_a_view_of_a_flat_buffer_in_place(T, rng):
    """The framework keeps a network's parameters as views into one buffer: an update through a view
    with an offset must land in the caller's memory, and only there."""
    flat = {k: rng.standard_normal(20).astype(np.float32) ** 2 for k in ("param", "grad", "m", "v")}
    want = {k: a.copy() for k, a in flat.items()}
    REF.adam_step(*(want[k][5:12] for k in ("param", "grad", "m", "v")), 3, 1e-2, 0.9, 0.999, 1e-8, 0.1)
    T.adam_step(*(flat[k][5:12] for k in ("param", "grad", "m", "v")), 3, 1e-2, 0.9, 0.999, 1e-8, 0.1)
    for k in ("param", "m", "v"):
        assert np.array_equal(flat[k][:5], want[k][:5]) and np.array_equal(flat[k][12:], want[k][12:])
        assert relative_l2(flat[k][5:12], want[k][5:12]) <= 1e-6, k


# --- the adapter ---------------------------------------------------------------------------------------

def test_adapter_is_used_with_the_triton_version_it_was_written_for():
    assert triton.__version__ == TRITON_VERSION, (
        f"tests/triton_shim.py relies on the interpreter internals of triton {TRITON_VERSION} "
        f"(setup.py pins it); this is {triton.__version__}: re-read triton/runtime/interpreter.py and update")


def test_adapter_answers_what_the_interpreter_asks():
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    t = HostTensor(a)
    assert t.data_ptr() == a.ctypes.data and str(t.dtype) == "float64"
    assert t.size() == (3, 4) and t.stride() == (4, 1) and t.storage_offset() == 0
    storage = t.untyped_storage()
    assert storage.data_ptr() == a.ctypes.data and storage.cpu() is storage
    view = t.new_empty(0, device="cpu").set_(storage.cpu(), t.storage_offset(), t.size(), t.stride())
    assert view.data_ptr() == a.ctypes.data and np.array_equal(view.array, a)
    view.array[1, 2] = -1.0                                      # the view shares the caller's memory
    assert a[1, 2] == -1.0
    other = HostTensor(np.zeros((3, 4)))
    other.copy_(t)
    assert np.array_equal(other.array, a)
    assert triton.runtime.jit.mangle_type(HostTensor(np.zeros(2, np.float32))) == "*fp32"
    with pytest.raises(ValueError, match="contiguous"):
        HostTensor(a[:, ::2])


def test_interpreted_launches_leave_triton_as_they_found_it(T, rng):
    """The adapter patches triton.language while a launch runs; afterwards a compile elsewhere in the
    process (tests/test_triton_compile.py, the GPU tests) must see it unchanged."""
    import triton.language as tl
    from triton.language import standard

    def snapshot():
        spaces = (tl, tl.core, tl.math, standard, tl.tensor, tl.dtype)
        return {(space.__name__, name): value for space in spaces for name, value in vars(space).items()}

    before = snapshot()
    x, gamma = rng.standard_normal((2, 3, 4, 5)).astype(np.float32), np.ones(3, np.float32)
    T.batch_norm_act_forward(x, gamma, gamma, 1e-5, 0.2)      # tl.zeros, tl.sum, @triton.jit helpers
    after = snapshot()
    # Triton's own interpreter, the first time it runs in a process, leaves its module's names in
    # triton.language.standard (it rewrites standard's @jit helpers and executes them in that module's
    # namespace), and Python makes tl.tensor's __annotations__ when it is first asked for: neither is the
    # adapter's doing (the same happens without it), and this test may be the process's first launch
    import triton.runtime.interpreter as interpreter
    theirs = {("triton.language.standard", name) for name in vars(interpreter)} | {("tensor", "__annotations__")}
    assert after.keys() - theirs == before.keys() - theirs
    assert [key for key, value in before.items() if after[key] is not value] == []


# --- a few training steps -------------------------------------------------------------------------------

def test_training_steps_match_the_numpy_backend(T, rng):
    """Two VAE-GAN steps of a tiny model (tests/test_vaegan_step.py's MINI, batch 2) on both backends,
    from the same weights, frames and noise: the losses of each step, and the gradient each network's
    buffer holds after it, agree.

    Bound: float32 rounding through a dozen layers, forward and back, measured at ~1e-6 relative;
    1e-5 leaves a 10x margin, and a wrong kernel anywhere changes a loss or a gradient by far more.
    The first update cannot make the second step diverge: the only gradients that are rounding noise
    (which Adam's first step turns into +-lr on one backend and maybe -+lr on the other) are those of the
    biases of convolutions followed by batch norm, which subtracts them again: they are exactly zero
    in exact arithmetic, and so is their effect on every loss."""
    from tests.test_vaegan_step import MINI

    n = 2
    x = np.clip(rng.standard_normal((n, 3, MINI.height, MINI.width)).cumsum(axis=3) * 0.3, -1, 1).astype("float32")
    noise = [[rng.standard_normal((n, MINI.z_dim)).astype("float32") for _ in range(2)] for _ in range(2)]
    check_same_training(training_history(REF, MINI, x, noise), training_history(T, MINI, x, noise), 1e-5)
