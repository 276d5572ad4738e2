#line 1 "conv_implicit.cu"
// conv_implicit.cu -- convolution forward, data gradient and weight gradient as one tiled GEMM kernel
// in shared memory, fed by the gathers of conv_gemm_views.cuh (no column matrix in device memory).
// Plain FMA in the data type (float32 or float64); conv_implicit_tf32.cu is the tensor-core twin.
//
// Work split (constants below; kernels/cupy/plan.py mirrors them and computes the grid):
//   * block (bx, by, bz) owns the 64 x 64 output tile rows [64*by, 64*by + 64) x columns
//     [64*bx, 64*bx + 64) of  out = A @ B, and the slice [bz*split_len, (bz+1)*split_len) of the depth
//     (bz > 0 only when the launcher splits a long reduction, "split-K": each slice writes its own
//     copy of the output, out + bz*out_split_stride, and split_k_finish.cu adds the copies);
//   * 256 threads; per step of 16 along the depth, they stage A's 64 x 16 tile and B's 16 x 64 tile in
//     shared memory (4 loads each per thread), synchronise, and each thread accumulates a 4 x 4
//     micro-tile of outputs: rows 4*ty .. 4*ty+3, columns 4*tx .. 4*tx+3 with ty = tid/16, tx = tid%16;
//   * loads outside the matrix (last tiles, end of the slice) put 0 in shared memory; stores outside
//     it are skipped. So any M, N, depth >= 1 works.
// The loader roles are fixed per thread: for A the thread always loads depth column tid % 16 of the
// tile (rows tid/16 + 16*i), for B always tile column tid % 64 (depth rows tid/64 + 4*i), so each
// thread decodes its B column once (b_col) and its A depth index once per step (a_k).

#include "conv_gemm_views.cuh"

constexpr int TILE_M = 64;
constexpr int TILE_N = 64;
constexpr int TILE_K = 16;
constexpr int THREADS = 256;
constexpr int MICRO = 4;                       // each thread: MICRO x MICRO outputs
static_assert(THREADS == (TILE_M / MICRO) * (TILE_N / MICRO), "one thread per micro-tile");
static_assert(THREADS % TILE_K == 0 && THREADS % TILE_N == 0, "fixed loader roles");
static_assert(TILE_M * TILE_K % THREADS == 0 && TILE_K * TILE_N % THREADS == 0, "whole tiles per pass");
template <typename T> constexpr int A_PAD = 16 / sizeof(T);   // 16 bytes of padding per a_tile row (below)

