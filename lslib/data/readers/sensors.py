"""Readers for Sentinel-1 backscatter, Landsat surface reflectance and RGB(N) imagery.

Conventions as in :mod:`lslib.data.readers`: ``(band, y, x)`` float32, NaN nodata, ``band`` and
``wavelength`` coordinates, attrs ``sensor``, ``gsd`` (m) and ``units``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
import xarray as xr
from rasterio.enums import Resampling

from lslib.data.bands import band_info, band_names, sensor_bands
from lslib.data.readers.common import (
    RASTER_SUFFIXES,
    existing_path,
    finish_image,
    open_raster,
    resample_onto,
)

__all__ = ["read_landsat", "read_rgb", "read_sentinel1"]

Chunks = int | dict[str, int] | None

_S1_RE = re.compile(r"(?:^|[_\-.\s])(VV|VH|HH|HV)$", re.IGNORECASE)
_LANDSAT_RE = re.compile(r"(?:^|[_\-.\s])(?:SR_)?B(\d{1,2})$", re.IGNORECASE)

#: Landsat Level-2 surface-reflectance scaling: (collection, level) -> (scale, offset).
LANDSAT_SR_SCALING: dict[tuple[int, int], tuple[float, float]] = {
    (2, 2): (2.75e-5, -0.2),  # Collection 2 Level-2 SR_B*: USGS LSDS-1619
    (1, 2): (1e-4, 0.0),  # Collection 1 Level-2 (LaSRC/LEDAPS) sr_band*
}


def _band_id(pattern: re.Pattern[str], stem: str) -> str | None:
    """The band id captured by ``pattern`` at the end of ``stem`` (upper case), or None."""
    m = pattern.search(stem)
    return None if m is None else m.group(1).upper()


def _files_by_band(directory: Path, pattern: re.Pattern[str], canon: dict[str, str]) -> dict[str, Path]:
    """Band name -> file for files in ``directory`` (not recursive) whose stem ends with a band id."""
    out: dict[str, list[Path]] = {}
    for f in sorted(directory.iterdir()):
        if f.suffix.lower() not in RASTER_SUFFIXES or f.name.startswith(".") or "_ST_B" in f.stem.upper():
            continue
        band = _band_id(pattern, f.stem)
        if band is not None:
            key = canon.get(band.lstrip("0") or band, band) if canon else band
            out.setdefault(key, []).append(f)
    dup = {b: [str(p) for p in fs] for b, fs in out.items() if len(fs) > 1}
    if dup:
        raise ValueError(f"several files per band under {directory}: {dup}; pass the folder of one scene")
    return {b: fs[0] for b, fs in out.items()}


def _stack_files(files: dict[str, Path], names: Sequence[str], chunks: Chunks) -> xr.DataArray:
    """Open one single-band file per name; bands off the first band's grid are bilinearly resampled."""
    layers = []
    like: xr.DataArray | None = None
    for name in names:
        raw = open_raster(files[name], chunks=chunks)
        if raw.sizes["band"] != 1:
            raise ValueError(f"{files[name]} has {raw.sizes['band']} bands; per-band files must have one")
        if like is None:
            like = raw
        elif raw.rio.shape != like.rio.shape or raw.rio.transform() != like.rio.transform():
            raw = resample_onto(_float_nan(raw), like, Resampling.bilinear)
        layers.append(raw.isel(band=0, drop=True))
    return xr.concat(layers, dim="band", coords="minimal", compat="override", join="override")


def _float_nan(raw: xr.DataArray, extra_nodata: Sequence[float] = ()) -> xr.DataArray:
    """float32 copy with the file's nodata (and ``extra_nodata``) as NaN, nodata metadata set to NaN."""
    nodata = raw.rio.nodata
    out = raw.astype(np.float32)
    invalid = xr.zeros_like(raw, dtype=bool)
    for value in [nodata, *extra_nodata]:
        if value is not None and not np.isnan(value):
            invalid = invalid | (raw == value)
    return out.where(~invalid).rio.write_nodata(np.nan, encoded=False, inplace=True)


def _descriptions(path: Path) -> tuple[str | None, ...]:
    with rasterio.open(path) as src:
        return tuple(src.descriptions)


def _select(layout: Sequence[str], wanted: Sequence[str] | None, where: str) -> list[str]:
    if wanted is None:
        return list(layout)
    missing = [b for b in wanted if b not in layout]
    if missing:
        raise ValueError(f"bands {missing} not found in {where}; found bands: {list(layout)}")
    return list(wanted)


