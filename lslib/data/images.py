"""ONE image-input contract: any image source -> ``(band, y, x)`` float32 physical values with wavelengths.

:func:`open_image` is the only door from an input to the model: ``lslib predict`` (tiling), the map UI
(``MapApp(image=path)``) and the Python API all call it, so the same file with the same flags gives the
same array everywhere.

Sources: a GeoTIFF/COG/JP2/PNG/JPEG file, a Sentinel-2 band folder (:func:`lslib.data.readers.read_sentinel2`),
a STAC item (``pystac.Item``, dict or JSON path; odc-stac on the item's own grid) or an ``xarray.DataArray``.

Band names, in order of precedence: ``bands=`` (names or µm), band names stored in the source (GeoTIFF band
descriptions such as ``blue``/``B04``/``swir16``, lslib's own ``wavelength_um`` tags, STAC ``eo:bands``),
the ``sensor=`` preset's band order (:data:`SENSOR_PRESETS`; a file with fewer bands must name them), and
for an unnamed 12-band integer file the Sentinel-2 L2A order (with a warning).

Radiometry (scale/offset, ``attrs["radiometry_source"]``), in order of precedence:

1. ``scale=``/``offset=`` (``--scale``/``--offset``): replace every other source; an omitted one is 1 / 0;
2. the file's GDAL scale/offset tags (``src.scales``/``src.offsets``) or the item's ``raster:bands``;
3. float data: already physical;
4. any uint8 (optical) image: DN/255, radiometry ``"display"`` (a sensor preset cannot make 8-bit data
   reflectance; ``--scale`` can);
5. the sensor preset (:data:`lslib.data.radiometry.SENSOR_RADIOMETRY`; from ``sensor=``, lslib's ``sensor``
   tag or Sentinel-2 metadata tags in the file): Sentinel-2 DN/10 000 with the -0.1
   offset of processing baseline >= 04.00 (from ``BOA_ADD_OFFSET``/baseline tags, the product metadata or
   the STAC ``s2:processing_baseline``), Landsat C2 L2 DN x 2.75e-5 - 0.2, NAIP/RGB uint8 DN/255 (display);
6. other integers without any hint: DN/10 000 only if that gives plausible reflectance, with a
   :class:`~lslib.data.radiometry.RadiometryAssumedWarning`; else :class:`~lslib.data.radiometry.ImageInputError`.
   Never for a file without georeferencing (a 16-bit PNG: display 0..65535 or reflectance x 10 000 cannot be
   told apart): an :class:`~lslib.data.radiometry.ImageInputError` asks for ``--scale`` (or ``--sensor``).

Every result is checked on a small overview (robust 0.5/99.5 percentiles; see
:func:`lslib.data.radiometry.check_plausible`): DN passed as reflectance, display values outside [0, 1] and
linear SAR raise :class:`~lslib.data.radiometry.ImageInputError` naming the flag to pass. Never a silent map.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rioxarray
import xarray as xr

from lslib.data.bands import SENSOR_PRESETS, Bands, assign_bands, is_number, known_band, resolve_bands, sensor_preset
from lslib.data.radiometry import (
    SAR_WAVELENGTH_UM,
    ImageInputError,
    Radiometry,
    check_plausible,
    dn_to_physical,
    overview,
    s2_offset_from_properties,
    s2_offset_from_tags,
    sensor_radiometry,
    warn_assumed,
)

__all__ = [
    "PIXEL_SUFFIXES",
    "SENSOR_PRESETS",
    "Bands",
    "ImageHeader",
    "ImageTooLargeError",
    "PixelCoordinatesWarning",
    "assign_bands",
    "image_header",
    "open_image",
    "open_preview",
    "open_stac_item",
    "resolve_bands",
]

PIXEL_SUFFIXES = (".png", ".jpg", ".jpeg")
Chunks = int | dict[str, int] | None

class PixelCoordinatesWarning(UserWarning):
    """The input has no georeferencing: the map is in pixel coordinates (no CRS, areas in pixels only)."""


class ImageTooLargeError(ValueError):
    """The image is too large for what was asked (read into memory, previewed whole): says what to do instead."""


#: GDAL's block cache (bytes) for decimated reads (overviews, previews) unless $GDAL_CACHEMAX is set: every block
#: is decoded once, so a cache only fills memory (GDAL's default is 5 % of RAM)
DECIMATED_READ_CACHE = 64 << 20


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, read without any pixel: :func:`image_header`."""

    path: Path
    count: int
    height: int
    width: int
    dtype: str
    overviews: tuple[int, ...]  # GDAL overview decimation factors (internal or .ovr), finest first

    @property
    def pixels(self) -> int:
        return self.height * self.width

    def decoded_values(self, side: int) -> int:
        """Values GDAL decodes for a read decimated to at most ``side`` pixels a side: it reads the coarsest
        overview not coarser than the read (no overview: every pixel)."""
        factor = max(1, math.ceil(max(self.height, self.width) / side))
        level = max((o for o in self.overviews if o <= factor), default=1)
        return math.ceil(self.height / level) * math.ceil(self.width / level) * self.count

    def memory_bytes(self) -> int:
        """About what reading the whole image into memory takes: the raw values, the float32 result, the mask."""
        return self.pixels * self.count * (np.dtype(self.dtype).itemsize + 9)


