#line 1 "batch_norm_stats.cu"
// batch_norm_stats.cu -- batch statistics of batch norm: per channel, the mean and 1/sqrt(var + eps)
// over every value of that channel (over N, H, W for a 4-D tensor; over N for a 2-D one).
//
// A tensor is seen as (N, C, S) as in bias.cu: S = H*W, or S = 1 for (N, F). Channel c holds
// count = N*S values; its value number i (in (n, s) order) sits at offset (n*C + c)*S + s.
//
// Two levels, no atomics (the result does not depend on block order):
//   level 1, bn_stats_partial (4-D): block (j, c) = (blockIdx.x, blockIdx.y) sums chunk j of channel c
//            (values j*chunk_len ... (j+1)*chunk_len - 1), its 256 threads striding through the chunk,
//            and writes the chunk's two sums to partial[(c*chunks + j)*2 + {0, 1}];
//   level 1, bn_stats_columns (2-D): thread f walks down feature column f (a warp reads 32 neighbouring
//            features of one row: coalesced) and writes its sums as the single chunk of channel f;
//   level 2, bn_stats_combine: thread c adds channel c's chunk sums in order and writes mean, invstd.
//
// Which sums: SHIFTED sums, accumulated in double. With K_c = the channel's first value x[0, c, 0],
//     S1 = sum (x - K_c),  S2 = sum (x - K_c)^2,   mean = K_c + S1/count,
//     var = S2/count - (S1/count)^2     (the biased variance, which normalises the batch).
// Why not Welford: Welford's running update exists to avoid the cancellation in E[x^2] - E[x]^2 when
// |mean| >> std. Subtracting a value of the channel itself does the same job (|K_c - mean| is a few
// std for any sample, so the two terms no longer cancel catastrophically), and then the partial results
// are plain sums that combine by addition, where Welford's partials need a count-weighted merge. The
// double accumulator leaves float32 data ~29 bits of margin. var is clamped at 0 against round-off.

#include "channel_index.cuh"
#include "reduce.cuh"

template <typename T>
__global__ void bn_stats_partial(const T* __restrict__ x, double* __restrict__ partial, int batch, int channels,
                                 long long spatial, long long chunk_len, int chunks) {
    const int j = blockIdx.x;
    const int c = blockIdx.y;
    const long long count = (long long)batch * spatial;
    const long long begin = j * chunk_len;
    const long long end = min(count, begin + chunk_len);
    const double shift = (double)x[(long long)c * spatial];          // x[0, c, 0]
    double s1 = 0.0;
    double s2 = 0.0;
    for_each_of_channel(begin, end, channels, spatial, c, [&](long long at) {
        const double d = (double)x[at] - shift;
        s1 += d;
        s2 += d * d;
    });
    s1 = block_sum(s1);
    s2 = block_sum(s2);
    if (threadIdx.x == 0 && j < chunks) {
        partial[((long long)c * chunks + j) * 2 + 0] = s1;
        partial[((long long)c * chunks + j) * 2 + 1] = s2;
    }
}

template <typename T>
__global__ void bn_stats_columns(const T* __restrict__ x, double* __restrict__ partial, int rows, int cols) {
    const int f = blockIdx.x * blockDim.x + threadIdx.x;
    if (f >= cols) {
        return;
    }
    const double shift = (double)x[f];                                // x[0, f]
    double s1 = 0.0;
    double s2 = 0.0;
    for (int r = 0; r < rows; r++) {
        const double d = (double)x[(long long)r * cols + f] - shift;
        s1 += d;
        s2 += d * d;
    }
    partial[(long long)f * 2 + 0] = s1;
    partial[(long long)f * 2 + 1] = s2;
}

template <typename T>
__global__ void bn_stats_combine(const T* __restrict__ x, const double* __restrict__ partial, T* __restrict__ mean,
                                 T* __restrict__ invstd, int channels, int chunks, long long spatial,
                                 long long count, double eps) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= channels) {
        return;
    }
    double s1 = 0.0;
    double s2 = 0.0;
    for (int j = 0; j < chunks; j++) {
        s1 += partial[((long long)c * chunks + j) * 2 + 0];
        s2 += partial[((long long)c * chunks + j) * 2 + 1];
    }
    const double shift = (double)x[(long long)c * spatial];          // the same K_c as level 1
    const double m1 = s1 / (double)count;                             // mean - K_c
    const double var = fmax(s2 / (double)count - m1 * m1, 0.0);
    mean[c] = (T)(shift + m1);
    invstd[c] = (T)(1.0 / sqrt(var + eps));
}
