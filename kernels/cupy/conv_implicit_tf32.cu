#line 1 "conv_implicit_tf32.cu"
// conv_implicit_tf32.cu -- the implicit-GEMM convolution of conv_implicit.cu on the tensor cores:
// WMMA with TF32 inputs (10-bit mantissa) and float32 accumulation. float32 data only.
//
// Same tiling and the same gathers (conv_gemm_views.cuh) as conv_implicit.cu; only the inner product
// differs:
//   * block (bx, by, bz): output tile 64 x 64 at rows 64*by, columns 64*bx; depth slice bz (split-K);
//   * 128 threads = 4 warps in a 2 x 2 arrangement: warp (wm, wn) = (warp / 2, warp % 2) owns the
//     32 x 32 sub-tile at rows 32*wm, columns 32*wn, held as 2 x 2 accumulator fragments of 16 x 16;
//   * per step of 16 along the depth, the block stages A's tile (64 x 16, row-major, row stride 24) and
//     B's tile (16 x 64, row-major, row stride 72) in shared memory, 8 loads per thread each, then
//     each warp does two k-steps of 8: load its 2 A and 2 B fragments from shared memory, round them
//     to TF32 (wmma::__float_to_tf32), and mma_sync the 4 pairs;
//   * double-buffered: two copies of each shared tile. While the warps multiply step s out of copy
//     s % 2, every thread already gathers step s+1 from device memory into registers (the loads are in
//     flight during the mma_sync calls), and after its multiplies stores them into the other copy. One
//     barrier per step: it completes step s+1's tiles and, since every thread has finished reading
//     copy s % 2 by then, frees that copy for step s+2's stores;
//   * epilogue: the fragments go to a shared 64 x 64 staging tile, from which every thread writes 32
//     outputs through the view's store, skipping those outside the matrix.
// Alignment: WMMA loads/stores want 32-byte-aligned pointers and a leading dimension that is a
// multiple of 4 floats. The row strides 24 and 72 (the tile width plus 8 floats of padding, which also
// breaks up shared-memory bank conflicts) and fragment offsets that are multiples of 8 floats keep
// every pointer on a 32-byte boundary.
//
// Shared memory: 2 x (6 KiB of A + 4.5 KiB of B) + 18 KiB of staging = 39 KiB, under the 48 KiB a block
// may declare statically. What the double buffer gains is for the GPU to show (the host build checks
// the order of stores, barriers and reads, not the overlap).
//
// Accuracy: each product rounds both factors to TF32 (relative error up to 2^-11 each), so a sum of
// random terms lands at a few 1e-4 relative error; the gpu tests hold it to 3e-3 (TF32_BOUND in
// tests/test_cupy_backend.py).

#include <mma.h>
#include "conv_gemm_views.cuh"

constexpr int TC_TILE_M = 64;
constexpr int TC_TILE_N = 64;
constexpr int TC_TILE_K = 16;
constexpr int TC_THREADS = 128;
constexpr int TC_LDA = TC_TILE_K + 8;          // 24
constexpr int TC_LDB = TC_TILE_N + 8;          // 72
constexpr int TC_LDC = TC_TILE_N + 8;          // 72
constexpr int FRAG = 16;                       // fragment rows/columns (m16 n16 k8)
constexpr int FRAG_K = 8;
static_assert(TC_THREADS % TC_TILE_K == 0 && TC_THREADS % TC_TILE_N == 0, "fixed loader roles");
static_assert(TC_LDA % 8 == 0 && TC_LDB % 8 == 0 && TC_LDC % 8 == 0, "32-byte aligned fragment rows");