def image_header(source: Any) -> ImageHeader | None:
    """Size, band count, dtype and overviews of an image *file*, from its header alone (no pixel is read).

    ``None`` for the inputs without one header: a DataArray, a STAC item, a Sentinel-2 band folder.

    Raises:
        FileNotFoundError, ValueError, RasterReadError: as :func:`open_image` for the same path.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    from lslib.data.readers.common import readable
    from lslib.data.readers.stac_item import is_stac_item

    if isinstance(source, xr.DataArray):
        return None
    source = os.fsdecode(source) if isinstance(source, bytes) else source
    if is_stac_item(source):
        return None
    path = _input_path(source)
    if path.is_dir():
        return None
    with readable(path), warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            return ImageHeader(path, src.count, src.height, src.width, str(src.dtypes[0]),
                               tuple(src.overviews(1)) if src.count else ())  # fmt: skip


def _available_memory() -> int | None:
    """Bytes this process may still allocate: MemAvailable (Linux), else free physical pages; capped by what
    RLIMIT_AS leaves (Linux)."""
    avail: int | None = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):
            avail = None
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm", encoding="ascii") as f:
                used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            avail = max(0, soft - used) if avail is None else min(avail, max(0, soft - used))
    except (ImportError, OSError, ValueError, IndexError):
        pass
    return avail


def _check_fits_memory(header: ImageHeader) -> None:
    """Refuse (before any pixel is read) to read into memory an image that cannot fit there."""
    need, avail = header.memory_bytes(), _available_memory()
    if avail is None or need <= avail:
        return
    raise ImageTooLargeError(
        f"{header.path.name} is {header.height:,} x {header.width:,} px x {header.count} bands: reading it into "
        f"memory takes about {need / 2**30:,.1f} GiB, more than the {avail / 2**30:,.1f} GiB available. Open it "
        f"lazily (open_image(path, chunks=1024), which reads pixels only when asked), map part of it in the map app "
        f"(MapApp(image=path, aoi=...) reads only the AOI) or map it in batch mode: lslib predict --image "
        f"{header.path} --prompts prompts.yaml --out OUT_DIR"
    )


def _decimated_read(src: Any, side: int) -> np.ndarray:
    """Raw ``(band, h, w)`` values of an open dataset at most ``side`` pixels a side, nearest (GDAL overviews
    when the file has them), with a small GDAL block cache: memory stays that of the result."""
    import rasterio
    from rasterio.enums import Resampling

    f = max(1, math.ceil(max(src.height, src.width) / side))
    shape = (src.count, max(1, src.height // f), max(1, src.width // f))
    if os.environ.get("GDAL_CACHEMAX"):
        return np.asarray(src.read(out_shape=shape, resampling=Resampling.nearest))
    with rasterio.Env(GDAL_CACHEMAX=DECIMATED_READ_CACHE):
        return np.asarray(src.read(out_shape=shape, resampling=Resampling.nearest))


# --- calibration ------------------------------------------------------------------------------------------------


@dataclass
class _Raw:
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


def _plan(
    raw: _Raw, scale: float | None, offset: float | None
) -> tuple[np.ndarray, np.ndarray, Radiometry, str, bool, bool]:
    """``(scales, offsets, radiometry, source, zero_is_nodata, assumed)`` for ``raw`` (see the module docstring)."""
    n, dtype = raw.da.sizes["band"], raw.da.dtype
    integer = bool(np.issubdtype(dtype, np.integer))
    sar = raw.waves > SAR_WAVELENGTH_UM
    preset = sensor_radiometry(raw.sensor) if raw.sensor and _has_radiometry(raw.sensor) else None
    ones, zeros = np.ones(n), np.zeros(n)
    display = bool(preset is not None and preset.radiometry == "display")
    zero_nodata, assumed = False, False
    if scale is not None or offset is not None:
        sc = ones * (1.0 if scale is None else float(scale))
        off = zeros + (0.0 if offset is None else float(offset))
        parts = ([f"--scale {scale:g}"] if scale is not None else []) + ([f"--offset {offset:g}"] if offset else [])
        source = "user " + " ".join(parts)
        display = display or (dtype == np.uint8 and scale is not None and abs(float(scale) * 255 - 1) < 1e-6)
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
        if raw.implied:
            source = f"assumed {raw.implied}: " + source
            assumed = True
        zero_nodata = preset.zero_is_nodata
    elif display:
        raise ImageInputError(
            f"{raw.what} is {np.dtype(dtype).name}; sensor {raw.sensor!r} (display imagery) needs --scale to map its "
            "DN to [0, 1] (e.g. --scale 0.0000152590 = 1/65535 for 16-bit; Python: scale=...)"
        )
    elif raw.pixel_grid and np.dtype(dtype).itemsize > 1 and not sar.all():
        # a 16-bit PNG is as often a display image (0..65535) as reflectance x 10 000: never guess DN/10000
        raise ImageInputError(
            f"{raw.what} is a {np.dtype(dtype).name} image without georeferencing or scale metadata, so lslib cannot "
            "tell 16-bit display values (0..65535) from reflectance x 10 000 and does not guess. Say which: "
            "--sensor rgb --scale 1.5259e-05 (display, DN/65535) or --scale 1e-4 (reflectance x 10 000), or a "
            "sensor convention such as --sensor s2-l2a (Python: sensor=..., scale=...)"
        )
    elif sar.all():
        raise ImageInputError(
            f"{raw.what} holds integer radar values ({np.dtype(dtype).name}): give backscatter in dB as floats, or "
            "say how to convert them with --scale/--offset (Python: scale=, offset=)"
        )
    else:
        sc, off, assumed = ones * 1e-4, zeros, True
        source = f"assumed DN/10000 ({np.dtype(dtype).name} without scale tags, --sensor or --scale)"
    if sar.all():
        radiometry: Radiometry = "sar_db"
    else:
        radiometry = "display" if display else "reflectance"
    return sc, off, radiometry, source, zero_nodata, assumed


def _has_radiometry(sensor: str) -> bool:
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


def _calibrate(raw: _Raw, scale: float | None, offset: float | None) -> xr.DataArray:
    sc, off, radiometry, source, zero_nodata, assumed = _plan(raw, scale, offset)
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
    phys.attrs = attrs
    phys.encoding = {}
    if phys.rio.crs is not None:
        phys = phys.rio.write_nodata(np.nan, encoded=False)
    return phys.astype(np.float32).rename(raw.da.name)


def _known_sensor(sensor: str) -> bool:
    try:
        sensor_preset(sensor)
    except ValueError:
        return False
    return True


# --- sources ----------------------------------------------------------------------------------------------------


def _chunks(chunks: Chunks) -> dict[str, int] | None:
    if chunks is None:
        return None
    if isinstance(chunks, int):
        return {"band": -1, "y": chunks, "x": chunks}
    return dict(chunks)


def _pixel_grid(da: xr.DataArray, path: Path) -> xr.DataArray:
    warnings.warn(
        f"{path.name} has no georeferencing (no CRS, no geotransform): it is mapped in pixel coordinates. The "
        "outputs have no CRS and areas are reported in pixels only; use a GeoTIFF to get a map you can overlay.",
        PixelCoordinatesWarning,
        stacklevel=4,
    )
    h, w = da.sizes["y"], da.sizes["x"]
    return da.assign_coords(y=np.arange(h) + 0.5, x=np.arange(w) + 0.5)


def _file_overview(path: Path, side: int = 512) -> np.ndarray:
    """Raw ``(band, h, w)`` values at most ``side`` pixels a side (GDAL overviews / decimated read)."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        src = rasterio.open(path)
    with src:
        return _decimated_read(src, side)


