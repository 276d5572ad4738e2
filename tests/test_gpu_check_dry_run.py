"""bench/gpu_check.sh cannot rot between GPU runs: its --dry-run runs every step's command on this CPU
machine (the numpy backend on the tiny preset, the host build of the CUDA kernels and Triton's
interpreter for the tests, nvcc for the CUDA sources) and must leave what a GPU run leaves: at most 8
files, each under the device tool's 16 MiB, a summary naming every step with exit 0, and the tables.
It takes one to three minutes on two cores (most of it g++ building the host kernels and nvcc)."""
import os
import re
import subprocess
import sys
import tarfile

import pytest

from tests.optional import require

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = ("warm", "env", "tests", "kernels_conv", "train_cupy", "train_triton")
FILES = {"summary.txt", "env.txt", "tests.txt", "kernels_conv.txt", "train_cupy.txt", "train_triton.txt",
         "raw.tar.gz", "caches.tar.gz"}
CONV_OPS = ("conv2d_forward", "conv2d_backward_data", "conv2d_backward_weight", "conv_transpose2d_forward",
            "conv_transpose2d_backward_data", "conv_transpose2d_backward_weight")


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    if os.environ.get("VAEGAN_SKIP_NVCC") == "1":
        pytest.skip("VAEGAN_SKIP_NVCC=1: the dry run compiles the CUDA sources with nvcc")
    out = tmp_path_factory.mktemp("gpu_check_out")
    env = dict(os.environ, OUT=str(out), PYTHON=sys.executable)
    result = subprocess.run(["bash", os.path.join(ROOT, "bench", "gpu_check.sh"), "--dry-run"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=2400)
    return result, out


def read(out, name):
    return (out / name).read_text()


FAKE_PYTHON = """#!/bin/sh
case "$*" in *"import "*) exit 1;; esac
echo "started: $*"
echo "Traceback: boom in $3" >&2
exit 3
"""


def test_a_failed_step_shows_its_last_lines_in_the_summary_and_the_run_goes_on(tmp_path):
    """Every step's python replaced by one that prints to stdout and stderr and exits 3 (no real work)."""
    fake = tmp_path / "python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out), PYTHON=str(fake))
    result = subprocess.run(["bash", os.path.join(ROOT, "bench", "gpu_check.sh"), "--dry-run"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    summary = read(out, "summary.txt")
    for step in STEPS:
        assert re.search(rf"^== {step} \(cap \d+s\): .*\n   exit 3 after", summary, re.MULTILINE), step
    assert "   | Traceback: boom in bench.kernels" in summary and "   | Traceback: boom in bench.train" in summary
    assert "Traceback: boom in bench.gpu_env" in read(out, "env.txt")     # stderr is in the step's file too
    assert len(list(out.iterdir())) <= 8


@pytest.mark.slow
def test_every_step_runs_and_exits_zero(dry_run):
    # the env step checks PyTorch's matmul, the peer of the check's timings: without PyTorch it rightly fails
    require("torch", "the GPU check's rehearsal (its env step runs PyTorch)", "CI must install torch (see .ci/run)")
    result, out = dry_run
    assert result.returncode == 0, result.stderr[-3000:]
    summary = read(out, "summary.txt")
    for step in STEPS:
        m = re.search(rf"^== {step} \(cap \d+s\): .*\n   exit (\d+) after", summary, re.MULTILINE)
        assert m, f"summary.txt does not list step {step}:\n{summary}"
        assert m.group(1) == "0", f"step {step} exited {m.group(1)}:\n{summary}"
    env = read(out, "env.txt")
    assert "0 checks failed" in env
    assert re.search(r"^recorded \d+ specializations", env, re.MULTILINE), env[-2000:]
    assert re.search(r"^installed \d+ carried binaries", env, re.MULTILINE), env[-2000:]
    assert re.search(r"^   tests as printed: [1-9]\d* passed, 0 failed, 0 errors", summary, re.MULTILINE), summary
    assert re.search(r"^Triton compiles the JIT asked for after the warm-up: 0 misses", summary, re.MULTILINE)


@pytest.mark.slow
def test_at_most_eight_files_each_under_16_mib(dry_run):
    _, out = dry_run
    files = {p.name: p for p in out.rglob("*") if p.is_file()}
    assert set(files) == FILES and len(files) <= 8
    assert all(p.stat().st_size < 16 * 2**20 for p in files.values())
    with tarfile.open(out / "raw.tar.gz") as tar:
        names = {os.path.basename(n) for n in tar.getnames()}
    assert {"kernels_conv.json", "train_cupy.json", "train_triton.json", "tests.xml", "manifest.jsonl"} <= names


@pytest.mark.slow
def test_tables_are_in_the_step_files(dry_run):
    _, out = dry_run
    conv = read(out, "kernels_conv.txt")
    assert re.search(r"^\d+ rows, 0 failed or in error$", conv, re.MULTILINE), conv[-2000:]
    table = conv.split("rows as measured")[1]
    for op in CONV_OPS:     # each op streamed as a row (numpy) and again in the final table
        assert len(re.findall(rf"^{op} .* numpy(/phases)? ", table, re.MULTILINE)) >= 2, op
    tests = read(out, "tests.txt")
    assert len(re.findall(r"^=+ \d+ passed", tests, re.MULTILINE)) == 1
    for name in ("train_cupy.txt", "train_triton.txt"):
        text = read(out, name)
        assert re.search(r"^throughput: [\d.]+ frames/s", text, re.MULTILINE), text
        assert "time per step by network and op kind" in text and "memory:" in text
