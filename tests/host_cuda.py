"""The host build of kernels/cupy's CUDA C: a small stand-in for the CUDA runtime, the kernels compiled
against it with g++, cached by content hash; and the runner that hands launches to it.

HOST_CUDA below is just enough CUDA for our kernels: a launch runs the grid one block at a time, and each
thread of a block as a fiber (ucontext), so that __syncthreads() and the warp shuffles interleave the
threads as a GPU would: a barrier switches to the next fiber until all have arrived, and every round the
fibers run in a new pseudo-random order (xorshift, fixed seed: a failure replays). The math functions are
the C library's; WMMA is a stand-in (below).

Shared memory is fresh for every block, as on a GPU: each `__shared__` declaration of a kernel is
rewritten (`shared_declarations`) into a reference to an array carved out of a per-block arena, whose
every byte is NaN (as float and as double: 0x7fc00000 words) when the block starts. A kernel that reads
a shared element before any thread of its block wrote it reads NaN, and the result shows it. (Before,
`__shared__` was `static`: a stale value from the previous block, or the zero of static storage, could
pass.) Under AddressSanitizer the arena is poisoned except for the arrays handed out, each at its exact
size with a poisoned gap after it, so an index past a shared array is reported.

Three builds of the same source, each cached under VAEGAN_HOST_BUILD_CACHE (default
~/.cache/vaegan-host-build) by the SHA-1 of the source, the flags and the compiler's version:
  * `library()`: a shared library for ctypes (tests/test_cupy_host.py, `HostKernels`);
  * `driver("thread")`, `driver("address")`: a standalone executable under ThreadSanitizer or
    AddressSanitizer that replays launches recorded to a file (tests/test_cupy_sanitised.py says why an
    executable and how the fibers are annotated for ThreadSanitizer).
`defines` (e.g. {"VAEGAN_INDEX32_LAST": "1000"}) are #defined in front of the kernels.
"""
import ctypes
import hashlib
import os
import re
import subprocess
import tempfile

import numpy as np

from kernels.cupy import loader

HOST_FILES = list(loader.KERNELS)

