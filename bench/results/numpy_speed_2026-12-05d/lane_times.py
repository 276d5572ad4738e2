import time, numpy as np, collections
from kernels import get_backend
from vaegan.train import settings
from vaegan.model import VAEGAN
from vaegan.optim import Adam
from vaegan.step import training_step
import vaegan.lanes as L
K = get_backend("numpy")
rec = collections.defaultdict(list)
orig = L.Lanes.run
def run(self, first, second, handoffs=()):
    t = {}
    def tf(f, k):
        def g():
            s = time.perf_counter(); f(); t[k] = time.perf_counter() - s
        return g
    s = time.perf_counter()
    orig(self, tf(first, "first"), tf(second, "second"), handoffs)
    rec[first.__name__ if hasattr(first, "__name__") else "?"].append((t["first"], t["second"], time.perf_counter() - s))
L.Lanes.run = run
s = settings("default", preset="tiny"); cfg, tc = s.model, s.train.resolved(s.model)
model = VAEGAN(K, cfg, seed=0)
opt = {n: Adam(K, f, lr=tc.lr, beta1=tc.beta1, beta2=tc.beta2) for n, f in model.flat.items()}
x = np.random.rand(16, 3, 48, 64).astype(np.float32)
ts = []
for i in range(25):
    e = K.normal((16, 32), (0, i, 0), "float32"); z = K.normal((16, 32), (0, i, 1), "float32")
    st = time.perf_counter(); training_step(model, opt, x, e, z, 1.0, tc); ts.append(time.perf_counter() - st)
print("step", round(np.median(ts[5:]) * 1e3, 1))
for k, v in rec.items():
    print(k, "first/second/total ms", np.round(np.median(np.array(v[5:]), axis=0) * 1e3, 1))
