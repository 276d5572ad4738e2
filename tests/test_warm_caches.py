"""bench/warm_caches.py compiles, before the GPU check starts, exactly what the GPU's JIT will ask for.

Shown here with no GPU, through Triton's own JIT path (kernels.triton.runtime.record_specializations):
* what is recorded is the JIT's specialization: an int equal to 1 becomes a constexpr, ints and pointers
  divisible by 16 are marked so, a pointer 4 bytes off is not;
* a second warm-up finds every kernel in the cache and compiles nothing;
* the launches themselves, run through the JIT as on the GPU (look up, compile if missing), find every
  binary the warmer made: the recorded launch and the warmer agree on every specialization;
* binaries packed here and installed under another triton_key() (the GPU machine's Triton wheel has
  another one) land where that JIT looks: its launches find them all and compile nothing, and a binary
  whose key no longer matches is left to compile.
The kernels are a few cheap ones (no tl.dot) and one small convolution, so that the compiling stays
within ~30 s on two cores; the whole workload is recorded (no compile) to check that every kernel the
package defines is reached.
"""
import json
import os

import numpy as np
import pytest
import triton
from triton import knobs
from triton.runtime.autotuner import Autotuner
from triton.runtime.jit import JITFunction

import kernels.triton as T
from bench import warm_caches
from kernels.triton import runtime
from tests import op_cases


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh, empty Triton cache for the test (knobs read TRITON_CACHE_DIR when asked)."""
    folder = tmp_path / "triton-cache"
    monkeypatch.setenv("TRITON_CACHE_DIR", str(folder))
    monkeypatch.setattr(knobs.cache, "dir", str(folder))
    return folder


@pytest.fixture
def host_arrays():
    previous = runtime.use_arrays(np, warm_caches.HostPointer)
    forced = runtime.set_forced_config(0)
    yield
    runtime.use_arrays(*previous)
    runtime.set_forced_config(forced)
    runtime.set_precision("ieee")


def small_workload(rng):
    """A relu over 32 (divisible by 16) and 33 elements, a leaky relu on a view 4 bytes into its array,
    a batch norm over one image and a 3x3 convolution of stride 1: cheap kernels and one tl.dot."""
    T.relu_forward(np.ones(32, np.float32))
    T.relu_forward(np.ones(33, np.float32))
    T.leaky_relu_forward(np.ones(33, np.float32)[1:], 0.2)
    conv = op_cases.cases_for("conv2d_forward")[0]
    conv.run(T, conv.make(rng, np.float32))


def record_small(compile=False):
    with runtime.record_specializations(compile=compile) as records:
        small_workload(np.random.default_rng(0))
    return records


def lookups(records_of_launch):
    """Run the launches through the JIT (compile=True) with a listener: [(kernel name, cache hit)]."""
    seen = []
    knobs.compilation.listener = lambda *, metadata, cache_hit, **_: seen.append((metadata["name"], cache_hit))
    try:
        records = records_of_launch()
    finally:
        knobs.compilation.listener = None
    return seen, records


def test_recording_keeps_the_jits_own_specialization(host_arrays):
    records = [json.loads(r) for r in record_small()]
    by_kernel = {}
    for r in records:
        by_kernel.setdefault(r["name"].rpartition(".")[2], []).append(r)

    def attrs(r, arg):
        index = list(r["signature"]).index(arg)
        return dict(zip((k[0] for k in r["attrs_keys"]), r["attrs_vals"])).get(index, [])

    relu32, relu33 = by_kernel["activation_forward_kernel"][:2]
    n_arg = [a for a in relu32["signature"] if a.lower() in ("n", "size", "numel")][0]
    assert ["tt.divisibility", 16] in attrs(relu32, n_arg)          # 32 is divisible by 16
    assert attrs(relu33, n_arg) == []                               # 33 is not
    leaky = by_kernel["activation_forward_kernel"][2]
    first_pointer = next(a for a, t in leaky["signature"].items() if t.startswith("*"))
    assert attrs(leaky, first_pointer) == []                        # the view starts 4 bytes in
    assert ["tt.divisibility", 16] in attrs(relu32, first_pointer)
    conv = by_kernel["conv2d_forward_kernel"][0]
    assert conv["signature"]["stride"] == "constexpr"               # stride 1 is specialised to a constant


def test_a_second_warm_up_compiles_nothing_and_the_launches_find_every_binary(host_arrays, cache_dir):
    records = list(dict.fromkeys(warm_caches.portable(r) for r in record_small()))
    first = warm_caches.compile_all(records, jobs=2)
    assert first["failures"] == [] and first["compiled"] == len(records) and first["hits"] == 0
    second = warm_caches.compile_all(records, jobs=2)
    assert second["compiled"] == 0 and second["hits"] == len(records)

    seen, launched = lookups(lambda: record_small(compile=True))
    assert len(seen) == len(set(launched)) == len(records)
    assert all(hit for _, hit in seen), f"the JIT compiled what the warmer had not: {[n for n, h in seen if not h]}"


def test_binaries_carried_from_another_triton_are_found_there(host_arrays, cache_dir, tmp_path, monkeypatch):
    records = list(dict.fromkeys(warm_caches.portable(r) for r in record_small()))
    assert warm_caches.compile_all(records, jobs=2)["compiled"] == len(records)
    archive = tmp_path / "carried.tar.gz"
    assert warm_caches.pack(records, archive) == (len(records), 0)
    here = set(os.listdir(cache_dir))

    # the GPU machine: another Triton wheel (another triton_key()), an empty cache
    other_cache = tmp_path / "other-cache"
    monkeypatch.setattr(knobs.cache, "dir", str(other_cache))
    monkeypatch.setattr(triton.runtime.cache, "triton_key", lambda: "3.6.0-another-wheel")
    assert warm_caches.install(archive) == (len(records), 0)
    assert not here & set(os.listdir(other_cache))                  # every binary under a new key

    seen, _ = lookups(lambda: record_small(compile=True))
    assert len(seen) == len(records) and all(hit for _, hit in seen), seen


def test_a_carried_binary_whose_key_changed_is_left_to_compile(host_arrays, cache_dir, tmp_path, monkeypatch):
    records = list(dict.fromkeys(warm_caches.portable(r) for r in record_small()))[:1]
    warm_caches.compile_all(records, jobs=1)
    archive = tmp_path / "carried.tar.gz"
    warm_caches.pack(records, archive)
    monkeypatch.setattr(knobs.cache, "dir", str(tmp_path / "other-cache"))
    monkeypatch.setenv("TRITON_DEFAULT_FP_FUSION", "0")              # an option in the key, changed
    assert warm_caches.install(archive) == (0, 1)


def test_the_gpu_workload_reaches_every_kernel_of_the_package(host_arrays):
    """Recorded, not compiled: the GPU tests' workload launches every @triton.jit kernel the package
    defines, so none is left for the GPU's JIT to compile during a timing."""
    args = warm_caches.parse_args(["--preset", "tiny", "--batch", "4", "--no-compile"])
    names = {json.loads(r)["name"] for r in warm_caches.record(args)}
    defined = set()
    for module in (T.adam, T.batch_norm, T.conv, T.activations, T.linear, T.losses, T.reduce, T.sampler):
        for name, value in vars(module).items():
            fn = value.fn if isinstance(value, Autotuner) else value
            if isinstance(fn, JITFunction) and name.endswith("_kernel"):   # not the @jit helpers they call
                defined.add(f"{module.__name__}.{name}")
    assert defined and defined <= names, f"never launched: {sorted(defined - names)}"
