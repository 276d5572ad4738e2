#!/usr/bin/env bash
# bench/gpu_check.sh -- the GPU check in one device call: proves both GPU backends correct, then times
# them beside cuDNN/PyTorch. Run from the repository root:
#
#   bash bench/gpu_check.sh              on the GPU machine; everything lands in $OUT (default ./bench-out)
#   bash bench/gpu_check.sh --dry-run    the same steps rehearsed on a CPU machine on tiny shapes
#                                        (tests/test_gpu_check_dry_run.py runs it, so CI keeps it working)
#
# TIME PLAN (H100/H200, 16 cores). A session gets 15 minutes of device time, machine start (1-3 min)
# included; the command is held to BUDGET_S = 300 s (steps end by 290 s, packing gets the last 10 s) so
# that a second call still fits. Every step runs under `timeout` at its cap (SIGINT first, so that pytest
# still writes its summary and junit file), and never past the budget (a step with under 20 s left is
# skipped and says so). Nothing compiles after step 0: every later step counts the Triton compiles it
# caused (VAEGAN_TRITON_COMPILE_LOG) and the summary shows them; CuPy's kernels are all compiled in step 1.
#   step 0  warm     cap 150 s  bench.warm_caches: records every Triton specialization that steps 1-4
#                               launch (broad256x144, batch 64 and 2, config 0: 684 kernels, 369 with
#                               tl.dot; 24 CPU-s, one process per workload, no compiling), files the
#                               binaries carried in bench/triton_sm90_cache.tar.gz under this machine's
#                               Triton keys (7.5 s here), compiles what is missing on 16 processes (all 684
#                               took ~290 CPU-s here, ptxas included: ~20 s on 16 cores). Expected 20-30 s
#                               with the archive current, ~45 s with nothing carried.
#   step 1  env      cap  45 s  versions, driver; CuPy and PyTorch matmuls in one process; every .cu
#                               through CuPy's RawModule (NVRTC) with the loader's options: ~0.5-2 s a
#                               file (nvcc takes 0.4-2.4 s each here), 16 files, into CuPy's kernel cache
#                               for the later steps; one Triton launch (a cache hit). Expected 15-25 s.
#   step 2  tests    cap 100 s  every `gpu` test of both backends (1979: float32, TF32, float64),
#                               pytest-xdist -n 14, one BLAS/OpenMP thread per worker, pytest-timeout 60 s a
#                               test (the slowest is a NumPy reference on the CPU: 2.3 s for larsen64's
#                               16384->2048 linear backward in float64 here, one thread, at load 7; all
#                               449 cases' references take 22 s in float64). VAEGAN_TRITON_CONFIG=0:
#                               each autotuned kernel runs its first config.
#   step 3  conv     cap  60 s  bench.kernels on broad256x144's convolutions (forward, data and weight
#                               gradients, conv and transposed: 6 ops x 4 layers = 24 cases, 7 rows each:
#                               cupy x3, triton x2, torch, torch/tf32), validated at batch 2 against the
#                               float64 reference, timed at batch 64, 5 calls a row.
#   step 4  train    cap 2x40 s bench.train --preset broad256x144 --batch 64, cupy then triton: frames/s,
#                               the peer's AGREE check and ratio, a breakdown. 2 warm-up + 5 timed steps.
#   packing          ~10 s      caches and JSON tarred into $OUT.
# Sum of the caps: 150 + 45 + 100 + 60 + 80 = 435 s, of which the budget keeps 290: the caps are for a
# step that runs long, the expected total is ~30 + 20 + 80 + 50 + 60 + 10 = 250 s.
# Everything prints as it is measured (python -u; bench tools print each row or part as they go and
# rewrite their JSON), so a step cut off at its cap keeps what it measured, and a crashed step shows its
# last lines in summary.txt.
#
# FILES BACK (the device tool returns at most 8, each under 16 MiB): summary.txt (plan, every step's
# command, exit code and time, the last lines of a failed step, the headline numbers), env.txt,
# tests.txt, kernels_conv.txt, train_cupy.txt, train_triton.txt (each step's stdout and stderr as it
# ran; the warm step writes to env.txt), raw.tar.gz (JSON reports, pytest's junit XML, nvidia-smi -q,
# the Triton compile log, the manifest), caches.tar.gz (Triton's and CuPy's kernel caches). A later call can start warm: carry that caches.tar.gz in the working tree and set
# CACHE_IN=path/to/caches.tar.gz. Triton's cache records absolute paths, so the caches always live in
# CACHE_ROOT (default /tmp/vaegan-gpu-cache). Full autotuning instead of the first config: TUNE=1
# (then TRITON_CACHE_AUTOTUNING=1 keeps the tuning results in that cache too).
#
# The device machine has no PyAV: nothing here imports vaegan.media (bench.kernels, bench.train
# and the two gpu test files do not). Its python with PyTorch is python3.
set -u

DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
if [ $# -gt 0 ]; then echo "usage: bash bench/gpu_check.sh [--dry-run]" >&2; exit 2; fi

OUT=${OUT:-bench-out}
PYTHON=${PYTHON:-python3}
BUDGET_S=${BUDGET_S:-300}
MIN_STEP_S=20
ARCHIVE=${ARCHIVE:-bench/triton_sm90_cache.tar.gz}   # the Triton binaries built on a CPU machine
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RAW=$(mktemp -d)
trap 'rm -rf "$RAW"' EXIT
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"

if [ "$DRY" = 1 ]; then
    CACHE_ROOT=${CACHE_ROOT:-$RAW/cache}
    export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}   # steadier on a shared CPU
else
    CACHE_ROOT=${CACHE_ROOT:-/tmp/vaegan-gpu-cache}
fi
mkdir -p "$CACHE_ROOT/triton" "$CACHE_ROOT/cupy"
if [ -n "${CACHE_IN:-}" ]; then
    tar -xzf "$CACHE_IN" -C "$CACHE_ROOT" && echo "caches restored from $CACHE_IN" >> "$SUMMARY"
fi
export TRITON_CACHE_DIR="$CACHE_ROOT/triton" CUPY_CACHE_DIR="$CACHE_ROOT/cupy"
export TRITON_CACHE_AUTOTUNING=1 PYTHONUNBUFFERED=1
export VAEGAN_TRITON_COMPILE_LOG="$RAW/triton_compiles.log"   # one line per compile the JIT asks for
: > "$VAEGAN_TRITON_COMPILE_LOG"
if [ "${TUNE:-0}" = 1 ]; then unset VAEGAN_TRITON_CONFIG; else export VAEGAN_TRITON_CONFIG=0; fi

CONV_OPS=(conv2d_forward conv2d_backward_data conv2d_backward_weight
          conv_transpose2d_forward conv_transpose2d_backward_data conv_transpose2d_backward_weight)
GPU_TESTS=(tests/test_cupy_backend.py tests/test_triton_backend.py)
PYTEST=(-m pytest -p no:cacheprovider -v -rfE --tb=short)
if "$PYTHON" -c "import pytest_timeout" 2>/dev/null; then PYTEST+=(--timeout 60); fi
# one BLAS/OpenMP thread for each pytest worker: 14 workers of 16 threads each fought over 16 cores
ONE_THREAD=(env OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1)
if [ "$DRY" = 1 ]; then
    # the CPU stand-ins of each step: the host build of the CUDA kernels and Triton's interpreter for
    # the gpu tests, the numpy backend on the tiny preset for the bench tools, recording without compiling
    # for the warm-up (tests/test_warm_caches.py compiles)
    WARM=(--preset tiny --batch 2 --validate-batch 1 --jobs 2 --no-compile)
    ENV_ARGS=(--dry-run)
    TEST_FILES=(tests/test_cupy_host.py tests/test_triton_interpreted.py)
    # (one line: pytest -k does not read a newline as a space)
    TESTS=(-k "test_op_on_host and h100 and float32 and (relu_forward or conv2d_forward) or test_convolution_on_host and h100 and float32 and implicit and conv2d_forward or test_op_matches_reference and (float32 and (relu_forward or conv2d_forward) or float64 and batch_norm_forward)")
    WORKERS=2
    DIST=(--dist loadfile)   # one worker builds the host kernels, the other interprets Triton
    CONV=(--backend numpy --preset tiny --batch 2 --validate-batch 1 --layer enc.conv1 dec.conv1
          --repeats 2 --budget-s 0.05 --ceiling-copy-mib 8 --ceiling-gemm-n 128)
    TRAIN=(--preset tiny --batch 2 --steps 1 --warmup 0 --breakdown-steps 1)
    train_backend() { echo numpy; }
    CAP_WARM=300 CAP_ENV=300 CAP_TESTS=600 CAP_CONV=300 CAP_TRAIN=300   # generous: CI machines are shared
    BUDGET_S=100000
