"""Shared test fixtures: seeded random inputs, and the `gpu` marker's skip where no device is found."""
import zlib

import numpy as np
import pytest


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
