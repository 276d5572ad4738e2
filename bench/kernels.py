"""python -m bench.kernels: every op of the contract, on every real layer shape of a preset, on every
backend variant; validated against the NumPy reference, then timed, in one table.

    python -m bench.kernels --backend numpy --preset tiny
    python -m bench.kernels --backend cupy,triton --preset broad256x144 --batch 64 --json out.json
    python -m bench.kernels --op conv2d --layer enc.conv2 --repeats 50

For each case (op x layer shape, bench/cases.py), fresh random inputs are drawn once and the
reference outputs are computed by kernels/numpy_ref in float64 (the oracle). Then each variant:
  1. runs once on those inputs (output buffers NaN-poisoned first on the GPU backends) and is compared
     with the reference: error = max over the op's outputs of ||out - ref||_2 / ||ref||_2. Over the bound
     of its precision the row says FAILED and is not timed; an exception says error: ... instead.
  2. is timed (bench/timing.py): warm-up, then the median of up to --repeats calls (fewer once
     --budget-s has passed), each call on the next of several input copies.
Variants: numpy; cupy/im2col, cupy/implicit, cupy/implicit_tf32 for the convolutions (the other ops
have one CuPy kernel: cupy); triton/ieee and triton/tf32 for the matrix-product ops (triton for the
rest). Peers, rows of their own: torch (cuDNN/cuBLAS, and torch/tf32) where PyTorch imports, on the
device the backends run on; numpy-gemm (np.matmul on the op's GEMM shapes) for the CPU.

--validate-batch N: the float64 reference at batch 64 takes seconds per case on the CPU, longer than
everything else of a GPU run together. With it, each variant is validated on the same layer at batch N
(its own fresh inputs and reference), and only timed at --batch.

Each row is printed (and the --json file rewritten) as soon as it is measured, so a run cut off by a
time limit keeps what it measured; the full table with "vs peer" follows at the end.

Columns: ms (median), rate (TFLOP/s for matrix-product ops, else GB/s; formulas in bench/cases.py),
"of ceiling" (rate over the same run's matrix-product ceiling of the row's precision, or over its copy
bandwidth: bench/ceilings.py), error (vs the float64 reference), "vs peer" (peer's ms over ours, at
the same precision on the same device: above 1 we are faster).
"""
import argparse
import contextlib
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np

import kernels.numpy_ref as reference
from kernels import backend_status, get_backend
from vaegan.config import PRESETS, make_config

from . import ceilings as ceil
from .cases import build_cases, select
from .layers import SHAPES, trace, with_batch
from .peers import TORCH_OPS, load_torch, numpy_gemm, numpy_gemm_operands, torch_precision
from .report import describe, environment, num, table, write_json
from .variants import poisoned, precision_of, select_variant, variant_names
from .timing import TorchClock, clock_for, cpu_cache_bytes, gpu_cache_bytes, median_ms, rotation

# Validation bounds on the relative L2 error against the float64 reference.
# float32: unit roundoff u = 6e-8. A float32 dot product of K random-sign terms summed in order has a
# relative error of about u*sqrt(K/2); the longest reduction here is a weight gradient over every output
# pixel of the batch (K = 64*72*128 = 589824 for broad256x144's first layer at batch 64), 3e-5. 1e-4
# leaves 3x headroom, and is still far below an indexing or race bug (O(1)) and below TF32's error,
# so an fp32 variant that silently used TF32 fails.
FP32_REL_L2 = 1e-4
# TF32 rounds each input to a 10-bit mantissa (u = 2^-11 = 4.9e-4) and accumulates in float32: a
# product of random inputs lands near 3e-4 relative; 2e-3 is ~5x headroom.
TF32_REL_L2 = 2e-3
BOUNDS = {"fp32": FP32_REL_L2, "tf32": TF32_REL_L2}

GPU_BACKENDS = ("cupy", "triton")


