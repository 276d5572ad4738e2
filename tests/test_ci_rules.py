"""tests/conftest.py's CI rules, on a toy suite run in a subprocess: with CI=true a non-gpu skip, or a
whole run in which some backend ran no test, fails naming it; a subset, a gpu skip, or no CI does not."""
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BACKEND_FILES = ("test_numpy_ref_gradients.py", "test_cupy_host.py", "test_triton_interpreted.py")


def toy_suite(root, skip=None, gpu_skip=False, missing=()):
    """A copy of our conftest with one passing test per backend file (but `missing`), optionally a test
    that skips with reason `skip`, and a gpu-marked test that skips."""
    tests = root / "tests"
    tests.mkdir()
    shutil.copy(os.path.join(HERE, "conftest.py"), tests / "conftest.py")
    (root / "pytest.ini").write_text("[pytest]\ntestpaths = tests\nmarkers =\n    gpu: needs a device\n")
    for name in BACKEND_FILES:
        if name not in missing:
            (tests / name).write_text("def test_runs():\n    assert 1 + 1 == 2\n")
    if skip:
        (tests / "test_tool.py").write_text(f"import pytest\n\ndef test_needs_a_tool():\n    pytest.skip({skip!r})\n")
    if gpu_skip:
        (tests / "test_device.py").write_text("import pytest\n\n@pytest.mark.gpu\ndef test_on_device():\n"
                                              "    pytest.skip('no device')\n")
    return root


def run(root, *args, ci=True):
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=root,
                          env=env, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def test_a_full_ci_run_passes_with_only_gpu_tests_skipped(tmp_path):
    code, out = run(toy_suite(tmp_path, gpu_skip=True))
    assert code == 0, out


def test_a_skip_outside_gpu_fails_ci_naming_the_test(tmp_path):
    code, out = run(toy_suite(tmp_path, skip="torch is missing"))
    assert code == 1, out
    assert "not marked gpu skipped: tests/test_tool.py::test_needs_a_tool (torch is missing)" in out


def test_a_backend_with_no_test_run_fails_a_full_ci_run(tmp_path):
    code, out = run(toy_suite(tmp_path, missing=("test_triton_interpreted.py",)))
    assert code == 1, out
    assert "no test of the triton interpreter ran" in out
    assert "numpy reference ran" not in out and "cupy host build ran" not in out


@pytest.mark.parametrize("args", [["tests/test_cupy_host.py"], ["-k", "runs"]], ids=["path", "-k"])
def test_a_subset_on_ci_is_not_held_to_every_backend(tmp_path, args):
    code, out = run(toy_suite(tmp_path, missing=("test_triton_interpreted.py",)), *args)
    assert code == 0, out


def test_without_ci_a_skip_and_a_missing_backend_pass(tmp_path):
    code, out = run(toy_suite(tmp_path, skip="optional", missing=("test_cupy_host.py",)), ci=False)
    assert code == 0, out
