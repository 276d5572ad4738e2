"""Linear (fully connected) layer: y = x @ w.T + b, with x (N, in), w (out, in), b (out,).

Backward. y is bilinear in x and w:
    dx = dy @ w          (each input feature collects the gradient of every output it feeds)
    dw = dy.T @ x        (dy[n, o] * x[n, i], summed over the batch)
    db = sum_n dy
Everything runs in the input's dtype (NumPy's GEMM accumulates in it).
"""


def linear_forward(x, w, b):
    y = x @ w.T
    if b is not None:
        y += b
    return y


def linear_backward(dy, x, w):
    return dy @ w, dy.T @ x, dy.sum(axis=0)