def _s2_file_offset(path: Path, tags: dict[str, str], names: Sequence[str]) -> tuple[float, str]:
    from lslib.data.readers.s2meta import detect_boa_offset

    tagged = s2_offset_from_tags(tags)
    if tagged is not None:
        return tagged, "the file's tags"
    per_band, how = detect_boa_offset(path)
    default = max(per_band.values(), default=0)
    values = {per_band.get(n, default) for n in names}
    dn = max(values) if values else 0
    return 0.0 - dn * 1e-4, how


def _open_file(path: Path, bands: Bands, sensor: str | None, chunks: dict[str, int] | None) -> _Raw:
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.errors import NotGeoreferencedWarning

    from lslib.data.readers.common import crs_error, readable

    try:
        with readable(path), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                count, dtype = src.count, np.dtype(src.dtypes[0])
                descriptions = [d or "" for d in src.descriptions]
                tag_waves = np.array([float(src.tags(i + 1).get("wavelength_um", "nan")) for i in range(count)])
                tags = {**src.tags(), **src.tags(1)}
                scales, offsets = list(src.scales), list(src.offsets)
                nodata = list(src.nodatavals)
                alpha = [i + 1 for i, c in enumerate(src.colorinterp) if c == ColorInterp.alpha]
                pages, page = list(src.subdatasets), "page.tif" if src.crs is not None else "page.png --driver PNG"
            opened = rioxarray.open_rasterio(path, chunks=chunks, masked=False, mask_and_scale=False)
    except UnicodeDecodeError as exc:
        raise _not_utf8_metadata(path, exc) from None
    if not isinstance(opened, xr.DataArray):
        raise ValueError(
            f"{path.name} holds {len(pages) or 'several'} images (a multi-page TIFF or subdatasets) and lslib maps "
            f"one image per file: write the one you want to its own file, e.g. `rio convert "
            f"{pages[0] if pages else 'SUBDATASET'} {page}`{_listing(pages)}, and pass that file"
        )
    da = opened
    da.attrs, da.encoding = {}, {}
    not_georef = any(issubclass(w.category, NotGeoreferencedWarning) for w in caught)
    pixel = False
    if da.rio.crs is None:
        if not_georef or path.suffix.lower() in PIXEL_SUFFIXES:
            da, pixel = _pixel_grid(da, path), True
        else:
            raise crs_error(str(path))
    implied, chosen = "", sensor
    try:
        if bands is not None or sensor is not None:
            names, waves = resolve_bands(count, bands=bands, sensor=sensor, stored=descriptions)
        elif np.isfinite(tag_waves).all():
            names = [d or str(i + 1) for i, d in enumerate(descriptions)]
            waves = tag_waves
        elif descriptions and all(known_band(d, None) for d in descriptions):
            names, waves = resolve_bands(count, bands=descriptions)
        elif count == 12 and np.issubdtype(dtype, np.integer) and not pixel:
            chosen, implied = "s2-l2a", "Sentinel-2 L2A (12 unnamed integer bands, L2A band order)"
            names, waves = resolve_bands(count, sensor=chosen)
        else:
            raise ValueError(
                f"{path.name} has no band metadata (no wavelengths): say what its {count} bands are with "
                "--bands red,green,blue,nir (names, or central wavelengths in µm such as 0.665,0.56,0.49) or "
                "--sensor naip|s2-l2a|landsat8|rgb (Python: bands=..., sensor=...)"
            )
    except ValueError as exc:
        if not alpha:
            raise
        spectral = ",".join(["red", "green", "blue", "nir"][: count - len(alpha)]) or "red"
        kept = ",".join(str(i + 1) for i in range(count) if i + 1 not in alpha)
        drop = ("in Python PIL.Image.open(path).convert('RGB').save('no_alpha.png')" if pixel else
                f"`rio stack --bidx {kept} {path.name} -o no_alpha.tif`")  # fmt: skip
        raise ValueError(
            f"{path.name} has {count} bands and band {', '.join(map(str, alpha))} is alpha (transparency), not a "
            f"spectral band: drop the alpha band ({drop}) and pass that file, or, if that band really holds a "
            f"spectral band, name all {count} bands with --bands {spectral},nir (Python: bands=...)"
        ) from exc
    tagged = any(s not in (None, 1.0) for s in scales) or any(o not in (None, 0.0) for o in offsets)
    keep = {k: v for k, v in tags.items() if k in ("sensor", "gsd", "taxonomy")}
    if "gsd" in keep:
        try:
            keep["gsd"] = float(keep["gsd"])
        except ValueError:
            keep.pop("gsd")
    if chosen is None and _has_radiometry(str(tags.get("sensor", ""))):
        chosen = str(tags["sensor"])  # lslib's own sensor tag
    elif chosen is None and s2_offset_from_tags(tags) is not None:
        chosen = "s2-l2a"  # Sentinel-2 metadata tags (BOA_ADD_OFFSET, PROCESSING_BASELINE, PRODUCT_ID)
    units = tags.get("units")
    if units == "normalized" and not np.issubdtype(dtype, np.integer):
        keep["radiometry"] = "display"
    return _Raw(
        da=da, what=path.name, names=names, waves=waves, sensor=chosen, implied=implied,
        scales=[1.0 if s is None else float(s) for s in scales] if tagged else None,
        offsets=[0.0 if o is None else float(o) for o in offsets] if tagged else None,
        tag_source="gdal tags (scale/offset)", nodata=[None if v is None else float(v) for v in nodata],
        s2_offset=lambda: _s2_file_offset(path, tags, names), raw_overview=lambda: _file_overview(path), attrs=keep,
        pixel_grid=pixel,
    )  # fmt: skip


