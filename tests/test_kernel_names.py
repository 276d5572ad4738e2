"""The kernels below the ops speak the contract's words (kernels/api.py), as test_contract.py holds the
ops' own names.

The rule. A kernel's name (a Triton kernel's without its `_kernel`) is

    <subject>[_<stage>][_<variant>]

  <subject>  an op of the contract (conv2d_backward_data, batch_norm_inference, adam_step, mse ...), or
             one of the few SHARED subjects below, which no single op owns;
  <stage>    the two stages of a reduction, `partial` and `finish`; the element-wise pass after them
             is the op itself;
  <variant>  a CUDA convolution variant with kernels of its own (`implicit`, `implicit_tf32`), or
             `columns`: a 2-D (N, F) input walked by feature columns, one thread per column.
A kernel named outside that vocabulary fails test_every_kernel_name_is_in_the_vocabulary.

The table. KERNELS lists, for every op of the contract, the kernels each GPU backend launches for it,
and test_the_table_is_what_the_ops_launch records them from real calls of every awkward and multi-tile
case of tests/op_cases.py with no kernel run (CUDA: runtime.use_host with a runner that only notes the
name, on the H100 launch plan and the tight one, every conv variant; Triton: the interpreted package
with its launch replaced by a recorder). A kernel's subject must be its op's own or a relative's
(`serves`: the plain op of a fused one, the convolution products that the transposed convolution runs
as its adjoint, the passes of a whole backward, leaky ReLU for ReLU, the inference pass that ends the
training forward), or shared. Every kernel the sources define (the .cu files' __global__ functions, the
Triton files' @triton.jit functions named *_kernel) is in the table and launched by some op.

Helpers. Every other @triton.jit function, and every CUDA __device__ function, is a helper: its name is
defined once per backend, so that one name has one meaning.

What it cannot check: whether a name describes what the kernel computes (the op tests check that).
"""
import ast
import pathlib
import re
import numpy as np
import pytest

from kernels.api import OPS
from tests import op_cases

ROOT = pathlib.Path(__file__).resolve().parent.parent
CUPY = ROOT / "kernels" / "cupy"
TRITON = ROOT / "kernels" / "triton"

STAGES = ("partial", "finish")
VARIANTS = ("implicit", "implicit_tf32", "columns")

# subject -> what it means: kernels that serve several ops and are named for what they do, not for an op
SHARED = {
    "bias_forward": "a per-channel bias added in place: conv2d's, conv_transpose2d's and linear's forward",
    "bias_backward": "the bias gradient, a per-channel sum: the same ops' backward",
    "im2col": "the column matrix of a convolution (CUDA's im2col variant)",
    "col2im": "the column matrix folded back onto the image (CUDA's im2col variant)",
    "swap_leading_axes": "(A, B, S) -> (B, A, S) around the im2col variant's GEMMs",
    "split_k": "the depth slices of a split GEMM (CUDA's implicit variants), stage finish",
    "loss": "a loss's per-block sums turned into the 0-d mean (CUDA), stage finish",
    "linear": "every product of the dense layer (Triton's one strided GEMM)",
    "activation_forward": "relu, leaky_relu, tanh and sigmoid (Triton's one element-wise kernel)",
    "activation_backward": "their backward passes (Triton)",
    "": "the finish stage of every Triton reduction without one of its own (reduce.finish)",
}

_CONV_FORWARD = {"cupy": {"im2col", "swap_leading_axes", "conv2d_forward_implicit", "conv2d_forward_implicit_tf32",
                          "split_k_finish"},
                 "triton": {"conv2d_forward_kernel"}}
_CONV_DATA = {"cupy": {"swap_leading_axes", "col2im", "conv2d_backward_data_implicit",
                       "conv2d_backward_data_implicit_tf32", "split_k_finish"},
              "triton": {"conv2d_backward_data_kernel"}}
_CONV_WEIGHT = {"cupy": {"swap_leading_axes", "im2col", "conv2d_backward_weight_implicit",
                         "conv2d_backward_weight_implicit_tf32", "split_k_finish", "bias_backward_partial",
                         "bias_backward_finish"},
                "triton": {"conv2d_backward_weight_kernel", "finish_kernel", "bias_backward_partial_kernel"}}
