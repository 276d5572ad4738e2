"""conv_transpose2d, defined as the adjoint of conv2d (nothing new is computed here).

Fix w of shape (C_in, C_out, kH, kW), stride s and padding p, and read w as a conv2d weight that
maps C_out channels to C_in: that convolution is a linear map A from images (N, C_out, H_out, W_out)
to images (N, C_in, H, W). The transposed convolution is its adjoint A^T, i.e. conv2d's data gradient:

    forward          y  = A^T x        = conv2d_backward_data(x, w, y_shape)       (col2im of W^T x)
    backward, data   dx = A dy         = conv2d_forward(dy, w, no bias)            (the adjoint of A^T)
    backward, weight L = <dy, A_w^T x> = <A_w dy, x> = <conv2d(dy, w), x>, so dw is conv2d's
                     weight gradient with the roles swapped: conv2d_backward_weight(dy=x, x=dy)
    bias             db = sum of dy over n, i, j

The output size H_out = (H - 1)*s - 2p + kH + output_padding: several conv2d input sizes
(output_padding in [0, s)) convolve down to the same H, and output_padding picks which one the
adjoint is taken for. The extra rows/cols are at the bottom/right; they receive contributions from
the kernel only where the padding p overlaps them (with p = 0 they hold just the bias).

This file, with conv.py, is the definition. conv_phases.py takes the same adjoint of its own faster conv2d
(AdjointOf below), and gathers dy's windows once for both gradients where both are asked for.
"""
from kernels.shapes import conv_transpose2d_shape

from . import conv


class AdjointOf:
    """conv_transpose2d's ops as the adjoint of a conv2d: `conv2d`, any namespace with conv2d_forward,
    conv2d_backward_data and conv2d_backward_weight (the definition's below, conv_phases.py's too)."""

    def __init__(self, conv2d):
        self.conv2d = conv2d

    def conv_transpose2d_forward(self, x, w, b, stride, padding, output_padding):
        y_shape = conv_transpose2d_shape(x.shape, w.shape, stride, padding, output_padding)
        y = self.conv2d.conv2d_backward_data(x, w, y_shape, stride, padding)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)
        return y

    def conv_transpose2d_backward_data(self, dy, w, stride, padding):
        return self.conv2d.conv2d_forward(dy, w, None, stride, padding)

    def conv_transpose2d_backward_weight(self, dy, x, w_shape, stride, padding):
        dw, _ = self.conv2d.conv2d_backward_weight(x, dy, w_shape, stride, padding)   # roles of x and dy swapped
        return dw, dy.sum(axis=(0, 2, 3))

    def conv_transpose2d_backward(self, dy, x, w, stride, padding, output_padding):
        """(dx, dw, db) of y = conv_transpose2d(x, w) + b for upstream gradient dy."""
        dw, db = self.conv_transpose2d_backward_weight(dy, x, w.shape, stride, padding)
        return self.conv_transpose2d_backward_data(dy, w, stride, padding), dw, db


_definition = AdjointOf(conv)
conv_transpose2d_forward = _definition.conv_transpose2d_forward
conv_transpose2d_backward_data = _definition.conv_transpose2d_backward_data
conv_transpose2d_backward_weight = _definition.conv_transpose2d_backward_weight
conv_transpose2d_backward = _definition.conv_transpose2d_backward
