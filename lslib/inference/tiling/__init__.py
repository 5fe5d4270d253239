"""Large-area mapping: any-size input -> class-map and confidence COGs, memory bounded by the block.

Read in this order: :mod:`~lslib.inference.tiling.large_area` (:func:`map_large_area`, the entry
point), :mod:`~lslib.inference.tiling.sources` (opening any input lazily),
:mod:`~lslib.inference.tiling.geometry` (windows, blocks, blending weights),
:mod:`~lslib.inference.tiling.windows` (one block: windows -> predictor -> class codes) and
:mod:`~lslib.inference.tiling.parallel` (running the blocks in order, in threads or on Dask). The
files it writes are :mod:`lslib.inference.outputs`.
"""

from __future__ import annotations

from lslib.inference.tiling.large_area import MapResult, map_large_area, model_checksum

__all__ = ["MapResult", "map_large_area", "model_checksum"]
