"""conv2d, forward and both backward passes, in three selectable variants (conv_transpose2d, the
adjoint, reuses the same three products: conv_transpose.py).

Every product of a convolution is a GEMM (see conv_gemm_views.cuh for the three of them):
    forward           y  = w  (*) x
    backward_data     dx = w^T (*) dy      (the transposed-convolution relation)
    backward_weight   dw = dy (*) x^T      (a reduction over every output pixel of the batch)
and a transposed convolution is the adjoint of a convolution, so it reuses the same three products
with roles exchanged (y = conv_transpose2d(x, w) is conv2d's data gradient of "dy" = x, etc.; see
conv_transpose.py).

Variants (CONV_VARIANTS; pick with set_conv_variant, as llm.c keeps numbered kernel versions, so
that the benchmark can time each):
    "im2col"         our im2col / col2im kernels (col2im as a gather, no atomics) around one cuBLAS
                     GEMM per product (cupy.matmul), the column matrix in device memory.
    "implicit"       our tiled implicit-GEMM kernel (conv_implicit.cu): 64x64 tiles in shared memory,
                     float32 FMA, the column matrix never materialised; split-K when tiles are few.
    "implicit_tf32"  the same on the tensor cores (conv_implicit_tf32.cu, WMMA TF32, float32
                     accumulation; relative error ~4e-4 instead of ~1e-7). float64 data falls back
                     to "implicit" (TF32 is a float32 format).
The default is "im2col": its GEMM is cuBLAS's, so it is the variant most likely right the first time.
It stays the default until a run on a GPU has shown the implicit kernels equal to the NumPy reference
(tests/test_cupy_backend.py runs every variant).
"""
from kernels import shapes

from . import plan
from .arrays import contiguous
from .bias import bias_forward, bias_backward
from .runtime import empty, i32, i64, launch, xp

CONV_VARIANTS = ("im2col", "implicit", "implicit_tf32")
_variant = "im2col"


def set_conv_variant(name):
    """Select the convolution variant every conv op uses from now on (one of CONV_VARIANTS)."""
    global _variant
    if name not in CONV_VARIANTS:
        raise ValueError(f"conv variant must be one of {', '.join(CONV_VARIANTS)}, got {name!r}")
    _variant = name


def conv_variant():
    return _variant


# --- geometry --------------------------------------------------------------------------------------

def _geometry(x_shape, w_shape, stride, padding):
    """The ConvGeometry of conv2d(x, w) for x of x_shape, w of w_shape (checked already, kernels/contract.py)."""
    n, c_out, out_h, out_w = shapes.conv2d_shape(x_shape, w_shape, stride, padding)
    _, c_in, height, width = x_shape
    return plan.ConvGeometry(n, c_in, height, width, c_out, w_shape[2], w_shape[3], stride, padding, out_h, out_w)


def _geometry_args(g):
    """The eleven ints every conv kernel takes (CONV_GEOMETRY_PARAMS in conv_gemm_views.cuh), in order."""
    largest = max(g.batch * g.c_in * g.height * g.width, g.batch * g.c_out * g.out_h * g.out_w,
                  g.c_out * g.c_in * g.kernel_h * g.kernel_w)
    if largest >= 2**32:   # conv_gemm_views.cuh decodes indices in 32-bit arithmetic
        raise ValueError(f"a convolution tensor of {largest} elements is too large (at most 2^32 - 1)")
    return (i32(g.batch), i32(g.c_in), i32(g.height), i32(g.width), i32(g.c_out), i32(g.kernel_h),
            i32(g.kernel_w), i32(g.stride), i32(g.pad), i32(g.out_h), i32(g.out_w))


def _geometry_args_no_cout(g):
    """im2col / col2im take the geometry without c_out."""
    return (i32(g.batch), i32(g.c_in), i32(g.height), i32(g.width), i32(g.kernel_h), i32(g.kernel_w),
            i32(g.stride), i32(g.pad), i32(g.out_h), i32(g.out_w))


# --- the three products, per variant ---------------------------------------------------------------
# forward(x, w, g) -> y;  backward_data(dy, w, g) -> dx;  backward_weight(dy, x, g) -> dw   (no bias anywhere)

def _im2col(x, g):
    k = g.c_in * g.taps
    cols = empty((k, g.batch * g.out_h * g.out_w), x.dtype)
    launch("im2col.cu", "im2col", x.dtype, plan.elementwise(cols.size), x, cols, *_geometry_args_no_cout(g))
    return cols


