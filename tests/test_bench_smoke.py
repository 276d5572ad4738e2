"""bench/ cannot rot: its functions run end to end on the smallest real shapes, and what they report
has the structure the README promises. No test here asserts a speed (times must only be positive)."""
import io
import json

import numpy as np
import pytest

import kernels.numpy_ref as reference
from bench import decode as bench_decode
from bench import kernels as bench_kernels
from bench import train as bench_train
from bench.cases import build_cases, select
from bench.instrument import NETWORKS, OUTSIDE
from bench.layers import ConvSpec, trace
from kernels.api import OPS
from vaegan.config import make_config

TINY = make_config("tiny")


@pytest.fixture(scope="module")
def tiny_cases():
    return build_cases(trace(TINY, batch=2), TINY.slope)


def test_trace_reads_the_layers_off_the_model():
    layers = dict(trace(TINY, batch=3))
    # the encoder's first convolution and the discriminator's share one shape: one spec, both names
    assert layers["enc.conv1/disc.conv1"] == ConvSpec(3, 3, TINY.enc_widths[0], TINY.height, TINY.width,
                                                      TINY.kernel, TINY.kernel, 2, 2, 0, False, True)
    decoder = [s for label, s in layers.items() if label.startswith("dec.conv")]
    assert [s.c_out for s in decoder] == list(TINY.dec_widths)
    assert all(s.transposed and s.stride == 2 and s.output_padding == 1 for s in decoder)
    assert {label for label in layers if "." not in label} == set(NETWORKS)   # one Adam buffer per network


def test_every_contract_op_has_a_case(tiny_cases):
    assert {c.op for c in tiny_cases} == set(OPS)


def test_conv_flops_count_the_dense_products(tiny_cases):
    # enc.conv1 at batch 2: 3 -> 16 channels, 5x5, stride 2 over 48x64 -> 24x32 outputs
    outputs = 2 * 16 * 24 * 32
    per_output = 3 * 5 * 5
    case = {c.op: c for c in select(tiny_cases, ["conv2d"], ["enc.conv1"])}
    assert case["conv2d_forward"].flops == 2 * outputs * per_output
    assert case["conv2d_backward_weight"].flops == 2 * outputs * per_output
    assert case["conv2d_backward"].flops == 2 * 2 * outputs * per_output
    assert select(tiny_cases, ["batch_norm_forward"])[0].flops is None    # memory-bound: GB/s instead


def test_rel_l2():
    want = np.array([3.0, 4.0])
    assert bench_kernels.rel_l2([want + [0.0, 0.5]], [want]) == pytest.approx(0.1)
    assert bench_kernels.rel_l2([np.array([np.nan, 4.0])], [want]) == float("inf")
    assert bench_kernels.rel_l2([want[:1]], [want]) == float("inf")          # wrong shape
    assert bench_kernels.rel_l2([want], [want, want]) == float("inf")        # an output missing


def test_kernel_rows_are_validated_then_timed(tmp_path):
    path = tmp_path / "kernels.json"
    out = io.StringIO()
    args = bench_kernels.parse_args(
        ["--backend", "numpy", "--preset", "tiny", "--batch", "2", "--op", "conv2d_forward", "--layer", "enc.conv1",
         "--repeats", "2", "--budget-s", "0.05", "--ceiling-copy-mib", "8", "--ceiling-gemm-n", "128",
         "--json", str(path)])
    report = bench_kernels.run(args, out=out, progress=io.StringIO())
    rows = {r["variant"]: r for r in report["rows"]}
    ours = rows["numpy/phases"]                     # the backend's default form, and its definition beside it
    assert rows["numpy/im2col"]["status"] == "ok" and 0 < rows["numpy/im2col"]["error"] < bench_kernels.FP32_REL_L2
    assert ours["status"] == "ok" and ours["op"] == "conv2d_forward"
    assert 0 < ours["error"] < bench_kernels.FP32_REL_L2
    assert ours["ms"] > 0 and ours["runs"] >= 2 and ours["copies"] >= 1
    assert ours["rate"] > 0 and ours["unit"] == "TFLOP/s" and ours["of_ceiling"] > 0
    assert rows["numpy-gemm"]["ms"] > 0 and ours["vs_peer"] > 0
    assert report["ceilings"]["cpu"]["copy_GBps"] > 0 and report["ceilings"]["cpu"]["fp32_TFLOPs"] > 0
    assert json.loads(path.read_text())["rows"][0]["op"] == "conv2d_forward"
    assert "conv2d_forward" in out.getvalue()


