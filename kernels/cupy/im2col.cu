#line 1 "im2col.cu"
// im2col.cu -- unfold an NCHW image batch into the column matrix of a convolution.
//
// For a kernel KH x KW, stride s and zero padding p, output pixel (ho, wo) of image n sees input pixel
// (ho*s - p + kh, wo*s - p + kw) through tap (kh, kw). The column matrix lists, for every output pixel
// of every image, everything it sees:
//
//     cols[k, n, q] = x[n, c, ho*s - p + kh, wo*s - p + kw]    (0 where that falls in the padding)
//     with k = (c*KH + kh)*KW + kw   (K = C*KH*KW rows, the order of a weight row w[co, c, kh, kw])
//     and  q = ho*W_out + wo         (P = H_out*W_out pixels of one image)
//
// a K x (N*P) matrix, so that each product of the convolution is ONE large GEMM (kernels/cupy/conv.py
// hands them to cuBLAS through cupy.matmul):
//     forward      y'  (C_out x N*P) = w (C_out x K) @ cols             (y' is y with N and C_out swapped)
//     weights      dw  (C_out x K)   = dy' (C_out x N*P) @ cols^T
//     data         dcols (K x N*P)   = w^T @ dy', then col2im.cu folds dcols back onto the image.
//
// Work split: one thread per element of cols (K*N*P of them), grid-stride loop. Consecutive threads
// write consecutive q, so the stores are coalesced; the loads are a gather.

template <typename T>
__global__ void im2col(const T* __restrict__ x, T* __restrict__ cols, int batch, int channels, int height,
                       int width, int kernel_h, int kernel_w, int stride, int pad, int out_h, int out_w) {
    const long long P = (long long)out_h * out_w;
    const long long K = (long long)channels * kernel_h * kernel_w;
    const long long total = K * batch * P;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const long long q = i % P;
        const long long kn = i / P;
        const long long n = kn % batch;
        const long long k = kn / batch;
        const int kw = (int)(k % kernel_w);
        const int kh = (int)((k / kernel_w) % kernel_h);
        const int c = (int)(k / ((long long)kernel_w * kernel_h));
        const int ho = (int)(q / out_w);
        const int wo = (int)(q % out_w);
        const int hi = ho * stride - pad + kh;
        const int wi = wo * stride - pad + kw;
        T v = T(0);
        if (hi >= 0 && hi < height && wi >= 0 && wi < width) {
            v = x[((n * channels + c) * height + hi) * width + wi];
        }
        cols[i] = v;
    }
}
