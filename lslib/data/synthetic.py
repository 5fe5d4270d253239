"""Synthetic georeferenced scenes for unit tests (never for demos: real samples live in the mirror).

:func:`make_scene` draws a label map of blob-shaped regions (argmax of smoothed random fields) and
an image whose pixels follow per-class spectral signatures plus texture and noise. Signatures are
plausible surface-reflectance curves, piecewise linear in wavelength:

* water: dark, decreasing from blue to almost 0 in the NIR/SWIR;
* vegetation (trees, grass, crops, shrubs, wetlands, moss): low red, a red-edge rise to a NIR
  plateau, SWIR lower than NIR;
* built-up: flat and moderately bright;
* bare ground: rising from the blue into the SWIR;
* snow/ice: very bright in the visible, dark in the SWIR;
* clouds: bright and flat.

The 1.375 µm cirrus band sits in a water-vapour absorption band, so every class is dark there.
For SAR sensors each class gets typical C-band VV/VH backscatter in dB instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from rasterio.crs import CRS

from lslib.data.bands import sensor_bands
from lslib.data.readers.common import finish_image

__all__ = ["ARCHETYPES", "TAXONOMY_CLASSES", "make_scene", "spectral_signature"]

_KNOTS_UM = np.array([0.44, 0.49, 0.56, 0.665, 0.705, 0.74, 0.78, 0.865, 0.945, 1.375, 1.61, 2.2])

#: Surface reflectance of each archetype at :data:`_KNOTS_UM`.
ARCHETYPES: dict[str, tuple[float, ...]] = {
    "water": (0.07, 0.06, 0.05, 0.03, 0.02, 0.015, 0.012, 0.01, 0.008, 0.005, 0.005, 0.004),
    "tree": (0.02, 0.03, 0.06, 0.03, 0.08, 0.22, 0.30, 0.33, 0.32, 0.01, 0.16, 0.08),
    "grass": (0.03, 0.04, 0.09, 0.05, 0.12, 0.25, 0.30, 0.32, 0.30, 0.01, 0.24, 0.13),
    "crop": (0.03, 0.05, 0.10, 0.05, 0.15, 0.33, 0.40, 0.43, 0.41, 0.01, 0.22, 0.11),
    "shrub": (0.04, 0.05, 0.08, 0.08, 0.12, 0.18, 0.21, 0.23, 0.23, 0.01, 0.27, 0.18),
    "built": (0.14, 0.15, 0.16, 0.17, 0.18, 0.19, 0.19, 0.20, 0.20, 0.01, 0.22, 0.20),
    "bare": (0.10, 0.12, 0.17, 0.23, 0.25, 0.27, 0.28, 0.30, 0.31, 0.01, 0.37, 0.33),
    "snow": (0.92, 0.92, 0.90, 0.86, 0.84, 0.82, 0.80, 0.74, 0.65, 0.02, 0.10, 0.06),
    "wetland": (0.03, 0.04, 0.06, 0.04, 0.08, 0.15, 0.18, 0.20, 0.18, 0.01, 0.10, 0.05),
    "cloud": (0.55, 0.55, 0.56, 0.57, 0.57, 0.58, 0.58, 0.58, 0.57, 0.30, 0.45, 0.35),
    "moss": (0.04, 0.05, 0.07, 0.07, 0.11, 0.18, 0.21, 0.23, 0.22, 0.01, 0.22, 0.15),
}

#: Typical C-band backscatter (VV, VH) in dB per archetype.
_SAR_DB: dict[str, tuple[float, float]] = {
    "water": (-22.0, -28.0),
    "tree": (-7.5, -13.0),
    "grass": (-11.0, -18.0),
    "crop": (-10.0, -16.5),
    "shrub": (-9.0, -15.5),
    "built": (-4.0, -11.0),
    "bare": (-14.0, -22.0),
    "snow": (-12.0, -20.0),
    "wetland": (-8.0, -16.0),
    "cloud": (-11.0, -18.0),  # radar sees through clouds: grass-like ground
    "moss": (-12.0, -19.0),
}

#: Class code -> archetype per taxonomy key, and the nodata code of each taxonomy.
TAXONOMY_CLASSES: dict[str, tuple[dict[int, str], int]] = {
    "esa_worldcover": (
        {10: "tree", 20: "shrub", 30: "grass", 40: "crop", 50: "built", 60: "bare", 70: "snow",
         80: "water", 90: "wetland", 95: "tree", 100: "moss"},
        0,
    ),
    "terramesh_lulc": (
        {1: "water", 2: "tree", 3: "wetland", 4: "crop", 5: "built", 6: "bare", 7: "snow", 8: "cloud",
         9: "grass"},
        0,
    ),
    "nlcd": (
        {11: "water", 12: "snow", 21: "grass", 22: "built", 23: "built", 24: "built", 31: "bare",
         41: "tree", 42: "tree", 43: "tree", 52: "shrub", 71: "grass", 81: "grass", 82: "crop",
         90: "wetland", 95: "wetland"},
        0,
    ),
}  # fmt: skip


def spectral_signature(archetype: str, wavelengths_um: Sequence[float] | np.ndarray) -> np.ndarray:
    """Reflectance ``(C,)`` float64 of ``archetype`` at ``wavelengths_um`` (µm), linearly interpolated."""
    if archetype not in ARCHETYPES:
        raise ValueError(f"unknown archetype {archetype!r}; valid: {', '.join(ARCHETYPES)}")
    return np.interp(np.asarray(wavelengths_um, dtype=np.float64), _KNOTS_UM, ARCHETYPES[archetype])


def _smooth_fields(rng: np.random.Generator, n: int, height: int, width: int, sigma: float) -> np.ndarray:
    """``(n, H, W)`` Gaussian-smoothed (periodic, via FFT) white noise, each field with unit std."""
    noise = rng.standard_normal((n, height, width))
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    kernel = np.exp(-2.0 * (np.pi * sigma) ** 2 * (fx**2 + fy**2))
    fields = np.fft.ifft2(np.fft.fft2(noise) * kernel).real
    std = fields.reshape(n, -1).std(axis=1)[:, None, None]
    return fields / np.where(std > 0, std, 1.0)


def _blob_labels(fields: np.ndarray) -> np.ndarray:
    """Index map ``(H, W)`` = argmax over fields; a missing class gets a disc where it is strongest."""
    k, height, width = fields.shape
    idx = fields.argmax(axis=0)
    radius = max(1.0, np.sqrt(height * width / k) / 4.0)
    yy, xx = np.mgrid[0:height, 0:width]
    for c in range(k):
        if (idx == c).any():
            continue
        margin = fields[c] - np.delete(fields, c, axis=0).max(axis=0)
        cy, cx = np.unravel_index(int(margin.argmax()), margin.shape)
        idx[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = c
    return idx


def make_scene(
    *,
    height: int = 64,
    width: int = 64,
    sensor: str = "sentinel2_l2a",
    taxonomy: str = "esa_worldcover",
    classes: Sequence[int] | None = None,
    crs: str = "EPSG:32632",
    gsd: float = 10.0,
    seed: int = 0,
) -> tuple[xr.DataArray, xr.DataArray]:
    """A synthetic image and its label map on one georeferenced grid; deterministic for a seed.

    Args:
        height: grid height in pixels.
        width: grid width in pixels.
        sensor: band table key (:data:`lslib.data.bands.SENSORS`); SAR sensors give dB.
        taxonomy: label product key, one of :data:`TAXONOMY_CLASSES`.
        classes: class codes to draw (default all codes of the taxonomy).
        crs: a projected CRS in metres.
        gsd: pixel size in metres; the grid's upper-left corner is (500 000, 5 000 000).
        seed: random seed.

    Returns:
        ``(image, label)``: image ``(band, y, x)`` float32 (reflectance >= 0, or dB for SAR) with
        ``band``/``wavelength`` coords and attrs ``sensor``, ``gsd``, ``units``; label ``(y, x)``
        uint8/uint16 class codes with ``rio.nodata`` = the taxonomy's nodata code (never present)
        and attrs ``taxonomy``, ``gsd``. Every class appears when there are at least ~16 pixels
        per class.
    """
    if taxonomy not in TAXONOMY_CLASSES:
        raise ValueError(f"unknown taxonomy {taxonomy!r}; valid: {', '.join(TAXONOMY_CLASSES)}")
    table, nodata = TAXONOMY_CLASSES[taxonomy]
    codes = list(table) if classes is None else [int(c) for c in classes]
    unknown = [c for c in codes if c not in table]
    if unknown or not codes:
        raise ValueError(
            f"classes {unknown or codes} not in taxonomy {taxonomy!r}; valid codes: {sorted(table)}"
        )
    if height < 1 or width < 1 or gsd <= 0:
        raise ValueError(f"need height, width >= 1 and gsd > 0, got {height}x{width}, gsd={gsd}")
    crs_obj = CRS.from_user_input(crs)
    if not crs_obj.is_projected:
        raise ValueError(f"crs must be a projected CRS in metres, got {crs}")
    bands = sensor_bands(sensor)
    rng = np.random.default_rng(seed)
    fields = _smooth_fields(rng, len(codes), height, width, sigma=max(height, width) / 10.0)
    idx = _blob_labels(fields)

    archetypes = [table[c] for c in codes]
    texture = _smooth_fields(rng, 1, height, width, sigma=2.0)[0]
    if bands[0].kind == "sar":
        sig = np.array([[_SAR_DB[a][0 if b.name == "VV" else 1] for b in bands] for a in archetypes])
        image = (
            sig[idx].transpose(2, 0, 1) + 0.8 * texture + rng.normal(0.0, 1.5, (len(bands), height, width))
        )
        units = "dB"
    else:
        waves = np.array([b.wavelength_um for b in bands])
        sig = np.stack([spectral_signature(a, waves) for a in archetypes])
        image = sig[idx].transpose(2, 0, 1) * (1.0 + 0.05 * texture)
        image = np.clip(image + rng.normal(0.0, 0.004, image.shape), 0.0, None)
        units = "reflectance"

    x0, y0 = 500_000.0, 5_000_000.0
    transform = Affine(gsd, 0.0, x0, 0.0, -gsd, y0)
    coords = {"y": y0 - (np.arange(height) + 0.5) * gsd, "x": x0 + (np.arange(width) + 0.5) * gsd}
    img = xr.DataArray(image.astype(np.float32), dims=("band", "y", "x"), coords=coords)
    img = finish_image(
        img.rio.write_crs(crs_obj).rio.write_transform(transform),
        names=[b.name for b in bands],
        sensor=sensor,
        units=units,
        extra_attrs={"synthetic": True},
    )
    dtype = np.uint8 if max([*codes, nodata]) <= 255 else np.uint16
    label = xr.DataArray(np.asarray(codes)[idx].astype(dtype), dims=("y", "x"), coords=coords)
    label = (
        label.rio.write_crs(crs_obj).rio.write_transform(transform).rio.write_nodata(nodata, encoded=False)
    )
    label.attrs.update({"taxonomy": taxonomy, "gsd": float(gsd)})
    label.name = taxonomy
    return img, label