def test_validation_at_a_small_batch_then_timing_at_the_full_one():
    common = ["--backend", "numpy", "--preset", "tiny", "--batch", "2", "--op", "conv_transpose2d_backward_weight",
              "--layer", "dec.conv1", "--repeats", "2", "--budget-s", "0.01", "--ceiling-copy-mib", "8",
              "--ceiling-gemm-n", "128", "--no-peer"]
    out = io.StringIO()
    small = bench_kernels.run(bench_kernels.parse_args(common + ["--validate-batch", "1"]), out=out,
                              progress=io.StringIO())
    full = bench_kernels.run(bench_kernels.parse_args(common), out=io.StringIO(), progress=io.StringIO())
    # one row per form of the NumPy convolutions (bench/variants.py); the default's is checked
    row, same = ({r["variant"]: r for r in report["rows"]}["numpy/phases"] for report in (small, full))
    assert len(small["rows"]) == len(full["rows"]) == 2
    assert row["shape"].startswith("n2 ") and row["validated_on"].startswith("n1 ") and small["validate_batch"] == 1
    assert same["validated_on"] == same["shape"] and full["validate_batch"] == 2
    assert 0 < row["error"] < bench_kernels.FP32_REL_L2 and row["ms"] > 0
    # the bytes of the timed call come from the shapes at batch 2 either way (shape-only backend vs reference)
    assert row["bytes"] == same["bytes"] and row["flops"] == same["flops"]
    printed = out.getvalue()
    streamed = printed.index("rows as measured")
    assert printed.index("conv_transpose2d_backward_weight", streamed) < printed.index("2 rows, 0 failed")


def _runner(call):
    return bench_kernels.Runner("broken", device="cpu", precision="fp32", applies=lambda c: True,
                                to_device=lambda case, host: host, call=call, to_host=np.asarray,
                                clock=bench_kernels.clock_for("cpu"))


def test_a_wrong_or_crashing_variant_is_reported_and_not_timed(tiny_cases):
    case = select(tiny_cases, ["conv2d_forward"], ["enc.conv2"])[0]
    host = case.make(np.random.default_rng(0))
    ref = bench_kernels.reference_outputs(case, host)
    opts = bench_kernels.parse_args(["--repeats", "2", "--budget-s", "0.01"])
    caches, ceilings = {"cpu": 1 << 20}, {}

    def off(case, a):   # a kernel 0.1% off everywhere: ten times the float32 bound
        return tuple(o * np.float32(1.001) for o in case.call(reference, a))

    def crash(case, a):
        raise RuntimeError("no kernel for this shape")

    for call, status in ((off, "FAILED"), (crash, "error: RuntimeError: no kernel for this shape")):
        row = bench_kernels.measure(_runner(call), case, host, ref, opts, caches, ceilings)
        assert row["status"].startswith(status) and row["ms"] is None and row["runs"] == 0
    good = bench_kernels.measure(_runner(lambda c, a: c.call(reference, a)), case, host, ref, opts, caches, ceilings)
    assert good["status"] == "ok" and good["ms"] > 0


def test_train_reports_throughput_breakdown_and_memory():
    r = bench_train.run("numpy", "tiny", batch=2, steps=2, warmup=0, breakdown_steps=1, peer=False)
    assert r["frames_per_s"] > 0 and r["step_ms"] > 0 and r["finite"]
    b = r["breakdown_ms"]
    assert set(b) == set(NETWORKS) | {OUTSIDE}
    for net in NETWORKS:      # each network ran convolutions and its own Adam update
        assert b[net]["conv"] > 0 and b[net]["optimiser"] > 0
    assert b[OUTSIDE]["sampler+loss"] > 0
    ops = sum(v for kinds in b.values() for v in kinds.values())
    assert 0 < ops <= r["instrumented_step_ms"]
    m = r["memory"]
    assert m["model_state_bytes"] > 0 and m["step_peak_bytes"] > 0 and m["peak_rss_bytes"] > 0
    text = bench_train.format_report(r)
    assert "frames/s" in text
    # where a speed figure was measured: the CPU, and the BLAS with the kernels it chose (as numpy's own)
    import numpy as np
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    assert f"cpu: {r['env']['cpu']}" in text and f"blas: {blas['name']} {blas['version']}" in text