def read_sentinel1(
    source: str | Path,
    *,
    bands: Sequence[str] = ("VV", "VH"),
    to_db: bool | str = "auto",
    band_order: Sequence[str] | None = None,
    chunks: Chunks = None,
) -> xr.DataArray:
    """Read Sentinel-1 backscatter in dB.

    Args:
        source: a folder of per-band files (``*_VV.tif``, ``*_VH.tif``, or ``VV.tif``), one such
            file, or one multi-band GeoTIFF. A 2-band file without band descriptions is taken as
            ``(VV, VH)`` (TerraMesh S1RTC, BigEarthNet), unless ``band_order`` says otherwise.
        bands: polarisations to return, in this order.
        to_db: ``"auto"`` converts linear power to dB when the data look linear (no negative
            values and the 99th percentile <= 2) and keeps data with negative values as dB;
            ``True`` forces 10*log10 (values <= 0 become NaN); ``False`` keeps values as they are.
        band_order: band names of a multi-band file, one per band.
        chunks: dask chunks for lazy reading (``"auto"`` dB detection reads the data once).

    Returns:
        ``(band, y, x)`` float32 backscatter in dB, NaN nodata, ``wavelength`` = the C-band radar
        wavelength 55 465.8 µm for both polarisations; attrs ``sensor="sentinel1"``, ``gsd``,
        ``units="dB"``, ``converted_from_linear`` (bool).
    """
    if to_db not in (True, False, "auto"):
        raise ValueError(f"to_db must be True, False or 'auto', got {to_db!r}")
    path = existing_path(source, "Sentinel-1 source")
    wanted = [band_info("sentinel1", b).name for b in bands]
    single = _band_id(_S1_RE, path.stem) if path.is_file() else None
    if path.is_dir() or (single is not None and _count(path) == 1):
        files = _files_by_band(path, _S1_RE, {}) if path.is_dir() else {str(single): path}
        if not files:
            raise ValueError(
                f"no Sentinel-1 band files under {path}: expected names ending in _VV.tif/_VH.tif"
            )
        selected = _select([b for b in ("VV", "VH") if b in files], wanted, str(path))
        raw = _stack_files(files, selected, chunks)
    else:
        raw = open_raster(path, chunks=chunks)
        count = raw.sizes["band"]
        desc = [_band_id(_S1_RE, f"_{d}") if d else None for d in _descriptions(path)]
        if band_order is not None:
            layout = [band_info("sentinel1", b).name for b in band_order]
        elif all(desc) and len(set(desc)) == count:
            layout = [str(d) for d in desc]
        elif count == 2:
            layout = ["VV", "VH"]
        else:
            raise ValueError(
                f"{path} has {count} bands without VV/VH descriptions; pass band_order=['VV', ...]"
            )
        if len(layout) != count:
            raise ValueError(f"band_order names {len(layout)} bands but {path} has {count}")
        selected = _select(layout, wanted, str(path))
        raw = raw.isel(band=[layout.index(b) for b in selected])
    values = _float_nan(raw)
    linear = bool(to_db) if to_db != "auto" else _looks_linear(values, str(path))
    if linear:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            positive = values.where(values > 0)
            values = (10.0 * xr.apply_ufunc(np.log10, positive, dask="allowed", keep_attrs=True)).astype(
                np.float32
            )
    return finish_image(
        values,
        names=selected,
        sensor="sentinel1",
        units="dB",
        extra_attrs={"converted_from_linear": linear},
    )


def _count(path: Path) -> int:
    with rasterio.open(path) as src:
        return int(src.count)


def _looks_linear(values: xr.DataArray, where: str) -> bool:
    """True for linear power, False for dB; ValueError when the values fit neither."""
    sample = np.asarray(values.values, dtype=np.float64)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        raise ValueError(f"{where} has no valid pixels")
    if (sample < 0).mean() > 0.01:
        return False
    if np.percentile(sample, 99) <= 2.0:
        return True
    raise ValueError(
        f"{where}: values are non-negative but exceed 2 (99th percentile {np.percentile(sample, 99):.3g}), "
        "so they are neither dB nor linear power (amplitude or DN?); convert them first, or pass "
        "to_db=True (linear power) / to_db=False (already dB)"
    )


