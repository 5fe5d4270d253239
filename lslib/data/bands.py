"""Band tables per sensor: names, central wavelengths (µm), native ground sampling distance (m).

Every reader in :mod:`lslib.data.readers` labels its output bands with the canonical names below
and attaches their central wavelengths, so that the spectral adapter of the model can place any
sensor's bands on one wavelength axis.

Sources of the numbers:

* Sentinel-2 MSI: central wavelengths of Sentinel-2A as written in the product metadata
  (``MTD_MSIL2A.xml``, ``Spectral_Information/Wavelength/CENTRAL``, e.g. 664.6 nm for B04; the
  T29UNU sample's metadata carries exactly these values). Sentinel-2B/C differ by at most a few nm.
* Sentinel-1 C-SAR: the radar carrier frequency 5.405 GHz, i.e. a wavelength of
  c / 5.405 GHz = 0.0554658 m = 55 465.8 µm, given to VV and VH alike, so SAR bands sit on the same
  (log-)wavelength axis as optical bands, far beyond the SWIR.
* Landsat 8/9 OLI(-2) and Landsat 7 ETM+: midpoints of the USGS band-pass ranges (Landsat
  Collection 2 Level-2 surface reflectance bands ``SR_B*``).
* NAIP: approximate band centres of the Leica ADS40/ADS100 cameras flown for NAIP (they vary a
  little between years and vendors); nominal GSD 0.6 m (0.3-1 m depending on year and state).
* ``rgb``: a generic true-colour camera; the Sentinel-2 B04/B03/B02 centres stand in for unknown
  filters and the GSD is unknown (NaN): readers take the GSD from the raster grid instead.

Naming an image's bands from these tables (one concept with them): :func:`resolve_bands` (names and
wavelengths from ``--bands``, names stored in a file, or a ``--sensor`` preset of :data:`SENSOR_PRESETS`)
and :func:`assign_bands` (the same on a DataArray). :func:`lslib.data.open_image` uses them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr

__all__ = [
    "S1_C_BAND_WAVELENGTH_UM",
    "SENSORS",
    "BandInfo",
    "band_info",
    "band_names",
    "sensor_bands",
    "wavelengths",
]

#: Sentinel-1 C-band radar wavelength in µm: speed of light / 5.405 GHz.
S1_C_BAND_WAVELENGTH_UM: float = 299_792_458.0 / 5.405e9 * 1e6


@dataclass(frozen=True)
class BandInfo:
    """One band of a sensor.

    Attributes:
        name: canonical band name used as the ``band`` coordinate (``"B04"``, ``"SR_B4"``, ``"VV"``).
        wavelength_um: central wavelength in µm (the radar wavelength for SAR bands).
        gsd_m: native ground sampling distance in metres (NaN when unknown).
        kind: ``"optical"`` or ``"sar"``.
        aliases: other names accepted by :func:`band_info` (matched case-insensitively).
    """

    name: str
    wavelength_um: float
    gsd_m: float
    kind: Literal["optical", "sar"]
    aliases: tuple[str, ...] = ()


def _s2(name: str, nm: float, gsd: float, *aliases: str) -> BandInfo:
    number = name[1:].lstrip("0") or "0"
    return BandInfo(name, round(nm / 1000.0, 6), gsd, "optical", (f"B{number}", *aliases))


_S2_BANDS: dict[str, BandInfo] = {
    b.name: b
    for b in (
        _s2("B01", 442.7, 60.0, "coastal"),
        _s2("B02", 492.7, 10.0, "blue"),
        _s2("B03", 559.8, 10.0, "green"),
        _s2("B04", 664.6, 10.0, "red"),
        _s2("B05", 704.1, 20.0, "rededge1"),
        _s2("B06", 740.5, 20.0, "rededge2"),
        _s2("B07", 782.8, 20.0, "rededge3"),
        _s2("B08", 832.8, 10.0, "nir", "nir10"),
        _s2("B8A", 864.7, 20.0, "nir08", "narrow_nir", "nir20"),
        _s2("B09", 945.1, 60.0, "nir09", "water_vapour", "water_vapor"),
        _s2("B10", 1373.5, 60.0, "cirrus"),
        _s2("B11", 1613.7, 20.0, "swir16", "swir1"),
        _s2("B12", 2202.4, 20.0, "swir22", "swir2"),
    )
}

#: Sentinel-2 L2A band order (no B10), as in TerraMesh S2L2A, SSL4EO-S12 L2A and Major-TOM.
S2_L2A_ORDER: tuple[str, ...] = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12",
)  # fmt: skip
#: Sentinel-2 L1C band order (with B10), as in TerraMesh S2L1C and SSL4EO-S12 L1C.
S2_L1C_ORDER: tuple[str, ...] = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12",
)  # fmt: skip


def _landsat(number: int, lo: float, hi: float, *aliases: str) -> BandInfo:
    return BandInfo(f"SR_B{number}", round((lo + hi) / 2.0, 4), 30.0, "optical", (f"B{number}", *aliases))


_OLI: tuple[BandInfo, ...] = (
    _landsat(1, 0.433, 0.453, "coastal"),
    _landsat(2, 0.450, 0.515, "blue"),
    _landsat(3, 0.525, 0.600, "green"),
    _landsat(4, 0.630, 0.680, "red"),
    _landsat(5, 0.845, 0.885, "nir08", "nir"),
    _landsat(6, 1.560, 1.660, "swir16", "swir1"),
    _landsat(7, 2.100, 2.300, "swir22", "swir2"),
)

_ETM: tuple[BandInfo, ...] = (
    _landsat(1, 0.450, 0.520, "blue"),
    _landsat(2, 0.520, 0.600, "green"),
    _landsat(3, 0.630, 0.690, "red"),
    _landsat(4, 0.770, 0.900, "nir08", "nir"),
    _landsat(5, 1.550, 1.750, "swir16", "swir1"),
    _landsat(7, 2.090, 2.350, "swir22", "swir2"),
)

_SENSORS: dict[str, tuple[BandInfo, ...]] = {
    "sentinel2_l2a": tuple(_S2_BANDS[n] for n in S2_L2A_ORDER),
    "sentinel2_l1c": tuple(_S2_BANDS[n] for n in S2_L1C_ORDER),
    "sentinel1": (
        BandInfo("VV", S1_C_BAND_WAVELENGTH_UM, 10.0, "sar", ("vv",)),
        BandInfo("VH", S1_C_BAND_WAVELENGTH_UM, 10.0, "sar", ("vh",)),
    ),
    "landsat8": _OLI,
    "landsat9": _OLI,
    "landsat7": _ETM,
    "naip": (
        BandInfo("R", 0.635, 0.6, "optical", ("red",)),
        BandInfo("G", 0.560, 0.6, "optical", ("green",)),
        BandInfo("B", 0.460, 0.6, "optical", ("blue",)),
        BandInfo("N", 0.860, 0.6, "optical", ("nir",)),
    ),
    "rgb": (
        BandInfo("red", 0.6646, math.nan, "optical", ("R", "B04", "B4")),
        BandInfo("green", 0.5598, math.nan, "optical", ("G", "B03", "B3")),
        BandInfo("blue", 0.4927, math.nan, "optical", ("B", "B02", "B2")),
    ),
}

#: Known sensor keys, in a stable order.
SENSORS: tuple[str, ...] = tuple(_SENSORS)


def _key(name: str) -> str:
    return re.sub(r"[\s\-]", "_", str(name).strip()).lower()


def sensor_bands(sensor: str) -> tuple[BandInfo, ...]:
    """Ordered band table of ``sensor`` (one of :data:`SENSORS`).

    Raises:
        ValueError: for an unknown sensor key (the message lists the valid keys).
    """
    key = _key(sensor)
    if key not in _SENSORS:
        raise ValueError(f"unknown sensor {sensor!r}; valid sensors: {', '.join(SENSORS)}")
    return _SENSORS[key]


def band_names(sensor: str) -> tuple[str, ...]:
    """Canonical band names of ``sensor`` in table order, e.g. ``("VV", "VH")``."""
    return tuple(b.name for b in sensor_bands(sensor))


def band_info(sensor: str, name: str) -> BandInfo:
    """Look up one band of ``sensor`` by canonical name or alias (case-insensitive).

    Accepted spellings include the canonical name (``"B04"``, ``"SR_B4"``), unpadded Sentinel-2
    ids (``"B4"``, ``"B8a"``), common names (``"red"``, ``"nir"``, ``"swir16"``) and, for
    Landsat, ``"B4"``. ``"nir"`` is B08 for Sentinel-2 and ``"nir08"`` the narrow B8A.

    Raises:
        ValueError: unknown sensor, or a band name the sensor does not have (the message lists
            the valid names).
    """
    bands = sensor_bands(sensor)
    wanted = _key(name)
    for b in bands:
        if wanted == _key(b.name) or wanted in (_key(a) for a in b.aliases):
            return b
    valid = ", ".join(f"{b.name} ({'/'.join(b.aliases)})" if b.aliases else b.name for b in bands)
    raise ValueError(f"sensor {sensor!r} has no band {name!r}; valid bands: {valid}")


def wavelengths(sensor: str, names: Sequence[str] | None = None) -> np.ndarray:
    """Central wavelengths in µm of ``names`` (default: all bands of ``sensor``).

    Returns:
        ``(C,)`` float64 array, in the order of ``names``.
    """
    if isinstance(names, str):
        raise TypeError("names must be a sequence of band names, not a single string")
    if names is None:
        return np.array([b.wavelength_um for b in sensor_bands(sensor)], dtype=np.float64)
    return np.array([band_info(sensor, n).wavelength_um for n in names], dtype=np.float64)


# --- naming the bands of an image ------------------------------------------------------------------------------

Bands = Sequence[str | float] | str | None

#: ``--sensor`` shortcuts for files without band metadata: sensor table + the file's band order.
SENSOR_PRESETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "rgb": ("rgb", ("red", "green", "blue")),
    "naip": ("naip", ("red", "green", "blue", "nir")),
    "s2-l2a": ("sentinel2_l2a", tuple(band_names("sentinel2_l2a"))),
    "landsat8": ("landsat8", tuple(band_names("landsat8"))),
}
_DEFAULT_TABLES = ("sentinel2_l2a", "naip", "landsat8", "sentinel1")
_BANDS_EXAMPLE = "--bands blue,green,red,nir,swir16,swir22 (names, or µm such as 0.49,0.56,0.665; Python: bands=...)"


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_band(token: str | float, sensor: str | None) -> tuple[str, float]:
    """One ``--bands`` entry: a number (µm) or a band name of ``sensor`` (default: S2, then NAIP, Landsat, S1)."""
    if isinstance(token, int | float):
        value = float(token)
    else:
        text = str(token).strip()
        try:
            value = float(text)
        except ValueError:
            known = known_band(text, sensor)
            if known is not None:
                return known
            raise ValueError(
                f"unknown band {text!r}{f' for sensor {sensor!r}' if sensor else ''}: give band names such as "
                "red,green,blue,nir (or B04,B03,B02,B08) or central wavelengths in µm such as 0.665,0.56,0.49"
            ) from None
    if not 0.3 <= value <= 1e6 or math.isnan(value):
        raise ValueError(f"wavelength {value} µm is out of range: give central wavelengths in µm (e.g. 0.665 for red)")
    return f"{value:g}um", value


def known_band(text: str, sensor: str | None) -> tuple[str, float] | None:
    """``(canonical name, µm)`` of a band name of ``sensor``'s table (default tables in turn), or None."""
    if not text or is_number(text):
        return None
    for table in [sensor] if sensor else _DEFAULT_TABLES:
        try:
            info = band_info(str(table), text)
        except ValueError:
            continue
        return info.name, info.wavelength_um
    return None


