"""The CuPy-backed Triton driver (kernels/triton/runtime.py `_make_cupy_driver`), checked without a GPU.

`_CupyDriver` subclasses Triton's `CudaDriver` but replaces its `__init__` (which asks PyTorch for the
device and the stream), so a Triton upgrade that sets a new attribute in `GPUDriver.__init__` or
`CudaDriver.__init__` would leave our driver without it, and the first GPU launch would fail with an
AttributeError far from here. So the checks:

  * the attribute set: Triton's own `CudaDriver()` is built here (PyTorch's CPU build answers its
    imports; `CudaUtils`, which compiles a C module against libcuda, is stubbed), and its instance
    attributes are compared, name for name, with those of ours built with the same stub;
  * the launcher: ours is Triton's `CudaLauncher`, and Triton's `CompiledKernel` builds the launcher it
    calls from `driver.active.launcher_cls` (read from its source: a Triton that launches some other
    way fails here);
  * the answers: with CuPy's device calls stubbed (device 0, compute capability 9.0, a stream pointer),
    each attribute answers the call Triton makes of it (`get_current_stream(device)`,
    `get_device_capability(device)`, ...) and `get_current_target()` names sm_90.

What this cannot check: that CuPy's real device and stream calls answer on a GPU, or that the launcher
runs a kernel (tests/test_triton_backend.py, marked gpu).
"""
import inspect
from types import SimpleNamespace

import pytest

import triton
from triton.backends.nvidia import driver as nvidia_driver
from triton.compiler import compiler as triton_compiler

from kernels.triton import runtime
from tests.optional import require


class StubCudaUtils:
    """In place of Triton's CudaUtils: nothing compiled, nothing loaded."""


@pytest.fixture
def stubbed_utils(monkeypatch):
    monkeypatch.setattr(nvidia_driver, "CudaUtils", StubCudaUtils)


class FakeCupy:
    """Just the CuPy calls _CupyDriver makes, answering as one H100 would."""

    def __init__(self):
        self.device = 0
        runtime_ns = SimpleNamespace(getDevice=lambda: self.device, setDevice=self._set_device)
        self.cuda = SimpleNamespace(runtime=runtime_ns, get_current_stream=lambda: SimpleNamespace(ptr=0x5EED),
                                    Device=lambda d: SimpleNamespace(compute_capability="90"))

    def _set_device(self, d):
        self.device = d


def instance_attributes(driver):
    return set(vars(driver))


def test_cupy_driver_sets_every_attribute_triton_sets(stubbed_utils):
    require("torch", "Triton's own CudaDriver, whose __init__ imports torch,", "CI must install torch (see .ci/run)")
    theirs = nvidia_driver.CudaDriver()      # GPUDriver.__init__ imports torch (its CPU build is enough)
    ours = runtime._make_cupy_driver()
    assert isinstance(ours, nvidia_driver.CudaDriver)
    missing = instance_attributes(theirs) - instance_attributes(ours)
    extra = instance_attributes(ours) - instance_attributes(theirs)
    assert not missing, f"Triton's CudaDriver sets {sorted(missing)}, _CupyDriver does not"
    assert not extra, f"_CupyDriver sets {sorted(extra)}, which Triton's CudaDriver no longer does"
    assert type(ours.utils) is type(theirs.utils) is StubCudaUtils


def test_cupy_driver_launcher_is_the_one_triton_calls(stubbed_utils):
    ours = runtime._make_cupy_driver()
    assert ours.launcher_cls is nvidia_driver.CudaLauncher
    source = inspect.getsource(triton_compiler.CompiledKernel)
    assert "driver.active.launcher_cls(" in source, \
        "Triton's CompiledKernel no longer builds its launcher from driver.active.launcher_cls"


def test_cupy_driver_answers_as_triton_asks(stubbed_utils, monkeypatch):
    fake = FakeCupy()
    monkeypatch.setattr(runtime, "cupy", fake)
    ours = runtime._make_cupy_driver()
    device = ours.get_current_device()
    assert device == 0
    assert ours.get_current_stream(device) == 0x5EED     # as triton/runtime/jit.py calls it
    assert tuple(ours.get_device_capability(device)) == (9, 0)
    ours.set_current_device(1)
    assert fake.device == 1 and ours.get_current_device() == 1
    target = ours.get_current_target()
    assert (target.backend, target.arch, target.warp_size) == ("cuda", 90, 32)
    assert ours.map_python_to_cpp_type("*fp32") == "CUdeviceptr"


def test_cupy_driver_becomes_the_active_one(stubbed_utils, monkeypatch):
    monkeypatch.setattr(runtime, "cupy", FakeCupy())
    monkeypatch.setattr(runtime, "_cupy_driver", None)
    monkeypatch.setattr(triton.runtime.driver, "_active", None)   # put back as it was afterwards
    runtime._use_cupy_driver()
    assert triton.runtime.driver.active is runtime._cupy_driver
