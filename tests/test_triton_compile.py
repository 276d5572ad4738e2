"""Every Triton kernel of the backend compiles ahead of time for the H100 (sm_90), with no GPU here.

What is compiled is what the launchers launch: the backend (the package itself, not the interpreted
copy) is driven over every real layer shape of tests/op_cases.py, in float32 with both tl.dot
precisions and in float64, inside runtime.compile_only(), which records each launch instead of running
it. Each record becomes one compile job per autotuning config: the kernel's signature from the
arguments it was given (pointers typed by their arrays' dtype, scalars as annotated or as Triton types
Python values), its constexprs from the launcher plus the config, and the config's warps and stages.
The jobs are compiled with triton.compile(ASTSource(...), target=GPUTarget("cuda", 90, 32)) in worker
processes (compiling is CPU-bound and single-threaded), each must give a cubin, and each must fit the
H100's shared memory (a config that does not is one the autotuner could never run) and need no global
scratch memory (Triton would ask triton.set_allocator for it at launch, and the backend sets none).
"""
import contextlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.runtime.autotuner import Autotuner
from triton.runtime.jit import JITFunction, mangle_type

from tests import op_cases
from tests.triton_shim import TF32_OPS, HostTensor

TARGET = GPUTarget("cuda", 90, 32)
# A tl.dot kernel takes ~5 s to compile on one CI core, and the launchers use ~70 combinations of
# flavour, specialization and autotuning config: `jobs` picks a covering set of ~30 (and all cheap
# kernels). With this variable set, every combination is compiled (about 5 minutes on 2 cores).
EVERYTHING_VARIABLE = "VAEGAN_COMPILE_EVERYTHING"
H100_SHARED_BYTES = 227 * 1024      # the most shared memory one block may use on sm_90
DEFAULT_OPTIONS = dict(num_warps=4, num_stages=3)   # what a launch without autotuning uses


class Job(tuple):
    """(kernel function, signature, constexprs, options): one compilation, hashable for de-duplication."""

    def describe(self):
        fn, signature, constexprs, options = self
        cx = ", ".join(f"{k}={v}" for k, v in constexprs)
        return f"{fn.__name__}({', '.join(t for _, t in signature if t != 'constexpr')}; {cx}; {dict(options)})"


def _argument_type(param, value):
    if param.annotation and param.annotation != "constexpr":
        return param.annotation               # e.g. fp64 for a scalar declared `slope: tl.float64`
    return mangle_type(value)                 # *fp32 / *fp64 for arrays, i32 / i64 for ints, fp32 for floats


def jobs_of(kernel, args, meta):
    """The compile jobs of one recorded launch, one per autotuning config, each with its config's index."""
    if isinstance(kernel, Autotuner):
        variants = [(kernel.fn, {**meta, **config.kwargs}, dict(num_warps=config.num_warps,
                                                                  num_stages=config.num_stages))
                    for config in kernel.configs]
    else:
        variants = [(kernel, dict(meta), DEFAULT_OPTIONS)]
    jobs = []
    for index, (fn, constexprs, options) in enumerate(variants):
        assert isinstance(fn, JITFunction), f"{fn} is not a compiled-mode kernel (TRITON_INTERPRET leaked?)"
        values = dict(zip(fn.arg_names, args))
        signature = tuple((p.name, "constexpr" if p.name in constexprs else _argument_type(p, values[p.name]))
                          for p in fn.params)
        job = Job((fn, signature, tuple(sorted(constexprs.items())), tuple(sorted(options.items()))))
        jobs.append((job, index))
    return jobs


class ZerosRng:
    """Stands for the random generator of op_cases' `make`: nothing is run, so only the shapes and
    dtypes of the inputs matter."""

    def standard_normal(self, size, dtype=np.float64):
        return np.zeros(size, dtype)

    def uniform(self, low, high, size):
        return np.zeros(size)

    def choice(self, values, size):
        return np.zeros(size)


@contextlib.contextmanager
def zero_inputs():
    """op_cases' input makers replaced by zeros of the same shapes and dtypes: pages that calloc gives
    and nothing touches, where the real draws of the real layers' inputs would take many seconds."""
    saved = {name: getattr(op_cases, name) for name in ("normal", "away_from_zero", "bn_input", "bn_saved")}
    op_cases.normal = lambda rng, shape, dtype, scale=1.0: np.zeros(shape, dtype)
    op_cases.away_from_zero = op_cases.bn_input = lambda rng, shape, dtype: np.zeros(shape, dtype)
    op_cases.bn_saved = lambda x, gamma, beta, eps, slope: (np.zeros_like(x), np.zeros_like(gamma),
                                                            np.zeros_like(gamma))
    try:
        yield ZerosRng()
    finally:
        for name, value in saved.items():
            setattr(op_cases, name, value)