_BIAS_FORWARD = {"cupy": {"bias_forward"}, "triton": set()}
_BN_FORWARD = {"cupy": {"batch_norm_forward_partial", "batch_norm_forward_partial_columns",
                        "batch_norm_forward_finish", "batch_norm_inference"},
               "triton": {"batch_norm_forward_partial_kernel", "batch_norm_forward_finish_kernel",
                          "batch_norm_inference_kernel"}}
_BN_BACKWARD = {"cupy": {"batch_norm_backward_partial", "batch_norm_backward_partial_columns",
                         "batch_norm_backward_finish", "batch_norm_backward"},
                "triton": {"batch_norm_backward_partial_kernel", "finish_kernel", "batch_norm_backward_kernel"}}
_BN_INFERENCE = {"cupy": {"batch_norm_inference"}, "triton": {"batch_norm_inference_kernel"}}
_LOSS = {"cupy": {"loss_finish"}, "triton": {"finish_kernel"}}


def _union(*tables):
    return {b: set().union(*(t[b] for t in tables)) for b in ("cupy", "triton")}


def _element_wise(cupy_name, triton_name):
    return {"cupy": {cupy_name}, "triton": {triton_name}}


def _loss(name, triton_name=None):
    return _union(_LOSS, {"cupy": {name}, "triton": {triton_name or name + "_kernel"}})


# op -> {backend: the kernels it launches}
KERNELS = {
    "conv2d_forward": _union(_CONV_FORWARD, _BIAS_FORWARD),
    "conv2d_backward_data": _CONV_DATA,
    "conv2d_backward_weight": _CONV_WEIGHT,
    "conv2d_backward": _union(_CONV_DATA, _CONV_WEIGHT),
    "conv_transpose2d_forward": _union(_CONV_DATA, _BIAS_FORWARD),
    "conv_transpose2d_backward_data": _CONV_FORWARD,
    "conv_transpose2d_backward_weight": _CONV_WEIGHT,
    "conv_transpose2d_backward": _union(_CONV_FORWARD, _CONV_WEIGHT),
    "batch_norm_forward": _BN_FORWARD,
    "batch_norm_backward": _BN_BACKWARD,
    "batch_norm_inference": _BN_INFERENCE,
    "batch_norm_act_forward": _BN_FORWARD,
    "batch_norm_act_backward": _BN_BACKWARD,
    "batch_norm_act_inference": _BN_INFERENCE,
    "linear_forward": {"cupy": {"bias_forward"}, "triton": {"linear_kernel", "finish_kernel"}},
    "linear_backward": {"cupy": {"bias_backward_columns"},
                        "triton": {"linear_kernel", "bias_backward_partial_kernel", "finish_kernel"}},
    "relu_forward": _element_wise("leaky_relu_forward", "activation_forward_kernel"),
    "relu_backward": _element_wise("leaky_relu_backward", "activation_backward_kernel"),
    "leaky_relu_forward": _element_wise("leaky_relu_forward", "activation_forward_kernel"),
    "leaky_relu_backward": _element_wise("leaky_relu_backward", "activation_backward_kernel"),
    "tanh_forward": _element_wise("tanh_forward", "activation_forward_kernel"),
    "tanh_backward": _element_wise("tanh_backward", "activation_backward_kernel"),
    "sigmoid_forward": _element_wise("sigmoid_forward", "activation_forward_kernel"),
    "sigmoid_backward": _element_wise("sigmoid_backward", "activation_backward_kernel"),
    "reparam_forward": _element_wise("reparam_forward", "reparam_forward_kernel"),
    "reparam_backward": _element_wise("reparam_backward", "reparam_backward_kernel"),
    "reparam_kl_forward": _loss("reparam_kl_forward"),
    "reparam_kl_backward": _element_wise("reparam_kl_backward", "reparam_kl_backward_kernel"),
    "kl_normal": _loss("kl_normal"),
    "mse": _loss("mse"),
    "bce_with_logits": _loss("bce_with_logits"),
    "adam_step": _element_wise("adam_step", "adam_step_kernel"),
}

# the products conv_transpose2d runs as conv2d's adjoint (docs/derivations/conv_transpose_adjoint.md)
ADJOINT = {"forward": "backward_data", "backward_data": "forward", "backward_weight": "backward_weight"}


