"""LAS builder, STAC side: opening APIs, searching items that cover a chip, chip geometry.

Used by :mod:`lslib.data.las.cut`; the same code serves Planetary Computer and the loopback API.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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


#: Environment variable of the Planetary Computer account key (``planetary-computer`` reads it).
PC_KEY_ENV = "PC_SDK_SUBSCRIPTION_KEY"

#: Signing methods of ``Recipe.sign``: name -> a ``pystac_client`` modifier (signs items in place).
#: ``planetary_computer`` is filled in lazily (the ``lslib[online]`` extra); tests may add their own.
SIGNERS: dict[str, Callable[[Any], Any]] = {}

#: Items a server-side sorted search returns (best cloud first); enough for the candidates tried.
SORTED_LIMIT = 50
#: Items ranked client-side when the API cannot filter/sort (the loopback API): the first page.
UNSORTED_LIMIT = 200
#: Label items asked for per search of :func:`label_items`; a box that returns as many is split in four.
FOOTPRINT_PAGE = 500
#: Boxes narrower than this (degrees) are not split further.
_MIN_SPLIT_DEG = 0.5


class StacAccessError(PermissionError):
    """The STAC API refuses items or signed URLs of a collection (an account key is missing or wrong)."""


def _signer(sign: str) -> Callable[[Any], Any]:
    if sign in SIGNERS:
        return SIGNERS[sign]
    if sign != "planetary_computer":
        raise ValueError(f"unknown signing method {sign!r}; use 'planetary_computer' or leave it empty")
    try:
        import planetary_computer
    except ImportError as exc:
        raise ImportError(
            "this recipe reads Planetary Computer assets, which need signed URLs: pip install 'lslib[online]' "
            "(or pip install planetary-computer)"
        ) from exc
    return planetary_computer.sign_inplace


@lru_cache(maxsize=8)
def stac_client(url: str, sign: str | None) -> Any:
    """The ``pystac_client.Client`` of the API at ``url`` (cached; ``sign="planetary_computer"`` signs asset URLs)."""
    import pystac_client

    modifier = _signer(sign) if sign else None
    try:
        return pystac_client.Client.open(url, modifier=modifier)
    except Exception as exc:
        raise StacUnreachableError(
            f"cannot open the STAC API at {url}: {exc}. Offline? Build LAS-mini from the mirror with "
            "`lslib las build --subset mini-...` (it starts the loopback API) or `lslib las serve-local`."
        ) from exc


def check_stac(url: str, sign: str | None = None, collections: Sequence[str] = ()) -> None:
    """Check that the STAC API at ``url`` opens and has ``collections``; with ``sign``, sign one item of each.

    Signing an item first makes a build without the account key a collection needs stop at once
    (instead of failing every point).

    Raises:
        StacUnreachableError: the API cannot be opened.
        ValueError: a collection is missing (listing those it has).
        StacAccessError: an item of a collection cannot be signed (account key missing or refused).
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
        if sign:
            first_item(url, sign, cid)


def first_item(url: str, sign: str | None, collection: str, query: dict[str, dict[str, Any]] | None = None) -> Any:
    """One item of ``collection`` (matching ``query``), signed when ``sign`` is set; None when there is none.

    Raises:
        StacAccessError: the search or the signing is refused (HTTP 401/403: the account key).
    """
    client = stac_client(url, sign)
    try:
        for item in client.search(collections=[collection], limit=20, max_items=UNSORTED_LIMIT).items():
            if matches_query(item.properties, query or {}):
                return item
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}"
        if sign and any(code in text for code in ("401", "403", "Forbidden", "Unauthorized")):
            raise StacAccessError(
                f"{url} refused to sign items of {collection!r} ({text}). This collection needs a Planetary "
                f"Computer account: set {PC_KEY_ENV} to your subscription key (see the README, 'LAS online')."
            ) from exc
        raise
    return None


