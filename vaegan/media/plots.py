"""Pictures a person would rather look at than read: loss curves and per-frame error over a film."""
import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

CURVES = (("kl", "L_prior (KL)"), ("sim", "L_sim (learned similarity)"), ("disc", "L_GAN (discriminator)"),
          ("gen", "decoder's adversarial loss"), ("pixel", "L_pixel (pixel MSE)"), ("sigma", "noise sigma"))


def plot_losses(history, path):
    """history: the metrics records (dicts with 'step' and the loss names). One panel per curve.
    Roll-backs (records with an "event", vaegan/rollback.py) are dashed red lines; a step that was run
    again after one is drawn as it ran the last time."""
    events = [r for r in history if "event" in r]
    history = sorted({r["step"]: r for r in history if "event" not in r}.values(), key=lambda r: r["step"])
    if not history:
        return
    steps = [r["step"] for r in history]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6), sharex=True)
    for ax, (key, title) in zip(axes.flat, CURVES):
        ax.plot(steps, [r.get(key, float("nan")) for r in history], lw=0.8)
        for e in events:
            ax.axvline(e["step"], color="tab:red", ls="--", lw=0.8)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("step")
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.09, top=0.95, wspace=0.2, hspace=0.3)  # tight_layout costs seconds
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_frame_error(times, psnr, path, title):
    """PSNR of each reconstructed frame along the film's timeline: where the model remembers."""
    fig, ax = plt.subplots(figsize=(12, 3.5))
    ax.plot(times, psnr, lw=0.8)
    ax.set_xlabel("time in the film (s)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.15, top=0.9)
    fig.savefig(path, dpi=90)
    plt.close(fig)
