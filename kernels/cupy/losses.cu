#line 1 "losses.cu"
// losses.cu -- the losses of the contract, value and gradient in one pass.
// Derived in full, with a check you can run: docs/derivations/bce_with_logits.md, sampler_kl.md.
//
//   kl_normal(mu, v)       = mean -1/2 (1 + v - mu^2 - exp(v))  dmu = mu / count, dv = (exp(v) - 1) / (2 count)
//       (KL(N(mu, exp(v)) || N(0, 1)), v = logvar; one element's term is kl_term.cuh's)
//   mse(a, b)              = mean (a - b)^2                     da = 2 (a - b) / count
//   bce_with_logits(x, t)  = mean softplus(x) - t x             dx = (sigmoid(x) - t) / count
//       (the binary cross-entropy -t log sigmoid(x) - (1 - t) log(1 - sigmoid(x)), rewritten with
//        log sigmoid(x) = -softplus(-x) and softplus(-x) = softplus(x) - x; softplus(x) is computed as
//        max(x, 0) + log1p(exp(-|x|)), which never overflows)
//   t is an array of x's shape, or (target_is_array == 0) the scalar t_scalar for every element
//   (the GAN's labels 1 and 0).
//
// Work split: one thread per element, grid-stride loop; each thread writes its gradients and adds its
// loss terms (in double); block_sum leaves the block's sum in partial[blockIdx.x] (the grid size is
// the number of partials); loss_finish.cu turns the partials into the 0-d mean.

#include "kl_term.cuh"
#include "reduce.cuh"

template <typename T>
__global__ void kl_normal(const T* __restrict__ mu, const T* __restrict__ logvar, T* __restrict__ dmu,
                          T* __restrict__ dlogvar, double* __restrict__ partial, long long n, T inv_count) {
    double acc = 0.0;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        const T m = mu[i];
        const T lv = logvar[i];
        dmu[i] = m * inv_count;
        dlogvar[i] = (exp(lv) - T(1)) * T(0.5) * inv_count;
        acc += kl_term((double)m, (double)lv);
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = acc;
    }
}

template <typename T>
__global__ void mse(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ da,
                    double* __restrict__ partial, long long n, T grad_scale) {
    double acc = 0.0;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        const T d = a[i] - b[i];
        da[i] = grad_scale * d;
        acc += (double)d * (double)d;
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = acc;
    }
}

template <typename T>
__global__ void bce_with_logits(const T* __restrict__ logits, const T* __restrict__ target, T t_scalar,
                                int target_is_array, T* __restrict__ dlogits, double* __restrict__ partial,
                                long long n, T inv_count) {
    double acc = 0.0;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        const T x = logits[i];
        const T t = target_is_array ? target[i] : t_scalar;
        const T e = exp(-fabs(x));                            // in (0, 1]
        const T sig = x >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
        dlogits[i] = (sig - t) * inv_count;
        const double xd = (double)x;
        acc += fmax(xd, 0.0) + log1p(exp(-fabs(xd))) - (double)t * xd;
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = acc;
    }
}
