"""WorldCereal training-patch NetCDF reader: Sentinel-2 L2A time series on the 10 m grid.

The files (``S2_L2A_10m_<id>_<epsg>_<start>_<end>.nc``: B02, B03, B04, B08; ``S2_L2A_20m_...``:
B05, B06, B07, B8A, B11, B12, SCL and angles) store uint16 DNs with ``_FillValue = 0`` and
``scale_factor = 1e-4`` (CF), dims ``(timestamp, y, x)``, pixel-centre x/y coordinates and a
``spatial_ref`` grid-mapping variable with the CRS WKT (the global ``epsg`` attribute is the
fallback). The reflectances come from Google Earth Engine extractions of 2017-2021 scenes
(processing baselines < 04.00), so the CF scale alone yields reflectance; no offset is applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from rasterio.enums import Resampling

from lslib.data.bands import S2_L2A_ORDER
from lslib.data.readers.common import crs_error, existing_path, finish_image, resample_onto
from lslib.data.readers.sentinel2 import s2_band_id

__all__ = ["read_worldcereal_s2"]

TimeSelection = str | np.datetime64 | slice | Sequence[str] | Sequence[np.datetime64] | None


def _open_bands(path: Path, time: TimeSelection) -> dict[str, xr.DataArray]:
    """Band id -> float32 ``(time, y, x)`` reflectance (NaN nodata) of one WorldCereal S2 file."""
    out: dict[str, xr.DataArray] = {}
    with xr.open_dataset(path, mask_and_scale=False) as ds:
        crs = None
        for name in ds.data_vars:
            band = s2_band_id(str(name)) if str(name).upper() == str(name) else None
            var = ds[name]
            if band is None or band not in S2_L2A_ORDER or var.ndim != 3:
                continue
            tdim = str(var.dims[0])
            if time is not None:
                var = var.sel({tdim: [time] if isinstance(time, str | np.datetime64) else time})
            raw = var.load()
            fill = raw.attrs.get("_FillValue", raw.encoding.get("_FillValue"))
            scale = float(raw.attrs.get("scale_factor", 1.0))
            offset = float(raw.attrs.get("add_offset", 0.0))
            values = raw.astype(np.float32) * np.float32(scale) + np.float32(offset)
            if fill is not None:
                values = values.where(raw != fill)
            crs = crs or raw.rio.crs or (f"EPSG:{int(ds.attrs['epsg'])}" if "epsg" in ds.attrs else None)
            out[band] = values.astype(np.float32).rename({tdim: "time"})
    if not out:
        raise ValueError(f"{path} has no Sentinel-2 band variables (B02, B05, ...) with dims (time, y, x)")
    if crs is None:
        raise crs_error(str(path))
    for band, da in out.items():
        out[band] = da.rio.write_crs(crs).rio.write_nodata(np.nan, encoded=False, inplace=True)
    return out


def read_worldcereal_s2(
    path_10m: str | Path,
    path_20m: str | Path | None = None,
    *,
    time: TimeSelection = None,
) -> xr.DataArray:
    """Read a WorldCereal S2 L2A time series, 20 m bands bilinearly resampled onto the 10 m grid.

    Args:
        path_10m: the ``S2_L2A_10m_*.nc`` file.
        path_20m: the matching ``S2_L2A_20m_*.nc`` file (optional; same location and dates).
        time: selection on the time axis, by label: a date string (``"2019-05-04"``, the time dim
            is kept), a list of dates, or a ``slice("2019-04-01", "2019-06-30")``.

    Returns:
        ``(time, band, y, x)`` float32 reflectance with NaN nodata, bands in L2A order (B02, B03,
        B04, [B05, B06, B07,] B08, [B8A, B11, B12]), ``wavelength`` (µm) and ``time``
        (datetime64) coordinates; attrs ``sensor="sentinel2_l2a"``, ``gsd``, ``units``.
    """
    p10 = existing_path(path_10m, "WorldCereal 10 m S2 file")
    bands = _open_bands(p10, time)
    like = next(iter(bands.values())).isel(time=0, drop=True)
    if path_20m is not None:
        p20 = existing_path(path_20m, "WorldCereal 20 m S2 file")
        b20 = _open_bands(p20, time)
        t10 = next(iter(bands.values()))["time"].values
        t20 = next(iter(b20.values()))["time"].values
        if t10.shape != t20.shape or not np.array_equal(t10, t20):
            raise ValueError(
                f"{p10.name} and {p20.name} have different dates ({len(t10)} vs {len(t20)}); "
                "pass files of the same location and period"
            )
        for band, da in b20.items():
            bands[band] = resample_onto(da, like, Resampling.bilinear).assign_coords(time=t10)
    names = [b for b in S2_L2A_ORDER if b in bands]
    stack = xr.concat(
        [bands[b] for b in names], dim="band", coords="minimal", compat="override", join="override"
    )
    return finish_image(
        stack,
        names=names,
        sensor="sentinel2_l2a",
        units="reflectance",
        like=like,
        extra_attrs={"source": "worldcereal"},
    )
