"""The film's density in latent space: a Gaussian mixture fitted after training to the posterior means of
the film's frames, to draw new frames from instead of the prior (Ghosh et al. 2020, "From Variational to
Deterministic Autoencoders", section 4, ex-post density estimation; Dai & Wipf 2019's two-stage VAE).

Why: the prior's draws z ~ N(0, I) land where the aggregate posterior (the mean over frames of q(z|x))
is thin, between the film's shots, and the decoder blends the shots there. A density fitted to the codes
the encoder gives the film's frames puts its draws where the decoder was trained.

The mixture p(z) = sum_j w_j N(z; m_j, S_j), fitted to codes z_1..z_n by EM (Dempster et al. 1977):
    E step  r_ij = w_j N(z_i; m_j, S_j) / p(z_i): Bayes' rule for "z_i came from component j". For any
            q_i over the components, log p(z_i) >= sum_j q_ij log(w_j N(z_i; m_j, S_j) / q_ij) (Jensen),
            with equality at q_i = r_i: the bound now touches the log-likelihood.
    M step  maximise the bound with r fixed: one weighted Gaussian fit per component. With
            N_j = sum_i r_ij, setting its gradient to zero gives
              in m_j:    sum_i r_ij S_j^-1 (z_i - m_j) = 0          ->  m_j = sum_i r_ij z_i / N_j
              in S_j^-1: sum_i r_ij (S_j - d_ij d_ij^T) / 2 = 0     ->  S_j = sum_i r_ij d_ij d_ij^T / N_j
                         (d_ij = z_i - m_j)
              in w_j, with a multiplier for sum_j w_j = 1:          ->  w_j = N_j / n
    The bound rises and then touches again, so the log-likelihood never falls (the ridge below bends
    this a little): stop when its mean per code rises by less than TOL (or falls), or after ITERATIONS.
A component holding fewer codes than dimensions (30 components over a 120-frame film with z = 32) has a
singular S_j, so RIDGE x the codes' mean variance is added to every S_j's diagonal (a floor on each
component's width in every direction; it also keeps 1 component at the codes' covariance plus that floor).
Densities in logs, through the Cholesky factor S = L L^T: log|S| = 2 sum log diag L, and the Mahalanobis
term |L^-1 d|^2. Start: k-means++ seeding (Arthur & Vassilvitskii 2007: the first centre a random code,
each next one a code drawn with probability proportional to its squared distance to the nearest centre
so far), Lloyd's k-means iterations from there, then an M step on that partition. The seed fixes the
fit. With a few dozen codes per component in 32 dimensions the covariances are thin, the
responsibilities come out 0 or 1, and EM mostly stops after one pass: a Gaussian per k-means cluster.
Sampling: j ~ w, then z = m_j + L_j e with e ~ N(0, I), whose covariance is L_j L_j^T = S_j.
"""
import json
import os

import numpy as np

from .recipes import DENSITY_COMPONENTS

FILENAME = "latent_density.safetensors"
COMPONENTS = DENSITY_COMPONENTS     # the default k (vaegan/recipes.py)
RIDGE = 1e-4
ITERATIONS, TOL = 300, 1e-6
LLOYD = 100              # k-means iterations at most, before EM
MAX_CODES = 10000        # frames of a long film (evenly spaced) the fit reads at most: EM's step is n k d^2


class GaussianMixture:
    def __init__(self, weights, means, covariances):
        self.weights, self.means, self.covariances = (np.asarray(a, np.float64) for a in (weights, means, covariances))
        self.chol = np.linalg.cholesky(self.covariances)          # k x d x d, lower

    @property
    def k(self):
        return len(self.weights)

    def _log_joint(self, z):
        """n x k: log(w_j N(z_i; m_j, S_j))."""
        d = z.shape[1]
        out = np.empty((len(z), self.k))
        for j in range(self.k):
            y = np.linalg.solve(self.chol[j], (z - self.means[j]).T)          # L^-1 (z - m), d x n
            logdet = 2 * np.log(np.diag(self.chol[j])).sum()
            out[:, j] = np.log(self.weights[j]) - 0.5 * (d * np.log(2 * np.pi) + logdet + (y * y).sum(axis=0))
        return out

    def log_likelihood(self, z):
        """The mean over the codes of log p(z_i)."""
        return float(_logsumexp(self._log_joint(np.asarray(z, np.float64))).mean())

    def sample(self, n, rng):
        """n x d codes drawn from the mixture (float64)."""
        j = rng.choice(self.k, size=n, p=self.weights / self.weights.sum())
        e = rng.standard_normal((n, self.means.shape[1]))
        return self.means[j] + np.einsum("nab,nb->na", self.chol[j], e)

    @classmethod
    def fit(cls, z, k, seed=0, iterations=ITERATIONS, tol=TOL):
        """EM from a k-means start (module docstring); k is cut to the number of codes."""
        z = np.asarray(z, np.float64)
        n, d = z.shape
        k = max(1, min(int(k), n))
        ridge = RIDGE * max(float(z.var(axis=0).mean()), 1e-12)
        r = np.zeros((n, k))
        r[np.arange(n), _kmeans(z, _kmeans_pp(z, k, np.random.default_rng(seed)))] = 1.0
        gm, last = cls._m_step(z, r, ridge), -np.inf
        for step in range(1, iterations + 1):
            log_joint = gm._log_joint(z)
            log_p = _logsumexp(log_joint)
            if log_p.mean() - last < tol:
                break
            last = float(log_p.mean())
            gm = cls._m_step(z, np.exp(log_joint - log_p[:, None]), ridge)
        gm.iterations = step
        return gm

    @classmethod
    def _m_step(cls, z, r, ridge):
        nk = r.sum(axis=0) + 1e-12                      # (a component with no codes keeps a zero weight)
        means = (r.T @ z) / nk[:, None]
        covs = np.empty((len(nk), z.shape[1], z.shape[1]))
        for j in range(len(nk)):
            dz = z - means[j]
            covs[j] = (r[:, j, None] * dz).T @ dz / nk[j] + ridge * np.eye(z.shape[1])
        return cls(nk / len(z), means, covs)

    # --- the file: safetensors, the numbers in its metadata -------------------------------------------
    def save(self, path, **meta):
        """Write atomically, as a checkpoint is (checkpoint.write_atomically)."""
        from safetensors.numpy import save as st_save
        from .checkpoint import write_atomically

        write_atomically(path, st_save({"weights": self.weights, "means": self.means, "covariances": self.covariances},
                                       metadata={"vaegan_density": json.dumps(dict(meta, k=self.k))}),
                         prefix=".density-")

    @classmethod
    def load(cls, path):
        """-> (mixture, metadata dict). ValueError for a file that is not one."""
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(path, framework="np") as f:
                meta = json.loads((f.metadata() or {})["vaegan_density"])
                return cls(f.get_tensor("weights"), f.get_tensor("means"), f.get_tensor("covariances")), meta
        except (SafetensorError, OSError, KeyError, ValueError, np.linalg.LinAlgError) as e:
            raise ValueError(f"{path}: not a readable latent density ({e})") from None


