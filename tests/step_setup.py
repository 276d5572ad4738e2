"""Three VAE-GAN steps of one global batch, for the data-parallel tests (tests/test_distributed.py): in
one process (comm SINGLE), or as one rank of several (MPI ranks under mpirun, or the threads of
tests/fake_comm.py), each rank stepping on its share of the same global batch and noise."""
import numpy as np

from kernels import get_backend
from vaegan.config import ModelConfig
from vaegan.distributed import SINGLE
from vaegan.model import VAEGAN
from vaegan.optim import Adam
from vaegan.step import LOSS_NAMES, training_step
from vaegan.train import settings

K = get_backend("numpy")
# tests/test_vaegan_step.py's MINI_FC: batch-norm over channels (4-D) and over features (2-D), both
# activations, a discriminator with a stride-1 stage
CFG = ModelConfig(name="mini_fc", width=8, height=8, z_dim=5, enc_widths=(3, 4), enc_fc=7, dec_start=4,
                  dec_widths=(4, 3), dec_final_conv=True, disc_widths=(3, 4, 4), disc_strides=(1, 2, 2),
                  disc_fc=6, sim_layers=(2,), enc_act="relu", disc_act="relu")
# the seed recipe with the default recipe's minimax L_gen, its learning rate and a pixel term
TC = settings("seed", lr=1e-3, gen_loss="minimax", pixel_weight=1.0, kl_weight=0.1).train
BATCH, STEPS = 8, 3


def global_batches(dtype):
    rng = np.random.default_rng(7)
    return [(rng.uniform(-1, 1, (BATCH, 3, CFG.height, CFG.width)).astype(dtype),
             rng.standard_normal((BATCH, CFG.z_dim)).astype(dtype),
             rng.standard_normal((BATCH, CFG.z_dim)).astype(dtype)) for _ in range(STEPS)]


def three_steps(dtype, comm=SINGLE, sync_batch_norm=True):
    """-> {"losses": (STEPS, 5), "<net>_grad", "<net>_weights", "<net>_bn"}: the gradients of the last
    step (averaged over the ranks), the weights after it, the batch-norm running statistics."""
    model = VAEGAN(K, CFG, seed=5, dtype=dtype)
    if sync_batch_norm:
        model.use_communicator(comm)
    optimizers = {n: Adam(K, f, lr=TC.lr, beta1=TC.beta1, beta2=TC.beta2) for n, f in model.flat.items()}
    b = BATCH // comm.size
    share = slice(comm.rank * b, (comm.rank + 1) * b)
    losses = []
    for s, (x, eps, z_p) in enumerate(global_batches(dtype)):
        host, updated = training_step(model, optimizers, x[share], eps[share], z_p[share], 0.8 - 0.2 * s, TC, comm)
        assert updated is not None and all(updated.values())
        losses.append([host[k] for k in LOSS_NAMES])
    out = {"losses": np.array(losses)}
    for name, net in model.networks().items():
        out[f"{name}_grad"] = model.flat[name].grad.copy()
        out[f"{name}_weights"] = model.flat[name].data.copy()
        buffers = list(net.named_buffers())
        for stat in ("running_mean", "running_var"):
            out[f"{name}_{stat}"] = np.concatenate([np.ravel(v) for k, v in buffers if k.endswith(stat)])
    return out


def pre_batch_norm_biases(dtype="float32"):
    """{network: boolean mask over its flat buffer}: the biases of layers whose output goes straight into
    a batch-norm. Their gradient is zero but for rounding (the batch-norm subtracts any shift), and Adam,
    dividing by sqrt(v), turns rounding of either sign into steps of about +-lr: there the weights of two
    runs that differ by rounding differ by up to lr per step, whatever the code's correctness."""
    from vaegan import nn
    model = VAEGAN(K, CFG, seed=5, dtype=dtype)
    masks = {}
    for name, net in model.networks().items():
        flat = model.flat[name]
        mask = np.zeros(flat.size, bool)
        feeding = set()
        for seq in _sequences(net):     # (not the decoder's Linear -> Reshape -> BatchNorm: a bias per
            for a, b in zip(seq.layers, seq.layers[1:]):     # position, which a per-channel mean keeps)
                if isinstance(b, nn.BatchNorm) and getattr(a, "b", None) is not None:
                    feeding.add(id(a.b))
        offset = 0
        for _, p in flat.named:
            if id(p) in feeding:
                mask[offset:offset + p.data.size] = True
            offset += p.data.size
        masks[name] = mask
    return masks


def _sequences(module):
    from vaegan import nn
    if isinstance(module, nn.Sequential):
        yield module
    for value in vars(module).values():
        for item in (value if isinstance(value, (list, tuple)) else [value]):
            if isinstance(item, nn.Module):
                yield from _sequences(item)