def subject(name):
    """(subject, stage, variant) of a kernel name under the rule above, or None outside the vocabulary."""
    base = name[:-len("_kernel")] if name.endswith("_kernel") else name
    for subj in sorted(set(OPS) | set(SHARED), key=len, reverse=True):
        if subj and base != subj and not base.startswith(subj + "_"):
            continue
        rest = base[len(subj):].lstrip("_") if subj else base
        for stage in ("",) + STAGES:
            for variant in ("",) + VARIANTS:
                if rest == "_".join(p for p in (stage, variant) if p) and (subj or stage):
                    return subj, stage, variant
    return None


def serves(op, subj):
    """May a kernel of subject `subj` serve `op`? Its own subject, a shared one, or a relative's."""
    if subj in SHARED:
        return True
    plain = op.replace("batch_norm_act_", "batch_norm_")
    relatives = {op, plain}
    if plain == "batch_norm_forward":
        relatives.add("batch_norm_inference")          # the element-wise pass that ends the training forward
    if op.startswith("relu_"):
        relatives.add("leaky_" + op)                   # ReLU is leaky ReLU with slope 0
    family, _, product = op.partition("2d_")
    passes = ("backward_data", "backward_weight") if product == "backward" else (product,)
    if family == "conv_transpose":
        relatives |= {f"conv2d_{ADJOINT[p]}" for p in passes}
    elif family == "conv":
        relatives |= {f"conv2d_{p}" for p in passes}
    return subj in relatives


# --- what the sources define ---------------------------------------------------------------------------

_GLOBAL = re.compile(r"__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s*)?(\w+)\s*\(")
_DEVICE = re.compile(r"^__device__\s+(?:inline\s+)?[\w:<>,\s]+?\b(\w+)\s*\(", re.MULTILINE)


def cuda_kernels():
    """{kernel name: file} of every __global__ function of kernels/cupy/*.cu."""
    found = {}
    for path in sorted(CUPY.glob("*.cu")):
        for name in _GLOBAL.findall(path.read_text()):
            assert name not in found, f"{name} is defined in {found[name]} and {path.name}"
            found[name] = path.name
    return found


def cuda_device_functions():
    """[(name, file)] of every __device__ function of kernels/cupy/*.cu and *.cuh."""
    return [(name, path.name) for path in sorted(CUPY.glob("*.cu*")) for name in _DEVICE.findall(path.read_text())]


