"""Crosswalks between land-cover products and label remapping, re-exported from :mod:`lslib.taxonomy`.

They live there (a crosswalk is read from the product tables, and :meth:`lslib.taxonomy.Taxonomy.lut` uses
it); this module keeps ``from lslib.crosswalk import crosswalk, remap`` working. Precedence: exact code
maps (``parent`` links such as CORINE level 3 -> 2 -> 1 or NLCD -> its generalisation, ``derived_from``
recodes such as TerraMesh -> Esri LULC, inverted for the opposite direction), else the shared hub
concepts each class lists (rules in ``crosswalks.yaml``).
"""

from __future__ import annotations

from lslib.taxonomy import class_histogram, crosswalk, remap

__all__ = ["class_histogram", "crosswalk", "remap"]
