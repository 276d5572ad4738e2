"""Recipes: named sets of training settings, the CLI's `--recipe` (RunOptions and TrainConfig fields).

    default   what `python cli.py train` uses: chosen from the quality study in bench/README.md
              ("Quality study") so that the sample clip is recognisable after a few minutes on a CPU
    larsen    the paper's losses (Larsen et al. 2016, Algorithm 1, with the seed's noise annealing):
              the learned similarity alone as the reconstruction error, the minimax generator loss at
              weight 1, the prior pass updating batch-norm statistics, KL at Larsen's balance
    seed      this project's defaults before the quality study (non-saturating generator loss), kept
              so the study can show what changed

The default recipe is the one place its numbers are written: TrainConfig (vaegan/step.py) and RunOptions
(vaegan/train.py) read their defaults from it, so TrainConfig() is the default recipe's step.
vaegan.train.settings(recipe, **overrides) turns any recipe into a run's settings; a setting given on
the command line overrides the recipe's. This module imports nothing, so that both can read it.
"""

SAMPLE_EPOCHS = 40      # `python cli.py train` with no film: passes over the sample clip (600 steps)
DENSITY_COMPONENTS = 10  # Gaussians in the film's density (vaegan/latent_density.py), which `train` fits and
                         # `sample` draws from: bench/README.md, "The film's density"

RECIPES = {
    # bench/README.md, "Quality study": on the sample clip at 300 steps, each change below measured; then
    # its "Clean pictures" part: the pixel weight 10 -> 30, the KL weight auto -> auto*30, averaged
    # weights at 0.95 and the adversarial weight 1/3 -> 0.1, measured at 150-900 steps on the sample clip,
    # a static-camera clip and carphone; then its "Grain" part: the Laplacian error at 0.5 beside the pixel
    # error, measured at 600 steps on the sample clip, carphone and bigbuckbunny; then "The output filter":
    # a bilateral filter of 6 grey levels on every frame drawn, measured on the same three films
    "default": dict(gen_loss="minimax", gen_weight=0.1, pixel_weight=30.0, prior_bn_stats=False,
                    kl_weight="auto*30", gamma=2.5, lr=1e-3, batch_size=16,
                    noise_schedule="1.0@0,0.5@0.6,0.1@1.0",
                    ema=0.95, lr_schedule="constant", kl_warmup=0.0, prior_weight=1.0, laplacian_weight=0.5,
                    denoise=6.0),
    "larsen": dict(gen_loss="minimax", gen_weight=1.0, pixel_weight=0.0, prior_bn_stats=True,
                   kl_weight="auto", gamma=2.5, lr=2e-4, batch_size=16,
                   noise_schedule="1.0@0,0.5@0.6,0.1@1.0",
                   ema=0.0, lr_schedule="constant", kl_warmup=0.0, prior_weight=1.0, laplacian_weight=0.0,
                   denoise=0.0),
    "seed": dict(gen_loss="nonsaturating", gen_weight=1.0, pixel_weight=0.0, prior_bn_stats=True,
                 kl_weight="auto", gamma=2.5, lr=2e-4, batch_size=16,
                 noise_schedule="1.0@0,0.5@0.6,0.1@1.0",
                 ema=0.0, lr_schedule="constant", kl_warmup=0.0, prior_weight=1.0, laplacian_weight=0.0,
                 denoise=0.0),
}
