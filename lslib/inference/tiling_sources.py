"""Open any input of large-area mapping lazily as a ``(band, y, x)`` DataArray with wavelengths.

Accepted: a Sentinel-2 band folder (``read_sentinel2``), a GeoTIFF/COG/JP2 (with lslib band tags,
or named by ``bands=``/``sensor=``), a PNG/JPEG/TIFF without georeferencing (mapped in pixel
coordinates, with a warning), a STAC item (``pystac.Item``, a dict or a JSON path; loaded with
odc-stac) and an ``xarray.DataArray`` (NumPy or Dask). Nothing is read into memory here: pixels are
read window by window later.

Integer DNs of a file named with ``bands=``/``sensor=`` are scaled: uint8 by 1/255, other integer
types by 1e-4 (reflectance x 10 000, the Sentinel-2/HLS convention); float data are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rioxarray
import xarray as xr

PIXEL_SUFFIXES = (".png", ".jpg", ".jpeg")
Bands = Sequence[str | float] | str | None


class PixelCoordinatesWarning(UserWarning):
    """The input has no georeferencing: the map is in pixel coordinates (no CRS, areas in pixels only)."""


def _has_wavelengths(da: xr.DataArray) -> bool:
    return "wavelength" in da.coords and bool(np.all(np.isfinite(np.asarray(da["wavelength"].values, dtype=float))))


def _scale_dn(da: xr.DataArray) -> xr.DataArray:
    if da.dtype == np.uint8:
        return (da.astype(np.float32) / np.float32(255)).astype(np.float32)
    if np.issubdtype(da.dtype, np.integer):
        return (da.astype(np.float32) * np.float32(1e-4)).astype(np.float32)
    return da.astype(np.float32)


def _mask_nodata(da: xr.DataArray) -> xr.DataArray:
    nodata = da.rio.nodata if hasattr(da, "rio") else None
    if nodata is not None and not np.isnan(nodata):
        da = da.where(da != nodata)
    return da


def _pixel_grid(da: xr.DataArray, path: Path) -> xr.DataArray:
    warnings.warn(
        f"{path.name} has no georeferencing (no CRS, no geotransform): it is mapped in pixel coordinates. The "
        "outputs have no CRS and areas are reported in pixels only; use a GeoTIFF to get a map you can overlay.",
        PixelCoordinatesWarning,
        stacklevel=3,
    )
    h, w = da.sizes["y"], da.sizes["x"]
    return da.assign_coords(y=np.arange(h) + 0.5, x=np.arange(w) + 0.5)


def _open_file(path: Path, bands: Bands, sensor: str | None, chunks: dict[str, int]) -> tuple[xr.DataArray, bool]:
    from rasterio.errors import NotGeoreferencedWarning

    from lslib.data.readers_common import crs_error
    from lslib.inference.inputs import assign_bands

    key = (sensor or "").lower()
    if path.suffix.lower() in (".tif", ".tiff", ".jp2") and bands is None:
        if key == "s2-l2a":
            from lslib.data.readers import read_sentinel2

            return read_sentinel2(path, chunks=chunks), False
        if key == "landsat8":
            from lslib.data.readers import read_landsat

            return read_landsat(path, bands=["B1", "B2", "B3", "B4", "B5", "B6", "B7"], chunks=chunks), False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NotGeoreferencedWarning)
        opened = rioxarray.open_rasterio(path, chunks=chunks, masked=False, mask_and_scale=False)
    if not isinstance(opened, xr.DataArray):
        raise ValueError(f"{path} holds several subdatasets; open one of them (GDAL subdataset name)")
    da = opened
    not_georef = any(issubclass(w.category, NotGeoreferencedWarning) for w in caught)
    pixel = False
    if da.rio.crs is None:
        if not_georef or path.suffix.lower() in PIXEL_SUFFIXES:
            da, pixel = _pixel_grid(da, path), True
        else:
            raise crs_error(str(path))
    if bands is None and sensor is None:
        from lslib.data.readers import read_geotiff

        if not pixel:
            tagged = read_geotiff(path, chunks=chunks)
            if _has_wavelengths(tagged):
                return _mask_nodata(tagged).astype(np.float32), False
        raise ValueError(
            f"{path.name} has no band metadata (no wavelengths): say what its {da.sizes['band']} bands are with "
            "--bands red,green,blue,nir (names, or central wavelengths in µm such as 0.665,0.56,0.49) or "
            "--sensor naip|s2-l2a|landsat8|rgb (Python: bands=..., sensor=...)"
        )
    scaled = _scale_dn(_mask_nodata(da))
    scaled = scaled.rio.write_nodata(np.nan, encoded=False) if not pixel else scaled
    return assign_bands(scaled, bands=bands, sensor=sensor), pixel


def _load_stac(item: Any, bands: Bands, sensor: str | None, chunks: dict[str, int]) -> xr.DataArray:
    import odc.stac
    import pystac

    from lslib.inference.inputs import assign_bands

    if isinstance(item, str | Path):
        item = pystac.Item.from_file(str(item))
    elif isinstance(item, Mapping):
        item = pystac.Item.from_dict(dict(item))
    names = [b.strip() for b in bands.split(",")] if isinstance(bands, str) else None
    names = names if names and all(not _is_number(n) for n in names) else None
    ds = odc.stac.load([item], bands=names, chunks={"x": chunks["x"], "y": chunks["y"]}, fail_on_error=True)
    if "time" in ds.dims:
        ds = ds.isel(time=0)
    waves, scales = [], []
    for var in ds.data_vars:
        asset = item.assets.get(str(var))
        info = (asset.extra_fields if asset is not None else {}) or {}
        eo = info.get("eo:bands") or [{}]
        raster = (info.get("raster:bands") or [{}])[0]
        waves.append(eo[0].get("center_wavelength"))
        scales.append((raster.get("scale"), raster.get("offset", 0.0)))
    da = ds.to_array("band").transpose("band", "y", "x")
    if all(s is not None for s, _ in scales) and np.issubdtype(da.dtype, np.integer):
        nodata = [ds[v].attrs.get("nodata") for v in ds.data_vars]
        da = da.where(da != (nodata[0] if nodata[0] is not None else 0))
        sc = xr.DataArray([s for s, _ in scales], dims="band")
        off = xr.DataArray([o for _, o in scales], dims="band")
        da = (da * sc + off).astype(np.float32)
    else:
        da = _scale_dn(da.where(da != 0) if np.issubdtype(da.dtype, np.integer) else da)
    da = da.rio.write_nodata(np.nan, encoded=False)
    if (bands is not None and names is None) or sensor is not None:
        return assign_bands(da, bands=bands, sensor=sensor)
    if all(w is not None for w in waves):
        return da.assign_coords(wavelength=("band", np.asarray(waves, dtype=np.float64)))
    return assign_bands(da, bands=[str(b) for b in da["band"].values])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_stac(source: Any) -> bool:
    if type(source).__name__ == "Item" and hasattr(source, "assets"):
        return True
    if isinstance(source, Mapping) and source.get("type") == "Feature" and "assets" in source:
        return True
    return isinstance(source, str | Path) and str(source).lower().endswith(".json")


def open_source(
    source: Any, *, bands: Bands = None, sensor: str | None = None, chunk: int = 1024
) -> tuple[xr.DataArray, bool, str]:
    """``(da, pixel_coordinates, description)`` for any accepted input (see the module docstring).

    Raises:
        FileNotFoundError: a path that does not exist.
        ValueError: no CRS on a georeferenced file, unknown bands, missing wavelengths, wrong dims.
    """
    from lslib.inference.inputs import assign_bands

    chunks = {"band": -1, "y": chunk, "x": chunk}
    if isinstance(source, xr.DataArray):
        da, pixel = source, False
        if "band" not in da.dims:
            da = da.expand_dims(band=[1])
        if bands is not None or sensor is not None:
            da = assign_bands(da, bands=bands, sensor=sensor)
        if da.rio.crs is None:
            warnings.warn(
                "the DataArray has no CRS: the map is in pixel coordinates (areas in pixels only); set one with "
                "da.rio.write_crs('EPSG:…') to get a georeferenced map",
                PixelCoordinatesWarning,
                stacklevel=2,
            )
            pixel = True
        if not _has_wavelengths(da):
            raise ValueError(
                "the DataArray has no (complete) 'wavelength' coordinate: read it with lslib.data.readers, or name its "
                "bands with bands='red,green,blue,nir' / sensor='naip' (lslib.inference.assign_bands)"
            )
        return da, pixel, f"DataArray {da.name or ''} {dict(da.sizes)}".replace("  ", " ")
    if _is_stac(source):
        label = getattr(source, "id", None) or (source.get("id") if isinstance(source, Mapping) else str(source))
        return _load_stac(source, bands, sensor, chunks), False, f"STAC item {label}"
    from lslib.data.readers_common import existing_path

    path = existing_path(source, "input image")
    if path.is_dir():
        from lslib.data.readers import read_sentinel2

        return read_sentinel2(path, chunks=chunks), False, str(path.resolve())
    da, pixel = _open_file(path, bands, sensor, chunks)
    return da, pixel, str(path.resolve())


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
