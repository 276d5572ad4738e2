"""Freed arrays stay in the process: the CPU path's allocation policy.

A training step allocates and frees the same large arrays every step: each convolution's cols and
dcols, its stride phases, every activation and gradient (about 20 MiB of them on the tiny preset at
batch 16). glibc's malloc serves an allocation above its mmap threshold (128 KiB at first, raised
as such blocks are freed, at most 32 MiB) with fresh pages from the kernel, and gives them back when
the array is freed; memory freed at the top of the heap is given back too once more than the trim
threshold lies there. Either way the next step's arrays land on pages the kernel has to find, zero
and map again, one page fault per 4 KiB: about 4,800 faults a step on the tiny preset, 8-17% of
its time (bench/README.md, "NumPy backend speed").

keep_freed_memory() fixes both thresholds high: allocations up to 32 MiB (the most glibc allows for
the mmap threshold) come from the heap, and a free gives nothing back until 1 GiB lies unused at its
top. The next step then reuses the memory the last one freed; the process holds on to its peak,
which a training run reaches in its first step anyway. Both are needed: setting either one stops
glibc's raising of the mmap threshold and leaves the other at its start, so with the trim threshold
alone every array over 128 KiB is a fresh mapping again, and with the mmap threshold alone the heap's
top is given back past 128 KiB: 41,000-83,000 faults a step on tiny, 8 to 17 times more than with
neither.

This is a setting of the process, not of an array: it changes how fast memory comes, never what is
computed. It applies where the C library is glibc (Linux); elsewhere keep_freed_memory() does
nothing and says so. VAEGAN_KEEP_FREED_MEMORY=0 in the environment leaves glibc's defaults (to
measure the difference, or to have a long-lived process give memory back).
"""
import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD = -1       # mallopt's parameter numbers (glibc's malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20   # glibc's largest allowed value on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX)
TRIM_THRESHOLD = 1 << 30


def keep_freed_memory():
    """Set glibc's thresholds as above. Returns True if both were set, False where there is no
    glibc mallopt (or it refused), or where VAEGAN_KEEP_FREED_MEMORY=0 says to leave the defaults."""
    if os.environ.get("VAEGAN_KEEP_FREED_MEMORY") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version       # glibc only: musl and macOS have a mallopt that means otherwise
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # the mmap threshold first: setting it also stops glibc's raising of it
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
