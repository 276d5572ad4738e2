"""python -m bench.warm_caches: every Triton kernel the GPU check will launch, compiled before it launches.

    python -m bench.warm_caches --preset broad256x144 --batch 64              record, then compile what is missing
    python -m bench.warm_caches ... --pack triton_sm90.tar.gz                  then pack the binaries to carry
    python -m bench.warm_caches ... --install triton_sm90.tar.gz               first file carried binaries
    python -m bench.warm_caches ... --manifest-out manifest.jsonl --no-compile just the list

Why: a Triton kernel compiles the first time it is launched with a new specialization, 1-3 s each (a
tl.dot kernel ~3 s on one core), and the GPU check launches several hundred. On a lent GPU that is most
of the time there is.

1. Record (seconds, no GPU): the workloads (below) run on the Triton backend with host arrays inside
   kernels.triton.runtime.record_specializations(), which sends every launch through Triton's own JIT
   as if on an sm_90 GPU and keeps the specialization data the JIT hands to its cache hook, without
   compiling. That data is the JIT's own: the signature it derived from the arguments (an int equal to 1
   made a constexpr, ints and pointers divisible by 16 marked), the constexprs, the options of every
   autotuning config it would try (only config i where VAEGAN_TRITON_CONFIG=i forces one, as the GPU
   check does). The workloads are what the GPU check runs:
     tests    tests/test_triton_backend.py (every op case in its flavours, the training steps), through
              tests/triton_gpu_cases.py;
     kernels  bench.kernels' convolutions of --preset at --batch and at --validate-batch (ieee and tf32);
     train    bench.train's step of --preset at --batch (ieee).
2. Compile (a process pool, one kernel a process): JITFunction.preload() of each record, the JIT's own
   way of compiling from specialization data, into TRITON_CACHE_DIR. A record whose binary is already
   there is a cache hit and costs ~10 ms. Printed: kernels, hits, compiles, CPU-seconds, cache MiB.
3. Carry (optional): Triton files a binary under sha256 of a key that starts with triton_key(), a hash
   of Triton's own files including its compiled libtriton, which differs between the Python 3.11 wheel
   here and the GPU machine's 3.12 one, so a cache carried as it is misses everywhere. The rest of the
   key (the kernel source's hash, ptxas version and arch, options, TRITON_* variables) does not depend
   on the wheel. --pack stores each record's binary (its .json metadata and .cubin, what Triton itself
   keeps under TRITON_STORE_BINARY_ONLY) with that rest of the key; --install files each one under the
   key the local Triton computes, where the rest matches (a changed kernel, ptxas or option does not
   match: it is compiled in step 2 like any miss). tests/test_warm_caches.py shows that a binary filed
   under another triton_key() is found by the JIT there.

Nothing here touches a GPU, so the pool may fork even on the GPU machine.
"""
import argparse
import hashlib
import io
import json
import multiprocessing
import os
import resource
import sys
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from vaegan.config import PRESETS, make_config

WORKLOADS = ("tests", "kernels", "train")
CONV_OPS = ("conv2d_forward", "conv2d_backward_data", "conv2d_backward_weight",
            "conv_transpose2d_forward", "conv_transpose2d_backward_data", "conv_transpose2d_backward_weight")
CARRIED_SUFFIXES = (".json", ".cubin")
SM90_SHARED_BYTES = 227 * 1024      # the most shared memory one block may use on sm_90


class HostPointer:
    """A host array as Triton's JIT sees an argument: an address and an element type."""

    __slots__ = ("ptr", "dtype")

    def __init__(self, array):
        self.ptr = array.ctypes.data
        self.dtype = array.dtype

    def data_ptr(self):
        return self.ptr


# --- 1. record --------------------------------------------------------------------------------------

class _ZeroDraws:
    """A random generator that draws zeros: the recorded launches depend on shapes and dtypes only, and
    zeros that nothing touches cost no time (bench.kernels' inputs at batch 64 take seconds to draw)."""

    def standard_normal(self, size=None, dtype=np.float64):
        return np.zeros(size, dtype)

    def uniform(self, low=0.0, high=1.0, size=None):
        return np.zeros(size)

    def choice(self, values, size=None):
        return np.zeros(size)

    def integers(self, low, high=None, size=None, dtype=np.int64):
        return np.zeros(size, dtype)


def _drive_tests(backend, args):
    from tests import triton_gpu_cases   # the test suite's own list of what it launches
    triton_gpu_cases.drive(backend, _ZeroDraws())


