"""Radiometry of image inputs: DN -> physical values, sensor presets, and the plausibility check.

Three kinds of values reach the model (``attrs["radiometry"]`` of :func:`lslib.data.images.open_image`):

* ``"reflectance"``: surface/TOA reflectance, 1.0 = 100 % (Sentinel-2 DN/10 000 with the -0.1 offset of
  processing baseline >= 04.00, Landsat Collection 2 Level-2 DN x 2.75e-5 - 0.2, float files as they are);
  plausible when the robust range (0.5th-99.5th percentile) lies in [-0.5, 2].
* ``"display"``: 8-bit or otherwise display-stretched brightness scaled to [0, 1] (NAIP, RGB photos:
  DN/255); must lie in [0, 1].
* ``"sar_db"``: backscatter in dB, plausible in [-60, 30]; linear power (all >= 0, small) is refused with
  the 10·log10 hint.

Physical value = DN x scale + offset. When ``1/scale`` is a whole number (1e-4, 1/255) it is computed as
``(DN + offset/scale) / (1/scale)``, so that DN/10 000 is bit-identical to :func:`lslib.data.readers.read_sentinel2`.

Nothing here is silent: every scale applied has a recorded source, a guess (uint16 without any hint) warns
with :class:`RadiometryAssumedWarning`, and implausible values raise :class:`ImageInputError` naming the
likely cause and the flag/argument that fixes it.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
import xarray as xr

__all__ = [
    "DISPLAY_RANGE",
    "REFLECTANCE_RANGE",
    "SAR_DB_RANGE",
    "SENSOR_RADIOMETRY",
    "ImageInputError",
    "Radiometry",
    "RadiometryAssumedWarning",
    "SensorRadiometry",
    "check_plausible",
    "dn_to_physical",
    "overview",
    "s2_offset_from_properties",
    "s2_offset_from_tags",
    "sensor_radiometry",
    "warn_assumed",
]

Radiometry = Literal["reflectance", "display", "sar_db"]
T = TypeVar("T", np.ndarray, xr.DataArray)

#: plausible robust range (0.5th, 99.5th percentile) of each kind of value
REFLECTANCE_RANGE: tuple[float, float] = (-0.5, 2.0)
DISPLAY_RANGE: tuple[float, float] = (0.0, 1.0)
SAR_DB_RANGE: tuple[float, float] = (-60.0, 30.0)
_DISPLAY_TOL = 1e-3
#: wavelengths above this (µm) are radar bands (Sentinel-1: 55 465.8 µm)
SAR_WAVELENGTH_UM = 1000.0

#: the fix for DN handed over as reflectance, for both doors (CLI flag, Python argument)
DN_ADVICE = (
    "pass --scale 1e-4 (Sentinel-2/HLS reflectance x 10 000; Python: scale=1e-4), or --sensor s2-l2a "
    "(DN/10 000 with the baseline-04.00 offset) or --sensor landsat8 (Landsat C2 L2: DN x 2.75e-5 - 0.2)"
)


class ImageInputError(ValueError):
    """The image's values are not what the model takes (DN as reflectance, linear SAR, ...): says what to pass."""


class RadiometryAssumedWarning(UserWarning):
    """A DN convention was assumed (no tags, sensor or scale): the message names the flag that states it."""


@dataclass(frozen=True)
class SensorRadiometry:
    """How integer DN of a sensor's product become physical values.

    Attributes:
        scale, offset: value = DN x scale + offset (for Sentinel-2 the baseline offset is found per file).
        radiometry: the kind of value produced.
        zero_is_nodata: DN 0 is the product's fill value (Sentinel-2, Landsat C2).
        s2_offset: the -0.1 offset of processing baseline >= 04.00 applies when the file/item says so.
    """

    scale: float | None
    offset: float
    radiometry: Radiometry
    zero_is_nodata: bool = False
    s2_offset: bool = False


