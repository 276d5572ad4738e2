exec(open("/tmp/s26/proto.py").read().split("s = settings(")[0])
s = settings("default", preset="tiny"); cfg, tc = s.model, s.train
model = VAEGAN(K, cfg, seed=0)
opt = {n: Adam(K, f, lr=tc.lr, beta1=tc.beta1, beta2=tc.beta2) for n, f in model.flat.items()}
rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, (16, 3, cfg.height, cfg.width)).astype(np.float32)
e1 = rng.standard_normal((16, cfg.z_dim)).astype(np.float32); e2 = rng.standard_normal((16, cfg.z_dim)).astype(np.float32)
mode = sys.argv[1]
if mode != "orig":
    S.forward_and_gradients = fg; CONC["on"] = mode == "conc"
a = np.random.rand(256, 256).astype(np.float32)
t = time.perf_counter()
for _ in range(100): a @ a
probe = (time.perf_counter() - t) / 100 * 1e6
ts = []
for i in range(25):
    t = time.perf_counter(); S.training_step(model, opt, x, e1, e2, 1.0, tc); ts.append((time.perf_counter() - t) * 1e3)
print(f"{mode:5s} probe {probe:.0f}us  median {np.median(ts[5:]):.1f} ms  min {min(ts):.1f}")
