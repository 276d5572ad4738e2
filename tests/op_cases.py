"""Every op of the contract (kernels/api.py) as declarative test cases, shared by all backends.

A case (bench/cases.py's Case: this file lists the shapes, bench/cases.py says once how each op is
called and how its inputs are drawn, for the benchmark and the tests alike) is a name, the contract op
it calls, and two functions:

    make(rng, dtype) -> dict of NumPy input arrays   fresh random draws (never zeros), of `dtype`
    run(K, inputs)   -> tuple of backend arrays       converts the inputs with K.asarray, calls K

so that "every GPU op against the reference on fresh random inputs" reads

    for case in CASES:
        inputs = case.make(rng, np.float32)
        got = case.run(K_gpu, inputs)
        want = case.run(K_numpy, inputs)

Hyper-parameters (stride, padding, slope, sigma, ...) live in the case (`case.params`), not in the
inputs: `inputs` holds only arrays. Inputs that a backward takes from its forward (batch-norm's
mean/invstd, tanh's y, ...) are computed consistently, in plain NumPy float64.

Two families:
  * awkward small shapes (`case.preset is None`): kernel 1/3/5 and non-square, stride 1/2/3, padding
    0..2 (wider than the kernel too), odd and non-square images, output_padding 0/1/2, batch 1, one
    channel, no bias, batch norm 2-D and 4-D with every slope. Cheap: fine for a CPU interpreter.
  * the real layer shapes of the presets broad256x144 and larsen64 at batch 2 (`case.preset` names
    the preset, `case.real` is True): for GPU tests and benchmarks; seconds of NumPy reference time.
A third list, MULTI_TILE_CASES, is neither: shapes whose channels, pixels and reductions run past one
tile of the GPU kernels while staying small elsewhere, for the CPU runs of the GPU backends (see there).

`adam_step` works in place: its run copies param, m, v, steps, and returns the updated copies.
"""
import numpy as np

from bench import cases as bench_cases
from bench.cases import (activation_inputs, adam_inputs, bn_inputs, case, conv_inputs, conv_params, latent_inputs,
                         linear_inputs, loss_inputs)
from bench.layers import ConvSpec

Case = bench_cases.Case

BN_EPS = 1e-5
# the order in which each family's ops are listed (and tested)
CONV_OPS = ("conv2d_forward", "conv2d_backward", "conv2d_backward_data", "conv2d_backward_weight")
ACT_OPS = ("relu_forward", "relu_backward", "tanh_forward", "tanh_backward", "sigmoid_forward", "sigmoid_backward")
LATENT_OPS = ("reparam_forward", "reparam_backward", "reparam_kl_forward", "reparam_kl_backward", "kl_normal")


# ------------------------------------------------------------------------------------------------
# Shapes
# ------------------------------------------------------------------------------------------------

def conv(n, c_in, c_out, h, w, k, stride, padding, bias=True):
    """One convolution layer (bench/layers.py's ConvSpec): x is (n, c_in, h, w), k one size or (kh, kw)."""
    kh, kw = (k, k) if isinstance(k, int) else k
    return ConvSpec(n, c_in, c_out, h, w, kh, kw, stride, padding, 0, False, bias)


def conv_t(n, c_in, c_out, h, w, k, stride, padding, output_padding=0, bias=True):
    kh, kw = (k, k) if isinstance(k, int) else k
    return ConvSpec(n, c_in, c_out, h, w, kh, kw, stride, padding, output_padding, True, bias)


# awkward small shapes ---------------------------------------------------------------------------
CONV_SHAPES = [
    conv(2, 3, 4, 7, 6, k=3, stride=1, padding=1),
    conv(1, 1, 2, 5, 9, k=1, stride=1, padding=0),           # 1x1 kernel, one input channel, batch 1
    conv(2, 2, 3, 9, 7, k=5, stride=2, padding=2),           # the presets' 5x5 s2 p2, odd sizes
    conv(1, 3, 1, 6, 8, k=3, stride=2, padding=0),           # one output channel, rows left over
    conv(2, 2, 2, 5, 6, k=3, stride=2, padding=1, bias=False),
    conv(1, 2, 3, 4, 5, k=1, stride=2, padding=2),           # padding wider than the kernel
    conv(2, 1, 2, 7, 9, k=5, stride=1, padding=0),           # 5x5 without padding
    conv(1, 2, 2, 6, 7, k=(3, 1), stride=1, padding=1),      # non-square kernel
    conv(1, 3, 2, 8, 6, k=3, stride=3, padding=2),           # stride 3
]

