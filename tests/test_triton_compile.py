"""Every Triton kernel of the backend compiles for the H100 (sm_90) as the GPU's JIT will compile it,
with no GPU here.

What is compiled is what the JIT asks for: bench/warm_caches.py records the specialization data of every
launch of the GPU tests' workload (tests/triton_gpu_cases.py: every op case in float32 "ieee", "tf32"
and float64, and the training steps) through Triton's own JIT (an int equal to 1 a constexpr, ints and
pointers divisible by 16 marked, every autotuning config), and each record is compiled by
JITFunction.preload(), the JIT's own path, in worker processes. Each must give a cubin, fit sm_90's
shared memory and need no global scratch (bench.warm_caches.unrunnable says why each matters).

That workload is 2071 compiles (352 distinct specializations of tl.dot kernels, each in up to five
autotuning configs), about 1.5 hours on two cores. CI compiles a set that covers every way the kernels'
code can differ (~170 compiles, ~2-3 minutes on two cores):
  * every tile config of every kernel (all the autotuning configs of a tuned one), in every flavour
    (pointer dtype x tl.dot precision), at the first specialization launched with it: tile shapes decide
    the shared memory;
  * every constexpr variant (ACTIVATION, HAS_BIAS, kernel size, stride 1 ...) of every kernel without
    tl.dot, at its first occurrence.
The rest differs from these only in which ints and pointers are divisible by 16. With
VAEGAN_COMPILE_EVERYTHING=1 every record is compiled. The GPU check compiles (or installs) every record
of its own workloads before its first test (bench/gpu_check.sh, step "warm").
"""
import json
import os

import numpy as np
import pytest

from bench import warm_caches
from kernels.triton import runtime

EVERYTHING_VARIABLE = "VAEGAN_COMPILE_EVERYTHING"


def parts(record):
    """(kernel, flavour, tile config, constexpr variant) of one specialization record."""
    data = json.loads(record)
    names = list(data["signature"])
    constants = {names[k[0]]: v for k, v in zip(data["constant_keys"], data["constant_vals"])}
    tiles = tuple(sorted((k, v) for k, v in constants.items() if k.startswith("BLOCK")))
    config = tiles + (data["options"]["num_warps"], data["options"]["num_stages"])
    pointers = [t for t in data["signature"].values() if t.startswith("*")]
    flavour = (pointers[0] if pointers else None, constants.get("PRECISION"))
    variant = tuple(sorted((k, v) for k, v in constants.items() if k.isupper() and not k.startswith("BLOCK")))
    return data["name"], flavour, config, variant


def covering(records):
    """The CI set described above, in launch order."""
    chosen = {}
    for r in records:
        name, flavour, config, variant = parts(r)
        chosen.setdefault(("config", name, flavour, config), r)
        if "tl.dot" not in warm_caches.jit_function(r).src:
            chosen.setdefault(("variant", name, variant), r)
    return list(dict.fromkeys(chosen.values()))


@pytest.fixture(scope="module")
def records():
    previous = runtime.set_forced_config(None)            # every autotuning config, as the autotuner tries
    try:
        args = warm_caches.parse_args(["--workloads", "tests", "--no-compile"])
        return warm_caches.record(args)
    finally:
        runtime.set_forced_config(previous)


def test_the_covering_set_has_every_config_of_every_tuned_kernel(records):
    chosen = covering(records)
    assert set(chosen) <= set(records)
    configs = {parts(r)[:3] for r in records}
    assert configs == {parts(r)[:3] for r in chosen}
    dot_free = [r for r in records if "tl.dot" not in warm_caches.jit_function(r).src]
    assert {parts(r)[::3] for r in dot_free} <= {parts(r)[::3] for r in chosen}


def test_every_recorded_specialization_compiles_for_sm90(records, tmp_path, monkeypatch):
    from triton import knobs

    monkeypatch.setattr(knobs.cache, "dir", str(tmp_path / "triton-cache"))
    chosen = records if os.environ.get(EVERYTHING_VARIABLE) else covering(records)
    stats = warm_caches.compile_all(chosen, jobs=min(len(os.sched_getaffinity(0)), 8))
    assert not stats["failures"], "\n".join(stats["failures"])
    assert stats["compiled"] + stats["hits"] == len(chosen)


if __name__ == "__main__":  # pragma: no cover - for a look at the list
    previous = runtime.use_arrays(np, warm_caches.HostPointer)
    for r in covering(warm_caches.record(warm_caches.parse_args(["--workloads", "tests", "--no-compile"]))):
        print(warm_caches.describe(r))
