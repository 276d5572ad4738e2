"""The Laplacian error: the pixel error of the frames' fine detail, a second part of the pixel term
(`--laplacian-weight`, TrainConfig.laplacian_weight; vaegan/step.py adds it).

    L(a)    the 5-point Laplacian of each image and colour channel: 4 a[i, j] minus its four neighbours,
            with zeros outside the frame
    L_lap = mean((L(x_rec) - L(x))^2) = mean(L(d)^2),            d = x_rec - x  (L is linear)

Its gradient. L_lap = |L d|^2 / n over the n values, so dL_lap/dd = 2/n * L^T (L d). L is symmetric:
the stencil is (a pixel's weight on its neighbour is the neighbour's on it, -1 both ways), and the zeros
outside the frame keep it so at the borders (a pixel on the edge just has one neighbour fewer, on both
sides of the pair). So

    dL_lap/dx_rec = 2/n * L(L(d))                 the Laplacian applied twice: a 13-point stencil

Why it is there. The pixel error weighs every spatial frequency of the error alike, and a model spends
its first hundreds of steps on the large, smooth part of it: the faint texture it leaves where the film
is flat (vaegan/grain.py) is a few percent of the MSE. L multiplies a frequency's amplitude by
2(1 - cos u) + 2(1 - cos v), up to 8 at the finest checkerboard and near 0 for smooth shading, so L_lap
weighs the error's finest detail up to 64 times more than the MSE does and its smooth part hardly at all.
Beside the MSE it makes the fine detail matter early; where the model cannot know the film's texture,
the least error is then no texture. What the weight does on three films: bench/README.md, "Grain".

Plain array arithmetic on whatever arrays the backend has (NumPy or CuPy): four shifted subtractions,
no kernel of its own. (grain.py's Laplacian is the same stencil with the frame's edges replicated instead:
a measure must not take the frame's border for an edge, where a loss needs L symmetric.)
"""


def laplacian(a):
    """(N, C, H, W) -> L(a): each pixel's 4 a[i, j] minus its four neighbours (zero outside the frame)."""
    out = 4 * a
    out[:, :, 1:] -= a[:, :, :-1]
    out[:, :, :-1] -= a[:, :, 1:]
    out[:, :, :, 1:] -= a[:, :, :, :-1]
    out[:, :, :, :-1] -= a[:, :, :, 1:]
    return out


def laplacian_error(x_rec, x):
    """L_lap of frames (N, C, H, W), summed in float64, as a Python float (a host round trip)."""
    import numpy as np

    return float((laplacian(x_rec - x).astype(np.float64) ** 2).mean())


def laplacian_error_gradient(x_rec, x):
    """dL_lap/dx_rec = 2/n * L(L(x_rec - x)), in x_rec's dtype and on its device: what the step needs (the
    reported `pixel` stays the plain MSE, so no value of L_lap is read back)."""
    d = x_rec - x
    return laplacian(laplacian(d)) * (2.0 / d.size)
