"""Calibration: a source's raw values and what it says about them -> ``(band, y, x)`` float32 physical values.

Every opener (:mod:`lslib.data.images.open`, :mod:`lslib.data.images.files`) describes its source as a
:class:`RawImage`; :func:`calibrate` chooses the scale and offset by the precedence of the package docstring
(:func:`plan`), checks the result on a small overview (:func:`lslib.data.images.radiometry.check_plausible`),
warns when a convention was assumed, and returns the values with their coords and attrs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from lslib.data.bands import sensor_preset
from lslib.data.images.radiometry import (
    SAR_WAVELENGTH_UM,
    ImageInputError,
    Radiometry,
    SensorRadiometry,
    check_plausible,
    dn_to_physical,
    overview,
    sensor_radiometry,
    warn_assumed,
)

__all__ = ["RawImage", "calibrate", "has_radiometry", "plan"]


@dataclass
class RawImage:
    """A source's raw values and what it says about them, before calibration."""

    da: xr.DataArray  # (band, y, x) raw values, lazy where possible
    what: str  # how messages name the input
    names: list[str]
    waves: np.ndarray
    sensor: str | None = None  # the sensor preset stated (or implied, see ``implied``)
    implied: str = ""  # why a sensor was assumed (no names, 12 bands) -> warn
    scales: list[float] | None = None  # from GDAL tags / raster:bands
    offsets: list[float] | None = None
    tag_source: str = ""
    nodata: list[float | None] = field(default_factory=list)
    s2_offset: Callable[[], tuple[float, str]] | None = None  # reflectance offset of S2 baseline >= 04.00
    raw_overview: Callable[[], np.ndarray] | None = None  # (band, h, w) raw values; default from ``da``
    attrs: dict[str, Any] = field(default_factory=dict)
    pixel_grid: bool = False  # a file without georeferencing (PNG/JPEG): no unit convention is ever assumed


def plan(
    raw: RawImage, scale: float | None, offset: float | None
) -> tuple[np.ndarray, np.ndarray, Radiometry, str, bool, bool]:
    """``(scales, offsets, radiometry, source, zero_is_nodata, assumed)`` for ``raw`` (see the package docstring).

    Raises:
        ImageInputError: integer values without a convention lslib may assume (says which flag to pass).
    """
    n, dtype = raw.da.sizes["band"], raw.da.dtype
    integer = bool(np.issubdtype(dtype, np.integer))
    sar = raw.waves > SAR_WAVELENGTH_UM
    preset = sensor_radiometry(raw.sensor) if raw.sensor and has_radiometry(raw.sensor) else None
    ones, zeros = np.ones(n), np.zeros(n)
    display = bool(preset is not None and preset.radiometry == "display")
    zero_nodata, assumed = False, False
    if scale is not None or offset is not None:
        sc, off, source, display = _user_plan(scale, offset, dtype, display, ones, zeros)
    elif raw.scales is not None and raw.offsets is not None:
        sc, off, source = np.asarray(raw.scales, float), np.asarray(raw.offsets, float), raw.tag_source
    elif not integer:
        sc, off, source = ones, zeros, raw.attrs.get("radiometry_source", "float data")
        display = display or raw.attrs.get("radiometry") == "display" or raw.attrs.get("units") == "normalized"
    elif dtype == np.uint8 and not sar.all():
        sc, off, source, display = ones / 255.0, zeros, "uint8 display convention (DN/255)", True
        if preset is not None and preset.radiometry == "display":
            source = f"sensor preset {raw.sensor} (uint8 DN/255)"
    elif preset is not None and preset.scale is not None and not display:
        sc, off, source, assumed = _preset_plan(raw, preset, ones, zeros)
        zero_nodata = preset.zero_is_nodata
    else:
        _refuse_unknown_integers(raw, display, sar)
        sc, off, assumed = ones * 1e-4, zeros, True
        source = f"assumed DN/10000 ({np.dtype(dtype).name} without scale tags, --sensor or --scale)"
    if sar.all():
        radiometry: Radiometry = "sar_db"
    else:
        radiometry = "display" if display else "reflectance"
    return sc, off, radiometry, source, zero_nodata, assumed