def _listing(pages: Sequence[str]) -> str:
    if len(pages) <= 1:
        return ""
    more = f" ... ({len(pages)} in all)" if len(pages) > 4 else ""
    return f" (the images: {', '.join(pages[:4])}{more})"


def _not_utf8_metadata(path: Path, exc: UnicodeDecodeError) -> ValueError:
    bad = exc.object[exc.start : exc.end]
    around = exc.object[max(0, exc.start - 12) : exc.end + 12]
    return ValueError(
        f"{path.name}: its text metadata (tags or band descriptions) is not UTF-8 (byte 0x{bad.hex()} in "
        f"{around!r}; written as latin-1?), and GDAL reads metadata as UTF-8. Re-save the metadata as UTF-8 in the "
        f"software that wrote {path.name}, or copy only the pixels (`rio convert {path.name} clean.tif`) and name "
        "the bands of clean.tif with --bands (Python: bands=...)"
    )


def _input_path(source: Any) -> Path:
    """``source`` as the path of an existing file or folder, or an error naming it and saying what to do.

    Beyond a missing path (:func:`lslib.data.readers.common.existing_path`): a name that is not UTF-8 (GDAL
    opens UTF-8 names only), a symbolic link loop and a link to a missing file each get their own message.
    """
    from lslib.data.readers.common import existing_path

    text = os.fsdecode(source) if isinstance(source, bytes | os.PathLike) else str(source)
    path = Path(text).expanduser()
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(path)
        if os.path.lexists(raw):
            bad = next(b for b in raw if b >= 0x80)
            raise ValueError(
                f"cannot open {raw!r}: its name is not UTF-8 (byte 0x{bad:02x}; written on a latin-1 system?) and "
                f"GDAL opens UTF-8 file names only. Rename it, e.g. in Python os.rename({raw!r}, "
                f"{raw.decode('latin-1')!r}), and pass the new name"
            ) from None
        raise FileNotFoundError(f"input image not found: {raw!r} does not exist (and its name is not UTF-8)") from None
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except (RuntimeError, OSError) as exc:
            chain, link = [str(path)], path
            while link.is_symlink() and len(chain) < 6:
                link = link.parent / os.readlink(link)
                chain.append(str(link))
                if chain.count(str(link)) > 1:
                    break
            if isinstance(exc, FileNotFoundError) and not link.is_symlink():
                raise FileNotFoundError(
                    f"input image {path} is a symbolic link to {link}, which does not exist: point the link at the "
                    f"image (ln -sfn REAL_FILE {path}) or pass the image's own path"
                ) from None
            more = " -> ..." if len(chain) == len(set(chain)) else ""
            raise FileNotFoundError(
                f"input image {path} is a symbolic link loop ({' -> '.join(chain)}{more}): no file at the end of "
                f"it. Point the link at the image (ln -sfn REAL_FILE {path}) or pass the image's own path"
            ) from None
    return existing_path(path, "input image")


