#line 1 "batch_norm_inference.cu"
// batch_norm_inference.cu -- normalise with given per-channel statistics, scale, shift, and (fused)
// activate:
//
//   y[n, c, s] = act( (x[n, c, s] - mean[c]) * (gamma[c] * invstd[c]) + beta[c] )
//   invstd[c]  = scale[c]                          when scale_is_var == 0 (training: the batch's invstd)
//              = 1 / sqrt(scale[c] + eps)          when scale_is_var == 1 (inference: the running var)
//   act(v)     = v                                 when has_act == 0 (plain batch norm)
//              = v > 0 ? v : slope * v             when has_act == 1 (slope 0: ReLU; 0 < slope < 1: leaky)
//
// Inference passes the running statistics; training's forward passes the batch statistics that
// batch_norm_forward.cu has just computed. Fusing the activation saves one trip of the activation's
// tensor through memory each way.
//
// Layout (N, C, S) as in bias.cu (S = H*W, or 1 for a 2-D (N, F) input); the channel of offset i is
// (i / S) % C. Work split: one thread per element, grid-stride loop (channel_index.cuh: 32-bit index
// decoding where the size allows). Arithmetic in the data type.

#include "channel_index.cuh"

template <typename T>
__global__ void batch_norm_inference(const T* __restrict__ x, const T* __restrict__ mean,
                                     const T* __restrict__ scale, const T* __restrict__ gamma,
                                     const T* __restrict__ beta, T* __restrict__ y, long long n, int channels,
                                     long long spatial, int scale_is_var, T eps, int has_act, T slope) {
    for_each_element(n, channels, spatial, [&](long long i, int c) {
        const T invstd = scale_is_var ? T(1) / sqrt(scale[c] + eps) : scale[c];
        T v = (x[i] - mean[c]) * (gamma[c] * invstd) + beta[c];
        if (has_act && !(v > T(0))) {
            v *= slope;
        }
        y[i] = v;
    });
}
