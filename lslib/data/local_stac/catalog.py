"""A real STAC API on loopback over the real sample files: the offline twin of Planetary Computer.

The dataset builder searches STAC APIs with pystac-client and loads chips with odc-stac. Offline
(tests, CI, laptops) the same code runs against :func:`local_stac`: :func:`build_local_catalog`
writes one ``<id>.collection.json`` + ``<id>.items.json`` pair per collection from the manifest
samples, and :func:`serve_local` serves them with ``rustac serve`` (PyPI package ``rustac``, an
in-memory STAC API server) on 127.0.0.1.

Collections (ids and asset keys are part of the API; see :data:`COLLECTIONS`):

=========================  =====  ==========================================================
id                         items  assets
=========================  =====  ==========================================================
terramesh-s2l2a            5      ``data`` (12 bands B01..B12 w/o B10, int16, x1e-4, 10 m)
terramesh-s1rtc            5      ``data`` (VV, VH dB, float64, 10 m)
terramesh-esri-lulc        5      ``data`` (uint8 TerraMesh LULC codes, nodata 0; annual)
zion-landsat-c2-l2         1      ``blue``, ``green``, ``red``, ``nir08`` (30 m, EPSG:32612)
zion-nlcd-2011             1      ``data`` (uint8 NLCD, nodata 255, EPSG:6367 ~31.53 m)
worldcereal-s2l2a          472    ``B02 B03 B04 B08`` (10 m, 2 of 4 locations), ``B05 B06 B07
                                  B8A B11 B12 SCL`` (20 m); COGs converted from NetCDF
worldcereal-labels         4      ``data`` (uint16 WorldCereal LC code, nodata 0)
t29unu-s2l2a               1      ``B01..B12``, ``B8A`` (60 m JP2, offset -0.1) and ``SCL`` (20 m)
t29unu-scl                 1      ``data`` (SCL 20 m as a weak label)
=========================  =====  ==========================================================

What the rustac memory backend (rustac 0.2.x CLI) supports, checked: ``collections``, ``ids``,
``bbox``, ``intersects`` and ``datetime`` (full RFC 3339 only: ``2019-04-01/2019-06-30`` is rejected
by the server, pystac-client expands such dates itself), ``limit`` with ``next`` paging. NOT
supported: ``query``, ``filter`` (CQL2) and ``sortby`` are advertised by no conformance class; a
``query`` or a ``filter`` with ``filter-lang`` silently returns NO items and ``sortby`` is ignored.
Filter on ``eo:cloud_cover`` and sort in Python after the search.

Pitfalls for loaders:

* Grids are not anchored at 0: ``odc.stac.load(items, crs=..., resolution=10)`` snaps to a 0-anchored
  pixel grid and shifts/resamples TerraMesh chips (224 -> 225 px). Pass ``geobox=`` built from the
  asset's ``proj:shape`` / ``proj:transform`` / ``proj:code`` (or ``anchor=``) to read pixels exactly.
* ``zion-nlcd-2011`` (EPSG:6367, ~31.53 m) and ``t29unu-s2l2a``'s ``SCL`` (20 m vs 60 m bands) are on
  other grids than their imagery: load labels with ``resampling="nearest"``.
* Annual label Items (``terramesh-esri-lulc``, ``zion-nlcd-2011``, ``worldcereal-labels``) have
  ``datetime: null`` and ``start_datetime``/``end_datetime``; rustac matches a ``datetime`` search
  on the overlap of the ranges, odc-stac stamps them with ``start_datetime``.
* Not every optical Item has ``eo:cloud_cover``: the Zion Landsat scene has no QA band (absent),
  TerraMesh S2 carries a documented 0 placeholder.
* Hrefs are ``file://`` paths into the cache: rebuild after moving or clearing the cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lslib.atomic import write_text
from lslib.data.fetch import cache_dir, load_manifests
from lslib.data.local_stac.meta import make_collection
from lslib.data.local_stac.server import Catalog, LocalStacServer, serve_local
from lslib.data.local_stac.sources import T29UNU, TERRAMESH, ZION, t29unu_items, terramesh_items, zion_items
from lslib.data.local_stac.worldcereal import DATASET as WORLDCEREAL
from lslib.data.local_stac.worldcereal import worldcereal_label_items, worldcereal_s2_items

__all__ = ["COLLECTIONS", "Catalog", "LocalStacServer", "build_local_catalog", "local_stac", "serve_local"]


@dataclass(frozen=True)
class _Spec:
    dataset: str
    title: str
    description: str
    license: str
    keywords: tuple[str, ...]
    items: Callable[[Path], list[dict[str, Any]]]


_S2 = ("sentinel-2", "l2a", "reflectance")
_SPECS: dict[str, _Spec] = {
    "terramesh-s2l2a": _Spec(
        TERRAMESH,
        "TerraMesh examples: Sentinel-2 L2A",
        "Five 224x224 px TerraMesh validation samples at 10 m (local UTM): 12-band Sentinel-2 L2A, "
        "reflectance = DN / 10000, nodata 0.",
        "CC-BY-SA-4.0",
        (*_S2, "terramesh"),
        lambda out: terramesh_items("s2l2a"),
    ),
    "terramesh-s1rtc": _Spec(
        TERRAMESH,
        "TerraMesh examples: Sentinel-1 RTC",
        "Sentinel-1 RTC backscatter VV, VH in dB on the TerraMesh S2 grid of each site.",
        "CC-BY-SA-4.0",
        ("sentinel-1", "sar", "rtc", "terramesh"),
        lambda out: terramesh_items("s1rtc"),
    ),
    "terramesh-esri-lulc": _Spec(
        TERRAMESH,
        "TerraMesh examples: Esri/IO 10 m LULC (TerraMesh codes)",
        "Esri / Impact Observatory annual 10 m land use / land cover, remapped by TerraMesh to codes 1-9 "
        "(taxonomy terramesh_lulc), pixel-aligned with the S2 samples.",
        "CC-BY-SA-4.0",
        ("land-cover", "labels", "esri", "terramesh"),
        lambda out: terramesh_items("esri-lulc"),
    ),
    "zion-landsat-c2-l2": _Spec(
        ZION,
        "Landsat 8 Collection 2 Level-2, Zion National Park (2015-08-18)",
        "Landsat 8 OLI surface reflectance bands 2-5 (scene LC80380342015230LGN00), 30 m, EPSG:32612; "
        "reflectance = DN * 2.75e-5 - 0.2.",
        "CC0-1.0",
        ("landsat", "reflectance"),
        lambda out: zion_items("landsat"),
    ),
    "zion-nlcd-2011": _Spec(
        ZION,
        "NLCD 2011, Zion National Park",
        "National Land Cover Database 2011 on its own grid (EPSG:6367, ~31.53 m).",
        "CC0-1.0",
        ("land-cover", "labels", "nlcd"),
        lambda out: zion_items("nlcd"),
    ),
    "worldcereal-s2l2a": _Spec(
        WORLDCEREAL,
        "WorldCereal training patches: Sentinel-2 L2A time series",
        "64x64 px (640 m) Sentinel-2 L2A time series of 4 WorldCereal locations (Flanders, Tanzania), "
        "converted from NetCDF to one COG per band and date; raw DN, reflectance = DN / 10000.",
        "other",
        (*_S2, "worldcereal", "time-series"),
        lambda out: worldcereal_s2_items(out),
    ),
    "worldcereal-labels": _Spec(
        WORLDCEREAL,
        "WorldCereal training patches: land-cover labels (LC)",
        "WorldCereal land-cover codes rasterised from LPIS Flanders and a Tanzania survey, 10 m.",
        "other",
        ("land-cover", "labels", "worldcereal", "crops"),
        lambda out: worldcereal_label_items(out),
    ),
    "t29unu-s2l2a": _Spec(
        T29UNU,
        "Sentinel-2 L2A tile T29UNU (Ireland, 2022-10-05)",
        "A whole S2A L2A tile at 60 m (JPEG 2000) with its 20 m Scene Classification Layer; processing "
        "baseline 04.00: reflectance = DN / 10000 - 0.1.",
        "other",
        _S2,
        lambda out: t29unu_items("s2l2a"),
    ),
    "t29unu-scl": _Spec(
        T29UNU,
        "Sentinel-2 Scene Classification Layer T29UNU as a weak label",
        "The 20 m SCL of tile T29UNU (2022-10-05), taxonomy s2_scl.",
        "other",
        ("labels", "sentinel-2", "scl"),
        lambda out: t29unu_items("scl"),
    ),
}

#: Collection ids served by the loopback API, in build order.
COLLECTIONS: tuple[str, ...] = tuple(_SPECS)


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def _write_if_changed(path: Path, text: str) -> None:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    write_text(path, text)


def build_local_catalog(out_dir: Path, *, collections: Sequence[str] | None = None) -> Catalog:
    """Write the loopback catalog: ``<out_dir>/<id>.collection.json`` + ``<out_dir>/<id>.items.json``.

    Collections carry no links (``rustac serve`` adds its own); items are a GeoJSON
    FeatureCollection; asset hrefs are absolute ``file://`` URIs of the fetched (cache) files or of
    the COGs converted under ``<out_dir>/files/``. Idempotent: converted files are reused, and a
    JSON file is rewritten (atomically) only when its content changes. Building everything takes a
    few seconds (mostly the ~4 000 WorldCereal COGs on the first run).

    Args:
        out_dir: target folder (created).
        collections: ids to build (default: all of :data:`COLLECTIONS`).

    Returns:
        ``{collection id: (collection JSON path, items JSON path)}`` in the order of :data:`COLLECTIONS`.

    Raises:
        ValueError: an unknown collection id (the message lists the valid ones).
        lslib.data.fetch.DataNotFoundError: a sample file is neither cached nor in the mirror.
    """
    wanted = list(COLLECTIONS) if collections is None else list(dict.fromkeys(collections))
    unknown = [c for c in wanted if c not in _SPECS]
    if unknown:
        raise ValueError(f"unknown collection(s) {unknown}; valid ids: {', '.join(COLLECTIONS)}")
    out_dir = Path(out_dir).absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    manifests = load_manifests()
    result: Catalog = {}
    for cid in COLLECTIONS:
        if cid not in wanted:
            continue
        spec = _SPECS[cid]
        items = spec.items(out_dir)
        collection = make_collection(
            cid,
            title=spec.title,
            description=spec.description,
            license=spec.license,
            manifest=manifests[spec.dataset],
            items=items,
            keywords=spec.keywords,
        )
        col_path, items_path = out_dir / f"{cid}.collection.json", out_dir / f"{cid}.items.json"
        _write_if_changed(col_path, _dump(collection))
        _write_if_changed(items_path, _dump({"type": "FeatureCollection", "features": items}))
        result[cid] = (col_path, items_path)
    return result


def local_stac(out_dir: Path | None = None, *, port: int | None = None) -> LocalStacServer:
    """Build (or reuse) the loopback catalog and serve it on 127.0.0.1.

    Usage: ``with local_stac() as api: Client.open(api.url)``.

    Args:
        out_dir: catalog folder (default ``<lslib cache dir>/stac-local``).
        port: TCP port on 127.0.0.1 (default: a free one).
    """
    folder = Path(out_dir) if out_dir is not None else cache_dir() / "stac-local"
    return serve_local(build_local_catalog(folder), port=port)