def _user_plan(
    scale: float | None, offset: float | None, dtype: Any, display: bool, ones: np.ndarray, zeros: np.ndarray
) -> tuple[np.ndarray, np.ndarray, str, bool]:
    """``(scales, offsets, source, display)`` of the user's ``scale=``/``offset=`` (an omitted one is 1 / 0)."""
    sc = ones * (1.0 if scale is None else float(scale))
    off = zeros + (0.0 if offset is None else float(offset))
    parts = ([f"--scale {scale:g}"] if scale is not None else []) + ([f"--offset {offset:g}"] if offset else [])
    source = "user " + " ".join(parts)
    display = display or (dtype == np.uint8 and scale is not None and abs(float(scale) * 255 - 1) < 1e-6)
    return sc, off, source, display


def _preset_plan(
    raw: RawImage, preset: SensorRadiometry, ones: np.ndarray, zeros: np.ndarray
) -> tuple[np.ndarray, np.ndarray, str, bool]:
    """``(scales, offsets, source, assumed)`` of a sensor preset's integer DN convention."""
    assert preset.scale is not None
    sc, off = ones * preset.scale, zeros + preset.offset
    source = f"sensor preset {raw.sensor}"
    if preset.s2_offset and raw.s2_offset is not None:
        extra, how = raw.s2_offset()
        off = off + extra
        source += f" (DN/10000, offset {extra:+g} from {how})"
    elif preset.scale == 1e-4:
        source += " (DN/10000)"
    else:
        source += f" (DN x {preset.scale:g} {preset.offset:+g})"
    assumed = False
    if raw.implied:
        source = f"assumed {raw.implied}: " + source
        assumed = True
    return sc, off, source, assumed


def _refuse_unknown_integers(raw: RawImage, display: bool, sar: np.ndarray) -> None:
    """Raise :class:`ImageInputError` for integers lslib must not guess a convention for; else return."""
    dtype = raw.da.dtype
    if display:
        raise ImageInputError(
            f"{raw.what} is {np.dtype(dtype).name}; sensor {raw.sensor!r} (display imagery) needs --scale to map its "
            "DN to [0, 1] (e.g. --scale 0.0000152590 = 1/65535 for 16-bit; Python: scale=...)"
        )
    if raw.pixel_grid and np.dtype(dtype).itemsize > 1 and not sar.all():
        # a 16-bit PNG is as often a display image (0..65535) as reflectance x 10 000: never guess DN/10000
        raise ImageInputError(
            f"{raw.what} is a {np.dtype(dtype).name} image without georeferencing or scale metadata, so lslib cannot "
            "tell 16-bit display values (0..65535) from reflectance x 10 000 and does not guess. Say which: "
            "--sensor rgb --scale 1.5259e-05 (display, DN/65535) or --scale 1e-4 (reflectance x 10 000), or a "
            "sensor convention such as --sensor s2-l2a (Python: sensor=..., scale=...)"
        )
    if sar.all():
        raise ImageInputError(
            f"{raw.what} holds integer radar values ({np.dtype(dtype).name}): give backscatter in dB as floats, or "
            "say how to convert them with --scale/--offset (Python: scale=, offset=)"
        )


def has_radiometry(sensor: str) -> bool:
    """Whether ``sensor`` has a DN convention (:data:`lslib.data.images.radiometry.SENSOR_RADIOMETRY`)."""
    try:
        sensor_radiometry(sensor)
    except ValueError:
        return False
    return True


def _valid(values: Any, nodata: Sequence[float | None], zero_nodata: bool) -> Any:
    """Mask of valid pixels of raw ``(band, ...)`` values (numpy or xarray): not NaN, not nodata, not 0 if fill."""
    is_da = isinstance(values, xr.DataArray)
    n = values.sizes["band"] if is_da else values.shape[0]
    nd = np.array([np.nan if v is None else float(v) for v in list(nodata)[:n]] + [np.nan] * (n - len(nodata)))
    fill = xr.DataArray(nd, dims="band") if is_da else nd.reshape((n,) + (1,) * (values.ndim - 1))
    ok = (values == values) & (values != fill)  # NaN nodata compares unequal: no effect
    return ok & (values != 0) if zero_nodata else ok


