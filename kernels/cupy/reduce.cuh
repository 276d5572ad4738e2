#line 1 "reduce.cuh"
// reduce.cuh -- the block-wide reductions every reduction kernel of this backend ends with: a sum
// (block_sum), and the merge of batch-norm's moments (block_merge).
//
// block_reduce(v, zero, combine): every thread of the block passes its own v; thread 0 gets all of them
// combined (the other threads get a partial value they must not use). Two steps:
//   1. inside each warp, a tree of __shfl_down_sync (offsets 16, 8, 4, 2, 1) folds the upper lanes onto
//      the lower, so lane 0 of every warp holds that warp's value;
//   2. lane 0 of each warp writes it to shared memory; warp 0 reads the (at most 32) warp values back
//      (`zero` in the lanes past the last warp) and does step 1 once more.
// Rules for the caller: blockDim.x is a multiple of 32 and at most 1024 (a 1-D block), every thread
// of the block calls it (no thread has returned early), and it may be called several times in a row
// (the __syncthreads() on entry keeps a second call from overwriting the first's shared slots before
// warp 0 has read them).
//
// block_sum(v) adds. The accumulator type is the caller's: the losses and the bias gradient accumulate
// in double whatever the data type (their sums run over up to a few million terms, and the extra bits
// cost nothing next to the memory traffic of these kernels); batch-norm accumulates in the data type
// (docs/ops/batch_norm.md says why).
//
// block_merge(m) merges Moments (count n, mean, m2 = the sum of squared deviations from the mean) of the
// threads' values with Chan, Golub and LeVeque's pairwise formula:
//     n = na + nb,  delta = mean_b - mean_a,  mean = mean_a + delta * nb / n,
//     m2 = m2_a + m2_b + delta^2 * na * nb / n
// (m2's terms are all non-negative: nothing cancels). Merging one value x, moments (1, x, 0), into a
// running total is Welford's update.

#ifndef VAEGAN_REDUCE_CUH
#define VAEGAN_REDUCE_CUH

template <typename A>
struct Moments {
    A n, mean, m2;
};

template <typename A>
__device__ Moments<A> merge(const Moments<A>& a, const Moments<A>& b) {
    if (b.n == A(0)) {               // an empty side (a thread or a lane with no values) changes nothing
        return a;
    }
    if (a.n == A(0)) {
        return b;
    }
    const A n = a.n + b.n;
    const A delta = b.mean - a.mean;
    const A share = b.n / n;
    return Moments<A>{n, a.mean + delta * share, a.m2 + b.m2 + delta * delta * a.n * share};
}

template <typename A>
__device__ A shuffle_down(A v, int offset) {
    return __shfl_down_sync(0xffffffffu, v, offset);
}

template <typename A>
__device__ Moments<A> shuffle_down(const Moments<A>& v, int offset) {
    return Moments<A>{shuffle_down(v.n, offset), shuffle_down(v.mean, offset), shuffle_down(v.m2, offset)};
}

template <typename V, typename Combine>
__device__ V warp_reduce(V v, Combine combine) {
    for (int offset = 16; offset > 0; offset /= 2) {
        v = combine(v, shuffle_down(v, offset));
    }
    return v;
}

template <typename V, typename Combine>
__device__ V block_reduce(V v, V zero, Combine combine) {
    __shared__ V warp_values[32];
    const int lane = threadIdx.x % 32;
    const int warp = threadIdx.x / 32;
    const int n_warps = blockDim.x / 32;
    __syncthreads();                 // a previous call's readers are done with warp_values
    v = warp_reduce(v, combine);
    if (lane == 0) {
        warp_values[warp] = v;
    }
    __syncthreads();
    if (warp == 0) {
        v = (lane < n_warps) ? warp_values[lane] : zero;
        v = warp_reduce(v, combine);
    }
    return v;                        // meaningful in thread 0 only
}

template <typename A>
__device__ A block_sum(A v) {
    return block_reduce(v, A(0), [](A a, A b) { return a + b; });
}

template <typename A>
__device__ Moments<A> block_merge(const Moments<A>& v) {
    return block_reduce(v, Moments<A>{A(0), A(0), A(0)},
                        [](const Moments<A>& a, const Moments<A>& b) { return merge(a, b); });
}

#endif  // VAEGAN_REDUCE_CUH
