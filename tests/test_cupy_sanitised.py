"""The CuPy kernels' host build under ThreadSanitizer and AddressSanitizer: what a GPU would find and the
plain host build (tests/test_cupy_host.py) can miss: races between the threads of a block, reads and
writes past an array, shared memory read before any thread wrote it.

How. The chosen cases (below) run through the plain host build, against the NumPy reference as in
test_cupy_host.py, while a LaunchRecorder (tests/host_cuda.py) writes every launch to a file: the kernel,
the grid and block, each argument, and each array's bytes as they were before the launch. Then two
standalone executables, the same kernels and the same CUDA stand-in compiled with -fsanitize=thread and
with -fsanitize=address (and -g; the sources carry `#line`, so reports name kernels/cupy/*.cu and the
line), replay that file, one launch after the other, in a subprocess; any sanitizer report in their
output fails the test, with the launch (kernel, grid, block, test case) and the report's two accesses.

Why executables: a sanitizer's runtime must be loaded before anything else in the process. Tried here
(g++ 12, Python 3.11): ctypes.CDLL of a -fsanitize=thread library fails ("libtsan.so.2: cannot allocate
memory in static TLS block"), and LD_PRELOAD=libtsan.so.2 python crashes (segmentation fault) on
start; even working, TSan would also watch NumPy and CPython. A replay executable costs one more build
per sanitizer (4-6 s, cached by content hash like the plain build: a rerun compiles nothing) and the
recording (a few seconds), and keeps the sanitizers on our code alone.

ThreadSanitizer and the fibers. Every CUDA thread is a TSan fiber (__tsan_create_fiber): TSan keeps a
vector clock per fiber, so two threads of a block are two TSan threads even though one OS thread runs
them. A switch from a fiber back to the scheduler does not synchronise (__tsan_switch_to_fiber_no_sync),
so the order in which the fibers happened to run implies nothing; a barrier is a release of every
arriving thread and an acquire of every leaving one on one address per barrier generation (the block's,
or the warp's for a shuffle). So TSan reports two accesses to one address, one a write, by two threads
between the same two barriers, whichever ran first, and stays quiet across a barrier. The scheduler's
own bookkeeping is compiled without instrumentation (it plays the hardware), the scheduler's switch
into a fiber synchronises (the launch's inputs happen before its threads), and every thread's end
happens before the next block starts: blocks of one launch are ordered, so a race between two BLOCKS
(two blocks writing one output) is not reported (the plain build's results would show most of those).
Element-wise kernels run as fibers too here (the plain build runs them as plain calls).

AddressSanitizer. Each array argument is its own malloc of exactly its size, so an access one element
past any of them is reported; shared memory is a per-block arena poisoned except for the arrays a
kernel declares, each at its exact size, so an index past a shared tile is reported too. Shared memory
read before it is written is not an ASan report: the arena is NaN at each block's start (tests/host_cuda.py)
and the recorded results, checked against the reference, show it.

Which cases (CI): in float32, on both launch plans of test_cupy_host.py
(the H100 one: 256-thread blocks, 8 warps per block sum; the tight one: one-warp blocks, many chunks,
every GEMM split), every awkward case that is not a convolution (every element-wise, reduction,
batch-norm, sampler, loss, linear and Adam kernel), one awkward case of each of the six convolution ops
with each conv variant (im2col, col2im, swap_axes, split_k_finish, both implicit GEMMs), and the
multi-tile cases that cross the GEMM tiles, split the depth, and spread channels over several blocks
(CI_MULTI_TILE).
VAEGAN_SANITIZE_ALL=1 runs every awkward case in float32 and float64 and every multi-tile case with
every variant, on both plans.
Measured on the two-core machine at load average 5-6 (2026-12-05): CI's selection is 730 launches,
recorded in 8 s, replayed in 32 s under TSan and 15 s under ASan, 55 s for this file with the builds
cached (a first run adds three builds, about 10 s); VAEGAN_SANITIZE_ALL=1 took 2 min 16 s (TSan 84 s,
ASan 41 s).
What this cannot check: the GPU's own scheduling and memory model beyond "every pair of conflicting
accesses in one barrier phase", warp-synchronous code without __syncwarp (the stand-in has none),
races between blocks, NVRTC, the hardware's WMMA fragment layout. TSan remembers only a few recent
accesses per 8 bytes, so a race hidden among hundreds of threads' reads of one word could go unseen in
one run (the mutants of tests/mutants.py that remove each barrier are all reported).
"""
import os
import re
import subprocess
import time
from dataclasses import dataclass

