"""Where the CUDA sources are, which kernels each one defines, and how they are compiled (lazily).

Each `.cu` file of this package is one CuPy `RawModule`. Its kernels are C++ templates on the float
type, instantiated through NVRTC name expressions (`"im2col<float>"`, `"im2col<double>"`); KERNELS below
is the one list of what gets instantiated, read both by the launchers (through `kernel()`) and by the
CI compile check (tests/test_cupy_compile.py), which compiles exactly `source(file)` and
`name_expressions(file)` with nvcc for sm_90, so the two cannot drift apart.

Nothing here touches the GPU at import time: a module is compiled the first time one of its kernels
is asked for, so `import kernels.cupy` works on a machine without a device (and CuPy caches the
compiled module on disk, keyed by the source text and options).

Headers (`*.cuh`, shared device code such as the block reduction) are pasted into the source by
`source()` rather than found through an include path, because CuPy's compile cache is keyed by the
source text: an edited header must change the text or a stale module would be reused. `#line`
directives around each pasted header keep compiler messages pointing at the right file and line.
"""
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))

# file -> the kernel templates it defines (each instantiated for every type in TYPES[file])
KERNELS = {
    "activations.cu": ("leaky_relu_forward", "leaky_relu_backward", "tanh_forward", "tanh_backward",
                       "sigmoid_forward", "sigmoid_backward"),
    "bias.cu": ("bias_forward", "bias_backward_partial", "bias_backward_finish", "bias_backward_columns"),
    "im2col.cu": ("im2col",),
    "col2im.cu": ("col2im",),
    "swap_axes.cu": ("swap_leading_axes",),
    "split_k_finish.cu": ("split_k_finish",),
    "conv_implicit.cu": ("conv2d_forward_implicit", "conv2d_backward_data_implicit",
                         "conv2d_backward_weight_implicit"),
    "conv_implicit_tf32.cu": ("conv2d_forward_implicit_tf32", "conv2d_backward_data_implicit_tf32",
                              "conv2d_backward_weight_implicit_tf32"),
    "batch_norm_forward.cu": ("batch_norm_forward_partial", "batch_norm_forward_partial_columns",
                             "batch_norm_forward_finish"),
    "batch_norm_inference.cu": ("batch_norm_inference",),
    "batch_norm_backward.cu": ("batch_norm_backward_partial", "batch_norm_backward_partial_columns",
                               "batch_norm_backward_finish", "batch_norm_backward"),
    "sampler.cu": ("reparam_forward", "reparam_backward", "reparam_kl_forward", "reparam_kl_backward"),
    "losses.cu": ("kl_normal", "mse", "bce_with_logits"),
    "loss_finish.cu": ("loss_finish",),
    "adam.cu": ("adam_step",),
}

CTYPE = {"float32": "float", "float64": "double"}
# the tensor-core kernels exist for float32 only (TF32 is a float32 format)
TYPES = {name: ("float32",) if name == "conv_implicit_tf32.cu" else ("float32", "float64") for name in KERNELS}

# NVRTC options. CuPy adds the target architecture of the device, -ftz=true and its own defaults.
OPTIONS = ("--std=c++17",)

_INCLUDE = re.compile(r'^\s*#include\s+"([^"]+)"\s*$')
_SYSTEM_INCLUDE = re.compile(r'^\s*#include\s*<', re.MULTILINE)


def name_expressions(filename):
    """Every template instantiation of `filename` the launchers may ask for, e.g. "im2col<float>"."""
    return [f"{kernel}<{CTYPE[t]}>" for kernel in KERNELS[filename] for t in TYPES[filename]]


def source(filename):
    """The text NVRTC compiles for `filename`: the file with its local headers pasted in (once each)."""
    return _expand(filename, set())


def _expand(filename, seen):
    out = []
    with open(os.path.join(HERE, filename)) as f:
        lines = f.read().splitlines()
    for number, line in enumerate(lines, start=1):
        m = _INCLUDE.match(line)
        if m is None:
            out.append(line)
            continue
        header = m.group(1)
        if header not in seen:
            seen.add(header)
            out.append(_expand(header, seen))
        out.append(f'#line {number + 1} "{filename}"')
    return "\n".join(out) + "\n"


def options(filename):
    """Compile options for `filename`: OPTIONS, plus the CUDA include directory for files that use a
    toolkit header (<mma.h> for WMMA), which NVRTC does not search by itself everywhere."""
    extra = ()
    if _SYSTEM_INCLUDE.search(source(filename)):
        include = _cuda_include_dir()
        if include is not None:
            extra = (f"-I{include}",)
    return OPTIONS + extra


def _cuda_include_dir():
    try:
        import cupy
        root = cupy.cuda.get_cuda_path()
    except Exception:  # no toolkit found: let NVRTC use its own search path
        root = None
    for candidate in (root, os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if candidate and os.path.exists(os.path.join(candidate, "include", "mma.h")):
            return os.path.join(candidate, "include")
    return None


_modules = {}
_functions = {}


def kernel(filename, name, dtype):
    """The compiled kernel `name<ctype>` of `filename` for arrays of `dtype` (compiled on first use)."""
    key = (filename, name, str(dtype))
    fn = _functions.get(key)
    if fn is None:
        if name not in KERNELS[filename]:
            raise ValueError(f"{filename} defines no kernel {name!r} (KERNELS lists {', '.join(KERNELS[filename])})")
        if str(dtype) not in TYPES[filename]:
            raise ValueError(f"{filename} has no {name} for {dtype} (it supports {', '.join(TYPES[filename])})")
        module = _modules.get(filename)
        if module is None:
            import cupy
            module = cupy.RawModule(code=source(filename), options=options(filename),
                                    name_expressions=name_expressions(filename))
            _modules[filename] = module
        fn = module.get_function(f"{name}<{CTYPE[str(dtype)]}>")
        _functions[key] = fn
    return fn