template <typename T, typename View>
__device__ void gemm_tiles_fma(const View& view, T* out, long long split_len, long long out_split_stride) {
    // a_tile[kk][r] = A[m0 + r, k0 + kk]. A warp stores 16 depth columns kk x 2 rows r (the loader roles
    // below): unpadded, the 16 kk of a store are 64 floats apart, all in one bank, a 16-way conflict.
    // A row pitch of TILE_M + 16 bytes puts kk in bank 4*kk + r (mod 32): 2-way for float (4-way for
    // double, whose 8-byte words take two banks), and each row still starts 16-byte aligned, so the
    // micro-tile reads below stay single 128-bit loads. (An odd pitch would be conflict-free on the
    // store but split those loads.) The B tile needs no padding: its stores are 64 consecutive columns,
    // and its 128-bit reads of 4 consecutive columns cover 32 distinct banks per quarter-warp.
    __shared__ __align__(16) T a_tile[TILE_K][TILE_M + A_PAD<T>];
    __shared__ T b_tile[TILE_K][TILE_N];       // b_tile[kk][c] = B[k0 + kk, n0 + c]

    const int tid = threadIdx.x;
    const long long M = view.rows();
    const long long N = view.cols();
    const long long m0 = (long long)blockIdx.y * TILE_M;
    const long long n0 = (long long)blockIdx.x * TILE_N;
    const long long k_begin = (long long)blockIdx.z * split_len;
    const long long k_end = min(view.depth(), k_begin + split_len);

    // loader roles
    const int a_kk = tid % TILE_K;
    const int a_r0 = tid / TILE_K;
    constexpr int A_ROW_STEP = THREADS / TILE_K;           // 16
    const int b_c = tid % TILE_N;
    const int b_kk0 = tid / TILE_N;
    constexpr int B_K_STEP = THREADS / TILE_N;             // 4
    const bool b_col_ok = n0 + b_c < N;
    typename View::BCol bcol{};
    if (b_col_ok) {
        bcol = view.b_col(n0 + b_c);
    }

    // compute roles
    const int ty = tid / (TILE_N / MICRO);
    const int tx = tid % (TILE_N / MICRO);
    T acc[MICRO][MICRO];
#pragma unroll
    for (int i = 0; i < MICRO; i++) {
#pragma unroll
        for (int j = 0; j < MICRO; j++) {
            acc[i][j] = T(0);
        }
    }

    for (long long k0 = k_begin; k0 < k_end; k0 += TILE_K) {
        {
            const long long k = k0 + a_kk;
            const bool k_ok = k < k_end;
            typename View::AK ak{};
            if (k_ok) {
                ak = view.a_k(k);
            }
#pragma unroll
            for (int i = 0; i < TILE_M / A_ROW_STEP; i++) {
                const int r = a_r0 + A_ROW_STEP * i;
                const long long row = m0 + r;
                a_tile[a_kk][r] = (k_ok && row < M) ? view.a(row, ak) : T(0);
            }
        }
#pragma unroll
        for (int i = 0; i < TILE_K / B_K_STEP; i++) {
            const int kk = b_kk0 + B_K_STEP * i;
            const long long k = k0 + kk;
            b_tile[kk][b_c] = (b_col_ok && k < k_end) ? view.b(k, bcol) : T(0);
        }
        __syncthreads();

#pragma unroll
        for (int kk = 0; kk < TILE_K; kk++) {
            T a_frag[MICRO];
            T b_frag[MICRO];
#pragma unroll
            for (int i = 0; i < MICRO; i++) {
                a_frag[i] = a_tile[kk][ty * MICRO + i];
                b_frag[i] = b_tile[kk][tx * MICRO + i];
            }
#pragma unroll
            for (int i = 0; i < MICRO; i++) {
#pragma unroll
                for (int j = 0; j < MICRO; j++) {
                    acc[i][j] = fma(a_frag[i], b_frag[j], acc[i][j]);
                }
            }
        }
        __syncthreads();                       // the tiles are overwritten next step
    }

    T* dst = out + blockIdx.z * out_split_stride;
#pragma unroll
    for (int i = 0; i < MICRO; i++) {
#pragma unroll
        for (int j = 0; j < MICRO; j++) {
            const long long row = m0 + ty * MICRO + i;
            const long long col = n0 + tx * MICRO + j;
            if (row < M && col < N) {
                view.store(dst, row, col, acc[i][j]);
            }
        }
    }
}

// y = conv2d(x, w) without bias (N, C_out, H_out, W_out)
template <typename T>
__global__ void __launch_bounds__(THREADS)
conv2d_forward_implicit(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ out,
                        CONV_GEOMETRY_PARAMS, long long split_len, long long out_split_stride) {
    const ConvForward<T> view{x, w, CONV_GEOMETRY};
    gemm_tiles_fma<T>(view, out, split_len, out_split_stride);
}

// dx (N, C, H, W) from dy (N, C_out, H_out, W_out) and w
template <typename T>
__global__ void __launch_bounds__(THREADS)
conv2d_backward_data_implicit(const T* __restrict__ dy, const T* __restrict__ w, T* __restrict__ out,
                          CONV_GEOMETRY_PARAMS, long long split_len, long long out_split_stride) {
    const ConvBackwardData<T> view{dy, w, CONV_GEOMETRY};
    gemm_tiles_fma<T>(view, out, split_len, out_split_stride);
}

// dw (C_out, C, KH, KW) from dy and x
template <typename T>
__global__ void __launch_bounds__(THREADS)
conv2d_backward_weight_implicit(const T* __restrict__ dy, const T* __restrict__ x, T* __restrict__ out,
                            CONV_GEOMETRY_PARAMS, long long split_len, long long out_split_stride) {
    const ConvBackwardWeight<T> view{dy, x, CONV_GEOMETRY};
    gemm_tiles_fma<T>(view, out, split_len, out_split_stride);
}
