#line 1 "split_k_finish.cu"
// split_k_finish.cu -- add `splits` equally-shaped slices:  out[i] = sum over z of partial[z*n + i].
//
// The second half of split-K in the implicit GEMM convolutions: when a product has too few output
// tiles to fill the GPU, its depth is cut into slices, each slice's blocks write their own copy of the
// output, and this kernel adds the copies. Summing in a second kernel instead of with atomics keeps
// the result independent of block order.
//
// Work split: one thread per output element, grid-stride loop; each thread walks the slices in order
// (consecutive threads read consecutive addresses of each slice), accumulating in double.

template <typename T>
__global__ void split_k_finish(const T* __restrict__ partial, T* __restrict__ out, int splits, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        double acc = 0.0;
        for (int z = 0; z < splits; z++) {
            acc += (double)partial[z * n + i];
        }
        out[i] = (T)acc;
    }
}