CONV_T_SHAPES = [
    conv_t(2, 3, 2, 4, 5, k=3, stride=2, padding=1, output_padding=1),
    conv_t(1, 1, 3, 3, 4, k=5, stride=2, padding=2, output_padding=1),  # the presets' decoder layer
    conv_t(2, 2, 2, 5, 3, k=3, stride=1, padding=0),
    conv_t(1, 2, 1, 4, 4, k=1, stride=2, padding=0, output_padding=1),  # extra row/col: bias only
    conv_t(2, 3, 4, 3, 5, k=5, stride=2, padding=2, output_padding=0),
    conv_t(1, 2, 3, 4, 3, k=3, stride=1, padding=2),                    # padding crops most output
    conv_t(2, 2, 3, 3, 4, k=4, stride=2, padding=1, bias=False),
    conv_t(1, 2, 2, 3, 5, k=(1, 3), stride=3, padding=1, output_padding=2),
]

BN_SHAPES = [(2, 3, 4, 5), (1, 2, 3, 3), (3, 1, 2, 3), (4, 5), (2, 3), (5, 1)]
SLOPES = (None, 0.0, 0.2)     # identity, ReLU, leaky ReLU
ACT_SHAPES = [(2, 3, 4, 5), (5, 7), (1, 1, 1, 3)]
LEAKY_SLOPES = (0.2, 0.01)
LINEAR_SHAPES = [(3, 5, 4, True), (1, 7, 2, True), (2, 1, 3, False), (4, 6, 1, True)]  # (n, in, out, bias)
LATENT_SHAPES = [(4, 8), (1, 3), (3, 1)]
SIGMAS = (1.0, 0.3)
LOSS_SHAPES = [(2, 3, 4, 5), (3, 7), (1,)]
ADAM_SETTINGS = [  # (param shape, step, lr, beta1, beta2, eps, weight_decay)
    ((7,), 1, 1e-2, 0.5, 0.999, 1e-8, 0.0),
    ((3, 5), 10, 2e-4, 0.9, 0.999, 1e-8, 0.01),
    ((2, 1, 3, 3), 3, 1e-3, 0.5, 0.99, 1e-6, 0.1),
]

# multi-tile shapes -------------------------------------------------------------------------------
# The GPU kernels cut each product into tiles: Triton's convolutions and GEMM into BLOCK_M x BLOCK_N
# programs of 16..128 along each axis, stepping BLOCK_K = 32 or 64 along the reduction; the CuPy
# implicit GEMM into 64 x 64 tiles stepping 16, split over a third grid axis when the reduction is long;
# the batch-norm and bias reductions into blocks of 32..256 channels (CuPy) or 64-channel programs
# (Triton). The awkward shapes above have at most 5 channels: everything sits in the first tile of
# every channel axis, so a kernel that gets the offset of its second tile wrong passes them.
# Each shape below is chosen for the kernel(s) of one op (named beside it; the other ops of the shape
# would cost interpreter time and cross less): 130 channels on the channel axis that kernel tiles
# (past Triton's largest tile, 128, and the CuPy tile, 64, with a ragged remainder), more than 128
# pixels on its pixel axis where that costs little, a reduction a little past one step (36 = 32 + 4),
# and batch 1-2, images of 6-33 px elsewhere. Which tile of which backend each one crosses is written,
# and checked against the launchers' own grids, in tests/test_triton_interpreted.py and
# tests/test_cupy_host.py.
MULTI_TILE_CONV = [
    # conv forward: pixels 2*9*9 = 162, output channels 130, reduction 4*3*3 = 36
    (conv(2, 4, 130, 9, 9, k=3, stride=1, padding=1), "conv2d_forward"),
    # data gradient: input pixels 162, input channels 130, reduction 4*3*3 = 36
    (conv(2, 130, 4, 9, 9, k=3, stride=1, padding=1), "conv2d_backward_data"),
    # weight gradient: output channels 130, columns 15*3*3 = 135, reduction over 1*6*6 = 36 pixels
    (conv(1, 15, 130, 6, 6, k=3, stride=1, padding=1), "conv2d_backward_weight"),
    # weight gradient with its reduction split: 1*33*33 = 1089 pixels, output channels 70
    (conv(1, 4, 70, 33, 33, k=3, stride=1, padding=1), "conv2d_backward_weight"),
    # transposed conv forward (the data-gradient kernel at stride 2, 4 phases): output channels 130,
    # output pixels 18*18 (81 per phase), reduction 30*3*3 = 270 (30*2*2 = 120 per phase)
    (conv_t(1, 30, 130, 9, 9, k=3, stride=2, padding=1, output_padding=1), "conv_transpose2d_forward"),
    # its data gradient (the forward kernel on dy): pixels 2*9*9 = 162, channels 130, reduction 36
    (conv_t(2, 130, 4, 9, 9, k=3, stride=2, padding=1, output_padding=1), "conv_transpose2d_backward_data"),
    # its weight gradient (the weight kernel, x and dy exchanged): rows 130, columns 15*3*3 = 135,
    # reduction over 1*6*6 = 36 pixels
    (conv_t(1, 130, 15, 6, 6, k=3, stride=2, padding=1, output_padding=1), "conv_transpose2d_backward_weight"),
]
# (n, in, out, bias, ops): batch, inputs and outputs all past 128 (forward and both gradients);
# and a forward whose reduction over 600 inputs is split (two output tiles, one row tile)
MULTI_TILE_LINEAR = [(130, 130, 130, True, ("linear_forward", "linear_backward")),
                     (2, 600, 130, True, ("linear_forward",))]
