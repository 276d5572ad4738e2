#!/usr/bin/env bash
# One device call that measures what bench/README.md's GPU slot asks for: bench.kernels (the
# convolutions, then every other op) and bench.train (CuPy, then Triton), each beside PyTorch.
# Run from the repository root:   bash bench/gpu_check.sh            (writes under $OUT, or ./bench-out)
#
# Sized to one call of the device tool: every step has its own timeout (540 s together, under the
# tool's 600 s), so one hang costs only its slot, and bench.kernels rewrites its JSON after every case,
# so a step cut off keeps what it measured. Where the time goes (estimated on the 2-core CPU machine):
# the float64 NumPy reference at batch 64 is most of it, about 300 s for the 32 convolution cases and
# 220 s for the other 77 there; hence 10 timed calls per row (GPU medians are steady) and no CPU rows.
# The device tool returns at most 8 files from $OUT: the four tables, summary.txt (GPU, commands, exit
# codes) and raw.tar.gz (the JSON and the progress logs). PyAV is not on the device machine, so
# bench.decode is not run here. The python there that has PyTorch is python3.
set -u
OUT=${OUT:-bench-out}
PYTHON=${PYTHON:-python3}
PRESET=${PRESET:-broad256x144}
BATCH=${BATCH:-64}
mkdir -p "$OUT"
RAW=$(mktemp -d)
TIMING=(--repeats 10 --budget-s 0.5)

step() {  # step NAME SECONDS ARGS...: python ARGS with a timeout; table to $OUT/NAME.txt, progress to NAME.log
    local name=$1 limit=$2
    shift 2
    echo "== $name: $PYTHON $*" | tee -a "$OUT/summary.txt"
    timeout "$limit" "$PYTHON" "$@" > "$OUT/$name.txt" 2> "$RAW/$name.log"
    echo "   exit $? after ${SECONDS}s total" | tee -a "$OUT/summary.txt"
}

nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv \
    >> "$OUT/summary.txt" 2>&1
# the convolutions first: every variant of both backends against cuDNN (fp32 and TF32)
step kernels_conv 210 -m bench.kernels --backend cupy,triton --preset "$PRESET" --batch "$BATCH" "${TIMING[@]}" \
    --op conv --json "$RAW/kernels_conv.json"
# everything else: batch norm, dense, element-wise, sampler, losses, Adam
step kernels_rest 180 -m bench.kernels --backend cupy,triton --preset "$PRESET" --batch "$BATCH" "${TIMING[@]}" \
    --op batch_norm linear relu leaky_relu tanh sigmoid reparam kl_normal mse bce adam \
    --json "$RAW/kernels_rest.json"
# training throughput, each backend at its default variant, with the PyTorch step beside it
for backend in cupy triton; do
    step "train_$backend" 75 -m bench.train --backend "$backend" --preset "$PRESET" --batch "$BATCH" \
        --json "$RAW/train_$backend.json"
done
tar -czf "$OUT/raw.tar.gz" -C "$RAW" .

for name in kernels_conv kernels_rest; do
    grep -E "^ceiling|rows," "$OUT/$name.txt"
done
for name in train_cupy train_triton; do
    grep -E "^throughput|^peer|AGREE|DISAGREE|^peak" "$OUT/$name.txt"
done
cat "$OUT/summary.txt"