_S2 = SensorRadiometry(1e-4, 0.0, "reflectance", zero_is_nodata=True, s2_offset=True)
_LANDSAT_C2 = SensorRadiometry(2.75e-5, -0.2, "reflectance", zero_is_nodata=True)
_DISPLAY = SensorRadiometry(1.0 / 255.0, 0.0, "display")

#: DN conventions per sensor key (``--sensor`` presets and :data:`lslib.data.bands.SENSORS` keys). ``scale``
#: ``None``: no integer convention (Sentinel-1 must come as dB floats); display sensors: uint8 only.
SENSOR_RADIOMETRY: dict[str, SensorRadiometry] = {
    "s2-l2a": _S2,
    "sentinel2_l2a": _S2,
    "sentinel2_l1c": SensorRadiometry(1e-4, 0.0, "reflectance", zero_is_nodata=True, s2_offset=True),
    "landsat8": _LANDSAT_C2,
    "landsat9": _LANDSAT_C2,
    "landsat7": _LANDSAT_C2,
    "naip": _DISPLAY,
    "rgb": _DISPLAY,
    "sentinel1": SensorRadiometry(None, 0.0, "sar_db"),
}


def sensor_radiometry(sensor: str) -> SensorRadiometry:
    """The DN convention of ``sensor`` (``"s2-l2a"``, ``"landsat8"``, ``"naip"``, ...)."""
    key = sensor.strip().lower()
    if key in SENSOR_RADIOMETRY:
        return SENSOR_RADIOMETRY[key]
    key = re.sub(r"[\s\-]", "_", key)
    if key in SENSOR_RADIOMETRY:
        return SENSOR_RADIOMETRY[key]
    raise ValueError(f"unknown sensor {sensor!r}; choose one of {sorted(SENSOR_RADIOMETRY)}")


# --- Sentinel-2 processing-baseline offset -------------------------------------------------------------------


def _baseline_is_04(text: str) -> bool | None:
    digits = re.sub(r"\D", "", str(text))
    if not digits:
        return None
    if "." in str(text):  # "04.00", "4.0"
        try:
            return float(str(text)) >= 4.0
        except ValueError:
            return None
    if len(digits) == 4:  # "0400", "N0400"; N9999 = offset-free reprocessing
        return digits != "9999" and int(digits) >= 400
    return int(digits) >= 4


def s2_offset_from_properties(properties: Mapping[str, Any]) -> float | None:
    """Reflectance offset (-0.1 or 0.0) from STAC ``s2:processing_baseline``; None when the item does not say."""
    baseline = properties.get("s2:processing_baseline")
    if baseline is None:
        return None
    after = _baseline_is_04(str(baseline))
    return None if after is None else (-0.1 if after else 0.0)


def s2_offset_from_tags(tags: Mapping[str, str]) -> float | None:
    """Reflectance offset of Sentinel-2 processing baseline >= 04.00 from GeoTIFF tags; None when none says.

    Read from ``BOA_ADD_OFFSET``/``RADIO_ADD_OFFSET`` (DN, e.g. -1000), ``PROCESSING_BASELINE`` or a
    ``PRODUCT_ID``/``PRODUCT_URI`` with ``_Nxxxx_``.
    """
    upper = {str(k).upper(): str(v) for k, v in tags.items()}
    for key in ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET"):
        if key in upper:
            try:
                return float(upper[key]) * 1e-4
            except ValueError:
                pass
    for key in ("PROCESSING_BASELINE", "S2:PROCESSING_BASELINE"):
        if key in upper and (after := _baseline_is_04(upper[key])) is not None:
            return -0.1 if after else 0.0
    for key in ("PRODUCT_ID", "PRODUCT_URI", "PRODUCT_NAME"):
        if key in upper and (m := re.search(r"_N(\d{4})(?:_|$|\.)", upper[key])):
            return -0.1 if _baseline_is_04(m.group(1)) else 0.0
    return None


# --- DN -> physical ---------------------------------------------------------------------------------------------