# (shape, slope): 70 channels (two 64-channel programs, three 32-thread blocks) of 2*5*5 = 50 values
# or 40 rows; 40 channels in 2 chunks of 36 values; 260 features (two 256-thread blocks)
MULTI_TILE_BN = [((2, 70, 5, 5), 0.2), ((40, 70), 0.2), ((2, 40, 6, 6), 0.0), ((3, 260), 0.2)]
# Adam over 70x70 = 4900 parameters: 5 programs of 1024 (the last 804), 20 blocks of 256 threads (the last
# ragged), and on the tight host plan more elements than threads (each thread loops)
MULTI_TILE_ADAM = [((70, 70), 5, 1e-3, 0.9, 0.999, 1e-8, 0.01)]

# real layer shapes of the presets, at batch 2 ----------------------------------------------------
REAL_BATCH = 2


def _broad256x144():
    n = REAL_BATCH
    # encoder (and the discriminator, which reuses the encoder's convolution stack): 5x5 s2 p2
    enc = [conv(n, 3, 80, 144, 256, 5, 2, 2), conv(n, 80, 160, 72, 128, 5, 2, 2),
           conv(n, 160, 320, 36, 64, 5, 2, 2), conv(n, 320, 640, 18, 32, 5, 2, 2)]
    # decoder: linear to 9x16x640, then 5x5 s2 p2 output_padding 1 transposed convs
    dec = [conv_t(n, 640, 320, 9, 16, 5, 2, 2, 1), conv_t(n, 320, 160, 18, 32, 5, 2, 2, 1),
           conv_t(n, 160, 80, 36, 64, 5, 2, 2, 1), conv_t(n, 80, 3, 72, 128, 5, 2, 2, 1)]
    layers = [(f"enc{i + 1}/disc{i + 1}", s) for i, s in enumerate(enc)]
    layers += [(f"dec{i + 1}", s) for i, s in enumerate(dec)]
    return dict(image=(3, 144, 256), latent=200, layers=layers,
                # (label, n, in, out): the encoder's two heads, the decoder's input, the critic's output
                linear=[("enc_mu/enc_logvar", n, 640 * 9 * 16, 200), ("dec_fc", n, 200, 640 * 9 * 16),
                        ("disc_fc", n, 640 * 9 * 16, 1)],
                # (label, shape, slope): BN + activation after each hidden layer
                bn=[("enc2", (n, 160, 72, 128), 0.2), ("enc3", (n, 320, 36, 64), 0.2),
                    ("enc4", (n, 640, 18, 32), 0.2), ("dec_fc", (n, 640, 9, 16), 0.0),
                    ("dec1", (n, 320, 18, 32), 0.0), ("dec2", (n, 160, 36, 64), 0.0),
                    ("dec3", (n, 80, 72, 128), 0.0)])


