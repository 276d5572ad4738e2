#line 1 "activations.cu"
// activations.cu -- element-wise activations and their backward passes.
//
//   leaky_relu_forward   y  = x > 0 ? x : slope * x          (relu is slope = 0)
//   leaky_relu_backward  dx = x > 0 ? dy : slope * dy        (the derivative is 1 or slope; at x = 0
//                                                             we take the left side, as the reference)
//   tanh_forward         y  = tanh(x)
//   tanh_backward        dx = dy * (1 - y^2)                 (d tanh = 1 - tanh^2: needs only y)
//   sigmoid_forward      y  = 1 / (1 + exp(-x))              (in a form that never overflows exp)
//   sigmoid_backward     dx = dy * y * (1 - y)               (d sigma = sigma (1 - sigma): needs only y)
//
// Work split: one thread per element, in a grid-stride loop (thread t of a grid of G threads handles
// elements t, t + G, t + 2G, ...), so any grid size covers any n; the launcher caps the grid at a few
// waves of blocks (kernels/cupy/plan.py, elementwise). Arrays are contiguous, n elements.

template <typename T>
__global__ void leaky_relu_forward(const T* __restrict__ x, T* __restrict__ y, long long n, T slope) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        const T v = x[i];
        y[i] = v > T(0) ? v : slope * v;
    }
}

template <typename T>
__global__ void leaky_relu_backward(const T* __restrict__ dy, const T* __restrict__ x, T* __restrict__ dx,
                                    long long n, T slope) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        dx[i] = x[i] > T(0) ? dy[i] : slope * dy[i];
    }
}

template <typename T>
__global__ void tanh_forward(const T* __restrict__ x, T* __restrict__ y, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        y[i] = tanh(x[i]);
    }
}

template <typename T>
__global__ void tanh_backward(const T* __restrict__ dy, const T* __restrict__ y, T* __restrict__ dx, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        const T t = y[i];
        dx[i] = dy[i] * (T(1) - t * t);
    }
}

// sigmoid(x) for either sign of x without overflow: for x >= 0, exp(-x) <= 1; for x < 0 use
// sigmoid(x) = exp(x) / (1 + exp(x)), where exp(x) < 1.
template <typename T>
__device__ T stable_sigmoid(T x) {
    if (x >= T(0)) {
        return T(1) / (T(1) + exp(-x));
    }
    const T e = exp(x);
    return e / (T(1) + e);
}

template <typename T>
__global__ void sigmoid_forward(const T* __restrict__ x, T* __restrict__ y, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        y[i] = stable_sigmoid(x[i]);
    }
}

template <typename T>
__global__ void sigmoid_backward(const T* __restrict__ dy, const T* __restrict__ y, T* __restrict__ dx, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        const T s = y[i];
        dx[i] = dy[i] * s * (T(1) - s);
    }
}