else
    WARM=(--preset broad256x144 --batch 64 --validate-batch 2 --jobs "$(nproc)")
    ENV_ARGS=()
    WORKERS=${WORKERS:-14}
    TEST_FILES=("${GPU_TESTS[@]}")
    TESTS=()
    DIST=(--dist load)
    CONV=(--backend cupy,triton --preset broad256x144 --batch 64 --validate-batch 2 --repeats 5 --budget-s 0.3)
    TRAIN=(--preset broad256x144 --batch 64 --steps 5 --warmup 2 --breakdown-steps 1)
    train_backend() { echo "$1"; }
    CAP_WARM=150 CAP_ENV=45 CAP_TESTS=100 CAP_CONV=60 CAP_TRAIN=40
fi
if [ -f "$ARCHIVE" ]; then WARM+=(--install "$ARCHIVE"); fi
PACK_S=10   # kept back from the budget for packing
# pytest-xdist where it is installed (the [test] extra brings it; the device machine has it); serial without
if "$PYTHON" -c "import xdist" 2>/dev/null; then PYTEST+=(-n "$WORKERS" "${DIST[@]}"); fi

STEPS_RUN=()
FAILED_STEPS=0
step() {  # step NAME FILE CAP COMMAND...: run COMMAND under timeout, stdout and stderr appended to $OUT/FILE
    local name=$1 file=$2 cap=$3
    shift 3
    local left=$((BUDGET_S - PACK_S - SECONDS))
    if [ "$cap" -gt "$left" ]; then cap=$left; fi
    if [ "$cap" -lt "$MIN_STEP_S" ]; then
        echo "== $name: skipped, ${left}s of the ${BUDGET_S}s budget left" | tee -a "$SUMMARY"
        STEPS_RUN+=("$name skipped")
        return
    fi
    echo "== $name (cap ${cap}s): $*" | tee -a "$SUMMARY"
    echo "== $name: $*" >> "$OUT/$file"
    local start=$SECONDS lines_before compiles_before
    lines_before=$(wc -l < "$OUT/$file")
    compiles_before=$(grep -c '^miss' "$VAEGAN_TRITON_COMPILE_LOG")
    # SIGINT at the cap (pytest then prints its summary and writes its junit file), SIGKILL 10 s later
    timeout -s INT -k 10 "$cap" "$@" >> "$OUT/$file" 2>&1
    local rc=$?
    local note=""
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then note=" (cut off at its cap)"; fi
    local compiled=$(($(grep -c '^miss' "$VAEGAN_TRITON_COMPILE_LOG") - compiles_before))
    echo "   exit $rc after $((SECONDS - start))s$note; ${SECONDS}s into the run; Triton compiles the JIT asked for: $compiled" \
        | tee -a "$SUMMARY"
    if grep -q -- "-m pytest" <<< "$*"; then   # what pytest printed as it went, even when cut off
        tail -n +"$((lines_before + 1))" "$OUT/$file" | awk '/ PASSED/{p++} / FAILED/{f++} / ERROR/{e++} / SKIPPED/{s++}
            END {printf "   tests as printed: %d passed, %d failed, %d errors, %d skipped\n", p, f, e, s}' \
            | tee -a "$SUMMARY"
    fi
    if [ "$rc" != 0 ]; then
        tail -n 20 "$OUT/$file" | sed 's/^/   | /' >> "$SUMMARY"
        FAILED_STEPS=$((FAILED_STEPS + 1))
    fi
    STEPS_RUN+=("$name exit $rc")
}

{
    echo "bench/gpu_check.sh $([ "$DRY" = 1 ] && echo '--dry-run (CPU rehearsal: tiny shapes, no GPU)')"
    echo "started $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "budget ${BUDGET_S}s; caps: warm ${CAP_WARM}s, env ${CAP_ENV}s, tests ${CAP_TESTS}s, conv ${CAP_CONV}s, train 2x${CAP_TRAIN}s"
    echo "VAEGAN_TRITON_CONFIG=${VAEGAN_TRITON_CONFIG:-(unset: full autotuning)} TRITON_CACHE_DIR=$TRITON_CACHE_DIR CUPY_CACHE_DIR=$CUPY_CACHE_DIR"
} | tee -a "$SUMMARY"

# --- step 0: every Triton kernel the later steps launch, in the cache before they launch it ----------
step warm env.txt "$CAP_WARM" "$PYTHON" -u -m bench.warm_caches "${WARM[@]}" --manifest-out "$RAW/manifest.jsonl"

