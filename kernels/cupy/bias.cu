#line 1 "bias.cu"
// bias.cu -- a per-channel bias: adding it (forward) and its gradient (backward).
//
// Every tensor here is seen as (N, C, S): a 4-D NCHW tensor has S = H*W, a 2-D (N, F) matrix has
// C = F and S = 1. Element (n, c, s) sits at offset (n*C + c)*S + s.
//
//   bias_forward           y[n, c, s] += b[c]                  in place, one thread per element
//                          (grid-stride loop; the channel of offset i is (i / S) % C, decoded in 32-bit
//                          arithmetic where the size allows: channel_index.cuh)
//   bias_backward_partial  the bias gradient db[c] = sum over n, s of dy[n, c, s], partial stage:
//                          block (j, c) sums chunk j of channel c's L = N*S values (values
//                          j*chunk_len ... (j+1)*chunk_len - 1 in (n, s) order), its threads striding
//                          through the chunk, then block_sum; partial[c*chunks + j] gets the chunk's sum.
//                          blockIdx.x = chunk, blockIdx.y = channel (so C <= 65535: 4-D tensors only).
//   bias_backward_finish   finish stage: thread c adds channel c's `chunks` partial sums, in order.
//   bias_backward_columns  db for a 2-D (N, F) dy: thread f walks down column f (threads of a warp read
//                          neighbouring columns of one row, so the loads are coalesced); no finish stage.
//
// Two stages instead of atomics: the result does not depend on the order blocks finish, so a run
// repeats bit for bit. Sums are accumulated in double (see reduce.cuh).

#include "channel_index.cuh"
#include "reduce.cuh"

template <typename T>
__global__ void bias_forward(T* __restrict__ y, const T* __restrict__ b, long long n, int channels,
                             long long spatial) {
    for_each_element(n, channels, spatial, [&](long long i, int c) { y[i] += b[c]; });
}

template <typename T>
__global__ void bias_backward_partial(const T* __restrict__ dy, double* __restrict__ partial, int batch,
                                      int channels, long long spatial, long long chunk_len, int chunks) {
    const int j = blockIdx.x;
    const int c = blockIdx.y;
    const long long count = (long long)batch * spatial;          // values of one channel
    const long long begin = j * chunk_len;
    const long long end = min(count, begin + chunk_len);
    double acc = 0.0;
    for_each_of_channel(begin, end, channels, spatial, c, [&](long long at) { acc += (double)dy[at]; });
    acc = block_sum(acc);
    if (threadIdx.x == 0 && j < chunks) {
        partial[(long long)c * chunks + j] = acc;
    }
}

template <typename T>
__global__ void bias_backward_finish(const double* __restrict__ partial, T* __restrict__ out, int channels,
                                     int chunks) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= channels) {
        return;
    }
    double acc = 0.0;
    for (int j = 0; j < chunks; j++) {
        acc += partial[(long long)c * chunks + j];
    }
    out[c] = (T)acc;
}

template <typename T>
__global__ void bias_backward_columns(const T* __restrict__ dy, T* __restrict__ out, int rows, int cols) {
    const int f = blockIdx.x * blockDim.x + threadIdx.x;
    if (f >= cols) {
        return;
    }
    double acc = 0.0;
    for (int r = 0; r < rows; r++) {
        acc += (double)dy[(long long)r * cols + f];
    }
    out[f] = (T)acc;
}
