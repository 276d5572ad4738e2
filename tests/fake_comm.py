"""An in-process stand-in for cupyx.distributed's NCCLBackend: N "ranks" as threads of one process,
each holding a backend object with the same all_reduce(in, out, op, stream) and barrier(). Plugged into
vaegan.distributed.NCCLCommunicator, it runs the NCCL path's code (the communicator, the synchronised
batch-norm, the gradients' all-reduce) on the CPU. Sums are taken in rank order, so every rank gets
the same bits, as NCCL's ring gives them."""
import threading

import numpy as np

from vaegan.distributed import NCCLCommunicator


class ThreadGroup:
    def __init__(self, size, timeout=60.0, reduce=None):
        self.size = size
        self._barrier = threading.Barrier(size, timeout=timeout)
        self._slots = [None] * size
        self.reduce = reduce or (lambda arrays: sum(arrays[1:], arrays[0].copy()))
        self.calls = 0

    def backend(self, rank):
        return _Backend(self, rank)

    def communicators(self):
        return [NCCLCommunicator(self.backend(r), r, self.size, xp=np, synchronize=lambda timeout, what: None)
                for r in range(self.size)]

    def run(self, fn):
        """fn(rank, comm) in one thread per rank -> [its results by rank]; a rank's exception re-raised."""
        comms, results, errors = self.communicators(), [None] * self.size, []

        def target(r):
            try:
                results[r] = fn(r, comms[r])
            except BaseException as e:        # noqa: BLE001 (handed to the caller below)
                errors.append(e)
                self._barrier.abort()          # the other ranks stop waiting for this one

        threads = [threading.Thread(target=target, args=(r,)) for r in range(self.size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return results


class _Backend:
    def __init__(self, group, rank):
        self.group, self.rank = group, rank

    def all_reduce(self, in_array, out_array, op="sum", stream=None):
        assert op == "sum", op
        g = self.group
        g._slots[self.rank] = in_array.copy()
        g._barrier.wait()
        total = g.reduce(g._slots)
        g._barrier.wait()                     # every rank has read every slot before any is reused
        if self.rank == 0:
            g.calls += 1
        out_array[...] = total

    def barrier(self):
        self.group._barrier.wait()
