"""Results as ``ImageOverlay`` PNGs (no tile server): decimated reads of the COGs, in EPSG:4326."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from lslib.mapui import render as R
from lslib.mapui.result_view.output import Bounds, MapOutputError


def decimated(path: Path, max_side: int) -> xr.DataArray:
    """Band 1 of a raster at most ``max_side`` px a side (nearest; GDAL uses the overviews), on its coarser grid."""
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling

    with rasterio.open(path) as src:
        step = max(1.0, max(src.height, src.width) / max_side)
        h, w = max(1, round(src.height / step)), max(1, round(src.width / step))
        values = src.read(1, out_shape=(h, w), resampling=Resampling.nearest)
        transform = src.transform * Affine.scale(src.width / w, src.height / h)
        crs = src.crs
    ys = transform.f + (np.arange(h) + 0.5) * transform.e
    xs = transform.c + (np.arange(w) + 0.5) * transform.a
    da = xr.DataArray(values, dims=("y", "x"), coords={"y": ys, "x": xs})
    return da.rio.write_crs(crs).rio.write_transform(transform)


def cog_overlays(class_path: Path, conf_path: Path, colour_table: dict[int, tuple[int, int, int, int]],
                  max_side: int) -> tuple[tuple[bytes, Bounds], tuple[bytes, Bounds]]:  # fmt: skip
    """PNGs (EPSG:4326) of the class map (its colour table) and the confidence, and their bounds."""
    codes = decimated(class_path, max_side)
    index = R.GridIndex.from_grid(codes, max_side=max_side)
    lut = np.zeros((256, 4), dtype=np.uint8)
    for code, rgba in colour_table.items():
        if 0 <= code < 256:
            lut[code] = rgba
    classes = index.take(lut[np.asarray(codes.values, dtype=np.uint8)], fill=0)
    conf = decimated(conf_path, max_side)
    if conf.shape != codes.shape:  # both COGs share the grid: same decimated shape
        raise MapOutputError(f"{conf_path} and {class_path} are not on the same grid")
    confidence = R.confidence_rgba(index.take(np.asarray(conf.values, dtype=np.float32), fill=np.nan))
    return (R.png_bytes(classes), index.bounds), (R.png_bytes(confidence), index.bounds)


def image_overlay(png: bytes, bounds: Bounds, name: str, **kwargs: Any) -> Any:
    """An ipyleaflet ``ImageOverlay`` of ``png`` (a data URL) over ``bounds``."""
    from ipyleaflet import ImageOverlay

    return ImageOverlay(url=R.data_url(png), bounds=bounds, name=name, **kwargs)
