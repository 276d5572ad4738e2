"""The peers our kernels are compared with: the same op through PyTorch, and NumPy's own GEMM.

PyTorch is never a dependency of the package. It is imported only here and in bench/torch_peer.py, only
through `load_torch()`, and only when it is installed (it is on the GPU machine). On the GPU the peer
is cuDNN / cuBLAS / PyTorch's CUDA kernels, timed with PyTorch's CUDA events on the same inputs.

    TORCH_OPS[op](torch, t, case) -> tuple of tensors, in the order of our op's outputs

`t` holds the case's inputs as tensors. Backward passes call the functions PyTorch's autograd would
call (torch.nn.grad.conv2d_input / conv2d_weight, aten.native_batch_norm_backward, ...), so the peer
times the same work as ours, not an autograd graph around it. A transposed convolution is the adjoint
of a convolution: its data gradient is conv2d(dy, w), and its weight gradient is conv2d's weight
gradient with input dy and upstream gradient x.

Precision: `torch_precision(torch, "fp32")` turns TF32 off in cuDNN and cuBLAS (PyTorch allows it in
cuDNN by default), "tf32" turns it on, so each of our variants meets the peer of its own precision.

On the CPU the peer of a matrix-product op is NumPy's matmul on the op's GEMM shapes (`numpy_gemm`):
the cost of the arithmetic alone, with no im2col or col2im around it.
"""
import contextlib

import numpy as np


def load_torch():
    """(torch, None) where PyTorch imports, else (None, why not)."""
    try:
        import torch
    except Exception as e:   # not installed, or a broken install
        return None, f"PyTorch is not importable ({type(e).__name__}: {e})"
    return torch, None


@contextlib.contextmanager
def torch_precision(torch, precision):
    """float32 matrix products in cuDNN and cuBLAS: exact float32 ("fp32") or TF32 ("tf32")."""
    allow = precision == "tf32"
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = allow
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


# --- the ops, one function each --------------------------------------------------------------------

def _conv2d_data(torch, t, p):
    return torch.nn.grad.conv2d_input(p["x_shape"], t["w"], t["dy"], p["stride"], p["padding"])


def _conv2d_weight(torch, t, p):
    dw = torch.nn.grad.conv2d_weight(t["x"], p["w_shape"], t["dy"], p["stride"], p["padding"])
    return dw, t["dy"].sum(dim=(0, 2, 3))


def _convt_data(torch, t, p):
    return torch.nn.functional.conv2d(t["dy"], t["w"], None, p["stride"], p["padding"])


def _convt_weight(torch, t, p):
    dw = torch.nn.grad.conv2d_weight(t["dy"], p["w_shape"], t["x"], p["stride"], p["padding"])
    return dw, t["dy"].sum(dim=(0, 2, 3))


def _bn_forward(torch, t, p):
    y, mean, invstd = torch.ops.aten.native_batch_norm(t["x"], t["gamma"], t["beta"], None, None, True, 0.1, p["eps"])
    return _activate(torch, y, p["slope"]), mean, invstd


def _bn_backward(torch, t, p, dy):
    return torch.ops.aten.native_batch_norm_backward(dy, t["x"], t["gamma"], None, None, t["mean"], t["invstd"],
                                                     True, p["eps"], [True, True, True])


def _bn_inference(torch, t, p):
    y = torch.nn.functional.batch_norm(t["x"], t["running_mean"], t["running_var"], t["gamma"], t["beta"],
                                       training=False, eps=p["eps"])
    return (_activate(torch, y, p["slope"]),)


def _activate(torch, y, slope):
    if slope is None:
        return y
    return torch.relu(y) if slope == 0 else torch.nn.functional.leaky_relu(y, slope)


def _bn_act_backward(torch, t, p):
    # the activation's backward from its output y (the sign of y is the sign of its input), then BN's
    slope, dy = p["slope"], t["dy"]
    dpre = (torch.ops.aten.threshold_backward(dy, t["y"], 0.0) if slope == 0
            else torch.ops.aten.leaky_relu_backward(dy, t["y"], slope, True))
    return _bn_backward(torch, t, p, dpre)


def _reparam(torch, t, p):
    return t["mu"] + p["sigma"] * torch.exp(0.5 * t["logvar"]) * t["eps"]


def _reparam_grad(torch, t, p):
    return t["dz"] * (0.5 * p["sigma"]) * t["eps"] * torch.exp(0.5 * t["logvar"])


def _kl(torch, t):
    lv, mu = t["logvar"], t["mu"]
    return torch.mean(-0.5 * (1 + lv - mu * mu - torch.exp(lv)))


def _kl_grads(torch, t, weight):
    inv_m = weight / t["mu"].numel()
    return t["mu"] * inv_m, 0.5 * (torch.exp(t["logvar"]) - 1) * inv_m


def _reparam_kl_backward(torch, t, p):
    dmu_kl, dlv_kl = _kl_grads(torch, t, p["kl_weight"])
    return t["dz"] + dmu_kl, _reparam_grad(torch, t, p) + dlv_kl