def test_train_without_breakdown_steps_still_reports():
    r = bench_train.run("numpy", "tiny", batch=2, steps=1, warmup=0, breakdown_steps=0, peer=False)
    assert r["breakdown_ms"] == {} and r["instrumented_step_ms"] is None
    assert "not measured (--breakdown-steps 0)" in bench_train.format_report(r)


def test_train_reports_each_part_as_soon_as_it_is_measured():
    seen = []

    def emit(report, part):   # what a cut-off run would have printed and saved by now
        seen.append((part, "frames_per_s" in report, "peer" in report, "memory" in report))
        assert bench_train.format_part(report, part)

    bench_train.run("numpy", "tiny", batch=2, steps=1, warmup=0, breakdown_steps=0, peer=False, emit=emit)
    assert [p[0] for p in seen] == list(bench_train.PARTS)
    assert seen[0][1:] == (False, False, False)           # the header, before anything is measured
    assert seen[1][1:] == (True, False, False)            # our throughput before the peer runs
    assert seen[-1][1:] == (True, True, True)


def test_the_pytorch_peer_computes_the_same_step():
    pytest.importorskip("torch")
    r = bench_train.run("numpy", "tiny", batch=2, steps=1, warmup=0, breakdown_steps=0, peer=True, rounds=3)
    assert r["peer"]["agrees"], r["peer"]["check"]
    assert r["peer"]["frames_per_s"] > 0
    # ours / peer: the median of three rounds, each its own timing of both (the first reuses ours)
    rounds = r["peer"]["rounds"]
    assert len(rounds) == 3 and rounds[0]["ours_ms"] == r["step_ms"]
    assert all(q["ratio"] == q["peer_ms"] / q["ours_ms"] for q in rounds)
    assert r["peer"]["ratio"] == sorted(q["ratio"] for q in rounds)[1]


def test_the_cpu_peer_gets_the_threads_our_blas_gets(monkeypatch):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    try:
        r = bench_train.run("numpy", "tiny", batch=2, steps=1, warmup=0, breakdown_steps=0, peer=True, rounds=1)
    finally:
        torch.set_num_threads(before)
    assert r["peer"]["threads"] == 1
    assert "1 thread)" in bench_train.format_part(r, "peer")[0]


@pytest.mark.parametrize("ours_off_by", [0.0, 0.01])
def test_over_the_bound_the_exact_step_decides(monkeypatch, ours_off_by):
    """Two float32 steps further apart than the bound: the float64 reference decides. Ours as computed
    is the exact step's to ~1e-6 (AGREE); ours with every gradient 1% off is not (DISAGREE)."""
    pytest.importorskip("torch")
    monkeypatch.setitem(bench_train.PEER_REL_L2, "fp32", 1e-9)   # every real pair of float32 steps is over it
    real = bench_train.forward_and_gradients

    def ours_maybe_off(model, *args):
        out = real(model, *args)
        for flat in model.flat.values():
            if flat.grad.dtype == np.float32:
                flat.grad *= np.float32(1 + ours_off_by)
        return out

    monkeypatch.setattr(bench_train, "forward_and_gradients", ours_maybe_off)
    # two rounds: the second times more of our steps, which move our weights; the exact step must be
    # taken from the weights the check compared, before them
    r = bench_train.run("numpy", "tiny", batch=2, steps=1, warmup=0, breakdown_steps=0, peer=True, rounds=2)
    truth = r["peer"]["float64_truth"]
    assert set(truth) == {"encoder", "decoder", "discriminator"}
    assert r["peer"]["agrees"] == (ours_off_by == 0.0), truth
    assert "see below" in bench_train.format_part(r, "peer")[2]


def test_decode_reports_frames_per_second(tmp_path):
    r = bench_decode.run(source=(64, 36), frames=6, sizes=((32, 24),), repeats=1, workdir=tmp_path)
    assert [x["what"] for x in r["rows"]] == ["decode+fit", "frame store"]
    for x in r["rows"]:
        assert x["frames"] == 6 and x["seconds"] > 0 and x["frames_per_s"] > 0
    assert r["rows"][1]["MBps"] > 0
    assert "frames/s" in bench_decode.format_report(r)