def _logsumexp(a):
    top = a.max(axis=1)
    return top + np.log(np.exp(a - top[:, None]).sum(axis=1))


def _nearest(z, centres):
    """Each code's nearest centre: |z - c|^2 = |z|^2 - 2 z.c + |c|^2, without an n x k x d array."""
    return ((centres ** 2).sum(axis=1)[None] - 2 * z @ centres.T).argmin(axis=1)


def _kmeans_pp(z, k, rng):
    centres = [z[rng.integers(len(z))]]
    gap = ((z - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        i = rng.choice(len(z), p=gap / gap.sum()) if gap.sum() > 0 else rng.integers(len(z))
        centres.append(z[i])
        gap = np.minimum(gap, ((z - z[i]) ** 2).sum(axis=1))
    return np.array(centres)


def _kmeans(z, centres, iterations=LLOYD):
    """Lloyd's iterations from the given centres: each code to its nearest centre, each centre to its
    codes' mean (a centre left without codes stays), until no code changes centre."""
    assign = _nearest(z, centres)
    for _ in range(iterations):
        for j in range(len(centres)):
            if (assign == j).any():
                centres[j] = z[assign == j].mean(axis=0)
        new = _nearest(z, centres)
        if (new == assign).all():
            break
        assign = new
    return assign


def latent_means(model, frames_uint8, batch=64):
    """The posterior means mu of the frames (n x z_dim, float64): the encoder in eval mode with the
    weights the model draws with, as `reconstruct` encodes them. A film of more than MAX_CODES frames
    is read at MAX_CODES evenly spaced ones."""
    from .media.framestore import to_float_batch

    n = len(frames_uint8)
    pick = np.unique(np.linspace(0, n - 1, min(n, MAX_CODES)).round().astype(int))
    K, out = model.K, []
    for i in range(0, len(pick), batch):
        mu, _ = model.encode(K.asarray(to_float_batch(frames_uint8[pick[i:i + batch]])), "eval")
        out.append(K.to_numpy(mu).astype(np.float64))
    return np.concatenate(out)


# --- a run's density: RUN/latent_density.safetensors, beside the checkpoint it was fitted to ----------

def density_path(run_or_ckpt):
    """The density file of a run folder, or of the folder that holds a checkpoint file."""
    folder = run_or_ckpt if os.path.isdir(run_or_ckpt) else os.path.dirname(os.path.abspath(run_or_ckpt))
    return os.path.join(folder, FILENAME)


def fit_film_density(path, model, frames_uint8, step, k=COMPONENTS, seed=0):
    """Fit the mixture to the film's latent means and write it to `path` with its metadata: k, the
    checkpoint's step, the frame count, the seed, the mean log-likelihood per code. -> (mixture, metadata)."""
    codes = latent_means(model, frames_uint8)
    gm = GaussianMixture.fit(codes, k, seed)
    meta = dict(k=gm.k, step=int(step), frames=len(codes), seed=int(seed), iterations=gm.iterations,
                mean_log_likelihood=gm.log_likelihood(codes))
    gm.save(path, **meta)
    return gm, meta


def film_density(run_or_ckpt, step, z_dim):
    """(mixture, metadata, None) when the density beside run_or_ckpt was fitted to the checkpoint at
    `step` (a model of latent size z_dim); else (None, None, why not: words that follow "RUN has")."""
    path = density_path(run_or_ckpt)
    if not os.path.exists(path):
        return None, None, f"no film density ({path})"
    try:
        gm, meta = GaussianMixture.load(path)
    except ValueError as e:
        return None, None, f"an unreadable film density ({e})"
    if gm.means.shape[1] != z_dim:
        return None, None, f"a film density ({path}) of {gm.means.shape[1]} latent numbers, not the model's {z_dim}"
    if meta.get("step") != step:
        return None, None, f"a film density ({path}) fitted at step {meta.get('step')}, not at its checkpoint's step {step}"
    return gm, meta, None
