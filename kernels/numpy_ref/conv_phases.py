"""The convolutions, variant "phases": conv.py's and conv_transpose.py's sums, computed faster.

This is what the NumPy backend runs by default (the CPU training path); conv.py is the definition it
is held to (tests/test_numpy_ref_fast_forms.py, every op on awkward shapes, 1e-12 in float64), and
`kernels.numpy_ref.set_conv_variant("im2col")` runs the definition instead. The formulas are conv.py's:
Y = W @ cols, dW = dY @ cols^T, dx = col2im(W^T @ dY), with the batch folded into the GEMM's columns;
the transposed convolution is the adjoint (conv_transpose.py). What differs is how cols is gathered
and scattered.

How it is computed (arranged so that NumPy copies long contiguous runs):
- Stride phases. xpad is never built: x is copied straight into its s*s stride phases,
  phases[a, b] = xpad[..., a::s, b::s] (zero on the padding), each an (Hp, Wp) plane per channel and
  image. Kernel offset (u, v) reads xpad[s*i + u, s*j + v] = phases[u % s, v % s][i + u//s, j + v//s]:
  a unit-stride window of one phase.
- Wide rows. Every plane is stored flat, row after row, so that the window of offset (u, v) is one
  flat run, phase[(u//s)*Wp + v//s :][:H_out*Wp], if each output row is given Wp columns instead of
  W_out. The Wp - W_out extra columns of a row read past its window (the row's end and the next
  row's start): they are computed and thrown away. So im2col copies, for each (c, u, v) and image,
  one run of H_out*Wp numbers, and the Python loop runs kH*kW times (25 for a 5x5 kernel), never over
  pixels, rows or images; these copies are two to three times faster than copies of W_out-long rows.
- Which rows the GEMMs see. Wide rows cost the GEMMs (Wp - W_out) / W_out more columns, 2*C_out flops
  each; dropping the extra columns costs one copy of cols. The first is cheaper where
  (Wp - W_out) / W_out * C_out <= WIDE_ROWS_BUDGET (measured on two cores: wide rows won up to 53,
  narrow ones from 213; the tiny preset's layers are at 1-16, the broad presets' deepest at 53-213),
  and then cols stays wide: the forward drops the extra columns in its one copy to NCHW, and the
  backward gives them dY = 0, so they add nothing to dW and nothing through col2im. Otherwise im2col
  drops them (narrow rows) and col2im widens dcols again before adding.
- col2im is the same loop with the copy turned into +=, into the phases, then one copy of each phase
  back to its x positions (what fell on the padding is dropped).
The result is conv.py's up to float rounding: the same products, summed over (c, u, v) in the GEMM's
order (and, with wide rows, a few more products by dY = 0). Everything runs in the input's dtype (the
GEMM accumulates in it too).
"""
from collections import namedtuple
from types import SimpleNamespace

import numpy as np

from kernels.shapes import conv2d_out_size

from .conv_transpose import AdjointOf


WIDE_ROWS_BUDGET = 100  # wide rows when (Wp - W_out) / W_out * C_out <= this (see the header)