def _drive_kernels(backend, args):
    from .cases import build_cases, select
    from .layers import trace

    cfg = make_config(args.preset)
    for batch in sorted({args.batch, args.validate_batch or args.batch}):
        for case in select(build_cases(trace(cfg, batch), cfg.slope), CONV_OPS, None):
            for precision in ("ieee", "tf32"):
                backend.set_precision(precision)
                inputs = {k: backend.asarray(v) for k, v in case.make(_ZeroDraws()).items()}
                case.call(backend, inputs)
    backend.set_precision("ieee")


def _drive_train(backend, args):
    from vaegan.model import VAEGAN
    from vaegan.optim import Adam
    from vaegan.step import training_step
    from vaegan.train import settings

    from .layers import STEP_RECIPE

    chosen = settings(STEP_RECIPE, preset=args.preset)      # the step bench.train times
    cfg, tc = chosen.model, chosen.train
    model = VAEGAN(backend, cfg, seed=0)
    optimizers = {n: Adam(backend, f, lr=tc.lr, beta1=tc.beta1, beta2=tc.beta2) for n, f in model.flat.items()}
    x = backend.asarray(np.zeros((args.batch, 3, cfg.height, cfg.width), np.float32))
    eps = [backend.asarray(np.zeros((args.batch, cfg.z_dim), np.float32)) for _ in range(2)]
    training_step(model, optimizers, x, *eps, 1.0, tc)


DRIVERS = {"tests": _drive_tests, "kernels": _drive_kernels, "train": _drive_train}


def portable(record):
    """A record without the machine's own paths: the options' extern_libs (libdevice's absolute path in
    this Python's site-packages) are left out, so the JIT there fills in its own (the key hashes the
    file's content, not its path)."""
    data = json.loads(record)
    data["options"].pop("extern_libs", None)
    return json.dumps(data)


def record(args, jobs=1):
    """The distinct specialization records of the chosen workloads, each once, in launch order. With
    jobs > 1 the workloads are recorded in processes of their own, side by side."""
    if jobs > 1 and len(args.workloads) > 1:
        with ProcessPoolExecutor(min(jobs, len(args.workloads)), mp_context=multiprocessing.get_context("fork")) as pool:
            per_workload = list(pool.map(_record_workload, [(name, args) for name in args.workloads]))
    else:
        per_workload = [_record_workload((name, args)) for name in args.workloads]
    return list(dict.fromkeys(r for records in per_workload for r in records))


def _record_workload(name_and_args):
    import kernels.triton as backend

    name, args = name_and_args
    runtime = backend.runtime
    previous, precision = runtime.use_arrays(np, HostPointer), runtime.get_precision()
    try:   # nothing runs, so the arrays hold whatever memory held: their arithmetic may overflow, harmlessly
        with runtime.record_specializations() as records, np.errstate(all="ignore"):
            DRIVERS[name](backend, args)
    finally:
        runtime.use_arrays(*previous)
        runtime.set_precision(precision)
    return [portable(r) for r in records]


def jit_function(record):
    """The @triton.jit function a record belongs to, found from its full name (module.qualname)."""
    import importlib

    from triton.runtime.autotuner import Autotuner

    name = json.loads(record)["name"]
    module, _, attribute = name.rpartition(".")
    fn = getattr(importlib.import_module(module), attribute)
    return fn.fn if isinstance(fn, Autotuner) else fn


def describe(record):
    data = json.loads(record)
    constants = dict(zip((k[0] for k in data["constant_keys"]), data["constant_vals"]))
    names = list(data["signature"])
    shown = ", ".join(f"{names[i]}={v}" for i, v in constants.items() if names[i].isupper() or v == 1)
    return f"{data['name'].rpartition('.')[2]}({shown}; warps={data['options']['num_warps']})"


# --- 2. compile ---------------------------------------------------------------------------------------

def _preload(record):
    """Compile (or find) one record as the JIT would: (cache hit?, CPU seconds, error or None)."""
    from triton import knobs

    from kernels.triton import runtime

    hits, listening = [], knobs.compilation.listener
    knobs.compilation.listener = lambda *, cache_hit, **_: hits.append(cache_hit)
    start = _cpu_seconds()
    try:
        with runtime.as_target():
            compiled = jit_function(record).preload(record)
        error = unrunnable(compiled)
    except Exception as e:  # noqa: BLE001 - reported with the kernel that failed
        error = f"{type(e).__name__}: {str(e)[-1500:]}"
    finally:
        knobs.compilation.listener = listening
    return bool(hits) and all(hits), _cpu_seconds() - start, error


