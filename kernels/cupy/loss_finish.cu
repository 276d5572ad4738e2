#line 1 "loss_finish.cu"
// loss_finish.cu -- the last step of every loss: out[0] = scale * (sum of the per-block partial sums).
//
// The loss kernels leave one double per block in `partial`; one block of this kernel adds them
// (each thread a strided share, then block_sum) and writes the 0-d result, scale = 1/count turning
// the sum into the mean. One block, so the order of the additions is fixed: the same inputs give the
// same bits. The result stays on the device; reading it (float(loss)) is the caller's choice.

#include "reduce.cuh"

template <typename T>
__global__ void loss_finish(const double* __restrict__ partial, int n_partials, T* __restrict__ out, double scale) {
    double acc = 0.0;
    for (int i = threadIdx.x; i < n_partials; i += blockDim.x) {
        acc += partial[i];
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) {
        out[0] = (T)(acc * scale);
    }
}
