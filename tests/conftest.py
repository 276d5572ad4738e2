"""Shared test fixtures: seeded random inputs, the `gpu` marker's skip where no device is found, and on
CI (CI=true) the rule that a green run means every test that can run here did run.

On CI a run fails, with a line saying which, when
  - any test NOT marked `gpu` skipped (a missing tool, library or file would otherwise pass silently:
    PyTorch for the loss oracle, nvcc, g++, the sample clip), or a test module skipped at collection;
  - the whole suite was asked for (no paths, -k or -m) and some backend ran no test at all: the NumPy
    reference, the CuPy kernels' host build, the Triton kernels under the interpreter (each is listed
    with the test files that exercise it, BACKEND_TESTS).
A subset (`pytest tests/test_x.py`, `-k ...`) is never held to the second rule, and without CI to neither.

The trainers the tests start get the signal dispositions a terminal gives: a suite started in the
background (`cmd &`, where SIGINT arrives ignored) or under `nohup` (SIGHUP ignored) would otherwise
hand those on to every child, and the trainer rightly leaves an ignored signal ignored
(vaegan/stopping.py), which is not what the Ctrl-C and hang-up tests are about.
"""
import os
import signal
import zlib

import numpy as np
import pytest

# backend -> the test files in which it runs on a CPU machine; one passing test in any of them counts
BACKEND_TESTS = {
    "numpy reference": ("test_numpy_ref_gradients.py", "test_vaegan_step.py"),
    "cupy host build": ("test_cupy_host.py",),
    "triton interpreter": ("test_triton_interpreted.py",),
}


if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def on_ci():
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config, items):
    try:
        import cupy
        reason = None if cupy.is_available() else "cupy finds no CUDA device on this machine"
    except Exception as e:  # not installed
        reason = f"cupy is not importable ({type(e).__name__})"
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng(request):
    """A fresh generator per test, seeded from the test's name so a failure can be replayed."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


# --- CI: count the skips and the backends --------------------------------------------------------

class RunLedger:
    """What ran: the non-gpu skips, and which backends had a passing test."""

    def __init__(self):
        self.skips = []          # (nodeid, reason)
        self.ran = set()         # backends with at least one passing test
        self.deselected = 0

    def record(self, report):
        if report.skipped and not hasattr(report, "wasxfail") and "gpu" not in report.keywords:
            self.skips.append((report.nodeid, _skip_reason(report)))
        elif report.when == "call" and report.passed:
            filename = report.nodeid.split("::")[0].rsplit("/", 1)[-1]
            self.ran |= {b for b, files in BACKEND_TESTS.items() if filename in files}

    def problems(self, config):
        """One line per reason this CI run must fail; [] when it may pass."""
        lines = [f"CI: a test that is not marked gpu skipped: {nodeid} ({reason})" for nodeid, reason in self.skips]
        if whole_suite(config, self.deselected):
            for backend, files in BACKEND_TESTS.items():
                if backend not in self.ran:
                    lines.append(f"CI: no test of the {backend} ran ({', '.join(files)})")
        return lines


def _skip_reason(report):
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr)


def whole_suite(config, deselected):
    """True when the run was asked for every test: pytest's testpaths (no paths given), no -k, no -m,
    nothing deselected (--lf, --deselect)."""
    source = getattr(config, "args_source", None)
    return (source == pytest.Config.ArgsSource.TESTPATHS and not config.getoption("keyword")
            and not config.getoption("markexpr") and not deselected)


_ledger = None   # a RunLedger on CI (on the xdist controller only: it sees every worker's reports)


def pytest_configure(config):
    global _ledger
    if on_ci() and not hasattr(config, "workerinput"):
        _ledger = RunLedger()


def pytest_runtest_logreport(report):
    if _ledger is not None:
        _ledger.record(report)


def pytest_collectreport(report):
    if _ledger is not None and report.skipped:
        _ledger.skips.append((report.nodeid, _skip_reason(report)))


def pytest_deselected(items):
    if _ledger is not None:
        _ledger.deselected += len(items)


def pytest_sessionfinish(session):
    # runs inside the terminal reporter's wrapper: before the summary below, and before pytest reads
    # session.exitstatus for the process's exit code
    if _ledger is not None and _ledger.problems(session.config) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config):
    lines = _ledger.problems(config) if _ledger is not None else []
    if lines:
        terminalreporter.section("CI: this run cannot pass", sep="=", red=True, bold=True)
        for line in lines:
            terminalreporter.line(line, red=True)
