"""LAS builder, STAC side: opening APIs, searching items that cover a chip, chip geometry.

Used by :mod:`lslib.data.las.cut`; the same code serves Planetary Computer and the loopback API.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np

from lslib.data.las.recipes import Recipe


class Rejected(Exception):
    """A chip that fails a quality filter or that the products cannot provide (a final outcome)."""

    def __init__(self, reason: str, detail: str = "", **values: Any) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail, self.values = reason, detail, values


class AssetReadError(OSError):
    """An asset of a found item cannot be read (corrupt file, network failure); retried next run."""


class StacUnreachableError(ConnectionError):
    """The STAC API cannot be opened (offline, wrong URL, server not started)."""


# --- STAC access -------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def stac_client(url: str, sign: str | None) -> Any:
    """The ``pystac_client.Client`` of the API at ``url`` (cached; ``sign="planetary_computer"`` signs asset URLs)."""
    import pystac_client

    modifier = None
    if sign == "planetary_computer":
        try:
            import planetary_computer
        except ImportError as exc:
            raise ImportError(
                "this recipe reads Planetary Computer assets, which need signed URLs: pip install planetary-computer"
            ) from exc
        modifier = planetary_computer.sign_inplace
    elif sign:
        raise ValueError(f"unknown signing method {sign!r}; use 'planetary_computer' or leave it empty")
    try:
        return pystac_client.Client.open(url, modifier=modifier)
    except Exception as exc:
        raise StacUnreachableError(
            f"cannot open the STAC API at {url}: {exc}. Offline? Build LAS-mini from the mirror with "
            "`lslib las build --subset mini-...` (it starts the loopback API) or `lslib las serve-local`."
        ) from exc


def check_stac(url: str, sign: str | None = None, collections: Sequence[str] = ()) -> None:
    """Check that the STAC API at ``url`` opens and has ``collections``.

    Raises:
        StacUnreachableError: the API cannot be opened.
        ValueError: a collection is missing (listing those it has).
    """
    client = stac_client(url, sign)
    for cid in collections:
        try:
            found = client.get_collection(cid) is not None
        except Exception:  # APIs answer a missing collection with 404 (an error) or null
            found = False
        if not found:
            available = sorted(c.id for c in client.get_collections())
            raise ValueError(f"collection {cid!r} is not served by {url}; it has: {', '.join(available)}")


def _interval_mid(interval: str | None) -> float | None:
    if not interval or "/" not in interval:
        return None
    start, end = (datetime.fromisoformat(p[:10]).timestamp() for p in interval.split("/"))
    return (start + end) / 2


def search_items(
    recipe: Recipe, url: str, collection: str, chip_poly: Any, interval: str | None, max_cloud: float | None
) -> list[Any]:
    """Items of ``collection`` covering the whole chip, best first (cloud, then time to mid-window)."""
    from shapely.geometry import shape

    client = stac_client(url, recipe.sign)
    kwargs: dict[str, Any] = {"collections": [collection], "intersects": chip_poly.__geo_interface__, "max_items": 200}
    if interval:
        kwargs["datetime"] = interval
    items = list(client.search(**kwargs).items())
    mid = _interval_mid(interval)
    ranked = []
    for item in items:
        cloud = item.properties.get("eo:cloud_cover")
        if max_cloud is not None and cloud is not None and float(cloud) > max_cloud:
            continue
        if item.geometry is None or not shape(item.geometry).buffer(1e-9).contains(chip_poly):
            continue
        when = item.datetime or item.common_metadata.start_datetime
        dt = abs(when.timestamp() - mid) if (mid is not None and when is not None) else 0.0
        ranked.append((float(cloud) if cloud is not None else 0.0, dt, item.id, item))
    return [r[-1] for r in sorted(ranked, key=lambda r: r[:3])]


# --- chip geometry -----------------------------------------------------------------------------


def _item_grid(item: Any, band: str) -> tuple[Any, Any]:
    """(CRS, affine) of the asset behind odc-stac band ``band`` (``asset`` or ``asset.N``)."""
    from affine import Affine
    from odc.geo import CRS

    asset = item.assets.get(band.split(".")[0])
    if asset is None:
        raise Rejected(
            "missing band", f"item {item.id} has no asset {band.split('.')[0]!r} (it has {sorted(item.assets)})"
        )
    props = {**item.properties, **asset.extra_fields}
    code = props.get("proj:code") or (f"EPSG:{props['proj:epsg']}" if props.get("proj:epsg") else None)
    transform = props.get("proj:transform")
    if code is None or transform is None:
        raise Rejected("no projection metadata", f"item {item.id} asset {band!r} lacks proj:epsg/proj:transform")
    return CRS(code), Affine(*transform[:6])


def chip_geobox(recipe: Recipe, item: Any, lon: float, lat: float) -> Any:
    """The chip's :class:`odc.geo.geobox.GeoBox` around the point.

    ``size`` x ``size`` pixels of ``gsd`` metres
    centred on the point, snapped to the item's pixel grid (``native``) or in its UTM zone.
    """
    from affine import Affine
    from odc.geo import CRS
    from odc.geo.geobox import GeoBox

    size, gsd = recipe.chip.size, float(recipe.chip.gsd)
    first_band = next(iter(recipe.image.bands.values()))
    if recipe.chip.crs == "native":
        crs, native = _item_grid(item, first_band)
        x_origin, y_origin = native.c, native.f
    else:
        zone = int((lon + 180) // 6) + 1
        crs = CRS(f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}")
        x_origin = y_origin = 0.0
    x, y = _from_wgs84(crs.to_wkt()).transform(lon, lat)
    col0 = math.floor((x - x_origin) / gsd - size / 2 + 0.5)
    row0 = math.floor((y_origin - y) / gsd - size / 2 + 0.5)
    return GeoBox((size, size), Affine(gsd, 0.0, x_origin + col0 * gsd, 0.0, -gsd, y_origin - row0 * gsd), crs)


def item_shape(item: Any) -> Any:
    """The item's footprint (lon/lat), grown by 1e-9 degrees so that a chip on its edge counts as inside."""
    from shapely.geometry import shape

    return shape(item.geometry).buffer(1e-9)


def wgs84_polygon(geobox: Any) -> Any:
    """The chip's outline in lon/lat (corners and edge midpoints, enough for chip-sized boxes)."""
    from shapely.geometry import Polygon

    (h, w), a = geobox.shape, geobox.affine
    cols = np.array([0, w / 2, w, w, w, w / 2, 0, 0])
    rows = np.array([0, 0, 0, h / 2, h, h, h, h / 2])
    xs, ys = a.c + cols * a.a, a.f + rows * a.e
    lon, lat = _to_wgs84(geobox.crs.to_wkt()).transform(xs, ys)
    return Polygon(zip(lon, lat, strict=True))


@lru_cache(maxsize=32)
def _from_wgs84(crs_wkt: str) -> Any:
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", crs_wkt, always_xy=True)


@lru_cache(maxsize=32)
def _to_wgs84(crs_wkt: str) -> Any:
    from pyproj import Transformer

    return Transformer.from_crs(crs_wkt, "EPSG:4326", always_xy=True)
