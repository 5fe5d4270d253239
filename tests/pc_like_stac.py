"""A loopback STAC API with items shaped like Planetary Computer's (test helper, imported by name).

Small rasters are written by the tests; the item JSON is written here field by field. What each
collection imitates (the shape, not the content) and where its shape was taken from:

* ``naip``: the ``image`` asset lists four ``eo:bands`` and no ``raster:bands`` (Planetary Computer's
  NAIP ingest drops them; fields as in its stored ``naip`` collection and items: ``naip:state``,
  ``naip:year``, ``gsd``, ``proj:epsg`` / ``proj:shape`` / ``proj:transform`` on the item).
* ``landsat-c2-l2``: Landsat 7 and Landsat 8 items in one collection; LE07 has no ``coastal`` asset. Item
  and asset fields modelled on the stactools ``landsat`` package's stored examples
  ``examples/landsat-c2-l2/LC08_L2SP_047027_20201204_02_T1/LC08_L2SP_047027_20201204_02_T1.json`` and
  ``examples/landsat-c2-l2/LE07_L2SP_021030_20100109_02_T1/LE07_L2SP_021030_20100109_02_T1.json``
  (github.com/stactools-packages/landsat, read at commit 033ac29a): ``platform``, ``instruments``
  (``["oli", "tirs"]`` / ``["etm"]``), ``gsd``, ``eo:cloud_cover``, ``view:*``, ``proj:epsg`` /
  ``proj:shape`` / ``proj:transform`` on the item, ``landsat:*`` (``wrs_type``/``wrs_path``/``wrs_row``,
  ``collection_category``/``collection_number``, ``correction``, ``cloud_cover_land``); surface-reflectance
  assets keyed by common name with one ``eo:bands`` entry (the sensor's own band name: on ETM+ ``blue``
  is ``SR_B1`` ... ``swir22`` is ``SR_B7``) and ``raster:bands`` ``{nodata 0, uint16, scale 2.75e-05,
  offset -0.2}``, role ``reflectance``; ``qa_pixel`` with ``raster:bands`` ``{uint16, unit "bit index"}`` (no
  nodata) and roles cloud / cloud-shadow / snow-ice / water-mask. Values (ids, dates, cloud, angles) are ours.
* ``usda-cdl``: one year has three item types, ``usda_cdl:type`` = ``cropland`` / ``cultivated`` /
  ``frequency``, each with its own asset keys (stactools-packages/usda-cdl README, "Item types").
* ``sentinel-1-rtc``: an HH/HV-only item next to a VV/VH one (``sar:polarizations``, assets ``hh``/``hv``
  vs ``vv``/``vh``, float32 linear gamma0, nodata -32768).
* ``sentinel-2-l2a``: per-band assets at 10/20/60 m with per-asset ``proj:shape``/``proj:transform``,
  ``SCL``, ``s2:processing_baseline``.
* labels (``chesapeake-lc-7``, ``usgs-lcmap-conus-v13``, ``esa-worldcover``): annual items with
  ``start_datetime``/``end_datetime`` and a ``data``/``lcpri``/``map`` asset with ``raster:bands``.
* ``usgs-lcmap-conus-v13`` is a product split over tiles (two adjacent tiles, one edge crossing the Landsat
  scene) in a CRS given as ``proj:wkt2`` with ``proj:epsg`` null, as products in an Albers projection
  without an EPSG code are published (the tiling and the CRS stand for LCMAP's; the tile ids are ours).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS, Transformer

#: Centre of every fixture raster (near Annapolis, MD: Chesapeake, CONUS, UTM zone 18N).
LON, LAT = -76.55, 38.95
UTM = 32618  # WGS 84 / UTM 18N (Landsat, Sentinel-1/2, labels)
NAD83_UTM = 26918  # NAD83 / UTM 18N (NAIP)
ALBERS = 5070  # NAD83 / Conus Albers (the tiled label product, described by proj:wkt2 only)
LANDSAT_PX = 320  # Landsat scene: 9.6 km square around the point
LCMAP_PX, LCMAP_SPLIT = 256, 160  # LCMAP: 7.68 km square, tiles split at this column (the point is in the west one)

COLLECTIONS = ("naip", "chesapeake-lc-7", "landsat-c2-l2", "usgs-lcmap-conus-v13", "sentinel-2-l2a", "usda-cdl",
               "sentinel-1-rtc", "esa-worldcover")


def _centre(epsg: int) -> tuple[float, float]:
    return Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True).transform(LON, LAT)


def _grid(epsg: int, res: float, size: int) -> Affine:
    """An affine for a ``size`` x ``size`` raster of ``res`` m around the point (origin on a 60 m grid if it fits)."""
    x, y = _centre(epsg)
    half = size * res / 2
    snap = 60.0 if half >= 300 else res
    x0, y0 = (x - half) // snap * snap, (y + half) // snap * snap
    return Affine(res, 0.0, x0, 0.0, -res, y0)


def _footprint(epsg: int, transform: Affine, shape: tuple[int, int]) -> tuple[dict[str, Any], list[float]]:
    to_ll = Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True)
    rows, cols = shape
    corners = [transform * (c, r) for c, r in ((0, 0), (cols, 0), (cols, rows), (0, rows), (0, 0))]
    ring = [list(to_ll.transform(x, y)) for x, y in corners]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return {"type": "Polygon", "coordinates": [ring]}, [min(lons), min(lats), max(lons), max(lats)]


def write_tif(path: Path, data: np.ndarray, epsg: int, transform: Affine, nodata: float | None = None) -> str:
    """Write a (bands, rows, cols) GeoTIFF; returns its ``file://`` href."""
    data = data if data.ndim == 3 else data[None]
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=data.dtype, crs=f"EPSG:{epsg}", transform=transform, nodata=nodata) as dst:
        dst.write(data)
    return path.absolute().as_uri()