HOST_CUDA = r"""#line 2 "tests/host_cuda.py (HOST_CUDA)"
// host_cuda -- just enough CUDA to run kernels/cupy's kernels on one CPU thread (see tests/host_cuda.py)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>
#include <ucontext.h>

// Under ThreadSanitizer each CUDA thread is a TSan fiber, and the runtime's own bookkeeping (which fiber
// runs, barrier counters, the shared-memory arena's index) is not instrumented: it is the GPU's
// hardware, not the kernel's memory. Only the kernels' accesses, and the happens-before edges the
// annotations below draw, are what TSan sees.
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define HOST_TSAN 1
#define HOST_RUNTIME __attribute__((no_sanitize_thread, noinline))
#else
#define HOST_TSAN 0
#define HOST_RUNTIME
#endif
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

using std::exp; using std::fabs; using std::fma; using std::fmax; using std::log1p; using std::max;
using std::min; using std::sqrt; using std::tanh;

#define __global__
#define __device__
#define __launch_bounds__(...)
#define __shared__ __shared__declaration_not_rewritten_by_host_cuda_py
#define __align__(n) __attribute__((aligned(n)))

struct HostDim3 { unsigned x, y, z; };

namespace host {
constexpr size_t STACK = 64 * 1024;
struct Fiber { ucontext_t ctx; bool done; void* tsan; };
static ucontext_t scheduler;
static void* scheduler_tsan;
static std::vector<Fiber> fibers;
static std::vector<std::vector<char>> stacks;
static int current, n_threads;
static bool progress;
static std::function<void()> body;
static int block_arrived; static unsigned block_generation;
static int warp_arrived[32]; static unsigned warp_generation[32];
static unsigned char warp_slots[32][32][8];
static HostDim3 thread_idx, block_idx, block_dim, grid_dim;
// happens-before addresses for TSan: barrier generation g releases and acquires on sync[g % 2] (a thread
// released at g + 2 only after every thread acquired g, so the two never mix); block_end orders a
// block's threads before the scheduler, which starts the next block.
static char block_sync[2], warp_sync[32][2], block_end;

HOST_RUNTIME static HostDim3 get_thread_idx() { return thread_idx; }
HOST_RUNTIME static HostDim3 get_block_idx() { return block_idx; }
HOST_RUNTIME static HostDim3 get_block_dim() { return block_dim; }
HOST_RUNTIME static HostDim3 get_grid_dim() { return grid_dim; }
HOST_RUNTIME static int thread_rank() { return current; }

HOST_RUNTIME static void yield() {
#if HOST_TSAN
    __tsan_switch_to_fiber(scheduler_tsan, __tsan_switch_to_fiber_no_sync);
#endif
    swapcontext(&fibers[current].ctx, &scheduler);
}

static bool direct;          // threads run as plain calls, one after the other (no barrier may be hit)
static bool saw_barrier;     // a barrier was hit during this launch

HOST_RUNTIME static void barrier(int& arrived, unsigned& generation, int participants, char* sync) {
    if (direct) std::abort();
    saw_barrier = true;
    progress = true;
    const unsigned g = generation;
#if HOST_TSAN
    __tsan_release(sync + g % 2);
#endif
    if (++arrived == participants) {
        arrived = 0;
        generation++;
    } else {
        while (generation == g) yield();
    }
#if HOST_TSAN
    __tsan_acquire(sync + g % 2);
#endif
}

// A fiber never returns: when its thread is done it parks, and the next block re-makes its context.
HOST_RUNTIME static void entry() {
    body();
#if HOST_TSAN
    __tsan_release(&block_end);
#endif
    fibers[current].done = true;
    progress = true;
    for (;;) yield();
}

HOST_RUNTIME static void enter(int t) {   // thread t of the block is the one running now
    current = t;
    thread_idx = {(unsigned)t % block_dim.x, ((unsigned)t / block_dim.x) % block_dim.y,
                  (unsigned)t / (block_dim.x * block_dim.y)};
}

// Shared memory: a per-block arena, NaN in every byte a block may read, arrays handed out in order of
// first declaration (keyed by a static per declaration and template instantiation).
constexpr size_t SHARED_ARENA = 64 * 1024, SHARED_GAP = 64;
alignas(64) static unsigned char shared_arena[SHARED_ARENA + SHARED_GAP];
struct SharedArray { const void* key; unsigned char* at; };
static SharedArray shared_arrays[16];
static int shared_count;
static size_t shared_used, shared_high;

HOST_RUNTIME static void shared_reset() {
    ASAN_UNPOISON_MEMORY_REGION(shared_arena, sizeof shared_arena);
    const std::uint32_t nan = 0x7fc00000u;         // a float NaN; two of them make a double NaN
    for (size_t i = 0; i < shared_high; i += 4) std::memcpy(shared_arena + i, &nan, 4);
    ASAN_POISON_MEMORY_REGION(shared_arena, sizeof shared_arena);
    shared_count = 0;
    shared_used = 0;
}

template <typename A>
HOST_RUNTIME A& shared_array(const void* key, size_t align) {
    for (int i = 0; i < shared_count; i++) {
        if (shared_arrays[i].key == key) return *reinterpret_cast<A*>(shared_arrays[i].at);
    }
    align = std::max(align, (size_t)16);
    const size_t at = (shared_used + align - 1) / align * align;
    if (at + sizeof(A) > SHARED_ARENA || shared_count == 16) std::abort();
    ASAN_UNPOISON_MEMORY_REGION(shared_arena + at, sizeof(A));
    shared_arrays[shared_count++] = {key, shared_arena + at};
    shared_used = at + sizeof(A) + SHARED_GAP;
    shared_high = std::max(shared_high, (at + sizeof(A) + 3) / 4 * 4);
    return *reinterpret_cast<A*>(shared_arena + at);
}

// Each round the fibers run in a new pseudo-random order (xorshift, fixed seed: a failure replays), so
// that a missing barrier lets some thread run ahead and overwrite what another has not read yet.
static int order[1024];
static unsigned rng_state = 2463534242u;
static bool in_order;        // no shuffle: thread 0 first (tests/test_host_cuda_sanitised.py)
HOST_RUNTIME static void shuffle(int* a, int n) {
    for (int i = 0; i < n; i++) a[i] = i;
    if (in_order) return;
    for (int i = n - 1; i > 0; i--) {
        rng_state ^= rng_state << 13; rng_state ^= rng_state >> 17; rng_state ^= rng_state << 5;
        std::swap(a[i], a[rng_state % (unsigned)(i + 1)]);
    }
}

// Run `kernel` over the grid; 0 on success, 1 if the threads of a block deadlock at a barrier.
// Fibers cost system calls (swapcontext saves the signal mask), so a kernel whose first launch hit no
// barrier runs its later launches as plain calls (`direct`; never under TSan, which needs the fibers).
HOST_RUNTIME static int run(const unsigned* grid, const unsigned* block, const std::function<void()>& kernel,
                            bool as_calls) {
    body = kernel;
    direct = as_calls;
    saw_barrier = false;
    grid_dim = {grid[0], grid[1], grid[2]};
    block_dim = {block[0], block[1], block[2]};
    n_threads = (int)(block[0] * block[1] * block[2]);
    if (n_threads % 32 != 0 || n_threads > 1024) return 2;
#if HOST_TSAN
    if (scheduler_tsan == nullptr) scheduler_tsan = __tsan_get_current_fiber();
#endif
    if ((int)fibers.size() < n_threads) fibers.resize(n_threads, Fiber{});
    while ((int)stacks.size() < n_threads) stacks.emplace_back(STACK);
    for (unsigned bz = 0; bz < grid[2]; bz++)
    for (unsigned by = 0; by < grid[1]; by++)
    for (unsigned bx = 0; bx < grid[0]; bx++) {
        block_idx = {bx, by, bz};
        shared_reset();
        if (direct) {
            for (int t = 0; t < n_threads; t++) {
                enter(t);
                body();
            }
            continue;
        }
        block_arrived = 0; std::fill(warp_arrived, warp_arrived + 32, 0);
        for (int t = 0; t < n_threads; t++) {
            getcontext(&fibers[t].ctx);
            fibers[t].ctx.uc_stack.ss_sp = stacks[t].data();
            fibers[t].ctx.uc_stack.ss_size = STACK;
            fibers[t].ctx.uc_link = nullptr;
            fibers[t].done = false;
            makecontext(&fibers[t].ctx, entry, 0);
#if HOST_TSAN
            if (fibers[t].tsan == nullptr) fibers[t].tsan = __tsan_create_fiber(0);
#endif
        }
        for (int live = n_threads; live > 0;) {
            progress = false;
            shuffle(order, n_threads);
            for (int o = 0; o < n_threads; o++) {
                const int t = order[o];
                if (fibers[t].done) continue;
                enter(t);
#if HOST_TSAN
                __tsan_switch_to_fiber(fibers[t].tsan, 0);   // the launch's inputs happen before the thread
#endif
                swapcontext(&scheduler, &fibers[t].ctx);
                if (fibers[t].done) live--;
            }
            if (!progress) return 1;
        }
#if HOST_TSAN
        __tsan_acquire(&block_end);                          // the block is done before the next starts
#endif
    }
    return 0;
}

HOST_RUNTIME static void block_barrier() { barrier(block_arrived, block_generation, n_threads, block_sync); }
HOST_RUNTIME static void warp_barrier(int warp) {
    barrier(warp_arrived[warp], warp_generation[warp], 32, warp_sync[warp]);
}
}  // namespace host

#define threadIdx (host::get_thread_idx())
#define blockIdx (host::get_block_idx())
#define blockDim (host::get_block_dim())
#define gridDim (host::get_grid_dim())

inline void __syncthreads() { host::block_barrier(); }

template <typename V>
V __shfl_down_sync(unsigned, V v, unsigned delta) {
    static_assert(sizeof(V) <= 8, "shuffle of at most 8 bytes");
    const int lane = host::thread_rank() % 32, warp = host::thread_rank() / 32;
    std::memcpy(host::warp_slots[warp][lane], &v, sizeof(V));
    host::warp_barrier(warp);
    V out = v;
    if (lane + delta < 32) std::memcpy(&out, host::warp_slots[warp][lane + delta], sizeof(V));
    host::warp_barrier(warp);
    return out;
}

// WMMA (<mma.h>) for conv_implicit_tf32.cu: every thread holds the WHOLE tile of a fragment (row-major),
// where a GPU spreads it over the 32 lanes of the warp. The kernel only loads, stores, fills and
// converts fragments element by element and calls mma_sync, which is the same whichever lane holds
// which element. A store writes element e from lane e % 32, as the hardware spreads it over the warp (so
// that lanes do not all write every element, which ThreadSanitizer would rightly call a race).
// The checks are the hardware's: 32-byte aligned pointers, ldm a multiple of 4 floats.
namespace nvcuda { namespace wmma {
struct matrix_a {}; struct matrix_b {}; struct accumulator {}; struct row_major {}; struct col_major {};
namespace precision { struct tf32 {}; }
enum layout_t { mem_row_major, mem_col_major };
template <typename Use, int M, int N, int K> struct tile;
template <int M, int N, int K> struct tile<matrix_a, M, N, K> { static constexpr int rows = M, cols = K; };
template <int M, int N, int K> struct tile<matrix_b, M, N, K> { static constexpr int rows = K, cols = N; };
template <int M, int N, int K> struct tile<accumulator, M, N, K> { static constexpr int rows = M, cols = N; };
template <typename Use, int M, int N, int K, typename T, typename Layout = void> struct fragment {
    static constexpr int rows = tile<Use, M, N, K>::rows, cols = tile<Use, M, N, K>::cols;
    static constexpr int num_elements = rows * cols;
    float x[num_elements];
};
inline void check(const void* p, unsigned ldm) {
    if ((reinterpret_cast<std::uintptr_t>(p) % 32) != 0 || ldm % 4 != 0) std::abort();
}
template <typename F> void fill_fragment(F& f, float v) { std::fill(f.x, f.x + F::num_elements, v); }
template <typename Use, int M, int N, int K, typename T, typename L>
void load_matrix_sync(fragment<Use, M, N, K, T, L>& f, const float* p, unsigned ldm) {
    check(p, ldm);
    using F = fragment<Use, M, N, K, T, L>;
    for (int r = 0; r < F::rows; r++)
        for (int c = 0; c < F::cols; c++)
            f.x[r * F::cols + c] = std::is_same<L, col_major>::value ? p[c * ldm + r] : p[r * ldm + c];
}
template <int M, int N, int K, typename T, typename LA, typename LB>
void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, T, LA>& a,
              const fragment<matrix_b, M, N, K, T, LB>& b, const fragment<accumulator, M, N, K, float>& c) {
    float out[M * N];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float acc = c.x[i * N + j];
            for (int k = 0; k < K; k++) acc += a.x[i * K + k] * b.x[k * N + j];
            out[i * N + j] = acc;
        }
    std::copy(out, out + M * N, d.x);
}
template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t layout) {
    check(p, ldm);
    for (int e = host::thread_rank() % 32; e < M * N; e += 32) {
        const int r = e / N, c = e % N;
        (layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[e];
    }
}
inline float __float_to_tf32(float v) {   // round to nearest (ties away) at 10 mantissa bits, like cvt.rna.tf32
    std::uint32_t u; std::memcpy(&u, &v, 4); u = (u + 0x1000u) & 0xFFFFE000u; std::memcpy(&v, &u, 4); return v;
}
}}  // namespace nvcuda::wmma

// A kernel's C signature: per parameter a kind ('p' pointer, 'i' integer, 'f' floating) and a size
// (the pointee's for a pointer).
template <typename P> constexpr int kind_of() {
    return std::is_pointer_v<P> ? 'p' : std::is_floating_point_v<P> ? 'f' : 'i';
}
template <typename P> constexpr int size_of() {
    if constexpr (std::is_pointer_v<P>) return sizeof(std::remove_pointer_t<P>); else return sizeof(P);
}
template <typename... P> int signature(void (*)(P...), int* kinds, int* sizes) {
    const int k[] = {kind_of<P>()..., 0}, s[] = {size_of<P>()..., 0};
    std::copy(k, k + sizeof...(P), kinds); std::copy(s, s + sizeof...(P), sizes);
    return (int)sizeof...(P);
}
template <typename... P, size_t... I>
void call(void (*k)(P...), void** args, std::index_sequence<I...>) { k(*static_cast<std::decay_t<P>*>(args[I])...); }
template <typename... P> int launch(void (*k)(P...), const unsigned* grid, const unsigned* block, void** args) {
    static std::vector<void*> barrier_free;     // kernels whose first launch hit no barrier
    const bool known = !HOST_TSAN &&
                       std::find(barrier_free.begin(), barrier_free.end(), (void*)k) != barrier_free.end();
    const int code = host::run(grid, block, [&] { call(k, args, std::index_sequence_for<P...>{}); }, known);
    if (code == 0 && !known && !host::saw_barrier) barrier_free.push_back((void*)k);
    return code;
}
"""

