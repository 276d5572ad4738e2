#line 1 "channel_index.cuh"
// channel_index.cuh -- the two loops of the per-channel kernels over an (N, C, S) tensor, decoding each
// element's position in 32-bit arithmetic wherever the sizes allow.
//
// A tensor seen as (N, C, S) (S = H*W, see bias.cu) keeps element (n, c, s) at offset (n*C + c)*S + s.
//   for_each_element(count, C, S, body)          grid-stride loop over the offsets i < count;
//                                                 calls body(i, c) with c = (i / S) % C, i's channel.
//   for_each_of_channel(begin, end, C, S, c, body)  block-stride loop over positions j in [begin, end)
//                                                 of channel c's N*S values, taken in (n, s) order;
//                                                 calls body(at) with at = (n*C + c)*S + s.
// Both decode with one or two integer divisions per element. A GPU has no 64-bit integer divide: in
// 64 bits each is a software routine of some 70 instructions, in 32 bits about 20, which shows in
// kernels that otherwise do a load, a few flops and a store per element. So both loops run in 32-bit
// unsigned arithmetic when every index they form (the last one plus one stride) is below 2^32 (every
// tensor of this model: the largest, at batch 64, has 47M elements), and in 64 bits otherwise. The
// test is on kernel arguments, so all threads take the same branch. Offsets handed to body are 64-bit.

#ifndef VAEGAN_CHANNEL_INDEX_CUH
#define VAEGAN_CHANNEL_INDEX_CUH

// The largest index the 32-bit branches may form: the largest 32-bit unsigned value. A macro only so
// that a test can lower it (tests/test_cupy_index64.py builds with -DVAEGAN_INDEX32_LAST=0 to send every
// loop down the 64-bit branch, and with a small value to mix the two), since no test can afford 2^32
// elements. The backend never defines it.
#ifndef VAEGAN_INDEX32_LAST
#define VAEGAN_INDEX32_LAST 0xFFFFFFFFll
#endif
constexpr long long INDEX32_LAST = VAEGAN_INDEX32_LAST;

template <typename Body>
__device__ void for_each_element(long long count, int channels, long long spatial, Body body) {
    const long long first = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    const long long stride = (long long)gridDim.x * blockDim.x;
    if (count + stride <= INDEX32_LAST) {          // i < count, so i + stride cannot wrap around
        const unsigned s = (unsigned)spatial, c = (unsigned)channels, end = (unsigned)count;
        for (unsigned i = (unsigned)first; i < end; i += (unsigned)stride) {
            body((long long)i, (int)((i / s) % c));
        }
    } else {
        for (long long i = first; i < count; i += stride) {
            body(i, (int)((i / spatial) % channels));
        }
    }
}

template <typename Body>
__device__ void for_each_of_channel(long long begin, long long end, int channels, long long spatial, int c,
                                    Body body) {
    if (end + blockDim.x <= INDEX32_LAST) {
        const unsigned s = (unsigned)spatial;
        for (unsigned j = (unsigned)begin + threadIdx.x; j < (unsigned)end; j += blockDim.x) {
            const unsigned n = j / s;
            body(((long long)n * channels + c) * spatial + (j - n * s));
        }
    } else {
        for (long long j = begin + threadIdx.x; j < end; j += blockDim.x) {
            const long long n = j / spatial;
            body((n * channels + c) * spatial + (j - n * spatial));
        }
    }
}

#endif  // VAEGAN_CHANNEL_INDEX_CUH
