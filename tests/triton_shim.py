"""Test support: Triton's interpreter on NumPy arrays, with no GPU and no PyTorch.

With TRITON_INTERPRET=1 set when a kernel is decorated, `@triton.jit` gives an InterpretedFunction that
runs every program of the grid on the CPU, one after the other, with NumPy. Its launcher was written for
torch tensors: before the run it copies each pointer argument's storage "to the CPU", builds a CPU
tensor over that copy, runs the programs on the copies' addresses, and copies the storages back. What
it calls on an argument (triton 3.6.0, triton/runtime/interpreter.py, GridExecutor and _implicit_cvt):

    data_ptr(), dtype                 the address and element type (str(dtype): "float32" -> fp32)
    untyped_storage()                 -> .data_ptr(), .cpu(), .copy_(other)
    new_empty(0, device="cpu")        an empty tensor of the same dtype ...
    .set_(storage, offset, size, stride)   ... made a view of a storage
    storage_offset(), size(), stride()     (in elements)

`HostTensor` answers those for a C-contiguous NumPy array. The array already lives in host memory, so
its "storage" is the array's own bytes, `cpu()` is that same storage (no copy), and the copy back is a
no-op: the programs read and write the caller's memory directly, as a GPU kernel would, and two
arguments that alias (an in-place update) see each other's writes.

`interpreted_backend()` imports a private copy of kernels.triton with TRITON_INTERPRET=1 set only while
its kernels are decorated, and points that copy at NumPy arrays through HostTensor. The real package
(kernels.triton, compiled kernels for the GPU) is untouched, so the interpreted tests, the ahead-of-time
compile test and the GPU tests can share one pytest process.

Three more things need mending, only while one of our launches runs (`interpreter_fixes()`; the private
copy's runtime.launch is wrapped to enter it), so that compiling and GPU launches elsewhere in the
process still see Triton as it was: Triton's own library functions written in Triton (tl.zeros, tl.sum,
tl.cdiv ... in triton/language/standard.py) are interpreted only if TRITON_INTERPRET was set when
*triton* was imported, so they are swapped for interpreted versions; the interpreter's int() of a
scalar tensor fails under NumPy 2.4, so it is replaced; and the interpreter leaves triton.language
patched after a kernel calls a @triton.jit helper, so everything it patches is put back afterwards.

Also here, shared by the interpreted and the GPU tests: the error bounds per precision and the
comparison of a case's outputs with the reference, and the side-by-side training steps.

TRITON_VERSION is the version these internals were read from (setup.py pins it in the [cuda] extra);
tests/test_triton_interpreted.py checks it and exercises every method above.
"""
import contextlib
import importlib.util
import os
import sys

import numpy as np
import triton

from tests.op_cases import cancellation_floor

TRITON_VERSION = "3.6.0"
PRIVATE_NAME = "_kernels_triton_interpreted"


class HostStorage:
    """The bytes of one host array, seen as a torch UntypedStorage."""

    def __init__(self, array):
        self.bytes = array.reshape(-1).view(np.uint8)   # a view: shares the array's memory

    def data_ptr(self):
        return self.bytes.ctypes.data

    def cpu(self):
        return self                                      # already in host memory

    def copy_(self, other):
        if other.data_ptr() != self.data_ptr():          # the interpreter copies back onto itself
            np.copyto(self.bytes, other.bytes)
        return self