def read_landsat(
    source: str | Path,
    *,
    sensor: str = "landsat8",
    bands: Sequence[str] | None = None,
    collection: int = 2,
    level: int = 2,
    clip: bool = False,
    chunks: Chunks = None,
) -> xr.DataArray:
    """Read Landsat Level-2 surface reflectance.

    Args:
        source: a folder of per-band files whose names end with the band (``landsat_b2.tif``,
            ``LC08_..._SR_B4.TIF``; thermal ``ST_B*`` files are skipped), one such file, or a
            multi-band file, whose band names ``bands`` must then list one per file band.
        sensor: ``"landsat8"``, ``"landsat9"`` or ``"landsat7"``.
        bands: per-band folders: the bands to return (names or aliases, ``"red"``, ``"B4"``,
            ``"SR_B4"``; default all found); multi-band files: the file's band layout.
        collection: the Landsat collection, 2 (``DN * 2.75e-5 - 0.2``) or 1 (``DN * 1e-4``).
        level: the processing level; only Level 2 is supported (Level 1 needs per-scene MTL
            coefficients).
        clip: if True, clip reflectance to [0, 1]. Default False: the SR product has small negative
            values over dark targets and shadows (DN < 7273), kept as they are.
        chunks: dask chunks for lazy reading.

    Returns:
        ``(band, y, x)`` float32 reflectance; DN 0 (the C2 fill value) and the file's nodata (e.g.
        65535) -> NaN; band names ``SR_B*``; attrs ``sensor``, ``gsd``, ``units="reflectance"``,
        ``scale``, ``offset``, ``clipped``.
    """
    if (collection, level) not in LANDSAT_SR_SCALING:
        raise ValueError(
            f"collection={collection}, level={level} is not supported; supported (collection, level): "
            f"{sorted(LANDSAT_SR_SCALING)} (Level-1 TOA needs the scene's MTL coefficients)"
        )
    table = band_names(sensor)
    path = existing_path(source, "Landsat source")
    canon = {str(int(n[4:])): n for n in table}
    single = _band_id(_LANDSAT_RE, path.stem) if path.is_file() else None
    if path.is_dir() or (single is not None and _count(path) == 1):
        if path.is_dir():
            files = _files_by_band(path, _LANDSAT_RE, canon)
        else:
            files = {canon.get(str(int(str(single))), f"B{single}"): path}
        unknown = sorted(b for b in files if b not in table)
        files = {b: f for b, f in files.items() if b in table}
        if not files:
            raise ValueError(
                f"no {sensor} band files under {path}: expected names ending in _B2.tif or _SR_B2.TIF"
            )
        if unknown:
            warnings.warn(
                f"{path}: skipped files of bands not in the {sensor} SR table: {unknown}", stacklevel=2
            )
        found = [b for b in table if b in files]
        wanted = None if bands is None else [band_info(sensor, b).name for b in bands]
        selected = _select(found, wanted, str(path))
        raw = _stack_files(files, selected, chunks)
    else:
        raw = open_raster(path, chunks=chunks)
        count = raw.sizes["band"]
        desc = _descriptions(path)
        if bands is not None:
            selected = [band_info(sensor, b).name for b in bands]
        elif all(desc):
            selected = [band_info(sensor, str(d)).name for d in desc]
        else:
            raise ValueError(
                f"{path} is a {count}-band file without band descriptions; state its layout with "
                f"bands=[...] (one {sensor} band per file band, e.g. ['blue', 'green', 'red', 'nir08'])"
            )
        if len(selected) != count:
            raise ValueError(f"bands names {len(selected)} bands but {path} has {count}; name every band")
    scale, offset = LANDSAT_SR_SCALING[(collection, level)]
    refl = (_float_nan(raw, extra_nodata=(0,)) * np.float32(scale) + np.float32(offset)).astype(np.float32)
    if clip:
        refl = refl.clip(0.0, 1.0)
    return finish_image(
        refl,
        names=selected,
        sensor=sensor,
        units="reflectance",
        extra_attrs={"scale": scale, "offset": offset, "clipped": clip},
    )


def read_rgb(
    source: str | Path,
    *,
    bands: Sequence[str] = ("red", "green", "blue"),
    sensor: str | None = None,
    scale: float | None = None,
    chunks: Chunks = None,
) -> xr.DataArray:
    """Read an RGB or RGBN image (e.g. TerraMesh S2RGB, NAIP) scaled to [0, 1].

    Args:
        source: one multi-band raster.
        bands: the file's bands, one name per band, in file order (``("red", "green", "blue",
            "nir")`` for NAIP). The count must match the file: no band is dropped silently.
        sensor: band table, ``"rgb"`` or ``"naip"``; default ``"naip"`` if ``"nir"`` is among
            ``bands``, else ``"rgb"``.
        scale: factor from DN to [0, 1]; default 1/255 for uint8. Required for other integer
            types (e.g. 1/65535 or 1e-4 for 16-bit); float data are kept as they are.
        chunks: dask chunks for lazy reading.

    Returns:
        ``(band, y, x)`` float32 in [0, 1] (``units="normalized"``: display brightness, not
        calibrated reflectance unless the source is), NaN nodata.
    """
    key = sensor or ("naip" if any(b.lower() in ("nir", "n") for b in bands) else "rgb")
    names = [band_info(key, b).name for b in bands]
    path = existing_path(source, "RGB image")
    raw = open_raster(path, chunks=chunks)
    count = raw.sizes["band"]
    if count != len(names):
        raise ValueError(
            f"{path} has {count} bands but bands= names {len(names)} ({list(bands)}); name every band "
            f"of the file, in order (valid {key} bands: {[b.name for b in sensor_bands(key)]})"
        )
    if scale is None:
        if raw.dtype == np.uint8:
            scale = 1.0 / 255.0
        elif np.issubdtype(raw.dtype, np.floating):
            scale = 1.0
        else:
            raise ValueError(
                f"{path} is {raw.dtype}; pass scale= (e.g. 1/65535 or 1e-4) to map DNs to [0, 1]"
            )
    values = (_float_nan(raw) * np.float32(scale)).astype(np.float32)
    return finish_image(
        values,
        names=names,
        sensor=key,
        units="normalized",
        extra_attrs={"scale": float(scale)},
    )
