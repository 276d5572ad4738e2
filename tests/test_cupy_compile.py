"""The CuPy backend's CUDA sources compile for the H100 (sm_90), without a GPU: CI's guard against a
syntax or template error landing in a kernel that only a GPU machine would otherwise compile.

What is compiled is exactly what the backend hands NVRTC at run time: `loader.source(file)` (the file
with its headers pasted in), instantiated for exactly `loader.name_expressions(file)` (the templates
the launchers ask for), with the options CuPy's RawModule uses (loader.OPTIONS, plus -ftz=true, which
CuPy adds). The compiler is nvcc, which is on the PATH here and in CI, to a cubin, so ptxas checks
registers and shared memory too. NVRTC's name expressions have no nvcc spelling: a host function
that takes each kernel's address instantiates the same templates.

nvcc missing is a failure, not a skip: set VAEGAN_SKIP_NVCC=1 to skip the compiler checks knowingly.
The launch-geometry checks (plan.py) and the source-listing checks need no compiler.
"""
import ast
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from kernels.cupy import loader, plan
from tests.op_cases import PRESET_LAYERS

ARCH = "sm_90"
HERE = loader.HERE
CU_FILES = sorted(f for f in os.listdir(HERE) if f.endswith(".cu"))
CTYPE_CODE = {"float": "f", "double": "d"}   # Itanium mangling of the template argument


def _nvcc():
    if os.environ.get("VAEGAN_SKIP_NVCC") == "1":
        pytest.skip("VAEGAN_SKIP_NVCC=1: CUDA compile checks skipped on request")
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.fail("nvcc is not on the PATH: the CUDA toolkit is needed to compile-check kernels/cupy/*.cu "
                    "(set VAEGAN_SKIP_NVCC=1 to skip this check knowingly)")
    return nvcc


def _instantiation_stub(filename):
    """A host function taking the address of every name expression: nvcc instantiates those templates."""
    lines = [f"    out[{i}] = (void*)&{expr};" for i, expr in enumerate(loader.name_expressions(filename))]
    return "\nvoid vaegan_instantiate(void** out) {\n" + "\n".join(lines) + "\n}\n"


def _compile(nvcc, filename, workdir):
    path = os.path.join(workdir, filename)
    with open(path, "w") as f:
        f.write(loader.source(filename) + _instantiation_stub(filename))
    cubin = path + ".cubin"
    cmd = [nvcc, "-cubin", f"-arch={ARCH}", *loader.OPTIONS, "-ftz=true", "-Werror", "all-warnings",
           "-o", cubin, path]
    result = subprocess.run(cmd, capture_output=True, text=True)
    binary = open(cubin, "rb").read() if result.returncode == 0 else b""
    return result.returncode, result.stdout + result.stderr, binary


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """file -> (return code, compiler output, cubin bytes), all files compiled in parallel once."""
    nvcc = _nvcc()
    workdir = str(tmp_path_factory.mktemp("cupy_cubins"))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        jobs = {f: pool.submit(_compile, nvcc, f, workdir) for f in loader.KERNELS}
        return {f: job.result() for f, job in jobs.items()}


@pytest.mark.parametrize("filename", sorted(loader.KERNELS))
def test_source_compiles_for_sm90_with_every_instantiation(compiled, filename):
    code, log, cubin = compiled[filename]
    assert code == 0, f"nvcc failed on {filename}:\n{log}"
    for expr in loader.name_expressions(filename):
        name, ctype = re.fullmatch(r"(\w+)<(\w+)>", expr).groups()
        mangled = f"_Z{len(name)}{name}I{CTYPE_CODE[ctype]}E".encode()
        assert mangled in cubin, f"{filename}: no kernel {expr} in the cubin"


def test_every_source_is_listed_and_every_listed_source_exists():
    assert sorted(loader.KERNELS) == CU_FILES


def test_sources_include_only_local_headers_and_mma():
    """NVRTC has no host headers: a source may include our .cuh files and the toolkit's <mma.h> only."""
    for filename in CU_FILES + sorted(f for f in os.listdir(HERE) if f.endswith(".cuh")):
        with open(os.path.join(HERE, filename)) as f:
            text = f.read()
        assert text.startswith(f'#line 1 "{filename}"'), f"{filename} must open with #line 1 \"{filename}\""
        for include in re.findall(r"^\s*#include\s*(\S+)", text, re.MULTILINE):
            assert include == "<mma.h>" or (include.startswith('"') and os.path.exists(
                os.path.join(HERE, include.strip('"')))), f"{filename} includes {include}"