def sensor_preset(sensor: str) -> tuple[str, tuple[str, ...]]:
    key = sensor.strip().lower()
    if key in SENSOR_PRESETS:
        return SENSOR_PRESETS[key]
    if key.replace("-", "_") in SENSORS:
        table = key.replace("-", "_")
        return table, tuple(band_names(table))
    raise ValueError(f"unknown sensor {sensor!r}; choose one of {sorted(SENSOR_PRESETS)} or {list(SENSORS)}")


def resolve_bands(
    count: int, *, bands: Bands = None, sensor: str | None = None, stored: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """Names and wavelengths (µm) of an image's ``count`` bands.

    Args:
        count: number of bands of the image.
        bands: one entry per band, in file order: names (``"red"``, ``"B08"``) or µm; a comma-separated string works.
        sensor: a key of :data:`SENSOR_PRESETS` or :data:`lslib.data.bands.SENSORS`: the table names are looked up
            in and, alone, the band order; band names ``stored`` in the file that the table knows win over the
            order, so ``sensor="landsat8"`` works on a 6-band file described ``blue..swir22``.
        stored: band names stored with the image (GeoTIFF descriptions, the ``band`` coordinate).

    Raises:
        ValueError: band count differs (the message suggests ``--bands``), unknown names, repeated names, or
            neither ``bands`` nor ``sensor``.
    """
    if isinstance(bands, str):
        bands = [b for b in bands.split(",") if b.strip()]
    table: str | None = None
    if sensor is not None:
        table, preset = sensor_preset(sensor)
    if bands:
        parsed = [_parse_band(b, table) for b in bands]
    elif sensor is not None:
        known = [known_band(str(s), table) for s in stored] if stored else []
        if known and all(k is not None for k in known) and len(known) == count:
            parsed = [k for k in known if k is not None]
        elif len(preset) == count:
            parsed = [_parse_band(b, table) for b in preset]
        else:
            raise ValueError(
                f"the image has {count} bands but sensor {sensor!r} has {len(preset)} ({', '.join(preset)}) and the "
                f"file does not name its bands: name every band of the file, in order, with {_BANDS_EXAMPLE}"
            )
    else:
        raise ValueError(
            "give bands= (names or µm, one per band in file order; --bands) or sensor= (naip, s2-l2a, landsat8, "
            "rgb; --sensor)"
        )
    if len(parsed) != count:
        raise ValueError(
            f"the image has {count} bands but {len(parsed)} were named ({[p[0] for p in parsed]}): name every band "
            f"of the file, in order, with {_BANDS_EXAMPLE}"
        )
    names = [p[0] for p in parsed]
    if len(set(names)) != len(names):
        raise ValueError(f"band names repeat: {names}; each band must be named once")
    return names, np.array([p[1] for p in parsed], dtype=np.float64)


def assign_bands(da: xr.DataArray, *, bands: Bands = None, sensor: str | None = None) -> xr.DataArray:
    """Name the bands of ``da`` and attach their wavelengths (µm) as the ``wavelength`` coordinate.

    Args:
        da: ``(band, y, x)`` array (its current ``band`` labels count as stored names, see :func:`resolve_bands`).
        bands: one entry per band, in order: names (``"red"``, ``"B08"``) or wavelengths in µm; a
            comma-separated string is accepted.
        sensor: a key of :data:`SENSOR_PRESETS` (``naip``, ``s2-l2a``, ``landsat8``, ``rgb``) or of
            :data:`lslib.data.bands.SENSORS`; alone, it supplies the preset's band order.

    Only names: values are not scaled (use :func:`~lslib.data.images.open_image` for DN).

    Raises:
        ValueError: band count differs from the image, unknown names, or neither argument given.
    """
    if "band" not in da.dims:
        da = da.expand_dims(band=[1])
    stored = [str(b) for b in da["band"].values] if "band" in da.coords else None
    names, waves = resolve_bands(da.sizes["band"], bands=bands, sensor=sensor, stored=stored)
    return da.assign_coords(band=names, wavelength=("band", waves))