@dataclass
class Runner:
    """One row per case: our backend in one variant, or a peer."""
    variant: str
    device: str                       # "cpu" or "gpu"
    precision: str                    # "fp32" or "tf32"
    applies: Callable                 # case -> bool
    to_device: Callable               # (case, host inputs) -> what call takes
    call: Callable                    # (case, device inputs) -> tuple of outputs
    to_host: Callable = None          # output -> NumPy; None: not validated (numpy-gemm)
    select: Callable = contextlib.nullcontext     # () -> context that selects the variant
    poison: Callable = contextlib.nullcontext     # () -> context that NaN-fills new output buffers
    clock: object = None
    peer: bool = False


def backend_runners(name):
    K = get_backend(name)
    device = "cpu" if name == "numpy" else "gpu"
    common = dict(device=device, to_device=lambda case, host: {k: K.asarray(v) for k, v in host.items()},
                  call=lambda case, a: case.call(K, a), to_host=K.to_numpy, poison=lambda: poisoned(name),
                  clock=clock_for(device))
    # numpy's and cupy's variants change the convolutions, triton's the matrix-product ops; the rest has
    # one kernel
    varies = (lambda c: c.op.startswith("conv")) if name in ("numpy", "cupy") else (lambda c: c.uses_dot)
    return [Runner(f"{name}/{v}", precision=precision_of(v), applies=varies,
                   select=lambda v=v: select_variant(name, v), **common) for v in variant_names(name)] + \
        [Runner(name, precision="fp32", applies=lambda c: not varies(c), **common)]


def torch_runners(torch, device):
    dev = "cuda" if device == "gpu" else "cpu"
    common = dict(device=device, peer=True, clock=TorchClock(torch) if device == "gpu" else clock_for("cpu"),
                  to_device=lambda case, host: {k: torch.tensor(v, device=dev) for k, v in host.items()},
                  call=lambda case, t: TORCH_OPS[case.op](torch, t, case.params),
                  to_host=lambda t: t.detach().cpu().numpy())
    if device == "cpu":
        return [Runner("torch-cpu", precision="fp32", applies=lambda c: c.op in TORCH_OPS,
                       select=lambda: torch_precision(torch, "fp32"), **common)]
    return [Runner("torch", precision="fp32", applies=lambda c: c.op in TORCH_OPS,
                   select=lambda: torch_precision(torch, "fp32"), **common),
            Runner("torch/tf32", precision="tf32", applies=lambda c: c.uses_dot and c.op in TORCH_OPS,
                   select=lambda: torch_precision(torch, "tf32"), **common)]


def numpy_gemm_runner(seed):
    rng = np.random.default_rng(seed)
    return Runner("numpy-gemm", device="cpu", precision="fp32", peer=True, applies=lambda c: c.uses_dot,
                  to_device=lambda case, host: numpy_gemm_operands(case.gemms, rng),
                  call=lambda case, operands: numpy_gemm(operands), clock=clock_for("cpu"))


# --- validation and timing -------------------------------------------------------------------------

def rel_l2(got, want):
    """max over outputs of ||got - want|| / ||want|| (||got - want|| where want is 0); inf for a NaN,
    a wrong shape or a wrong number of outputs."""
    if len(got) != len(want):
        return float("inf")
    worst = 0.0
    for g, w in zip(got, want):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        if g.shape != w.shape:
            return float("inf")
        diff, norm = np.linalg.norm((g - w).ravel()), np.linalg.norm(w.ravel())
        err = diff / norm if norm > 0 else diff
        if not np.isfinite(err):
            return float("inf")
        worst = max(worst, float(err))
    return worst


def reference_outputs(case, host):
    """The op on float64 copies of the inputs, by the NumPy reference."""
    return tuple(np.asarray(o) for o in case.call(reference, {k: v.astype(np.float64) for k, v in host.items()}))


def output_elements(case, host):
    """How many values the op returns for inputs `host`, from the shape-only backend (no arithmetic)."""
    return sum(int(np.prod(np.shape(o))) for o in case.call(SHAPES, host))


