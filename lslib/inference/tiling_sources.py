"""Open any input of large-area mapping lazily as a ``(band, y, x)`` DataArray with wavelengths.

A thin door over :func:`lslib.data.open_image`, the one image-input contract shared with the map UI and the
Python API (same file + same flags = same array): GeoTIFF/COG/JP2, PNG/JPEG without georeferencing (pixel
coordinates, with a :class:`PixelCoordinatesWarning`), a Sentinel-2 band folder, a STAC item or a DataArray;
band names from ``bands=``/``sensor=``/the file; DN -> physical values from ``scale=``/``offset=``, the
file's scale tags, the sensor preset or the uint8 display convention; a plausibility check on an overview.
Nothing is read into memory here but that overview: pixels are read window by window later.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (the .rio accessor)
import xarray as xr

from lslib.data.images import PIXEL_SUFFIXES, Bands, PixelCoordinatesWarning, open_image

__all__ = ["PIXEL_SUFFIXES", "Bands", "PixelCoordinatesWarning", "open_source", "source_fingerprint"]


def open_source(
    source: Any,
    *,
    bands: Bands = None,
    sensor: str | None = None,
    chunk: int = 1024,
    scale: float | None = None,
    offset: float | None = None,
) -> tuple[xr.DataArray, bool, str]:
    """``(da, pixel_coordinates, description)`` for any input of :func:`lslib.data.open_image`, lazily.

    ``da`` is :func:`lslib.data.open_image` ``(source, bands=, sensor=, scale=, offset=, chunks=chunk)``;
    ``pixel_coordinates`` is True when it has no CRS (a DataArray without one warns here).

    Raises:
        FileNotFoundError: a path that does not exist.
        ImageInputError: implausible values (DN as reflectance, linear SAR, ...): the message names the flag.
        ValueError: no CRS on a georeferenced file, unknown bands, missing wavelengths, wrong dims.
    """
    da = open_image(source, bands=bands, sensor=sensor, scale=scale, offset=offset, chunks=chunk)
    pixel = da.rio.crs is None
    if isinstance(source, xr.DataArray):
        if pixel:
            warnings.warn(
                "the DataArray has no CRS: the map is in pixel coordinates (areas in pixels only); set one with "
                "da.rio.write_crs('EPSG:…') to get a georeferenced map",
                PixelCoordinatesWarning,
                stacklevel=2,
            )
        return da, pixel, f"DataArray {source.name or ''} {dict(da.sizes)}".replace("  ", " ")
    from lslib.data.stac_items import is_stac_item

    if is_stac_item(source):
        label = getattr(source, "id", None) or (source.get("id") if isinstance(source, Mapping) else str(source))
        return da, False, f"STAC item {label}"
    return da, pixel, str(Path(source).expanduser().resolve())


def source_fingerprint(source: Any, da: xr.DataArray) -> str:
    """A cheap identity of the input (paths with sizes and mtimes, or the array's dask name / content hash)."""
    h = hashlib.sha256()
    if isinstance(source, str | os.PathLike) and Path(source).exists():
        p = Path(source).resolve()
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            st = f.stat()
            h.update(f"{f}:{st.st_size}:{st.st_mtime_ns}".encode())
    elif isinstance(source, xr.DataArray) and source.chunks is None and source.size * 4 < 256 << 20:
        h.update(np.ascontiguousarray(np.asarray(source.values, dtype=np.float32)).tobytes())
    else:
        from dask.base import tokenize

        h.update(tokenize(da.data if da.chunks is not None else da).encode())
        if hasattr(source, "to_dict"):
            h.update(json.dumps(source.to_dict(), sort_keys=True, default=str).encode())
    h.update(repr(dict(da.sizes)).encode())
    h.update(repr([str(b) for b in da["band"].values]).encode())
    h.update(repr(np.asarray(da["wavelength"].values).round(6).tolist()).encode() if "wavelength" in da.coords else b"")
    return h.hexdigest()
