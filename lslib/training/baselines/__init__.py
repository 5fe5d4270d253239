"""Closed-set baselines trained on the same weak labels as LandSegmenter (one band set, one product).

:class:`PixelForest` (a random forest on per-pixel features, :mod:`~lslib.training.baselines.forest`),
:class:`ClosedSetNet` (a tiny U-Net with a fixed class head, :mod:`~lslib.training.baselines.cnn`) and
:func:`evaluate_baseline`, which scores either on the protocol LandSegmenter is scored on.
"""

from __future__ import annotations

from lslib.training.baselines.cnn import ClosedSetNet
from lslib.training.baselines.forest import ClosedSetModel, PixelForest, evaluate_baseline, to_taxonomy

__all__ = ["ClosedSetModel", "ClosedSetNet", "PixelForest", "evaluate_baseline", "to_taxonomy"]