# The driver's main(): replays the launches of a file written by LaunchRecorder (below). Per launch:
#   u32 entry, u32 grid[3], u32 block[3], u32 label length, label, u32 buffers,
#   per buffer: u64 bytes, the bytes; u32 arguments, per argument: 'b' u32 buffer | 's' u32 size, the bytes
# Every buffer is its own malloc of exactly its size, so AddressSanitizer sees each array's bounds.
DRIVER_MAIN = r"""
#line 1 "host_cuda_driver"
static bool read_exact(FILE* f, void* p, size_t n) { return n == 0 || fread(p, 1, n, f) == n; }

int main(int argc, char** argv) {
    if (argc != 2) { std::fprintf(stderr, "usage: %s LAUNCHES\n", argv[0]); return 2; }
    FILE* f = std::fopen(argv[1], "rb");
    if (f == nullptr) { std::perror(argv[1]); return 2; }
    const unsigned n_entries = sizeof ENTRIES / sizeof ENTRIES[0];
    long number = 0;
    for (;; number++) {
        std::uint32_t head[8];       // entry, grid x y z, block x y z, label length
        const size_t got = std::fread(head, 4, 8, f);
        if (got == 0) break;
        if (got != 8 || head[0] >= n_entries) { std::printf("launch %ld: bad record\n", number); return 3; }
        std::vector<char> label(head[7] + 1, 0);
        std::uint32_t n_buffers = 0, n_args = 0;
        if (!read_exact(f, label.data(), head[7]) || !read_exact(f, &n_buffers, 4)) return 3;
        std::vector<void*> buffers(n_buffers);
        for (auto& b : buffers) {
            std::uint64_t bytes = 0;
            if (!read_exact(f, &bytes, 8)) return 3;
            b = std::malloc(bytes);
            if (!read_exact(f, b, bytes)) return 3;
        }
        if (!read_exact(f, &n_args, 4)) return 3;
        std::vector<void*> pointers(n_args), args(n_args);
        std::vector<std::vector<char>> scalars(n_args);
        for (std::uint32_t i = 0; i < n_args; i++) {
            char tag = 0;
            std::uint32_t v = 0;
            if (!read_exact(f, &tag, 1) || !read_exact(f, &v, 4)) return 3;
            if (tag == 'b') {
                if (v >= n_buffers) return 3;
                pointers[i] = buffers[v];
                args[i] = &pointers[i];
            } else {
                scalars[i].resize(v > 8 ? v : 8);
                if (!read_exact(f, scalars[i].data(), v)) return 3;
                args[i] = scalars[i].data();
            }
        }
        const unsigned grid[3] = {head[1], head[2], head[3]}, block[3] = {head[4], head[5], head[6]};
        std::printf("launch %ld: %s, grid %ux%ux%u, block %ux%ux%u, in %s\n", number, ENTRIES[head[0]].name,
                    grid[0], grid[1], grid[2], block[0], block[1], block[2], label.data());
        std::fflush(stdout);
        const int code = ENTRIES[head[0]].launch(grid, block, args.data());
        if (code != 0) { std::printf("launch %ld: failed with code %d\n", number, code); return 4; }
        for (void* b : buffers) std::free(b);
    }
    std::printf("replayed %ld launches\n", number);
    return 0;
}
"""

