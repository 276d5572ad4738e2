#line 1 "batch_norm_backward.cu"
// batch_norm_backward.cu -- the backward pass of (fused) batch norm in training mode.
//
// Forward: xhat = (x - mean) * invstd, pre = gamma * xhat + beta, y = act(pre), with mean and invstd the
// batch statistics of each channel over its M = N*S values. Backward, per channel:
//   g      = dy * act'(pre)  act' = 1 without activation; with one, 1 where y > 0 and slope
//                            elsewhere (slope >= 0 keeps the sign of pre in y, so y suffices)
//   dbeta  = sum g,   dgamma = sum g * xhat
//   dx     = gamma * invstd * (g - dbeta / M - xhat * dgamma / M)
// (x moves xhat directly and through mean and invstd: docs/derivations/batch_norm_backward.md derives
// the last line and checks it against finite differences.)
//
// The same two stages as batch_norm_forward.cu (layout (N, C, S), same chunking), plain sums here:
//   partial: batch_norm_backward_partial (4-D, block (j, c) sums chunk j of channel c) or
//            batch_norm_backward_partial_columns (2-D, thread f walks feature column f), writing
//            (sum g, sum g * xhat) per chunk;
//   finish:  batch_norm_backward_finish, thread c adds its chunks -> dbeta, dgamma;
//   then batch_norm_backward, one thread per element (grid-stride loop), the dx line above.
// The loops decode positions in 32-bit arithmetic where the sizes allow (channel_index.cuh).
// All arithmetic and every sum in the data type, as the forward's (docs/ops/batch_norm.md).

#include "channel_index.cuh"
#include "reduce.cuh"

// g: dy pushed back through the activation (see above)
template <typename T>
__device__ T activation_grad(const T* dy, const T* y, long long i, int has_act, T slope) {
    const T g = dy[i];
    if (has_act && !(y[i] > T(0))) {
        return g * slope;
    }
    return g;
}

template <typename T>
__device__ void write_sums(T* partial, long long at, T s_g, T s_g_xhat) {
    partial[at * 2 + 0] = s_g;
    partial[at * 2 + 1] = s_g_xhat;
}

template <typename T>
__global__ void batch_norm_backward_partial(const T* __restrict__ dy, const T* __restrict__ x,
                                            const T* __restrict__ y, const T* __restrict__ mean,
                                            const T* __restrict__ invstd, T* __restrict__ partial, int batch,
                                            int channels, long long spatial, long long chunk_len, int chunks,
                                            int has_act, T slope) {
    const int j = blockIdx.x;
    const int c = blockIdx.y;
    const long long count = (long long)batch * spatial;
    const long long begin = j * chunk_len;
    const long long end = min(count, begin + chunk_len);
    const T m = mean[c];
    const T is = invstd[c];
    T s_g = T(0);
    T s_g_xhat = T(0);
    for_each_of_channel(begin, end, channels, spatial, c, [&](long long at) {
        const T g = activation_grad(dy, y, at, has_act, slope);
        s_g += g;
        s_g_xhat += g * ((x[at] - m) * is);
    });
    s_g = block_sum(s_g);
    s_g_xhat = block_sum(s_g_xhat);
    if (threadIdx.x == 0 && j < chunks) {
        write_sums(partial, (long long)c * chunks + j, s_g, s_g_xhat);
    }
}

template <typename T>
__global__ void batch_norm_backward_partial_columns(const T* __restrict__ dy, const T* __restrict__ x,
                                                    const T* __restrict__ y, const T* __restrict__ mean,
                                                    const T* __restrict__ invstd, T* __restrict__ partial,
                                                    int rows, int cols, int has_act, T slope) {
    const int f = blockIdx.x * blockDim.x + threadIdx.x;
    if (f >= cols) {
        return;
    }
    const T m = mean[f];
    const T is = invstd[f];
    T s_g = T(0);
    T s_g_xhat = T(0);
    for (int r = 0; r < rows; r++) {
        const long long at = (long long)r * cols + f;
        const T g = activation_grad(dy, y, at, has_act, slope);
        s_g += g;
        s_g_xhat += g * ((x[at] - m) * is);
    }
    write_sums(partial, f, s_g, s_g_xhat);
}

template <typename T>
__global__ void batch_norm_backward_finish(const T* __restrict__ partial, T* __restrict__ dgamma,
                                           T* __restrict__ dbeta, int channels, int chunks) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= channels) {
        return;
    }
    T s_g = T(0);
    T s_g_xhat = T(0);
    for (int j = 0; j < chunks; j++) {
        s_g += partial[((long long)c * chunks + j) * 2 + 0];
        s_g_xhat += partial[((long long)c * chunks + j) * 2 + 1];
    }
    dbeta[c] = s_g;
    dgamma[c] = s_g_xhat;
}

template <typename T>
__global__ void batch_norm_backward(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ y,
                                    const T* __restrict__ mean, const T* __restrict__ invstd,
                                    const T* __restrict__ gamma, const T* __restrict__ dgamma,
                                    const T* __restrict__ dbeta, T* __restrict__ dx, long long n, int channels,
                                    long long spatial, T inv_count, int has_act, T slope) {
    for_each_element(n, channels, spatial, [&](long long i, int c) {
        const T is = invstd[c];
        const T xhat = (x[i] - mean[c]) * is;
        const T g = activation_grad(dy, y, i, has_act, slope);
        dx[i] = gamma[c] * is * (g - dbeta[c] * inv_count - xhat * (dgamma[c] * inv_count));
    });
}
