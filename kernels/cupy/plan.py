"""Launch geometry of every kernel of the CuPy backend, in one place, in plain Python.

Every launcher asks this module for its grid and block, so the arithmetic that decides which thread
does which element lives here, next to the numbers it depends on, and can be checked without a GPU
(tests/test_cupy_compile.py runs these functions on the presets' real layer shapes and checks that
every grid covers its output exactly once, and that the tile sizes here match the .cu sources).

Kinds of launch:
  * element-wise (grid-stride loop): any grid covers any n; we cap the grid at a few waves of blocks
    so that each thread handles several elements on large tensors.
  * per channel (one thread per channel or column): ceil(C / 256) blocks.
  * per-channel reduction in two stages (batch norm statistics and backward, bias gradients): the
    partial stage is a (chunks, C) grid of blocks, block (j, c) reducing chunk j of channel c's N*S
    values; the finish stage is one thread per channel. The chunk count is chosen to give the GPU
    ~REDUCTION_BLOCKS blocks.
  * loss reductions: one partial sum per block (so the grid size is the number of partials), then one
    block adds the partials (loss_finish).
  * tiled implicit GEMM (convolutions): 64 x 64 output tiles on (x: columns, y: rows), and the depth
    split over z when there are too few tiles to fill the GPU (split-K).
"""
from dataclasses import dataclass

THREADS = 256                  # block size of every element-wise and reduction kernel
SM_COUNT = 132                 # streaming multiprocessors of an H100 SXM: grids are sized in waves of it
MAX_ELEMENTWISE_BLOCKS = SM_COUNT * 16
REDUCTION_BLOCKS = SM_COUNT * 8     # partial-stage blocks a per-channel reduction aims at
MIN_CHUNK = 2048                    # ...but no chunk shorter than this (8 values per thread)
MAX_LOSS_PARTIALS = 1024            # blocks (= partial sums) of a loss kernel at most
GEMM_BLOCKS = SM_COUNT * 2          # tiles wanted before the depth of a GEMM is split
MIN_SPLIT_DEPTH = 256               # no depth slice shorter than this
GRID_X_MAX = 2**31 - 1
GRID_YZ_MAX = 65535

# (tile rows, tile columns, tile depth, threads) of the tiled conv kernels. These mirror the constants
# at the top of conv_implicit.cu (TILE_M, TILE_N, TILE_K, THREADS) and conv_implicit_tf32.cu
# (TC_TILE_M, ...); the compile test checks that they agree.
GEMM_TILES = {"implicit": (64, 64, 16, 256), "implicit_tf32": (64, 64, 16, 128)}


def cdiv(a, b):
    return -(-a // b)


@dataclass(frozen=True)
class Launch:
    grid: tuple
    block: tuple

    @property
    def empty(self):
        return any(g == 0 for g in self.grid)


def _check_grid(grid, what):
    if grid[0] > GRID_X_MAX or any(g > GRID_YZ_MAX for g in grid[1:]):
        raise ValueError(f"{what} is too large for one launch (grid {grid})")
    return grid


def elementwise(n):
    """Grid-stride loop over n elements (grid (0,) when n == 0: nothing to launch)."""
    return Launch((min(cdiv(n, THREADS), MAX_ELEMENTWISE_BLOCKS),), (THREADS,))


def per_channel(channels):
    """One thread per channel (or per column of a 2-D tensor)."""
    return Launch((cdiv(channels, THREADS),), (THREADS,))


def loss_partial(n):
    """A loss kernel over n elements: one partial sum per block."""
    return Launch((max(1, min(cdiv(n, THREADS), MAX_LOSS_PARTIALS)),), (THREADS,))


def loss_finish():
    """loss_finish.cu: one block adds all partial sums."""
    return Launch((1,), (THREADS,))


@dataclass(frozen=True)
class ChannelReduction:
    """The partial stage reduces chunk j (values j*chunk_len ... (j+1)*chunk_len - 1) of channel c in block
    (j, c); the finish stage combines the chunks of channel c in thread c."""
    count: int          # values per channel, N*S
    chunks: int
    chunk_len: int
    partial: Launch     # grid (chunks, channels)
    finish: Launch      # one thread per channel


def channel_reduction(batch, channels, spatial):
    count = batch * spatial
    chunks = max(1, min(cdiv(REDUCTION_BLOCKS, channels), cdiv(count, MIN_CHUNK)))
    chunk_len = cdiv(count, chunks)
    chunks = cdiv(count, chunk_len)          # no empty chunk at the end
    grid = _check_grid((chunks, channels), f"a reduction over {channels} channels")
    return ChannelReduction(count, chunks, chunk_len, Launch(grid, (THREADS,)), per_channel(channels))


def column_reduction(rows, cols):
    """A 2-D (rows, cols) tensor reduced per column: the partial stage is one thread per column walking
    down it (its single chunk), the finish one thread per column."""
    return ChannelReduction(rows, 1, rows, per_channel(cols), per_channel(cols))


@dataclass(frozen=True)
class GemmTiles:
    """out (rows x cols) = A (rows x depth) @ B (depth x cols) in tiles; block z sums depth slice z."""
    rows: int
    cols: int
    depth: int
    splits: int
    split_len: int      # a multiple of the tile depth; the last slice may be shorter
    launch: Launch


def gemm_tiles(variant, rows, cols, depth):
    tile_m, tile_n, tile_k, threads = GEMM_TILES[variant]
    tiles = cdiv(rows, tile_m) * cdiv(cols, tile_n)
    splits = max(1, min(cdiv(GEMM_BLOCKS, tiles), cdiv(depth, MIN_SPLIT_DEPTH)))
    split_len = cdiv(cdiv(depth, splits), tile_k) * tile_k
    splits = cdiv(depth, split_len)          # no empty slice at the end
    grid = _check_grid((cdiv(cols, tile_n), cdiv(rows, tile_m), splits), f"a {rows}x{cols} convolution GEMM")
    return GemmTiles(rows, cols, depth, splits, split_len, Launch(grid, (threads,)))


@dataclass(frozen=True)
class ConvGeometry:
    """One conv2d: x (batch, c_in, height, width) * w (c_out, c_in, kernel_h, kernel_w) -> y (batch,
    c_out, out_h, out_w). The transposed convolutions run as this conv's adjoint products."""
    batch: int
    c_in: int
    height: int
    width: int
    c_out: int
    kernel_h: int
    kernel_w: int
    stride: int
    pad: int
    out_h: int
    out_w: int

    @property
    def x_shape(self):
        return (self.batch, self.c_in, self.height, self.width)

    @property
    def w_shape(self):
        return (self.c_out, self.c_in, self.kernel_h, self.kernel_w)

    @property
    def y_shape(self):
        return (self.batch, self.c_out, self.out_h, self.out_w)

    @property
    def taps(self):
        return self.kernel_h * self.kernel_w

    def gemm(self, product):
        """(rows, cols, depth) of one product as a GEMM; see conv_gemm_views.cuh."""
        if product == "forward":
            return self.c_out, self.batch * self.out_h * self.out_w, self.c_in * self.taps
        if product == "backward_data":
            return self.c_in, self.batch * self.height * self.width, self.c_out * self.taps
        if product == "backward_weight":
            return self.c_out, self.c_in * self.taps, self.batch * self.out_h * self.out_w
        raise ValueError(f"product must be forward, backward_data or backward_weight, got {product!r}")