def dn_to_physical(
    raw: T, scale: float | Sequence[float] | np.ndarray, offset: float | Sequence[float] | np.ndarray
) -> T:
    """``raw x scale + offset`` as float32 (per band when sequences are given; band is the first axis/dim).

    Exact division when every ``1/scale`` is whole (1e-4 -> ``/ 10000``), so DN/10 000 matches the readers
    bit for bit.
    """
    scales = np.atleast_1d(np.asarray(scale, dtype=np.float64))
    offsets = np.atleast_1d(np.asarray(offset, dtype=np.float64))
    n = max(scales.size, offsets.size)
    scales, offsets = np.broadcast_to(scales, (n,)), np.broadcast_to(offsets, (n,))
    nonzero = np.where(scales != 0, scales, 1.0)
    inv = 1.0 / nonzero
    whole = bool(np.all((scales != 0) & (np.abs(inv - np.round(inv)) <= 1e-6 * np.abs(inv))))
    if whole:
        a, b = (offsets / nonzero).astype(np.float32), np.round(inv).astype(np.float32)
    else:
        a, b = scales.astype(np.float32), offsets.astype(np.float32)

    def op(v: Any, x: Any, y: Any) -> Any:
        return (v + x) / y if whole else v * x + y

    values = raw.astype(np.float32)
    if n == 1:
        return op(values, a[0], b[0]).astype(np.float32)
    if isinstance(values, xr.DataArray):
        dim = str(values.dims[0])
        out = op(values, xr.DataArray(a, dims=dim), xr.DataArray(b, dims=dim))
        return out.astype(np.float32)
    shape = (n,) + (1,) * (values.ndim - 1)
    return op(values, a.reshape(shape), b.reshape(shape)).astype(np.float32)


# --- plausibility -----------------------------------------------------------------------------------------------


