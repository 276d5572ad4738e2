"""The mutation check: plant known bugs one at a time in a copy of the project and see the tests catch them.

    python -m tests.mutants                  every mutant in MUTANTS; exit 1 if any is missed (or stale)
    python -m tests.mutants triton cupy      only the mutants whose name contains one of the words
    python -m tests.mutants --list           names, files, the tests each one runs; STALE where an edit no
                                             longer matches exactly once (exit 1)

How: the working tree (git's tracked and untracked-but-not-ignored files, as they are on disk) is copied
once to a temporary folder. For each mutant its edits are applied there (each `old` text must occur
EXACTLY once in its file, else the mutant is "stale": the code moved and the mutant must be updated),
its tests run with `python -m pytest -x -q` under a time limit, and the files are put back. A mutant is
CAUGHT when pytest fails, MISSED when it passes. Before any mutant, the union of all the mutants' tests
runs once on the unmutated copy: a red baseline would make every mutant look caught, so it stops the
check. Python writes no bytecode in the copy (a mutant and its restored original can have the same size
and modification second, and a stale .pyc would run the wrong one); the CuPy host build is keyed by the
hash of its source and the Triton interpreter compiles nothing to disk, so neither reuses a stale build.

Cost: 42 mutants, 5-33 s each; the whole check took 12 min on the 2-core machine at load average 18,
4.5 min of it the baseline (measured 2026-11-29); 58 mutants, 13.5 min at load average 8, the nine of
the sanitised host build and the 64-bit index branches 6 min of it (2026-12-05; run only those with
`python -m tests.mutants barrier past-bound never-written 64-bit`). It is not part of CI; run it after changing a kernel
or a test's cases.

To add a mutant: append a Mutant to MUTANTS: a name (backend-family-what), one or more (file, old, new)
edits, and the few tests that should catch it (paths, with -k to keep the run short). A bug that only
shows on a second tile, block or split needs the multi-tile cases of tests/op_cases.py.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 600


@dataclass(frozen=True)
class Mutant:
    name: str
    edits: tuple     # ((file, old, new), ...): `old` must occur exactly once in `file`
    tests: tuple     # pytest arguments: the tests that must catch it
    why: str = ""


def M(name, file, old, new, tests, why=""):
    return Mutant(name, ((file, old, new),), tuple(tests), why)


NUMPY = ("tests/test_numpy_ref_gradients.py", "tests/test_torch_oracle.py")
STEP = ("tests/test_vaegan_step.py", "tests/test_torch_oracle.py")
FILM = ("tests/test_film_content.py", "tests/test_train_run.py", "-k", "reconstruct or writes")
LONG = "tests/test_long_runs.py"


def cupy(k):
    return ("tests/test_cupy_host.py", "-k", k)


# The sanitised host build (tests/test_cupy_sanitised.py). The races and the row past its bound are left
# to the sanitizers alone (-k sanitizer: the replays under ThreadSanitizer and AddressSanitizer, not the
# recording run's comparison with NumPy, which catches some of them too); shared memory read before it is
# written shows as NaN in the recording run's results (-k reference). Before this build, the plain host
# build's tests (-k "conv2d_forward and not tf32", "conv2d_forward and tf32", "batch_norm" of
# tests/test_cupy_host.py, shared memory `static`) missed three of these seven: the barrier before reusing
# warp_sums (now warp_values), the row past its bound, the tile padding never written.
SANITIZERS = ("tests/test_cupy_sanitised.py", "-k", "sanitizer")
SANITISED_RESULTS = ("tests/test_cupy_sanitised.py", "-k", "reference")


def triton(k):
    return ("tests/test_triton_interpreted.py", "-k", k)


MUTANTS = [
    # --- the four bugs a review planted -------------------------------------------------------------
    M("triton-conv-output-channel-tile-offset", "kernels/triton/conv.py",
      "co = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)",
      "co = tl.program_id(1) * (BLOCK_N + 7) + tl.arange(0, BLOCK_N)", triton("multi_tile and conv2d_forward")),
    M("cupy-conv-implicit-gemm-row-tile-offset", "kernels/cupy/conv_implicit.cu",
      "const long long m0 = (long long)blockIdx.y * TILE_M;",
      "const long long m0 = (long long)blockIdx.y * (TILE_M + 3);", cupy("multi_tile and conv2d")),
    M("step-gan-real-target-flipped", "vaegan/step.py",
      "K.bce_with_logits(logit_real, 1.0 - tc.label_smoothing)",
      "K.bce_with_logits(logit_real, 0.0 + tc.label_smoothing)", STEP),
    Mutant("reconstruct-writes-inputs-at-25-fps", (
        ("vaegan/reconstruct.py", 'fps = video.get("fps_fraction") or 25', "fps = 25"),
        ("vaegan/reconstruct.py", "writer.write(join(batch, rec) if side_by_side else rec)",
         "writer.write(join(batch, rec) if side_by_side else batch)")), FILM),

    M("reconstruct-fps-25", "vaegan/reconstruct.py", 'fps = video.get("fps_fraction") or 25', "fps = 25", FILM),
    M("reconstruct-writes-inputs", "vaegan/reconstruct.py",
      "writer.write(join(batch, rec) if side_by_side else rec)",
      "writer.write(join(batch, rec) if side_by_side else batch)", FILM),
    M("film-audio-starts-half-a-second-late", "vaegan/media/film.py",
      "self._audio_offset = video_origin + audio_start - audio_origin",
      "self._audio_offset = video_origin + audio_start - audio_origin - 0.5",
      ("tests/test_film.py", "tests/test_film_content.py")),
    M("film-failed-write-removes-the-previous-film", "vaegan/media/film.py",
      "            if partial is not None:\n                os.remove(partial)",
      "            if partial is not None:\n                os.remove(partial)\n                os.remove(self.path)",
      ("tests/test_crash_safety.py",)),
    M("checkpoint-written-in-place", "vaegan/checkpoint.py",
      'fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)',
      'fd, tmp = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), path',
      ("tests/test_crash_safety.py", "tests/test_long_runs.py::test_readers_see_whole_checkpoints_while_a_run_writes_them")),

    # --- long runs: signals, kill -9, a second process (vaegan/stopping.py, runlock.py, train.py) -----
    M("longrun-sigterm-kills-mid-step", "vaegan/stopping.py",
      "SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)", "SIGNALS = (signal.SIGINT,)",
      (LONG, "-k", "sigterm_or_sighup")),
    M("longrun-no-timed-checkpoint", "vaegan/train.py",
      "return bool(minutes) and time.monotonic() - self.last_saved >= minutes * 60", "return False",
      (LONG, "-k", "kill_9_loses")),
    M("longrun-metrics-not-cut-on-resume", "vaegan/train.py",
      '    _cut_metrics(os.path.join(run_dir, "metrics.jsonl"), meta.get("metrics_bytes"))\n', "",
      (LONG, "-k", "second_signal")),
    M("longrun-no-lock", "vaegan/train.py",
      "lock = RunLock(run_dir).acquire() if take else None", "lock = RunLock(run_dir) if take else None",
      (LONG, "-k", "second_process")),
    M("longrun-leftovers-kept", "vaegan/train.py",
      "    remove_leftovers(run_dir)\n", "", (LONG, "-k", "kill_9_loses")),
    M("longrun-nohup-sighup-handled", "vaegan/stopping.py",
      "            if old is not signal.SIG_IGN:                        # nohup's SIGHUP stays ignored\n",
      "            if True:\n", (LONG, "-k", "nohup")),
    M("longrun-no-start-again-before-the-first-checkpoint", "vaegan/train.py",
      "        return _start_again(run_dir, store_builder, epochs, shape, checkpoint_minutes, comm)\n", "        pass\n",
      (LONG, "-k", "decoded")),
    M("lost-frames-unsaid-by-reconstruct", "cli.py", '    _warn_lost(s["lost"])\n', "",
      ("tests/test_lost_frames_line.py",)),

    # --- the losses, one each, where the step combines them (vaegan/step.py) -----------------------
    M("step-kl-weight-ignored", "vaegan/step.py",
      "K.reparam_kl_backward(dz, mu, logvar, eps, sigma, tc.kl_weight)",
      "K.reparam_kl_backward(dz, mu, logvar, eps, sigma, 1.0)", STEP),
    M("step-sim-not-averaged-over-layers", "vaegan/step.py",
      "sim = sim + loss_t / len(taps)", "sim = sim + loss_t", STEP),
    M("step-gen-target-zero", "vaegan/step.py",
      "gen, dgen_p = K.bce_with_logits(logit_p, 1.0)", "gen, dgen_p = K.bce_with_logits(logit_p, 0.0)", STEP,
      "a wrong but self-consistent loss: finite differences agree with it, PyTorch does not"),
    M("step-gamma-ignored", "vaegan/step.py",
      "gamma_dsim = {t: g * tc.gamma for t, g in dsim.items()}", "gamma_dsim = dict(dsim)", STEP),
    M("step-shared-pass-gen-sign-kept", "vaegan/step.py",
      "ddec_xp = dgan_xp_ready.take() * (-tc.gen_weight * tc.prior_weight)",
      "ddec_xp = dgan_xp_ready.take() * (tc.gen_weight * tc.prior_weight)", STEP,
      "the minimax step's shared discriminator pass: the generator's gradient is the negated one"),
    M("step-shared-pass-gamma-ignored", "vaegan/step.py",
      "ddec_xrec = denc_xrec * tc.gamma", "ddec_xrec = denc_xrec", STEP),

    # --- the step's two lanes (vaegan/lanes.py): run at once, what they write must not be shared -------
    M("lanes-discriminator-weights-added-by-both-lanes", "vaegan/step.py",
      "        dis.backward(dgan_real, dis_real, need_dx=False)\n\n    def generator_backward():\n",
      "\n    def generator_backward():\n        dis.backward(dgan_real, dis_real, need_dx=False)\n",
      ("tests/test_lanes.py", "-k", "bit"), "a race: two threads add into one gradient buffer"),
    M("lanes-prior-pass-statistics-never-folded-in", "vaegan/step.py",
      "    for dis_ctx in (dis_real, dis_rec, dis_p):", "    for dis_ctx in (dis_real, dis_rec):",
      ("tests/test_torch_oracle.py",), "the forward's batch-norms in batch mode, their update left out"),
    M("lanes-failed-lane-leaves-the-other-waiting", "vaegan/lanes.py",
      "            for h in handoffs:\n", "            for h in ():\n", ("tests/test_lanes.py", "-k", "failing")),
    M("lanes-return-before-the-other-lane-ended", "vaegan/lanes.py",
      "                _join(future)\n                if isinstance(e, LaneStopped):",
      "                if isinstance(e, LaneStopped):", ("tests/test_lanes.py", "-k", "second_lane")),

    # --- the NumPy reference, one per kernel family --------------------------------------------------
    M("numpy-conv-window-phases-swapped", "kernels/numpy_ref/conv_phases.py",
      "yield u, v, (u % s, v % s), (u // s) * self.wp + v // s",
      "yield u, v, (v % s, u % s), (u // s) * self.wp + v // s", NUMPY),
    M("numpy-conv-transpose-bias-subtracted", "kernels/numpy_ref/conv_transpose.py",
      "y += b.reshape(1, -1, 1, 1)", "y -= b.reshape(1, -1, 1, 1)", NUMPY,
      "in the adjoint both forms of the convolutions share"),
    M("numpy-conv-definition-offsets-swapped", "kernels/numpy_ref/conv.py",
      "at_offset = xpad[:, :, u:u + stride * h_out:stride, v:v + stride * w_out:stride]",
      "at_offset = xpad[:, :, v:v + stride * h_out:stride, u:u + stride * w_out:stride]", NUMPY,
      "the definition itself wrong: PyTorch's convolution and the finite differences see it"),
    M("numpy-batchnorm-eps-tenfold", "kernels/numpy_ref/batch_norm.py",
      "m2 / t(count * pieces) + t(eps))", "m2 / t(count * pieces) + t(10 * eps))", NUMPY,
      "forward and backward still agree to first order: the PyTorch step catches it"),
    M("numpy-linear-bias-gradient-doubled", "kernels/numpy_ref/linear.py",
      "return dy @ w, dy.T @ x, dy.sum(axis=0)", "return dy @ w, dy.T @ x, 2 * dy.sum(axis=0)", NUMPY),
    M("numpy-leaky-relu-backward-slope-lost", "kernels/numpy_ref/activations.py",
      "np.maximum(dx, scalar(slope, x.dtype), out=dx)", "np.maximum(dx, scalar(1.0, x.dtype), out=dx)", NUMPY),
    M("numpy-tanh-backward", "kernels/numpy_ref/activations.py",
      "return dy * (1 - y * y)", "return dy * (1 - y)", NUMPY),
    M("numpy-kl-sign-of-mu-squared", "kernels/numpy_ref/sampler.py",
      "np.mean(-0.5 * (1 + logvar - mu * mu - var)", "np.mean(-0.5 * (1 + logvar + mu * mu - var)", NUMPY),
    M("numpy-sampler-kl-gradient-sign", "kernels/numpy_ref/sampler.py",
      "dmu = dz + w * mu", "dmu = dz - w * mu", NUMPY),
    M("numpy-mse-gradient-halved", "kernels/numpy_ref/losses.py",
      "diff * scalar(2.0 / a.size, a.dtype)", "diff * scalar(1.0 / a.size, a.dtype)", NUMPY),
    M("numpy-bce-loss-sign", "kernels/numpy_ref/losses.py",
      "loss = _loss(softplus - target * logits, logits.dtype)",
      "loss = _loss(softplus + target * logits, logits.dtype)", NUMPY),
    M("numpy-adam-second-moment-bias-correction", "kernels/numpy_ref/adam.py",
      "v_hat = v / t(1 - beta2 ** int(step))", "v_hat = v / t(1 - beta1 ** int(step))", NUMPY),

    # --- CuPy's CUDA C, through the host build --------------------------------------------------------
    M("cupy-adam-second-moment-bias-correction", "kernels/cupy/adam.cu",
      "(sqrt(v_new / bias_correction2) + eps)", "(sqrt(v_new / bias_correction1) + eps)", cupy("adam")),
    M("cupy-adam-grid-stride", "kernels/cupy/adam.cu",
      "i += (long long)gridDim.x * blockDim.x) {", "i += (long long)blockDim.x) {", cupy("adam"),
      "every block after the first redoes the others' elements: only a grid of 2+ blocks shows it (the"
      " multi-tile Adam case, 4900 parameters)"),
    M("cupy-reparam-kl-logvar-gradient", "kernels/cupy/sampler.cu",
      "kl_scale * (exp(lv) - T(1)) * T(0.5);", "kl_scale * (exp(lv) - T(1));", cupy("reparam or kl")),
    M("cupy-bce-gradient-sign", "kernels/cupy/losses.cu",
      "dlogits[i] = (sig - t) * inv_count;", "dlogits[i] = (t - sig) * inv_count;", cupy("bce")),
    M("cupy-mse-loss-not-squared", "kernels/cupy/losses.cu",
      "acc += (double)d * (double)d;", "acc += (double)d * fabs((double)d) + (double)d * 0;", cupy("mse")),
    M("cupy-leaky-relu-backward-slope-lost", "kernels/cupy/activations.cu",
      "dx[i] = x[i] > T(0) ? dy[i] : slope * dy[i];", "dx[i] = x[i] > T(0) ? dy[i] : dy[i];", cupy("relu")),
    M("cupy-tanh-backward", "kernels/cupy/activations.cu",
      "dx[i] = dy[i] * (T(1) - t * t);", "dx[i] = dy[i] * (T(1) - t);", cupy("tanh")),
    M("cupy-batchnorm-backward-xhat-sum", "kernels/cupy/batch_norm_backward.cu",
      "s_g_xhat += g * ((x[at] - m) * is);\n    });",
      "s_g_xhat += g * (x[at] - m);\n    });", cupy("batch_norm")),
    M("cupy-col2im-transposed-conv-stride-check", "kernels/cupy/col2im.cu",
      "if (th < 0 || th % stride != 0 || th / stride >= out_h) {", "if (th < 0 || th / stride >= out_h) {",
      cupy("conv_transpose2d_forward and not multi_tile")),
    M("cupy-linear-bias-gradient-skips-first-row", "kernels/cupy/bias.cu",
      "for (int r = 0; r < rows; r++) {\n        acc += (double)dy[(long long)r * cols + f];",
      "for (int r = 1; r < rows; r++) {\n        acc += (double)dy[(long long)r * cols + f];",
      cupy("linear_backward")),
    M("cupy-conv-bias-gradient-partial-halved", "kernels/cupy/bias.cu",
      "partial[(long long)c * chunks + j] = acc;", "partial[(long long)c * chunks + j] = acc * 0.5;",
      cupy("conv2d_backward and not multi_tile")),

    # --- Triton, under the interpreter ------------------------------------------------------------------
    M("triton-adam-second-moment-not-squared", "kernels/triton/adam.py",
      "tl.full((), one_minus_beta2, dtype) * g * g", "tl.full((), one_minus_beta2, dtype) * g", triton("adam")),
    M("triton-adam-program-offset", "kernels/triton/adam.py",
      "offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)",
      "offsets = tl.program_id(0) * (BLOCK - 1) + tl.arange(0, BLOCK)", triton("adam")),
    M("triton-sampler-logvar-gradient", "kernels/triton/sampler.py",
      "tl.store(dlogvar_ptr + offsets, dz * s * eps * (0.5 * tl.exp(0.5 * logvar)), mask=mask)",
      "tl.store(dlogvar_ptr + offsets, dz * s * eps * (1.0 * tl.exp(0.5 * logvar)), mask=mask)",
      triton("reparam")),
    M("triton-bce-loss-sign", "kernels/triton/losses.py",
      "acc += tl.where(mask, softplus(x) - t * x, 0.0)", "acc += tl.where(mask, softplus(x) + t * x, 0.0)",
      triton("bce")),
    M("triton-mse-loss-not-squared", "kernels/triton/losses.py",
      "acc += diff * diff", "acc += diff * tl.abs(diff) + diff", triton("mse")),
    M("triton-leaky-relu-backward-slope-lost", "kernels/triton/activations.py",
      "return tl.where(saved > 0, dy, dy * slope)", "return tl.where(saved > 0, dy, dy)", triton("relu")),
    M("triton-batchnorm-variance-sum", "kernels/triton/batch_norm.py",
      "m2_tile = tl.sum(deviation * deviation, axis=0)", "m2_tile = tl.sum(deviation * tl.abs(deviation), axis=0)",
      triton("batch_norm")),
    M("triton-linear-column-tile", "kernels/triton/linear.py",
      "cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)",
      "cols = tl.program_id(1) * (BLOCK_N + 1) + tl.arange(0, BLOCK_N)", triton("multi_tile and linear")),
    # --- more tile offsets, each passed by the tests of small shapes and caught by the multi-tile cases
    M("triton-conv-data-gradient-channel-tile-offset", "kernels/triton/conv.py",
      "ci = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)",
      "ci = tl.program_id(1) * (BLOCK_N + 7) + tl.arange(0, BLOCK_N)", triton("multi_tile and conv2d_backward_data")),
    M("triton-conv-weight-gradient-row-tile-offset", "kernels/triton/conv.py",
      "co = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)",
      "co = tl.program_id(0) * (BLOCK_M + 3) + tl.arange(0, BLOCK_M)", triton("multi_tile and conv2d_backward_weight")),
    M("triton-batchnorm-finish-channel-tile-offset", "kernels/triton/batch_norm.py",
      "channels = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)\n    mask = channels < C",
      "channels = tl.program_id(0) * (BLOCK_C + 3) + tl.arange(0, BLOCK_C)\n    mask = channels < C",
      triton("multi_tile and batch_norm")),
    M("cupy-conv-tf32-row-tile-offset", "kernels/cupy/conv_implicit_tf32.cu",
      "const long long m0 = (long long)blockIdx.y * TC_TILE_M;",
      "const long long m0 = (long long)blockIdx.y * (TC_TILE_M + 3);", cupy("multi_tile and conv2d and implicit_tf32")),
    M("cupy-batchnorm-forward-finish-block-offset", "kernels/cupy/batch_norm_forward.cu",
      "long long chunk_len, T eps) {\n    const int c = blockIdx.x * blockDim.x + threadIdx.x;",
      "long long chunk_len, T eps) {\n    const int c = blockIdx.x * (blockDim.x + 1) + threadIdx.x;",
      cupy("multi_tile and batch_norm")),
    M("cupy-bias-backward-finish-block-offset", "kernels/cupy/bias.cu",
      "int chunks) {\n    const int c = blockIdx.x * blockDim.x + threadIdx.x;",
      "int chunks) {\n    const int c = blockIdx.x * (blockDim.x + 1) + threadIdx.x;",
      cupy("multi_tile and conv2d_backward_weight")),
    # --- what only a GPU's concurrency (or its memory) shows: caught by the sanitised host build ---------
    M("cupy-conv-implicit-no-barrier-before-overwriting-tiles", "kernels/cupy/conv_implicit.cu",
      "        __syncthreads();                       // the tiles are overwritten next step\n",
      "", SANITIZERS),
    M("cupy-conv-tf32-double-buffer-no-barrier", "kernels/cupy/conv_implicit_tf32.cu",
      "        __syncthreads();\n        copy ^= 1;", "        copy ^= 1;", SANITIZERS),
    M("cupy-reduce-no-barrier-before-reusing-warp-values", "kernels/cupy/reduce.cuh",
      "    __syncthreads();                 // a previous call's readers are done with warp_values\n",
      "", SANITIZERS),
    M("cupy-reduce-no-barrier-before-reading-warp-values", "kernels/cupy/reduce.cuh",
      "    }\n    __syncthreads();\n    if (warp == 0) {", "    }\n    if (warp == 0) {", SANITIZERS),
    M("cupy-conv-implicit-tile-load-one-row-past-bound", "kernels/cupy/conv_implicit.cu",
      "a_tile[a_kk][r] = (k_ok && row < M) ? view.a(row, ak) : T(0);",
      "a_tile[a_kk][r] = (k_ok && row <= M) ? view.a(row, ak) : T(0);", SANITIZERS),
    M("cupy-conv-implicit-tile-padding-never-written", "kernels/cupy/conv_implicit.cu",
      "a_tile[a_kk][r] = (k_ok && row < M) ? view.a(row, ak) : T(0);",
      "if (k_ok && row < M) a_tile[a_kk][r] = view.a(row, ak);", SANITISED_RESULTS),
    M("cupy-reduce-reads-warp-values-never-written", "kernels/cupy/reduce.cuh",
      "v = (lane < n_warps) ? warp_values[lane] : zero;", "v = warp_values[lane];", SANITISED_RESULTS),
    # the 64-bit index branches, which only tensors past 2^32 elements reach (tests/test_cupy_index64.py
    # lowers the threshold; the other tests never run these lines)
    M("cupy-channel-index-64-bit-element-loop-channel", "kernels/cupy/channel_index.cuh",
      "body(i, (int)((i / spatial) % channels));", "body(i, (int)((i / spatial + 1) % channels));",
      ("tests/test_cupy_index64.py",)),
    M("cupy-channel-index-64-bit-channel-loop-position", "kernels/cupy/channel_index.cuh",
      "const long long n = j / spatial;", "const long long n = j / (spatial + 1);", ("tests/test_cupy_index64.py",)),

    # --- data-parallel training (vaegan/distributed.py, vaegan/sync_batch_norm.py) -----------------------
    M("distributed-gradients-summed-not-averaged", "vaegan/distributed.py",
      "            a /= self.size\n", "", ("tests/test_distributed.py", "-k", "ranks_compute")),
    M("sync-bn-forward-mean-of-the-share", "vaegan/sync_batch_norm.py",
      "mean = comm.allreduce_sum(total) / count", "mean = total / (count // comm.size)",
      ("tests/test_distributed.py", "-k", "ranks_compute")),
    M("sync-bn-backward-sums-of-the-share", "vaegan/sync_batch_norm.py",
      "    comm.allreduce_sum(sums)\n", "    sums = sums * comm.size\n",
      ("tests/test_distributed.py", "-k", "ranks_compute")),

    # --- the interpreter's adapter (tests/triton_shim.py) puts back what a launch patched -------------------
    M("triton-shim-leaves-added-attributes", "tests/triton_shim.py",
      "                if name in vars(obj):\n                    delattr(obj, name)\n", "                pass\n",
      ("tests/test_triton_interpreted.py", "-k", "leave")),

    # --- the film's density in latent space (vaegan/latent_density.py, cli.py sample) ------------------------
    M("density-covariance-divided-by-all-codes", "vaegan/latent_density.py",
      "covs[j] = (r[:, j, None] * dz).T @ dz / nk[j]", "covs[j] = (r[:, j, None] * dz).T @ dz / len(z)",
      ("tests/test_latent_density.py",)),
    M("density-fitted-at-any-step-is-used", "vaegan/latent_density.py",
      "    if meta.get(\"step\") != step:\n", "    if False:\n", ("tests/test_latent_density.py",)),
    M("sample-ignores-the-density", "cli.py",
      "    sample_grid(model, n, out, seed, density=density)", "    sample_grid(model, n, out, seed, density=None)",
      ("tests/test_latent_density.py",)),

    # --- the grain score (vaegan/grain.py) -------------------------------------------------------------------
    M("grain-mask-from-the-reconstruction", "vaegan/grain.py",
      "    flat = flat_mask(lap_o)\n", "    flat = flat_mask(laplacian(reconstruction))\n", ("tests/test_grain.py",)),

    # --- the NumPy backend's allocation policy (kernels/numpy_ref/heap.py) ---------------------------------
    M("heap-trim-threshold-alone", "kernels/numpy_ref/heap.py",
      "return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(", "return mallopt(",
      ("tests/test_numpy_ref_heap.py",)),

    # --- the Laplacian error (vaegan/laplacian_error.py) and its place in the step ----------------------
    M("laplacian-gradient-applied-once", "vaegan/laplacian_error.py",
      "return laplacian(laplacian(d)) * (2.0 / d.size)", "return laplacian(d) * (2.0 / d.size)",
      ("tests/test_laplacian_error.py", "tests/test_torch_oracle.py")),
    M("laplacian-weight-ignored", "vaegan/step.py",
      "laplacian_error_gradient(x_rec, x) * tc.laplacian_weight", "laplacian_error_gradient(x_rec, x)",
      ("tests/test_torch_oracle.py",)),
    # --- the output filter (vaegan/denoise.py) and the frames that pass it ------------------------------
    M("denoise-range-term-dropped", "vaegan/denoise.py",
      " + range_scale * (d * d).sum(axis=1, keepdims=True))", ")",
      ("tests/test_denoise.py", "-k", "definition or edge"), "a plain 3x3 Gaussian blur: edges smeared"),
    M("denoise-sigma-in-the-wrong-units", "vaegan/denoise.py",
      "s = sigma * 2.0 / 255.0", "s = sigma / 255.0", ("tests/test_denoise.py", "-k", "definition")),
    M("denoise-frames-skip-the-filter", "vaegan/model.py",
      "bilateral(y, self.denoise, self.K.xp)", "y", ("tests/test_denoise.py", "-k", "draws or range")),
    M("denoise-run-range-ignored-on-load", "vaegan/reconstruct.py",
      "meta.get(\"run\", {}).get(\"denoise\", 0.0) if denoise is None else denoise", "denoise or 0.0",
      ("tests/test_denoise.py", "-k", "draws or range")),
]


# --- the runner -----------------------------------------------------------------------------------

def project_files():
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                         check=True, capture_output=True).stdout
    return [p for p in out.decode().split("\0") if p and os.path.isfile(os.path.join(ROOT, p))]


def copy_project(dest):
    for rel in project_files():
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), target)


def environment(copy):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=copy)
    return env


def run_pytest(copy, args, timeout):
    """(passed?, seconds, the last lines of output); a timeout counts as a failure (caught)."""
    t0 = time.time()
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args]
    try:
        done = subprocess.run(cmd, cwd=copy, env=environment(copy), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, time.time() - t0, f"timed out after {timeout} s"
    lines = (done.stdout + done.stderr).strip().splitlines()
    failed = [l for l in lines if l.startswith(("FAILED", "ERROR"))]   # which test caught it, with -x the one
    return done.returncode == 0, time.time() - t0, "\n".join(failed[:1] + lines[-1:])


def apply(copy, mutant):
    """Apply the edits; returns {file: original text}, or raises ValueError naming a stale edit."""
    originals = {}
    try:
        for rel, old, new in mutant.edits:
            path = os.path.join(copy, rel)
            text = originals.get(rel) or open(path).read()
            originals.setdefault(rel, text)
            current = open(path).read()
            count = current.count(old)
            if count != 1:
                raise ValueError(f"{rel}: the text to replace occurs {count} times, not once: {old!r}")
            with open(path, "w") as f:
                f.write(current.replace(old, new))
    except ValueError:
        restore(copy, originals)
        raise
    return originals


def restore(copy, originals):
    for rel, text in originals.items():
        with open(os.path.join(copy, rel), "w") as f:
            f.write(text)


def union_of_tests(mutants):
    """One pytest invocation covering every mutant's tests (paths, -k expressions or-ed per file)."""
    by_file = {}
    for m in mutants:
        paths, k = [a for a in m.tests if a.endswith(".py")], None
        if "-k" in m.tests:
            k = m.tests[m.tests.index("-k") + 1]
        for p in paths:
            by_file.setdefault(p, set()).add(k)
    return by_file


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("words", nargs="*", help="run only mutants whose name contains one of these")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of the tests")
    ap.add_argument("--timeout", type=int, default=TIMEOUT_S, help="seconds per mutant's test run")
    a = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if not a.words or any(w in m.name for w in a.words)]
    if a.list:
        stale = 0
        for m in chosen:
            counts = [open(os.path.join(ROOT, rel)).read().count(old) for rel, old, _ in m.edits]
            state = "ok   " if all(c == 1 for c in counts) else "STALE"
            stale += state == "STALE"
            print(f"{state} {m.name}: {', '.join(sorted({e[0] for e in m.edits}))} -> pytest {' '.join(m.tests)}")
        return 1 if stale else 0
    t_start = time.time()
    results = []
    with tempfile.TemporaryDirectory(prefix="vaegan-mutants-") as copy:
        copy_project(copy)
        if not a.no_baseline:
            for path, ks in union_of_tests(chosen).items():
                args = [path] if None in ks else [path, "-k", " or ".join(f"({k})" for k in sorted(ks))]
                ok, secs, tail = run_pytest(copy, args, a.timeout * 2)
                print(f"baseline  {'passes' if ok else 'FAILS '}  {secs:6.1f} s  pytest {' '.join(args)}", flush=True)
                if not ok:
                    print(tail)
                    print("the unmutated project fails these tests: fix that first (or --no-baseline)")
                    return 2
        for m in chosen:
            try:
                originals = apply(copy, m)
            except ValueError as e:
                results.append((m, "STALE", 0.0, str(e)))
                print(f"STALE     {m.name}: {e}", flush=True)
                continue
            try:
                ok, secs, tail = run_pytest(copy, m.tests, a.timeout)
            finally:
                restore(copy, originals)
            verdict = "missed" if ok else "caught"
            results.append((m, verdict, secs, tail))
            print(f"{verdict:8}  {secs:6.1f} s  {m.name}", flush=True)
            if not ok:
                print(f"          by {tail.splitlines()[0][:160]}", flush=True)
            if ok:
                print(f"          pytest {' '.join(m.tests)} passed with this bug: {tail.splitlines()[-1] if tail else ''}")
    caught = sum(1 for r in results if r[1] == "caught")
    print(f"\n{caught} of {len(results)} mutants caught in {time.time() - t_start:.0f} s "
          f"(load average {os.getloadavg()[0]:.1f})")
    for m, verdict, _, why in results:
        if verdict != "caught":
            print(f"  {verdict}: {m.name} ({', '.join(e[0] for e in m.edits)})")
    return 0 if caught == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