# `__shared__ [__align__(n)] TYPE NAME[..]..;` -> a reference into the block's shared arena
_SHARED = re.compile(r"__shared__\s+(?:__align__\((\d+)\)\s+)?([\w:]+(?:<[^;>]*>)?)\s+(\w+)\s*((?:\[[^\]]+\])+)\s*;")


def shared_declarations(source):
    def rewrite(m):
        align, ctype, name, dims = m.groups()
        return (f"auto& {name} = host::shared_array<{ctype}{dims}>("
                f"[] {{ static const char key = 0; return (const void*)&key; }}(), {align or f'alignof({ctype})'});")
    return _SHARED.sub(rewrite, source)


def namespace(filename):
    return "file_" + filename.replace(".", "_")


def entries(files=HOST_FILES):
    """(file, name expression) of every kernel instantiation the build exports, in the order of the driver's
    ENTRIES table."""
    return [(filename, expr) for filename in files for expr in loader.name_expressions(filename)]


def source(files=HOST_FILES, defines=None, driver=False):
    """One C++ translation unit: HOST_CUDA, then each .cu (as the backend hands it to NVRTC, its __shared__
    declarations rewritten) in a namespace of its own, then extern "C" entry points
    host_signature_<ns>_<i> / host_launch_<ns>_<i> for the i-th name expression of each file (and, for the
    driver, the ENTRIES table and main()). The headers' include guards are reset before each file, so
    that every file gets its own copy of the headers it pastes, as it does on the GPU."""
    guards = []
    for header in sorted(f for f in os.listdir(loader.HERE) if f.endswith(".cuh")):
        with open(os.path.join(loader.HERE, header)) as f:
            guards += re.findall(r"^#ifndef (\w+_CUH)$", f.read(), re.MULTILINE)   # include guards only
    parts, exports, table = [HOST_CUDA], ['#line 1 "host_cuda_exports"'], []
    parts += [f"#define {k} {v}" for k, v in (defines or {}).items()]
    for filename in files:
        ns = namespace(filename)
        parts += [f"#undef {g}" for g in guards]
        text = loader.source(filename).replace("#include <mma.h>", "// <mma.h>: HOST_CUDA's stand-in")
        text = re.sub(r'^#line (\d+) "', r'#line \1 "kernels/cupy/', text, flags=re.MULTILINE)  # reports name the path
        parts += [f"namespace {ns} {{", shared_declarations(text), f"}}  // namespace {ns}"]
        for i, expr in enumerate(loader.name_expressions(filename)):
            exports.append(f'extern "C" int host_signature_{ns}_{i}(int* k, int* s) '
                           f'{{ return signature(&{ns}::{expr}, k, s); }}')
            exports.append(f'extern "C" int host_launch_{ns}_{i}(const unsigned* g, const unsigned* b, void** a) '
                           f'{{ return launch(&{ns}::{expr}, g, b, a); }}')
            table.append(f'    {{"{filename} {expr}", &host_launch_{ns}_{i}}},')
    out = parts + exports
    if driver:
        out += ["struct HostEntry { const char* name; int (*launch)(const unsigned*, const unsigned*, void**); };",
                "static const HostEntry ENTRIES[] = {", *table, "};", DRIVER_MAIN]
    return "\n".join(out) + "\n"