class Grid(namedtuple("Grid", "n c h w kh kw s p h_out w_out hp wp plane width")):
    """Where everything of one convolution lies. (hp, wp): a stride phase's rows and columns,
    (H + 2p) / s rounded up; plane: its flat length, with (kW - 1) // s numbers of slack after the
    last row, where the last row's extra columns read; width: the columns per output row in the
    GEMMs, Wp (wide rows) or W_out."""

    @classmethod
    def of(cls, x_shape, w_shape, stride, padding):
        """x_shape (N, C, H, W) and w_shape (C_out, C, kH, kW) of the conv2d."""
        n, c, h, w = x_shape
        c_out, _, kh, kw = w_shape
        hp, wp = -(-(h + 2 * padding) // stride), -(-(w + 2 * padding) // stride)
        w_out = conv2d_out_size(w, kw, stride, padding)
        width = wp if (wp - w_out) * c_out <= WIDE_ROWS_BUDGET * w_out else w_out
        return cls(n, c, h, w, kh, kw, stride, padding, conv2d_out_size(h, kh, stride, padding), w_out,
                   hp, wp, hp * wp + (kw - 1) // stride, width)

    @property
    def run(self):
        """Numbers per image in one row of cols: H_out output rows of Wp columns."""
        return self.h_out * self.wp

    def windows(self):
        """For each kernel offset (u, v): its phase and where its flat run starts in the plane."""
        s = self.s
        for u in range(self.kh):
            for v in range(self.kw):
                yield u, v, (u % s, v % s), (u // s) * self.wp + v // s

    def phase_pairs(self):
        """For each phase (a, b): the x positions it holds, and where they sit in the (hp, wp) phase."""
        for a in range(self.s):
            rows, at_rows = _phase_slices(self.h, self.p, self.s, a)
            for b in range(self.s):
                cols, at_cols = _phase_slices(self.w, self.p, self.s, b)
                yield a, b, (slice(None), slice(None), rows, cols), (slice(None), slice(None), at_rows, at_cols)

    def new_phases(self, dtype):
        """Zeroed phases, flat (s, s, C, N, plane), and the same memory as (s, s, C, N, hp, wp) planes."""
        flat = np.zeros((self.s, self.s, self.c, self.n, self.plane), dtype=dtype)
        planes = flat[..., :self.hp * self.wp].reshape(self.s, self.s, self.c, self.n, self.hp, self.wp)
        return flat, planes


def _phase_slices(size, padding, stride, a):
    """Where phase a meets x along one axis: xpad row s*I + a is x row s*I + a - p, so x rows
    r0, r0 + s, ... (r0 = (a - p) mod s) land at phase rows I0, I0 + 1, ... (I0 = (r0 + p - a) / s)."""
    r0 = (a - padding) % stride
    i0 = (r0 + padding - a) // stride
    count = len(range(r0, size, stride))
    return slice(r0, size, stride), slice(i0, i0 + count)


def im2col(x, g):
    """x (N, C, H, W) -> cols (C*kH*kW, N*H_out*width): the window of every output pixel of every image,
    cols[(c, u, v), (n, i, j)] = xpad[n, c, s*i + u, s*j + v] for j < W_out (the rest: thrown away)."""
    flat, planes = g.new_phases(x.dtype)
    for a, b, in_x, in_phase in g.phase_pairs():
        planes[a, b][in_phase] = x[in_x].transpose(1, 0, 2, 3)          # channels first
    cols = np.empty((g.c, g.kh, g.kw, g.n, g.run), dtype=x.dtype)
    for u, v, (a, b), start in g.windows():
        cols[:, u, v] = flat[a, b, :, :, start:start + g.run]
    cols = cols.reshape(g.c * g.kh * g.kw, g.n, g.h_out, g.wp)
    if g.width < g.wp:
        cols = cols[..., :g.w_out]                  # narrow rows: one more copy, drops the extra columns
    return cols.reshape(g.c * g.kh * g.kw, -1)


def col2im(dcols, g):
    """The adjoint of im2col: dcols (C*kH*kW, N*H_out*width) -> dx (N, C, H, W), overlaps summed."""
    dcols = _widened(dcols.reshape(-1, g.n, g.h_out, g.width), g, g.wp).reshape(g.c, g.kh, g.kw, g.n, g.run)
    flat, planes = g.new_phases(dcols.dtype)
    for u, v, (a, b), start in g.windows():
        flat[a, b, :, :, start:start + g.run] += dcols[:, u, v]
    dx = np.empty((g.n, g.c, g.h, g.w), dtype=dcols.dtype)     # every x position lies in exactly one phase
    for a, b, in_x, in_phase in g.phase_pairs():
        dx[in_x] = planes[a, b][in_phase].transpose(1, 0, 2, 3)     # (the padding's sums are dropped)
    return dx


def _widened(a, g, width):
    """a (rows, N, H_out, W_out or wider) -> (rows, N, H_out, width): zeros in the extra columns."""
    if a.shape[-1] == width:
        return a
    out = np.empty(a.shape[:-1] + (width,), dtype=a.dtype)
    out[..., :g.w_out] = a[..., :g.w_out]
    out[..., g.w_out:] = 0
    return out


def _pixels_last(dy, g):
    """dy (N, C_out, H_out, W_out) -> dY (C_out, N*H_out*width), Y's layout, zero in the extra columns."""
    return _widened(dy.transpose(1, 0, 2, 3), g, g.width).reshape(dy.shape[1], -1)


def _to_nchw(y, g, b=None):
    """Y (C_out, N*H_out*width) -> y (N, C_out, H_out, W_out), contiguous, the extra columns dropped and
    the bias (C_out,) added in the same pass."""
    view = y.reshape(-1, g.n, g.h_out, g.width)[..., :g.w_out].transpose(1, 0, 2, 3)
    if b is None:
        return np.ascontiguousarray(view)
    out = np.empty(view.shape, dtype=y.dtype)
    np.add(view, b.reshape(1, -1, 1, 1), out=out)
    return out


def conv2d_forward(x, w, b, stride, padding):
    g = Grid.of(x.shape, w.shape, stride, padding)
    y = w.reshape(w.shape[0], -1) @ im2col(x, g)                  # (C_out, N*H_out*width)
    return _to_nchw(y, g, b)


def _data_grad(dY, w, g):
    return col2im(w.reshape(w.shape[0], -1).T @ dY, g)          # dcols (C*kH*kW, N*H_out*width)


def _weight_grad(dY, x, g):
    # dY @ cols^T, computed as (cols @ dY^T)^T: the same products, but OpenBLAS runs this orientation of
    # a long inner dimension faster (5-10% of the tiny step; bench/README.md, "NumPy backend speed")
    return np.ascontiguousarray((im2col(x, g) @ dY.T).T)              # (C_out, C*kH*kW): sum over n and l


def conv2d_backward_data(dy, w, x_shape, stride, padding):
    """dx = col2im(W^T @ dY): the input gradient (this is also conv_transpose2d's forward)."""
    g = Grid.of(x_shape, w.shape, stride, padding)
    return _data_grad(_pixels_last(dy, g), w, g)


def conv2d_backward_weight(dy, x, w_shape, stride, padding):
    """dW[o, k] = sum over images n and output pixels l of dY[o, (n, l)] * cols[k, (n, l)]; db = sum dy."""
    g = Grid.of(x.shape, w_shape, stride, padding)
    return _weight_grad(_pixels_last(dy, g), x, g).reshape(w_shape), dy.sum(axis=(0, 2, 3))


def conv2d_backward(dy, x, w, stride, padding):
    """(dx, dw, db) of y = conv2d(x, w) + b for upstream gradient dy (dY laid out once for both)."""
    g = Grid.of(x.shape, w.shape, stride, padding)
    dY = _pixels_last(dy, g)
    return _data_grad(dY, w, g), _weight_grad(dY, x, g).reshape(w.shape), dy.sum(axis=(0, 2, 3))


# --- the transposed convolution, conv_transpose.py's adjoint, on the same machinery -----------------

_adjoint = AdjointOf(SimpleNamespace(conv2d_forward=conv2d_forward, conv2d_backward_data=conv2d_backward_data,
                                     conv2d_backward_weight=conv2d_backward_weight))
conv_transpose2d_forward = _adjoint.conv_transpose2d_forward
conv_transpose2d_backward_data = _adjoint.conv_transpose2d_backward_data
conv_transpose2d_backward_weight = _adjoint.conv_transpose2d_backward_weight


def conv_transpose2d_backward(dy, x, w, stride, padding, output_padding):
    """(dx, dw, db) of y = conv_transpose2d(x, w) + b for upstream gradient dy."""
    # Both gradients read dy's windows (im2col of dy in the geometry of the conv2d that maps y to x),
    # so they are gathered once: dx = W @ cols (conv2d_forward(dy, w)), dw = X @ cols^T
    # (conv2d_backward_weight with dy and x swapped).
    g = Grid.of(dy.shape, w.shape, stride, padding)
    cols = im2col(dy, g)
    dx = _to_nchw(w.reshape(w.shape[0], -1) @ cols, g)
    dw = np.ascontiguousarray((cols @ _pixels_last(x, g).T).T)       # X @ cols^T, oriented as in _weight_grad
    return dx, dw.reshape(w.shape), dy.sum(axis=(0, 2, 3))
