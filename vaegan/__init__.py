"""The VAE-GAN of *Autoencoding Blade Runner*, on a minimal framework of our own (see nn.py)."""
__version__ = "0.1.0"