def _larsen64():
    n = REAL_BATCH
    enc = [conv(n, 3, 64, 64, 64, 5, 2, 2), conv(n, 64, 128, 32, 32, 5, 2, 2),
           conv(n, 128, 256, 16, 16, 5, 2, 2)]
    dec = [conv_t(n, 256, 256, 8, 8, 5, 2, 2, 1), conv_t(n, 256, 128, 16, 16, 5, 2, 2, 1),
           conv_t(n, 128, 32, 32, 32, 5, 2, 2, 1)]
    dec_out = conv(n, 32, 3, 64, 64, 5, 1, 2)
    disc = [conv(n, 3, 32, 64, 64, 5, 1, 2), conv(n, 32, 128, 64, 64, 5, 2, 2),
            conv(n, 128, 256, 32, 32, 5, 2, 2), conv(n, 256, 256, 16, 16, 5, 2, 2)]
    layers = [(f"enc{i + 1}", s) for i, s in enumerate(enc)]
    layers += [(f"dec{i + 1}", s) for i, s in enumerate(dec)] + [("dec_out", dec_out)]
    layers += [(f"disc{i + 1}", s) for i, s in enumerate(disc)]
    return dict(image=(3, 64, 64), latent=128, layers=layers,
                linear=[("enc_fc", n, 256 * 8 * 8, 2048), ("enc_mu/enc_logvar", n, 2048, 128),
                        ("dec_fc", n, 128, 256 * 8 * 8), ("disc_fc1", n, 256 * 8 * 8, 512),
                        ("disc_fc2", n, 512, 1)],
                bn=[("enc2", (n, 128, 16, 16), 0.2), ("enc3", (n, 256, 8, 8), 0.2),
                    ("enc_fc", (n, 2048), 0.2), ("dec_fc", (n, 256, 8, 8), 0.0),
                    ("dec1", (n, 256, 16, 16), 0.0), ("dec3", (n, 32, 64, 64), 0.0),
                    ("disc4", (n, 256, 8, 8), 0.2), ("disc_fc1", (n, 512), 0.2)])


PRESET_LAYERS = {"broad256x144": _broad256x144(), "larsen64": _larsen64()}


# Batch-norm statistics where a one-pass variance fails: a large mean against a small spread, images of
# one channel far apart, and the channel's first value (every backend's shift K_c) far from all the others.
# x (N, C, H, W) with C = 2, float32, each channel drawn alike: name -> (offset, std, per-image step,
# first value's distance in std). docs/ops/batch_norm.md quotes what each backend gives on them; E[x^2] -
# mean^2 in float32 gets invstd wrong by 3e-3, 0.75 and 2.3 on the first three. Bounds, every backend:
# invstd to BN_HARD_INVSTD_BOUND relative (the float32 bound of the op tests; measured ~1e-7), the mean to
# BN_HARD_MEAN_BOUND in units of the std (a float32 mean 1e4 std away from 0 is itself rounded by 5e-4).
BN_HARD_INVSTD_BOUND = 1e-5
BN_HARD_MEAN_BOUND = 1e-3
BN_HARD = {
    "mean 1e3, std 1": (1e3, 1.0, 0.0, 0.0),
    "mean 1e4, std 1": (1e4, 1.0, 0.0, 0.0),
    "mean 1e2, std 0.01": (1e2, 0.01, 0.0, 0.0),
    "images 30 std apart": (1e3, 1.0, 30.0, 0.0),
    "first value 1e4 std off": (1e3, 1.0, 0.0, 1e4),
}


def bn_hard_input(rng, name, shape=(8, 2, 24, 24)):
    offset, std, step, first = BN_HARD[name]
    images = np.arange(shape[0]).reshape((-1,) + (1,) * (len(shape) - 1))
    x = offset + std * (step * images + rng.standard_normal(shape))
    x[0, :, 0, 0] += std * first
    return x.astype(np.float32)


def bn_statistics_errors(x, mean, invstd, eps=BN_EPS):
    """(largest error of the mean in units of the channel's std, largest relative error of invstd) of a
    float32 forward's statistics against the formulas evaluated in float64 on the same x."""
    x = x.astype(np.float64)
    axes = (0, 2, 3) if x.ndim == 4 else (0,)
    want_mean, var = x.mean(axis=axes), x.var(axis=axes)
    want_invstd = 1 / np.sqrt(var + eps)
    return (np.max(np.abs(np.asarray(mean, np.float64) - want_mean) / np.sqrt(var)),
            np.max(np.abs(np.asarray(invstd, np.float64) / want_invstd - 1)))


