"""Shared helpers of the raster readers: opening files, grids, resampling, the output convention.

The output convention (see :mod:`lslib.data.readers`): an image is an ``xarray.DataArray`` with
dims ``("band", "y", "x")``, a ``band`` coordinate of canonical band names, a ``wavelength``
coordinate (µm) on the band dim, CRS and transform through rioxarray, attrs ``sensor``, ``gsd``
(metres) and ``units``, and NaN as nodata for float images.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import rioxarray
import xarray as xr
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError

__all__ = [
    "RasterReadError",
    "crs_error",
    "existing_path",
    "finish_image",
    "grid_template",
    "gsd_metres",
    "open_raster",
    "readable",
    "require_crs",
    "resample_onto",
    "same_grid",
]

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2")


class RasterReadError(RasterioIOError):
    """A raster file exists but GDAL cannot read it (corrupt, truncated, not a raster)."""


@contextmanager
def readable(source: str | Path) -> Iterator[None]:
    """Turn GDAL's read errors inside the block into :class:`RasterReadError` saying what to do."""
    try:
        yield
    except RasterReadError:
        raise
    except RasterioIOError as exc:
        if not Path(source).exists():
            raise
        raise RasterReadError(
            f"cannot read {source}: {exc}. The file is damaged or incomplete (an interrupted download or copy?): "
            "fetch or export it again (`lslib data fetch` re-checks sample files against their sha256)"
        ) from exc


def existing_path(source: str | Path, what: str = "raster") -> Path:
    """``source`` as a Path, or FileNotFoundError saying what is missing and what to do."""
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"{what} not found: {path} does not exist. Check the path, or fetch the sample first "
            "(lslib.data.fetch.fetch('<dataset>/<file>') resolves it from the mirror named by "
            "$LSLIB_DATA_MIRROR or from its origin)."
        )
    return path


def crs_error(where: str) -> ValueError:
    """The error raised for rasters without a CRS, with instructions to set one."""
    return ValueError(
        f"{where} has no CRS, so it cannot be placed on the map or aligned with labels. Set the CRS "
        "on the DataArray with `da = da.rio.write_crs('EPSG:32633')` (use the raster's real EPSG "
        "code), or fix the file with `rioxarray.open_rasterio(path).rio.write_crs('EPSG:…')"
        ".rio.to_raster(fixed_path)`."
    )


def require_crs(da: xr.DataArray, where: str) -> CRS:
    """Return ``da.rio.crs`` or raise :func:`crs_error`."""
    crs = da.rio.crs
    if crs is None:
        raise crs_error(where)
    return crs


def open_raster(path: Path, *, chunks: int | dict[str, int] | None = None) -> xr.DataArray:
    """Open a raster file lazily as ``(band, y, x)`` with its raw dtype (no masking, no scaling).

    Raises:
        ValueError: when the file has no CRS.
        RasterReadError: the file exists but is not a readable raster (says what to do).
    """
    with readable(path):
        opened = rioxarray.open_rasterio(path, chunks=chunks, masked=False, mask_and_scale=False)
    if not isinstance(opened, xr.DataArray):
        raise ValueError(f"{path} holds several subdatasets; open one of them (GDAL subdataset name)")
    require_crs(opened, str(path))
    return opened


def same_grid(a: xr.DataArray, b: xr.DataArray, *, tol: float = 1e-6) -> bool:
    """True when ``a`` and ``b`` share CRS, shape and transform (to ``tol`` of a pixel)."""
    if a.rio.shape != b.rio.shape or a.rio.crs != b.rio.crs:
        return False
    ta, tb = a.rio.transform(), b.rio.transform()
    pixel = max(abs(ta.a), abs(ta.e))
    return all(
        math.isclose(p, q, rel_tol=0.0, abs_tol=tol * pixel) for p, q in zip(ta[:6], tb[:6], strict=True)
    )


