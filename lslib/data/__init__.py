"""Data layer: manifests and fetching, sensor band tables, georeferenced readers, synthetic scenes.

Nothing here imports :mod:`lslib.model`.

The image-input contract is exported here (loaded on first use, so ``import lslib.data.fetch`` stays light):
:func:`open_image` (any image source -> ``(band, y, x)`` float32 physical values with wavelengths and
``attrs["radiometry"]``), :func:`assign_bands`, :class:`ImageInputError`, :class:`PixelCoordinatesWarning`,
:class:`RadiometryAssumedWarning` and :data:`SENSOR_PRESETS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lslib.data.images import (
        SENSOR_PRESETS,
        ImageInputError,
        PixelCoordinatesWarning,
        RadiometryAssumedWarning,
        assign_bands,
        open_image,
    )

__all__ = [
    "SENSOR_PRESETS",
    "ImageInputError",
    "PixelCoordinatesWarning",
    "RadiometryAssumedWarning",
    "assign_bands",
    "open_image",
]

_EXPORTS = {
    "SENSOR_PRESETS": "lslib.data.images",
    "PixelCoordinatesWarning": "lslib.data.images",
    "assign_bands": "lslib.data.images",
    "open_image": "lslib.data.images",
    "ImageInputError": "lslib.data.images",
    "RadiometryAssumedWarning": "lslib.data.images",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lslib.data' has no attribute {name!r}")