def measure(runner, case, host, ref, opts, cache_bytes, ceilings, small=None, out_values=None):
    """One row: validate, then time. Returns the row as a dict. `ref` is the reference's outputs on `host`;
    with `small` = (case, inputs, reference outputs) of the same layer at a smaller batch, the variant
    is validated on that instead, and `ref` may be None (`out_values`, the number of values the op
    returns on `host`, is then counted by output_elements unless given)."""
    vcase, vhost, vref = small or (case, host, ref)
    in_bytes = sum(v.nbytes for v in host.values())
    if out_values is None:
        out_values = sum(r.size for r in ref) if ref is not None else output_elements(case, host)
    nbytes = in_bytes + out_values * 4                    # float32 inputs read once, outputs written once
    row = dict(op=case.op, layer=case.label, shape=case.shape, variant=runner.variant, device=runner.device,
               precision=runner.precision, peer=runner.peer, status="ok", error=None, ms=None, runs=0,
               copies=0, flops=case.flops, bytes=nbytes, rate=None, unit="TFLOP/s" if case.flops else "GB/s",
               of_ceiling=None, vs_peer=None, validated_on=vcase.shape)
    try:
        with runner.select():
            if runner.to_host is not None:
                with runner.poison():
                    outs = runner.call(vcase, runner.to_device(vcase, vhost))
                    got = [runner.to_host(o) for o in outs]
                row["error"] = rel_l2(got, vref)
                if not row["error"] <= BOUNDS[runner.precision]:
                    row["status"] = f"FAILED (bound {BOUNDS[runner.precision]:g})"
                    return row
            n = rotation(in_bytes, cache_bytes[runner.device])
            copies = [runner.to_device(case, host) for _ in range(n)]
            warmup = 3 if runner.device == "gpu" else 1
            ms, runs = median_ms(lambda i: runner.call(case, copies[i % n]), runner.clock, warmup,
                                 opts.repeats, opts.budget_s)
    except Exception as e:   # a variant that cannot run this case is reported, and the run goes on
        row["status"] = f"error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:160]
        return row
    row.update(ms=ms, runs=runs, copies=n)
    row["rate"] = case.flops / ms / 1e9 if case.flops else nbytes / ms / 1e6
    row["of_ceiling"] = ceil.fraction(row["rate"], ceilings.get(runner.device), row["unit"], runner.precision)
    return row


def attach_peers(rows):
    """Fill "vs peer" of our rows: the peer's ms over ours, same device and precision; PyTorch first."""
    peers = [r for r in rows if r["peer"] and r["ms"]]
    for r in rows:
        if r["peer"] or not r["ms"]:
            continue
        same = [p for p in peers if p["device"] == r["device"] and p["precision"] == r["precision"]]
        same.sort(key=lambda p: not p["variant"].startswith("torch"))
        if same:
            r["vs_peer"] = same[0]["ms"] / r["ms"]
            r["peer_variant"] = same[0]["variant"]


