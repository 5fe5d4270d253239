"""Training on LAS: datasets, losses, trainer, checkpoints and evaluation."""