def _swap_leading(a, a_len, b_len, s_len):
    """(a_len, b_len, s_len) contiguous -> (b_len, a_len, s_len)."""
    out = empty((b_len, a_len, s_len), a.dtype)
    launch("swap_axes.cu", "swap_leading_axes", a.dtype, plan.elementwise(out.size), a, out,
           i64(a_len), i64(b_len), i64(s_len))
    return out


def _forward_im2col(x, w, g):
    cols = _im2col(x, g)                                          # (K, N*P)
    pixels = g.out_h * g.out_w
    y_cm = empty((g.c_out, g.batch * pixels), x.dtype)            # channel-major y'
    xp().matmul(w.reshape(g.c_out, -1), cols, out=y_cm)
    return _swap_leading(y_cm, g.c_out, g.batch, pixels).reshape(g.y_shape)


def _backward_data_im2col(dy, w, g):
    pixels = g.out_h * g.out_w
    dy_cm = _swap_leading(dy, g.batch, g.c_out, pixels).reshape(g.c_out, g.batch * pixels)
    dcols = empty((g.c_in * g.taps, g.batch * pixels), dy.dtype)
    xp().matmul(w.reshape(g.c_out, -1).T, dy_cm, out=dcols)
    dx = empty(g.x_shape, dy.dtype)
    launch("col2im.cu", "col2im", dy.dtype, plan.elementwise(dx.size), dcols, dx, *_geometry_args_no_cout(g))
    return dx


def _backward_weight_im2col(dy, x, g):
    pixels = g.out_h * g.out_w
    dy_cm = _swap_leading(dy, g.batch, g.c_out, pixels).reshape(g.c_out, g.batch * pixels)
    cols = _im2col(x, g)
    dw = empty((g.c_out, g.c_in * g.taps), x.dtype)
    xp().matmul(dy_cm, cols.T, out=dw)
    return dw.reshape(g.w_shape)


# the tiled kernel of each product is conv2d_<product>_<variant>, in the variant's own file
_IMPLICIT_FILES = {"implicit": "conv_implicit.cu", "implicit_tf32": "conv_implicit_tf32.cu"}
_OUT_SHAPE = {"forward": "y_shape", "backward_data": "x_shape", "backward_weight": "w_shape"}


def _implicit(variant, product, a, b, g):
    """One product through the tiled kernel; a, b are the kernel's two inputs in its order."""
    if variant == "implicit_tf32" and a.dtype != "float32":
        variant = "implicit"                                      # TF32 is for float32 data only
    filename, name = _IMPLICIT_FILES[variant], f"conv2d_{product}_{variant}"
    tiles = plan.gemm_tiles(variant, *g.gemm(product))
    out = empty(getattr(g, _OUT_SHAPE[product]), a.dtype)
    n_out = out.size
    target = out if tiles.splits == 1 else empty((tiles.splits, n_out), a.dtype)
    launch(filename, name, a.dtype, tiles.launch, a, b, target, *_geometry_args(g),
           i64(tiles.split_len), i64(n_out))
    if tiles.splits > 1:
        launch("split_k_finish.cu", "split_k_finish", a.dtype, plan.elementwise(n_out), target, out,
               i32(tiles.splits), i64(n_out))
    return out


def _forward(x, w, g):
    if _variant == "im2col":
        return _forward_im2col(x, w, g)
    return _implicit(_variant, "forward", x, w, g)


def _backward_data(dy, w, g):
    if _variant == "im2col":
        return _backward_data_im2col(dy, w, g)
    return _implicit(_variant, "backward_data", dy, w, g)


def _backward_weight(dy, x, g):
    if _variant == "im2col":
        return _backward_weight_im2col(dy, x, g)
    return _implicit(_variant, "backward_weight", dy, x, g)


# --- conv2d ----------------------------------------------------------------------------------------

def conv2d_forward(x, w, b, stride, padding):
    x, w, b = contiguous(x, w, b)
    g = _geometry(x.shape, w.shape, stride, padding)
    y = _forward(x, w, g)
    if b is not None:
        bias_forward(y, b)
    return y


def conv2d_backward_data(dy, w, x_shape, stride, padding):
    dy, w = contiguous(dy, w)
    g = _geometry(shapes.as_shape(x_shape), w.shape, stride, padding)
    return _backward_data(dy, w, g)


def conv2d_backward_weight(dy, x, w_shape, stride, padding):
    dy, x = contiguous(dy, x)
    g = _geometry(x.shape, shapes.as_shape(w_shape), stride, padding)
    return _backward_weight(dy, x, g), bias_backward(dy)


def conv2d_backward(dy, x, w, stride, padding):
    dy, x, w = contiguous(dy, x, w)
    g = _geometry(x.shape, w.shape, stride, padding)
    return _backward_data(dy, w, g), _backward_weight(dy, x, g), bias_backward(dy)