class HostTensor:
    """A C-contiguous NumPy array, seen the way Triton 3.6's interpreter sees a torch tensor."""

    def __init__(self, array):
        if not isinstance(array, np.ndarray) or not array.flags.c_contiguous:
            raise ValueError(f"array must be a C-contiguous NumPy array, got {type(array).__name__}")
        self.array = array

    @property
    def dtype(self):
        return self.array.dtype

    def data_ptr(self):
        return self.array.ctypes.data

    def untyped_storage(self):
        return HostStorage(self.array)

    def new_empty(self, *size, device=None):
        return HostTensor(np.empty(size, self.array.dtype))

    def set_(self, storage, offset, size, stride):
        itemsize = self.array.dtype.itemsize
        flat = storage.bytes.view(self.array.dtype)[offset:]
        view = np.lib.stride_tricks.as_strided(flat, tuple(size), tuple(s * itemsize for s in stride))
        self.array = view
        return self

    def storage_offset(self):
        return 0                                          # the storage starts at the array

    def size(self):
        return tuple(self.array.shape)

    def stride(self):
        return tuple(s // self.array.dtype.itemsize for s in self.array.strides)

    def copy_(self, other):
        if other.data_ptr() != self.data_ptr():
            np.copyto(self.array, other.array)
        return self


@contextlib.contextmanager
def interpreter_fixes():
    """While active: (1) every @triton.jit function of triton.language.standard (and its alias in
    triton.language) is an InterpretedFunction, the object the interpreter expects inside a kernel;
    (2) a scalar tensor converts to a Python int (`range(0, K, BLOCK)` with a runtime K) the way
    NumPy 2.4 still allows: the interpreter's own `int(handle.data)` of a one-element 1-d array raises
    there (triton issue 9171). On exit (3) every attribute the interpreter patched into triton.language
    is put back: it restores what a launch patches, but a @triton.jit helper called from a kernel
    (InterpretedFunction.__call__) patches again and never restores, which would break any later
    compilation in the process."""
    from triton.language import standard
    from triton.runtime import interpreter
    from triton.runtime.jit import JITFunction

    originals = {}                                   # (id(obj), name) -> (obj, name, value before us)

    def remember(obj, name):
        key = (id(obj), name)
        if key not in originals:
            originals[key] = (obj, name, vars(obj).get(name, _MISSING))

    def put(obj, name, value):
        remember(obj, name)
        setattr(obj, name, value)

    patch_tensor, set_attr = interpreter._patch_lang_tensor, interpreter._LangPatchScope.set_attr

    def patch_tensor_fixed(tensor, scope):
        patch_tensor(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))

    def set_attr_remembered(scope, obj, name, value):
        remember(obj, name)
        set_attr(scope, obj, name, value)

    for namespace in (standard, triton.language):
        for name, value in list(vars(namespace).items()):
            if isinstance(value, JITFunction):
                if id(value) not in _INTERPRETED:   # (hashing a JITFunction would compile its source)
                    _INTERPRETED[id(value)] = (value, interpreter.InterpretedFunction(value.fn))
                put(namespace, name, _INTERPRETED[id(value)][1])
    put(interpreter, "_patch_lang_tensor", patch_tensor_fixed)
    put(interpreter._LangPatchScope, "set_attr", set_attr_remembered)
    try:
        yield
    finally:
        for obj, name, value in reversed(list(originals.values())):
            if value is _MISSING:
                if name in vars(obj):
                    delattr(obj, name)
            else:
                setattr(obj, name, value)


_MISSING = object()
_INTERPRETED = {}   # id(JITFunction) -> (it, its InterpretedFunction), made once: the interpreter caches by function
_interpreted = None


def interpreted_backend():
    """The Triton backend, interpreted on NumPy arrays: a private copy of kernels.triton (imported once)."""
    global _interpreted
    if _interpreted is None:
        _interpreted = _import_private_copy()
    return _interpreted


def _import_private_copy():
    package_dir = os.path.dirname(importlib.util.find_spec("kernels.triton").origin)
    spec = importlib.util.spec_from_file_location(PRIVATE_NAME, os.path.join(package_dir, "__init__.py"),
                                                  submodule_search_locations=[package_dir])
    module = importlib.util.module_from_spec(spec)
    previous = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"            # read when each kernel is decorated, i.e. on import
    try:
        sys.modules[PRIVATE_NAME] = module          # so that its `from . import x` finds the private copy
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(PRIVATE_NAME, None)
        raise
    finally:
        if previous is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = previous
    module.runtime.use_arrays(np, HostTensor)
    launch = module.runtime.launch

    def launch_interpreted(*args, **kwargs):
        with interpreter_fixes():
            return launch(*args, **kwargs)

    module.runtime.launch = launch_interpreted
    # Triton types its first pointer argument through native code that imports triton.experimental.gluon
    # lazily; inside an interpreted launch (triton.language patched, TRITON_INTERPRET unset) that import
    # fails an assertion. Typing one HostTensor here, outside any launch, does the import in time.
    triton.runtime.jit.mangle_type(HostTensor(np.zeros(1, np.float32)))
    return module


