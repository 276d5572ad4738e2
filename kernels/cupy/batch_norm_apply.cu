#line 1 "batch_norm_apply.cu"
// batch_norm_apply.cu -- normalise with given per-channel statistics, scale, shift, and (fused) activate:
//
//   y[n, c, s] = act( (x[n, c, s] - mean[c]) * invstd[c] * gamma[c] + beta[c] )
//   act(v)     = v                       when has_act == 0 (plain batch norm)
//              = v > 0 ? v : slope * v   when has_act == 1 (slope 0: ReLU; 0 < slope < 1: leaky ReLU)
//
// Training mode passes the batch statistics of batch_norm_stats.cu; inference passes the running mean
// and invstd = 1/sqrt(running_var + eps), which bn_running_invstd computes (one thread per channel).
// Fusing the activation saves one trip of the activation's tensor through memory each way.
//
// Layout (N, C, S) as in bias.cu (S = H*W, or 1 for a 2-D (N, F) input); the channel of offset i is
// (i / S) % C. Work split: one thread per element, grid-stride loop (channel_index.cuh: 32-bit index
// decoding where the size allows). Arithmetic in double, stored as T.

#include "channel_index.cuh"

template <typename T>
__global__ void bn_apply(const T* __restrict__ x, const T* __restrict__ mean, const T* __restrict__ invstd,
                         const T* __restrict__ gamma, const T* __restrict__ beta, T* __restrict__ y, long long n,
                         int channels, long long spatial, int has_act, double slope) {
    for_each_element(n, channels, spatial, [&](long long i, int c) {
        const double xhat = ((double)x[i] - (double)mean[c]) * (double)invstd[c];
        double v = xhat * (double)gamma[c] + (double)beta[c];
        if (has_act && !(v > 0.0)) {
            v *= slope;
        }
        y[i] = (T)v;
    });
}

template <typename T>
__global__ void bn_running_invstd(const T* __restrict__ running_var, T* __restrict__ invstd, int channels,
                                  double eps) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c < channels) {
        invstd[c] = (T)(1.0 / sqrt((double)running_var[c] + eps));
    }
}
