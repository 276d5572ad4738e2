"""The selectable variants of the backends, and a context that selects one.

    cupy     kernels.cupy.set_conv_variant(name), name in CONV_VARIANTS
             ("im2col", "implicit", "implicit_tf32"): only the convolutions change
    triton   kernels.triton.runtime.set_precision(name), name in PRECISIONS ("ieee", "tf32"):
             how tl.dot multiplies float32, so only the matrix-product ops change
    numpy    kernels.numpy_ref.set_conv_variant(name), name in CONV_VARIANTS ("phases", the default,
             and "im2col", the definition): only the convolutions change

Every selection is undone when its `with` block ends, so one benchmark leaves the next as it found it.
"""
import contextlib


def variant_names(backend):
    if backend == "cupy":
        import kernels.cupy as cupy_backend
        return tuple(cupy_backend.CONV_VARIANTS)
    if backend == "triton":
        from kernels.triton import runtime
        return tuple(runtime.PRECISIONS)
    if backend == "numpy":
        import kernels.numpy_ref as numpy_backend
        return tuple(numpy_backend.CONV_VARIANTS)
    return ()


def precision_of(variant):
    """"tf32" for a TF32 variant, else "fp32" (exact float32 arithmetic)."""
    return "tf32" if variant and "tf32" in variant else "fp32"


@contextlib.contextmanager
def setting(set_fn, get_fn, value):
    """set_fn(value) inside the block; the value get_fn() gave before it is restored after."""
    before = get_fn()
    set_fn(value)
    try:
        yield
    finally:
        set_fn(before)


def select_variant(backend, name):
    """A context in which backend's variant `name` is active (None: leave the backend as it is)."""
    if name is None:
        return contextlib.nullcontext()
    names = variant_names(backend)
    if name not in names:
        raise ValueError(f"variant must be one of {', '.join(names) or '(none for this backend)'}, got {name!r}")
    if backend == "cupy":
        import kernels.cupy as cupy_backend
        return setting(cupy_backend.set_conv_variant, cupy_backend.conv_variant, name)
    if backend == "numpy":
        import kernels.numpy_ref as numpy_backend
        return setting(numpy_backend.set_conv_variant, numpy_backend.conv_variant, name)
    from kernels.triton import runtime
    return setting(runtime.set_precision, runtime.get_precision, name)


def poisoned(backend):
    """A context in which the backend fills every new output buffer with NaN (GPU backends; NumPy's
    outputs are fresh arrays that its ops write whole, so there is nothing to poison)."""
    if backend == "cupy":
        import kernels.cupy as cupy_backend
        return setting(cupy_backend.set_poison, cupy_backend.poisoning, True)
    if backend == "triton":
        from kernels.triton import runtime
        return setting(runtime.set_poison, lambda: False, True)    # off unless a test turned it on
    return contextlib.nullcontext()