# --- comparing a backend's outputs with the reference (the interpreted and the GPU tests) ------------

# float32 through "ieee" tl.dot: the team's bound. Our kernels and the reference round differently
# (float32 accumulators in other orders; the reference often accumulates in float64): a few units of
# 6e-8 times sqrt(terms), ~1e-6 at most on these shapes; a wrong index or a lost term is O(1).
FLOAT32_BOUND = 1e-5
# float64: the same argument with unit roundoff 1.1e-16 gives ~1e-14; 1e-12 keeps a 100x margin.
FLOAT64_BOUND = 1e-12
# float32 through "tf32" tl.dot (convolutions and linear layers only): both operands are rounded to a
# 10-bit mantissa, unit roundoff 2^-11 = 4.9e-4 each. The errors of the products are independent and
# add in quadrature, as the products themselves do, so the relative L2 error of a GEMM is about
# sqrt(2) * 4.9e-4 = 7e-4; 5e-3 allows 7x that and still fails any indexing error.
TF32_BOUND = 5e-3
TF32_OPS = ("conv2d", "conv_transpose2d", "linear")


def bound_for(case, dtype, precision="ieee"):
    if np.dtype(dtype) == np.float64:
        return FLOAT64_BOUND
    if precision == "tf32" and case.op.startswith(TF32_OPS):
        return TF32_BOUND
    return FLOAT32_BOUND


def relative_l2(got, want, floor=0.0):
    """|got - want|_2 / max(|want|_2, floor), in float64."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = max(np.linalg.norm(want), floor)
    return np.linalg.norm(got - want) / (scale if scale > 0 else 1.0)


def check_outputs(case, inputs, got, want, bound, to_numpy):
    """Every output of `case` has the reference's shape and dtype and is within `bound` of it."""
    assert len(got) == len(want), f"{case.name}: {len(got)} outputs, the reference has {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        g = to_numpy(g)
        assert g.shape == w.shape and g.dtype == w.dtype, (
            f"{case.name} output {i}: {g.dtype}{g.shape}, the reference gives {w.dtype}{w.shape}")
        assert np.all(np.isfinite(g)), f"{case.name} output {i}: non-finite values (an element never written?)"
        err = relative_l2(g, w, cancellation_floor(case, inputs, i))
        assert err <= bound, f"{case.name} output {i}: relative L2 error {err:.3g} exceeds {bound:g}"


def training_history(K, cfg, x, noise, sigma=0.7):
    """Train a fresh VAE-GAN (seed 5) of config `cfg` on backend K, one step per (eps, z_p) of `noise`,
    on the host frames x; after each step: (host losses, {network: its gradient buffer on the host})."""
    from vaegan.model import VAEGAN
    from vaegan.optim import Adam
    from vaegan.step import training_step
    from vaegan.train import settings

    tc = settings("seed", kl_weight=1.0).train      # (the step the GPU caches were built for: keep it)
    model = VAEGAN(K, cfg, seed=5)
    opts = {name: Adam(K, flat, lr=tc.lr, beta1=tc.beta1) for name, flat in model.flat.items()}
    history = []
    for eps, z_p in noise:
        losses, _ = training_step(model, opts, K.asarray(x), K.asarray(eps), K.asarray(z_p), sigma, tc)
        history.append((losses, {name: K.to_numpy(flat.grad) for name, flat in model.flat.items()}))
    return history


def check_same_training(want, got, bound):
    """Every loss of every step, and every network's gradient after it, within relative `bound`."""
    for step, ((want_losses, want_grads), (got_losses, got_grads)) in enumerate(zip(want, got)):
        for name, w in want_losses.items():
            err = abs(got_losses[name] - w) / max(abs(w), 1e-12)
            assert err <= bound, f"step {step} loss {name}: {got_losses[name]:.7g} vs numpy {w:.7g} ({err:.2g})"
        for name, w in want_grads.items():
            err = relative_l2(got_grads[name], w)
            assert err <= bound, f"step {step}: the {name}'s gradient differs from numpy's by {err:.2g}"
