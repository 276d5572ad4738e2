"""python -m bench.gpu_env: step 0 of bench/gpu_check.sh -- is this machine able to run both GPU backends?

    python -m bench.gpu_env              on the GPU machine
    python -m bench.gpu_env --dry-run    the same checks with what a CPU machine has (the rehearsal)

Each check prints one line, "ok" or "FAILED" with the reason, and the run goes on; the exit status is
the number of failed checks (0: all passed). The checks, in order:
  1. versions: Python, NumPy, CuPy (and the CUDA runtime, driver and NVRTC it sees), Triton, PyTorch,
     and the device;
  2. one float32 matrix product in CuPy and one in PyTorch, in this one process, each against NumPy:
     both bring their own copy of the CUDA libraries (cuBLAS, NVRTC), and the bench runs them side by
     side, so a clash would show here first;
  3. every .cu of kernels/cupy compiled by CuPy's own path: cupy.RawModule with exactly the source,
     options and name expressions kernels/cupy/loader.py hands it, each kernel fetched (which is what
     compiles it). conv_implicit_tf32.cu needs the toolkit's <mma.h>: loader.options() adds -I for it
     where it finds the headers, and the line printed shows which. The compiled modules land in CuPy's
     kernel cache (CUPY_CACHE_DIR), so the later steps start warm;
  4. one Triton kernel launched through the backend (the element-wise ReLU on a CuPy array), which
     proves Triton's driver runs on CuPy's stream without PyTorch's help, and times its first compile.
--dry-run (no GPU): 2 with PyTorch on the CPU; 3 with nvcc -ptx for sm_90 (the compiler CI has; same
source and options plus the -ftz=true CuPy adds); 4 skipped.
"""
import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

FAILED = []


def check(name, fn):
    """Run one check; print 'ok  name: detail' or 'FAILED  name: why' and go on."""
    t0 = time.perf_counter()
    try:
        detail = fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported, the next check still runs
        FAILED.append(name)
        print(f"FAILED  {name}: {type(e).__name__}: {str(e).strip()[:2000]}", flush=True)
        return
    print(f"ok      {name}: {detail} ({time.perf_counter() - t0:.1f} s)", flush=True)


def _version(module):
    try:
        mod = __import__(module)
        return getattr(mod, "__version__", "?")
    except Exception as e:  # noqa: BLE001
        return f"not importable ({type(e).__name__}: {e})"


def versions(gpu):
    print(f"python {platform.python_version()}  numpy {np.__version__}  cupy {_version('cupy')}  "
          f"triton {_version('triton')}  torch {_version('torch')}", flush=True)
    if gpu:
        import cupy
        rt = cupy.cuda.runtime
        props = rt.getDeviceProperties(0)
        print(f"device {props['name'].decode()}  sm_{props['major']}{props['minor']}  "
              f"{props['totalGlobalMem'] / 2**30:.0f} GiB  {props.get('multiProcessorCount', '?')} SMs  "
              f"L2 {props.get('l2CacheSize', 0) / 2**20:.0f} MiB  driver {rt.driverGetVersion()}  "
              f"runtime {rt.runtimeGetVersion()}  nvrtc {'.'.join(map(str, cupy.cuda.nvrtc.getVersion()))}  "
              f"cuda path {cupy.cuda.get_cuda_path()}", flush=True)


def _relative(got, want):
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def matmuls(gpu):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((512, 256), dtype=np.float32)
    b = rng.standard_normal((256, 384), dtype=np.float32)
    want = a.astype(np.float64) @ b.astype(np.float64)
    if gpu:
        def cupy_matmul():
            import cupy
            got = cupy.asnumpy(cupy.asarray(a) @ cupy.asarray(b))
            err = _relative(got, want)
            assert err < 1e-5, f"relative error {err:.1e} (bound 1e-5: CUPY_TF32 set?)"
            return f"512x256 @ 256x384, relative error {err:.1e}"
        check("cupy matmul", cupy_matmul)

    def torch_matmul():
        import torch
        device = "cuda" if gpu else "cpu"
        torch.backends.cuda.matmul.allow_tf32 = False
        got = (torch.tensor(a, device=device) @ torch.tensor(b, device=device)).cpu().numpy()
        err = _relative(got, want)
        assert err < 1e-5, f"relative error {err:.1e} (bound 1e-5)"
        return f"on {device}, relative error {err:.1e}"
    check("torch matmul (same process)", torch_matmul)
    if gpu:   # and CuPy still works after PyTorch loaded its own CUDA libraries
        def cupy_again():
            import cupy
            x = cupy.arange(1 << 20, dtype=cupy.float32)
            assert float(x.sum()) == float(np.arange(1 << 20, dtype=np.float64).sum())
            return "a reduction after torch's libraries loaded"
        check("cupy after torch", cupy_again)


