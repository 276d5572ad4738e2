"""The sanitised CUDA stand-in itself (tests/host_cuda.py), on probe kernels with one planted bug each.

tests/test_cupy_sanitised.py trusts three properties of the stand-in; each is checked here directly, with
the fibers run in a fixed order (thread 0 first: `host::in_order`) so that "whichever ran first" is
both ways round, not left to the shuffle:
  * under ThreadSanitizer, a write and a read of one shared element by two threads between the same
    barriers is reported, whether the writer ran first or the reader did; with a __syncthreads()
    between them, nothing is reported (the barrier is a release/acquire, a switch of fibers is not);
  * likewise through a warp shuffle's barrier (what reduce.cuh's warp tree relies on);
  * under AddressSanitizer, an index one past a __shared__ array is reported (the arena is poisoned
    around each array), one inside it is not;
  * in the plain build, shared memory is fresh for each block: block 1 reads NaN where block 0 wrote.
"""
import math
import os
import subprocess

import pytest

from tests import host_cuda
from tests.test_cupy_sanitised import reports

PROBES = r"""
namespace probe {
// thread `writer` writes a shared cell, thread `reader` reads it; a barrier between them or not
template <typename T> __global__ void one_phase(T* out, int writer, int reader, int barrier) {
    __shared__ T cell[32];
    if (threadIdx.x == writer) cell[0] = T(1);
    if (barrier) __syncthreads();
    if (threadIdx.x == reader) out[0] = cell[0];
}
// the same through a warp shuffle instead of __syncthreads
template <typename T> __global__ void through_shuffle(T* out, int writer, int reader, int shuffle) {
    __shared__ T cell[32];
    if (threadIdx.x == writer) cell[0] = T(1);
    if (shuffle) __shfl_down_sync(0xffffffffu, T(0), 1);
    if (threadIdx.x == reader) out[0] = cell[0];
}
// every thread writes its slot; thread 0 then reads slot `index` (32 is one past the array)
template <typename T> __global__ void shared_index(T* out, int index, int, int) {
    __shared__ T tile[32];
    tile[threadIdx.x] = T(threadIdx.x);
    __syncthreads();
    if (threadIdx.x == 0) out[0] = tile[index];
}
// block 0 writes a shared cell, every block reads it
template <typename T> __global__ void across_blocks(T* out, int, int, int) {
    __shared__ T cell[1];
    if (blockIdx.x == 0 && threadIdx.x == 0) cell[0] = T(1);
    __syncthreads();
    if (threadIdx.x == 0) out[blockIdx.x] = cell[0];
}
}  // namespace probe

int main(int argc, char** argv) {
    if (argc != 5) return 2;
    const std::string probe = argv[1];
    int a = std::atoi(argv[2]), b = std::atoi(argv[3]), c = std::atoi(argv[4]);
    host::in_order = true;
    float* out = static_cast<float*>(std::malloc(2 * sizeof(float)));
    unsigned grid[3] = {probe == "across_blocks" ? 2u : 1u, 1, 1}, block[3] = {32, 1, 1};
    void* args[] = {&out, &a, &b, &c};
    void (*kernel)(float*, int, int, int) = probe == "one_phase" ? &probe::one_phase<float>
        : probe == "through_shuffle" ? &probe::through_shuffle<float>
        : probe == "shared_index" ? &probe::shared_index<float> : &probe::across_blocks<float>;
    const int code = launch(kernel, grid, block, args);
    std::printf("code %d out %g %g\n", code, out[0], out[1]);
    return code;
}
"""


def run_probe(sanitizer, *args):
    text = host_cuda.HOST_CUDA + "\n#include <string>\n" + host_cuda.shared_declarations(PROBES)
    exe = host_cuda.compile_cached(text, host_cuda.SANITIZER_FLAGS[sanitizer], f".probe.{sanitizer}")
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=0", ASAN_OPTIONS="detect_leaks=0:halt_on_error=1")
    done = subprocess.run([exe, *map(str, args)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=120)
    return done.stdout


@pytest.mark.parametrize("writer, reader", [(0, 31), (31, 0)], ids=["write-then-read", "read-then-write"])
@pytest.mark.parametrize("probe", ["one_phase", "through_shuffle"])
def test_thread_sanitizer_reports_a_race_whichever_thread_ran_first(probe, writer, reader):
    output = run_probe("thread", probe, writer, reader, 0)
    found = reports(output)
    assert found and "data race" in found[0][1][0], f"no race reported:\n{output[-2000:]}"


@pytest.mark.parametrize("writer, reader", [(0, 31), (31, 0)], ids=["write-then-read", "read-then-write"])
@pytest.mark.parametrize("probe", ["one_phase", "through_shuffle"])
def test_thread_sanitizer_is_quiet_across_a_barrier(probe, writer, reader):
    """(threads 0 and 31 are lanes of one warp, so the shuffle's barrier orders them too)"""
    output = run_probe("thread", probe, writer, reader, 1)
    assert not reports(output) and "code 0" in output, output[-2000:]


@pytest.mark.parametrize("index, reported", [(31, False), (32, True)])
def test_address_sanitizer_reports_an_index_past_a_shared_array(index, reported):
    output = run_probe("address", "shared_index", index, 0, 0)
    found = reports(output)
    assert bool(found) == reported, output[-2000:]
    if reported:
        assert "use-after-poison" in found[0][1][0] or "overflow" in found[0][1][0], found[0][1][0]


def test_shared_memory_is_fresh_for_each_block():
    output = run_probe(None, "across_blocks", 0, 0, 0)
    code, first, second = output.split()[1], *map(float, output.split()[3:5])
    assert code == "0" and first == 1.0 and math.isnan(second), output
