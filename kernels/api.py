"""The op contract: every backend ("numpy", "cupy", "triton") provides these names.

This file is documentation first and a checker second. `vaegan/` only ever calls the functions
below through `kernels.get_backend(name)`, so the model, the training loop and the tests run
unchanged on every backend. The NumPy reference (`kernels/numpy_ref/`) is the definition and the
oracle; the GPU backends are tested against it.

Conventions (they follow PyTorch, so that a reader recognises them)
------------------------------------------------------------------
* Layout NCHW. Images x: (N, C, H, W). Float32 by default; every op also accepts float64 and
  returns arrays of its input's dtype.
* conv2d weight w: (C_out, C_in, kH, kW); conv_transpose2d weight w: (C_in, C_out, kH, kW).
  Output sizes:  conv2d            H_out = (H + 2*pad - kH) // stride + 1
                 conv_transpose2d  H_out = (H - 1)*stride - 2*pad + kH + output_padding
* stride, padding, output_padding are ints (the same along H and W).
* linear weight w: (out, in); y = x @ w.T + b.
* Losses return (loss, grad...) together; `loss` is a 0-d array of the backend (reading it with
  float() is the only host round trip, and the caller decides when to pay it). Every loss is a
  MEAN over all elements, so that loss weights such as gamma are O(1):
      kl_normal(mu, logvar)         = mean(-0.5 * (1 + logvar - mu**2 - exp(logvar)))
      mse(a, b)                     = mean((a - b)**2)                 gradient w.r.t. a only
      bce_with_logits(logits, t)    = mean(softplus(x) - t*x)          t: array or python float
* Ops are pure functions except `adam_step` (updates param, m, v in place) and
  `batch_norm_*` never touches running statistics: the layer (vaegan/nn.py) updates those, with
  PyTorch's convention (momentum 0.1 weights the new batch; running_var uses the unbiased variance).
* Bad arguments (wrong rank, mismatched channels, non-positive stride...) raise ValueError whose
  message names the argument, before any kernel runs. They are checked once, at the contract:
  `kernels/contract.py` holds one check per op (built from `kernels/shapes.py`'s checks) and every
  backend's namespace runs it in front of the op, so a bad call fails alike on every backend.

Precision policy (one for all three backends; docs/ops/ sets each backend's choices side by side)
-----------------------------------------------------------------------------------------------
* An op computes in its input's dtype and returns it: float32 in, float32 out. Products are never
  rounded below the input's precision, except where a caller asks: CuPy's `implicit_tf32` variant
  and Triton's set_precision("tf32") (TF32 products, float32 sums; ~4e-4 relative).
* A loss's sum over every value of the batch (and the bias gradient's over a channel) may be
  accumulated in a wider type, where its error would otherwise show (float64 on CuPy and in the NumPy
  losses). Batch-norm accumulates in the input's dtype on every backend, with one algorithm: values
  shifted by the channel's first one, the moments of pieces of them, merged with Chan's formula
  (docs/ops/batch_norm.md; ~1e-7 on invstd with the mean 1e4 standard deviations from 0). GEMMs
  accumulate in the input's dtype (as the BLAS, cuBLAS and cuDNN do).
* So the GPU backends agree with the float64 reference to what float32 summation order allows:
  the op tests bound the relative L2 error at 1e-5 (float32), 1e-12 (float64) and 3e-3 (TF32), a
  batch-norm backward's outputs measured against the size of the terms that cancel in them.

Every backend module also exposes:
    name        "numpy" | "cupy" | "triton"
    xp          the array module its arrays belong to (numpy or cupy)
    asarray(a, dtype=None)   host (NumPy) array -> backend array
    to_numpy(a)              backend array -> NumPy array (a host copy)
    normal(shape, key, dtype)  standard-normal noise, a pure function of the integer tuple `key`
                               (so a run is reproducible and resumes exactly: key = (seed, step, k))
    parallel_lanes()         how many lanes of a training step (vaegan/lanes.py) the backend runs side
                             by side on host threads: 2 for NumPy on two or more cores, 1 on a GPU
    lane_thread()            a context manager the thread running a lane enters: on NumPy, that
                             thread's GEMMs use one BLAS thread; elsewhere it does nothing
"""

