"""python -m bench.train: training throughput of vaegan.step.training_step, where its time goes, and
its peak memory; beside it, the same step in plain PyTorch where PyTorch imports.

    python -m bench.train --backend numpy --preset tiny --batch 16 --steps 10
    python -m bench.train --backend cupy --variant implicit_tf32 --preset broad256x144 --batch 64

Throughput: frames/s = batch / (median time of one training step), over --steps steps after --warmup
steps, the device synchronised before and after each step. The batch is one fixed random batch in
[-1, 1] on the device (data loading is not part of it: bench.decode measures the frame store), the
noise is drawn per step by the backend, sigma = 1. The step is the default recipe's, the one `python
cli.py train` runs (bench/layers.py, STEP_RECIPE; --recipe seed times the step the timings before
2026-12-05 were measured with), its KL weight resolved for the preset, and its two lanes run as
`cli.py train` runs them (vaegan/lanes.py: at once on a NumPy host with two cores; the header's
"lanes"; VAEGAN_LANES=0 times them in order).

Breakdown: then --breakdown-steps more steps run with every contract op timed on its own (through the
OpProxy of bench/instrument.py, the device synchronised before and after each op, so these steps run
slower than the timed ones, and with the lanes in order, one op at a time), labelled by the network
whose forward/backward/optimiser step called it (encoder, decoder, discriminator; "losses" for the
sampler and losses between them) and by op kind (conv, batchnorm, linear, elementwise, sampler+loss,
optimiser). What the ops do not cover is the framework's own array arithmetic through K.xp (adding
gradients, scaling losses), Python and the host sync of the losses: the remainder.

Peak memory: on the GPU, the bytes CuPy's memory pool holds after the run (the pool keeps what it
allocated, so that is its high-water mark; the pool is emptied before the model is built). On the CPU,
the model's state (parameters, gradients, Adam moments), the peak of NumPy allocations during one step
(tracemalloc), and the process's peak RSS.

Peer (--peer, on by default where PyTorch imports): bench/torch_peer.py, the same networks from our
weights (as they stand after our timed steps), the same batch and noise. Before timing, one step's
losses and every network's gradient are compared with ours (relative L2), so the peer is known to
compute the same step. Where the two float32 steps differ by more than the bound (on the NumPy
backend), the reference's float64 step from the same weights decides (float64_truth). Then --rounds
rounds: --steps steps of ours, then --steps of the peer; ours / peer is the median of the rounds'
ratios, so that a burst of other work on the machine moves one round, not the answer.

The report is printed part by part as each is measured (throughput, then the peer, the breakdown,
memory) and the --json file rewritten after each part, so a run cut off by a time limit keeps what
it measured.
"""
import argparse
import os
import resource
import statistics
import time
import tracemalloc
from collections import defaultdict

import numpy as np

from kernels import get_backend
from vaegan.config import PRESETS
from vaegan.model import VAEGAN
from vaegan.optim import Adam
from vaegan.recipes import RECIPES
from vaegan.lanes import Lanes, concurrent_by_default
from vaegan.step import forward_and_gradients, training_step
from vaegan.train import settings

from .instrument import KINDS, NETWORKS, OP_KINDS, OUTSIDE, OpProxy, label_networks
from .kernels import rel_l2
from .layers import STEP_RECIPE
from .report import describe, environment, num, table, write_json
from .variants import precision_of, select_variant

SIGMA = 1.0
# The peer check compares two float32 computations of one step (different summation orders, our
# fused kernels vs PyTorch's); 1e-3 relative L2 is ~10x what that reordering gives on these sizes
# and far below a routing mistake (a missing or extra loss term changes gradients by O(1)).
PEER_REL_L2 = {"fp32": 1e-3, "tf32": 2e-2}   # TF32: both sides round inputs to 10-bit mantissas


def _syncer(backend):
    if backend == "numpy":
        return lambda: None
    import cupy
    return lambda: cupy.cuda.get_current_stream().synchronize()


class OpTimer:
    """The OpProxy hook that times each op into [network][kind] totals. The device is synchronised
    before the op too: on the GPU the framework's own K.xp arithmetic runs asynchronously, and would
    otherwise be charged to the next op instead of to the remainder."""

    def __init__(self, sync):
        self.sync, self.ms = sync, defaultdict(lambda: defaultdict(float))

    def __call__(self, network, op, fn, args, kwargs):
        self.sync()
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        self.sync()
        self.ms[network][OP_KINDS[op]] += (time.perf_counter() - t0) * 1e3
        return out


