"""lslib — LandSegmenter for notebooks: text-prompted land-use/land-cover mapping for any sensor.

Layers (dependencies point one way)::

    taxonomy, data  <-  model  <-  fusion, inference, training  <-  mapui  <-  notebooks

``import lslib`` is cheap: heavy dependencies (torch, matplotlib, ipyleaflet) are imported by the
submodules that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
