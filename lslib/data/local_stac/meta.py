"""STAC metadata helpers of the loopback catalog (:mod:`lslib.data.local_stac.catalog`).

Grids, footprints, asset / Item / Collection dictionaries.

Conventions (what the dataset builder may rely on):

* STAC 1.1.0; extensions projection v2.0.0 (``proj:code`` = ``"EPSG:<n>"``, ``proj:shape`` =
  ``[rows, cols]``, ``proj:transform`` = the 6 affine coefficients ``[a, b, c, d, e, f]`` in CRS
  units, ``proj:bbox`` in CRS units), raster v1.1.0, eo v1.1.0, classification v2.0.0 (label assets).
  Projection fields sit on every asset (assets of one Item may have different grids), never on the Item.
* Item ``geometry`` is the footprint of the Item's first asset grid, its edges densified and
  reprojected to EPSG:4326 (lon, lat degrees, 7 decimals); ``bbox`` is the union of the reprojected
  footprints of all asset grids, rounded outwards, so it contains every file of the Item.
* Dictionaries are built in a fixed order and serialised with sorted item lists, so a rebuild from
  the same files yields the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import rasterio
from affine import Affine
from pyproj import Transformer

from lslib.data.bands import S1_C_BAND_WAVELENGTH_UM, band_info
from lslib.data.fetch import DatasetManifest

__all__ = [
    "COG_TYPE",
    "GEOTIFF_TYPE",
    "JP2_TYPE",
    "STAC_VERSION",
    "Grid",
    "classification_classes",
    "eo_bands",
    "iso",
    "make_collection",
    "make_item",
    "raster_asset",
    "raster_band",
]

STAC_VERSION = "1.1.0"
PROJ_EXT = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
RASTER_EXT = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
EO_EXT = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
CLASSIFICATION_EXT = "https://stac-extensions.github.io/classification/v2.0.0/schema.json"
SAR_EXT = "https://stac-extensions.github.io/sar/v1.0.0/schema.json"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
GEOTIFF_TYPE = "image/tiff; application=geotiff"
JP2_TYPE = "image/jp2"

#: STAC eo common names (eo extension v1.1.0) of the Sentinel-2 and Landsat band ids used here.
COMMON_NAMES: dict[str, str] = {
    "B01": "coastal", "B02": "blue", "B03": "green", "B04": "red", "B05": "rededge071",
    "B06": "rededge075", "B07": "rededge078", "B08": "nir", "B8A": "nir08", "B09": "nir09",
    "B10": "cirrus", "B11": "swir16", "B12": "swir22",
    "SR_B1": "coastal", "SR_B2": "blue", "SR_B3": "green", "SR_B4": "red", "SR_B5": "nir08",
    "SR_B6": "swir16", "SR_B7": "swir22",
}  # fmt: skip

_DENSIFY = 21  # points per footprint edge before reprojection (as rasterio.warp.transform_bounds)
_DENSIFY_ABOVE_M = 20_000.0  # grids smaller than this (CRS units) keep straight 4-corner footprints
_DECIMALS = 7  # lon/lat decimals kept (~1 cm)


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid.

    Attributes:
        epsg: EPSG code of the CRS.
        shape: ``(rows, cols)`` in pixels.
        transform: affine pixel -> CRS transform (CRS units, metres for the UTM grids here).
    """

    epsg: int
    shape: tuple[int, int]
    transform: Affine

    @classmethod
    def of_file(cls, path: Path) -> Grid:
        """The grid of a raster file (GeoTIFF, JP2); ValueError if its CRS has no EPSG code."""
        with rasterio.open(path) as src:
            epsg = src.crs.to_epsg() if src.crs is not None else None
            if epsg is None:
                raise ValueError(f"{path} has no EPSG-coded CRS ({src.crs}); cannot write proj:code")
            return cls(int(epsg), (int(src.height), int(src.width)), src.transform)

    @property
    def resolution(self) -> float:
        """Pixel width in CRS units (metres)."""
        return abs(float(self.transform.a))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` in CRS units."""
        rows, cols = self.shape
        x0, y0 = self.transform * (0, 0)
        x1, y1 = self.transform * (cols, rows)
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    def footprint_lonlat(self) -> list[tuple[float, float]]:
        """Closed ring of the grid outline in EPSG:4326 ``(lon, lat)`` degrees.

        Edges of grids wider than 20 km are densified to 21 points; smaller grids (the 640 m
        WorldCereal patches) keep their 4 corners, which are exact to well below a millimetre.
        """
        left, bottom, right, top = self.bounds
        n = _DENSIFY if max(right - left, top - bottom) > _DENSIFY_ABOVE_M else 1
        xs: list[float] = []
        ys: list[float] = []
        for (xa, ya), (xb, yb) in zip(
            [(left, bottom), (right, bottom), (right, top), (left, top)],
            [(right, bottom), (right, top), (left, top), (left, bottom)],
            strict=True,
        ):
            for i in range(n):
                xs.append(xa + (xb - xa) * i / n)
                ys.append(ya + (yb - ya) * i / n)
        tr = Transformer.from_crs(f"EPSG:{self.epsg}", "EPSG:4326", always_xy=True)
        lons, lats = tr.transform(xs, ys)
        ring = [(float(x), float(y)) for x, y in zip(lons, lats, strict=True)]
        return [*ring, ring[0]]


def iso(dt: datetime) -> str:
    """RFC 3339 UTC timestamp, ``"2022-10-05T11:54:11.024000Z"`` (no fraction when it is 0)."""
    dt = dt.astimezone(UTC) if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if dt.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return dt.strftime(fmt)


def raster_band(
    data_type: str,
    *,
    resolution: float,
    nodata: float | None = None,
    scale: float | None = None,
    offset: float | None = None,
    unit: str | None = None,
) -> dict[str, Any]:
    """One ``raster:bands`` entry (raster extension v1.1.0); ``resolution`` in metres.

    ``value = DN * scale + offset`` (reflectance for optical bands).
    """
    out: dict[str, Any] = {"data_type": data_type}
    if nodata is not None:
        out["nodata"] = int(nodata) if float(nodata).is_integer() else nodata
    if scale is not None:
        out["scale"] = scale
    if offset is not None:
        out["offset"] = offset
    out["spatial_resolution"] = resolution
    if unit is not None:
        out["unit"] = unit
    return out


def eo_bands(sensor: str, names: Sequence[str]) -> list[dict[str, Any]]:
    """``eo:bands`` entries: canonical ``name``, STAC ``common_name``, ``center_wavelength`` in µm.

    SAR bands (``"VV"``, ``"VH"``) get the C-band radar wavelength (55 465.8 µm), as everywhere in lslib.
    """
    out: list[dict[str, Any]] = []
    for name in names:
        info = band_info(sensor, name)
        entry: dict[str, Any] = {"name": info.name}
        common = COMMON_NAMES.get(info.name)
        if common is not None:
            entry["common_name"] = common
        entry["center_wavelength"] = round(info.wavelength_um, 6)
        if info.kind == "sar":
            entry["center_wavelength"] = round(S1_C_BAND_WAVELENGTH_UM, 4)
            entry["description"] = "C-band SAR backscatter; center_wavelength is the radar wavelength"
        out.append(entry)
    return out


@lru_cache(maxsize=32)
def classification_classes(taxonomy: str) -> tuple[dict[str, Any], ...]:
    """``classification:classes`` (v2.0.0) of an lslib taxonomy: value, name (slug), description, colour.

    Returned as a cached tuple: copy the dicts before modifying them (:func:`raster_asset` does).
    """
    from lslib.taxonomy import get_taxonomy

    out: list[dict[str, Any]] = []
    for c in get_taxonomy(taxonomy).classes:
        slug = "".join(ch if ch.isalnum() else "-" for ch in c.name.lower()).strip("-")
        while "--" in slug:
            slug = slug.replace("--", "-")
        out.append(
            {"value": int(c.code), "name": slug, "description": c.name, "color_hint": c.color.lstrip("#").upper()}
        )
    return tuple(out)


def raster_asset(
    path: Path,
    grid: Grid,
    *,
    title: str,
    media_type: str,
    bands: Sequence[Mapping[str, Any]],
    eo: Sequence[Mapping[str, Any]] | None = None,
    classes: Sequence[Mapping[str, Any]] | None = None,
    roles: Sequence[str] = ("data",),
) -> dict[str, Any]:
    """An asset dict: absolute ``file://`` href, projection fields of ``grid``, raster/eo bands.

    Args:
        path: the local file (absolute path used as is; symlinks are not resolved).
        grid: the file's grid (``Grid.of_file(path)`` or the grid it was written with).
        title: the asset's human-readable title.
        media_type: the asset's media type (e.g. :data:`GEOTIFF_TYPE`).
        bands: ``raster:bands`` entries, one per band in file order (:func:`raster_band`).
        eo: ``eo:bands`` entries, same order, for imagery.
        classes: ``classification:classes`` for label rasters.
        roles: the asset's STAC roles.

    Returns:
        The asset dict.
    """
    a, b, c, d, e, f = (float(v) for v in tuple(grid.transform)[:6])
    asset: dict[str, Any] = {
        "href": path.absolute().as_uri(),
        "type": media_type,
        "title": title,
        "roles": list(roles),
        "proj:code": f"EPSG:{grid.epsg}",
        "proj:shape": [grid.shape[0], grid.shape[1]],
        "proj:transform": [a, b, c, d, e, f],
        "proj:bbox": list(grid.bounds),
        "raster:bands": [dict(x) for x in bands],
    }
    if eo is not None:
        asset["eo:bands"] = [dict(x) for x in eo]
    if classes is not None:
        asset["classification:classes"] = [dict(x) for x in classes]
    return asset


def _round_out(values: Iterable[float], up: bool) -> float:
    scale = 10**_DECIMALS
    v = max(values) if up else min(values)
    return (math.ceil(v * scale) if up else math.floor(v * scale)) / scale


def make_item(
    item_id: str,
    collection: str,
    *,
    grids: Sequence[Grid],
    assets: Mapping[str, dict[str, Any]],
    properties: Mapping[str, Any],
    extra_extensions: Sequence[str] = (),
) -> dict[str, Any]:
    """A STAC Item dict (no links) from its asset grids; ``properties`` must hold the datetime fields.

    ``grids[0]`` gives the geometry; the bbox covers all ``grids`` (see the module docstring).
    """
    if "datetime" not in properties:
        raise ValueError(f"item {item_id}: properties need 'datetime' (None with start/end_datetime)")
    rings = [g.footprint_lonlat() for g in dict.fromkeys(grids)]
    lons = [x for ring in rings for x, _ in ring]
    lats = [y for ring in rings for _, y in ring]
    bbox = [_round_out(lons, False), _round_out(lats, False), _round_out(lons, True), _round_out(lats, True)]
    ring = [[round(x, _DECIMALS), round(y, _DECIMALS)] for x, y in rings[0]]
    exts = [PROJ_EXT, RASTER_EXT]
    if any("eo:bands" in a for a in assets.values()) or "eo:cloud_cover" in properties:
        exts.append(EO_EXT)
    if any("classification:classes" in a for a in assets.values()):
        exts.append(CLASSIFICATION_EXT)
    exts.extend(x for x in extra_extensions if x not in exts)
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": exts,
        "id": item_id,
        "collection": collection,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": bbox,
        "properties": dict(properties),
        "links": [],
        "assets": {k: dict(v) for k, v in assets.items()},
    }


_PER_ITEM_ASSET_FIELDS = ("href", "proj:code", "proj:shape", "proj:transform", "proj:bbox")


def _item_interval(item: Mapping[str, Any]) -> tuple[str, str]:
    p = item["properties"]
    return (p.get("start_datetime") or p["datetime"], p.get("end_datetime") or p["datetime"])


def make_collection(
    collection_id: str,
    *,
    title: str,
    description: str,
    license: str,
    manifest: DatasetManifest,
    items: Sequence[Mapping[str, Any]],
    keywords: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A STAC Collection dict WITHOUT links (rustac serve adds its own) summarising ``items``.

    Extent: union bbox (EPSG:4326 degrees) and [earliest start, latest end] of the items;
    ``item_assets``: every asset key seen, without its per-file fields (href, proj:*);
    ``summaries``: ``eo:bands`` (union, first-seen order), ``gsd``, ``platform``, ``constellation``;
    ``providers`` from the manifest attribution (one producer per ``;``-separated part) plus the
    origin repository as host; the manifest licence and attribution verbatim as ``lslib:licence`` and
    ``lslib:attribution``.
    """
    if not items:
        raise ValueError(f"collection {collection_id} has no items")
    bboxes = [it["bbox"] for it in items]
    spatial = [
        min(b[0] for b in bboxes),
        min(b[1] for b in bboxes),
        max(b[2] for b in bboxes),
        max(b[3] for b in bboxes),
    ]
    intervals = [_item_interval(it) for it in items]
    temporal = [min(i[0] for i in intervals), max(i[1] for i in intervals)]
    item_assets: dict[str, dict[str, Any]] = {}
    eo: dict[str, dict[str, Any]] = {}
    exts: list[str] = []
    summaries: dict[str, list[Any]] = {"gsd": [], "platform": [], "constellation": []}
    for it in items:
        exts.extend(x for x in it["stac_extensions"] if x not in exts and x != PROJ_EXT)
        for key, asset in it["assets"].items():
            if key not in item_assets:
                item_assets[key] = {k: v for k, v in asset.items() if k not in _PER_ITEM_ASSET_FIELDS}
            for band in asset.get("eo:bands", []):
                eo.setdefault(band["name"], band)
        for name, values in summaries.items():
            value = it["properties"].get(name)
            if value is not None and value not in values:
                values.append(value)
    origin_repos = sorted({str(e.origin.get("repo")) for e in manifest.files.values() if e.origin.get("repo")})
    providers: list[dict[str, Any]] = [
        {"name": part.strip(), "roles": ["producer", "licensor"]}
        for part in manifest.attribution.split(";")
        if part.strip()
    ]
    providers += [{"name": repo, "roles": ["host"], "url": f"https://github.com/{repo}"} for repo in origin_repos]
    providers.append(
        {
            "name": "lslib (local loopback mirror)",
            "roles": ["processor"],
            "description": f"Sample files of the lslib manifest {manifest.name!r}, served from the local cache.",
        }
    )
    out: dict[str, Any] = {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": exts,
        "id": collection_id,
        "title": title,
        "description": description,
        "keywords": list(keywords),
        "license": license,
        "providers": providers,
        "extent": {"spatial": {"bbox": [spatial]}, "temporal": {"interval": [temporal]}},
        "summaries": {k: v for k, v in {**summaries, "eo:bands": list(eo.values())}.items() if v},
        "item_assets": item_assets,
        "lslib:dataset": manifest.name,
        "lslib:licence": manifest.licence,
        "lslib:attribution": manifest.attribution,
        "links": [],
    }
    out.update(extra or {})
    return out
