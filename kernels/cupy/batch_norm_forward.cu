#line 1 "batch_norm_forward.cu"
// batch_norm_forward.cu -- batch statistics of batch norm: per channel, the mean and 1/sqrt(var + eps)
// over every value of that channel (over N, H, W for a 4-D tensor; over N for a 2-D one). The
// normalisation that follows is batch_norm_inference.cu's, given these statistics.
//
// A tensor is seen as (N, C, S) as in bias.cu: S = H*W, or S = 1 for (N, F). Channel c holds
// count = N*S values; its value number i (in (n, s) order) sits at offset (n*C + c)*S + s.
//
// The algorithm (the same on every backend: docs/ops/batch_norm.md argues it), in the data type:
//   shift   every value is taken as d = x - K_c, K_c = the channel's first value x[0, c, 0], so that the
//           numbers below are of the size of the data's spread, not of its offset;
//   pieces  the moments (count, mean, m2 = sum of squared deviations from the mean) of pieces of d;
//           here a piece is one value, and a thread merges its values one by one (Welford's update:
//           Chan's merge of a one-value piece);
//   merge   Chan's pairwise formula (reduce.cuh's merge): threads into the block's moments
//           (block_merge), then the chunks of a channel into its moments.
//   mean = K_c + mean of d,  var = m2 / count (the biased variance, which normalises the batch).
//
// Two stages, no atomics (the result does not depend on block order):
//   partial, batch_norm_forward_partial (4-D): block (j, c) = (blockIdx.x, blockIdx.y) takes chunk j of
//            channel c (values j*chunk_len ... (j+1)*chunk_len - 1), its 256 threads striding through
//            the chunk, and writes the chunk's (mean, m2) to partial[(c*chunks + j)*2 + {0, 1}];
//   partial, batch_norm_forward_partial_columns (2-D): thread f walks down feature column f (a warp
//            reads 32 neighbouring features of one row: coalesced) and writes its moments as the
//            single chunk of channel f;
//   finish,  batch_norm_forward_finish: thread c merges channel c's chunks in order (chunk j holds
//            chunk_len values, the last one what is left), their means taken relative to the first
//            chunk's (so that the running mean stays small even where K_c is far from the others),
//            and writes mean, invstd.

#include "channel_index.cuh"
#include "reduce.cuh"

template <typename T>
__device__ void write_moments(T* partial, long long at, const Moments<T>& m) {
    partial[at * 2 + 0] = m.mean;
    partial[at * 2 + 1] = m.m2;
}

template <typename T>
__global__ void batch_norm_forward_partial(const T* __restrict__ x, T* __restrict__ partial, int batch,
                                           int channels, long long spatial, long long chunk_len, int chunks) {
    const int j = blockIdx.x;
    const int c = blockIdx.y;
    const long long count = (long long)batch * spatial;
    const long long begin = j * chunk_len;
    const long long end = min(count, begin + chunk_len);
    const T shift = x[(long long)c * spatial];                        // K_c = x[0, c, 0]
    Moments<T> m{T(0), T(0), T(0)};
    for_each_of_channel(begin, end, channels, spatial, c, [&](long long at) {
        m = merge(m, Moments<T>{T(1), x[at] - shift, T(0)});
    });
    m = block_merge(m);
    if (threadIdx.x == 0 && j < chunks) {
        write_moments(partial, (long long)c * chunks + j, m);
    }
}

template <typename T>
__global__ void batch_norm_forward_partial_columns(const T* __restrict__ x, T* __restrict__ partial, int rows,
                                                   int cols) {
    const int f = blockIdx.x * blockDim.x + threadIdx.x;
    if (f >= cols) {
        return;
    }
    const T shift = x[f];                                             // K_f = x[0, f]
    Moments<T> m{T(0), T(0), T(0)};
    for (int r = 0; r < rows; r++) {
        m = merge(m, Moments<T>{T(1), x[(long long)r * cols + f] - shift, T(0)});
    }
    write_moments(partial, f, m);
}

template <typename T>
__global__ void batch_norm_forward_finish(const T* __restrict__ x, const T* __restrict__ partial,
                                          T* __restrict__ mean, T* __restrict__ invstd, int channels, int chunks,
                                          long long spatial, long long count, long long chunk_len, T eps) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= channels) {
        return;
    }
    const T first = partial[(long long)c * chunks * 2];               // chunk 0's mean: a reference
    Moments<T> m{T(0), T(0), T(0)};
    for (int j = 0; j < chunks; j++) {
        const long long at = (long long)c * chunks + j;
        const T n = (T)min(chunk_len, count - j * chunk_len);
        m = merge(m, Moments<T>{n, partial[at * 2 + 0] - first, partial[at * 2 + 1]});
    }
    mean[c] = x[(long long)c * spatial] + (first + m.mean);           // K_c + the mean of d
    invstd[c] = T(1) / sqrt(m.m2 / (T)count + eps);
}