# --- step 1: the machine, the libraries, every CUDA source through NVRTC, one Triton launch ----------
if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,temperature.gpu,memory.used \
        --format=csv >> "$OUT/env.txt" 2>&1
    nvidia-smi -q > "$RAW/nvidia-smi-q.txt" 2>&1
else
    echo "no nvidia-smi on this machine" >> "$OUT/env.txt"
fi
step env env.txt "$CAP_ENV" "$PYTHON" -u -m bench.gpu_env "${ENV_ARGS[@]}"

# --- step 2: correctness of both backends: float32, TF32, float64 ----------------------------------
step tests tests.txt "$CAP_TESTS" "${ONE_THREAD[@]}" "$PYTHON" -u "${PYTEST[@]}" "${TESTS[@]}" \
    --junitxml "$RAW/tests.xml" "${TEST_FILES[@]}"

# --- step 3: the convolutions against cuDNN ---------------------------------------------------------
step kernels_conv kernels_conv.txt "$CAP_CONV" "$PYTHON" -u -m bench.kernels "${CONV[@]}" --op "${CONV_OPS[@]}" \
    --json "$RAW/kernels_conv.json"

# --- step 4: training throughput, each backend beside the PyTorch step --------------------------------
for backend in cupy triton; do
    step "train_$backend" "train_$backend.txt" "$CAP_TRAIN" "$PYTHON" -u -m bench.train \
        --backend "$(train_backend "$backend")" "${TRAIN[@]}" --json "$RAW/train_$backend.json"
done

# --- packing: at most 8 files, each under 16 MiB ------------------------------------------------------
LIMIT=$((15 * 1024 * 1024))
tar -czf "$OUT/raw.tar.gz" -C "$RAW" --exclude ./cache . 2>> "$SUMMARY"
tar -czf "$OUT/caches.tar.gz" -C "$CACHE_ROOT" . 2>> "$SUMMARY"
if [ "$(stat -c %s "$OUT/caches.tar.gz")" -gt "$LIMIT" ]; then
    # Triton finds a cached kernel by its JSON and cubin; the intermediate IRs are for reading only
    find "$CACHE_ROOT/triton" \( -name '*.llir' -o -name '*.ttir' -o -name '*.ttgir' -o -name '*.source' \
        -o -name '*.ptx' \) -delete
    tar -czf "$OUT/caches.tar.gz" -C "$CACHE_ROOT" . 2>> "$SUMMARY"
    echo "caches.tar.gz: Triton's intermediate IRs and PTX left out to stay under 16 MiB" >> "$SUMMARY"
fi
if [ "$(stat -c %s "$OUT/caches.tar.gz")" -gt "$LIMIT" ]; then
    tar -czf "$OUT/caches.tar.gz" -C "$CACHE_ROOT" ./cupy 2>> "$SUMMARY"
    echo "caches.tar.gz: CuPy's cache only (Triton's is over 16 MiB even without its IRs)" >> "$SUMMARY"
fi

# --- the headline numbers ---------------------------------------------------------------------------
{
    echo
    echo "== headline"
    grep -hE "^(recorded|installed|[0-9]+ kernels:)" "$OUT/env.txt" 2>/dev/null
    grep -hE "^(FAILED|[0-9]+ checks failed)|^device " "$OUT/env.txt" 2>/dev/null
    grep -hE "^=+ .*(passed|failed|error|skipped|no tests ran)" "$OUT/tests.txt" 2>/dev/null
    grep -hE "^ceiling|rows, .* failed|^bench.kernels" "$OUT/kernels_conv.txt" 2>/dev/null
    for name in train_cupy train_triton; do
        grep -hE "^bench.train|^throughput|^peer|AGREE|DISAGREE|^peak" "$OUT/$name.txt" 2>/dev/null
    done
    echo "Triton compiles the JIT asked for after the warm-up: $(grep -c '^miss' "$VAEGAN_TRITON_COMPILE_LOG") misses, $(grep -c '^hit' "$VAEGAN_TRITON_COMPILE_LOG") cache hits"
    echo
    echo "== steps: ${STEPS_RUN[*]/%/;}"
    echo "finished after ${SECONDS}s; files: $(cd "$OUT" && ls | tr '\n' ' ')"
} >> "$SUMMARY"
cat "$SUMMARY"
[ "$FAILED_STEPS" = 0 ]   # the exit status: 0 when every step that ran exited 0
