#line 1 "reduce.cuh"
// reduce.cuh -- the block-wide sum every reduction kernel of this backend ends with.
//
// block_sum(v): every thread of the block passes its own v; thread 0 gets the sum of all of them
// (the other threads get a partial value they must not use). Two steps:
//   1. inside each warp, a tree of __shfl_down_sync (offsets 16, 8, 4, 2, 1) folds the upper lanes onto the lower, so lane 0
//      of every warp holds that warp's sum;
//   2. lane 0 of each warp writes it to shared memory; warp 0 reads the (at most 32) warp sums back
//      and does step 1 once more.
// Rules for the caller: blockDim.x is a multiple of 32 and at most 1024 (a 1-D block), every thread
// of the block calls block_sum (no thread has returned early), and it may be called several times in
// a row (the __syncthreads() on entry keeps a second call from overwriting the first's shared slots
// before warp 0 has read them).
//
// Reductions accumulate in double whatever the data type: the sums of this model run over up to a few
// million terms, and the extra bits cost nothing next to the memory traffic of these kernels.

#ifndef VAEGAN_REDUCE_CUH
#define VAEGAN_REDUCE_CUH

template <typename A>
__device__ A warp_sum(A v) {
    for (int offset = 16; offset > 0; offset /= 2) {
        v += __shfl_down_sync(0xffffffffu, v, offset);
    }
    return v;
}

template <typename A>
__device__ A block_sum(A v) {
    __shared__ A warp_sums[32];
    const int lane = threadIdx.x % 32;
    const int warp = threadIdx.x / 32;
    const int n_warps = blockDim.x / 32;
    __syncthreads();                 // a previous call's readers are done with warp_sums
    v = warp_sum(v);
    if (lane == 0) {
        warp_sums[warp] = v;
    }
    __syncthreads();
    if (warp == 0) {
        v = (lane < n_warps) ? warp_sums[lane] : A(0);
        v = warp_sum(v);
    }
    return v;                        // meaningful in thread 0 only
}

#endif  // VAEGAN_REDUCE_CUH
