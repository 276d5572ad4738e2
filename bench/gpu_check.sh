#!/usr/bin/env bash
# One device call that measures what bench/README.md's GPU slot asks for, sized to fit one call of the
# device tool (10 minutes at most; every step has its own timeout, so one hang costs only its slot).
# Run from the repository root:   bash bench/gpu_check.sh            (writes under $OUT, or ./bench-out)
# Logs, tables and JSON land in $OUT; the end of stdout is a short summary (the device tool returns the
# tail). PyAV is not on the device machine, so bench.decode is not run here.
set -u
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
PRESET=${PRESET:-broad256x144}
BATCH=${BATCH:-64}

step() {  # step NAME SECONDS COMMAND...: run with a timeout, table to $OUT/NAME.txt, progress to NAME.log
    local name=$1 limit=$2
    shift 2
    echo "== $name: $*" | tee -a "$OUT/summary.txt"
    timeout "$limit" "$@" > "$OUT/$name.txt" 2> "$OUT/$name.log"
    echo "   exit $? after ${SECONDS}s total" | tee -a "$OUT/summary.txt"
}

nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$OUT/gpu.txt" 2>&1
# the convolutions first: every variant of both backends against cuDNN (fp32 and TF32)
step kernels_conv 240 python -m bench.kernels --backend cupy,triton --preset "$PRESET" --batch "$BATCH" \
    --op conv --json "$OUT/kernels_conv.json"
# everything else: batch norm, dense, element-wise, sampler, losses, Adam
step kernels_rest 150 python -m bench.kernels --backend cupy,triton --preset "$PRESET" --batch "$BATCH" \
    --op batch_norm linear relu leaky_relu tanh sigmoid reparam kl_normal mse bce adam \
    --json "$OUT/kernels_rest.json"
# training throughput, each backend at its default variant, with the PyTorch step beside it
step train_cupy 60 python -m bench.train --backend cupy --preset "$PRESET" --batch "$BATCH" --json "$OUT/train_cupy.json"
step train_triton 60 python -m bench.train --backend triton --preset "$PRESET" --batch "$BATCH" \
    --json "$OUT/train_triton.json"

for name in kernels_conv kernels_rest; do
    grep -E "^ceiling|rows," "$OUT/$name.txt" 2>/dev/null
done
for name in train_cupy train_triton; do
    grep -E "^throughput|^peer|AGREE|DISAGREE|^peak" "$OUT/$name.txt" 2>/dev/null
done
cat "$OUT/summary.txt"