def _item(item_id: str, collection: str, epsg: int, transform: Affine, size: int | tuple[int, int],
          props: dict[str, Any], assets: dict[str, dict[str, Any]], *, wkt2: bool = False) -> dict[str, Any]:
    rows, cols = (size, size) if isinstance(size, int) else size
    geometry, bbox = _footprint(epsg, transform, (rows, cols))
    proj = {"proj:epsg": None, "proj:wkt2": CRS.from_epsg(epsg).to_wkt()} if wkt2 else {"proj:epsg": epsg}
    properties = {**props, **proj, "proj:shape": [rows, cols], "proj:transform": list(transform)[:6]}
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": collection,
            "stac_extensions": ["https://stac-extensions.github.io/projection/v1.0.0/schema.json",
                                "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
                                "https://stac-extensions.github.io/eo/v1.0.0/schema.json"],
            "geometry": geometry, "bbox": bbox, "properties": properties, "links": [], "assets": assets}


def _asset(href: str, *, bands: list[dict[str, Any]] | None = None, eo: list[dict[str, Any]] | None = None,
           **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"href": href, "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                           "roles": ["data"], **extra}
    if bands is not None:
        out["raster:bands"] = bands
    if eo is not None:
        out["eo:bands"] = eo
    return out


def _annual(year: int) -> dict[str, Any]:
    return {"datetime": None, "start_datetime": f"{year}-01-01T00:00:00Z", "end_datetime": f"{year}-12-31T23:59:59Z"}


def _classes(codes: list[int], size: int, rng: np.random.Generator) -> np.ndarray:
    """A label raster of blocks of ``codes`` (several classes in any chip)."""
    blocks = rng.choice(codes, size=(size // 8 + 1, size // 8 + 1))
    return np.kron(blocks, np.ones((8, 8), dtype=np.int64))[:size, :size].astype(np.uint8)


def naip_items(folder: Path, rng: np.random.Generator) -> dict[str, list[dict[str, Any]]]:
    """NAIP (eo:bands only) + Chesapeake 7-class land cover, 1 m."""
    size, t = 96, _grid(NAD83_UTM, 1.0, 96)
    img = rng.integers(40, 220, size=(4, size, size)).astype(np.uint8)
    eo = [{"name": n, "common_name": c} for n, c in (("Red", "red"), ("Green", "green"), ("Blue", "blue"),
                                                      ("NIR", "nir"))]
    naip = _item("md_m_3807604_ne_18_1_20130909", "naip", NAD83_UTM, t, size,
                 {"datetime": "2013-09-09T00:00:00Z", "gsd": 1.0, "naip:state": "md", "naip:year": "2013"},
                 {"image": _asset(write_tif(folder / "naip.tif", img, NAD83_UTM, t), eo=eo, title="RGBIR COG tile"),
                  "thumbnail": {"href": (folder / "naip.200.jpg").as_uri(), "type": "image/jpeg",
                                "roles": ["thumbnail"]}})
    lab = _classes([1, 2, 3, 4, 5], size, rng)
    lc = _item("md-lc-7-2013", "chesapeake-lc-7", NAD83_UTM, t, size, _annual(2013),
               {"data": _asset(write_tif(folder / "lc7.tif", lab, NAD83_UTM, t, 15),
                               bands=[{"data_type": "uint8", "nodata": 15, "spatial_resolution": 1}])})
    return {"naip": [naip], "chesapeake-lc-7": [lc]}


_L8 = {"coastal": "SR_B1", "blue": "SR_B2", "green": "SR_B3", "red": "SR_B4", "nir08": "SR_B5",
       "swir16": "SR_B6", "swir22": "SR_B7"}
_L7 = {"blue": "SR_B1", "green": "SR_B2", "red": "SR_B3", "nir08": "SR_B4", "swir16": "SR_B5", "swir22": "SR_B7"}


def _landsat(folder: Path, rng: np.random.Generator, item_id: str, platform: str, cloud: float, date: str,
             *, cloudy_qa: bool) -> dict[str, Any]:
    size = LANDSAT_PX
    t = _grid(UTM, 30.0, size)
    names = _L7 if platform == "landsat-7" else _L8
    sr = {"nodata": 0, "data_type": "uint16", "scale": 2.75e-05, "offset": -0.2}
    assets = {}
    for k, band in names.items():
        dn = rng.integers(9000, 14000, size=(size, size)).astype(np.uint16)
        assets[k] = _asset(write_tif(folder / f"{item_id}_{band}.tif", dn, UTM, t, 0), bands=[sr],
                           eo=[{"name": band, "common_name": k}], title=f"{k} band ({band[3:]})",
                           roles=["reflectance"])
    qa = np.full((size, size), 21824 if not cloudy_qa else 21824 | (1 << 3), dtype=np.uint16)  # bit 3: cloud
    assets["qa_pixel"] = _asset(write_tif(folder / f"{item_id}_QA_PIXEL.tif", qa, UTM, t),
                                bands=[{"data_type": "uint16", "unit": "bit index"}],
                                title="Pixel Quality Assessment Band",
                                roles=["cloud", "cloud-shadow", "snow-ice", "water-mask"])
    props = {"datetime": date, "platform": platform,
             "instruments": ["etm"] if platform == "landsat-7" else ["oli", "tirs"], "gsd": 30,
             "eo:cloud_cover": cloud, "view:off_nadir": 0, "view:sun_elevation": 62.0, "view:sun_azimuth": 128.0,
             "landsat:cloud_cover_land": cloud, "landsat:wrs_type": "2", "landsat:wrs_path": "015",
             "landsat:wrs_row": "033", "landsat:collection_category": "T1", "landsat:collection_number": "02",
             "landsat:correction": "L2SP"}
    return _item(item_id, "landsat-c2-l2", UTM, t, size, props, assets)


def lcmap_grid() -> Affine:
    """The affine of the LCMAP tiles' common grid (Albers, 30 m; the west tile starts at column 0)."""
    return _grid(ALBERS, 30.0, LCMAP_PX)


def lcmap_tiles(folder: Path, rng: np.random.Generator) -> list[dict[str, Any]]:
    """LCMAP 2021 as two adjacent tiles (Albers, ``proj:wkt2`` only), together a square around the point."""
    t = lcmap_grid()
    lab = _classes([1, 2, 3, 4, 5, 8], LCMAP_PX, rng)
    tiles = []
    for name, col0, col1 in (("018012", 0, LCMAP_SPLIT), ("019012", LCMAP_SPLIT, LCMAP_PX)):
        tt = t * Affine.translation(col0, 0)
        shape = (LCMAP_PX, col1 - col0)
        href = write_tif(folder / f"lcpri_{name}.tif", np.ascontiguousarray(lab[:, col0:col1]), ALBERS, tt, 0)
        tiles.append(_item(f"LCMAP_CU_2021_V13_LCPRI-{name}", "usgs-lcmap-conus-v13", ALBERS, tt, shape,
                           _annual(2021),
                           {"lcpri": _asset(href, bands=[{"data_type": "uint8", "nodata": 0,
                                                          "spatial_resolution": 30}])}, wkt2=True))
    return tiles


def landsat_items(folder: Path, rng: np.random.Generator) -> dict[str, list[dict[str, Any]]]:
    """Landsat 7 + 8 in one collection (LE07 least cloudy, then a cloudy LC08, then a clean one), + LCMAP tiles."""
    items = [
        _landsat(folder, rng, "LE07_L2SP_015033_20210610_02_T1", "landsat-7", 0.5, "2021-06-10T15:40:00Z",
                 cloudy_qa=False),
        _landsat(folder, rng, "LC08_L2SP_015033_20210618_02_T1", "landsat-8", 1.0, "2021-06-18T15:45:00Z",
                 cloudy_qa=True),
        _landsat(folder, rng, "LC08_L2SP_015033_20210805_02_T1", "landsat-8", 4.0, "2021-08-05T15:45:00Z",
                 cloudy_qa=False),
    ]
    return {"landsat-c2-l2": items, "usgs-lcmap-conus-v13": lcmap_tiles(folder, rng)}


_S2_RES = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20, "B08": 10, "B8A": 20,
           "B09": 60, "B11": 20, "B12": 20, "SCL": 20}


def s2_cdl_items(folder: Path, rng: np.random.Generator) -> dict[str, list[dict[str, Any]]]:
    """One Sentinel-2 L2A item (10/20/60 m assets) + CDL 2021 cropland, cultivated and frequency items."""
    extent, assets = 960.0, {}
    for band, res in _S2_RES.items():
        n, t = int(extent // res), _grid(UTM, float(res), int(extent // res))
        if band == "SCL":
            data, rb = np.full((n, n), 4, dtype=np.uint8), {"data_type": "uint8", "spatial_resolution": res}
        else:
            data = rng.integers(500, 3000, size=(n, n)).astype(np.uint16)
            rb = {"data_type": "uint16", "nodata": 0, "scale": 0.0001, "offset": 0, "spatial_resolution": res}
        assets[band] = _asset(write_tif(folder / f"S2_{band}.tif", data, UTM, t, 0 if band != "SCL" else None),
                              bands=[rb], **{"proj:shape": [n, n], "proj:transform": list(t)[:6]})
    t10 = _grid(UTM, 10.0, 96)
    s2 = _item("S2B_MSIL2A_20210712T155819_R097_T18SUH_20210713T034325", "sentinel-2-l2a", UTM, t10, 96,
               {"datetime": "2021-07-12T15:58:19Z", "platform": "Sentinel-2B", "eo:cloud_cover": 2.0,
                "s2:processing_baseline": "03.00", "s2:mgrs_tile": "18SUH"}, assets)
    s2["properties"].pop("proj:shape")  # per-asset grids (10/20/60 m), as on Planetary Computer
    s2["properties"].pop("proj:transform")
    size, t = 32, _grid(UTM, 30.0, 32)
    crop = _classes([1, 5, 24, 36, 61], size, rng)
    bands = [{"data_type": "uint8", "nodata": 0, "spatial_resolution": 30}]
    cdl = []
    for kind, keys in (("cropland", ["cropland"]), ("cultivated", ["cultivated"]),
                       ("frequency", ["corn", "cotton", "soybean", "wheat"])):
        item_assets = {k: _asset(write_tif(folder / f"cdl_{k}.tif", crop if k == "cropland" else
                                           np.full((size, size), 2, np.uint8), UTM, t, 0), bands=bands)
                       for k in keys}
        cdl.append(_item(f"{kind}_2021_18", "usda-cdl", UTM, t, size, {**_annual(2021), "usda_cdl:type": kind},
                         item_assets))
    return {"sentinel-2-l2a": [s2], "usda-cdl": cdl}


def s1_items(folder: Path, rng: np.random.Generator) -> dict[str, list[dict[str, Any]]]:
    """Sentinel-1 RTC: an HH/HV-only item (nearest to the window's middle) and a VV/VH one; + WorldCover."""
    size, t = 96, _grid(UTM, 10.0, 96)
    rb = [{"data_type": "float32", "nodata": -32768, "spatial_resolution": 10, "scale": 1.0, "offset": 0}]
    items = []
    for item_id, pols, date in (("S1A_IW_GRDH_1SDH_20210701T000000_HH", ["HH", "HV"], "2021-07-01T22:55:00Z"),
                                ("S1A_IW_GRDH_1SDV_20210601T000000_VV", ["VV", "VH"], "2021-06-01T22:55:00Z")):
        assets = {p.lower(): _asset(write_tif(folder / f"{item_id}_{p}.tif",
                                              rng.uniform(0.01, 0.3, (size, size)).astype(np.float32), UTM, t,
                                              -32768), bands=rb, title=f"{p}: {p[0]}-transmit, {p[1]}-receive")
                  for p in pols}
        items.append(_item(item_id, "sentinel-1-rtc", UTM, t, size,
                           {"datetime": date, "platform": "SENTINEL-1A", "constellation": "Sentinel-1",
                            "sar:polarizations": pols, "sar:instrument_mode": "IW",
                            "sar:product_type": "GRD", "sat:orbit_state": "descending"}, assets))
    lab = _classes([10, 30, 40, 50, 80], size, rng)
    wc = _item("ESA_WorldCover_10m_2021_v200_N36W078", "esa-worldcover", UTM, t, size, _annual(2021),
               {"map": _asset(write_tif(folder / "wc.tif", lab, UTM, t, 0),
                              bands=[{"data_type": "uint8", "nodata": 0, "spatial_resolution": 10}])})
    return {"sentinel-1-rtc": items, "esa-worldcover": [wc]}


def write_catalog(folder: Path, seed: int = 0) -> dict[str, tuple[Path, Path]]:
    """Write rasters and the ``<id>.collection.json`` / ``<id>.items.json`` pairs for ``serve_local``."""
    rng = np.random.default_rng(seed)
    makers: list[Callable[[Path, np.random.Generator], dict[str, list[dict[str, Any]]]]] = [
        naip_items, landsat_items, s2_cdl_items, s1_items]
    out: dict[str, tuple[Path, Path]] = {}
    for make in makers:
        for cid, items in make(folder / "files", rng).items():
            col = {"type": "Collection", "stac_version": "1.0.0", "id": cid, "description": f"{cid} (PC-like fixture)",
                   "license": "proprietary", "links": [],
                   "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                              "temporal": {"interval": [["2010-01-01T00:00:00Z", None]]}}}
            cpath, ipath = folder / f"{cid}.collection.json", folder / f"{cid}.items.json"
            cpath.write_text(json.dumps(col))
            ipath.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
            out[cid] = (cpath, ipath)
    return out
