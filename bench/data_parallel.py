"""On paper: what data-parallel training (vaegan/distributed.py) sends per step, and the efficiency to
expect at 2-16 GPUs. Nothing is timed here; the numbers come from the presets (vaegan/config.py).

    python -m bench.data_parallel [--step-ms 228.6]

Per step, every rank all-reduces
    the gradients   one all-reduce per network of its flat float32 buffer (vaegan/step.py)
    batch-norm      per layer and pass: two of C float64 in the forward (sum; centred sum of squares),
                    one of 2C float64 in each backward (vaegan/sync_batch_norm.py); latency-bound
    scalars         the seven losses, the stop flag (twice at an epoch's end)
A ring all-reduce of B bytes over N ranks moves 2 (N-1)/N * B through each link: the gradients' time is
that over the link bandwidth. The small ones are latency: a tree's 2 log2(N) hops each (NCCL's choice for
small messages), at ALPHA per hop (a few us over NVLink, ~15 us over a network). The step does not overlap
communication with compute (the all-reduce follows the backward): efficiency = step / (step + both).
"""
import argparse
import math

from vaegan.config import PRESETS, make_config

# link: (bandwidth per direction in bytes/s, latency per hop in s)
LINKS = {"NVLink (H100 SXM, 450 GB/s)": (450e9, 5e-6), "100 Gb/s network (12.5 GB/s)": (12.5e9, 15e-6)}
GPUS = (2, 4, 8, 16)


def counts(cfg, tc=None):
    """(parameters per network, batch-norm collectives per step and their bytes), counted on the model,
    for the step of TrainConfig `tc` (default: the default recipe's)."""
    from kernels import get_backend
    from vaegan import nn
    from vaegan.model import VAEGAN, _layers

    model = VAEGAN(get_backend("numpy"), cfg)
    params = {name: flat.size for name, flat in model.flat.items()}
    from vaegan.step import TrainConfig

    tc = tc or TrainConfig()
    # forward passes and backward passes (every batch-norm is above the first layer, so each backward
    # reaches its data path) per step, by network: vaegan/step.py, forward_and_gradients. The
    # discriminator's: one per fake and one on the reals for its own loss, one of L_sim for the encoder
    # and decoder, and, unless the generator loss is minimax (whose gradients ride on the discriminator's
    # passes), one per fake for the decoder. The L_sim pass starts at the highest similarity tap: the
    # layers above it are skipped (nn.Sequential.backward)
    fakes = 2 if tc.recon_as_fake else 1
    dis_backwards = 1 + fakes + 1 + (0 if tc.gen_loss == "minimax" else 2)
    passes = {"encoder": (1, 1), "decoder": (2, 3), "discriminator": (3, dis_backwards)}
    dis = model.discriminator
    above_taps = {id(layer) for i, layer in enumerate(dis.net.layers) if i > max(dis.sim_taps)}
    calls, nbytes = 0, 0
    for name, net in model.networks().items():
        fwd, bwd = passes[name]
        for layer in _layers(net):
            if isinstance(layer, nn.BatchNorm):
                c, b = layer.gamma.data.size, bwd - (id(layer) in above_taps)
                calls += 2 * fwd + b
                nbytes += fwd * 2 * c * 8 + b * 2 * c * 8
    return params, calls, nbytes


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--step-ms", type=float, default=64 / 280 * 1e3,
                   help="one GPU's step (default: 64 frames at the goal of 280 frames/s)")
    a = p.parse_args()
    step = a.step_ms / 1e3
    print("| preset | encoder | decoder | discriminator | gradients all-reduced per step | batch-norm all-reduces per step |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    rows = {}
    for preset in PRESETS:
        params, calls, bn_bytes = counts(make_config(preset))
        grad_bytes = 4 * sum(params.values())
        rows[preset] = (grad_bytes, calls, bn_bytes)
        print(f"| {preset} | {params['encoder']:,} | {params['decoder']:,} | {params['discriminator']:,} | "
              f"{grad_bytes / 2**20:.1f} MiB | {calls} ({bn_bytes / 2**10:.0f} KiB) |")
    grad_bytes, calls, bn_bytes = rows["broad256x144"]
    print(f"\nbroad256x144, step {a.step_ms:.1f} ms per GPU; efficiency = step / (step + all-reduces), "
          f"and the all-reduces' time:\n")
    print("| link | " + " | ".join(f"{n} GPUs" for n in GPUS) + " |")
    print("| --- |" + " ---: |" * len(GPUS))
    for link, (bw, alpha) in LINKS.items():
        cells = []
        for n in GPUS:
            ring = 2 * (n - 1) / n
            t = ring * (grad_bytes + bn_bytes) / bw + (calls + 4) * 2 * math.log2(n) * alpha
            cells.append(f"{step / (step + t):.0%} ({t * 1e3:.1f} ms)")
        print(f"| {link} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
