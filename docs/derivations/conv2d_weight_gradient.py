"""The convolution's weight gradient, derived and checked (conv2d_weight_gradient.md beside this file).

    python docs/derivations/conv2d_weight_gradient.py

    y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] * xpad[n, c, s*i + u, s*j + v]
    dw[o, c, u, v] = sum_{n, i, j} dy[n, o, i, j] * xpad[n, c, s*i + u, s*j + v]      db[o] = sum_{n, i, j} dy[n, o, i, j]
    as matrices: dW (C_out x C*kH*kW) = dY (C_out x P) @ cols^T, cols = im2col(x) (C*kH*kW x P), P = N*H_out*W_out

For two geometries, the model's (5x5, stride 2, padding 2) and an awkward one (a 3x2 kernel, stride 3,
padding 1, an input row no window reaches), in float64:
1. the formula (loops over the kernel's taps) against central finite differences of L = <y(w, b), dy>,
   y computed by its definition (kernels/numpy_ref/conv.py's conv2d_forward); db likewise;
2. dY @ cols^T, with cols = conv.py's im2col, against the formula;
3. kernels/numpy_ref's conv2d_backward_weight and conv2d_backward, in both forms of the convolutions
   (the definition and the "phases" form the backend runs), against the formula;
4. the formula with the stride left out of the window (xpad[n, c, i + u, j + v]): wrong, and told apart.
"""
import numpy as np

from fd import check, finish, numerical_grad, rel_err, repo_on_path

repo_on_path()
import kernels.numpy_ref as ops  # noqa: E402
from kernels.numpy_ref.conv import conv2d_forward, im2col  # noqa: E402   (the definition)

GEOMETRIES = [  # (x shape, w shape, stride, padding)
    ((2, 3, 9, 7), (4, 3, 5, 5), 2, 2),
    ((1, 2, 6, 7), (3, 2, 3, 2), 3, 1),
]


def padded(x, p):
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))


def out_size(x_shape, w_shape, s, p):
    return (x_shape[2] + 2 * p - w_shape[2]) // s + 1, (x_shape[3] + 2 * p - w_shape[3]) // s + 1


def weight_grad_formula(dy, x, w_shape, s, p, stride_in_window=True):
    """dw[o, c, u, v] = sum_{n, i, j} dy[n, o, i, j] * xpad[n, c, s*i + u, s*j + v], one tap (u, v) at a
    time: the input's pixels that tap met, one per output pixel, weighted by dy there."""
    kh, kw = w_shape[2:]
    ho, wo = dy.shape[2:]
    xpad = padded(x, p)
    step = s if stride_in_window else 1
    dw = np.empty(w_shape)
    for u in range(kh):
        for v in range(kw):
            met = xpad[:, :, u:u + step * (ho - 1) + 1:step, v:v + step * (wo - 1) + 1:step]   # (N, C, ho, wo)
            dw[:, :, u, v] = np.einsum("noij,ncij->oc", dy, met)
    return dw


def main():
    rng = np.random.default_rng(0)
    for x_shape, w_shape, s, p in GEOMETRIES:
        x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
        dy = rng.standard_normal((x_shape[0], w_shape[0]) + out_size(x_shape, w_shape, s, p))
        print(f"conv2d weight gradient, float64, x {x_shape}, w {w_shape}, stride {s}, padding {p}, "
              f"y {dy.shape}:")
        dw = weight_grad_formula(dy, x, w_shape, s, p)
        db = dy.sum(axis=(0, 2, 3))

        def loss(w_, b_):
            return float(np.sum(conv2d_forward(x, w_, b_, s, p) * dy))

        check("dw (formula) vs finite differences", rel_err(dw, numerical_grad(lambda v: loss(v, b), w)), 1e-6)
        check("db (formula) vs finite differences", rel_err(db, numerical_grad(lambda v: loss(w, v), b)), 1e-6)
        d_y = dy.transpose(1, 0, 2, 3).reshape(w_shape[0], -1)             # dY[o, (n, i, j)]
        check("dY @ im2col(x)^T vs the formula",
              rel_err((d_y @ im2col(x, w_shape[2], w_shape[3], s, p).T).reshape(w_shape), dw), 1e-12)
        for form in ops.CONV_VARIANTS:                # the definition, and the form the backend runs
            ops.set_conv_variant(form)
            got_dw, got_db = ops.conv2d_backward_weight(dy, x, w_shape, s, p)
            check(f"[{form}] conv2d_backward_weight: dw vs formula", rel_err(got_dw, dw), 1e-12)
            check(f"[{form}] conv2d_backward_weight: db vs formula", rel_err(got_db, db), 1e-12)
            check(f"[{form}] conv2d_backward: dw vs formula", rel_err(ops.conv2d_backward(dy, x, w, s, p)[1], dw),
                  1e-12)
        ops.set_conv_variant("phases")
        check("the window without the stride (xpad[n, c, i + u, j + v])",
              rel_err(weight_grad_formula(dy, x, w_shape, s, p, stride_in_window=False), dw), 1e-6,
              expect_large=True)
    finish("conv2d_weight_gradient")


if __name__ == "__main__":
    main()