def test_every_listed_kernel_is_named_by_a_launcher():
    """No dead kernel: each (file, kernel) of loader.KERNELS appears as string constants in one launcher
    module. (The other direction, a launcher asking for an unlisted kernel, loader.kernel refuses.)"""
    named = set()
    for filename in os.listdir(HERE):
        if filename.endswith(".py"):
            with open(os.path.join(HERE, filename)) as f:
                tree = ast.parse(f.read())
            strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
            named |= {(cu, k) for cu in strings if cu in loader.KERNELS for k in strings}
    listed = {(f, k) for f, kernels in loader.KERNELS.items() for k in kernels}
    assert listed - named == set(), "loader.KERNELS lists kernels no launcher names"


def test_tile_constants_match_plan():
    """plan.GEMM_TILES mirrors the constexprs of the tiled kernels: a mismatch would launch the wrong grid."""
    def constants(filename, prefix):
        with open(os.path.join(HERE, filename)) as f:
            text = f.read()
        return tuple(int(re.search(rf"constexpr int {prefix}{name} = (\d+);", text).group(1))
                     for name in ("TILE_M", "TILE_N", "TILE_K", "THREADS"))
    assert plan.GEMM_TILES["implicit"] == constants("conv_implicit.cu", "")
    assert plan.GEMM_TILES["implicit_tf32"] == constants("conv_implicit_tf32.cu", "TC_")


def _real_geometries(batch):
    for spec in PRESET_LAYERS.values():
        for _, s in spec["layers"]:
            if s.transposed:   # conv_transpose2d runs as the adjoint conv2d from its output to its input
                _, c_out, h_out, w_out = replace(s, n=batch).y_shape
                yield plan.ConvGeometry(batch, c_out, h_out, w_out, s.c_in, s.kh, s.kw, s.stride, s.padding, s.h, s.w)
            else:
                _, _, h_out, w_out = s.y_shape
                yield plan.ConvGeometry(batch, s.c_in, s.h, s.w, s.c_out, s.kh, s.kw, s.stride, s.padding, h_out, w_out)


@pytest.mark.parametrize("batch", [1, 2, 64])
def test_gemm_tiles_cover_every_product_of_the_real_layers(batch):
    for g in _real_geometries(batch):
        for product in ("forward", "backward_data", "backward_weight"):
            rows, cols, depth = g.gemm(product)
            for variant, (tile_m, tile_n, tile_k, threads) in plan.GEMM_TILES.items():
                t = plan.gemm_tiles(variant, rows, cols, depth)
                gx, gy, gz = t.launch.grid
                assert (gx - 1) * tile_n < cols <= gx * tile_n and (gy - 1) * tile_m < rows <= gy * tile_m
                assert t.split_len % tile_k == 0 and gz == t.splits
                assert (t.splits - 1) * t.split_len < depth <= t.splits * t.split_len, "an empty or missing slice"
                assert t.launch.block == (threads,)


@pytest.mark.parametrize("batch", [1, 2, 64])
def test_channel_reductions_cover_every_value_once(batch):
    shapes = [(batch,) + shape[1:] for spec in PRESET_LAYERS.values() for _, shape, _ in spec["bn"] if len(shape) == 4]
    shapes += [(batch, 1, 1, 3), (batch, 3, 144, 256)]
    for n, c, h, w in shapes:
        red = plan.channel_reduction(n, c, h * w)
        assert red.count == n * h * w and red.partial.grid == (red.chunks, c)
        assert (red.chunks - 1) * red.chunk_len < red.count <= red.chunks * red.chunk_len
        assert red.finish.grid[0] * red.finish.block[0] >= c


def test_elementwise_and_loss_grids():
    for n in (1, 255, 256, 257, 10**6, 10**9):
        e = plan.elementwise(n)
        assert 1 <= e.grid[0] <= plan.MAX_ELEMENTWISE_BLOCKS and (e.grid[0] * plan.THREADS >= n
                                                                 or e.grid[0] == plan.MAX_ELEMENTWISE_BLOCKS)
        assert 1 <= plan.loss_partial(n).grid[0] <= plan.MAX_LOSS_PARTIALS