def overview(da: xr.DataArray, *, side: int = 256) -> np.ndarray:
    """A small ``(band, h, w)`` float32 sample of ``da`` for checks, reading little of a lazy array.

    NumPy-backed: every k-th pixel. Dask-backed: two windows of ``side/2`` pixels around the quarter points of
    the diagonal (a chunk of a JP2 band folder costs seconds to decode; the Predictor checks every window anyway).
    """
    da = da.transpose("band", "y", "x") if set(da.dims) == {"band", "y", "x"} else da
    h, w = da.sizes.get("y", 1), da.sizes.get("x", 1)
    if da.chunks is None:
        step = max(1, math.ceil(max(h, w) / side))
        return np.asarray(da.isel(y=slice(None, None, step), x=slice(None, None, step)).values, dtype=np.float32)
    win = max(8, side // 2)
    corners = {
        (min(max(0, int(h * q) - win // 2), max(0, h - win)), min(max(0, int(w * q) - win // 2), max(0, w - win)))
        for q in (0.25, 0.75)
    }
    parts = [da.isel(y=slice(y, y + win), x=slice(x, x + win)) for y, x in sorted(corners)]
    import dask

    values = dask.compute(*[p.data for p in parts])
    return np.concatenate([np.asarray(v, dtype=np.float32).reshape(v.shape[0], -1) for v in values], axis=1)


def _robust(values: np.ndarray) -> tuple[float, float, float, int] | None:
    flat = values[np.isfinite(values)]
    if flat.size == 0:
        return None
    lo, hi = np.percentile(flat, [0.5, 99.5])
    return float(lo), float(hi), float((flat < 0).mean()), int(flat.size)


def check_plausible(
    sample: np.ndarray,
    radiometry: Radiometry | str,
    *,
    sar: Sequence[bool] | np.ndarray | None = None,
    source: str = "",
    dtype: Any = None,
    advice: str = "",
    what: str = "the image",
) -> None:
    """Raise :class:`ImageInputError` when ``sample`` (``(band, ...)`` physical values) is not plausible.

    Args:
        sample: values after scaling, band first (NaN = nodata; an all-NaN sample is not judged here).
        radiometry: what the optical bands are meant to be (``"reflectance"`` or ``"display"``).
        sar: per band, True for radar bands (judged as dB whatever ``radiometry`` says).
        source: where the applied scale/offset came from (quoted in the message).
        dtype: the stored data type (quoted: ``uint16`` DN are the common mistake).
        advice: the fix for DN handed over as reflectance (default: the CLI/Python scale and sensor flags).
        what: the input, as the message names it.
    """
    values = np.asarray(sample, dtype=np.float32)
    values = values.reshape(values.shape[0], -1) if values.ndim > 1 else values[None]
    radar = np.zeros(values.shape[0], dtype=bool) if sar is None else np.asarray(sar, dtype=bool)
    if radar.any():
        _check_sar(values[radar], what=what)
    if (~radar).any():
        _check_optical(values[~radar], radiometry, source=source, dtype=dtype, advice=advice or DN_ADVICE, what=what)


def _check_sar(values: np.ndarray, *, what: str) -> None:
    stats = _robust(values)
    if stats is None:
        return
    lo, hi, negative, _ = stats
    if negative < 0.01 and hi <= 2.0:
        raise ImageInputError(
            f"the radar bands of {what} look like linear power (all >= 0, up to {hi:.3g}), not backscatter in dB: "
            "convert them with 10 * log10(x) first (lslib.data.readers.read_sentinel1(path, to_db=True) does it)"
        )
    if lo < SAR_DB_RANGE[0] or hi > SAR_DB_RANGE[1]:
        raise ImageInputError(
            f"the radar bands of {what} range {lo:.4g}..{hi:.4g}, outside backscatter in dB "
            f"({SAR_DB_RANGE[0]:g}..{SAR_DB_RANGE[1]:g}): amplitude or DN? give sigma0/gamma0 in dB, "
            "10 * log10(power) (for amplitude 20 * log10(x))"
        )


def _check_optical(
    values: np.ndarray, radiometry: Radiometry | str, *, source: str, dtype: Any, advice: str, what: str
) -> None:
    stats = _robust(values)
    if stats is None:
        return
    lo, hi, _, _ = stats
    stored = f" (stored as {np.dtype(dtype).name})" if dtype is not None else ""
    applied = f"; applied: {source}" if source else ""
    if radiometry == "display":
        if lo < DISPLAY_RANGE[0] - _DISPLAY_TOL or hi > DISPLAY_RANGE[1] + _DISPLAY_TOL:
            raise ImageInputError(
                f"display imagery must lie in [0, 1], but {what}{stored} ranges {lo:.4g}..{hi:.4g}{applied}: "
                "pass --scale to map its DN to [0, 1] (e.g. --scale 0.0000152590 = 1/65535 for 16-bit, "
                "0.000244200 = 1/4095 for 12-bit; Python: scale=...), or name a reflectance sensor with --sensor"
            )
        return
    rlo, rhi = REFLECTANCE_RANGE
    if hi > rhi:
        if hi > 255.5:
            cause = f"this looks like integer DN{stored}; {advice}"
        else:
            cause = (
                "this looks like 8-bit values (0-255) or reflectance in percent: pass --scale 0.00392157 (= 1/255) "
                f"for 8-bit imagery, --scale 0.01 for percent (Python: scale=...); for DN, {advice}"
            )
        raise ImageInputError(
            f"values up to {hi:.4g} (99.5th percentile) are not reflectance (expected {rlo:g}..{rhi:g}) in "
            f"{what}{applied}: {cause}"
        )
    if lo < rlo:
        if hi <= 0.0:
            cause = (
                "every value is negative, as backscatter in dB: name radar bands VV/VH (--sensor sentinel1, "
                "Python: sensor='sentinel1')"
            )
        else:
            cause = "a wrong offset? check --offset (Python: offset=) and the file's nodata value"
        raise ImageInputError(
            f"values down to {lo:.4g} (0.5th percentile) are not reflectance (expected {rlo:g}..{rhi:g}) in "
            f"{what}{applied}: {cause}"
        )


def warn_assumed(message: str, *, stacklevel: int = 3) -> None:
    """Emit :class:`RadiometryAssumedWarning` (what was assumed and which flag states it)."""
    warnings.warn(message, RadiometryAssumedWarning, stacklevel=stacklevel)
