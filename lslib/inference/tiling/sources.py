"""Open any input of large-area mapping lazily as a ``(band, y, x)`` DataArray with wavelengths.

A thin door over :func:`lslib.data.open_image`, the one image-input contract shared with the map UI and the
Python API (same file + same flags = same array): GeoTIFF/COG/JP2, PNG/JPEG without georeferencing (pixel
coordinates, with a :class:`PixelCoordinatesWarning`), a Sentinel-2 band folder, a STAC item or a DataArray;
band names from ``bands=``/``sensor=``/the file; DN -> physical values from ``scale=``/``offset=``, the
file's scale tags, the sensor preset or the uint8 display convention; a plausibility check on an overview.
Nothing is read into memory here but that overview: pixels are read window by window later.

Also here: :func:`footprint`, where the input has valid pixels (a GeoTIFF's nodata mask read once at full
resolution, a NumPy array's finite pixels), so that empty blocks and windows are never read or mapped;
:class:`InputReadError`, a read error of the input (truncated, damaged) that names the input and is never
mistaken for a problem of the output folder.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import rioxarray  # noqa: F401  (the .rio accessor)
import xarray as xr

from lslib.data.images import PIXEL_SUFFIXES, Bands, PixelCoordinatesWarning, open_image
from lslib.data.readers.common import RasterReadError

if TYPE_CHECKING:
    import pystac

#: what :func:`open_source` reads: a Sentinel-2 band folder, a raster file or STAC item JSON path, a pystac
#: Item, a STAC item dict (parsed JSON: its values are arbitrary) or a ``(band, y, x)`` DataArray
ImageSource: TypeAlias = "str | os.PathLike[str] | xr.DataArray | Mapping[str, Any] | pystac.Item"

__all__ = [
    "PIXEL_SUFFIXES", "Bands", "Footprint", "InputReadError", "PixelCoordinatesWarning", "footprint", "input_files",
    "open_source", "reading_input", "source_fingerprint",
]  # fmt: skip


try:
    from rasterio._err import CPLE_BaseError as _CPLE  # GDAL errors rasterio raises as they are
except ImportError:  # pragma: no cover - rasterio without its private error module
    _CPLE = OSError


class InputReadError(RasterReadError):
    """The input raster could not be read (truncated, damaged, unreachable): not a problem of the output folder."""


@contextmanager
def reading_input(name: str, where: str = "") -> Iterator[None]:
    """Turn a read error of the input inside the block into :class:`InputReadError` naming the input.

    Errors that already say what to do (missing file, bad bands, implausible values) pass unchanged.
    """
    from rasterio.errors import RasterioError

    try:
        yield
    except (RasterReadError, FileNotFoundError):
        raise
    except (OSError, RasterioError, _CPLE) as exc:
        cause = exc.__cause__ if exc.__cause__ is not None and str(exc.__cause__) not in str(exc) else None
        detail = str(exc).replace(" See previous exception for details.", "").rstrip(".")
        detail += f" ({str(cause).rstrip('.')})" if cause is not None else ""
        raise InputReadError(
            f"cannot read the input {name}{where}: {detail}. The input is damaged or incomplete (an interrupted "
            "download or copy?), or its storage is unreachable: this is not a disk-space problem of --out. Check it "
            f"(e.g. gdalinfo -checksum {name}), fetch or export it again, then rerun"
        ) from exc


def open_source(
    source: Any,
    *,
    bands: Bands = None,
    sensor: str | None = None,
    chunk: int = 1024,
    scale: float | None = None,
    offset: float | None = None,
) -> tuple[xr.DataArray, bool, str]:
    """``(da, pixel_coordinates, description)`` for any input of :func:`lslib.data.open_image`, lazily.

    ``da`` is :func:`lslib.data.open_image` ``(source, bands=, sensor=, scale=, offset=, chunks=chunk)``;
    ``pixel_coordinates`` is True when it has no CRS (a DataArray without one warns here).

    Raises:
        FileNotFoundError: a path that does not exist.
        ImageInputError: implausible values (DN as reflectance, linear SAR, ...): the message names the flag.
        ValueError: no CRS on a georeferenced file, unknown bands, missing wavelengths, wrong dims.
    """
    da = open_image(source, bands=bands, sensor=sensor, scale=scale, offset=offset, chunks=chunk)
    pixel = da.rio.crs is None
    if isinstance(source, xr.DataArray):
        if pixel:
            warnings.warn(
                "the DataArray has no CRS: the map is in pixel coordinates (areas in pixels only); set one with "
                "da.rio.write_crs('EPSG:…') to get a georeferenced map",
                PixelCoordinatesWarning,
                stacklevel=2,
            )
        return da, pixel, f"DataArray {source.name or ''} {dict(da.sizes)}".replace("  ", " ")
    from lslib.data.readers.stac_item import is_stac_item

    if is_stac_item(source):
        label = getattr(source, "id", None) or (source.get("id") if isinstance(source, Mapping) else str(source))
        return da, False, f"STAC item {label}"
    return da, pixel, str(Path(source).expanduser().resolve())


def input_files(source: Any) -> list[Path]:
    """The files an input path stands for (the file, or the files of a folder); none for other inputs."""
    if not isinstance(source, str | os.PathLike) or not Path(source).exists():
        return []
    p = Path(source).resolve()
    return sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]


def source_fingerprint(source: Any, da: xr.DataArray, *, exclude: Path | None = None) -> str:
    """A cheap identity of the input (paths with sizes and mtimes, or the array's dask name / content hash).

    ``exclude``: the output folder; when an input folder holds it, lslib's own files there (hidden
    names, the outputs) are left out, so that a run's own writes never change its input's identity.
    """
    from lslib.inference.outputs import CLASS_MAP, CONFIDENCE, PROMPTS, PROMPTS_ALT, SIDECAR

    ours = {CLASS_MAP, CONFIDENCE, SIDECAR, PROMPTS, PROMPTS_ALT, "prompts.safetensors", "prompts.lslib.safetensors"}
    skip = exclude.resolve() if exclude is not None else None
    h = hashlib.sha256()
    if isinstance(source, str | os.PathLike) and Path(source).exists():
        files = input_files(source)
        if skip is not None and Path(source).is_dir():
            files = [f for f in files if not (skip in f.parents and (
                f.name in ours or any(part.startswith(".") for part in f.relative_to(skip).parts)))]  # fmt: skip
        for f in files:
            st = f.stat()
            h.update(f"{f}:{st.st_size}:{st.st_mtime_ns}".encode())
    elif isinstance(source, xr.DataArray) and source.chunks is None and source.size * 4 < 256 << 20:
        h.update(np.ascontiguousarray(np.asarray(source.values, dtype=np.float32)).tobytes())
    else:
        from dask.base import tokenize

        h.update(tokenize(da.data if da.chunks is not None else da).encode())
        if hasattr(source, "to_dict"):
            h.update(json.dumps(source.to_dict(), sort_keys=True, default=str).encode())
    h.update(repr(dict(da.sizes)).encode())
    h.update(repr([str(b) for b in da["band"].values]).encode())
    h.update(repr(np.asarray(da["wavelength"].values).round(6).tolist()).encode() if "wavelength" in da.coords else b"")
    return h.hexdigest()


# --- where the input has valid pixels ------------------------------------------------------------------------------

#: footprint cell size in pixels
CELL = 64


@dataclass(frozen=True)
class Footprint:
    """Where the input may hold valid pixels, per ``cell x cell`` cell (True: maybe, False: certainly none)."""

    cells: np.ndarray  # bool (ceil(H / cell), ceil(W / cell))
    cell: int
    height: int
    width: int

    def any(self, rows: tuple[int, int], cols: tuple[int, int]) -> bool:
        """Whether the pixel region ``rows x cols`` may hold a valid pixel (never False where one is)."""
        c = self.cell
        return bool(self.cells[rows[0] // c : -(-rows[1] // c), cols[0] // c : -(-cols[1] // c)].any())

    @property
    def fraction(self) -> float:
        """Share of the raster in cells that may hold data (an upper bound of the valid share)."""
        return float(self.cells.mean()) if self.cells.size else 0.0


def _cells(valid: np.ndarray, cell: int) -> np.ndarray:
    h, w = valid.shape
    ph, pw = -(-h // cell) * cell, -(-w // cell) * cell
    padded = np.zeros((ph, pw), dtype=bool)
    padded[:h, :w] = valid
    return np.asarray(padded.reshape(ph // cell, cell, pw // cell, cell).any(axis=(1, 3)), dtype=bool)


def footprint(source: Any, da: xr.DataArray, *, cell: int = CELL, window: int = 2048) -> Footprint | None:
    """Where ``da`` (opened from ``source``) may have valid pixels, or None when it cannot be known cheaply.

    * a NumPy-backed DataArray: its finite pixels (any band);
    * a GeoTIFF whose bands all have a nodata value: the file's nodata mask (valid where any band is
      valid), read once at full resolution in ``window``-pixel squares (never from overviews, which
      may have dropped a few isolated pixels). Pixels that are nodata in the file are NaN in ``da``
      (:func:`lslib.data.open_image`), so a cell without a valid file pixel has no valid ``da`` pixel;
    * anything else (other formats, folders, STAC items, Dask arrays, files without nodata): None.
    """
    height, width = da.sizes["y"], da.sizes["x"]
    if isinstance(source, xr.DataArray):
        if source.chunks is not None:
            return None
        cells = np.zeros((-(-height // cell), -(-width // cell)), dtype=bool)
        step = max(cell, (window // cell) * cell)
        for r in range(0, height, step):
            part = np.asarray(da.isel(y=slice(r, r + step)).values)
            cells[r // cell : -(-(r + part.shape[1]) // cell)] = _cells(np.isfinite(part).any(0), cell)
        return Footprint(cells, cell, height, width)
    if not isinstance(source, str | os.PathLike) or not Path(source).is_file():
        return None
    import rasterio
    from rasterio.enums import MaskFlags
    from rasterio.errors import NotGeoreferencedWarning, RasterioError
    from rasterio.windows import Window

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(source, OVERVIEW_LEVEL="NONE")
    except RasterioError:
        return None
    with src:
        if src.driver != "GTiff" or (src.height, src.width) != (height, width):
            return None
        if any(flags != [MaskFlags.nodata] for flags in src.mask_flag_enums):
            return None  # no nodata (every pixel valid), or an alpha/per-dataset mask that da does not apply
        cells = np.zeros((-(-height // cell), -(-width // cell)), dtype=bool)
        step = max(cell, (window // cell) * cell)
        with reading_input(str(Path(source).resolve()), " (checking where it has valid pixels)"):
            for r in range(0, height, step):
                for c in range(0, width, step):
                    h, w = min(step, height - r), min(step, width - c)
                    mask = src.dataset_mask(window=Window(c, r, w, h)) > 0
                    cells[r // cell : r // cell + math.ceil(h / cell), c // cell : c // cell + math.ceil(w / cell)] = (
                        _cells(mask, cell)
                    )
    return Footprint(cells, cell, height, width)