def _mse(torch, t, p):
    diff = t["a"] - t["b"]
    return torch.mean(diff * diff), diff * (2.0 / diff.numel())


def _bce(torch, t, p):
    x, target = t["logits"], p["target"]
    loss = torch.nn.functional.binary_cross_entropy_with_logits(x, torch.full_like(x, target))
    return loss, (torch.sigmoid(x) - target) * (1.0 / x.numel())


def _adam(torch, t, p):
    """torch.optim.Adam (fused on the GPU) on our buffers: its state is set to our m, v and step - 1,
    so that its step is ours. The optimiser is made once per input copy and kept in `t`."""
    param = t["param"]
    if "_opt" not in t:
        fused = param.is_cuda
        param.grad = t["grad"]
        opt = torch.optim.Adam([param], lr=p["lr"], betas=(p["beta1"], p["beta2"]), eps=p["eps"],
                               weight_decay=p["weight_decay"], fused=fused or None)
        step = torch.tensor(float(p["step"] - 1), dtype=torch.float32, device=param.device if fused else "cpu")
        opt.state[param] = {"step": step, "exp_avg": t["m"], "exp_avg_sq": t["v"]}
        t["_opt"] = opt
    t["_opt"].step()
    return param, t["m"], t["v"]


TORCH_OPS = {
    "conv2d_forward": lambda torch, t, p: (torch.nn.functional.conv2d(
        t["x"], t["w"], t.get("b"), p["stride"], p["padding"]),),
    "conv2d_backward_data": lambda torch, t, p: (_conv2d_data(torch, t, p),),
    "conv2d_backward_weight": _conv2d_weight,
    "conv2d_backward": lambda torch, t, p: (_conv2d_data(torch, t, p),) + _conv2d_weight(torch, t, p),
    "conv_transpose2d_forward": lambda torch, t, p: (torch.nn.functional.conv_transpose2d(
        t["x"], t["w"], t.get("b"), p["stride"], p["padding"], p["output_padding"]),),
    "conv_transpose2d_backward_data": lambda torch, t, p: (_convt_data(torch, t, p),),
    "conv_transpose2d_backward_weight": _convt_weight,
    "conv_transpose2d_backward": lambda torch, t, p: (_convt_data(torch, t, p),) + _convt_weight(torch, t, p),
    "batch_norm_forward": _bn_forward,
    "batch_norm_act_forward": _bn_forward,
    "batch_norm_backward": lambda torch, t, p: _bn_backward(torch, t, p, t["dy"]),
    "batch_norm_act_backward": _bn_act_backward,
    "batch_norm_inference": _bn_inference,
    "batch_norm_act_inference": _bn_inference,
    "linear_forward": lambda torch, t, p: (torch.nn.functional.linear(t["x"], t["w"], t.get("b")),),
    "linear_backward": lambda torch, t, p: (t["dy"] @ t["w"], t["dy"].t() @ t["x"], t["dy"].sum(dim=0)),
    "relu_forward": lambda torch, t, p: (torch.relu(t["x"]),),
    "relu_backward": lambda torch, t, p: (torch.ops.aten.threshold_backward(t["dy"], t["x"], 0.0),),
    "leaky_relu_forward": lambda torch, t, p: (torch.nn.functional.leaky_relu(t["x"], p["slope"]),),
    "leaky_relu_backward": lambda torch, t, p: (torch.ops.aten.leaky_relu_backward(
        t["dy"], t["x"], p["slope"], False),),
    "tanh_forward": lambda torch, t, p: (torch.tanh(t["x"]),),
    "tanh_backward": lambda torch, t, p: (torch.ops.aten.tanh_backward(t["dy"], t["y_tanh"]),),
    "sigmoid_forward": lambda torch, t, p: (torch.sigmoid(t["x"]),),
    "sigmoid_backward": lambda torch, t, p: (torch.ops.aten.sigmoid_backward(t["dy"], t["y_sigmoid"]),),
    "reparam_forward": lambda torch, t, p: (_reparam(torch, t, p),),
    "reparam_backward": lambda torch, t, p: (t["dz"].clone(), _reparam_grad(torch, t, p)),
    "reparam_kl_forward": lambda torch, t, p: (_reparam(torch, t, p), _kl(torch, t)),
    "reparam_kl_backward": _reparam_kl_backward,
    "kl_normal": lambda torch, t, p: (_kl(torch, t),) + _kl_grads(torch, t, 1.0),
    "mse": _mse,
    "bce_with_logits": _bce,
    "adam_step": _adam,
}


# --- NumPy's GEMM, the CPU peer of the matrix-product ops ------------------------------------------

def numpy_gemm_operands(gemms, rng):
    """Random float32 operands (A (M x K), B (K x N)) for each GEMM (M, N, K)."""
    return [(rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32))
            for m, n, k in gemms]


def numpy_gemm(operands):
    return tuple(np.matmul(a, b) for a, b in operands)
