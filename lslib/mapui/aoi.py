"""Area of interest: drawn GeoJSON (EPSG:4326) or bounds in the image CRS -> the clipped image, with a size guard.

The map speaks EPSG:4326 (what ipyleaflet's ``DrawControl`` and ``Map.bounds`` give); images are in their
own CRS (UTM for Sentinel-2). A drawn polygon is transformed to the image CRS with pyproj, the image is
cropped to its bounding box with rioxarray and pixels outside the polygon become NaN (nodata: they stay
transparent on the map and out of every statistic). Before any pixel is copied, :func:`check_size` refuses an
AOI larger than ``max_pixels`` and points to batch mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

Bounds = tuple[float, float, float, float]

BATCH_HINT = "lslib predict --image IMAGE.tif --prompts prompts.yaml --out OUT_DIR"


class AoiError(ValueError):
    """An AOI that cannot be mapped interactively (too large, outside the image, not a polygon)."""


def check_size(height: int, width: int, max_pixels: int, source: str | None = None) -> None:
    """Raise :class:`AoiError` when ``height * width > max_pixels``, suggesting the batch command."""
    n = int(height) * int(width)
    if n > max_pixels:
        hint = BATCH_HINT if source is None else BATCH_HINT.replace("IMAGE.tif", source)
        raise AoiError(
            f"the area of interest is {height:,} x {width:,} = {n / 1e6:.1f} Mpx, more than max_pixels="
            f"{max_pixels:,} for interactive mapping. Draw a smaller area (or raise max_pixels if memory allows), "
            f"or map it in batch mode: {hint}"
        )


def window_shape(image: xr.DataArray, bounds: Bounds) -> tuple[int, int]:
    """Pixels ``(rows, cols)`` of ``image`` inside ``bounds`` (image CRS), without copying anything."""
    minx, miny, maxx, maxy = bounds
    xs, ys = np.asarray(image["x"].values), np.asarray(image["y"].values)
    cols = int(((xs >= minx) & (xs <= maxx)).sum())
    rows = int(((ys >= miny) & (ys <= maxy)).sum())
    return rows, cols


def clip_bounds(image: xr.DataArray, bounds: Bounds, *, max_pixels: int, source: str | None = None) -> xr.DataArray:
    """``image`` cropped to ``bounds`` = ``(minx, miny, maxx, maxy)`` in the image CRS (size-guarded)."""
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    if not (minx < maxx and miny < maxy):
        raise AoiError(f"AOI bounds {bounds} are empty: give (minx, miny, maxx, maxy) in the image CRS")
    rows, cols = window_shape(image, (minx, miny, maxx, maxy))
    if rows == 0 or cols == 0:
        ib = image.rio.bounds()
        raise AoiError(f"the AOI {bounds} does not overlap the image (bounds {tuple(round(v, 3) for v in ib)})")
    check_size(rows, cols, max_pixels, source)
    xs, ys = image["x"].values, image["y"].values
    ix, iy = np.flatnonzero((xs >= minx) & (xs <= maxx)), np.flatnonzero((ys >= miny) & (ys <= maxy))
    out = image.isel(x=slice(int(ix[0]), int(ix[-1]) + 1), y=slice(int(iy[0]), int(iy[-1]) + 1))
    return out.rio.write_transform(out.rio.transform(recalc=True)) if out.rio.crs is not None else out


def geometry_of(geojson: Mapping[str, Any]) -> dict[str, Any]:
    """The geometry dict of a GeoJSON Feature, FeatureCollection (first feature) or geometry."""
    kind = geojson.get("type")
    if kind == "FeatureCollection":
        features = geojson.get("features") or []
        if not features:
            raise AoiError("the drawn FeatureCollection is empty: draw a rectangle or polygon")
        return geometry_of(features[-1])
    if kind == "Feature":
        return dict(geojson["geometry"])
    if kind in ("Polygon", "MultiPolygon"):
        return dict(geojson)
    raise AoiError(f"an AOI must be a Polygon or MultiPolygon, got {kind!r}: draw a rectangle or polygon")


def to_image_crs(geojson: Mapping[str, Any], crs: Any) -> Any:
    """A GeoJSON geometry in EPSG:4326 (lon, lat) -> a shapely geometry in ``crs``."""
    from pyproj import Transformer
    from shapely.geometry import shape
    from shapely.ops import transform

    geom = shape(geometry_of(geojson))
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise AoiError(f"an AOI must be a polygon, got a {geom.geom_type}: draw a rectangle or polygon")
    to_img = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return transform(to_img.transform, geom)


def clip_geojson(
    image: xr.DataArray, geojson: Mapping[str, Any], *, max_pixels: int, source: str | None = None
) -> xr.DataArray:
    """``image`` clipped to a drawn polygon (EPSG:4326): cropped to its box, NaN outside the polygon."""
    geom = to_image_crs(geojson, image.rio.crs)
    box = clip_bounds(image, tuple(geom.bounds), max_pixels=max_pixels, source=source)
    from rasterio.features import geometry_mask

    inside = ~geometry_mask(
        [geom.__geo_interface__],
        out_shape=(box.sizes["y"], box.sizes["x"]),
        transform=box.rio.transform(),
        all_touched=True,
    )
    if not inside.any():
        raise AoiError("the drawn area covers no pixel centre of the image: draw it over the image")
    if inside.all():
        return box
    masked = box.where(xr.DataArray(inside, dims=("y", "x")))
    return masked.rio.write_nodata(np.nan, encoded=False) if np.issubdtype(masked.dtype, np.floating) else masked


def bounds_geojson(south: float, west: float, north: float, east: float) -> dict[str, Any]:
    """A rectangle (e.g. the current map view, ``Map.bounds``) as a GeoJSON Polygon in EPSG:4326."""
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def lonlat_to_pixel(da: xr.DataArray, lat: float, lon: float) -> tuple[int, int] | None:
    """Row and column of ``da``'s pixel under ``(lat, lon)``; None outside the grid."""
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", da.rio.crs, always_xy=True).transform(lon, lat)
    inv = ~da.rio.transform()
    col, row = inv * (x, y)
    r, c = int(np.floor(row)), int(np.floor(col))
    if 0 <= r < da.sizes["y"] and 0 <= c < da.sizes["x"]:
        return r, c
    return None


def pixel_to_lonlat(da: xr.DataArray, row: int, col: int) -> tuple[float, float]:
    """``(lat, lon)`` of the centre of pixel ``(row, col)`` of ``da`` (what a map click gives back)."""
    from pyproj import Transformer

    x, y = da.rio.transform() * (col + 0.5, row + 0.5)
    lon, lat = Transformer.from_crs(da.rio.crs, "EPSG:4326", always_xy=True).transform(x, y)
    return float(lat), float(lon)
