"""What every bench/ report shares: the machine and versions it ran on, number formats, a plain table,
and the JSON file."""
import datetime
import importlib.metadata
import json
import os
import platform


def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_name():
    """NumPy's BLAS as it runs here: its name and version, and for OpenBLAS (built for many CPUs, choosing
    its kernels when it loads) the core type it chose, which is what a CPU speed figure depends on."""
    import ctypes

    import numpy as np

    from kernels.numpy_ref.blas_threads import openblas_libraries

    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:   # noqa: BLE001 - another numpy's config layout: say what we know
        return "unknown"
    for path in openblas_libraries():
        for symbol in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename"):
            try:
                corename = getattr(ctypes.CDLL(path), symbol)
            except (OSError, AttributeError):
                continue
            corename.restype = ctypes.c_char_p
            return f"{name} (kernels for {corename().decode()})"
    return name


def gpu_name():
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(0)
    return f"{props['name'].decode()} ({props['totalGlobalMem'] / 2**30:.0f} GiB)"


def environment(gpu=False):
    """The machine, date and versions, for the header of a report and its JSON (no package is imported
    to learn its version)."""
    env = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "cpu": f"{cpu_name()}, {os.cpu_count()} cores", "blas": blas_name(), "python": platform.python_version(),
           # other work on the machine and the BLAS thread count change CPU numbers a lot: say both
           "load": "/".join(f"{v:.1f}" for v in os.getloadavg())}
    threads = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
               if k in os.environ}
    if threads:
        env["threads"] = " ".join(f"{k}={v}" for k, v in threads.items())
    if gpu:
        env["gpu"] = gpu_name()
    for package in ("numpy", "cupy-cuda13x", "triton", "torch", "av"):
        v = _version(package)
        if v:
            env[package] = v
    return env


def describe(env):
    return "  ".join(f"{k}: {v}" for k, v in env.items())


def num(value, digits=3):
    """A number to `digits` significant digits, '-' for None."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


def table(headers, rows, right=()):
    """A fixed-width text table; columns named in `right` are right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values):
        return "  ".join(v.rjust(w) if h in right else v.ljust(w)
                         for v, w, h in zip(values, widths, headers)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def write_json(path, data):
    """Write `data` to `path` through a temporary name (a killed run leaves the last complete file)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, default=str)
    os.replace(tmp, path)