def _top(values: np.ndarray) -> float:
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(np.percentile(finite, 99.5)) if finite.size else math.nan


def calibrate(raw: RawImage, scale: float | None, offset: float | None) -> xr.DataArray:
    """``raw`` as ``(band, y, x)`` float32 physical values with band names, wavelengths and radiometry attrs.

    Called directly by the public openers: the :class:`~lslib.data.images.radiometry.RadiometryAssumedWarning`
    it emits points at their caller.

    Raises:
        ImageInputError: the values are not plausible for their radiometry (says which flag to pass).
    """
    sc, off, radiometry, source, zero_nodata, assumed = plan(raw, scale, offset)
    passthrough = bool(np.all(sc == 1.0) and np.all(off == 0.0)) and scale is None and offset is None
    sar = raw.waves > SAR_WAVELENGTH_UM
    dtype = raw.da.dtype
    raw_ov = raw.raw_overview() if raw.raw_overview is not None else overview(raw.da)
    ov = np.where(_valid(raw_ov, raw.nodata, zero_nodata), dn_to_physical(raw_ov, sc, off), np.float32(np.nan))
    try:
        check_plausible(ov, radiometry, sar=sar, source=source, dtype=dtype, what=raw.what)
    except ImageInputError:
        if not assumed:
            raise
        raw_top = _top(raw_ov[~sar])
        top = _top(ov[~sar])
        raise ImageInputError(
            f"{raw.what} holds {np.dtype(dtype).name} values up to {raw_top:.6g} and says nothing about their units "
            f"(no scale tags, --sensor or --scale): they are not reflectance, and {source.split(' (')[0]} gives values "
            f"up to {top:.4g}, no reflectance either. Say how to convert them: --scale S [--offset O] (Python: scale=, "
            "offset=), or --sensor s2-l2a (DN/10 000), landsat8 (DN x 2.75e-5 - 0.2), naip|rgb (8-bit display)"
        ) from None
    if assumed:
        warn_assumed(
            f"{raw.what}: {source}; pass --sensor or --scale/--offset (Python: sensor=, scale=, offset=) to state "
            "the convention, e.g. --scale 1e-4 for Sentinel-2/HLS reflectance x 10 000 or --sensor landsat8",
            stacklevel=4,
        )
    values = raw.da
    valid = _valid(values, raw.nodata, zero_nodata)
    phys = dn_to_physical(values, sc, off).where(valid)
    phys = phys.assign_coords(band=raw.names, wavelength=("band", np.asarray(raw.waves, dtype=np.float64)))
    phys.attrs = _attrs(raw, sc, off, radiometry, source, passthrough)
    phys.encoding = {}
    if phys.rio.crs is not None:
        phys = phys.rio.write_nodata(np.nan, encoded=False)
    return phys.astype(np.float32).rename(raw.da.name)


def _attrs(
    raw: RawImage, sc: np.ndarray, off: np.ndarray, radiometry: Radiometry, source: str, passthrough: bool
) -> dict[str, Any]:
    """The attrs of the calibrated array: kept source attrs, radiometry, its source, scale, offset, units."""
    uniform = bool(np.all(sc == sc[0]) and np.all(off == off[0]))
    attrs: dict[str, Any] = {
        **{k: v for k, v in raw.attrs.items() if k in ("sensor", "gsd", "taxonomy", "stac_item")},
        "radiometry": radiometry,
        "radiometry_source": source,
        "scale": float(sc[0]) if uniform else [float(s) for s in sc],
        "offset": float(off[0]) if uniform else [float(o) for o in off],
        **({k: raw.attrs[k] for k in ("scale", "offset") if k in raw.attrs} if passthrough else {}),
        "units": {"reflectance": "reflectance", "display": "normalized", "sar_db": "dB"}[radiometry],
    }
    if raw.sensor and "sensor" not in attrs:
        attrs["sensor"] = sensor_preset(raw.sensor)[0] if _known_sensor(raw.sensor) else raw.sensor
    return attrs


def _known_sensor(sensor: str) -> bool:
    try:
        sensor_preset(sensor)
    except ValueError:
        return False
    return True
