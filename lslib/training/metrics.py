"""Segmentation metrics, re-exported from :mod:`lslib.metrics` (their home since training and the map app
both use them; ``from lslib.training.metrics import ConfusionMatrix`` keeps working)."""

from __future__ import annotations

from lslib.metrics import ConfusionMatrix, Normalize, predict_classes

__all__ = ["ConfusionMatrix", "Normalize", "predict_classes"]