def gsd_metres(da: xr.DataArray) -> float:
    """Ground sampling distance of ``da``'s grid in metres (geometric mean of x and y pixel size).

    For a geographic CRS the pixel size in degrees is converted at the grid's centre latitude
    (111 320 m per degree of longitude at the equator times cos(latitude), 110 574 m per degree
    of latitude), so a 10 m Sentinel-2 grid stored in EPSG:4326 reports about 10 m.
    """
    crs = require_crs(da, "the raster")
    rx, ry = (abs(float(r)) for r in da.rio.resolution())
    if crs.is_geographic:
        lat = math.radians(float(da["y"].mean()))
        mx, my = rx * 111_320.0 * math.cos(lat), ry * 110_574.0
    else:
        factor = float(crs.linear_units_factor[1])
        mx, my = rx * factor, ry * factor
    return round(math.sqrt(mx * my), 3)


def grid_template(crs: CRS, bounds: tuple[float, float, float, float], resolution: float) -> xr.DataArray:
    """A ``(y, x)`` grid (no data allocated) covering ``bounds`` at ``resolution`` CRS units.

    Only meant as the ``match_data_array`` of ``reproject_match``.
    """
    left, bottom, right, top = bounds
    width = max(1, round((right - left) / resolution))
    height = max(1, round((top - bottom) / resolution))
    x = left + (np.arange(width) + 0.5) * resolution
    y = top - (np.arange(height) + 0.5) * resolution
    data = np.broadcast_to(np.float32(np.nan), (height, width))
    template = xr.DataArray(data, dims=("y", "x"), coords={"y": y, "x": x})
    template = template.rio.write_crs(crs)
    return template.rio.write_transform(Affine(resolution, 0.0, left, 0.0, -resolution, top))


def resample_onto(da: xr.DataArray, like: xr.DataArray, resampling: Resampling) -> xr.DataArray:
    """``da.rio.reproject_match(like)`` with ``like``'s exact x/y coordinates.

    ``da`` must carry its nodata (``rio.nodata``; NaN for float); pixels outside ``da`` become
    nodata. Returns ``da``'s leading dims with ``like``'s ``(y, x)`` grid.
    """
    if same_grid(da, like):
        out = da
    else:
        out = da.rio.reproject_match(like, resampling=resampling)
    return out.assign_coords(x=like["x"].values, y=like["y"].values)


def finish_image(
    da: xr.DataArray,
    *,
    names: Sequence[str],
    sensor: str,
    units: str,
    like: xr.DataArray | None = None,
    extra_attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Apply the output convention to a float ``(band, y, x)`` (or ``(time, band, y, x)``) array.

    Sets the ``band`` and ``wavelength`` coordinates (µm, from the ``sensor``'s band table), CRS and
    transform of ``like`` (default ``da`` itself), NaN nodata and the attrs ``sensor``, ``gsd``
    (metres, from the grid), ``units`` plus ``extra_attrs``.
    """
    from lslib.data.bands import band_info

    grid = da if like is None else like
    transform, crs = grid.rio.transform(), grid.rio.crs
    wavelengths_um = [band_info(sensor, n).wavelength_um for n in names]
    leading = [d for d in da.dims if d not in ("band", "y", "x")]
    da = da.transpose(*leading, "band", "y", "x")
    da = da.assign_coords(
        band=("band", [str(n) for n in names]),
        wavelength=("band", np.asarray(wavelengths_um, dtype=np.float64)),
    )
    keep: list[Hashable] = ["band", "wavelength", "x", "y", "spatial_ref", *leading]
    da = da.drop_vars([c for c in da.coords if c not in keep])
    # inplace: ``da`` is a new object here, and rioxarray otherwise deep-copies the data at each call
    da.rio.write_crs(crs, inplace=True).rio.write_transform(transform, inplace=True)
    da.attrs = {}
    da.encoding = {}
    da.rio.write_nodata(np.nan, encoded=False, inplace=True)
    da.attrs.update({"sensor": sensor, "gsd": gsd_metres(da), "units": units})
    if extra_attrs:
        da.attrs.update(extra_attrs)
    da.name = sensor
    return da
