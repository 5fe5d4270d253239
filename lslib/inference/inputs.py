"""From a georeferenced ``xarray.DataArray`` to the model's inputs, with errors that say what to do.

The model needs, per band, a central wavelength in µm (the ``wavelength`` coordinate that every
:mod:`lslib.data.readers` reader attaches). A plain GeoTIFF/PNG has none: :func:`assign_bands`
adds them from band names of a sensor table (``red,green,blue,nir`` with ``sensor="naip"``) or
from numbers in µm (``0.665,0.56,0.49``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from lslib.data.bands import SENSORS, band_info, band_names

#: ``--sensor`` shortcuts for files without band metadata: sensor table + the file's band order.
SENSOR_PRESETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "rgb": ("rgb", ("red", "green", "blue")),
    "naip": ("naip", ("red", "green", "blue", "nir")),
    "s2-l2a": ("sentinel2_l2a", tuple(band_names("sentinel2_l2a"))),
    "landsat8": ("landsat8", tuple(band_names("landsat8"))),
}


def _parse_band(token: str | float, sensor: str | None) -> tuple[str, float]:
    """One ``--bands`` entry: a number (µm) or a band name of ``sensor`` (default: S2, then NAIP)."""
    if isinstance(token, int | float):
        value = float(token)
    else:
        text = str(token).strip()
        try:
            value = float(text)
        except ValueError:
            tables = [sensor] if sensor else ["sentinel2_l2a", "naip", "landsat8", "sentinel1"]
            for table in tables:
                try:
                    info = band_info(table, text)
                except ValueError:
                    continue
                return info.name, info.wavelength_um
            raise ValueError(
                f"unknown band {text!r}{f' for sensor {sensor!r}' if sensor else ''}: give band names such as "
                "red,green,blue,nir (or B04,B03,B02,B08) or central wavelengths in µm such as 0.665,0.56,0.49"
            ) from None
    if not 0.3 <= value <= 1e6 or math.isnan(value):
        raise ValueError(f"wavelength {value} µm is out of range: give central wavelengths in µm (e.g. 0.665 for red)")
    return f"{value:g}um", value


def assign_bands(
    da: xr.DataArray, *, bands: Sequence[str | float] | str | None = None, sensor: str | None = None
) -> xr.DataArray:
    """Name the bands of ``da`` and attach their wavelengths (µm) as the ``wavelength`` coordinate.

    Args:
        da: ``(band, y, x)`` array read from a file without band metadata.
        bands: one entry per band, in file order: names (``"red"``, ``"B08"``) or wavelengths in µm;
            a comma-separated string is accepted.
        sensor: a key of :data:`SENSOR_PRESETS` (``naip``, ``s2-l2a``, ``landsat8``, ``rgb``) or of
            :data:`lslib.data.bands.SENSORS`; alone, it supplies the preset's band order.

    Raises:
        ValueError: band count differs from the file, unknown names, or neither argument given.
    """
    if "band" not in da.dims:
        da = da.expand_dims(band=[1])
    if isinstance(bands, str):
        bands = [b for b in bands.split(",") if b.strip()]
    table = None
    if sensor is not None:
        key = sensor.lower()
        if key in SENSOR_PRESETS:
            table, preset = SENSOR_PRESETS[key]
            bands = bands or list(preset)
        elif key.replace("-", "_") in SENSORS:
            table = key.replace("-", "_")
            bands = bands or list(band_names(table))
        else:
            raise ValueError(f"unknown sensor {sensor!r}; choose one of {sorted(SENSOR_PRESETS)} or {list(SENSORS)}")
    if not bands:
        raise ValueError(
            "give bands= (names or µm, one per band in file order) or sensor= (naip, s2-l2a, landsat8, rgb)"
        )
    parsed = [_parse_band(b, table) for b in bands]
    if len(parsed) != da.sizes["band"]:
        raise ValueError(
            f"the image has {da.sizes['band']} bands but {len(parsed)} were named ({[p[0] for p in parsed]}): "
            "name every band of the file, in order"
        )
    names = [p[0] for p in parsed]
    if len(set(names)) != len(names):
        raise ValueError(f"band names repeat: {names}; each band must be named once")
    return da.assign_coords(band=names, wavelength=("band", np.array([p[1] for p in parsed])))


def image_tensor(da: xr.DataArray) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """``(band, y, x)`` DataArray -> ``(1, C, H, W)`` float32 (NaN nodata), wavelengths ``(C,)``, band names.

    Raises:
        ValueError: wrong dims, missing/NaN wavelengths, duplicated bands, empty raster, or no valid pixel.
        TypeError: a non-numeric dtype.
    """
    if set(da.dims) != {"band", "y", "x"}:
        raise ValueError(
            f"image must have dims (band, y, x), got {da.dims}; select one time step (da.isel(time=0)) or add a band "
            "dim (da.expand_dims('band'))"
        )
    da = da.transpose("band", "y", "x")
    if "wavelength" not in da.coords:
        raise ValueError(
            "the image has no 'wavelength' coordinate: read it with lslib.data.readers (read_sentinel2, read_landsat, "
            "...) or name its bands with lslib.inference.assign_bands(da, bands='red,green,blue,nir') / sensor='naip'"
        )
    waves = np.asarray(da["wavelength"].values, dtype=np.float64)
    if not np.all(np.isfinite(waves)):
        missing = [str(b) for b, w in zip(da["band"].values, waves, strict=True) if not np.isfinite(w)]
        raise ValueError(f"bands {missing} have no wavelength: set them with assign_bands(da, bands=...)")
    names = [str(b) for b in da["band"].values]
    if len(set(names)) != len(names):
        raise ValueError(f"band names repeat: {names}; drop the duplicates (da.drop_duplicates('band'))")
    if min(da.sizes["y"], da.sizes["x"]) < 1 or da.sizes["band"] < 1:
        raise ValueError(f"empty image: {dict(da.sizes)}")
    if not (np.issubdtype(da.dtype, np.number) or da.dtype == bool):
        raise TypeError(f"image dtype {da.dtype} is not numeric: give reflectance (optical) or backscatter in dB (SAR)")
    if np.issubdtype(da.dtype, np.complexfloating):
        raise TypeError(
            f"image dtype {da.dtype} is not real-valued: give backscatter in dB for SAR, e.g. 10 * log10(abs(x) ** 2)"
        )
    values = np.asarray(da.values, dtype=np.float32)
    nodata = da.rio.nodata if hasattr(da, "rio") else None
    if nodata is not None and not np.isnan(nodata):
        values = np.where(values == np.float32(nodata), np.float32(np.nan), values)
    values = np.where(np.isfinite(values), values, np.float32(np.nan))
    if np.isnan(values).all():
        raise ValueError("the image has no valid pixel (all nodata/NaN/inf): check the area or the nodata value")
    return torch.from_numpy(values)[None], torch.from_numpy(waves.astype(np.float32)), names
