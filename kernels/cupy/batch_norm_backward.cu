#line 1 "batch_norm_backward.cu"
// batch_norm_backward.cu -- the backward pass of (fused) batch norm in training mode.
//
// Forward: xhat = (x - mean) * invstd, pre = gamma * xhat + beta, y = act(pre), with mean and invstd the
// batch statistics of each channel over its M = N*S values. Backward, per channel:
//   dpre   = dy * act'(pre)      act' = 1 without activation; with one, 1 where y > 0 and slope
//                                elsewhere (slope >= 0 keeps the sign of pre in y, so y suffices)
//   dbeta  = sum dpre,   dgamma = sum dpre * xhat
//   dx     = gamma * invstd / M * (M * dpre - dbeta - xhat * dgamma)
// (x moves xhat directly and through mean and invstd: docs/derivations/batch_norm_backward.md derives
// the last line and checks it against finite differences.)
//
// Same two-level reduction as batch_norm_stats.cu (layout (N, C, S), same chunking):
//   level 1: bn_backward_partial (4-D, block (j, c) sums chunk j of channel c) or bn_backward_columns
//            (2-D, thread f walks feature column f), writing (sum dpre, sum dpre * xhat) per chunk;
//   level 2: bn_backward_combine, thread c adds its chunks -> dbeta, dgamma (and keeps both sums in
//            double in `sums` for the next kernel);
//   then bn_backward_dx, one thread per element (grid-stride loop), the elementwise line above.
// The loops decode positions in 32-bit arithmetic where the sizes allow (channel_index.cuh).
// All arithmetic in double, stored as T.

#include "channel_index.cuh"
#include "reduce.cuh"

// dy pushed back through the activation (see above)
template <typename T>
__device__ double grad_pre_activation(const T* dy, const T* y, long long i, int has_act, double slope) {
    const double g = (double)dy[i];
    if (has_act && !((double)y[i] > 0.0)) {
        return g * slope;
    }
    return g;
}

template <typename T>
__global__ void bn_backward_partial(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ y,
                                    const T* __restrict__ mean, const T* __restrict__ invstd,
                                    double* __restrict__ partial, int batch, int channels, long long spatial,
                                    long long chunk_len, int chunks, int has_act, double slope) {
    const int j = blockIdx.x;
    const int c = blockIdx.y;
    const long long count = (long long)batch * spatial;
    const long long begin = j * chunk_len;
    const long long end = min(count, begin + chunk_len);
    const double m = (double)mean[c];
    const double is = (double)invstd[c];
    double s_dpre = 0.0;
    double s_dpre_xhat = 0.0;
    for_each_of_channel(begin, end, channels, spatial, c, [&](long long at) {
        const double dpre = grad_pre_activation(dy, y, at, has_act, slope);
        s_dpre += dpre;
        s_dpre_xhat += dpre * ((double)x[at] - m) * is;
    });
    s_dpre = block_sum(s_dpre);
    s_dpre_xhat = block_sum(s_dpre_xhat);
    if (threadIdx.x == 0 && j < chunks) {
        partial[((long long)c * chunks + j) * 2 + 0] = s_dpre;
        partial[((long long)c * chunks + j) * 2 + 1] = s_dpre_xhat;
    }
}

template <typename T>
__global__ void bn_backward_columns(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ y,
                                    const T* __restrict__ mean, const T* __restrict__ invstd,
                                    double* __restrict__ partial, int rows, int cols, int has_act, double slope) {
    const int f = blockIdx.x * blockDim.x + threadIdx.x;
    if (f >= cols) {
        return;
    }
    const double m = (double)mean[f];
    const double is = (double)invstd[f];
    double s_dpre = 0.0;
    double s_dpre_xhat = 0.0;
    for (int r = 0; r < rows; r++) {
        const long long at = (long long)r * cols + f;
        const double dpre = grad_pre_activation(dy, y, at, has_act, slope);
        s_dpre += dpre;
        s_dpre_xhat += dpre * ((double)x[at] - m) * is;
    }
    partial[(long long)f * 2 + 0] = s_dpre;
    partial[(long long)f * 2 + 1] = s_dpre_xhat;
}

template <typename T>
__global__ void bn_backward_combine(const double* __restrict__ partial, double* __restrict__ sums,
                                    T* __restrict__ dgamma, T* __restrict__ dbeta, int channels, int chunks) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= channels) {
        return;
    }
    double s_dpre = 0.0;
    double s_dpre_xhat = 0.0;
    for (int j = 0; j < chunks; j++) {
        s_dpre += partial[((long long)c * chunks + j) * 2 + 0];
        s_dpre_xhat += partial[((long long)c * chunks + j) * 2 + 1];
    }
    sums[(long long)c * 2 + 0] = s_dpre;
    sums[(long long)c * 2 + 1] = s_dpre_xhat;
    dbeta[c] = (T)s_dpre;
    dgamma[c] = (T)s_dpre_xhat;
}

template <typename T>
__global__ void bn_backward_dx(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ y,
                               const T* __restrict__ mean, const T* __restrict__ invstd, const T* __restrict__ gamma,
                               const double* __restrict__ sums, T* __restrict__ dx, long long n, int channels,
                               long long spatial, long long count, int has_act, double slope) {
    for_each_element(n, channels, spatial, [&](long long i, int c) {
        const double is = (double)invstd[c];
        const double xhat = ((double)x[i] - (double)mean[c]) * is;
        const double dpre = grad_pre_activation(dy, y, i, has_act, slope);
        const double mean_dpre = sums[(long long)c * 2 + 0] / (double)count;
        const double mean_dpre_xhat = sums[(long long)c * 2 + 1] / (double)count;
        dx[i] = (T)((double)gamma[c] * is * (dpre - mean_dpre - xhat * mean_dpre_xhat));
    });
}
