"""Run under mpirun by tests/test_distributed.py: three VAE-GAN steps of one global batch split among
the ranks (MPI communicator), then each rank's losses, gradients and weights into OUT/rank<r>.npz.

    mpirun -n N python tests/mpi_step_worker.py OUT DTYPE [mutant]
mutant: "sum" (the gradients summed, not averaged) or "unsynced" (batch-norm over each rank's share),
so that the test can show it catches both."""
import sys

import numpy as np

from vaegan.distributed import MPICommunicator

from step_setup import three_steps

out, dtype = sys.argv[1], sys.argv[2]
mutant = sys.argv[3] if len(sys.argv) > 3 else None
comm = MPICommunicator(timeout=60)
if mutant == "sum":
    comm.allreduce_mean = comm.allreduce_sum
result = three_steps(dtype, comm, sync_batch_norm=mutant != "unsynced")
np.savez(f"{out}/rank{comm.rank}.npz", **result)
