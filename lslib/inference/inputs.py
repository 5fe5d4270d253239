"""From a georeferenced ``xarray.DataArray`` to the model's inputs, with errors that say what to do.

The model needs, per band, a central wavelength in µm (the ``wavelength`` coordinate that
:func:`lslib.data.open_image` and every :mod:`lslib.data.readers` reader attach) and physical values
(reflectance, display brightness in [0, 1], or SAR dB). :func:`assign_bands` and :data:`SENSOR_PRESETS`
live in :mod:`lslib.data.images` (re-exported here); :func:`image_tensor` is the Predictor's entry and
checks that the values are plausible, so a DataArray of DN handed in directly is refused with the fix.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from lslib.data.images import SAR_WAVELENGTH_UM, SENSOR_PRESETS, assign_bands, check_plausible

__all__ = ["SENSOR_PRESETS", "assign_bands", "image_tensor", "with_scene_stretch"]

#: the fix for a DataArray of DN given to the Predictor directly
_ARRAY_ADVICE = (
    "read the file with lslib.data.open_image(path) (it applies the file's scale tags or a sensor convention: "
    "sensor='s2-l2a'|'landsat8', scale=1e-4), or convert the array first, e.g. da * 1e-4 for Sentinel-2 DN"
)


def image_tensor(da: xr.DataArray) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """``(band, y, x)`` DataArray -> ``(1, C, H, W)`` float32 (NaN nodata), wavelengths ``(C,)``, band names.

    Raises:
        ValueError: wrong dims, missing/NaN wavelengths, duplicated bands, empty raster, or no valid pixel.
        ImageInputError: values not plausible for their radiometry (``attrs["radiometry"]``, default
            reflectance; radar bands as dB), e.g. uint16 DN named with ``assign_bands`` but never scaled.
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
    step = max(1, int(np.ceil(max(values.shape[1:]) / 256)))
    radiometry = da.attrs.get("radiometry") or ("display" if da.attrs.get("units") == "normalized" else "reflectance")
    check_plausible(
        values[:, ::step, ::step], radiometry, sar=waves > SAR_WAVELENGTH_UM, dtype=da.dtype,
        source=str(da.attrs.get("radiometry_source", "")), advice=_ARRAY_ADVICE, what="the image",
    )  # fmt: skip
    return torch.from_numpy(values)[None], torch.from_numpy(waves.astype(np.float32)), names


def with_scene_stretch(da: xr.DataArray, *, max_pixels: int = 1 << 20) -> xr.DataArray:
    """``da`` with ``attrs["norm_stats"]``: the robust per-band stretch of the whole scene, ``[[low, high], ...]``.

    Computed once on a regular subsample of at most ``max_pixels`` pixels per band
    (:func:`lslib.model.spectral_adapter.robust_band_stats`); every window then shares one stretch
    (:meth:`lslib.inference.Predictor.set_image` reads the attribute), so tiles show no seams and a
    window of water is not stretched like a window of land. Kept when already present.
    """
    if "norm_stats" in da.attrs:
        return da
    from lslib.model.spectral_adapter import robust_band_stats

    step = max(1, int(np.ceil(np.sqrt(da.sizes["y"] * da.sizes["x"] / max_pixels))))
    sub = da.isel(y=slice(step // 2, None, step), x=slice(step // 2, None, step))
    values = np.asarray(sub.data.compute() if sub.chunks else sub.values, dtype=np.float32)
    nodata = da.rio.nodata if hasattr(da, "rio") else None
    if nodata is not None and not np.isnan(nodata):
        values = np.where(values == np.float32(nodata), np.float32(np.nan), values)
    stats = robust_band_stats(torch.from_numpy(values)[None])[0]
    return da.assign_attrs(norm_stats=stats.tolist())
