"""How large an image file is, before any pixel is read: its header, the memory a full read takes, small reads.

:func:`image_header` reads only the header (size, bands, dtype, overviews); :func:`check_fits_memory` refuses
a full read that cannot fit in memory (:class:`ImageTooLargeError`, before any pixel is read);
:func:`decimated_read` reads a whole file at a few hundred pixels a side with memory that of the result (the
plausibility overview of :func:`lslib.data.images.open_image` and :func:`lslib.data.images.open_preview`).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from lslib.data.images.diagnose import input_path

__all__ = [
    "DECIMATED_READ_CACHE",
    "ImageHeader",
    "ImageTooLargeError",
    "available_memory",
    "check_fits_memory",
    "decimated_read",
    "file_overview",
    "image_header",
]


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
        """Pixels per band (height x width)."""
        return self.height * self.width

    def decoded_values(self, side: int) -> int:
        """Values GDAL decodes for a read decimated to at most ``side`` pixels a side.

        GDAL reads the coarsest overview not coarser than the read (no overview: every pixel).
        """
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
        FileNotFoundError, ValueError, RasterReadError: as :func:`~lslib.data.images.open.open_image` for the same path.
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
    path = input_path(source)
    if path.is_dir():
        return None
    with readable(path), warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            return ImageHeader(path, src.count, src.height, src.width, str(src.dtypes[0]),
                               tuple(src.overviews(1)) if src.count else ())  # fmt: skip


def available_memory() -> int | None:
    """Bytes this process may still allocate.

    MemAvailable (Linux), else free physical pages; capped by what RLIMIT_AS leaves (Linux).
    """
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


def check_fits_memory(header: ImageHeader) -> None:
    """Refuse (before any pixel is read) to read into memory an image that cannot fit there.

    Raises:
        ImageTooLargeError: the image needs more memory than is available (says how to map it instead).
    """
    need, avail = header.memory_bytes(), available_memory()
    if avail is None or need <= avail:
        return
    raise ImageTooLargeError(
        f"{header.path.name} is {header.height:,} x {header.width:,} px x {header.count} bands: reading it into "
        f"memory takes about {need / 2**30:,.1f} GiB, more than the {avail / 2**30:,.1f} GiB available. Open it "
        f"lazily (open_image(path, chunks=1024), which reads pixels only when asked), map part of it in the map app "
        f"(MapApp(image=path, aoi=...) reads only the AOI) or map it in batch mode: lslib predict --image "
        f"{header.path} --prompts prompts.yaml --out OUT_DIR"
    )


def decimated_read(src: Any, side: int) -> np.ndarray:
    """Raw ``(band, h, w)`` values of an open dataset at most ``side`` pixels a side.

    Nearest (GDAL overviews when the file has them), with a small GDAL block cache: memory stays that of the
    result.
    """
    import rasterio
    from rasterio.enums import Resampling

    f = max(1, math.ceil(max(src.height, src.width) / side))
    shape = (src.count, max(1, src.height // f), max(1, src.width // f))
    if os.environ.get("GDAL_CACHEMAX"):
        return np.asarray(src.read(out_shape=shape, resampling=Resampling.nearest))
    with rasterio.Env(GDAL_CACHEMAX=DECIMATED_READ_CACHE):
        return np.asarray(src.read(out_shape=shape, resampling=Resampling.nearest))


def file_overview(path: Path, side: int = 512) -> np.ndarray:
    """Raw ``(band, h, w)`` values at most ``side`` pixels a side (GDAL overviews / decimated read)."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        src = rasterio.open(path)
    with src:
        return decimated_read(src, side)
