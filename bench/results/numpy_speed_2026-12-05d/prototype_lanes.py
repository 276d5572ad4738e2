import sys, time, ctypes, glob, os, threading
from concurrent.futures import ThreadPoolExecutor, Future
sys.path.insert(0, os.environ.get("TREE", "/work/main"))
import numpy as np
libdir = os.path.realpath(os.path.dirname(np.__file__) + "/../numpy.libs")
blas = ctypes.CDLL(glob.glob(libdir + "/libscipy_openblas64_*.so")[0])
blas.openblas_set_num_threads_local.argtypes = [ctypes.c_int]
blas.openblas_set_num_threads_local.restype = ctypes.c_int
from kernels import get_backend
from vaegan.train import settings
from vaegan.model import VAEGAN
from vaegan.optim import Adam
from vaegan import step as S
from vaegan.laplacian_error import laplacian_error_gradient
K = get_backend("numpy")
pool = ThreadPoolExecutor(1, initializer=lambda: blas.openblas_set_num_threads_local(1))
CONC = {"on": True}
sys.setswitchinterval(float(os.environ.get("SW", "0.005")))

def lanes(a, b):
    if not CONC["on"]:
        a(); b(); return
    prev = blas.openblas_set_num_threads_local(1)
    f = pool.submit(a)
    try:
        b()
    finally:
        f.result()
        blas.openblas_set_num_threads_local(prev)

def fg(model, x, eps, z_p, sigma, tc):
    K = model.K
    enc, dec, dis = model.encoder, model.decoder, model.discriminator
    for flat in model.flat.values():
        flat.zero_grad()
    r = {}
    h_rec, h_p = Future(), Future()
    def f1():
        mu, logvar, enc_ctx = enc.forward(x, "train")
        z, kl = K.reparam_kl_forward(mu, logvar, eps, sigma)
        x_rec, dec_rec = dec.forward(z, "train"); h_rec.set_result(x_rec)
        x_p, dec_p = dec.forward(z_p, "train" if tc.prior_bn_stats else "batch"); h_p.set_result(x_p)
        r.update(mu=mu, logvar=logvar, enc_ctx=enc_ctx, kl=kl, x_rec=x_rec, dec_rec=dec_rec, x_p=x_p, dec_p=dec_p)
    def f2():
        r["real"] = dis.forward(x, "train", features=True)
        r["rec"] = dis.forward(h_rec.result(), "train", features=True)
        r["p"] = dis.forward(h_p.result(), "train")
    lanes(f1, f2)
    mu, logvar, enc_ctx, kl, x_rec, dec_rec, x_p, dec_p = (r[k] for k in "mu logvar enc_ctx kl x_rec dec_rec x_p dec_p".split())
    (logit_real, dis_real), (logit_rec, dis_rec), (logit_p, dis_p) = r["real"], r["rec"], r["p"]
    taps = dis.sim_taps
    sim, dsim = 0.0, {}
    for t in taps:
        loss_t, dsim[t] = K.mse(dis_rec.taps[t], dis_real.taps[t])
        sim = sim + loss_t / len(taps)
        dsim[t] = dsim[t] * (1.0 / len(taps))
    real_loss, dgan_real = K.bce_with_logits(logit_real, 1.0 - tc.label_smoothing)
    prior_loss, dgan_p = K.bce_with_logits(logit_p, 0.0)
    rec_loss, dgan_rec = K.bce_with_logits(logit_rec, 0.0)
    disc = real_loss + prior_loss + rec_loss
    fake_loss = 0.5 * (rec_loss + prior_loss)
    gen = -(prior_loss + rec_loss)
    pixel, dpixel_xrec = K.mse(x_rec, x)
    g_rec, g_p = Future(), Future()
    def b1():
        g_rec.set_result(dis.backward(dgan_rec, dis_rec, need_dx=True))
        g_p.set_result(dis.backward(dgan_p, dis_p, need_dx=True))
        dis.backward(dgan_real, dis_real, need_dx=False)
    def b2():
        denc_xrec = dis.backward(None, dis_rec, feature_grads=dsim, param_grads=False)
        dpix = dpixel_xrec
        if tc.pixel_weight and tc.laplacian_weight:
            dpix = dpix + laplacian_error_gradient(x_rec, x) * tc.laplacian_weight
        ddec_xrec = denc_xrec * tc.gamma
        if tc.pixel_weight:
            ddec_xrec = ddec_xrec + dpix * (tc.gamma * tc.pixel_weight)
            denc_xrec = denc_xrec + dpix * tc.pixel_weight
        dz = dec.backward(denc_xrec, dec_rec, param_grads=False)
        dmu, dlogvar = K.reparam_kl_backward(dz, mu, logvar, eps, sigma, tc.kl_weight)
        enc.backward(dmu, dlogvar, enc_ctx)
        ddec_xrec = ddec_xrec + g_rec.result() * (-tc.gen_weight)
        dec.backward(ddec_xrec, dec_rec, need_dz=False)
        dec.backward(g_p.result() * (-tc.gen_weight * tc.prior_weight), dec_p, need_dz=False)
    lanes(b1, b2)
    losses = {"kl": kl, "sim": sim, "disc": disc, "gen": gen, "pixel": pixel}
    return losses, (real_loss, fake_loss), x_rec, x_p