# name -> signature and what it returns. The checker below uses the names; the strings are for readers.
OPS = {
    # --- convolutions ------------------------------------------------------------------------
    "conv2d_forward": "(x, w, b, stride, padding) -> y",
    "conv2d_backward": "(dy, x, w, stride, padding) -> (dx, dw, db)",
    "conv2d_backward_data": "(dy, w, x_shape, stride, padding) -> dx",
    "conv2d_backward_weight": "(dy, x, w_shape, stride, padding) -> (dw, db)",
    "conv_transpose2d_forward": "(x, w, b, stride, padding, output_padding) -> y",
    "conv_transpose2d_backward": "(dy, x, w, stride, padding, output_padding) -> (dx, dw, db)",
    "conv_transpose2d_backward_data": "(dy, w, stride, padding) -> dx",
    "conv_transpose2d_backward_weight": "(dy, x, w_shape, stride, padding) -> (dw, db)",
    # --- batch norm (training mode returns the batch statistics it used) --------------------
    "batch_norm_forward": "(x, gamma, beta, eps) -> (y, mean, invstd)",
    "batch_norm_backward": "(dy, x, mean, invstd, gamma) -> (dx, dgamma, dbeta)",
    "batch_norm_inference": "(x, gamma, beta, running_mean, running_var, eps) -> y",
    # fused normalise + activation; slope=None: identity, 0.0: ReLU, 0<slope<1: leaky ReLU.
    # The backward needs only y: with slope >= 0 the sign of y is the sign of the pre-activation.
    "batch_norm_act_forward": "(x, gamma, beta, eps, slope) -> (y, mean, invstd)",
    "batch_norm_act_backward": "(dy, x, y, mean, invstd, gamma, slope) -> (dx, dgamma, dbeta)",
    "batch_norm_act_inference": "(x, gamma, beta, running_mean, running_var, eps, slope) -> y",
    # --- dense -----------------------------------------------------------------------------
    "linear_forward": "(x, w, b) -> y",
    "linear_backward": "(dy, x, w) -> (dx, dw, db)",
    # --- activations -------------------------------------------------------------------------
    "relu_forward": "(x) -> y",
    "relu_backward": "(dy, x) -> dx",
    "leaky_relu_forward": "(x, slope) -> y",
    "leaky_relu_backward": "(dy, x, slope) -> dx",
    "tanh_forward": "(x) -> y",
    "tanh_backward": "(dy, y) -> dx",
    "sigmoid_forward": "(x) -> y",
    "sigmoid_backward": "(dy, y) -> dx",
    # --- the VAE's sampler and prior term ------------------------------------------------------
    "reparam_forward": "(mu, logvar, eps, sigma) -> z",
    "reparam_backward": "(dz, logvar, eps, sigma) -> (dmu, dlogvar)",
    # sampler + KL in one pass: z, and KL's value; the backward adds kl_weight * dKL to the
    # sampler's gradient, so the encoder's two terms arrive in one kernel.
    "reparam_kl_forward": "(mu, logvar, eps, sigma) -> (z, kl)",
    "reparam_kl_backward": "(dz, mu, logvar, eps, sigma, kl_weight) -> (dmu, dlogvar)",
    # --- losses --------------------------------------------------------------------------------
    "kl_normal": "(mu, logvar) -> (loss, dmu, dlogvar)",
    "mse": "(a, b) -> (loss, da)",
    "bce_with_logits": "(logits, target) -> (loss, dlogits)",
    # --- optimiser -----------------------------------------------------------------------------
    # torch.optim.Adam's update, in place: g = grad + wd*param; m = b1*m + (1-b1)*g;
    # v = b2*v + (1-b2)*g*g; param -= lr * (m / (1-b1**step)) / (sqrt(v / (1-b2**step)) + eps).
    # step counts from 1.
    "adam_step": "(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay) -> None",
}

HELPERS = ("name", "xp", "asarray", "to_numpy", "normal", "parallel_lanes", "lane_thread")


def missing_names(backend):
    """The contract names a backend module lacks (empty when it meets the contract)."""
    return [n for n in (*OPS, *HELPERS) if not hasattr(backend, n)]