def check_bn_hard(K, name, rng):
    """Backend K's batch-norm statistics on the hard input `name` (BN_HARD), held to the bounds above;
    returns (mean error in std, invstd relative error)."""
    x = bn_hard_input(rng, name)
    c = x.shape[1]
    _, mean, invstd = K.batch_norm_forward(K.asarray(x), K.asarray(np.ones(c, np.float32)),
                                           K.asarray(np.zeros(c, np.float32)), BN_EPS)
    errors = bn_statistics_errors(x, K.to_numpy(mean), K.to_numpy(invstd))
    assert errors[0] < BN_HARD_MEAN_BOUND and errors[1] < BN_HARD_INVSTD_BOUND, (name, errors)
    return errors


def cancellation_floor(case, inputs, index):
    """What output `index` of `case` has its relative error measured against, where it is a difference of
    larger terms (0 elsewhere: the plain relative error): the outputs of batch-norm's backward.

    dx = gamma*invstd * (g - mean(g) - xhat*mean(g*xhat)) subtracts terms of the size of gamma*invstd*g;
    with few values per channel they cancel (with 2, xhat = +-1 and dx = 0 exactly), so any dx computed
    in float32 is then rounding noise: its error is measured against the size of those terms.
    dgamma = sum(g*xhat) and dbeta = sum(g) add terms of both signs; every backend sums them in the
    data's dtype (docs/ops/batch_norm.md), and a float32 sum is rounded relative to its terms, not to
    the sum, which a few values of a channel can leave far smaller: measured against sum |g*xhat|, sum |g|.
    A missing term, a wrong index or a factor in any of them is still a large fraction of these sizes."""
    if not (case.op.startswith("batch_norm") and case.op.endswith("backward")):
        return 0.0
    dy, x = (inputs[k].astype(np.float64) for k in ("dy", "x"))
    slope = case.params.get("slope")
    g = dy if slope is None else np.where(inputs["y"] > 0, dy, slope * dy)
    axes = (0, 2, 3) if x.ndim == 4 else (0,)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    per_channel = {k: inputs[k].astype(np.float64).reshape(shape) for k in ("gamma", "invstd", "mean")}
    if index == 0:
        return np.linalg.norm(g * per_channel["gamma"] * per_channel["invstd"])
    if index == 1:
        xhat = (x - per_channel["mean"]) * per_channel["invstd"]
        return np.linalg.norm(np.abs(g * xhat).sum(axis=axes))
    return np.linalg.norm(np.abs(g).sum(axis=axes))


# ------------------------------------------------------------------------------------------------
# Cases: bench/cases.py's calls and draws, named for the tests
# ------------------------------------------------------------------------------------------------

def _tag(preset, label, text, suffix=""):
    return f"[{(preset + ' ' + label + ' ') if preset else ''}{text}{suffix}]"


def _dims(shape):
    return "x".join(map(str, shape))


def conv_cases(s, preset=None, label=None):
    """forward, backward, backward_data and backward_weight of one (transposed) convolution shape."""
    ops = [op.replace("conv2d", "conv_transpose2d") if s.transposed else op for op in CONV_OPS]
    return [case(op, conv_params(s), conv_inputs, s, name=op + _tag(preset, label, s.text()), preset=preset,
                 label=label or "") for op in ops]


def bn_cases(shape, slope, preset=None, label=None):
    """The batch-norm ops (plain and fused with `slope`) on one input shape."""
    plain = ("batch_norm_forward", "batch_norm_backward", "batch_norm_inference")
    fused = [op.replace("batch_norm", "batch_norm_act") for op in plain]
    ops = [(op, None, "") for op in plain if slope is None or preset is not None]   # once per real shape
    ops += [(op, slope, f" slope={slope}") for op in fused]
    return [case(op, dict(eps=BN_EPS, slope=s), bn_inputs, shape, s, BN_EPS,
                 name=op + _tag(preset, label, _dims(shape), suffix), preset=preset, label=label or "")
            for op, s, suffix in ops]


def linear_cases(n, f_in, f_out, bias, preset=None, label=None):
    text = f"n{n} {f_in}->{f_out}{'' if bias else ' nobias'}"
    return [case(op, {}, linear_inputs, n, f_in, f_out, bias, spec=(n, f_in, f_out), name=op + _tag(preset, label, text),
                 preset=preset, label=label or "") for op in ("linear_forward", "linear_backward")]


def activation_cases(shape, preset=None, label=None):
    ops = [(op, {}) for op in ACT_OPS]
    ops += [(op, dict(slope=slope)) for slope in LEAKY_SLOPES for op in ("leaky_relu_forward", "leaky_relu_backward")]
    return [case(op, p, activation_inputs, shape,
                 name=op + _tag(preset, label, _dims(shape), "".join(f" {k}={v}" for k, v in p.items())),
                 preset=preset, label=label or "") for op, p in ops]