import numpy as np
import pytest

from kernels.cupy import conv, loader, plan, runtime
from tests import host_cuda, op_cases
from tests.host_cuda import HostKernels, LaunchRecorder
from tests.test_cupy_host import CONV_VARIANTS, TIGHT, _check, _host_backend

SANITIZE_ALL = os.environ.get("VAEGAN_SANITIZE_ALL", "").strip().lower() in ("1", "true", "yes")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# one awkward case per convolution op (stride 2, padding 2 past a 5x5 window; output_padding)
CI_CONV = {"conv2d_forward": "conv2d_forward[n2 2->3 9x7 k5x5 s2 p2]",
           "conv2d_backward_data": "conv2d_backward_data[n2 2->3 9x7 k5x5 s2 p2]",
           "conv2d_backward_weight": "conv2d_backward_weight[n2 2->3 9x7 k5x5 s2 p2]",
           "conv_transpose2d_forward": "conv_transpose2d_forward[n2 3->2 4x5 k3x3 s2 p1 op1]",
           "conv_transpose2d_backward_data": "conv_transpose2d_backward_data[n2 3->2 4x5 k3x3 s2 p1 op1]",
           "conv_transpose2d_backward_weight": "conv_transpose2d_backward_weight[n2 3->2 4x5 k3x3 s2 p1 op1]"}
# multi-tile: 3 x 3 ragged GEMM tiles; the depth split 5 ways (H100 plan); channels over several blocks
CI_MULTI_TILE = ("conv2d_forward[n2 4->130 9x9 k3x3 s1 p1]", "conv2d_backward_weight[n1 4->70 33x33 k3x3 s1 p1]",
                 "batch_norm_act_forward[2x70x5x5 slope=0.2]", "batch_norm_act_backward[2x70x5x5 slope=0.2]")


@dataclass(frozen=True)
class Run:
    plan: str        # "h100" or "tight"
    case: op_cases.Case
    dtype: str
    variant: str     # conv variant ("" for other ops)

    @property
    def label(self):
        return f"{self.case.name} {self.dtype} {self.variant or '-'} plan={self.plan}"


def runs(everything=SANITIZE_ALL):
    by_name = {c.name: c for c in op_cases.AWKWARD_CASES + op_cases.MULTI_TILE_CASES}
    missing = [n for n in list(CI_CONV.values()) + list(CI_MULTI_TILE) if n not in by_name]
    assert not missing, f"cases named here no longer exist in tests/op_cases.py: {missing}"
    out = []
    for p in ("h100", "tight"):
        for case in op_cases.AWKWARD_CASES:
            is_conv = case.op.startswith("conv")
            if not everything and is_conv and CI_CONV.get(case.op) != case.name:
                continue
            for dtype in (("float32", "float64") if everything else ("float32",)):
                for variant in (CONV_VARIANTS if is_conv else ("",)):
                    if not (dtype == "float64" and variant == "implicit_tf32"):
                        out.append(Run(p, case, dtype, variant))
        for case in op_cases.MULTI_TILE_CASES:
            if everything or case.name in CI_MULTI_TILE:
                is_conv = case.op.startswith("conv")
                variants = CONV_VARIANTS if everything else ("implicit", "implicit_tf32")
                out += [Run(p, case, "float32", v) for v in (variants if is_conv else ("",))]
    return out


