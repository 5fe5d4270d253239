"""WorldCereal NetCDF samples -> single-band COGs + STAC Items.

Collections ``worldcereal-s2l2a`` and ``worldcereal-labels``.

odc-stac cannot read NetCDF variables through ``file://`` hrefs, so every variable is converted:

* ``S2_L2A_10m_<loc>_*.nc`` (B02, B03, B04, B08 at 10 m) and ``S2_L2A_20m_<loc>_*.nc`` (B05, B06,
  B07, B8A, B11, B12, SCL at 20 m), dims ``(timestamp, y, x)``: one Item per (location, timestamp),
  one COG per band at ``<out>/files/worldcereal/<loc>/<YYYYMMDDTHHMMSS>/<band>.tif``. The raw DNs are
  kept (uint16, nodata 0; ``raster:bands`` scale 1e-4, offset 0: these 2017-2021 GEE extractions carry
  no baseline-04.00 offset), SCL as uint8 (nodata 0). The folder names carry the time because two
  locations have two scenes on one day. Locations without a 10 m file (000028085BF08E7E and the
  Tanzania survey) only have the 20 m assets (``lslib:has_10m: false``).
* ``OUTPUT_POLY-110_10m_<loc>_<epsg>_<start>_<end>.nc``: the ``LC`` variable (WorldCereal land-cover
  code) -> ``<out>/files/worldcereal/<loc>/labels/LC.tif`` (uint16, nodata 0), one Item per location
  spanning the season ``<start>``..``<end>`` of the file name.

``eo:cloud_cover`` (%) = pixels with SCL in {3 cloud shadow, 8 cloud medium probability, 9 cloud high
probability, 10 thin cirrus} / pixels with SCL != 0, at 20 m. All dates are converted (472 Items,
~4 000 COGs of 32x32 or 64x64 px, ~3 s); existing COGs are reused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from lslib.atomic import atomic_path
from lslib.data.fetch import fetch, find_keys
from lslib.data.local_stac.meta import (
    COG_TYPE,
    Grid,
    classification_classes,
    eo_bands,
    iso,
    make_item,
    raster_asset,
    raster_band,
)

__all__ = ["CLOUD_SCL_CLASSES", "worldcereal_label_items", "worldcereal_s2_items"]

DATASET = "worldcereal-lpis-s2-patches"
#: SCL classes counted as cloudy: cloud shadow, cloud medium / high probability, thin cirrus.
CLOUD_SCL_CLASSES: tuple[int, ...] = (3, 8, 9, 10)
BANDS_10M: tuple[str, ...] = ("B02", "B03", "B04", "B08")
BANDS_20M: tuple[str, ...] = ("B05", "B06", "B07", "B8A", "B11", "B12", "SCL")
_NAME_RE = re.compile(
    r"^(?P<kind>.+?)_(?P<res>\d+)m_(?P<loc>.+)_(?P<epsg>\d{4,5})_(?P<start>[\d-]{10})_(?P<end>[\d-]{10})\.nc$"
)


def _parse(name: str) -> dict[str, str]:
    m = _NAME_RE.match(name)
    if m is None:
        raise ValueError(f"unexpected WorldCereal file name {name!r}")
    return m.groupdict()


def _grid(var: xr.DataArray) -> Grid:
    crs = var.rio.crs
    epsg = crs.to_epsg() if crs is not None else None
    if epsg is None:
        raise ValueError(f"WorldCereal variable {var.name} has no EPSG CRS in spatial_ref")
    return Grid(int(epsg), (int(var.sizes["y"]), int(var.sizes["x"])), var.rio.transform())


def _write_cog(path: Path, data: np.ndarray, grid: Grid, nodata: int) -> None:
    """Write a single-band deflate GeoTIFF atomically; keep an existing file.

    The file is one tile covering the whole raster (32x32 or 64x64 px) with its IFD at the start:
    a valid Cloud-Optimized GeoTIFF (no overviews are needed below 512 px). GDAL's GTiff driver
    writes it ~3x faster than the COG driver, which matters for ~4 000 files.
    """
    if path.exists():
        return
    rows, cols = grid.shape
    block = min(512, -(-max(rows, cols) // 16) * 16)
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": cols,
        "height": rows,
        "count": 1,
        "dtype": data.dtype.name,
        "crs": f"EPSG:{grid.epsg}",
        "transform": grid.transform,
        "nodata": nodata,
        "compress": "deflate",
        "tiled": True,
        "blockxsize": block,
        "blockysize": block,
    }
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data, 1)


def _stamp(t: np.datetime64) -> datetime:
    return datetime.fromisoformat(str(t.astype("datetime64[s]"))).replace(tzinfo=UTC)


def _s2_files() -> Iterator[tuple[str, dict[str, Path]]]:
    """(location, {"10": path, "20": path}) for each location with an S2 file, sorted."""
    by_loc: dict[str, dict[str, Path]] = {}
    for key in find_keys(f"{DATASET}/S2_L2A_*.nc"):
        info = _parse(Path(key).name)
        by_loc.setdefault(info["loc"], {})[info["res"]] = fetch(key)
    yield from sorted(by_loc.items())


def worldcereal_s2_items(out_dir: Path) -> list[dict[str, Any]]:
    """Items of ``worldcereal-s2l2a``; converts the NetCDF bands to COGs under ``out_dir/files``.

    Returns:
        One Item per (location, timestamp), sorted by id ``<location>_<YYYYMMDDTHHMMSS>``.
    """
    items: list[dict[str, Any]] = []
    jobs: list[tuple[Path, np.ndarray, Grid, int]] = []
    for loc, files in _s2_files():
        if "20" not in files:
            raise ValueError(f"WorldCereal location {loc} has no 20 m S2 file (needed for SCL)")
        arrays: dict[str, tuple[np.ndarray, Grid]] = {}
        times: np.ndarray | None = None
        for res in ("10", "20"):
            if res not in files:
                continue
            with xr.open_dataset(files[res], mask_and_scale=False) as ds:
                t = ds["timestamp"].values
                if times is not None and not np.array_equal(times, t):
                    raise ValueError(f"{loc}: the 10 m and 20 m files have different timestamps")
                times = t
                for band in BANDS_10M if res == "10" else BANDS_20M:
                    var = ds[band]
                    arrays[band] = (np.asarray(var.values), _grid(var))
        assert times is not None
        scl = arrays["SCL"][0]
        valid = (scl != 0).sum(axis=(1, 2))
        cloudy = np.isin(scl, CLOUD_SCL_CLASSES).sum(axis=(1, 2))
        has_10m = "10" in files
        for i, t in enumerate(times):
            when = _stamp(t)
            stamp = when.strftime("%Y%m%dT%H%M%S")
            folder = out_dir / "files" / "worldcereal" / loc / stamp
            assets: dict[str, dict[str, Any]] = {}
            grids: list[Grid] = []
            for band in (*(BANDS_10M if has_10m else ()), *BANDS_20M):
                data, grid = arrays[band]
                path = folder / f"{band}.tif"
                jobs.append((path, data[i], grid, 0))
                grids.append(grid)
                if band == "SCL":
                    assets[band] = raster_asset(
                        path,
                        grid,
                        title="Scene Classification Layer (SCL), 20 m",
                        media_type=COG_TYPE,
                        bands=[raster_band("uint8", resolution=grid.resolution, nodata=0)],
                        classes=classification_classes("s2_scl"),
                    )
                else:
                    assets[band] = raster_asset(
                        path,
                        grid,
                        title=f"{band} surface reflectance, {grid.resolution:g} m",
                        media_type=COG_TYPE,
                        bands=[raster_band("uint16", resolution=grid.resolution, nodata=0, scale=1e-4, offset=0.0)],
                        eo=eo_bands("sentinel2_l2a", [band]),
                    )
            cover = 100.0 * float(cloudy[i]) / float(valid[i]) if valid[i] else 100.0
            props: dict[str, Any] = {
                "datetime": iso(when),
                "constellation": "sentinel-2",
                "instruments": ["msi"],
                "gsd": grids[0].resolution,
                "eo:cloud_cover": round(cover, 3),
                "lslib:cloud_cover_note": "% of valid (SCL != 0) 20 m pixels with SCL in 3, 8, 9, 10",
                "lslib:location": loc,
                "lslib:has_10m": has_10m,
                "lslib:dataset": DATASET,
            }
            if not has_10m:
                props["lslib:bands_note"] = "no 10 m file in the sample: only the 20 m assets (B05..B12, SCL)"
            items.append(make_item(f"{loc}_{stamp}", "worldcereal-s2l2a", grids=grids, assets=assets, properties=props))
    for job in jobs:
        _write_cog(*job)
    return sorted(items, key=lambda it: it["id"])


def worldcereal_label_items(out_dir: Path) -> list[dict[str, Any]]:
    """Items of ``worldcereal-labels``: the ``LC`` code of each location as a uint16 COG (nodata 0)."""
    items: list[dict[str, Any]] = []
    for key in find_keys(f"{DATASET}/OUTPUT_POLY-110_10m_*.nc"):
        info = _parse(Path(key).name)
        with xr.open_dataset(fetch(key), mask_and_scale=False) as ds:
            var = ds["LC"]
            data = np.asarray(var.values).astype(np.uint16)
            grid = _grid(var)
            source = str(var.attrs.get("source", ""))
        path = out_dir / "files" / "worldcereal" / info["loc"] / "labels" / "LC.tif"
        _write_cog(path, data, grid, 0)
        asset = raster_asset(
            path,
            grid,
            title="WorldCereal land-cover code (LC), 10 m",
            media_type=COG_TYPE,
            bands=[raster_band("uint16", resolution=grid.resolution, nodata=0)],
            classes=classification_classes("worldcereal"),
        )
        props: dict[str, Any] = {
            "datetime": None,
            "start_datetime": f"{info['start']}T00:00:00Z",
            "end_datetime": f"{info['end']}T23:59:59Z",
            "lslib:taxonomy": "worldcereal",
            "lslib:location": info["loc"],
            "lslib:label_source": source,
            "lslib:dataset": DATASET,
        }
        items.append(
            make_item(f"{info['loc']}_LC", "worldcereal-labels", grids=[grid], assets={"data": asset}, properties=props)
        )
    return sorted(items, key=lambda it: it["id"])
