"""Every buffer the CuPy backend allocates for a result comes from `empty()` here.

One allocation point makes one switch possible: `set_poison(True)` fills each new buffer with NaN
before any kernel writes it. A kernel that forgets an element then leaves a NaN behind, which the
tests catch (a zero-filled or reused buffer could hide it). Poisoning costs one extra pass over each
output, so it is off by default; the gpu tests turn it on.
"""
import numpy

_poison = False


def set_poison(flag):
    """Fill every buffer `empty()` returns from now on with NaN (True) or leave it uninitialised."""
    global _poison
    _poison = bool(flag)


def poisoning():
    return _poison


def empty(shape, dtype):
    """An uninitialised CuPy array (NaN-filled while poisoning is on)."""
    import cupy
    a = cupy.empty(shape, dtype)
    if _poison:
        a.fill(numpy.nan)
    return a