SANITIZER_FLAGS = {
    None: [],
    "thread": ["-g", "-fsanitize=thread"],
    "address": ["-g", "-fsanitize=address", "-fno-omit-frame-pointer"],
}


def cache_dir():
    return os.environ.get("VAEGAN_HOST_BUILD_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                                      "vaegan-host-build")


def _compiler_version():
    return subprocess.run(["g++", "--version"], capture_output=True, text=True, check=True).stdout


def compile_cached(text, flags, suffix):
    """Compile `text` with g++ `flags` into cache_dir(), named by the hash of all three and the compiler's
    version; a second call with the same inputs returns the same file without compiling."""
    command = ["g++", "-std=c++17", "-O1", "-w", *flags]
    key = hashlib.sha1("\0".join([text, " ".join(command), _compiler_version()]).encode()).hexdigest()[:16]
    folder = cache_dir()
    os.makedirs(folder, exist_ok=True)
    out = os.path.join(folder, f"host_kernels_{key}{suffix}")
    if os.path.exists(out):
        return out
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        cpp, built = os.path.join(tmp, "host_kernels.cpp"), os.path.join(tmp, "out" + suffix)
        with open(cpp, "w") as f:
            f.write(text)
        result = subprocess.run([*command, "-o", built, cpp], capture_output=True, text=True)
        assert result.returncode == 0, f"host build of the CUDA sources failed ({' '.join(command)}):\n{result.stderr}"
        os.replace(built, out)                   # atomic: a concurrent build of the same key is harmless
    return out


def library(defines=None, files=HOST_FILES):
    """The plain host build as a ctypes library."""
    return ctypes.CDLL(compile_cached(source(files, defines), ["-shared", "-fPIC"], ".so"))


def driver(sanitizer, defines=None, files=HOST_FILES):
    """Path of the replay executable under `sanitizer` ("thread" or "address")."""
    return compile_cached(source(files, defines, driver=True), SANITIZER_FLAGS[sanitizer], f".{sanitizer}")


class HostKernels:
    """The runner for runtime.use_host: each launch goes to the host build of its kernel.

    It also checks the arguments against the kernel's C signature (count, and for each one
    pointer/int/float and its size, the pointee's size for a pointer): a launcher passing an int where the
    kernel takes a long long, or a float32 buffer where it takes double, fails here instead of corrupting
    memory silently on the GPU."""

    def __init__(self, lib):
        self.lib = lib

    def _entry(self, kind, filename, index):
        return getattr(self.lib, f"host_{kind}_{namespace(filename)}_{index}")

    def signature(self, filename, index):
        kinds, sizes = (ctypes.c_int * 64)(), (ctypes.c_int * 64)()
        n = self._entry("signature", filename, index)(kinds, sizes)
        return [(chr(kinds[i]), sizes[i]) for i in range(n)]

    def __call__(self, filename, name, dtype, grid, block, args):
        expr = f"{name}<{loader.CTYPE[str(dtype)]}>"
        exprs = loader.name_expressions(filename)
        assert expr in exprs, f"{filename} has no {expr}"
        index = exprs.index(expr)
        params = self.signature(filename, index)
        assert len(args) == len(params), f"{expr} takes {len(params)} arguments, the launcher passed {len(args)}"
        keep, argv = [], (ctypes.c_void_p * len(args))()
        for i, (a, (kind, size)) in enumerate(zip(args, params)):
            if kind == "p":
                assert isinstance(a, np.ndarray) and a.itemsize == size, \
                    f"{expr} argument {i}: the kernel takes a pointer to {size} bytes, the launcher passed {a!r:.60}"
                assert a.flags.c_contiguous, f"{expr} argument {i}: the launcher passed a non-contiguous array"
                holder = ctypes.c_void_p(a.ctypes.data)
                keep.append(holder)
                argv[i] = ctypes.cast(ctypes.pointer(holder), ctypes.c_void_p)
            else:
                assert not isinstance(a, np.ndarray), f"{expr} argument {i}: the kernel takes a scalar, got an array"
                a = np.asarray(a)
                got = ("f" if a.dtype.kind == "f" else "i", a.itemsize)
                assert got == (kind, size), \
                    f"{expr} argument {i}: the kernel takes {kind}{size}, the launcher passed {a.dtype}"
                keep.append(a)
                argv[i] = a.ctypes.data
        pad = (tuple(grid) + (1, 1))[:3], (tuple(block) + (1, 1))[:3]
        code = self._entry("launch", filename, index)((ctypes.c_uint * 3)(*pad[0]), (ctypes.c_uint * 3)(*pad[1]), argv)
        assert code != 1, f"{expr}: the threads of a block deadlocked at a barrier"
        assert code == 0, f"{expr}: a block of {block} threads (a multiple of 32, at most 1024, is needed)"


class LaunchRecorder:
    """A runner for runtime.use_host that passes each launch on to `runner` and appends it, with its inputs
    as they were before the launch, to the file at `path` in the driver's format (DRIVER_MAIN), for a
    sanitised replay. Arguments that are the same array become one buffer; `label` (set by the caller)
    names the test case in the driver's output."""

    def __init__(self, runner, path, files=HOST_FILES):
        self.runner, self.path, self.label, self.count = runner, path, "", 0
        self.index = {entry: i for i, entry in enumerate(entries(files))}
        open(path, "wb").close()

    def __call__(self, filename, name, dtype, grid, block, args):
        entry = self.index[filename, f"{name}<{loader.CTYPE[str(dtype)]}>"]
        spans, buffers, refs = [], [], []
        for a in args:
            if isinstance(a, np.ndarray):
                start = a.ctypes.data
                span = (start, start + a.nbytes)
                if span not in spans:
                    assert all(span[1] <= s or e <= span[0] for s, e in spans), \
                        f"{name}: two arguments overlap without being the same array"
                    spans.append(span)
                    buffers.append(a.tobytes())
                refs.append(b"b" + np.uint32(spans.index(span)).tobytes())
            else:
                value = np.asarray(a).tobytes()
                refs.append(b"s" + np.uint32(len(value)).tobytes() + value)
        self.runner(filename, name, dtype, grid, block, args)
        pad = (tuple(grid) + (1, 1))[:3] + (tuple(block) + (1, 1))[:3]
        label = self.label.encode()
        with open(self.path, "ab") as f:
            f.write(np.array([entry, *pad, len(label)], np.uint32).tobytes() + label)
            f.write(np.uint32(len(buffers)).tobytes())
            for b in buffers:
                f.write(np.uint64(len(b)).tobytes() + b)
            f.write(np.uint32(len(refs)).tobytes() + b"".join(refs))
        self.count += 1
