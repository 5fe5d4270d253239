"""The openers of the image-input contract: any image source -> ``(band, y, x)`` float32 physical values.

:func:`open_image` dispatches on the source: an ``xarray.DataArray``, a STAC item (:func:`open_stac_item`), a
Sentinel-2 band folder (:func:`lslib.data.readers.read_sentinel2`) or an image file
(:func:`lslib.data.images.files.open_file`, refused before any pixel is read when a full read cannot fit in
memory). :func:`open_preview` reads a whole file decimated to a few hundred pixels a side. All of them
calibrate with :func:`lslib.data.images.calibrate.calibrate` (the precedence in the package docstring).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from lslib.data.bands import Bands, assign_bands, is_number, resolve_bands
from lslib.data.images.calibrate import RawImage, calibrate
from lslib.data.images.diagnose import input_path
from lslib.data.images.files import open_file
from lslib.data.images.probe import check_fits_memory, decimated_read, image_header
from lslib.data.images.radiometry import ImageInputError, check_plausible, overview, s2_offset_from_properties

__all__ = ["Chunks", "open_image", "open_preview", "open_stac_item"]

Chunks = int | dict[str, int] | None


def _chunks(chunks: Chunks) -> dict[str, int] | None:
    if chunks is None:
        return None
    if isinstance(chunks, int):
        return {"band": -1, "y": chunks, "x": chunks}
    return dict(chunks)


def _from_array(
    source: xr.DataArray, bands: Bands, sensor: str | None, scale: float | None, offset: float | None
) -> xr.DataArray:
    da = source if "band" in source.dims else source.expand_dims(band=[1])
    da = da.transpose("band", "y", "x") if set(da.dims) == {"band", "y", "x"} else da
    if bands is not None or sensor is not None:
        da = assign_bands(da, bands=bands, sensor=sensor)
    if "wavelength" not in da.coords or not np.isfinite(np.asarray(da["wavelength"].values, dtype=float)).all():
        raise ValueError(
            "the DataArray has no (complete) 'wavelength' coordinate: read it with lslib.data.open_image or "
            "lslib.data.readers, or name its bands with bands='red,green,blue,nir' / sensor='naip' "
            "(lslib.data.assign_bands)"
        )
    if np.issubdtype(da.dtype, np.complexfloating) or not np.issubdtype(da.dtype, np.number):
        raise TypeError(
            f"image dtype {da.dtype} is not real-valued numbers: give reflectance (optical) or backscatter in dB "
            "(SAR), e.g. 10 * log10(abs(x) ** 2)"
        )
    nodata = da.rio.nodata
    raw = RawImage(
        da=da, what=f"the DataArray {da.name or ''}".rstrip(), names=[str(b) for b in da["band"].values],
        waves=np.asarray(da["wavelength"].values, dtype=np.float64), sensor=sensor,
        nodata=[None if nodata is None else float(nodata)] * da.sizes["band"], attrs=dict(da.attrs),
    )  # fmt: skip
    out = calibrate(raw, scale, offset)
    return out.rename(source.name)


def open_stac_item(
    item: Any,
    *,
    assets: Sequence[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    bands: Bands = None,
    sensor: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
    chunks: int | None = None,
) -> xr.DataArray:
    """A STAC item's bands as :func:`open_image` returns them (see there), read on the item's own pixel grid.

    Args:
        item: a ``pystac.Item``, a STAC Feature dict or a JSON path.
        assets: asset keys (or ``eo:bands`` names) to read; default: ``bands`` when they are names, else every
            asset with ``eo:bands`` wavelengths.
        bbox: ``(west, south, east, north)`` in degrees: read only that part of the item.
        bands: as for :func:`open_image`.
        sensor: as for :func:`open_image`.
        scale: as for :func:`open_image`.
        offset: as for :func:`open_image`.
        chunks: dask chunk size in pixels (lazy), or None (read into memory).
    """
    from lslib.data.readers.stac_item import as_item, load_item

    item = as_item(item)
    names_arg = [b.strip() for b in bands.split(",")] if isinstance(bands, str) else None
    by_name = bool(names_arg) and all(not is_number(n) for n in names_arg or [])
    da, info = load_item(item, assets=assets or (names_arg if by_name else None), bbox=bbox, chunks=chunks)
    eo_names = [b.name for b in info]
    eo_waves = np.array([b.wavelength_um for b in info], dtype=np.float64)
    if (bands is not None and not by_name) or sensor is not None:
        names, waves = resolve_bands(len(info), bands=None if by_name else bands, sensor=sensor, stored=eo_names)
    elif np.isfinite(eo_waves).all():
        names, waves = eo_names, eo_waves
    else:
        names, waves = resolve_bands(len(info), bands=eo_names)
    scales = [b.scale for b in info]
    offsets = [b.offset for b in info]
    tagged = any(s is not None for s in scales) or any(o is not None for o in offsets)
    s2_off = s2_offset_from_properties(item.properties)
    raw = RawImage(
        da=da, what=f"STAC item {item.id}", names=list(names), waves=np.asarray(waves),
        sensor=sensor, scales=[1.0 if s is None else s for s in scales] if tagged else None,
        offsets=[0.0 if o is None else o for o in offsets] if tagged else None, tag_source="stac raster:bands",
        nodata=[b.nodata for b in info],
        s2_offset=lambda: (s2_off or 0.0, "s2:processing_baseline" if s2_off is not None else "no baseline: 0"),
        attrs={"stac_item": item.id},
    )  # fmt: skip
    return calibrate(raw, scale, offset).rename("stac")


def open_image(
    source: Any,
    *,
    bands: Bands = None,
    sensor: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
    chunks: Chunks = None,
) -> xr.DataArray:
    """Open any image input as ``(band, y, x)`` float32 physical values with band names and wavelengths.

    Args:
        source: a GeoTIFF/COG/JP2/PNG/JPEG path, a Sentinel-2 band folder, a STAC item (``pystac.Item``, dict or
            ``.json`` path) or an ``xarray.DataArray``.
        bands: the bands in file order, names (``red``, ``B08``, ``swir16``) or µm; a comma-separated string works.
        sensor: ``s2-l2a``, ``landsat8``, ``naip``, ``rgb`` (or a :data:`lslib.data.bands.SENSORS` key): band order
            and DN convention.
        scale: physical = DN x scale + offset, replacing tags and presets (an omitted one is 1).
        offset: see ``scale`` (an omitted one is 0).
        chunks: dask chunks (an int: pixels per side) for a lazy array; None reads into memory.

    Returns:
        ``(band, y, x)`` float32 with NaN nodata; coords ``band`` (names) and ``wavelength`` (µm); CRS and
        transform via rioxarray (a pixel grid for PNG/JPEG without georeferencing, with a
        :class:`~lslib.data.images.files.PixelCoordinatesWarning`); attrs ``radiometry``
        (``"reflectance"``, ``"display"`` or ``"sar_db"``), ``radiometry_source`` (``"gdal tags (scale/offset)"``,
        ``"stac raster:bands"``,
        ``"sensor preset landsat8 (...)"``, ``"user --scale ..."``, ``"float data"``, ``"uint8 display
        convention (DN/255)"``, ``"assumed ..."``), ``scale``, ``offset`` (per band lists when they differ) and
        ``units``.

    Raises:
        FileNotFoundError: a path that does not exist (or a symbolic link loop / a link to nothing, said so).
        ImageInputError: values that are not plausible for their radiometry (says which flag to pass).
        ImageTooLargeError: ``chunks=None`` and the image cannot fit in memory (from its header, before any read).
        ValueError: no CRS on a georeferenced file, unknown/miscounted bands (suggests ``--bands``), no wavelengths,
            an alpha band, a multi-page TIFF, a file name or metadata that is not UTF-8.
    """
    from lslib.data.readers.stac_item import is_stac_item

    dask_chunks = _chunks(chunks)
    if isinstance(source, xr.DataArray):
        return _from_array(source, bands, sensor, scale, offset)
    source = os.fsdecode(source) if isinstance(source, bytes) else source
    if is_stac_item(source):
        side = None if dask_chunks is None else int(dask_chunks.get("x", 1024))
        return open_stac_item(source, bands=bands, sensor=sensor, scale=scale, offset=offset, chunks=side)
    path = input_path(source)
    if path.is_dir():
        return _open_s2_folder(path, bands, sensor, scale, offset, dask_chunks)
    if dask_chunks is None:
        header = image_header(path)
        if header is not None:
            check_fits_memory(header)  # from the header: refused before any pixel is read
    return calibrate(open_file(path, bands, sensor, dask_chunks), scale, offset)


def open_preview(
    source: str | Path,
    *,
    max_side: int = 1024,
    bands: Bands = None,
    sensor: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
) -> xr.DataArray:
    """The whole image file at most ``max_side`` pixels a side, as :func:`open_image` would calibrate it.

    One decimated read (nearest; GDAL uses the file's overviews when it has them, else it decodes every block
    once without keeping them): memory is that of the result, whatever the size of the file. The grid is the
    image's, coarser (CRS kept, transform scaled). For quick looks and scene statistics of images too large
    to read whole: the map app's backdrop and whole-scene stretch.
    """
    import dataclasses

    import rasterio
    from affine import Affine

    from lslib.data.readers.common import readable

    path = input_path(source)
    with warnings.catch_warnings():  # the full open_image of the same file has warned already
        warnings.simplefilter("ignore")
        raw = open_file(path, bands, sensor, None)  # lazy: the header and band names, no pixel
        with readable(path), rasterio.open(path) as src:
            values = decimated_read(src, max_side)
            sy, sx = src.height / values.shape[1], src.width / values.shape[2]
            transform = src.transform * Affine.scale(sx, sy)
        h, w = values.shape[1:]
        coords = {"band": raw.da["band"].values}
        if raw.pixel_grid:
            coords.update(y=(np.arange(h) + 0.5) * sy, x=(np.arange(w) + 0.5) * sx)
        else:
            coords.update(y=transform.f + (np.arange(h) + 0.5) * transform.e,
                          x=transform.c + (np.arange(w) + 0.5) * transform.a)  # fmt: skip
        small = xr.DataArray(values, dims=("band", "y", "x"), coords=coords, name=raw.da.name)
        if not raw.pixel_grid:
            small = small.rio.write_crs(raw.da.rio.crs).rio.write_transform(transform)
        step = max(1, math.ceil(max(h, w) / 512))
        quick = dataclasses.replace(raw, da=small, raw_overview=lambda: values[:, ::step, ::step])
        return calibrate(quick, scale, offset)


def _open_s2_folder(
    path: Path, bands: Bands, sensor: str | None, scale: float | None, offset: float | None, chunks: Chunks
) -> xr.DataArray:
    from lslib.data.readers import read_sentinel2

    if scale is not None or offset is not None:
        raise ImageInputError(
            f"--scale/--offset do not apply to the Sentinel-2 band folder {path}: its DN are converted by "
            "lslib.data.readers.read_sentinel2 (DN/10000 with the baseline offset from the product metadata)"
        )
    if sensor is not None and not sensor.lower().replace("-", "_").startswith(("s2", "sentinel2")):
        raise ValueError(f"{path} is read as a Sentinel-2 band folder; --sensor {sensor} does not apply to it")
    wanted = [b.strip() for b in bands.split(",")] if isinstance(bands, str) else bands
    da = read_sentinel2(path, bands=[str(b) for b in wanted] if wanted else None, chunks=chunks)
    source = f"sensor preset sentinel-2 band folder (DN/10000, offset -{da.attrs.get('boa_offset', 0)} DN from " \
             f"{da.attrs.get('boa_offset_source', 'auto')})"  # fmt: skip
    check_plausible(overview(da), "reflectance", source=source, what=str(path))
    da.attrs.update({"radiometry": "reflectance", "radiometry_source": source, "scale": 1e-4})
    return da