s = settings("default", preset="tiny"); cfg, tc = s.model, s.train
def make():
    model = VAEGAN(K, cfg, seed=0)
    opt = {n: Adam(K, f, lr=tc.lr, beta1=tc.beta1, beta2=tc.beta2) for n, f in model.flat.items()}
    return model, opt
rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, (16, 3, cfg.height, cfg.width)).astype(np.float32)
e1 = rng.standard_normal((16, cfg.z_dim)).astype(np.float32); e2 = rng.standard_normal((16, cfg.z_dim)).astype(np.float32)
orig = S.forward_and_gradients
variants = {"seq-orig": (orig, False), "lanes-seq": (fg, False), "lanes-conc": (fg, True)}
# correctness: lanes-seq vs lanes-conc bit-identical over 3 steps
outs = {}
for name in ("lanes-seq", "lanes-conc", "seq-orig"):
    model, opt = make(); S.forward_and_gradients = variants[name][0]; CONC["on"] = variants[name][1]
    for _ in range(3): S.training_step(model, opt, x, e1, e2, 1.0, tc)
    outs[name] = np.concatenate([f.data for f in model.flat.values()])
print("bit-identical seq/conc:", np.array_equal(outs["lanes-seq"], outs["lanes-conc"]),
      "rel diff vs orig", np.abs(outs["lanes-seq"] - outs["seq-orig"]).max())
models = {n: make() for n in variants}
ts = {n: [] for n in variants}
for rep in range(int(sys.argv[1]) if len(sys.argv) > 1 else 30):
    for name, (f, conc) in variants.items():
        S.forward_and_gradients = f; CONC["on"] = conc
        model, opt = models[name]
        t = time.perf_counter(); S.training_step(model, opt, x, e1, e2, 1.0, tc); ts[name].append((time.perf_counter() - t) * 1e3)
for n, v in ts.items():
    print(n, f"median {np.median(v[5:]):.1f} ms  min {np.min(v):.1f}")
import resource
for name in variants:
    S.forward_and_gradients = variants[name][0]; CONC["on"] = variants[name][1]
    model, opt = models[name]
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    for i in range(10): S.training_step(model, opt, x, e1, e2, 1.0, tc)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(name, "minflt/step", (r1.ru_minflt - r0.ru_minflt) / 10, "user", (r1.ru_utime - r0.ru_utime) / 10, "sys", (r1.ru_stime - r0.ru_stime) / 10, "nvcsw", (r1.ru_nvcsw-r0.ru_nvcsw)/10, "nivcsw", (r1.ru_nivcsw-r0.ru_nivcsw)/10)
