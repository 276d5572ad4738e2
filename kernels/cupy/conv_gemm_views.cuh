#line 1 "conv_gemm_views.cuh"
// conv_gemm_views.cuh -- the three products of a convolution, each read as a GEMM  out = A @ B,
// with A and B gathered from the tensors on the fly (an "implicit" GEMM: the column matrix of im2col
// is never written to memory).
//
// Notation: x (N, C, H, W), w (C_out, C, KH, KW), y = conv2d(x, w) (N, C_out, H_out, W_out);
// stride s, padding p; a tap t = kh*KW + kw of TAPS = KH*KW; an input pixel (hi, wi) is read by output
// pixel (ho, wo) through tap (kh, kw) when hi = ho*s - p + kh and wi = wo*s - p + kw.
//
//   view                rows (M)   columns         depth (summed over)   A[row, k]           B[k, col]
//   ConvForward         co         q = (n, ho, wo)  k = (c, kh, kw)       w[co, c, kh, kw]    x[n, c, ho*s-p+kh, wo*s-p+kw]
//   ConvBackwardData    c          q = (n, hi, wi)  r = (co, kh, kw)      w[co, c, kh, kw]    dy[n, co, (hi+p-kh)/s, (wi+p-kw)/s]
//   ConvBackwardWeight  co         j = (c, kh, kw)  q = (n, ho, wo)       dy[n, co, ho, wo]   x[n, c, ho*s-p+kh, wo*s-p+kw]
//
// Where a gathered index falls in the padding (or, for the data gradient, where (hi+p-kh) is not a
// multiple of s, so that no output pixel reaches hi through that tap) the entry is 0.
// ConvBackwardData is the transposed-convolution relation: dx = conv_transpose2d(dy, w), written
// directly. ConvBackwardWeight reduces over all N*H_out*W_out output pixels; the tiled kernels split
// that long sum over blockIdx.z (split-K) and kernels/cupy/split_k_finish.cu adds the slices.
//
// Interface the tiled kernels rely on (every index passed in is in range; the kernels check bounds):
//   rows(), cols(), depth()
//   AK a_k(k)            what a load of A needs to know about depth index k (computed once per k)
//   T  a(row, ak)        A[row, k]
//   BCol b_col(col)      what a load of B needs to know about column col (computed once per thread)
//   T  b(k, bcol)        B[k, col]
//   store(out, row, col, v)   write out[row, col] into its place in the NCHW / weight layout
// The split into a_k / b_col keeps the integer divisions that decode a flat index out of the inner
// loads: each thread decodes its fixed coordinate once and only the other one per load.
//

// Index arithmetic: the divisions that decode a flat index run in 32-bit unsigned arithmetic (divmod
// below): a 64-bit integer division is a software routine several times as long as a 32-bit one, and
// b() runs one per gathered element. Every index decoded here (rows, columns, depth, and the offsets
// within one image) is below 2^32 because every tensor is: kernels/cupy/conv.py refuses larger ones.
// Addresses are still formed in 64 bits.

#ifndef VAEGAN_CONV_GEMM_VIEWS_CUH
#define VAEGAN_CONV_GEMM_VIEWS_CUH

struct DivMod { unsigned q, r; };
__device__ inline DivMod divmod(long long a, long long b) {   // a / b and a % b, both below 2^32
    const unsigned ua = (unsigned)a, ub = (unsigned)b;
    const unsigned q = ua / ub;
    return DivMod{q, ua - q * ub};
}

struct ConvGeometry {
    int batch, c_in, height, width, c_out, kernel_h, kernel_w, stride, pad, out_h, out_w;

    __device__ long long taps() const { return (long long)kernel_h * kernel_w; }
    __device__ long long in_plane() const { return (long long)height * width; }
    __device__ long long out_plane() const { return (long long)out_h * out_w; }
};

// Every conv kernel takes the geometry as these eleven ints, in this order (kernels/cupy/conv.py
// passes them from one place, _geometry_args()).
#define CONV_GEOMETRY_PARAMS                                                                         \
    int batch, int c_in, int height, int width, int c_out, int kernel_h, int kernel_w, int stride, \
        int pad, int out_h, int out_w
#define CONV_GEOMETRY \
    ConvGeometry { batch, c_in, height, width, c_out, kernel_h, kernel_w, stride, pad, out_h, out_w }

// ------------------------------------------------------------------------------------------------
// y[n, co, ho, wo] = sum over (c, kh, kw) of w[co, c, kh, kw] * x[n, c, ho*s-p+kh, wo*s-p+kw]
template <typename T>
struct ConvForward {
    const T* x;
    const T* w;
    ConvGeometry g;

    __device__ long long rows() const { return g.c_out; }
    __device__ long long cols() const { return g.batch * g.out_plane(); }
    __device__ long long depth() const { return g.c_in * g.taps(); }

    struct AK { long long k; };
    __device__ AK a_k(long long k) const { return AK{k}; }
    __device__ T a(long long co, const AK& ak) const { return w[co * depth() + ak.k]; }   // w row co, entry k