def _cpu_seconds():
    """CPU time of this process and of the children it has waited for (Triton runs ptxas as one)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def unrunnable(compiled):
    """Why a compiled kernel could never run on an H100/H200, or None: no cubin; more shared memory than
    one block may have on sm_90 (a config the autotuner could never run); global scratch memory, which
    Triton would ask triton.set_allocator for at launch (kernels/triton sets none: it has no PyTorch)."""
    if not compiled.asm.get("cubin"):
        return "no cubin"
    if compiled.metadata.shared > SM90_SHARED_BYTES:
        return f"needs {compiled.metadata.shared} bytes of shared memory, sm_90 has {SM90_SHARED_BYTES}"
    scratch = compiled.metadata.global_scratch_size + compiled.metadata.profile_scratch_size
    if scratch:
        return f"needs {scratch} bytes of global scratch per program; kernels/triton sets no triton allocator"
    return None


_POOL_RECORDS = None


def _preload_numbered(index):
    return (index, *_preload(_POOL_RECORDS[index]))


def compile_all(records, jobs):
    """Preload every record in `jobs` processes; returns {"hits", "compiled", "cpu_s", "wall_s", "failures"}.
    tl.dot kernels (the slow ones) go first, so that the pool ends together."""
    global _POOL_RECORDS
    _POOL_RECORDS = sorted(records, key=lambda r: "tl.dot" not in _source_of(r))
    start, stats = time.time(), {"hits": 0, "compiled": 0, "cpu_s": 0.0, "failures": []}
    if jobs <= 1:
        results = (_preload_numbered(i) for i in range(len(_POOL_RECORDS)))
        _tally(results, stats)
    else:
        # fork: the workers inherit the records and the imported kernels (nothing here has touched a GPU
        # or started a compiler thread)
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            _tally(pool.map(_preload_numbered, range(len(_POOL_RECORDS))), stats)
    stats["wall_s"] = time.time() - start
    return stats


def _tally(results, stats):
    for index, hit, cpu_s, error in results:
        stats["cpu_s"] += cpu_s
        if error:
            stats["failures"].append(f"{describe(_POOL_RECORDS[index])}: {error}")
        else:
            stats["hits" if hit else "compiled"] += 1


def _source_of(record):
    return jit_function(record).src


# --- 3. carry ----------------------------------------------------------------------------------------

class _Captured(Exception):
    pass


def cache_entry(record):
    """(rest of the key, hash, file name) under which triton.compile() files this record's binary here:
    the key is triton_key() + "-" + rest, the folder sha256(key), the metadata "<name>.json". Computed
    by the JIT's own preload() up to the point where it would call the compiler."""
    from triton._C.libtriton import get_cache_invalidating_env_vars
    from triton.compiler.compiler import make_backend
    from triton.runtime import cache

    from kernels.triton import runtime

    fn = jit_function(record)

    def capture(src, target=None, options=None, _env_vars=None):
        raise _Captured(src, target, options)

    with runtime.as_target():
        fn.device_caches[runtime.RECORDING_DEVICE]          # makes the binder, which sets fn.compile
        saved, fn.compile = fn.compile, capture
        try:
            fn.preload(record)
            raise RuntimeError("preload compiled nothing")    # pragma: no cover - Triton changed
        except _Captured as c:
            src, target, options = c.args
        finally:
            fn.compile = saved
    backend = make_backend(target)
    options = backend.parse_options(dict(options or {}, **src.parse_options()))
    key = cache.get_cache_key(src, backend, options, get_cache_invalidating_env_vars())
    prefix = cache.triton_key() + "-"
    assert key.startswith(prefix), "Triton's cache key no longer starts with triton_key()"
    return key[len(prefix):], hashlib.sha256(key.encode()).hexdigest(), src.name[:150]


