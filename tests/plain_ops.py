"""The convolutions by their definitions, one output (or input) pixel at a time, in float64, sharing no
code with kernels/: what the NumPy reference's im2col forms are held against
(tests/test_numpy_ref_gradients.py: the forwards; tests/test_numpy_ref_fast_forms.py: every gradient too).
"""
import numpy as np


def plain_conv2d(x, w, b, s, p):
    """y[n, o, i, j] = b[o] + sum_{c,u,v} w[o, c, u, v] * xpad[n, c, s*i + u, s*j + v]."""
    n, _, h, wd = x.shape
    co, _, kh, kw = w.shape
    xpad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    ho, wo = (h + 2 * p - kh) // s + 1, (wd + 2 * p - kw) // s + 1
    y = np.zeros((n, co, ho, wo))
    for i in range(ho):
        for j in range(wo):
            y[:, :, i, j] = np.einsum("ncuv,ocuv->no", xpad[:, :, s * i:s * i + kh, s * j:s * j + kw], w)
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def plain_conv2d_grads(dy, x, w, s, p):
    """The gradients of sum(dy * conv2d(x, w)): every output pixel sends dy back through its window."""
    kh, kw = w.shape[2:]
    xpad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxpad, dw = np.zeros_like(xpad), np.zeros_like(w)
    for i in range(dy.shape[2]):
        for j in range(dy.shape[3]):
            win = (slice(None), slice(None), slice(s * i, s * i + kh), slice(s * j, s * j + kw))
            dxpad[win] += np.einsum("no,ocuv->ncuv", dy[:, :, i, j], w)
            dw += np.einsum("no,ncuv->ocuv", dy[:, :, i, j], xpad[win])
    h, wd = x.shape[2:]
    return dxpad[:, :, p:p + h, p:p + wd], dw, dy.sum(axis=(0, 2, 3))


def plain_conv_transpose2d(x, w, b, s, p, op):
    """Each input pixel (i, j) spreads x[n, :, i, j] @ w over the output window at (s*i - p, s*j - p)."""
    n, _, h, wd = x.shape
    _, co, kh, kw = w.shape
    ho, wo = (h - 1) * s - 2 * p + kh + op, (wd - 1) * s - 2 * p + kw + op
    big = np.zeros((n, co, (h - 1) * s + kh + op, (wd - 1) * s + kw + op))   # output before cropping p
    for i in range(h):
        for j in range(wd):
            big[:, :, s * i:s * i + kh, s * j:s * j + kw] += np.einsum("nc,couv->nouv", x[:, :, i, j], w)
    y = big[:, :, p:p + ho, p:p + wo]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def plain_conv_transpose2d_grads(dy, x, w, s, p, op):
    """The gradients of sum(dy * conv_transpose2d(x, w)): each input pixel gathers dy over its window."""
    n, _, h, wd = x.shape
    kh, kw = w.shape[2:]
    big = np.zeros((n, dy.shape[1], (h - 1) * s + kh + op, (wd - 1) * s + kw + op))
    big[:, :, p:p + dy.shape[2], p:p + dy.shape[3]] = dy
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for i in range(h):
        for j in range(wd):
            win = big[:, :, s * i:s * i + kh, s * j:s * j + kw]
            dx[:, :, i, j] = np.einsum("nouv,couv->nc", win, w)
            dw += np.einsum("nc,nouv->couv", x[:, :, i, j], win)
    return dx, dw, dy.sum(axis=(0, 2, 3))
