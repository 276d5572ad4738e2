"""Test-only libraries (PyTorch as an oracle, OpenCV for the warping error): where one is missing, a test
that needs it skips, except on CI (CI=true), where it fails: CI installs them, and a missing one there is
a broken install step, not a reason to pass."""
import importlib
import os

import pytest


def on_ci():
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(module, purpose, install):
    """The imported `module`, or a skip (a failure on CI) saying that `purpose` cannot run and how to
    `install` it."""
    try:
        return importlib.import_module(module)
    except Exception as e:   # not installed, or a broken install
        message = f"{module} is not importable ({type(e).__name__}: {e}); {purpose} cannot run"
        if on_ci():
            pytest.fail(f"{message} -- {install}", pytrace=False)
        pytest.skip(message)
