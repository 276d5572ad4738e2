"""The transposed convolution is the adjoint of the convolution, checked (conv_transpose_adjoint.md).

    python docs/derivations/conv_transpose_adjoint.py

A convolution with fixed w is a linear map A: x -> y. Its adjoint A^T is defined by <A x, dy> = <x, A^T dy>
for every x and dy, and the gradient of L = <A x, dy> with respect to x is A^T dy. So three things are
one and the same, and this script checks that they agree (float64, the decoder's geometry: 5x5, stride
2, padding 2, output_padding 1):
  * the transposed convolution as its own definition: every input value scatters w times itself into a
    window of the output (written here with loops);
  * the data gradient of the convolution: finite differences of L = <conv(x), dy> with respect to x;
  * kernels/numpy_ref's conv_transpose2d_forward and conv2d_backward_data, in both of their forms (the
    definition, conv.py's im2col, and the "phases" form the backend runs by default).
The convolution itself is kernels/numpy_ref/conv.py's definition, y = W @ im2col(x).
Then the adjoint identity itself, the weight gradient of the transposed convolution by finite
differences, and the textbook "stride-1 convolution over the zero-dilated input with the kernel turned
by 180 degrees", with and without the turn (without it the identity fails: the check can tell).
"""
import numpy as np

from fd import check, finish, numerical_grad, rel_err, repo_on_path

repo_on_path()
import kernels.numpy_ref as ops  # noqa: E402
from kernels.numpy_ref.conv import conv2d_forward  # noqa: E402   (the definition)

S, P, K = 2, 2, 5            # stride, padding, kernel size: the model's (vaegan/model.py)


def conv_transpose_loops(d, w, out_hw):
    """Every d[n, o, i, j] scatters d * w[o, :, :, :] into the window the convolution read y[n, o, i, j] from:
    xpad[n, :, S*i:S*i + K, S*j:S*j + K]."""
    n, _, ho, wo = d.shape
    h, wd = out_hw
    out = np.zeros((n, w.shape[1], h + 2 * P + K, wd + 2 * P + K))   # room for every window, padding kept
    for i in range(ho):
        for j in range(wo):
            out[:, :, S * i:S * i + K, S * j:S * j + K] += np.einsum("no,ocuv->ncuv", d[:, :, i, j], w)
    return out[:, :, P:P + h, P:P + wd]                                  # the padding dropped


def dilated_conv(d, w, out_hw, turn=True):
    """The textbook form: insert S-1 zeros between d's pixels, pad by K-1-P (plus output_padding at the
    bottom/right), and run a stride-1 convolution with w's channel axes swapped and, with turn=True,
    its taps turned by 180 degrees."""
    n, o, ho, wo = d.shape
    h, wd = out_hw
    dil = np.zeros((n, o, (ho - 1) * S + 1, (wo - 1) * S + 1))
    dil[:, :, ::S, ::S] = d
    q = K - 1 - P
    extra_h = h - ((ho - 1) * S - 2 * P + K)                              # output_padding
    extra_w = wd - ((wo - 1) * S - 2 * P + K)
    dil = np.pad(dil, ((0, 0), (0, 0), (q, q + extra_h), (q, q + extra_w)))
    w_t = w.transpose(1, 0, 2, 3)                                         # (c, o, K, K)
    if turn:
        w_t = w_t[:, :, ::-1, ::-1]
    return conv2d_forward(np.ascontiguousarray(dil), np.ascontiguousarray(w_t), None, 1, 0)


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 6))                 # (N, C_in, H, W)
    w = rng.standard_normal((4, 3, K, K))                 # conv2d weight (C_out, C_in, K, K)
    y = conv2d_forward(x, w, None, S, P)                  # the definition, conv.py
    dy = rng.standard_normal(y.shape)                     # (2, 4, 4, 3): any array of y's shape
    op = 1                                                # output_padding: (4-1)*2 - 4 + 5 + 1 = 8 = H
    print("convolution and its adjoint, float64, x (2, 3, 8, 6), w (4, 3, 5, 5), stride 2, padding 2:")
    ct = conv_transpose_loops(dy, w, x.shape[2:])
    lhs, rhs = float(np.sum(y * dy)), float(np.sum(x * ct))
    check("<conv(x), dy> vs <x, scattered(dy)>", abs(lhs - rhs) / abs(lhs), 1e-12)
    fd_dx = numerical_grad(lambda a: float(np.sum(conv2d_forward(a, w, None, S, P) * dy)), x)
    check("d<conv(x), dy>/dx (finite differences) vs scattered(dy)", rel_err(ct, fd_dx), 1e-6)

    g = rng.standard_normal(ct.shape)                     # an upstream gradient for conv_transpose's output
    for form in ops.CONV_VARIANTS:                        # the definition, and the form the backend runs
        ops.set_conv_variant(form)
        check(f"[{form}] conv2d_forward vs the definition", rel_err(ops.conv2d_forward(x, w, None, S, P), y), 1e-12)
        # conv_transpose2d reads its weight as (C_in, C_out, K, K): the conv2d weight w maps 4 -> 3 that way
        check(f"[{form}] conv_transpose2d_forward vs the loops",
              rel_err(ops.conv_transpose2d_forward(dy, w, None, S, P, op), ct), 1e-12)
        check(f"[{form}] conv2d_backward_data vs the loops", rel_err(ops.conv2d_backward_data(dy, w, x.shape, S, P), ct),
              1e-12)
        # the weight gradient of the transposed convolution: conv2d's, with the roles of x and dy exchanged
        fd_dw = numerical_grad(lambda v: float(np.sum(ops.conv_transpose2d_forward(dy, v, None, S, P, op) * g)), w)
        dw, _ = ops.conv_transpose2d_backward_weight(g, dy, w.shape, S, P)
        check(f"[{form}] conv_transpose2d_backward_weight vs finite differences", rel_err(dw, fd_dw), 1e-6)
    ops.set_conv_variant("phases")

    check("dilated input, stride 1, taps turned by 180 degrees", rel_err(dilated_conv(dy, w, x.shape[2:]), ct), 1e-12)
    check("dilated input, stride 1, taps NOT turned",
          rel_err(dilated_conv(dy, w, x.shape[2:], turn=False), ct), 1e-6, expect_large=True)
    finish("conv_transpose_adjoint")


if __name__ == "__main__":
    main()
