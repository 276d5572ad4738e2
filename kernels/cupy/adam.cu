#line 1 "adam.cu"
// adam.cu -- one fused Adam step over a flat buffer: every parameter of a network in one launch.
// Derived in full, with a check you can run: docs/derivations/adam_bias_correction.md.
//
// torch.optim.Adam's update, in place, per element i:
//   g = grad + weight_decay * param               (L2 penalty folded into the gradient, as torch's Adam)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   param -= lr * (m / bias_correction1) / (sqrt(v / bias_correction2) + eps)
// with bias_correction1 = 1 - beta1^step and bias_correction2 = 1 - beta2^step. The launcher computes
// these and 1 - beta1, 1 - beta2 on the host in double and rounds each once to T, as the reference does
// (T(1) - T(beta2) is not T(1 - beta2): for beta2 = 0.999 in float32 they differ by 1.3e-5 relative).
// One pass reads param, grad, m, v and writes param, m, v: seven numbers of memory traffic per
// parameter, the least an Adam step can move.
//
// Work split: one thread per element, grid-stride loop. Arithmetic in the data type, as torch does.

template <typename T>
__global__ void adam_step(T* __restrict__ param, const T* __restrict__ grad, T* __restrict__ m, T* __restrict__ v,
                          long long n, T lr, T beta1, T one_minus_beta1, T beta2, T one_minus_beta2, T eps,
                          T weight_decay, T bias_correction1, T bias_correction2) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        const T p = param[i];
        const T g = grad[i] + weight_decay * p;
        const T m_new = beta1 * m[i] + one_minus_beta1 * g;
        const T v_new = beta2 * v[i] + one_minus_beta2 * g * g;
        m[i] = m_new;
        v[i] = v_new;
        param[i] = p - lr * (m_new / bias_correction1) / (sqrt(v_new / bias_correction2) + eps);
    }
}
