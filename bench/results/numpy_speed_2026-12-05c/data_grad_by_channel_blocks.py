import sys, time
sys.path.insert(0, "/work/main")
import numpy as np
from kernels.numpy_ref import conv_phases as cp
rng = np.random.default_rng(0)

def data_grad_chunked(dY, w, g, cg):
    c_out = w.shape[0]
    W = w.reshape(c_out, g.c, g.kh * g.kw)
    flat, planes = g.new_phases(dY.dtype)
    for c0 in range(0, g.c, cg):
        c1 = min(g.c, c0 + cg)
        dcols = (np.ascontiguousarray(W[:, c0:c1].reshape(c_out, -1).T) @ dY).reshape(c1 - c0, g.kh, g.kw, g.n, g.run)
        for u, v, (a, b), start in g.windows():
            flat[a, b, c0:c1, :, start:start + g.run] += dcols[:, u, v]
    dx = np.empty((g.n, g.c, g.h, g.w), dtype=dY.dtype)
    for a, b, in_x, in_phase in g.phase_pairs():
        dx[in_x] = planes[a, b][in_phase].transpose(1, 0, 2, 3)
    return dx

def t(f, n=60):
    ts = []
    for i in range(n):
        s = time.perf_counter(); f(); ts.append(time.perf_counter() - s)
    return np.median(ts) * 1e6
# conv layers (data grad) and the decoder's transposed convs (their forward is a conv data grad)
layers = [((16, 3, 48, 64), (16, 3, 5, 5)), ((16, 16, 24, 32), (32, 16, 5, 5)), ((16, 32, 12, 16), (64, 32, 5, 5)),
          # decoder: conv_transpose x (16,64,6,8) -> (16,32,12,16): the conv2d with x_shape (16,32,12,16), w (64,32,5,5)
          ]
for xs, ws in layers:
    g = cp.Grid.of(xs, ws, 2, 2)
    assert g.width == g.wp
    w = rng.standard_normal(ws).astype(np.float32)
    dY = rng.standard_normal((ws[0], g.n * g.h_out * g.width)).astype(np.float32)
    ref = cp._data_grad(dY, w, g)
    row = [f"{xs[1]}<-{ws[0]} {xs[2]}x{xs[3]}: now {t(lambda: cp._data_grad(dY, w, g)):.0f} us"]
    for cg in (1, 2, 4, 8, 16):
        if cg >= xs[1] and cg != 1: continue
        got = data_grad_chunked(dY, w, g, cg)
        assert np.abs(got - ref).max() < 1e-3 * np.abs(ref).max()
        row.append(f"cg{cg} {t(lambda: data_grad_chunked(dY, w, g, cg)):.0f}")
    print(", ".join(row))