def sampler_cases(shape, sigma, kl_weight, preset=None, label=None):
    return [case(op, dict(sigma=sigma, kl_weight=kl_weight), latent_inputs, shape,
                 name=op + _tag(preset, label, f"{_dims(shape)} sigma={sigma}",
                                f" kl_weight={kl_weight}" if op == "reparam_kl_backward" else ""),
                 preset=preset, label=label or "") for op in LATENT_OPS]


def loss_cases(shape, preset=None, label=None):
    ops = [("mse", {}, "")] + [("bce_with_logits", dict(target=t), f" target={t}") for t in ("array", 1.0, 0.0)]
    return [case(op, p, loss_inputs, shape, name=op + _tag(preset, label, _dims(shape), suffix), preset=preset,
                 label=label or "") for op, p, suffix in ops]    # (targets 1.0, 0.0: the GAN's labels)


def adam_case(shape, step, lr, beta1, beta2, eps, weight_decay, preset=None, label=None):
    text = f"{_dims(shape)} step={step} lr={lr} b1={beta1} b2={beta2} eps={eps} wd={weight_decay}"
    return case("adam_step", dict(step=step, lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay),
                adam_inputs, shape, name="adam_step" + _tag(preset, label, text), preset=preset, label=label or "")


def _awkward_cases():
    cases = []
    for s in CONV_SHAPES + CONV_T_SHAPES:
        cases += conv_cases(s)
    for shape in BN_SHAPES:
        for slope in SLOPES:
            cases += bn_cases(shape, slope)
    for n, f_in, f_out, bias in LINEAR_SHAPES:
        cases += linear_cases(n, f_in, f_out, bias)
    for shape in ACT_SHAPES:
        cases += activation_cases(shape)
    for shape in LATENT_SHAPES:
        for sigma, kl_weight in zip(SIGMAS, (1.0, 0.37)):
            cases += sampler_cases(shape, sigma, kl_weight)
    for shape in LOSS_SHAPES:
        cases += loss_cases(shape)
    cases += [adam_case(*setting) for setting in ADAM_SETTINGS]
    return cases


def _real_cases():
    cases = []
    for preset, spec in PRESET_LAYERS.items():
        for label, s in spec["layers"]:
            cases += conv_cases(s, preset, label)
        for label, shape, slope in spec["bn"]:
            cases += bn_cases(shape, slope, preset, label)
        for label, n, f_in, f_out in spec["linear"]:
            cases += linear_cases(n, f_in, f_out, True, preset, label)
        cases += sampler_cases((REAL_BATCH, spec["latent"]), 1.0, 1.0, preset, "z")
        cases += activation_cases((REAL_BATCH,) + spec["image"], preset, "image")
        last_conv = [s for label, s in spec["layers"] if label.startswith("enc")][-1]
        cases.append(adam_case(last_conv.w_shape, 100, 2e-4, 0.5, 0.999, 1e-8, 0.0, preset, "enc_last_conv_w"))
    # learned-similarity features (an inner discriminator map) and the critic's logits
    cases += loss_cases((REAL_BATCH, 320, 36, 64), "broad256x144", "disc3")
    cases += loss_cases((REAL_BATCH, 256, 8, 8), "larsen64", "disc4")
    cases += loss_cases((REAL_BATCH, 1), "larsen64", "logits")
    return cases


def _multi_tile_cases():
    cases = [c for s, op in MULTI_TILE_CONV for c in conv_cases(s) if c.op == op]
    for n, f_in, f_out, bias, ops in MULTI_TILE_LINEAR:
        cases += [c for c in linear_cases(n, f_in, f_out, bias) if c.op in ops]
    for shape, slope in MULTI_TILE_BN:
        cases += bn_cases(shape, slope)
    cases += [adam_case(*setting) for setting in MULTI_TILE_ADAM]
    return cases


AWKWARD_CASES = _awkward_cases()
REAL_CASES = _real_cases()
CASES = AWKWARD_CASES + REAL_CASES
MULTI_TILE_CASES = _multi_tile_cases()   # not in CASES: for the CPU runs of the GPU backends


def cases_for(op, real=None):
    """The cases that call contract op `op`; real=True/False keeps only real/awkward shapes."""
    return [c for c in CASES if c.op == op and (real is None or c.real == real)]
