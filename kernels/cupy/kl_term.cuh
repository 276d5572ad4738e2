#line 1 "kl_term.cuh"
// kl_term.cuh -- one element's term of KL(N(mu, exp(logvar)) || N(0, 1)), in double:
//     -1/2 (1 + logvar - mu^2 - exp(logvar))
// summed by the loss kl_normal (losses.cu) and by the sampler fused with it, reparam_kl_forward
// (sampler.cu). Derived in docs/derivations/sampler_kl.md.

#ifndef VAEGAN_KL_TERM_CUH
#define VAEGAN_KL_TERM_CUH

__device__ inline double kl_term(double mu, double logvar) {
    return -0.5 * (1.0 + logvar - mu * mu - exp(logvar));
}

#endif  // VAEGAN_KL_TERM_CUH
