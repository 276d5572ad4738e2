#line 1 "sampler.cu"
// sampler.cu -- the VAE's reparameterised sampler and its KL term against the N(0, I) prior.
// Derived in full, with a check you can run: docs/derivations/sampler_kl.md.
//
//   z        = mu + sigma * exp(logvar / 2) * eps          (sigma: the annealed noise scale, a scalar)
//   KL       = mean over all elements of -1/2 (1 + logvar - mu^2 - exp(logvar))
// and their gradients (count = number of elements; KL is a mean, so each element's term weighs 1/count):
//   dz/dmu = 1,   dz/dlogvar = sigma * eps * exp(logvar / 2) / 2
//   dKL/dmu = mu / count,   dKL/dlogvar = (exp(logvar) - 1) / (2 count)
//
// Kernels (one thread per element, grid-stride loop):
//   reparam_forward      z
//   reparam_backward     dmu = dz, dlogvar = dz * dz/dlogvar
//   reparam_kl_forward   z, and each block's sum of the KL terms in partial[blockIdx.x]
//   reparam_kl_backward  the sampler's gradient plus kl_weight times KL's, in one pass:
//                        dmu = dz + kl_scale * mu,  dlogvar = ... + kl_scale * (exp(logvar) - 1) / 2,
//                        with kl_scale = kl_weight / count computed by the launcher
// KL alone is the loss kl_normal (losses.cu); both sum kl_term.cuh's terms. The per-block sums (double,
// one per block: the grid size IS the number of partials) become the 0-d mean in loss_finish.cu, so the
// loss never leaves the device.

#include "kl_term.cuh"
#include "reduce.cuh"

template <typename T>
__global__ void reparam_forward(const T* __restrict__ mu, const T* __restrict__ logvar, const T* __restrict__ eps,
                                T* __restrict__ z, long long n, T sigma) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        z[i] = mu[i] + sigma * exp(logvar[i] * T(0.5)) * eps[i];
    }
}

template <typename T>
__global__ void reparam_backward(const T* __restrict__ dz, const T* __restrict__ logvar, const T* __restrict__ eps,
                                 T* __restrict__ dmu, T* __restrict__ dlogvar, long long n, T sigma) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        const T g = dz[i];
        dmu[i] = g;
        dlogvar[i] = g * sigma * eps[i] * exp(logvar[i] * T(0.5)) * T(0.5);
    }
}

template <typename T>
__global__ void reparam_kl_forward(const T* __restrict__ mu, const T* __restrict__ logvar, const T* __restrict__ eps,
                                   T* __restrict__ z, double* __restrict__ partial, long long n, T sigma) {
    double acc = 0.0;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        const T m = mu[i];
        const T lv = logvar[i];
        z[i] = m + sigma * exp(lv * T(0.5)) * eps[i];
        acc += kl_term((double)m, (double)lv);
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = acc;
    }
}

template <typename T>
__global__ void reparam_kl_backward(const T* __restrict__ dz, const T* __restrict__ mu, const T* __restrict__ logvar,
                                    const T* __restrict__ eps, T* __restrict__ dmu, T* __restrict__ dlogvar,
                                    long long n, T sigma, T kl_scale) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        const T g = dz[i];
        const T lv = logvar[i];
        dmu[i] = g + kl_scale * mu[i];
        dlogvar[i] = g * sigma * eps[i] * exp(lv * T(0.5)) * T(0.5) + kl_scale * (exp(lv) - T(1)) * T(0.5);
    }
}