def _from_array(
    source: xr.DataArray, bands: Bands, sensor: str | None, scale: float | None, offset: float | None
) -> xr.DataArray:
    da = source if "band" in source.dims else source.expand_dims(band=[1])
    da = da.transpose("band", "y", "x") if set(da.dims) == {"band", "y", "x"} else da
    if bands is not None or sensor is not None:
        da = assign_bands(da, bands=bands, sensor=sensor)
    if "wavelength" not in da.coords or not np.isfinite(np.asarray(da["wavelength"].values, dtype=float)).all():
        raise ValueError(
            "the DataArray has no (complete) 'wavelength' coordinate: read it with lslib.data.open_image or "
            "lslib.data.readers, or name its bands with bands='red,green,blue,nir' / sensor='naip' "
            "(lslib.data.assign_bands)"
        )
    if np.issubdtype(da.dtype, np.complexfloating) or not np.issubdtype(da.dtype, np.number):
        raise TypeError(
            f"image dtype {da.dtype} is not real-valued numbers: give reflectance (optical) or backscatter in dB "
            "(SAR), e.g. 10 * log10(abs(x) ** 2)"
        )
    nodata = da.rio.nodata
    raw = _Raw(
        da=da, what=f"the DataArray {da.name or ''}".rstrip(), names=[str(b) for b in da["band"].values],
        waves=np.asarray(da["wavelength"].values, dtype=np.float64), sensor=sensor,
        nodata=[None if nodata is None else float(nodata)] * da.sizes["band"], attrs=dict(da.attrs),
    )  # fmt: skip
    out = _calibrate(raw, scale, offset)
    return out.rename(source.name)


