"""LAS (LAnd Segment): the weak-label training set, built from any STAC API, read top to bottom.

A build follows the modules in this order:

1. :mod:`~lslib.data.las.recipes` - a subset as data (``data_manifests/las/*.yaml``): collections, bands,
   label product, chip size, quality rules, sampling.
2. :mod:`~lslib.data.las.sampling` - reproducible, stratified chip locations (global strata, label
   rasters, STAC footprints).
3. :mod:`~lslib.data.las.search` - opening the STAC API, searching the items that cover a chip, chip grids.
4. :mod:`~lslib.data.las.cut` - one chip: load image + weak label on the chip grid, check it, write it.
5. :mod:`~lslib.data.las.chips` - the chip store on disk (GeoTIFFs, records, resumable status).
6. :mod:`~lslib.data.las.build` - the whole build: points, then chips in parallel with Dask, resumable.
7. :mod:`~lslib.data.las.report` - written / rejected / failed with reasons, class frequencies, an index.

Before an online build, :mod:`~lslib.data.las.check` (``lslib las check``) signs and loads one item per
collection of a recipe and reports what the API serves.

The public names are exported here and imported on first use (``import lslib.data.las.recipes`` stays light).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lslib.data.las.build import BuildSummary, build_las, dask_client, sample_subset
    from lslib.data.las.chips import Chip, CorruptChipError, list_chips, read_chip
    from lslib.data.las.recipes import Recipe, list_recipes, load_recipe, parse_recipe
    from lslib.data.las.report import NotALasBuildError, las_report
    from lslib.data.las.search import check_stac, search_items

_EXPORTS = {
    "BuildSummary": "build", "build_las": "build", "dask_client": "build", "sample_subset": "build",
    "Chip": "chips", "CorruptChipError": "chips", "list_chips": "chips", "read_chip": "chips",
    "Recipe": "recipes", "list_recipes": "recipes", "load_recipe": "recipes", "parse_recipe": "recipes",
    "NotALasBuildError": "report", "las_report": "report",
    "check_stac": "search", "search_items": "search",
}
__all__ = [
    "BuildSummary", "Chip", "CorruptChipError", "NotALasBuildError", "Recipe", "build_las", "check_stac", "dask_client",
    "las_report", "list_chips", "list_recipes", "load_recipe", "parse_recipe", "read_chip", "sample_subset",
    "search_items",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