def _blas_threads():
    """OPENBLAS_NUM_THREADS as an int where it is set (our CPU step's GEMMs use that many), else None."""
    value = os.environ.get("OPENBLAS_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def cpu_probe_us():
    """How fast the CPU is right now: the median time of a 256 x 256 float32 GEMM on the BLAS's threads,
    in microseconds. Printed beside each round of a CPU run: on a machine whose second core comes and
    goes (bench/README.md, "This machine has two speeds": 190 against 300 us), it tells which rounds ran
    on both."""
    a = np.random.default_rng(0).random((256, 256), dtype=np.float32)
    times = []
    for _ in range(30):
        t0 = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def _time_steps(step, count, sync):
    times = []
    for s in range(count):
        sync()
        t0 = time.perf_counter()
        step(s)
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def peer_check(torch, nets, model, cfg, tc, K, x, eps, z_p, device):
    """One step's losses and gradients, ours and the peer's, from the same weights and inputs.
    Call before any update. Returns {"losses": {name: rel diff}, "grads": {network: rel L2}}, and the
    peer's gradients as NumPy arrays under "peer_grads" (for float64_truth)."""
    losses, _, _, _ = forward_and_gradients(model, x, eps, z_p, SIGMA, tc)
    ours = {n: float(K.to_numpy(losses[n])) for n in ("kl", "sim", "disc", "gen")}
    from .torch_peer import gradients
    t = {k: torch.tensor(K.to_numpy(v), device=device) for k, v in (("x", x), ("eps", eps), ("z_p", z_p))}
    their_losses, their_grads = gradients(torch, nets, cfg, tc, t["x"], t["eps"], t["z_p"], SIGMA)
    out = {"losses": {n: abs(float(their_losses[n].detach()) - v) / max(abs(v), 1e-12) for n, v in ours.items()},
           "grads": {}, "peer_grads": {}, "our_grads": {}}
    for name, flat in model.flat.items():
        theirs = np.concatenate([g.detach().cpu().numpy().ravel() for g in their_grads[name]])
        out["our_grads"][name] = K.to_numpy(flat.grad).ravel().copy()
        out["peer_grads"][name] = theirs
        out["grads"][name] = rel_l2([out["our_grads"][name]], [theirs])
    for flat in model.flat.values():
        flat.zero_grad()
    return out


def float64_truth(model, cfg, tc, K, x, eps, z_p, check):
    """Where two float32 steps differ by more than the bound, which of them is the exact step's?

    Some gradients are ill-conditioned in float32: a batch-norm over few values per channel (a dense
    layer's, over the batch) is mostly cancellation, and two correct float32 steps can then differ by
    1e-3. The exact step is the NumPy reference in float64 from the same weights (the PyTorch oracle
    test holds it to PyTorch's float64 step at 1e-9). Returns {network: (ours vs exact, peer vs exact)}."""
    exact = VAEGAN(get_backend("numpy"), cfg, dtype="float64")
    for name, flat in exact.flat.items():
        flat.data[...] = K.to_numpy(model.flat[name].data)
    as64 = [K.to_numpy(a).astype(np.float64) for a in (x, eps, z_p)]
    forward_and_gradients(exact, *as64, SIGMA, tc)
    return {name: (rel_l2([check["our_grads"][name]], [flat.grad]), rel_l2([check["peer_grads"][name]], [flat.grad]))
            for name, flat in exact.flat.items()}


def run_peer(torch, cfg, tc, model, K, x, eps_of, steps, warmup, precision, device, ours_ms, time_ours, rounds):
    """The PyTorch step: check it against ours, then time it the same way, `rounds` times, each round
    beside a timing of ours (time_ours(); the first round reuses ours_ms, measured just before).
    Returns its report, with every round's (ours, peer) median step and their ratio."""
    from . import torch_peer
    from .peers import torch_precision
    threads = _blas_threads()
    if device == "cpu" and threads:
        torch.set_num_threads(threads)       # the same cores on both sides (PyTorch ignores OpenBLAS's setting)
    nets = torch_peer.build(torch, cfg, device)
    torch_peer.load_weights(torch, nets, model, K.to_numpy)
    optimizers = torch_peer.make_optimizers(torch, nets, tc)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    with torch_precision(torch, precision):
        eps0, z0 = eps_of(0)
        check = peer_check(torch, nets, model, cfg, tc, K, x, eps0, z0, device)
        bound = PEER_REL_L2[precision]
        worst = max(list(check["losses"].values()) + list(check["grads"].values()))
        agrees, truth = worst <= bound, None
        if not agrees and K.name == "numpy":
            # the same step if ours is within twice PyTorch's own float32 distance of the exact step (two
            # float32 steps' rounding differs by small factors; a routing mistake puts ours O(1) away).
            # Before any timed step: they move our weights.
            truth = float64_truth(model, cfg, tc, K, x, eps0, z0, check)
            agrees = all(ours <= max(bound, 2 * theirs) for ours, theirs in truth.values())
        for key in ("our_grads", "peer_grads"):
            del check[key]
        tx = torch.tensor(K.to_numpy(x), device=device)
        noise = {s: tuple(torch.tensor(K.to_numpy(a), device=device) for a in eps_of(s))
                 for s in range(warmup + steps)}
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()

        def peer_step(s):
            torch_peer.training_step(torch, nets, optimizers, cfg, tc, tx, *noise[s], SIGMA)

        _time_steps(peer_step, warmup, sync)
        pairs = []
        for r in range(rounds):
            probe = cpu_probe_us() if device == "cpu" else None
            ours = ours_ms if r == 0 else time_ours()
            theirs = statistics.median(_time_steps(lambda s: peer_step(warmup + s), steps, sync))
            pairs.append({"ours_ms": ours, "peer_ms": theirs, "ratio": theirs / ours, "cpu_probe_us": probe})
    step_ms = statistics.median(p["peer_ms"] for p in pairs)
    return {"device": device, "precision": precision, "step_ms": step_ms, "threads": torch.get_num_threads(),
            "frames_per_s": x.shape[0] / step_ms * 1e3, "check": check,
            "agrees": agrees, "bound": bound, "rounds": pairs, "float64_truth": truth,
            "ratio": statistics.median(p["ratio"] for p in pairs),
            "peak_bytes": torch.cuda.max_memory_allocated() if device == "cuda" else None}


def run(backend="numpy", preset="tiny", batch=16, steps=10, warmup=2, breakdown_steps=3, variant=None,
        seed=0, peer=True, emit=None, rounds=3, recipe=STEP_RECIPE):
    """Measure; returns the report (a dict; print it with format_report). `emit(report, part)`, where
    given, is called as each part is measured: "header", "throughput", "peer", "breakdown", "memory"."""
    emit = emit or (lambda report, part: None)
    K = get_backend(backend)
    gpu = backend != "numpy"
    sync = _syncer(backend)
    chosen = settings(recipe, preset=preset)
    cfg, tc = chosen.model, chosen.train
    if gpu:
        import cupy
        cupy.get_default_memory_pool().free_all_blocks()
    with select_variant(backend, variant):
        proxy = OpProxy(K)
        model = VAEGAN(proxy, cfg, seed=seed)
        optimizers = {n: Adam(proxy, f, lr=tc.lr, beta1=tc.beta1, beta2=tc.beta2) for n, f in model.flat.items()}
        label_networks(model, optimizers, proxy)
        rng = np.random.default_rng(seed)
        x = K.asarray(rng.uniform(-1, 1, (batch, 3, cfg.height, cfg.width)).astype(np.float32))

        def eps_of(s):
            return (K.normal((batch, cfg.z_dim), (seed, s, 0), "float32"),
                    K.normal((batch, cfg.z_dim), (seed, s, 1), "float32"))

        env = environment(gpu=gpu)
        if not gpu:         # how the CPU path gets its memory changes its speed (kernels/numpy_ref/heap.py)
            env["heap"] = "freed memory kept" if K.KEEPS_FREED_MEMORY else "the C library's defaults"
        # the step's two lanes (vaegan/lanes.py): side by side, each on one BLAS thread, or in order
        env["lanes"] = "2 at once" if concurrent_by_default(K) else "in order"
        report = {"env": env, "backend": backend, "variant": variant, "preset": preset,
                  "recipe": recipe,
                  "batch": batch, "steps": steps, "warmup": warmup}
        emit(report, "header")
        losses = []

        def step(s, lanes=None):
            host, updated = training_step(model, optimizers, x, *eps_of(s), SIGMA, tc, lanes=lanes)
            losses.append(host)

        times = _time_steps(step, warmup + steps, sync)[warmup:]
        report["step_ms"] = statistics.median(times)
        report["frames_per_s"] = batch / report["step_ms"] * 1e3
        report["finite"] = all(np.isfinite(v) for h in losses for v in h.values())
        emit(report, "throughput")

        # the peer after our timed steps: it starts from our weights as they are now (the check compares
        # one step from equal weights, not from the initial ones), and a cut-off run has our number first
        peer_report, why = None, None
        if peer:
            from .peers import load_torch
            torch, why = load_torch()
            if torch is not None:
                device = "cuda" if gpu else "cpu"
                peer_report = run_peer(torch, cfg, tc, model, K, x, eps_of, steps, warmup, precision_of(variant),
                                       device, report["step_ms"],
                                       lambda: statistics.median(_time_steps(step, steps, sync)), rounds)
        report["peer"] = peer_report or {"skipped": why or "--no-peer"}
        emit(report, "peer")

        timer = OpTimer(sync)
        proxy.on_call = timer
        # in order: the proxy knows one running network at a time, and an op timed while the other lane
        # runs would count both lanes' time
        in_order = Lanes(proxy, concurrent=False)
        instrumented = _time_steps(lambda s: step(s, in_order), breakdown_steps, sync)
        proxy.on_call = None
        n = max(breakdown_steps, 1)
        report["breakdown_ms"] = {net: {k: v / n for k, v in kinds.items()} for net, kinds in timer.ms.items()}
        report["instrumented_step_ms"] = statistics.mean(instrumented) if instrumented else None
        emit(report, "breakdown")
        report["memory"] = _memory(K, model, optimizers, step, gpu)
        emit(report, "memory")
    return report


def _memory(K, model, optimizers, step, gpu):
    if gpu:
        import cupy
        return {"device_pool_bytes": cupy.get_default_memory_pool().total_bytes()}
    state = sum(f.data.nbytes + f.grad.nbytes for f in model.flat.values())
    state += sum(o.m.nbytes + o.v.nbytes for o in optimizers.values())
    tracemalloc.start()
    step(0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"model_state_bytes": state, "step_peak_bytes": peak,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def _format_breakdown(b, instrumented_ms):
    rows = []
    for net in NETWORKS + (OUTSIDE,):
        kinds = b.get(net, {})
        rows.append([net] + [num(kinds.get(k)) for k in KINDS] + [num(sum(kinds.values()))])
    totals = [sum(b.get(net, {}).get(k, 0.0) for net in b) for k in KINDS]
    rows.append(["all"] + [num(t) for t in totals] + [num(sum(totals))])
    return ["time per step by network and op kind, ms (mean of instrumented steps, lanes in order, each op "
            "synchronised):",
            table(["network"] + list(KINDS) + ["total"], rows, right=tuple(KINDS) + ("total",)),
            f"instrumented step {num(instrumented_ms)} ms = ops {num(sum(totals))} ms + remainder "
            f"{num(instrumented_ms - sum(totals))} ms (framework arithmetic through xp, Python, the losses' host copy)"]


def format_part(r, part):
    """The lines of one part of the report (see run's `emit`)."""
    if part == "header":
        return [f"bench.train  backend {r['backend']}{'/' + r['variant'] if r['variant'] else ''}  "
                f"preset {r['preset']}  batch {r['batch']}  recipe {r.get('recipe', STEP_RECIPE)}",
                describe(r["env"])]
    if part == "throughput":
        return [f"throughput: {r['frames_per_s']:.1f} frames/s  (median step {num(r['step_ms'])} ms over "
                f"{r['steps']} steps after {r['warmup']} warm-up; losses finite: {r['finite']})"]
    if part == "peer":
        return _peer_lines(r)
    if part == "breakdown":
        if r["instrumented_step_ms"] is None:
            return ["time per step by network and op kind: not measured (--breakdown-steps 0)"]
        return _format_breakdown(r["breakdown_ms"], r["instrumented_step_ms"])
    if part == "memory":
        return _memory_lines(r)
    raise ValueError(f"no report part {part!r}")


PARTS = ("header", "throughput", "peer", "breakdown", "memory")


def format_report(r):
    return "\n".join(line for part in PARTS for line in format_part(r, part))


def _peer_lines(r):
    lines = []
    p = r["peer"]
    if "skipped" in p:
        lines.append(f"peer: none ({p['skipped']})")
    else:
        c = p["check"]
        rounds = p["rounds"]
        threads = f", {p['threads']} thread{'s' if p['threads'] > 1 else ''}" if p["device"] == "cpu" else ""
        lines.append(f"peer PyTorch ({p['device']}, {p['precision']}{threads}): {p['frames_per_s']:.1f} frames/s "
                     f"(median step {num(p['step_ms'])} ms); ours / peer = {p['ratio']:.2f}x")
        lines.append(f"  ours / peer by round, each {r['steps']} steps of ours then {r['steps']} of the peer: "
                     + ", ".join(f"{q['ratio']:.2f}x ({num(q['ours_ms'])} / {num(q['peer_ms'])} ms"
                                 + (f"; CPU probe {q['cpu_probe_us']:.0f} us" if q.get("cpu_probe_us") else "") + ")"
                                 for q in rounds)
                     + (f"; the median, {p['ratio']:.2f}x, is the answer" if len(rounds) > 1 else ""))
        truth = p.get("float64_truth")
        verdict = (f"over the bound {p['bound']:g}: see below" if truth else
                   f"{'AGREE' if p['agrees'] else 'DISAGREE'} (bound {p['bound']:g})")
        lines.append("  same step? losses rel diff " + ", ".join(f"{k} {num(v, 2)}" for k, v in c["losses"].items())
                     + "; gradients rel L2 " + ", ".join(f"{k} {num(v, 2)}" for k, v in c["grads"].items())
                     + f" -> {verdict}")
        if truth:
            distances = ", ".join(f"{k} {num(o, 2)} / {num(t, 2)}" for k, (o, t) in truth.items())
            verdict = ("AGREE: ours is within twice PyTorch's own float32 distance of it" if p["agrees"] else
                       "DISAGREE: ours is further from it than twice PyTorch's float32 distance and the bound")
            lines.append("  both against the exact step (the reference in float64 from the same weights), rel L2 "
                         f"ours / PyTorch's: {distances} -> {verdict}")
    return lines


def _memory_lines(r):
    lines = []
    p = r["peer"]
    m = r["memory"]
    mb = 2 ** 20
    if "device_pool_bytes" in m:
        peer_mem = p.get("peak_bytes")
        lines.append(f"peak device memory: {m['device_pool_bytes'] / mb:.0f} MiB (CuPy pool)"
                     + (f"; peer: {peer_mem / mb:.0f} MiB (torch.cuda.max_memory_allocated)" if peer_mem else ""))
    else:
        lines.append(f"memory: model state {m['model_state_bytes'] / mb:.1f} MiB (params, grads, Adam m and v); "
                     f"one step's peak NumPy allocations {m['step_peak_bytes'] / mb:.1f} MiB (tracemalloc); "
                     f"process peak RSS {m['peak_rss_bytes'] / mb:.0f} MiB")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="numpy", choices=("numpy", "cupy", "triton"))
    ap.add_argument("--variant", default=None,
                    help="cupy: im2col | implicit | implicit_tf32; triton: ieee | tf32 (default: the backend's)")
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    ap.add_argument("--breakdown-steps", type=int, default=3, help="instrumented steps for the breakdown")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-peer", action="store_true", help="skip the PyTorch peer")
    ap.add_argument("--rounds", type=int, default=3,
                    help="ours and the peer timed alternately this many times; ours / peer is the median "
                         "of the rounds' ratios (default 3)")
    ap.add_argument("--recipe", default=STEP_RECIPE, choices=sorted(RECIPES),
                    help=f"whose training step to time (default {STEP_RECIPE}, what cli.py train runs)")
    ap.add_argument("--json", help="also write the report to this file")
    a = ap.parse_args(argv)

    def emit(report, part):      # each part as soon as it is measured; the JSON holds what is measured so far
        print("\n".join(format_part(report, part)), flush=True)
        if a.json:
            write_json(a.json, report)

    if a.rounds < 1:
        ap.error(f"--rounds must be at least 1, got {a.rounds}")
    run(a.backend, a.preset, a.batch, a.steps, a.warmup, a.breakdown_steps, a.variant, a.seed, not a.no_peer, emit,
        a.rounds, a.recipe)


if __name__ == "__main__":
    main()
