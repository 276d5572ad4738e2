"""Adam over one network's flat parameter buffer: one fused kernel launch per network per step.

The update is torch.optim.Adam's (see kernels/api.py, adam_step); the kernel does it in place for the
parameters and both moment buffers. `step` counts the updates this optimiser has applied, which is
what the bias correction needs; a skipped update (the equilibrium rule) does not count. `scale`
multiplies lr at each step: the learning-rate schedule's factor (vaegan/lr_schedule.py), set by the run.
A run passes its TrainConfig's lr and betas; the defaults here are the default recipe's lr and
TrainConfig's betas, for callers that only need an optimiser (a checkpoint to write).
"""
from .recipes import RECIPES


class Adam:
    def __init__(self, K, flat, lr=RECIPES["default"]["lr"], beta1=0.5, beta2=0.999, eps=1e-8, weight_decay=0.0):
        self.K, self.flat = K, flat
        self.lr, self.beta1, self.beta2, self.eps, self.weight_decay = lr, beta1, beta2, eps, weight_decay
        self.m = K.xp.zeros_like(flat.data)
        self.v = K.xp.zeros_like(flat.data)
        self.step_count = 0
        self.scale = 1.0

    def step(self):
        self.step_count += 1
        self.K.adam_step(self.flat.data, self.flat.grad, self.m, self.v, self.step_count,
                         self.lr * self.scale, self.beta1, self.beta2, self.eps, self.weight_decay)