class Uncopied:
    """The backend, except that asarray hands the (zero) host arrays over as they are: with NumPy as
    the array module they already are backend arrays."""

    def __init__(self, backend):
        self.backend = backend

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def asarray(self, a, dtype=None):
        return a


def recorded_launches():
    """Drive every op of the backend over the real layer shapes without running anything: float32 with
    both tl.dot precisions (the ops without tl.dot do not depend on it), and float64."""
    import kernels.triton as backend

    runtime = backend.runtime
    previous = runtime.use_arrays(np, HostTensor)
    precision = runtime.get_precision()
    uncopied = Uncopied(backend)
    try:
        with zero_inputs() as rng, runtime.compile_only() as launches:
            for dtype, p in ((np.float32, "ieee"), (np.float32, "tf32"), (np.float64, "ieee")):
                runtime.set_precision(p)
                for case in op_cases.REAL_CASES:
                    if p == "ieee" or case.op.startswith(TF32_OPS):
                        case.run(uncopied, case.make(rng, dtype))
    finally:
        runtime.use_arrays(*previous)
        runtime.set_precision(precision)
    return launches


def jobs(launches, everything=False):
    """The distinct compile jobs of the recorded launches. A tl.dot kernel comes in three flavours
    (float32 with "ieee" or "tf32" products, float64) and several specializations (bias or not, stride);
    each job is one (flavour, specialization, autotuning config). Selected, unless `everything`:
    * the first specialization launched of every flavour, with the first config (the interpreter's);
    * every specialization, with the first config, in the "tf32" flavour, and every specialization of
      the kernels without tl.dot (cheap) in both dtypes;
    * every config for the first specialization of the "tf32" flavour: tensor cores, where tile shapes
      matter most.
    The flavours differ in the types that run through the kernel and in how tl.dot is lowered; the
    specializations in index arithmetic and epilogues, the same in every flavour."""
    selected, first_of = {}, {}
    for number, (kernel, args, meta) in enumerate(launches):
        for job, config in jobs_of(kernel, args, meta):
            fn, signature, constexprs, _ = job
            precision = dict(constexprs).get("PRECISION")
            first = first_of.setdefault((fn, signature, precision), number) == number
            if everything or (config == 0 and (first or precision != "ieee")) or (first and precision == "tf32"):
                selected[job] = None
    return list(selected)


_JOBS = None


def _compile(index):
    fn, signature, constexprs, options = _JOBS[index]
    source = ASTSource(fn=fn, signature=dict(signature), constexprs=dict(constexprs))
    try:
        compiled = triton.compile(source, target=TARGET, options=dict(options))
    except Exception as e:  # noqa: BLE001 - reported with the job that failed
        return index, f"{type(e).__name__}: {str(e)[-2000:]}"
    if not compiled.asm.get("cubin"):
        return index, "no cubin"
    if compiled.metadata.shared > H100_SHARED_BYTES:
        return index, f"needs {compiled.metadata.shared} bytes of shared memory, sm_90 has {H100_SHARED_BYTES}"
    scratch = compiled.metadata.global_scratch_size + compiled.metadata.profile_scratch_size
    if scratch:   # the launcher would call triton's allocator, and kernels/triton sets none (no torch)
        return index, f"needs {scratch} bytes of global scratch per program; runtime.py sets no triton allocator"
    return index, None


@pytest.fixture(scope="module")
def launches():
    return recorded_launches()


def test_every_launch_compiles_for_sm90(launches):
    global _JOBS
    _JOBS = jobs(launches, everything=bool(os.environ.get(EVERYTHING_VARIABLE)))
    workers = min(len(os.sched_getaffinity(0)), 8)
    # fork: the workers inherit _JOBS (kernel functions do not pickle); nothing has been compiled in this
    # process yet, so no compiler threads exist to be forked
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        failures = [(_JOBS[i].describe(), why) for i, why in pool.map(_compile, range(len(_JOBS))) if why]
    assert not failures, "\n".join(f"{job}: {why}" for job, why in failures)


def test_every_kernel_of_the_package_is_launched(launches):
    """No @triton.jit kernel is left out of the compile test because no launcher reaches it."""
    import kernels.triton as backend

    launched = {(k.fn if isinstance(k, Autotuner) else k).fn.__qualname__ for k, _, _ in launches}
    defined = set()
    for module in (backend.adam, backend.batch_norm, backend.conv, backend.activations, backend.linear,
                   backend.losses, backend.reduce, backend.sampler):
        for name, value in vars(module).items():
            fn = value.fn if isinstance(value, Autotuner) else value
            if isinstance(fn, JITFunction) and name.endswith("_kernel"):
                defined.add(fn.fn.__qualname__)
    assert defined and defined <= launched, f"never launched: {sorted(defined - launched)}"


if __name__ == "__main__":  # pragma: no cover - for a look at the job list
    for job in jobs(recorded_launches()):
        print(job.describe())
    pytest.main([__file__, "-q"])
