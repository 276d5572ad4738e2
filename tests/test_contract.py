"""Arguments are checked once, at the contract (kernels/contract.py), in front of every backend's ops:

* every op of every backend's namespace refuses a bad call, before any kernel runs, with the reference's
  message (word for word; only what counts as an array, and so the messages about an array's type and
  dtype, is the backend's own, and names the same argument);
* each check takes exactly its op's parameters, on every backend;
* no backend imports another backend's modules (the shared checks live in kernels/, not in one backend).

The bad calls are made, for every op, from a valid call of tests/op_cases.py: each array argument in
turn replaced by a list, a float16 array, a float64 array and an array with one more axis; each other
argument by -1, 1.5, None and a string. Where the reference refuses the call, every backend must.
"""
import ast
import inspect
import pathlib

import numpy as np
import pytest

from kernels import contract
from kernels.api import OPS
from tests import op_cases

ROOT = pathlib.Path(__file__).resolve().parent.parent
BACKEND_PACKAGES = ("numpy_ref", "cupy", "triton")


class _Called(Exception):
    pass


class _Recorder:
    """Stands in for a backend: the first op a case calls raises _Called with its arguments."""

    def asarray(self, a, dtype=None):
        return a

    def __getattr__(self, op):
        def record(*args, **kwargs):
            raise _Called(op, args, kwargs)
        return record


def _valid_call(op):
    """(arguments by name) of the first case of op_cases that calls `op`, in float32."""
    case = next(c for c in op_cases.CASES if c.op == op)
    try:
        case.run(_Recorder(), case.make(np.random.default_rng(0), np.float32))
    except _Called as called:
        name, args, kwargs = called.args
        assert name == op, (case.name, name)
        bound = inspect.signature(contract.CHECKS[op]).bind(None, *args, **kwargs)
        return {k: v for k, v in bound.arguments.items() if k != "arrays"}
    raise AssertionError(f"{case.name} calls no op")


def _numpy():
    import kernels.numpy_ref
    return kernels.numpy_ref


def _error(call):
    try:
        call()
    except ValueError as e:
        return str(e)
    return None


def _bad_calls():
    """(label, op, arguments, kind) of the bad calls the reference refuses; kind "array" where the message
    is about an array's type or dtype."""
    calls = []
    for op in OPS:
        valid = _valid_call(op)
        for name, value in valid.items():
            if isinstance(value, np.ndarray):
                variants = [("list", value.tolist(), "array"), ("float16", value.astype(np.float16), "array"),
                            ("float64", value.astype(np.float64), "array"), ("extra axis", value[None], "shape")]
            else:
                variants = [(repr(v), v, "value") for v in (-1, 1.5, None, "a")]
            for label, bad, kind in variants:
                if _error(lambda: getattr(_numpy(), op)(**{**valid, name: bad})) is not None:
                    calls.append((f"{op}-{name}-{label}", op, {**valid, name: bad}, kind))
    return calls


BAD_CALLS = _bad_calls()


@pytest.fixture(scope="module", params=["numpy", "cupy", "triton"])
def backend(request):
    """(namespace, to its arrays) of one backend: cupy's on NumPy arrays (runtime.use_host; no kernel
    runs for a bad call), triton's under the interpreter."""
    if request.param == "numpy":
        yield _numpy(), lambda a: a
    elif request.param == "cupy":
        import kernels.cupy
        from kernels.cupy import runtime
        runtime.use_host(np, None)
        yield kernels.cupy, lambda a: a
        runtime.use_host(None, None)
    else:
        pytest.importorskip("triton")
        from tests.triton_shim import interpreted_backend
        T = interpreted_backend()
        yield T, lambda a: T.asarray(a) if isinstance(a, np.ndarray) else a


@pytest.mark.parametrize("label,op,arguments,kind", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_every_op_refuses_a_bad_call_like_the_reference(backend, label, op, arguments, kind):
    K, to_backend = backend
    want = _error(lambda: getattr(_numpy(), op)(**arguments))
    got = _error(lambda: getattr(K, op)(**{k: to_backend(v) for k, v in arguments.items()}))
    assert got is not None, f"{op} accepted a call the reference refuses with: {want}"
    if kind == "array" and K is not _numpy():
        assert got.split()[:2] == want.split()[:2], (got, want)      # "<argument> must ...", the backend's words
    else:
        assert got == want


def test_the_bad_calls_cover_every_op_and_argument():
    refused = {(op, label.split("-")[1]) for label, op, _, _ in BAD_CALLS}
    for op in OPS:
        for name in list(inspect.signature(contract.CHECKS[op]).parameters)[1:]:
            assert (op, name) in refused, f"no bad call of {op} is refused for its argument {name}"


@pytest.mark.parametrize("package", BACKEND_PACKAGES)
def test_each_check_takes_its_ops_parameters(package):
    module = __import__(f"kernels.{package}", fromlist=["_"])
    for op in OPS:
        check = list(inspect.signature(contract.CHECKS[op]).parameters)
        assert check[0] == "arrays", op
        assert check[1:] == list(inspect.signature(getattr(module, op)).parameters), (package, op)
        assert OPS[op].startswith(f"({', '.join(check[1:])})"), (op, OPS[op])


@pytest.mark.parametrize("package", BACKEND_PACKAGES)
def test_no_backend_imports_another_backends_modules(package):
    others = {f"kernels.{p}" for p in BACKEND_PACKAGES if p != package}
    for path in sorted((ROOT / "kernels" / package).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            bad = [n for n in names if any(n == o or n.startswith(o + ".") for o in others)]
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}: shared code belongs in kernels/, not in a backend"