def label_items(
    recipe: Recipe, url: str, bbox: Sequence[float] | None = None, *, page: int = FOOTPRINT_PAGE
) -> list[Any]:
    """Every item of the recipe's label product in ``bbox``: in ``label.datetime``, passing ``label.query``; by id.

    Searched box by box, a box splitting in four while a search returns a full ``page``: every
    item is found without following the API's pagination links (Planetary Computer's may be
    missing), whatever the size of the product (WorldCover: thousands of tiles a year); a box
    narrower than half a degree that is still full follows the pages.
    """
    spec = recipe.label
    client = stac_client(url, recipe.sign)
    sent = server_query(spec.query, None) if _conforms(client, "QUERY") else {}
    found: dict[str, Any] = {}
    boxes = [tuple(float(v) for v in bbox) if bbox is not None else (-180.0, -90.0, 180.0, 90.0)]
    while boxes:
        west, south, east, north = boxes.pop()
        kwargs: dict[str, Any] = {"collections": [spec.collection], "bbox": [west, south, east, north],
                                  "limit": page, "max_items": page}  # fmt: skip
        if spec.datetime:
            kwargs["datetime"] = spec.datetime
        if sent:
            kwargs["query"] = sent
        items = list(client.search(**kwargs).items())
        if len(items) >= page and east - west > _MIN_SPLIT_DEG:
            mx, my = (west + east) / 2, (south + north) / 2
            boxes += [(west, south, mx, my), (mx, south, east, my), (west, my, mx, north), (mx, my, east, north)]
            continue
        if len(items) >= page:  # a small box still full: follow the pages
            items = list(client.search(**{**kwargs, "max_items": None}).items())
        found.update((i.id, i) for i in items if i.geometry is not None and matches_query(i.properties, spec.query))
    return [found[k] for k in sorted(found)]


# --- item filters ------------------------------------------------------------------------------


def _compare(value: Any, op: str, arg: Any) -> bool:
    if op == "contains":
        have = value if isinstance(value, list | tuple) else [value]
        return all(a in have for a in arg)
    if value is None:
        return op == "neq"
    tests: dict[str, Callable[[], bool]] = {
        "eq": lambda: bool(value == arg),
        "neq": lambda: bool(value != arg),
        "in": lambda: value in arg,
        "lt": lambda: bool(value < arg),
        "lte": lambda: bool(value <= arg),
        "gt": lambda: bool(value > arg),
        "gte": lambda: bool(value >= arg),
    }
    try:
        return tests[op]()
    except TypeError:  # e.g. a string compared with a number: not a match
        return False


def matches_query(properties: dict[str, Any], query: dict[str, dict[str, Any]]) -> bool:
    """Whether item ``properties`` pass ``query`` (STAC query extension: ``{property: {op: value}}``).

    Operators: ``eq``, ``neq``, ``in`` (value among a list), ``lt``, ``lte``, ``gt``, ``gte``, and
    ``contains`` (the property, a list such as ``sar:polarizations``, holds all the given values;
    applied here only, never sent to the API). A missing property fails every operator but ``neq``.
    """
    return all(_compare(properties.get(prop), op, arg) for prop, ops in query.items() for op, arg in ops.items())


def server_query(query: dict[str, dict[str, Any]], max_cloud: float | None) -> dict[str, dict[str, Any]]:
    """The part of ``query`` an API's query extension evaluates, plus ``eo:cloud_cover <= max_cloud``."""
    out = {prop: {op: arg for op, arg in ops.items() if op != "contains"} for prop, ops in query.items()}
    if max_cloud is not None:
        out.setdefault("eo:cloud_cover", {})["lte"] = max_cloud
    return {prop: ops for prop, ops in out.items() if ops}


def search_kwargs(
    collection: str,
    geometry: dict[str, Any],
    interval: str | None,
    query: dict[str, dict[str, Any]],
    max_cloud: float | None,
    *,
    can_query: bool,
    can_sort: bool,
) -> dict[str, Any]:
    """``pystac_client`` search arguments.

    Where the API supports the query and sort extensions (Planetary Computer), the property filters
    and the cloud limit are sent with the search and items come least cloudy first, a bounded
    number of them (``SORTED_LIMIT``). Elsewhere (the loopback API) the first ``UNSORTED_LIMIT``
    items are fetched and filtered, ranked by the caller.
    """
    kwargs: dict[str, Any] = {"collections": [collection], "intersects": geometry}
    if interval:
        kwargs["datetime"] = interval
    sent = server_query(query, max_cloud) if can_query else {}
    if sent:
        kwargs["query"] = sent
    if can_sort and max_cloud is not None:
        kwargs["sortby"] = [{"field": "properties.eo:cloud_cover", "direction": "asc"}]
    if "sortby" in kwargs:
        kwargs["limit"] = kwargs["max_items"] = SORTED_LIMIT
    else:
        kwargs["max_items"] = UNSORTED_LIMIT
    return kwargs


def _conforms(client: Any, name: str) -> bool:
    from pystac_client import ConformanceClasses

    try:
        return bool(client.conforms_to(getattr(ConformanceClasses, name)))
    except Exception:  # an API without conformance classes: assume nothing
        return False


