"""The loopback STAC API: a real STAC API (``rustac serve``) over the real sample files, offline.

Used by ``lslib las serve-local``, LAS-mini (the default model's training set) and the tests, as the
offline twin of Planetary Computer: :mod:`~lslib.data.local_stac.catalog` builds the catalog and starts
the server; :mod:`~lslib.data.local_stac.sources` and :mod:`~lslib.data.local_stac.worldcereal` turn
sample files into items; :mod:`~lslib.data.local_stac.meta` holds their grids and footprints;
:mod:`~lslib.data.local_stac.server` runs the server process (orphan-free).
"""

from __future__ import annotations

from lslib.data.local_stac.catalog import build_local_catalog, local_stac
from lslib.data.local_stac.server import LocalStacServer

__all__ = ["LocalStacServer", "build_local_catalog", "local_stac"]
