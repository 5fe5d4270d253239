"""Sentinel-2 L1C/L2A reader: per-band files (GeoTIFF/JP2) or one multi-band GeoTIFF -> reflectance.

Radiometry: reflectance = (DN - offset) / 10 000. The offset is 1000 for processing baseline
>= 04.00 and 0 before; ``boa_offset="auto"`` detects it from the product metadata or name (rules
in :mod:`lslib.data.readers.s2meta`; ``N9999`` reprocessed products such as BigEarthNet v2 and
Major-TOM have offset-free DNs, verified on the samples whose darkest pixels are DN 1-35). Without
any hint the offset is 0: patch datasets such as TerraMesh and EuroSAT ship offset-free DNs
(TerraMesh S2L2A reaches DN 1). ``boa_offset=<int>`` overrides: the DN amount subtracted, i.e. 1000.
DN 0 is nodata -> NaN. Negative reflectances (dark pixels of offset products) are kept, not clipped.

Band layout of a multi-band file: from ``band_order`` (a list of band names or a preset name of
:data:`LAYOUTS`), else from the band descriptions (as written by ``write_geotiff``), else from the
band count: 12 -> L2A order ``B01..B08,B8A,B09,B11,B12`` (TerraMesh S2L2A, SSL4EO-S12 L2A),
13 -> L1C order ``B01..B08,B8A,B09,B10,B11,B12`` (TerraMesh S2L1C, SSL4EO-S12 L1C). EuroSAT-MS
files are also 13 bands but put B8A last (``B01..B12,B8A``: in the samples band 13 follows B08 and
band 10 is the cirrus band, DN ~10): pass ``band_order="eurosat"``; the count-based default warns
when band 10, not 11, looks like the cirrus band. Any other count needs ``band_order``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import rasterio
import xarray as xr
from rasterio.enums import Resampling

from lslib.data.bands import S2_L1C_ORDER, S2_L2A_ORDER, band_info, band_names
from lslib.data.readers.common import (
    RASTER_SUFFIXES,
    existing_path,
    finish_image,
    grid_template,
    gsd_metres,
    open_raster,
    readable,
    resample_onto,
)
from lslib.data.readers.s2meta import BAND_RE, detect_boa_offset, s2_band_id

Chunks = int | dict[str, int] | None

__all__ = ["LAYOUTS", "detect_boa_offset", "read_sentinel2", "s2_band_id"]

#: EuroSAT-MS band order (B8A last), checked against the sample patches' values.
EUROSAT_ORDER: tuple[str, ...] = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A",
)  # fmt: skip

#: Named band layouts of multi-band Sentinel-2 files, for ``read_sentinel2(band_order=...)``.
LAYOUTS: dict[str, tuple[str, ...]] = {
    "sentinel2_l2a": S2_L2A_ORDER,
    "terramesh_s2l2a": S2_L2A_ORDER,
    "ssl4eo_l2a": S2_L2A_ORDER,
    "sentinel2_l1c": S2_L1C_ORDER,
    "terramesh_s2l1c": S2_L1C_ORDER,
    "ssl4eo_l1c": S2_L1C_ORDER,
    "eurosat": EUROSAT_ORDER,
}


def _band_files(directory: Path, resolution: int | None) -> dict[str, Path]:
    """Map band id -> file in ``directory`` (recursive); per band the file at ``resolution`` or the finest."""
    found: dict[str, list[tuple[int | None, Path]]] = {}
    for f in sorted(directory.rglob("*")):
        if f.suffix.lower() not in RASTER_SUFFIXES or f.name.startswith(".") or not f.is_file():
            continue
        m = BAND_RE.search(f.stem)
        if m is None:
            continue
        res = int(m.group(2)) if m.group(2) else None
        found.setdefault(s2_band_id(f.stem) or "", []).append((res, f))
    chosen: dict[str, Path] = {}
    for band, cands in found.items():
        exact = [f for r, f in cands if r == resolution]
        tagged = sorted((r, f) for r, f in cands if r is not None)
        if len(cands) == 1:
            chosen[band] = cands[0][1]
        elif len(exact) == 1:
            chosen[band] = exact[0]
        elif len(tagged) == len(cands) and tagged[0][0] != tagged[1][0]:
            chosen[band] = tagged[0][1]
        else:
            raise ValueError(
                f"several files for band {band} under {directory}: {[str(f) for _, f in cands]}; "
                "pass the folder of a single product/patch"
            )
    return chosen


def _check_level(level: str) -> str:
    lv = level.upper()
    if lv not in ("L2A", "L1C"):
        raise ValueError(f"level must be 'L2A' or 'L1C', got {level!r}")
    return lv


def _to_reflectance(raw: xr.DataArray, offsets: Sequence[int], nodata: float | None) -> xr.DataArray:
    """``(band, y, x)`` DN -> float32 reflectance (DN - offset) / 10 000, NaN where DN is 0 or nodata."""
    off = xr.DataArray(np.asarray(offsets, dtype=np.float32), dims="band")
    refl = (raw.astype(np.float32) - off) / np.float32(10_000)
    valid = raw != 0
    if nodata is not None and not np.isnan(nodata) and nodata != 0:
        valid = valid & (raw != nodata)
    return refl.where(valid).astype(np.float32)


def _resampling_for(band_gsd: float, target_gsd: float) -> Resampling:
    return Resampling.bilinear if band_gsd >= target_gsd else Resampling.average


def _layout(
    path: Path,
    count: int,
    level: str,
    band_order: str | Sequence[str] | None,
    bands: Sequence[str] | None,
) -> tuple[tuple[str, ...], str]:
    """Band names of a multi-band file and how they were found."""
    hint = (
        "pass band_order=[...] with one Sentinel-2 band name per file band (e.g. ['B02','B03','B04','B08']) "
        f"or a preset name: {', '.join(LAYOUTS)}"
    )
    if isinstance(band_order, str):
        if band_order.lower() not in LAYOUTS:
            raise ValueError(f"unknown band_order preset {band_order!r}; {hint}")
        layout, how = LAYOUTS[band_order.lower()], f"preset {band_order}"
    elif band_order is not None:
        layout, how = tuple(band_info("sentinel2_l1c", b).name for b in band_order), "band_order"
    else:
        with rasterio.open(path) as src:
            desc = [s2_band_id(d or "") for d in src.descriptions]
        if all(desc) and len(set(desc)) == count:
            return tuple(d for d in desc if d), "band descriptions"
        if count == 12:
            return S2_L2A_ORDER, "12 bands: L2A order"
        if count == 13:
            if level == "L2A":
                raise ValueError(
                    f"{path} has 13 bands, the L1C layout with B10 (cirrus); read it with level='L1C' "
                    "(or state the layout with band_order=, e.g. band_order='eurosat')"
                )
            return S2_L1C_ORDER, "13 bands: L1C order"
        if bands is not None and len(bands) == count:
            return tuple(band_info("sentinel2_l1c", b).name for b in bands), "bands= as layout"
        raise ValueError(
            f"{path} has {count} bands and no band descriptions, so its layout is unknown; {hint}"
        )
    if len(layout) != count:
        raise ValueError(f"band_order names {len(layout)} bands but {path} has {count}; {hint}")
    return layout, how


def _cirrus_at_eurosat_position(raw: xr.DataArray) -> bool:
    """True when band 10 (0-based 9), not band 11, has the lowest median DN: a EuroSAT-ordered file."""
    h, w = raw.sizes["y"], raw.sizes["x"]
    win = raw.isel(y=slice(max(0, h // 2 - 64), h // 2 + 64), x=slice(max(0, w // 2 - 64), w // 2 + 64))
    values = np.asarray(win.values, dtype=np.float64).reshape(raw.sizes["band"], -1)
    values[values == 0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(values, axis=1)
    return bool(np.isfinite(med).all() and int(np.argmin(med)) == 9)


def read_sentinel2(
    source: str | Path,
    *,
    bands: Sequence[str] | None = None,
    level: str = "L2A",
    resolution: int | None = None,
    boa_offset: int | str = "auto",
    band_order: str | Sequence[str] | None = None,
    chunks: Chunks = None,
) -> xr.DataArray:
    """Read Sentinel-2 L2A/L1C bands as reflectance on one grid.

    Args:
        source: a folder of per-band files (GeoTIFF or JP2 whose names end with the band id:
            ``..._B04.tif``, ``B8A.tif``, ``T29UNU_..._B04_60m.jp2``; searched recursively, e.g. a
            ``.SAFE``), a single-band file named that way, or one multi-band GeoTIFF.
        bands: bands to return, in this order (names or aliases: ``"B4"``, ``"red"``, ``"nir"``);
            default all bands found, in table order. For a multi-band file whose layout cannot be
            inferred, a list with one name per file band states the layout.
        level: ``"L2A"`` (bottom-of-atmosphere) or ``"L1C"`` (top-of-atmosphere, may contain B10).
        resolution: ``None`` (default): the grid of the finest file among the requested bands (a
            folder holding only 60 m files stays at 60 m; a multi-band file keeps its grid). Or the
            output grid in metres, 10, 20 or 60: the grid of a band with that native GSD
            (else the files' extent at that pixel size). Coarser bands are upsampled bilinearly,
            finer bands averaged. A multi-band file keeps its grid unless it is in a projected CRS
            and its GSD differs from ``resolution`` by more than 5 %.
        boa_offset: ``"auto"`` (see module docstring) or the DN amount to subtract (1000 for
            processing baseline >= 04.00, 0 before).
        band_order: layout of a multi-band file: band names, or a key of :data:`LAYOUTS`.
        chunks: dask chunks for lazy reading (``None`` reads into memory; resampled bands are
            always computed).

    Returns:
        ``(band, y, x)`` float32 reflectance (1.0 = 100 %), NaN nodata, coords ``band`` and
        ``wavelength`` (µm), attrs ``sensor`` (``"sentinel2_l2a"``/``"sentinel2_l1c"``),
        ``gsd`` (m), ``units="reflectance"``, ``boa_offset`` (DN subtracted), ``boa_offset_source``.

    Raises:
        FileNotFoundError: ``source`` does not exist.
        ValueError: no recognisable band files, requested bands missing (lists those found),
            an unknown layout, a missing CRS, or an invalid option.
    """
    lv = _check_level(level)
    sensor = f"sentinel2_{lv.lower()}"
    if resolution is not None and resolution not in (10, 20, 60):
        raise ValueError(f"resolution must be 10, 20 or 60 (metres), got {resolution!r}")
    if isinstance(boa_offset, str):
        if boa_offset != "auto":
            raise ValueError(f"boa_offset must be 'auto' or an int, got {boa_offset!r}")
    elif isinstance(boa_offset, int | np.integer) and not isinstance(boa_offset, bool):
        boa_offset = int(boa_offset)
    else:
        raise ValueError(f"boa_offset must be 'auto' or an int, got {boa_offset!r}")
    if isinstance(boa_offset, int) and boa_offset < 0:
        raise ValueError(
            f"boa_offset is the DN amount to subtract (1000 for baseline >= 04.00), got {boa_offset}; "
            "the MTD's BOA_ADD_OFFSET of -1000 corresponds to boa_offset=1000"
        )
    path = existing_path(source, "Sentinel-2 source")
    with readable(path):
        return _read_s2(path, bands, sensor, resolution, boa_offset, band_order, chunks)


def _read_s2(
    path: Path,
    bands: Sequence[str] | None,
    sensor: str,
    resolution: int | None,
    boa_offset: int | str,
    band_order: str | Sequence[str] | None,
    chunks: Chunks,
) -> xr.DataArray:
    wanted = None if bands is None else [band_info("sentinel2_l1c", b).name for b in bands]
    if path.is_dir():
        files = _band_files(path, resolution)
        if not files:
            raise ValueError(
                f"no Sentinel-2 band files under {path}: expected GeoTIFF/JP2 files whose names end "
                "with the band id (e.g. T33UUU_20170216T102101_B04.jp2, ..._B04.tif or B04.tif)"
            )
        return _read_band_files(files, path, wanted, sensor, resolution, boa_offset, chunks)
    if path.suffix.lower() in RASTER_SUFFIXES and (band := s2_band_id(path.stem)) is not None:
        with rasterio.open(path) as src:
            single = src.count == 1
        if single:
            return _read_band_files({band: path}, path, wanted, sensor, resolution, boa_offset, chunks)
    return _read_multiband(path, wanted, bands, sensor, resolution, boa_offset, band_order, chunks)


def _offsets_for(path: Path, names: Sequence[str], boa_offset: int | str) -> tuple[list[int], str]:
    if isinstance(boa_offset, int):
        return [boa_offset] * len(names), "boa_offset argument"
    per_band, how = detect_boa_offset(path)
    default = max(per_band.values(), default=0)
    return [per_band.get(n, default) for n in names], how


def _offset_attrs(names: Sequence[str], offsets: Sequence[int], how: str) -> dict[str, object]:
    uniform = len(set(offsets)) <= 1
    value: object = (
        int(offsets[0])
        if uniform and offsets
        else ",".join(f"{n}:{o}" for n, o in zip(names, offsets, strict=True))
    )
    return {"boa_offset": value, "boa_offset_source": how}


def _read_band_files(
    files: Mapping[str, Path],
    source: Path,
    wanted: list[str] | None,
    sensor: str,
    resolution: int | None,
    boa_offset: int | str,
    chunks: Chunks,
) -> xr.DataArray:
    level_bands = band_names(sensor)
    found = [b for b in S2_L1C_ORDER if b in files]
    if wanted is None:
        extra = [b for b in found if b not in level_bands]
        if extra:
            raise ValueError(
                f"{source} has {extra}, which {sensor} products do not have; read it with level='L1C' "
                "or choose bands=[...]"
            )
        wanted = found
    missing = [b for b in wanted if b not in files]
    if missing:
        raise ValueError(f"bands {missing} not found under {source}; found bands: {found}")
    for b in wanted:
        band_info(sensor, b)  # a B10 request at level L2A -> ValueError listing valid bands

    like = _target_grid(files, found, wanted, source, resolution, chunks)
    resolution = round(gsd_metres(like)) if resolution is None else resolution

    offsets, how = _offsets_for(files[wanted[0]], wanted, boa_offset)
    layers = []
    for name, off in zip(wanted, offsets, strict=True):
        raw = open_raster(files[name], chunks=chunks)
        refl = _to_reflectance(raw, [off], raw.rio.nodata).rio.write_nodata(np.nan, encoded=False, inplace=True)
        method = _resampling_for(band_info("sentinel2_l1c", name).gsd_m, float(resolution))
        layers.append(resample_onto(refl, like, method).isel(band=0, drop=True))
    stack = xr.concat(layers, dim="band", coords="minimal", compat="override", join="override")
    layers.clear()  # free the per-band arrays before the stack is finished
    return finish_image(
        stack,
        names=wanted,
        sensor=sensor,
        units="reflectance",
        like=like,
        extra_attrs=_offset_attrs(wanted, offsets, how),
    )


def _pixel_area(path: Path) -> float:
    with rasterio.open(path) as src:
        return abs(src.res[0] * src.res[1])


def _target_grid(
    files: Mapping[str, Path],
    found: list[str],
    wanted: list[str],
    source: Path,
    resolution: int | None,
    chunks: Chunks,
) -> xr.DataArray:
    """The (y, x) grid all bands are resampled onto (see ``resolution`` in :func:`read_sentinel2`)."""
    if resolution is None:  # the finest file among the requested bands, as it is
        finest_file = min(wanted, key=lambda b: _pixel_area(files[b]))
        return open_raster(files[finest_file], chunks=chunks).isel(band=0, drop=True)
    at_res = [b for b in found if band_info("sentinel2_l1c", b).gsd_m == resolution]
    if at_res:
        return open_raster(files[at_res[0]], chunks=chunks).isel(band=0, drop=True)
    finest = min(found, key=lambda b: band_info("sentinel2_l1c", b).gsd_m)
    ref = open_raster(files[finest])
    if ref.rio.crs.is_geographic:
        raise ValueError(
            f"no {resolution} m band under {source} and its CRS is geographic; choose resolution="
            f"{int(band_info('sentinel2_l1c', finest).gsd_m)} or reproject the files first"
        )
    return grid_template(ref.rio.crs, ref.rio.bounds(), float(resolution))


def _read_multiband(
    path: Path,
    wanted: list[str] | None,
    bands: Sequence[str] | None,
    sensor: str,
    resolution: int | None,
    boa_offset: int | str,
    band_order: str | Sequence[str] | None,
    chunks: Chunks,
) -> xr.DataArray:
    raw = open_raster(path, chunks=chunks)
    count = raw.sizes["band"]
    layout, how_layout = _layout(path, count, sensor[-3:].upper(), band_order, bands)
    if how_layout.startswith("13 bands") and _cirrus_at_eurosat_position(raw):
        warnings.warn(
            f"{path}: band 10, not band 11, looks like the cirrus band B10 (lowest DNs), as in EuroSAT "
            "files (B8A last); if so, pass band_order='eurosat'",
            UserWarning,
            stacklevel=3,
        )
    if len(set(layout)) != len(layout):
        raise ValueError(f"band layout {layout} names a band twice")
    for b in layout:
        band_info(sensor, b)
    selected = list(layout) if wanted is None or how_layout == "bands= as layout" else wanted
    missing = [b for b in selected if b not in layout]
    if missing:
        raise ValueError(f"bands {missing} not in {path}; its bands ({how_layout}): {list(layout)}")
    raw = raw.isel(band=[layout.index(b) for b in selected])
    offsets, how = _offsets_for(path, selected, boa_offset)
    refl = _to_reflectance(raw, offsets, raw.rio.nodata).rio.write_nodata(np.nan, encoded=False, inplace=True)
    gsd = gsd_metres(refl)
    if resolution is not None and not refl.rio.crs.is_geographic and abs(gsd - resolution) > 0.05 * resolution:
        like = grid_template(refl.rio.crs, refl.rio.bounds(), float(resolution))
        refl = resample_onto(refl, like, _resampling_for(gsd, float(resolution)))
    return finish_image(
        refl,
        names=selected,
        sensor=sensor,
        units="reflectance",
        extra_attrs={**_offset_attrs(selected, offsets, how), "band_layout": how_layout},
    )
