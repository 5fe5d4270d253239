"""Write and read back georeferenced DataArrays as (Cloud-Optimized) GeoTIFFs.

What is stored: CRS and transform; band names as band descriptions; wavelengths (µm) as the
per-band tag ``wavelength_um`` (and a dataset tag ``wavelengths_um``); the attrs ``sensor``,
``gsd``, ``units``, ``taxonomy`` and any ``tags=`` as dataset tags; nodata (NaN for float); an
optional colour map; for a 2-D ``(y, x)`` array the dataset tag ``LSLIB_DIMS=y,x`` so that
:func:`read_geotiff` returns it 2-D again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import rasterio
import xarray as xr

from lslib.atomic import atomic_path
from lslib.data.readers.common import existing_path, open_raster, readable, require_crs

__all__ = ["read_geotiff", "write_geotiff"]

_ATTR_TAGS = ("sensor", "gsd", "units", "taxonomy")
Colormap = Mapping[int, tuple[int, int, int] | tuple[int, int, int, int]]


def _driver() -> str:
    with rasterio.Env() as env:
        return "COG" if "COG" in env.drivers() else "GTiff"


def _as_band_yx(da: xr.DataArray) -> tuple[xr.DataArray, bool]:
    """``da`` as a ``(band, y, x)`` array, and whether it was 2-D ``(y, x)`` (then with one added band).

    Raises:
        ValueError: dims other than ``(band, y, x)`` or ``(y, x)``.
    """
    two_d = da.dims == ("y", "x") or set(da.dims) == {"y", "x"}
    if two_d:
        return da.transpose("y", "x").expand_dims("band"), True
    if set(da.dims) == {"band", "y", "x"}:
        return da.transpose("band", "y", "x"), False
    raise ValueError(f"write_geotiff writes (band, y, x) or (y, x) arrays, got dims {da.dims}")


def _file_tags(
    da: xr.DataArray, arr3: xr.DataArray, two_d: bool, tags: Mapping[str, object] | None
) -> tuple[list[str], list[float], dict[str, str]]:
    """What :func:`write_geotiff` stores besides the pixels: ``(band names, wavelengths, dataset tags)``.

    Band names come from the ``band`` coordinate (none for a 2-D array), wavelengths (µm) from the
    ``wavelength`` coordinate; the dataset tags hold the known attrs, the wavelength list, the 2-D marker
    ``LSLIB_DIMS`` and then ``tags`` (values as strings).
    """
    names = [str(b) for b in arr3["band"].values] if "band" in arr3.coords and not two_d else []
    waves = [float(w) for w in arr3["wavelength"].values] if "wavelength" in arr3.coords else []
    dataset_tags = {k: str(da.attrs[k]) for k in _ATTR_TAGS if da.attrs.get(k) is not None}
    if waves:
        dataset_tags["wavelengths_um"] = ",".join(repr(w) for w in waves)
    if two_d:
        dataset_tags["LSLIB_DIMS"] = "y,x"
    dataset_tags.update({str(k): str(v) for k, v in (tags or {}).items()})
    return names, waves, dataset_tags


def write_geotiff(
    da: xr.DataArray,
    path: str | Path,
    *,
    colormap: Colormap | None = None,
    tags: Mapping[str, object] | None = None,
) -> Path:
    """Write ``da`` to ``path`` as a deflate-compressed Cloud-Optimized GeoTIFF, atomically.

    Args:
        da: ``(band, y, x)`` or ``(y, x)`` array with a CRS (``da.rio.crs``).
        path: target file; written to a temporary file in the same folder, then renamed.
        colormap: ``{code: (r, g, b[, a])}`` for a single-band integer raster (labels).
        tags: extra dataset tags (values stored as strings).

    Returns:
        ``path`` as a Path.

    Raises:
        ValueError: no CRS, unsupported dims, or a colour map on a float/multi-band raster.
    """
    require_crs(da, "the DataArray to write")
    arr3, two_d = _as_band_yx(da)
    data = np.asarray(arr3.values)
    if data.dtype == bool:
        data = data.astype(np.uint8)
    count, height, width = data.shape
    floating = np.issubdtype(data.dtype, np.floating)
    nodata = da.rio.nodata if da.rio.nodata is not None else da.rio.encoded_nodata
    if floating and nodata is None:
        nodata = math.nan
    if colormap is not None and (count != 1 or floating):
        raise ValueError("colormap needs a single-band integer raster")
    profile: dict[str, object] = {
        "driver": _driver(),
        "width": width,
        "height": height,
        "count": count,
        "dtype": data.dtype.name,
        "crs": da.rio.crs,
        "transform": da.rio.transform(),
        "nodata": nodata,
        "compress": "deflate",
    }
    if profile["driver"] == "GTiff":
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    names, waves, dataset_tags = _file_tags(da, arr3, two_d, tags)
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data)
        for i in range(count):
            if names:
                dst.set_band_description(i + 1, names[i])
            if waves:
                dst.update_tags(i + 1, wavelength_um=repr(waves[i]))
        dst.update_tags(**dataset_tags)
        if colormap is not None:
            dst.write_colormap(1, dict(colormap))
    return Path(path)


def read_geotiff(path: str | Path, *, chunks: int | dict[str, int] | None = None) -> xr.DataArray:
    """Read a GeoTIFF written by :func:`write_geotiff` (or any GeoTIFF) back into a DataArray.

    Returns:
        ``(band, y, x)`` (``(y, x)`` if written from 2-D) in the stored dtype; ``band`` coordinate
        from the band descriptions (``"1"``, ``"2"``, ... where missing), ``wavelength`` (µm, NaN
        where untagged), attrs from the dataset tags (``gsd`` as float); float nodata -> NaN.
    """
    p = existing_path(path, "GeoTIFF")
    with readable(p), rasterio.open(p) as src:
        desc = [d or str(i + 1) for i, d in enumerate(src.descriptions)]
        waves = [float(src.tags(i + 1).get("wavelength_um", "nan")) for i in range(src.count)]
        tags = {k: v for k, v in src.tags().items() if k not in ("AREA_OR_POINT", "wavelengths_um")}
    da = open_raster(p, chunks=chunks)
    nodata = da.rio.nodata
    if np.issubdtype(da.dtype, np.floating):
        if nodata is not None and not np.isnan(nodata):
            da = da.where(da != nodata)
        da = da.rio.write_nodata(np.nan, encoded=False)
        nodata = math.nan
    da = da.assign_coords(band=desc, wavelength=("band", np.asarray(waves, dtype=np.float64)))
    da.attrs = {}
    da.encoding = {}
    if nodata is not None:
        da = da.rio.write_nodata(nodata, encoded=False)
    two_d = tags.pop("LSLIB_DIMS", "") == "y,x"
    attrs: dict[str, object] = dict(tags)
    if "gsd" in attrs:
        attrs["gsd"] = float(str(attrs["gsd"]))
    da.attrs.update(attrs)
    if two_d:
        da = da.isel(band=0, drop=True).drop_vars("wavelength", errors="ignore")
    return da