template <typename View>
__device__ void gemm_tiles_tf32(const View& view, float* out, long long split_len, long long out_split_stride) {
    using namespace nvcuda;
    // copy s % 2 holds step s (starting at depth k0): a_tiles[s % 2][r*LDA + kk] = A[m0 + r, k0 + kk],
    // b_tiles[s % 2][kk*LDB + c] = B[k0 + kk, n0 + c]
    __shared__ __align__(32) float a_tiles[2][TC_TILE_M * TC_LDA];
    __shared__ __align__(32) float b_tiles[2][TC_TILE_K * TC_LDB];
    __shared__ __align__(32) float c_tile[TC_TILE_M * TC_LDC];   // the block's 64 x 64 result

    const int tid = threadIdx.x;
    const int warp = tid / 32;
    const int wm = warp / 2;
    const int wn = warp % 2;
    const long long M = view.rows();
    const long long N = view.cols();
    const long long m0 = (long long)blockIdx.y * TC_TILE_M;
    const long long n0 = (long long)blockIdx.x * TC_TILE_N;
    const long long k_begin = (long long)blockIdx.z * split_len;
    const long long k_end = min(view.depth(), k_begin + split_len);

    // loader roles (as in conv_implicit.cu, with 128 threads)
    const int a_kk = tid % TC_TILE_K;
    const int a_r0 = tid / TC_TILE_K;
    constexpr int A_ROW_STEP = TC_THREADS / TC_TILE_K;       // 8
    const int b_c = tid % TC_TILE_N;
    const int b_kk0 = tid / TC_TILE_N;
    constexpr int B_K_STEP = TC_THREADS / TC_TILE_N;         // 2
    const bool b_col_ok = n0 + b_c < N;
    typename View::BCol bcol{};
    if (b_col_ok) {
        bcol = view.b_col(n0 + b_c);
    }

    wmma::fragment<wmma::accumulator, FRAG, FRAG, FRAG_K, float> acc[2][2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
#pragma unroll
        for (int j = 0; j < 2; j++) {
            wmma::fill_fragment(acc[i][j], 0.0f);
        }
    }

    // this thread's share of one step's tiles, gathered into registers, then stored to a copy
    float a_next[TC_TILE_M / A_ROW_STEP];
    float b_next[TC_TILE_K / B_K_STEP];
    auto gather = [&](long long k0) {
        const long long k = k0 + a_kk;
        const bool k_ok = k < k_end;
        typename View::AK ak{};
        if (k_ok) {
            ak = view.a_k(k);
        }
#pragma unroll
        for (int i = 0; i < TC_TILE_M / A_ROW_STEP; i++) {
            const long long row = m0 + a_r0 + A_ROW_STEP * i;
            a_next[i] = (k_ok && row < M) ? view.a(row, ak) : 0.0f;
        }
#pragma unroll
        for (int i = 0; i < TC_TILE_K / B_K_STEP; i++) {
            const long long kb = k0 + b_kk0 + B_K_STEP * i;
            b_next[i] = (b_col_ok && kb < k_end) ? view.b(kb, bcol) : 0.0f;
        }
    };
    auto stage = [&](int copy) {
#pragma unroll
        for (int i = 0; i < TC_TILE_M / A_ROW_STEP; i++) {
            a_tiles[copy][(a_r0 + A_ROW_STEP * i) * TC_LDA + a_kk] = a_next[i];
        }
#pragma unroll
        for (int i = 0; i < TC_TILE_K / B_K_STEP; i++) {
            b_tiles[copy][(b_kk0 + B_K_STEP * i) * TC_LDB + b_c] = b_next[i];
        }
    };

    if (k_begin < k_end) {
        gather(k_begin);
        stage(0);
    }
    __syncthreads();
    int copy = 0;
    for (long long k0 = k_begin; k0 < k_end; k0 += TC_TILE_K) {
        const bool more = k0 + TC_TILE_K < k_end;
        if (more) {
            gather(k0 + TC_TILE_K);            // in flight while the warps multiply this step
        }
        const float* a_tile = a_tiles[copy];
        const float* b_tile = b_tiles[copy];
#pragma unroll
        for (int kk = 0; kk < TC_TILE_K; kk += FRAG_K) {
            wmma::fragment<wmma::matrix_a, FRAG, FRAG, FRAG_K, wmma::precision::tf32, wmma::row_major> a_frag[2];
            wmma::fragment<wmma::matrix_b, FRAG, FRAG, FRAG_K, wmma::precision::tf32, wmma::row_major> b_frag[2];
#pragma unroll
            for (int i = 0; i < 2; i++) {
                wmma::load_matrix_sync(a_frag[i], a_tile + (wm * 32 + i * FRAG) * TC_LDA + kk, TC_LDA);
#pragma unroll
                for (int e = 0; e < a_frag[i].num_elements; e++) {
                    a_frag[i].x[e] = wmma::__float_to_tf32(a_frag[i].x[e]);
                }
                wmma::load_matrix_sync(b_frag[i], b_tile + kk * TC_LDB + wn * 32 + i * FRAG, TC_LDB);
#pragma unroll
                for (int e = 0; e < b_frag[i].num_elements; e++) {
                    b_frag[i].x[e] = wmma::__float_to_tf32(b_frag[i].x[e]);
                }
            }
#pragma unroll
            for (int i = 0; i < 2; i++) {
#pragma unroll
                for (int j = 0; j < 2; j++) {
                    wmma::mma_sync(acc[i][j], a_frag[i], b_frag[j], acc[i][j]);
                }
            }
        }
        if (more) {
            stage(copy ^ 1);                   // nobody reads that copy this step (see the header)
        }
        __syncthreads();
        copy ^= 1;
    }

#pragma unroll
    for (int i = 0; i < 2; i++) {
#pragma unroll
        for (int j = 0; j < 2; j++) {
            float* corner = c_tile + (wm * 32 + i * FRAG) * TC_LDC + wn * 32 + j * FRAG;
            wmma::store_matrix_sync(corner, acc[i][j], TC_LDC, wmma::mem_row_major);
        }
    }
    __syncthreads();

    float* dst = out + blockIdx.z * out_split_stride;
    for (int e = tid; e < TC_TILE_M * TC_TILE_N; e += TC_THREADS) {
        const int r = e / TC_TILE_N;
        const int c = e % TC_TILE_N;
        const long long row = m0 + r;
        const long long col = n0 + c;
        if (row < M && col < N) {
            view.store(dst, row, col, c_tile[r * TC_LDC + c]);
        }
    }
}

