"""Land-cover products as data: class codes, names, text prompts, colours, crosswalks and remapping.

The tables live in ``lslib/resources/taxonomies.yaml`` (products) and ``crosswalks.yaml`` (the shared
hub vocabulary); they are parsed once and cached. Class *names* are the model's interface (text
prompts), class *codes* are what label rasters store, and ``nodata`` is a label value that is not a class.

Two modules, read in this order: :mod:`~lslib.taxonomy.products` (the classes :class:`Taxonomy`,
:class:`LandCoverClass` and :class:`HubConcept`, the registry read from the YAML tables, and the lookups
:func:`get_taxonomy`, :func:`list_taxonomies`, :func:`hub_vocabulary`) and :mod:`~lslib.taxonomy.crosswalks`
(:func:`crosswalk`, :func:`lut`, :func:`remap`, :func:`class_histogram`), which reads the registry;
``products`` never imports ``crosswalks``.

Crosswalks between products come from, in order of precedence: exact code maps (``parent`` links such as
CORINE level 3 -> 2 -> 1 or NLCD -> its 8-class generalisation, and ``derived_from`` recodes such as
TerraMesh -> Esri LULC, inverted for the opposite direction), else the shared hub concepts each class
lists (see ``crosswalks.yaml`` for the matching rules). A source class may map to several target classes;
:func:`remap` and :func:`lut` then raise or take the best-ranked one (``ambiguous="first"``).
"""

from __future__ import annotations

from lslib.taxonomy.crosswalks import Ambiguity, class_histogram, crosswalk, lut, remap
from lslib.taxonomy.products import (
    RGBA,
    HubConcept,
    LandCoverClass,
    Taxonomy,
    ancestors,
    get_taxonomy,
    hub_vocabulary,
    list_taxonomies,
    normalise_name,
    registry,
    resolve_taxonomy,
    short_list,
)

__all__ = [
    "RGBA",
    "Ambiguity",
    "HubConcept",
    "LandCoverClass",
    "Taxonomy",
    "ancestors",
    "class_histogram",
    "crosswalk",
    "get_taxonomy",
    "hub_vocabulary",
    "list_taxonomies",
    "lut",
    "normalise_name",
    "registry",
    "remap",
    "resolve_taxonomy",
    "short_list",
]