def _interval_mid(interval: str | None) -> float | None:
    if not interval or "/" not in interval:
        return None
    start, end = (datetime.fromisoformat(p[:10]).timestamp() for p in interval.split("/"))
    return (start + end) / 2


def search_items(
    recipe: Recipe,
    url: str,
    collection: str,
    chip_poly: Any,
    interval: str | None,
    max_cloud: float | None,
    query: dict[str, dict[str, Any]] | None = None,
) -> list[Any]:
    """Items of ``collection`` covering the whole chip and passing ``query``, best first.

    Best: least cloud, then nearest in time to the middle of ``interval``, then id.
    """
    from shapely.geometry import shape

    client = stac_client(url, recipe.sign)
    query = query or {}
    kwargs = search_kwargs(
        collection, chip_poly.__geo_interface__, interval, query, max_cloud,
        can_query=_conforms(client, "QUERY"), can_sort=_conforms(client, "SORT"),
    )  # fmt: skip
    items = list(client.search(**kwargs).items())
    mid = _interval_mid(interval)
    ranked = []
    for item in items:
        cloud = item.properties.get("eo:cloud_cover")
        if max_cloud is not None and cloud is not None and float(cloud) > max_cloud:
            continue
        if not matches_query(item.properties, query):
            continue
        if item.geometry is None or not shape(item.geometry).buffer(1e-9).contains(chip_poly):
            continue
        when = item.datetime or item.common_metadata.start_datetime
        dt = abs(when.timestamp() - mid) if (mid is not None and when is not None) else 0.0
        ranked.append((float(cloud) if cloud is not None else 0.0, dt, item.id, item))
    return [r[-1] for r in sorted(ranked, key=lambda r: r[:3])]


def declare_raster_bands(item: Any, assets: Sequence[str], dtype: str | None) -> Any:
    """The item, copied, with ``raster:bands`` declared on ``assets`` that list several ``eo:bands`` but none.

    odc-stac counts an asset's bands from ``raster:bands``; Planetary Computer's NAIP ``image``
    (4 bands, uint8) has only ``eo:bands``, so ``image.2`` would not exist. ``dtype`` None reads
    the data type from the file. Items needing nothing are returned unchanged (not copied).
    """
    todo = [
        key for key in dict.fromkeys(assets)
        if key in item.assets
        and "raster:bands" not in item.assets[key].extra_fields
        and len(item.assets[key].extra_fields.get("eo:bands") or []) > 1
    ]  # fmt: skip
    if not todo:
        return item
    item = item.clone()
    for key in todo:
        asset = item.assets[key]
        n = len(asset.extra_fields["eo:bands"])
        kind = dtype or _file_dtype(asset.href)
        asset.extra_fields["raster:bands"] = [{"data_type": kind} for _ in range(n)]
    return item


def _file_dtype(href: str) -> str:
    import rasterio

    with rasterio.open(href) as src:
        return str(src.dtypes[0])


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
    code = item_crs(props)
    transform = props.get("proj:transform")
    if code is None or transform is None:
        raise Rejected(
            "no projection metadata", f"item {item.id} asset {band!r} lacks proj:code/epsg/wkt2 or proj:transform"
        )
    return CRS(code), Affine(*transform[:6])


def item_crs(props: dict[str, Any]) -> str | None:
    """The CRS of STAC projection fields: ``proj:code`` (v2), ``proj:epsg``, ``proj:wkt2``, ``proj:projjson``.

    Products in a CRS without an EPSG code (LCMAP's and NRCan's Albers) carry ``proj:wkt2`` with
    ``proj:epsg`` null. Returns a string :class:`odc.geo.CRS` accepts, or None.
    """
    if props.get("proj:code"):
        return str(props["proj:code"])
    if props.get("proj:epsg"):
        return f"EPSG:{int(props['proj:epsg'])}"
    if props.get("proj:wkt2"):
        return str(props["proj:wkt2"])
    if props.get("proj:projjson"):
        import json

        return json.dumps(props["proj:projjson"])
    return None


def item_window(item: Any, band: str, size: int) -> Any:
    """A ``size`` x ``size`` :class:`odc.geo.geobox.GeoBox` in the middle of the asset behind ``band``, on its grid."""
    from odc.geo.geobox import GeoBox

    crs, native = _item_grid(item, band)
    props = {**item.properties, **item.assets[band.split(".")[0]].extra_fields}
    rows, cols = props.get("proj:shape") or (size, size)
    row0, col0 = max(0, (int(rows) - size) // 2), max(0, (int(cols) - size) // 2)
    return GeoBox((size, size), native * native.translation(col0, row0), crs)


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
