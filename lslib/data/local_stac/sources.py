"""Items of the loopback STAC collections built straight from sample files (no conversion).

Sources: TerraMesh (S2 L2A, S1 RTC, Esri LULC), Zion (Landsat 8 C2 L2, NLCD 2011) and the T29UNU tile.

Every function fetches its files through the manifests (:func:`lslib.data.fetch.fetch`) and returns
the Item dicts of one collection (:func:`lslib.data.local_stac.meta.make_item`), sorted by id.

Datetimes:

* TerraMesh S2L2A files carry no date, but TerraMesh writes the Sentinel-2 acquisition time as the
  ``datetime`` tag of the same site's S2RGB, NDVI and LULC files (identical per site, e.g.
  ``2021-07-23T13:22:41`` for 282D_485L_3_3). The S2 Items use it; the S1 Items use the ``datetime``
  tag of their own file (the S1 acquisition, hours to days from the S2 one). The Esri LULC label is
  an annual map: its Items span the calendar year of the S2 acquisition (2017 to 2023 across sites).
* The Zion Landsat scene id ``LC80380342015230LGN00`` gives the day (2015, day 230 = 2015-08-18)
  but no time; 18:00 UTC (about 10:30 local solar time, the Landsat 8 overpass) is used so that the
  UTC day and the solar day agree.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rasterio

from lslib.data.bands import S2_L2A_ORDER
from lslib.data.fetch import fetch, find_keys
from lslib.data.local_stac.meta import (
    GEOTIFF_TYPE,
    JP2_TYPE,
    SAR_EXT,
    Grid,
    classification_classes,
    eo_bands,
    iso,
    make_item,
    raster_asset,
    raster_band,
)

__all__ = ["t29unu_items", "terramesh_items", "zion_items"]

TERRAMESH = "terramesh-examples-s2-esri-lulc"
ZION = "landsat8-nlcd2011-zion"
T29UNU = "s2-l2a-scl-T29UNU-ireland"
#: Landsat Collection 2 Level-2 surface reflectance scaling (USGS LSDS-1619): value = DN * 2.75e-5 - 0.2.
LANDSAT_C2_SCALE, LANDSAT_C2_OFFSET = 2.75e-5, -0.2
_T29UNU_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B09", "B11", "B12", "B8A")


def _tag_datetime(path: Path) -> datetime:
    """The ``datetime`` dataset tag of a TerraMesh file (``"2021-07-23T13:22:41.000000000"``), UTC."""
    with rasterio.open(path) as src:
        text = src.tags().get("datetime")
    if not text:
        raise ValueError(f"{path} has no 'datetime' tag")
    return datetime.fromisoformat(text[:19]).replace(tzinfo=UTC)


def _sites() -> list[str]:
    return [Path(k).stem for k in find_keys(f"{TERRAMESH}/S2L2A/*.tif")]


def terramesh_items(kind: str) -> list[dict[str, Any]]:
    """Items of ``terramesh-s2l2a``, ``terramesh-s1rtc`` or ``terramesh-esri-lulc`` (5 sites).

    Args:
        kind: ``"s2l2a"``, ``"s1rtc"`` or ``"esri-lulc"``.
    """
    collection = f"terramesh-{kind}"
    items: list[dict[str, Any]] = []
    for site in _sites():
        label = fetch(f"{TERRAMESH}/LULC/{site}.tif")
        s2_time = _tag_datetime(label)
        common: dict[str, Any] = {"lslib:site": site, "lslib:dataset": TERRAMESH}
        extensions: list[str] = []
        if kind == "s2l2a":
            path = fetch(f"{TERRAMESH}/S2L2A/{site}.tif")
            grid = Grid.of_file(path)
            bands = [raster_band("int16", resolution=grid.resolution, nodata=0, scale=1e-4, offset=0.0)] * 12
            asset = raster_asset(
                path,
                grid,
                title="Sentinel-2 L2A, 12 bands (B01..B12 without B10), DN = reflectance x 10000",
                media_type=GEOTIFF_TYPE,
                bands=bands,
                eo=eo_bands("sentinel2_l2a", S2_L2A_ORDER),
            )
            props: dict[str, Any] = {
                "datetime": iso(s2_time),
                "constellation": "sentinel-2",
                "instruments": ["msi"],
                "gsd": grid.resolution,
                "eo:cloud_cover": 0.0,
                "lslib:cloud_cover_note": "not measured (no SCL/QA in TerraMesh); 0 is a placeholder: "
                "TerraMesh samples were selected as (nearly) cloud-free",
                "lslib:datetime_note": "S2 acquisition time from the 'datetime' tag of the site's "
                "S2RGB/NDVI/LULC files (the S2L2A file has none)",
                "lslib:dn_offset": 0,
            }
        elif kind == "s1rtc":
            path = fetch(f"{TERRAMESH}/S1RTC/{site}.tif")
            grid = Grid.of_file(path)
            with rasterio.open(path) as src:
                dtype = src.dtypes[0]
            bands = [raster_band(dtype, resolution=grid.resolution, unit="dB")] * 2
            asset = raster_asset(
                path,
                grid,
                title="Sentinel-1 RTC backscatter VV, VH (dB)",
                media_type=GEOTIFF_TYPE,
                bands=bands,
                eo=eo_bands("sentinel1", ["VV", "VH"]),
            )
            props = {
                "datetime": iso(_tag_datetime(path)),
                "constellation": "sentinel-1",
                "instruments": ["c-sar"],
                "gsd": grid.resolution,
                "sar:instrument_mode": "IW",
                "sar:frequency_band": "C",
                "sar:center_frequency": 5.405,
                "sar:polarizations": ["VV", "VH"],
                "sar:product_type": "RTC",
                "lslib:datetime_note": "S1 acquisition time from the file's 'datetime' tag",
            }
            extensions.append(SAR_EXT)
        elif kind == "esri-lulc":
            path = label
            grid = Grid.of_file(path)
            year = s2_time.year
            asset = raster_asset(
                path,
                grid,
                title="Esri/IO 10 m annual LULC, TerraMesh codes 1-9 (0 = no data)",
                media_type=GEOTIFF_TYPE,
                bands=[raster_band("uint8", resolution=grid.resolution, nodata=0)],
                classes=classification_classes("terramesh_lulc"),
            )
            props = {
                "datetime": None,
                "start_datetime": f"{year}-01-01T00:00:00Z",
                "end_datetime": f"{year}-12-31T23:59:59Z",
                "lslib:taxonomy": "terramesh_lulc",
                "lslib:datetime_note": f"annual Esri LULC of the year of the site's S2 acquisition ({iso(s2_time)})",
            }
        else:
            raise ValueError(f"unknown TerraMesh kind {kind!r}; expected 's2l2a', 's1rtc' or 'esri-lulc'")
        items.append(
            make_item(
                f"{site}-{kind}",
                collection,
                grids=[grid],
                assets={"data": asset},
                properties={**props, **common},
                extra_extensions=extensions,
            )
        )
    return sorted(items, key=lambda it: it["id"])


def zion_items(kind: str) -> list[dict[str, Any]]:
    """The one Item of ``zion-landsat-c2-l2`` (``kind="landsat"``) or ``zion-nlcd-2011`` (``"nlcd"``).

    Landsat assets are named as on Planetary Computer's ``landsat-c2-l2``: ``blue``, ``green``,
    ``red``, ``nir08`` (30 m, EPSG:32612, uint16, nodata 65535, reflectance = DN * 2.75e-5 - 0.2).
    NLCD 2011 is on its own grid (EPSG:6367, ~31.53 m x 31.52 m): loaders must reproject it.
    """
    if kind == "landsat":
        assets: dict[str, dict[str, Any]] = {}
        grids: list[Grid] = []
        for key, number in (("blue", 2), ("green", 3), ("red", 4), ("nir08", 5)):
            path = fetch(f"{ZION}/landsat_b{number}.tif")
            grid = Grid.of_file(path)
            grids.append(grid)
            band = raster_band(
                "uint16", resolution=grid.resolution, nodata=65535, scale=LANDSAT_C2_SCALE, offset=LANDSAT_C2_OFFSET
            )
            assets[key] = raster_asset(
                path,
                grid,
                title=f"Surface reflectance band SR_B{number} ({key})",
                media_type=GEOTIFF_TYPE,
                bands=[band],
                eo=eo_bands("landsat8", [f"SR_B{number}"]),
            )
        props: dict[str, Any] = {
            "datetime": "2015-08-18T18:00:00Z",
            "platform": "landsat-8",
            "constellation": "landsat",
            "instruments": ["oli", "tirs"],
            "gsd": grids[0].resolution,
            "landsat:scene_id": "LC80380342015230LGN00",
            "landsat:wrs_path": "038",
            "landsat:wrs_row": "034",
            "lslib:dataset": ZION,
            "lslib:datetime_note": "date from the scene id (2015 day 230); the time of day is not in the "
            "sample: 18:00 UTC ~ the Landsat 8 overpass (10:30 local solar time)",
            "lslib:cloud_cover_note": "eo:cloud_cover absent: the sample has no QA_PIXEL band",
        }
        return [make_item("LC80380342015230LGN00", "zion-landsat-c2-l2", grids=grids, assets=assets, properties=props)]
    if kind == "nlcd":
        path = fetch(f"{ZION}/nlcd2011.tif")
        grid = Grid.of_file(path)
        asset = raster_asset(
            path,
            grid,
            title="NLCD 2011 land cover (Anderson level II codes, 255 = no data)",
            media_type=GEOTIFF_TYPE,
            bands=[raster_band("uint8", resolution=grid.resolution, nodata=255)],
            classes=classification_classes("nlcd"),
        )
        props = {
            "datetime": None,
            "start_datetime": "2011-01-01T00:00:00Z",
            "end_datetime": "2011-12-31T23:59:59Z",
            "lslib:taxonomy": "nlcd",
            "lslib:dataset": ZION,
            "lslib:grid_note": "EPSG:6367 at ~31.53 m: a different grid from the Landsat item; reproject",
        }
        return [make_item("nlcd2011-zion", "zion-nlcd-2011", grids=[grid], assets={"data": asset}, properties=props)]
    raise ValueError(f"unknown Zion kind {kind!r}; expected 'landsat' or 'nlcd'")


def _mtd_text(root: ET.Element, tag: str) -> str:
    for el in root.iter():
        if el.tag.split("}")[-1] == tag and el.text:
            return el.text.strip()
    raise ValueError(f"MTD_MSIL2A.xml has no {tag}")


def t29unu_items(kind: str) -> list[dict[str, Any]]:
    """The one Item of ``t29unu-s2l2a`` (``kind="s2l2a"``) or ``t29unu-scl`` (``kind="scl"``).

    S2 L2A 2022-10-05 (S2A, processing baseline 04.00): reflectance = DN * 1e-4 - 0.1 (the
    ``BOA_ADD_OFFSET`` of -1000 DN), nodata 0; the 11 bands at 60 m (JPEG 2000, no B08/B10 at 60 m)
    and ``SCL`` at 20 m. ``eo:cloud_cover`` is the product's ``Cloud_Coverage_Assessment`` from
    ``MTD_MSIL2A.xml`` (59.77 %), not recomputed.
    """
    root = ET.parse(fetch(f"{T29UNU}/MTD_MSIL2A.xml")).getroot()
    uri = _mtd_text(root, "PRODUCT_URI")  # S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE
    product_id = re.sub(r"_N\d{4}", "", uri.removesuffix(".SAFE"))
    tile = re.search(r"_T(\d{2}[A-Z]{3})_", uri)
    if tile is None:
        raise ValueError(f"no MGRS tile in {uri}")
    start = datetime.fromisoformat(_mtd_text(root, "PRODUCT_START_TIME").replace("Z", "+00:00"))
    baseline = _mtd_text(root, "PROCESSING_BASELINE")
    offset = -0.1 if float(baseline) >= 4.0 else 0.0
    scl_path = fetch(f"{T29UNU}/T29UNU_20221005T115411_SCL_20m.jp2")
    scl_grid = Grid.of_file(scl_path)
    scl_asset = raster_asset(
        scl_path,
        scl_grid,
        title="Scene Classification Layer (SCL), 20 m",
        media_type=JP2_TYPE,
        bands=[raster_band("uint8", resolution=scl_grid.resolution, nodata=0)],
        classes=classification_classes("s2_scl"),
    )
    common: dict[str, Any] = {
        "datetime": iso(start),
        "platform": _mtd_text(root, "SPACECRAFT_NAME").lower(),
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "s2:mgrs_tile": tile.group(1),
        "s2:processing_baseline": baseline,
        "s2:product_uri": uri,
        "lslib:dataset": T29UNU,
    }
    if kind == "scl":
        props = {**common, "lslib:taxonomy": "s2_scl"}
        return [
            make_item(f"{product_id}-SCL", "t29unu-scl", grids=[scl_grid], assets={"data": scl_asset}, properties=props)
        ]
    if kind != "s2l2a":
        raise ValueError(f"unknown T29UNU kind {kind!r}; expected 's2l2a' or 'scl'")
    assets: dict[str, dict[str, Any]] = {}
    grids: list[Grid] = []
    for band in _T29UNU_BANDS:
        path = fetch(f"{T29UNU}/T29UNU_20221005T115411_{band}_60m.jp2")
        grid = Grid.of_file(path)
        grids.append(grid)
        assets[band] = raster_asset(
            path,
            grid,
            title=f"{band} surface reflectance, 60 m",
            media_type=JP2_TYPE,
            bands=[raster_band("uint16", resolution=grid.resolution, nodata=0, scale=1e-4, offset=offset)],
            eo=eo_bands("sentinel2_l2a", [band]),
        )
    assets["SCL"] = scl_asset
    props = {
        **common,
        "gsd": grids[0].resolution,
        "eo:cloud_cover": float(_mtd_text(root, "Cloud_Coverage_Assessment")),
        "lslib:cloud_cover_note": "Cloud_Coverage_Assessment of MTD_MSIL2A.xml",
    }
    return [make_item(product_id, "t29unu-s2l2a", grids=[*grids, scl_grid], assets=assets, properties=props)]
