"""Every op of the VAE-GAN, three times behind one contract (see kernels/api.py).

    from kernels import get_backend
    K = get_backend("numpy")          # or "cupy", "triton"
    y = K.conv2d_forward(x, w, b, stride=2, padding=2)

The framework in vaegan/ only ever talks to a backend through this namespace and its `xp`.
"""
import importlib

from .api import OPS, missing_names

BACKENDS = ("numpy", "cupy", "triton")
_MODULES = {"numpy": "kernels.numpy_ref", "cupy": "kernels.cupy", "triton": "kernels.triton"}
_loaded = {}


def backend_status(name):
    """(usable, reason): whether backend `name` can run on this machine, and if not, why not."""
    if name == "numpy":
        return True, "always available"
    try:
        import cupy
    except Exception as e:  # ImportError, or a broken CUDA install
        return False, f"cupy is not installed ({type(e).__name__}: {e}); pip install -e .[cuda]"
    if not cupy.is_available():
        return False, "cupy is installed but finds no CUDA device"
    if name == "triton":
        try:
            import triton  # noqa: F401
        except Exception as e:
            return False, f"triton is not installed ({type(e).__name__}: {e}); pip install -e .[cuda]"
    return True, f"CUDA device: {cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}"


def get_backend(name):
    """The namespace of ops for backend `name` ("numpy", "cupy" or "triton")."""
    if name not in _MODULES:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    if name not in _loaded:
        usable, why = backend_status(name)
        if not usable:
            raise RuntimeError(f"backend {name!r} cannot run here: {why}")
        module = importlib.import_module(_MODULES[name])
        missing = missing_names(module)
        if missing:
            raise RuntimeError(f"backend {name!r} does not meet the op contract; missing: {', '.join(missing)}")
        _loaded[name] = module
    return _loaded[name]


__all__ = ["get_backend", "backend_status", "BACKENDS", "OPS"]
