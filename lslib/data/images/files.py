"""Image files (GeoTIFF/COG/JP2/PNG/JPEG): what a file holds and says about its values, before calibration.

:func:`open_file` reads a file's header and metadata (band descriptions, ``wavelength_um`` tags, GDAL
scale/offset, nodata, Sentinel-2 tags, lslib's ``sensor`` tag) and opens its pixels (lazily with ``chunks``) as
a :class:`~lslib.data.images.calibrate.RawImage`: band names by the precedence of the package docstring, the
sensor stated or implied, and how to find the Sentinel-2 baseline offset. A file without georeferencing is put
on a pixel grid with a :class:`PixelCoordinatesWarning`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rioxarray
import xarray as xr

from lslib.data.bands import Bands, known_band, resolve_bands
from lslib.data.images.calibrate import RawImage, has_radiometry
from lslib.data.images.diagnose import alpha_band_error, multi_page_error, no_band_metadata_error, not_utf8_metadata
from lslib.data.images.probe import file_overview
from lslib.data.images.radiometry import s2_offset_from_tags

__all__ = ["PIXEL_SUFFIXES", "PixelCoordinatesWarning", "open_file"]

PIXEL_SUFFIXES = (".png", ".jpg", ".jpeg")


class PixelCoordinatesWarning(UserWarning):
    """The input has no georeferencing: the map is in pixel coordinates (no CRS, areas in pixels only)."""


@dataclass
class _Header:
    """What :func:`open_file` reads from a file's header and metadata."""

    count: int
    dtype: np.dtype
    descriptions: list[str]
    tag_waves: np.ndarray
    tags: dict[str, str]
    scales: list[Any]
    offsets: list[Any]
    nodata: list[Any]
    alpha: list[int]
    pages: list[str]
    page: str


def _pixel_grid(da: xr.DataArray, path: Path) -> xr.DataArray:
    warnings.warn(
        f"{path.name} has no georeferencing (no CRS, no geotransform): it is mapped in pixel coordinates. The "
        "outputs have no CRS and areas are reported in pixels only; use a GeoTIFF to get a map you can overlay.",
        PixelCoordinatesWarning,
        stacklevel=4,
    )
    h, w = da.sizes["y"], da.sizes["x"]
    return da.assign_coords(y=np.arange(h) + 0.5, x=np.arange(w) + 0.5)


def _s2_file_offset(path: Path, tags: dict[str, str], names: Sequence[str]) -> tuple[float, str]:
    from lslib.data.readers.s2meta import detect_boa_offset

    tagged = s2_offset_from_tags(tags)
    if tagged is not None:
        return tagged, "the file's tags"
    per_band, how = detect_boa_offset(path)
    default = max(per_band.values(), default=0)
    values = {per_band.get(n, default) for n in names}
    dn = max(values) if values else 0
    return 0.0 - dn * 1e-4, how


def _read(path: Path, chunks: dict[str, int] | None) -> tuple[_Header, Any, bool]:
    """``(header, opened, not_georeferenced)``: the file's metadata and its pixels (lazy with ``chunks``)."""
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.errors import NotGeoreferencedWarning

    from lslib.data.readers.common import readable

    try:
        with readable(path), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                count = src.count
                head = _Header(
                    count=count, dtype=np.dtype(src.dtypes[0]), descriptions=[d or "" for d in src.descriptions],
                    tag_waves=np.array([float(src.tags(i + 1).get("wavelength_um", "nan")) for i in range(count)]),
                    tags={**src.tags(), **src.tags(1)}, scales=list(src.scales), offsets=list(src.offsets),
                    nodata=list(src.nodatavals),
                    alpha=[i + 1 for i, c in enumerate(src.colorinterp) if c == ColorInterp.alpha],
                    pages=list(src.subdatasets), page="page.tif" if src.crs is not None else "page.png --driver PNG",
                )  # fmt: skip
            opened = rioxarray.open_rasterio(path, chunks=chunks, masked=False, mask_and_scale=False)
    except UnicodeDecodeError as exc:
        raise not_utf8_metadata(path, exc) from None
    return head, opened, any(issubclass(w.category, NotGeoreferencedWarning) for w in caught)