def compile_cuda_sources(gpu):
    from kernels.cupy import loader
    files = sorted(loader.KERNELS, key=lambda f: f != "conv_implicit_tf32.cu")   # the WMMA one first
    nvcc = None if gpu else shutil.which("nvcc")
    workdir = tempfile.mkdtemp(prefix="gpu_env_")
    nvcc_jobs = {}
    if not gpu and nvcc is not None:   # nvcc runs as a subprocess: compile every file at once
        pool = ThreadPoolExecutor(os.cpu_count() or 2)
        nvcc_jobs = {f: pool.submit(_nvcc, nvcc, f, workdir) for f in files}
    for filename in files:
        def one(filename=filename):
            options = loader.options(filename)
            names = loader.name_expressions(filename)
            if gpu:
                import cupy
                module = cupy.RawModule(code=loader.source(filename), options=options, name_expressions=names)
                for name in names:
                    module.get_function(name)
                return f"{len(names)} kernels via NVRTC, options {' '.join(options)}"
            if nvcc is None:
                raise RuntimeError("no GPU and no nvcc on the PATH: nothing can compile the CUDA sources")
            nvcc_jobs[filename].result()
            return f"{len(names)} kernels via nvcc (dry run), options {' '.join(options)}"
        check(f"compile {filename}", one)
    shutil.rmtree(workdir, ignore_errors=True)


def _nvcc(nvcc, filename, workdir):
    """The dry run's stand-in for NVRTC: nvcc to PTX for sm_90 (CI's compile test goes on to cubins),
    with the loader's source and options and the -ftz=true CuPy adds; a host function taking each
    name expression's address instantiates the templates."""
    from kernels.cupy import loader
    names = loader.name_expressions(filename)
    path = os.path.join(workdir, filename)
    stub = "\nvoid instantiate(void** o) {\n" + "".join(f"    o[{i}] = (void*)&{n};\n" for i, n in enumerate(names))
    with open(path, "w") as f:
        f.write(loader.source(filename) + stub + "}\n")
    cmd = [nvcc, "-ptx", "-arch=sm_90", *loader.options(filename), "-ftz=true", "-o", path + ".ptx", path]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stdout + result.stderr)


def triton_launch():
    def one():
        import cupy
        from kernels import get_backend
        T = get_backend("triton")
        x = cupy.asarray(np.linspace(-1, 1, 4097, dtype=np.float32))
        t0 = time.perf_counter()
        y = T.relu_forward(x)
        cupy.cuda.get_current_stream().synchronize()
        first = time.perf_counter() - t0
        assert np.array_equal(cupy.asnumpy(y), np.maximum(cupy.asnumpy(x), 0))
        return f"relu_forward on a CuPy array, first launch (compile included) {first:.1f} s"
    check("triton launch", one)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.gpu_env", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="no GPU: rehearse with the CPU and nvcc")
    args = ap.parse_args(argv)
    gpu = not args.dry_run
    for name in ("TRITON_CACHE_DIR", "CUPY_CACHE_DIR", "VAEGAN_TRITON_CONFIG", "TRITON_CACHE_AUTOTUNING"):
        print(f"{name}={os.environ.get(name, '(unset)')}")
    check("versions", lambda: versions(gpu) or "printed above")
    matmuls(gpu)
    compile_cuda_sources(gpu)
    if gpu:
        triton_launch()
    print(f"{len(FAILED)} checks failed" + (f": {', '.join(FAILED)}" if FAILED else ""), flush=True)
    sys.exit(min(len(FAILED), 100))


if __name__ == "__main__":
    main()
