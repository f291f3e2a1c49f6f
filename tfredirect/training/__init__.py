"""Training: the pair-swap GAN, its callbacks and the training loop behind tools/train.py."""

from tfredirect.training.gan import RedirectionGAN

__all__ = ["RedirectionGAN"]
