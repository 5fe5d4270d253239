"""lslib — LandSegmenter for notebooks: text-prompted land-use/land-cover mapping for any sensor.

Layers (dependencies point one way; ``tests/test_layers.py`` holds the table and enforces it)::

    vocabulary (taxonomy, crosswalk, prompt_set, atomic, configtools)  <-  data
    vocabulary  <-  model  <-  fusion, metrics
    data, fusion  <-  inference  <-  training
                      inference  <-  mapui (and viz)
    all of these  <-  app (CLI, demo, the default model: training.default)  <-  notebooks

``import lslib`` is cheap: heavy dependencies (torch, matplotlib, ipyleaflet) are imported by the
submodules that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