def open_stac_item(
    item: Any,
    *,
    assets: Sequence[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    bands: Bands = None,
    sensor: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
    chunks: int | None = None,
) -> xr.DataArray:
    """A STAC item's bands as :func:`open_image` returns them (see there), read on the item's own pixel grid.

    Args:
        item: a ``pystac.Item``, a STAC Feature dict or a JSON path.
        assets: asset keys (or ``eo:bands`` names) to read; default: ``bands`` when they are names, else every
            asset with ``eo:bands`` wavelengths.
        bbox: ``(west, south, east, north)`` in degrees: read only that part of the item.
        bands, sensor, scale, offset: as for :func:`open_image`.
        chunks: dask chunk size in pixels (lazy), or None (read into memory).
    """
    from lslib.data.readers.stac_item import as_item, load_item

    item = as_item(item)
    names_arg = [b.strip() for b in bands.split(",")] if isinstance(bands, str) else None
    by_name = bool(names_arg) and all(not is_number(n) for n in names_arg or [])
    da, info = load_item(item, assets=assets or (names_arg if by_name else None), bbox=bbox, chunks=chunks)
    eo_names = [b.name for b in info]
    eo_waves = np.array([b.wavelength_um for b in info], dtype=np.float64)
    if (bands is not None and not by_name) or sensor is not None:
        names, waves = resolve_bands(len(info), bands=None if by_name else bands, sensor=sensor, stored=eo_names)
    elif np.isfinite(eo_waves).all():
        names, waves = eo_names, eo_waves
    else:
        names, waves = resolve_bands(len(info), bands=eo_names)
    scales = [b.scale for b in info]
    offsets = [b.offset for b in info]
    tagged = any(s is not None for s in scales) or any(o is not None for o in offsets)
    s2_off = s2_offset_from_properties(item.properties)
    raw = _Raw(
        da=da, what=f"STAC item {item.id}", names=list(names), waves=np.asarray(waves),
        sensor=sensor, scales=[1.0 if s is None else s for s in scales] if tagged else None,
        offsets=[0.0 if o is None else o for o in offsets] if tagged else None, tag_source="stac raster:bands",
        nodata=[b.nodata for b in info],
        s2_offset=lambda: (s2_off or 0.0, "s2:processing_baseline" if s2_off is not None else "no baseline: 0"),
        attrs={"stac_item": item.id},
    )  # fmt: skip
    return _calibrate(raw, scale, offset).rename("stac")


def open_image(
    source: Any,
    *,
    bands: Bands = None,
    sensor: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
    chunks: Chunks = None,
) -> xr.DataArray:
    """Open any image input as ``(band, y, x)`` float32 physical values with band names and wavelengths.

    Args:
        source: a GeoTIFF/COG/JP2/PNG/JPEG path, a Sentinel-2 band folder, a STAC item (``pystac.Item``, dict or
            ``.json`` path) or an ``xarray.DataArray``.
        bands: the bands in file order, names (``red``, ``B08``, ``swir16``) or µm; a comma-separated string works.
        sensor: ``s2-l2a``, ``landsat8``, ``naip``, ``rgb`` (or a :data:`lslib.data.bands.SENSORS` key): band order
            and DN convention.
        scale, offset: physical = DN x scale + offset, replacing tags and presets (an omitted one is 1 / 0).
        chunks: dask chunks (an int: pixels per side) for a lazy array; None reads into memory.

    Returns:
        ``(band, y, x)`` float32 with NaN nodata; coords ``band`` (names) and ``wavelength`` (µm); CRS and
        transform via rioxarray (a pixel grid for PNG/JPEG without georeferencing, with a
        :class:`PixelCoordinatesWarning`); attrs ``radiometry`` (``"reflectance"``, ``"display"`` or
        ``"sar_db"``), ``radiometry_source`` (``"gdal tags (scale/offset)"``, ``"stac raster:bands"``,
        ``"sensor preset landsat8 (...)"``, ``"user --scale ..."``, ``"float data"``, ``"uint8 display
        convention (DN/255)"``, ``"assumed ..."``), ``scale``, ``offset`` (per band lists when they differ) and
        ``units``.

    Raises:
        FileNotFoundError: a path that does not exist (or a symbolic link loop / a link to nothing, said so).
        ImageInputError: values that are not plausible for their radiometry (says which flag to pass).
        ImageTooLargeError: ``chunks=None`` and the image cannot fit in memory (from its header, before any read).
        ValueError: no CRS on a georeferenced file, unknown/miscounted bands (suggests ``--bands``), no wavelengths,
            an alpha band, a multi-page TIFF, a file name or metadata that is not UTF-8.
    """
    from lslib.data.readers.stac_item import is_stac_item

    dask_chunks = _chunks(chunks)
    if isinstance(source, xr.DataArray):
        return _from_array(source, bands, sensor, scale, offset)
    source = os.fsdecode(source) if isinstance(source, bytes) else source
    if is_stac_item(source):
        side = None if dask_chunks is None else int(dask_chunks.get("x", 1024))
        return open_stac_item(source, bands=bands, sensor=sensor, scale=scale, offset=offset, chunks=side)
    path = _input_path(source)
    if path.is_dir():
        return _open_s2_folder(path, bands, sensor, scale, offset, dask_chunks)
    if dask_chunks is None:
        header = image_header(path)
        if header is not None:
            _check_fits_memory(header)  # from the header: refused before any pixel is read
    return _calibrate(_open_file(path, bands, sensor, dask_chunks), scale, offset)


def open_preview(
    source: str | Path,
    *,
    max_side: int = 1024,
    bands: Bands = None,
    sensor: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
) -> xr.DataArray:
    """The whole image file at most ``max_side`` pixels a side, as :func:`open_image` would calibrate it.

    One decimated read (nearest; GDAL uses the file's overviews when it has them, else it decodes every block
    once without keeping them): memory is that of the result, whatever the size of the file. The grid is the
    image's, coarser (CRS kept, transform scaled). For quick looks and scene statistics of images too large
    to read whole: the map app's backdrop and whole-scene stretch.
    """
    import dataclasses

    import rasterio
    from affine import Affine

    from lslib.data.readers.common import readable

    path = _input_path(source)
    with warnings.catch_warnings():  # the full open_image of the same file has warned already
        warnings.simplefilter("ignore")
        raw = _open_file(path, bands, sensor, None)  # lazy: the header and band names, no pixel
        with readable(path), rasterio.open(path) as src:
            values = _decimated_read(src, max_side)
            sy, sx = src.height / values.shape[1], src.width / values.shape[2]
            transform = src.transform * Affine.scale(sx, sy)
        h, w = values.shape[1:]
        coords = {"band": raw.da["band"].values}
        if raw.pixel_grid:
            coords.update(y=(np.arange(h) + 0.5) * sy, x=(np.arange(w) + 0.5) * sx)
        else:
            coords.update(y=transform.f + (np.arange(h) + 0.5) * transform.e,
                          x=transform.c + (np.arange(w) + 0.5) * transform.a)  # fmt: skip
        small = xr.DataArray(values, dims=("band", "y", "x"), coords=coords, name=raw.da.name)
        if not raw.pixel_grid:
            small = small.rio.write_crs(raw.da.rio.crs).rio.write_transform(transform)
        step = max(1, math.ceil(max(h, w) / 512))
        quick = dataclasses.replace(raw, da=small, raw_overview=lambda: values[:, ::step, ::step])
        return _calibrate(quick, scale, offset)


def _open_s2_folder(
    path: Path, bands: Bands, sensor: str | None, scale: float | None, offset: float | None, chunks: Chunks
) -> xr.DataArray:
    from lslib.data.readers import read_sentinel2

    if scale is not None or offset is not None:
        raise ImageInputError(
            f"--scale/--offset do not apply to the Sentinel-2 band folder {path}: its DN are converted by "
            "lslib.data.readers.read_sentinel2 (DN/10000 with the baseline offset from the product metadata)"
        )
    if sensor is not None and not sensor.lower().replace("-", "_").startswith(("s2", "sentinel2")):
        raise ValueError(f"{path} is read as a Sentinel-2 band folder; --sensor {sensor} does not apply to it")
    wanted = [b.strip() for b in bands.split(",")] if isinstance(bands, str) else bands
    da = read_sentinel2(path, bands=[str(b) for b in wanted] if wanted else None, chunks=chunks)
    source = f"sensor preset sentinel-2 band folder (DN/10000, offset -{da.attrs.get('boa_offset', 0)} DN from " \
             f"{da.attrs.get('boa_offset_source', 'auto')})"  # fmt: skip
    check_plausible(overview(da), "reflectance", source=source, what=str(path))
    da.attrs.update({"radiometry": "reflectance", "radiometry_source": source, "scale": 1e-4})
    return da