// The three products, as in conv_implicit.cu. Templated on T only so that every module of the backend
// is named the same way (kernel<float>); T must be float.
template <typename T>
__global__ void __launch_bounds__(TC_THREADS)
conv2d_forward_implicit_tf32(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ out,
                    CONV_GEOMETRY_PARAMS, long long split_len, long long out_split_stride) {
    static_assert(sizeof(T) == sizeof(float), "TF32 kernels take float32 data");
    const ConvForward<T> view{x, w, CONV_GEOMETRY};
    gemm_tiles_tf32(view, out, split_len, out_split_stride);
}

template <typename T>
__global__ void __launch_bounds__(TC_THREADS)
conv2d_backward_data_implicit_tf32(const T* __restrict__ dy, const T* __restrict__ w, T* __restrict__ out,
                      CONV_GEOMETRY_PARAMS, long long split_len, long long out_split_stride) {
    static_assert(sizeof(T) == sizeof(float), "TF32 kernels take float32 data");
    const ConvBackwardData<T> view{dy, w, CONV_GEOMETRY};
    gemm_tiles_tf32(view, out, split_len, out_split_stride);
}

template <typename T>
__global__ void __launch_bounds__(TC_THREADS)
conv2d_backward_weight_implicit_tf32(const T* __restrict__ dy, const T* __restrict__ x, T* __restrict__ out,
                        CONV_GEOMETRY_PARAMS, long long split_len, long long out_split_stride) {
    static_assert(sizeof(T) == sizeof(float), "TF32 kernels take float32 data");
    const ConvBackwardWeight<T> view{dy, x, CONV_GEOMETRY};
    gemm_tiles_tf32(view, out, split_len, out_split_stride);
}
