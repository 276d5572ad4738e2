#line 1 "col2im.cu"
// col2im.cu -- fold a column matrix back onto the image: the adjoint of im2col, written as a gather.
//
// im2col copies input pixel (n, c, hi, wi) into every column entry cols[k, n, q] whose tap reads it.
// Its adjoint therefore SUMS those entries back into the pixel:
//
//     dx[n, c, hi, wi] = sum over (kh, kw) of dcols[(c*KH + kh)*KW + kw, n, ho*W_out + wo]
//                        for every tap with hi = ho*s - p + kh and wi = wo*s - p + kw,
//                        i.e. ho = (hi + p - kh) / s when that divides exactly and 0 <= ho < H_out
//                        (the same for wo).
//
// dcols has im2col.cu's layout, K x (N*P). Used for the data gradient of conv2d (dcols = w^T @ dy',
// then col2im) and so for the forward of conv_transpose2d. The scatter form (each column entry adds
// itself into its pixel) would need atomics; the gather form gives each output pixel to one thread,
// which visits at most KH*KW taps, so there are no write conflicts and the sum's order is fixed.
//
// Work split: one thread per element of dx (N*C*H*W), grid-stride loop.

template <typename T>
__global__ void col2im(const T* __restrict__ cols, T* __restrict__ dx, int batch, int channels, int height,
                       int width, int kernel_h, int kernel_w, int stride, int pad, int out_h, int out_w) {
    const long long P = (long long)out_h * out_w;
    const long long total = (long long)batch * channels * height * width;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int wi = (int)(i % width);
        const int hi = (int)((i / width) % height);
        const long long nc = i / ((long long)width * height);
        const int c = (int)(nc % channels);
        const long long n = nc / channels;
        T acc = T(0);
        for (int kh = 0; kh < kernel_h; kh++) {
            const int th = hi + pad - kh;                 // = ho * stride if this tap reaches hi
            if (th < 0 || th % stride != 0 || th / stride >= out_h) {
                continue;
            }
            const int ho = th / stride;
            for (int kw = 0; kw < kernel_w; kw++) {
                const int tw = wi + pad - kw;
                if (tw < 0 || tw % stride != 0 || tw / stride >= out_w) {
                    continue;
                }
                const int wo = tw / stride;
                const long long k = ((long long)c * kernel_h + kh) * kernel_w + kw;
                acc += cols[(k * batch + n) * P + (long long)ho * out_w + wo];
            }
        }
        dx[i] = acc;
    }
}