def pack(records, path):
    """Write the binaries of `records` (found in this machine's cache) with their key rests to a .tar.gz.
    Returns (packed, absent)."""
    from triton.runtime.cache import get_cache_manager

    index, packed, absent = [], 0, 0
    with tarfile.open(path, "w:gz") as tar:
        for i, r in enumerate(records):
            rest, digest, name = cache_entry(r)
            group = get_cache_manager(digest).get_group(f"{name}.json")
            if not group:
                absent += 1
                continue
            files = {f: p for f, p in group.items() if f.endswith(CARRIED_SUFFIXES)}
            for f, p in files.items():
                tar.add(p, arcname=f"{i}/{f}")
            index.append({"record": r, "rest": rest, "name": name, "files": sorted(files), "dir": str(i)})
            packed += 1
        data = json.dumps(index).encode()
        info = tarfile.TarInfo("index.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return packed, absent


def install(path):
    """File every carried binary whose key rest matches this machine's under this machine's key.
    Returns (installed, stale): stale ones (another kernel source, ptxas, option) are left to compile."""
    from triton.runtime.cache import get_cache_manager

    installed = stale = 0
    with tarfile.open(path, "r:gz") as tar:
        index = json.load(tar.extractfile("index.json"))
        for entry in index:
            try:
                rest, digest, name = cache_entry(entry["record"])
            except (ImportError, AttributeError):   # a kernel that no longer exists
                stale += 1
                continue
            if rest != entry["rest"]:
                stale += 1
                continue
            manager = get_cache_manager(digest)
            group = {}
            for f in entry["files"]:
                data = tar.extractfile(f"{entry['dir']}/{f}").read()
                if f.endswith(".json"):
                    metadata = json.loads(data)
                    metadata["hash"] = digest          # the folder it now lives in
                    group[f] = manager.put(json.dumps(metadata), f, binary=False)
                else:
                    group[f] = manager.put(data, f, binary=True)
            manager.put_group(f"{name}.json", group)
            installed += 1
    return installed, stale


def cache_mib():
    from triton import knobs

    total = 0
    for folder, _, files in os.walk(knobs.cache.dir):
        total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
    return total / 2**20


# --- command line ------------------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m bench.warm_caches", description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="broad256x144", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=64, help="batch of bench.kernels and bench.train (default 64)")
    ap.add_argument("--validate-batch", type=int, default=2, help="bench.kernels' validation batch (default 2)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma list of {', '.join(WORKLOADS)}")
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)), help="compiling processes")
    ap.add_argument("--install", metavar="ARCHIVE", help="first file the binaries carried in ARCHIVE")
    ap.add_argument("--pack", metavar="ARCHIVE", help="afterwards pack the binaries into ARCHIVE (.tar.gz)")
    ap.add_argument("--manifest-out", metavar="FILE", help="write the records, one JSON a line")
    ap.add_argument("--no-compile", action="store_true", help="record (and install) only")
    args = ap.parse_args(argv)
    args.workloads = tuple(w for w in args.workloads.split(",") if w)
    bad = [w for w in args.workloads if w not in WORKLOADS]
    if bad:
        ap.error(f"--workloads: unknown {', '.join(bad)} (choose from {', '.join(WORKLOADS)})")
    if args.batch < 1 or args.validate_batch < 0 or args.jobs < 1:
        ap.error("--batch and --jobs must be positive, --validate-batch non-negative")
    return args


def main(argv=None):
    args = parse_args(argv)
    from triton import knobs

    from kernels.triton import runtime

    forced = runtime.set_forced_config(None)
    runtime.set_forced_config(forced)
    configs = "every autotuning config" if forced is None else f"autotuning config {forced} only"
    print(f"bench.warm_caches: {args.preset}, batch {args.batch} (validation {args.validate_batch}), "
          f"workloads {', '.join(args.workloads)}, {configs}; cache {knobs.cache.dir}", flush=True)
    start = time.time()
    records = record(args, args.jobs)
    dots = sum("tl.dot" in _source_of(r) for r in records)
    print(f"recorded {len(records)} specializations ({dots} of kernels with tl.dot) in {time.time() - start:.1f} s",
          flush=True)
    if args.manifest_out:
        with open(args.manifest_out, "w") as f:
            f.writelines(r + "\n" for r in records)
    if args.install:
        start = time.time()
        installed, stale = install(args.install)
        print(f"installed {installed} carried binaries from {args.install} ({stale} stale) in "
              f"{time.time() - start:.1f} s", flush=True)
    failed = False
    if not args.no_compile:
        stats = compile_all(records, args.jobs)
        print(f"{len(records)} kernels: {stats['hits']} found in the cache, {stats['compiled']} compiled, "
              f"{len(stats['failures'])} failed; {stats['cpu_s']:.0f} CPU-seconds in {stats['wall_s']:.0f} s on "
              f"{args.jobs} processes; cache {cache_mib():.1f} MiB", flush=True)
        for line in stats["failures"]:
            print(f"FAILED {line}")
        failed = bool(stats["failures"])
    if args.pack:
        packed, absent = pack(records, args.pack)
        print(f"packed {packed} binaries into {args.pack} ({os.path.getsize(args.pack) / 2**20:.1f} MiB; "
              f"{absent} not in the cache)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