    struct BCol { const T* image; int h0, w0; };            // image n of x; window's top-left (may be < 0)
    __device__ BCol b_col(long long q) const {
        const DivMod np = divmod(q, g.out_plane());          // image n, pixel np.r within it
        const DivMod hw = divmod(np.r, g.out_w);
        return BCol{x + (long long)np.q * g.c_in * g.in_plane(), (int)hw.q * g.stride - g.pad,
                    (int)hw.r * g.stride - g.pad};
    }
    __device__ T b(long long k, const BCol& bc) const {
        const DivMod ct = divmod(k, g.taps());                // channel c, tap t
        const DivMod tap = divmod(ct.r, g.kernel_w);
        const int hi = bc.h0 + (int)tap.q;
        const int wi = bc.w0 + (int)tap.r;
        if (hi < 0 || hi >= g.height || wi < 0 || wi >= g.width) {
            return T(0);
        }
        return bc.image[(long long)ct.q * g.in_plane() + (long long)hi * g.width + wi];
    }
    __device__ void store(T* out, long long co, long long q, T v) const {
        const DivMod np = divmod(q, g.out_plane());
        out[((long long)np.q * g.c_out + co) * g.out_plane() + np.r] = v;
    }
};

// ------------------------------------------------------------------------------------------------
// dx[n, c, hi, wi] = sum over (co, kh, kw) of w[co, c, kh, kw] * dy[n, co, ho, wo]
//                    over the taps with ho*s = hi + p - kh and wo*s = wi + p - kw (exactly, in range)
template <typename T>
struct ConvBackwardData {
    const T* dy;
    const T* w;
    ConvGeometry g;

    __device__ long long rows() const { return g.c_in; }
    __device__ long long cols() const { return g.batch * g.in_plane(); }
    __device__ long long depth() const { return g.c_out * g.taps(); }

    struct AK { long long w_offset; };                       // offset of w[co, 0, kh, kw]
    __device__ AK a_k(long long r) const {
        const DivMod ct = divmod(r, g.taps());
        return AK{(long long)ct.q * g.c_in * g.taps() + ct.r};
    }
    __device__ T a(long long c, const AK& ak) const { return w[ak.w_offset + c * g.taps()]; }

    struct BCol { const T* image; int th, tw; };             // image n of dy; hi + p, wi + p
    __device__ BCol b_col(long long q) const {
        const DivMod np = divmod(q, g.in_plane());
        const DivMod hw = divmod(np.r, g.width);
        return BCol{dy + (long long)np.q * g.c_out * g.out_plane(), (int)hw.q + g.pad, (int)hw.r + g.pad};
    }
    __device__ T b(long long r, const BCol& bc) const {
        const DivMod ct = divmod(r, g.taps());                // output channel co, tap t
        const DivMod tap = divmod(ct.r, g.kernel_w);
        const long long co = ct.q;
        const int dh = bc.th - (int)tap.q;                      // = ho * s when this tap reaches hi
        const int dw = bc.tw - (int)tap.r;
        if (dh < 0 || dw < 0 || dh % g.stride != 0 || dw % g.stride != 0) {
            return T(0);
        }
        const int ho = dh / g.stride;
        const int wo = dw / g.stride;
        if (ho >= g.out_h || wo >= g.out_w) {
            return T(0);
        }
        return bc.image[co * g.out_plane() + (long long)ho * g.out_w + wo];
    }
    __device__ void store(T* out, long long c, long long q, T v) const {
        const DivMod np = divmod(q, g.in_plane());
        out[((long long)np.q * g.c_in + c) * g.in_plane() + np.r] = v;
    }
};

// ------------------------------------------------------------------------------------------------
// dw[co, c, kh, kw] = sum over (n, ho, wo) of dy[n, co, ho, wo] * x[n, c, ho*s-p+kh, wo*s-p+kw]
template <typename T>
struct ConvBackwardWeight {
    const T* dy;
    const T* x;
    ConvGeometry g;

    __device__ long long rows() const { return g.c_out; }
    __device__ long long cols() const { return g.c_in * g.taps(); }
    __device__ long long depth() const { return g.batch * g.out_plane(); }

    struct AK { long long dy_offset; };                      // offset of dy[n, 0, ho, wo]
    __device__ AK a_k(long long q) const {
        const DivMod np = divmod(q, g.out_plane());
        return AK{(long long)np.q * g.c_out * g.out_plane() + np.r};
    }
    __device__ T a(long long co, const AK& ak) const { return dy[ak.dy_offset + co * g.out_plane()]; }

    struct BCol { long long channel_offset; int kh, kw; };   // c * H * W, and the tap
    __device__ BCol b_col(long long j) const {
        const DivMod ct = divmod(j, g.taps());
        const DivMod tap = divmod(ct.r, g.kernel_w);
        return BCol{(long long)ct.q * g.in_plane(), (int)tap.q, (int)tap.r};
    }
    __device__ T b(long long q, const BCol& bc) const {
        const DivMod np = divmod(q, g.out_plane());           // image n, output pixel (ho, wo)
        const DivMod hw = divmod(np.r, g.out_w);
        const int hi = (int)hw.q * g.stride - g.pad + bc.kh;
        const int wi = (int)hw.r * g.stride - g.pad + bc.kw;
        if (hi < 0 || hi >= g.height || wi < 0 || wi >= g.width) {
            return T(0);
        }
        return x[(long long)np.q * g.c_in * g.in_plane() + bc.channel_offset + (long long)hi * g.width + wi];
    }
    __device__ void store(T* out, long long co, long long j, T v) const { out[co * cols() + j] = v; }
};

#endif  // VAEGAN_CONV_GEMM_VIEWS_CUH