def triton_functions():
    """[(name, file)] of every @triton.jit function of kernels/triton/*.py."""
    found = []
    for path in sorted(TRITON.glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and any(ast.unparse(d) == "triton.jit" for d in node.decorator_list):
                found.append((node.name, path.name))
    return found


def triton_kernels():
    return {name: file for name, file in triton_functions() if name.endswith("_kernel")}


def defined(backend):
    return set(cuda_kernels() if backend == "cupy" else triton_kernels())


# --- what the ops launch ------------------------------------------------------------------------------

CASES = op_cases.AWKWARD_CASES + op_cases.MULTI_TILE_CASES


@pytest.fixture(scope="module")
def cupy_launches():
    """{op: the kernel names its cases launched}, on both launch plans and every conv variant."""
    from kernels.cupy import conv, plan, runtime
    from tests.test_cupy_host import TIGHT, _host_backend
    launched = {op: set() for op in OPS}
    current = []
    runtime.use_host(np, lambda filename, name, dtype, grid, block, args: current.append(name))
    saved_plan = {k: getattr(plan, k) for k in TIGHT}
    saved_variant = conv.conv_variant()
    rng = np.random.default_rng(0)
    try:
        for tight in (False, True):
            for k, v in (TIGHT if tight else saved_plan).items():
                setattr(plan, k, v)
            for variant in conv.CONV_VARIANTS:
                conv.set_conv_variant(variant)
                for case in CASES:
                    if variant != conv.CONV_VARIANTS[0] and not case.op.startswith("conv"):
                        continue
                    current.clear()
                    with np.errstate(all="ignore"):      # no kernel runs: the buffers hold whatever they hold
                        case.run(_host_backend(), case.make(rng, np.float32))
                    launched[case.op].update(current)
    finally:
        for k, v in saved_plan.items():
            setattr(plan, k, v)
        conv.set_conv_variant(saved_variant)
        runtime.use_host(None, None)
    return launched


@pytest.fixture(scope="module")
def triton_launches():
    """{op: the kernel names its cases launched}, the interpreted package's launch only recording."""
    pytest.importorskip("triton")
    from tests.triton_shim import interpreted_backend
    T = interpreted_backend()
    launched = {op: set() for op in OPS}
    current = []

    def record(kernel, grid, *args, **meta):
        current.append(getattr(kernel, "fn", kernel).__name__)     # an Autotuner wraps the JITFunction

    launch = T.runtime.launch
    T.runtime.launch = record
    rng = np.random.default_rng(0)
    try:
        for case in CASES:
            current.clear()
            with np.errstate(all="ignore"):
                case.run(T, case.make(rng, np.float32))
            launched[case.op].update(current)
    finally:
        T.runtime.launch = launch
    return launched


# --- the tests ------------------------------------------------------------------------------------------

def test_the_table_covers_the_contract():
    assert set(KERNELS) == set(OPS)


@pytest.mark.parametrize("backend", ["cupy", "triton"])
def test_every_kernel_name_is_in_the_vocabulary(backend):
    if backend == "triton":
        pytest.importorskip("triton")
    outside = sorted(name for name in defined(backend) if subject(name) is None)
    assert not outside, f"{backend} kernels named outside the contract's words: {outside}"
    if backend == "triton":
        assert all(subject(name) is None or name.endswith("_kernel") for name, _ in triton_functions())


@pytest.mark.parametrize("backend", ["cupy", "triton"])
def test_every_defined_kernel_is_in_the_table_and_the_table_names_only_defined_ones(backend):
    listed = set().union(*(kernels[backend] for kernels in KERNELS.values()))
    assert listed == defined(backend), (sorted(defined(backend) - listed), sorted(listed - defined(backend)))


@pytest.mark.parametrize("backend", ["cupy", "triton"])
def test_each_op_is_served_by_its_own_kernels(backend):
    wrong = [(op, name) for op, kernels in KERNELS.items() for name in kernels[backend]
             if not serves(op, subject(name)[0])]
    assert not wrong, f"kernels named for another op than the one they serve: {wrong}"


def test_the_table_is_what_the_ops_launch(cupy_launches, triton_launches):
    for backend, launched in (("cupy", cupy_launches), ("triton", triton_launches)):
        for op in OPS:
            assert launched[op] == KERNELS[op][backend], (backend, op, sorted(launched[op]))


def test_the_cupy_loader_lists_exactly_the_kernels_of_each_file():
    from kernels.cupy import loader
    assert {name: file for file, names in loader.KERNELS.items() for name in names} == cuda_kernels()


@pytest.mark.parametrize("backend", ["cupy", "triton"])
def test_a_helper_name_has_one_definition(backend):
    if backend == "triton":
        pytest.importorskip("triton")
    functions = cuda_device_functions() if backend == "cupy" else triton_functions()
    files = {}
    for name, file in functions:
        files.setdefault(name, set()).add(file)
    twice = {name: sorted(f) for name, f in files.items() if len(f) > 1}
    assert not twice, f"{backend}: one name, several definitions: {twice}"


def test_the_rule_refuses_names_outside_the_vocabulary():
    for name in ("bn_stats_partial", "conv2d_data_grad_implicit", "stats_partial_kernel", "matmul_kernel",
                 "conv2d_forward_tf32", "mean_finish", "batch_norm_forward_combine", "sum_rows_kernel"):
        assert subject(name) is None, name
    assert subject("batch_norm_backward_partial_columns") == ("batch_norm_backward", "partial", "columns")
    assert subject("bias_backward_columns") == ("bias_backward", "", "columns")
    assert subject("conv2d_backward_weight_implicit_tf32") == ("conv2d_backward_weight", "", "implicit_tf32")
    assert subject("finish_kernel") == ("", "finish", "")
    assert serves("conv_transpose2d_forward", "conv2d_backward_data")
    assert not serves("conv_transpose2d_forward", "conv2d_forward")
    assert not serves("mse", "kl_normal")
