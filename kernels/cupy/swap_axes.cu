#line 1 "swap_axes.cu"
// swap_axes.cu -- swap the two leading axes of a contiguous (A, B, S) array: out[b, a, s] = in[a, b, s].
//
// The im2col variant of the convolutions computes channel-major results, y' (C_out, N, P), with one
// large GEMM, and wants dy in that order too; this turns (C, N, P) into (N, C, P) and back.
//
// Work split: one thread per element of out (B*A*S), grid-stride loop; consecutive threads write
// consecutive s and read consecutive s of one row of `in`, so both sides are coalesced when S is not tiny.

template <typename T>
__global__ void swap_leading_axes(const T* __restrict__ in, T* __restrict__ out, long long a_len, long long b_len,
                                  long long s_len) {
    const long long total = a_len * b_len * s_len;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const long long s = i % s_len;
        const long long ba = i / s_len;          // out index (b, a) = b * a_len + a
        const long long a = ba % a_len;
        const long long b = ba / a_len;
        out[i] = in[(a * b_len + b) * s_len + s];
    }
}
