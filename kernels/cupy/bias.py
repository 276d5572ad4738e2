"""Launchers of bias.cu: add a per-channel bias in place, and the bias gradient (a per-channel sum).

Shared by the convolutions (4-D, channel axis 1) and linear (2-D, one "channel" per output feature).
"""
from kernels.shapes import channel_layout

from . import plan
from .runtime import empty, i32, i64, launch


def bias_forward(y, b):
    """y[n, c, ...] += b[c], in place (y contiguous, b of y's dtype: the callers made both)."""
    n, c, s = channel_layout(y)
    launch("bias.cu", "bias_forward", y.dtype, plan.elementwise(y.size), y, b, i64(y.size), i32(c), i64(s))


def bias_backward(dy):
    """db[c] = sum of dy over every axis but 1."""
    n, c, s = channel_layout(dy)
    db = empty((c,), dy.dtype)
    if dy.ndim == 2:
        launch("bias.cu", "bias_backward_columns", dy.dtype, plan.per_channel(c), dy, db, i32(n), i32(c))
        return db
    red = plan.channel_reduction(n, c, s)
    partial = empty((c * red.chunks,), "float64")
    launch("bias.cu", "bias_backward_partial", dy.dtype, red.partial, dy, partial, i32(n), i32(c), i64(s),
           i64(red.chunk_len), i32(red.chunks))
    launch("bias.cu", "bias_backward_finish", dy.dtype, red.finish, partial, db, i32(c), i32(red.chunks))
    return db
