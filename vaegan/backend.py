"""The kernels a run computes with: a backend name ("numpy", "cupy", "triton") to the backend's ops
(kernels.get_backend), or a one-line error saying why this machine cannot run it. The one door from
vaegan/ into kernels/ that a user's choice goes through; train and reconstruct both use it."""
from kernels import get_backend

from .errors import UserError


def backend_named(name):
    try:
        return get_backend(name)
    except (RuntimeError, ValueError) as e:
        raise UserError(str(e)) from None