# --- the run ---------------------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m bench.kernels", description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="all",
                    help="numpy, cupy, triton, a comma list of them, or all (default; unusable ones are skipped)")
    ap.add_argument("--preset", default="broad256x144", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=None,
                    help="batch of every layer shape (default 64 where a GPU backend runs, else 4)")
    ap.add_argument("--op", action="extend", nargs="+", default=[],
                    help="only ops whose name starts with one of these (conv2d, batch_norm_act, adam_step ...)")
    ap.add_argument("--layer", action="extend", nargs="+", default=[],
                    help="only layers whose label contains one of these (enc.conv2, dec., losses ...)")
    ap.add_argument("--validate-batch", type=int, default=None,
                    help="validate each variant on the layer at this (small) batch, time it at --batch "
                         "(default: validate at --batch)")
    ap.add_argument("--repeats", type=int, default=25, help="timed calls per row, at most (default 25)")
    ap.add_argument("--budget-s", type=float, default=1.0,
                    help="stop timing a row after this many seconds once 3 calls are in (default 1.0)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    ap.add_argument("--no-peer", action="store_true", help="skip the PyTorch and numpy-gemm peers")
    ap.add_argument("--ceiling-copy-mib", type=int, default=None, help="size of the copy ceiling's buffers")
    ap.add_argument("--ceiling-gemm-n", type=int, default=None, help="n of the n x n matmul ceiling")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--json", help="also write every row, the ceilings and the environment to this file")
    args = ap.parse_args(argv)
    names = ("numpy",) + GPU_BACKENDS if args.backend == "all" else tuple(args.backend.split(","))
    for n in names:
        if n not in ("numpy",) + GPU_BACKENDS:
            ap.error(f"--backend: unknown backend {n!r}")
    args.backends = names
    return args


def ceilings_for(devices, args):
    out = {}
    if "cpu" in devices:
        out["cpu"] = ceil.cpu_ceilings(
            (args.ceiling_copy_mib << 20) if args.ceiling_copy_mib else ceil.CPU_COPY_BYTES,
            args.ceiling_gemm_n or ceil.CPU_GEMM_N)
    if "gpu" in devices:
        out["gpu"] = ceil.gpu_ceilings(
            (args.ceiling_copy_mib << 20) if args.ceiling_copy_mib else ceil.GPU_COPY_BYTES,
            args.ceiling_gemm_n or ceil.GPU_GEMM_N)
    return out


def format_rows(rows):
    body = [[r["op"], r["layer"], r["shape"], r["variant"], num(r["ms"]),
             f"{num(r['rate'])} {r['unit']}" if r["rate"] else "-",
             f"{100 * r['of_ceiling']:.1f}%" if r["of_ceiling"] is not None else "-",
             num(r["error"], 2), f"{r['vs_peer']:.2f}x" if r["vs_peer"] else "-",
             "" if r["status"] == "ok" else r["status"]] for r in rows]
    return table(["op", "layer", "shape", "variant", "ms", "rate", "of ceiling", "error", "vs peer", "status"],
                 body, right=("ms", "rate", "of ceiling", "error", "vs peer"))


ROW_LINE = "{:<32} {:<26} {:<36} {:<18} {:>9} {:>18} {:>10} {:>9}  {}"


def row_line(row, index=""):
    """One measured row as a line of fixed-width columns (printed as soon as it is measured)."""
    return ROW_LINE.format(row["op"], row["layer"], row["shape"], row["variant"], num(row["ms"]),
                           f"{num(row['rate'])} {row['unit']}" if row["rate"] else "-",
                           f"{100 * row['of_ceiling']:.1f}%" if row["of_ceiling"] is not None else "-",
                           num(row["error"], 2), (index + " " if index else "") +
                           ("" if row["status"] == "ok" else row["status"])).rstrip()


def validation_cases(cfg, args, batch):
    """{(op, spec at `batch`): the same case at --validate-batch}, or {} to validate at `batch` itself."""
    small = args.validate_batch
    if not small or small == batch:
        return {}
    cases = select(build_cases(trace(cfg, small), cfg.slope), args.op, args.layer)
    return {(c.op, with_batch(c.spec, batch)): c for c in cases}


def run(args, out=sys.stdout, progress=sys.stderr):
    """Run the benchmark described by parsed `args`; returns the report (the JSON's content)."""
    usable, skipped = [], []
    for name in args.backends:
        ok, why = backend_status(name)
        (usable if ok else skipped).append(name if ok else (name, why))
    gpu = any(n in GPU_BACKENDS for n in usable)
    batch = args.batch or (64 if gpu else 4)
    cfg = make_config(args.preset)
    cases = select(build_cases(trace(cfg, batch), cfg.slope), args.op, args.layer)
    for name, why in skipped:
        print(f"skipping backend {name}: {why}", file=out)
    if args.list:
        print(table(["op", "layer", "shape", "GFLOP"],
                    [[c.op, c.label, c.shape, num(c.flops / 1e9 if c.flops else None)] for c in cases]), file=out)
        return None
    runners = []
    for name in list(usable):
        try:      # a backend still being written may import but not yet meet the contract
            runners += backend_runners(name)
        except (ImportError, RuntimeError, AttributeError) as e:
            usable.remove(name)
            print(f"skipping backend {name}: {type(e).__name__}: {e}", file=out)
    gpu = any(n in GPU_BACKENDS for n in usable)
    devices = {r.device for r in runners}
    if not args.no_peer:
        torch, why = load_torch()
        if torch is None:
            print(f"no PyTorch peer: {why}", file=out)
        elif gpu and torch.cuda.is_available():
            runners += torch_runners(torch, "gpu")
        elif not gpu:
            runners += torch_runners(torch, "cpu")
        if "cpu" in devices:
            runners.append(numpy_gemm_runner(args.seed))
    env = environment(gpu=gpu)
    report = {"env": env, "preset": args.preset, "batch": batch, "args": vars(args),
              "skipped": {n: why for n, why in skipped}, "bounds": BOUNDS, "ceilings": {}, "rows": []}
    if not runners or not cases:
        print("nothing to run: no usable backend, or no case matches --op/--layer", file=out)
        return report
    print("measuring the ceilings ...", file=progress)
    report["ceilings"] = ceilings = ceilings_for(devices, args)
    cache_bytes = {"cpu": cpu_cache_bytes()}
    if gpu:
        cache_bytes["gpu"] = gpu_cache_bytes()
    small_cases = validation_cases(cfg, args, batch)
    report["validate_batch"] = args.validate_batch if small_cases else batch
    rng = np.random.default_rng(args.seed)
    rows = report["rows"]
    print(f"rows as measured (validated at batch {report['validate_batch']}, timed at batch {batch}):", file=out)
    print(ROW_LINE.format("op", "layer", "shape", "variant", "ms", "rate", "of ceiling", "error", "").rstrip(),
          file=out, flush=True)
    for i, case in enumerate(cases):
        host = case.make(rng)
        vcase = small_cases.get((case.op, case.spec))
        if vcase is None:
            ref, small = reference_outputs(case, host), None
            out_values = sum(r.size for r in ref)
        else:
            vhost = vcase.make(rng)
            ref, small = None, (vcase, vhost, reference_outputs(vcase, vhost))
            out_values = output_elements(case, host)
        case_rows = []
        for runner in runners:
            if runner.applies(case):
                row = measure(runner, case, host, ref, args, cache_bytes, ceilings, small, out_values)
                case_rows.append(row)
                rows.append(row)
                attach_peers(case_rows)
                print(row_line(row, f"[{i + 1}/{len(cases)}]"), file=out, flush=True)
                if args.json:
                    write_json(args.json, report)
        if gpu:
            import cupy
            cupy.get_default_memory_pool().free_all_blocks()
    print(file=out)
    print_report(report, out)
    return report


def print_report(report, out):
    env, c = report["env"], report["ceilings"]
    print(f"bench.kernels  preset {report['preset']}  batch {report['batch']}"
          f"  (validated at batch {report.get('validate_batch', report['batch'])})", file=out)
    print(describe(env), file=out)
    for device, v in c.items():
        tf32 = f", TF32 {v['tf32_TFLOPs']:.1f} TFLOP/s" if v.get("tf32_TFLOPs") else ""
        print(f"ceiling {device}: copy {v['copy_GBps']:.1f} GB/s, FP32 matmul {v['fp32_TFLOPs']:.3g} TFLOP/s{tf32}"
              f"  ({v['how']})", file=out)
    print(f"error bound (relative L2 vs float64 NumPy): fp32 {FP32_REL_L2:g}, tf32 {TF32_REL_L2:g}", file=out)
    print(format_rows(report["rows"]), file=out)
    failed = [r for r in report["rows"] if r["status"] != "ok"]
    print(f"{len(report['rows'])} rows, {len(failed)} failed or in error", file=out)


def main(argv=None):
    args = parse_args(argv)
    run(args)


if __name__ == "__main__":
    main()