def _name_bands(
    path: Path, head: _Header, bands: Bands, sensor: str | None, pixel: bool
) -> tuple[list[str], np.ndarray, str | None, str]:
    """``(names, wavelengths, sensor, implied)``: the file's bands by the precedence of the package docstring."""
    count, descriptions = head.count, head.descriptions
    implied, chosen = "", sensor
    try:
        if bands is not None or sensor is not None:
            names, waves = resolve_bands(count, bands=bands, sensor=sensor, stored=descriptions)
        elif np.isfinite(head.tag_waves).all():
            names = [d or str(i + 1) for i, d in enumerate(descriptions)]
            waves = head.tag_waves
        elif descriptions and all(known_band(d, None) for d in descriptions):
            names, waves = resolve_bands(count, bands=descriptions)
        elif count == 12 and np.issubdtype(head.dtype, np.integer) and not pixel:
            chosen, implied = "s2-l2a", "Sentinel-2 L2A (12 unnamed integer bands, L2A band order)"
            names, waves = resolve_bands(count, sensor=chosen)
        else:
            raise no_band_metadata_error(path, count)
    except ValueError as exc:
        if not head.alpha:
            raise
        raise alpha_band_error(path, count, head.alpha, pixel) from exc
    return names, waves, chosen, implied


def _kept_attrs(head: _Header) -> dict[str, Any]:
    """The file's ``sensor``, ``gsd`` and ``taxonomy`` tags, and ``radiometry`` of float ``normalized`` data."""
    keep: dict[str, Any] = {k: v for k, v in head.tags.items() if k in ("sensor", "gsd", "taxonomy")}
    if "gsd" in keep:
        try:
            keep["gsd"] = float(keep["gsd"])
        except ValueError:
            keep.pop("gsd")
    units = head.tags.get("units")
    if units == "normalized" and not np.issubdtype(head.dtype, np.integer):
        keep["radiometry"] = "display"
    return keep


def open_file(path: Path, bands: Bands, sensor: str | None, chunks: dict[str, int] | None) -> RawImage:
    """The image file at ``path`` as a :class:`~lslib.data.images.calibrate.RawImage` (pixels lazy with ``chunks``).

    Called directly by the public openers: the :class:`PixelCoordinatesWarning` it emits points at their caller.

    Raises:
        ValueError: several images in the file, no CRS on a georeferenced file, unknown/miscounted bands, an
            alpha band, metadata that is not UTF-8.
    """
    from lslib.data.readers.common import crs_error

    head, opened, not_georef = _read(path, chunks)
    if not isinstance(opened, xr.DataArray):
        raise multi_page_error(path, head.pages, head.page)
    da = opened
    da.attrs, da.encoding = {}, {}
    pixel = False
    if da.rio.crs is None:
        if not_georef or path.suffix.lower() in PIXEL_SUFFIXES:
            da, pixel = _pixel_grid(da, path), True
        else:
            raise crs_error(str(path))
    names, waves, chosen, implied = _name_bands(path, head, bands, sensor, pixel)
    scales, offsets, tags = head.scales, head.offsets, head.tags
    tagged = any(s not in (None, 1.0) for s in scales) or any(o not in (None, 0.0) for o in offsets)
    if chosen is None and has_radiometry(str(tags.get("sensor", ""))):
        chosen = str(tags["sensor"])  # lslib's own sensor tag
    elif chosen is None and s2_offset_from_tags(tags) is not None:
        chosen = "s2-l2a"  # Sentinel-2 metadata tags (BOA_ADD_OFFSET, PROCESSING_BASELINE, PRODUCT_ID)
    return RawImage(
        da=da, what=path.name, names=names, waves=waves, sensor=chosen, implied=implied,
        scales=[1.0 if s is None else float(s) for s in scales] if tagged else None,
        offsets=[0.0 if o is None else float(o) for o in offsets] if tagged else None,
        tag_source="gdal tags (scale/offset)", nodata=[None if v is None else float(v) for v in head.nodata],
        s2_offset=lambda: _s2_file_offset(path, tags, names), raw_overview=lambda: file_overview(path),
        attrs=_kept_attrs(head), pixel_grid=pixel,
    )  # fmt: skip