@dataclass
class Recording:
    path: str
    launches: int
    kernels: set         # (file, name expression) launched
    errors: list         # the cases whose results did not match the reference
    seconds: float


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """Every chosen case through the plain host build, checked, its launches written to a file."""
    path = str(tmp_path_factory.mktemp("sanitised") / "launches.bin")
    inner = HostKernels(host_cuda.library())
    kernels = set()

    def noting(filename, name, dtype, grid, block, args):
        kernels.add((filename, f"{name}<{loader.CTYPE[str(dtype)]}>"))
        inner(filename, name, dtype, grid, block, args)

    recorder = LaunchRecorder(noting, path)
    errors, t0 = [], time.time()
    rng = np.random.default_rng(21)
    with pytest.MonkeyPatch.context() as mp:
        runtime.use_host(np, recorder)
        runtime.set_poison(True)
        try:
            for run in runs():
                mp.undo()
                if run.plan == "tight":
                    for k, v in TIGHT.items():
                        mp.setattr(plan, k, v)
                if run.variant:
                    mp.setattr(conv, "_variant", run.variant)
                recorder.label = run.label
                try:
                    _check(_host_backend(), run.case, run.dtype, rng, run.variant or None)
                except AssertionError as e:
                    errors.append(f"{run.label}: {str(e).splitlines()[0]}")
        finally:
            runtime.set_poison(False)
            runtime.use_host(None, None)
    return Recording(path, recorder.count, kernels, errors, time.time() - t0)


def test_recorded_cases_match_the_reference(recording):
    """The recording run is test_cupy_host.py's check (fresh NaN shared memory per block included)."""
    assert not recording.errors, \
        f"{len(recording.errors)} cases differ from NumPy:\n" + "\n".join(recording.errors[:10])


def test_every_kernel_is_replayed(recording):
    """The sanitizers see every kernel template of every .cu file (in float32; float64 too with
    VAEGAN_SANITIZE_ALL=1)."""
    want = {(f, e) for f, e in host_cuda.entries() if SANITIZE_ALL or "<float>" in e}
    missing = sorted(want - recording.kernels)
    assert not missing, f"no chosen case launches {missing}"


# --- reading a sanitizer's output -------------------------------------------------------------------

REPORT_START = re.compile(r"^(WARNING: ThreadSanitizer|==\d+==ERROR: AddressSanitizer|SUMMARY: \w+Sanitizer)")
BENIGN = ("WARNING: ASan doesn't fully support makecontext/swapcontext",)


def reports(output):
    """[(the launch line before it, the report's lines)] for every sanitizer report in `output`."""
    found, launch, current = [], "before any launch", None
    for line in output.splitlines():
        if any(b in line for b in BENIGN):
            continue
        if line.startswith("launch "):
            launch = line
        if REPORT_START.match(line) and not line.startswith("SUMMARY"):
            current = []
            found.append((launch, current))
        if current is not None:
            current.append(line)
            if line.startswith("==================") and len(current) > 1 or line.startswith("SUMMARY"):
                current = None
    return found


def summary(launch, lines):
    """The report's headline, each access (and the allocation it hit) with its first two frames."""
    keep, frames = [launch, lines[0]], 0
    for line in lines[1:]:
        s = line.strip()
        if re.match(r"^(Write|Read|Previous|Atomic|Location|READ|WRITE|0x[0-9a-f]+ is located|allocated by|"
                    r"freed by|Address 0x)", s):
            keep.append("  " + s)
            frames = 0
        elif s.startswith("#") and frames < 2:
            keep.append("    " + re.sub(r"\(host_kernels_\w+\.\w+\+0x[0-9a-f]+\)", "", s)[:240])
            frames += 1
    return "\n".join(keep)


def replay(sanitizer, recording, timeout=600):
    env = dict(os.environ,
               TSAN_OPTIONS="halt_on_error=0:exitcode=66:history_size=4",
               ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:exitcode=66")
    executable = host_cuda.driver(sanitizer)
    done = subprocess.run([executable, recording.path], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return done.returncode, done.stdout


@pytest.mark.parametrize("sanitizer", ["thread", "address"])
def test_sanitizer_finds_nothing(sanitizer, recording):
    code, output = replay(sanitizer, recording)
    found = reports(output)
    if found:
        pytest.fail(f"{sanitizer} sanitizer: {len(found)} report(s) replaying {recording.launches} launches; the "
                    f"first:\n" + "\n\n".join(summary(*r) for r in found[:3]), pytrace=False)
    assert code == 0 and f"replayed {recording.launches} launches" in output, \
        f"the {sanitizer}-sanitised replay stopped (exit {code}):\n{output[-3000:]}"
