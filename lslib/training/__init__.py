"""Training on LAS: datasets, losses, trainer, checkpoints, evaluation, :mod:`~lslib.training.baselines`."""
