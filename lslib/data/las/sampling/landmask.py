"""Land or sea from the 1 km GLOBE mask of ``global-land-mask``, without the package's ~1 GB in-memory array.

``global_land_mask.globe`` (imported by ``import global_land_mask`` itself) unpacks its whole
``globe_combined_mask_compressed.npz`` into a 21600 × 43200 bool array (933 MB) on import and keeps it for the
life of the process. Here the package is never imported: its npz is located with :func:`importlib.util.find_spec`
and :func:`importlib.resources.files` on an *unexecuted* module object, the ``mask.npy`` member is streamed out
of the zip 60 rows at a time (a few MB of memory at any moment), and the land mask is stored bit-packed
(``np.packbits``, 1 = land) in the lslib cache::

    cache_dir() / "land_mask" / "globe_<px>ppd_<package version>_<crc32 of mask.npy>.npy"        # the mask
    cache_dir() / "land_mask" / "globe_<px>ppd_<package version>_<crc32 of mask.npy>_cells.npy"  # 0.25° table

Both files are written atomically (a first use takes ~2-3 s) and the mask is then memory-mapped read-only, so
every process on the machine (notebook kernel, Dask workers) shares the same page-cache pages, which the kernel
can drop under memory pressure since they are clean. A lookup touches one 4 KiB page per point, at most.

Resolution: the default is the native 1/120° grid (116.6 MB packed), so :func:`is_land` equals the package's
``globe.is_land`` exactly, point for point, including its indexing quirks (the grid's first row and column are
at 90° N and 180° W and a point falls in the cell whose index is ``int((v - first) / step)``, after clamping
to the grid's first and last coordinates). ``px_per_deg`` may ask for a coarser grid (60 ≈ 2 km: 29 MB, 40,
24, 20, 12, 8 or 4 pixels per degree); a coarse pixel is land when **any** of its native pixels is (no island
or coast is lost, but sea up to one coarse pixel off a coast, ~2 km at 60, counts as land). The samplers use
the native grid.

Also cached: which 0.25° cells hold at least one land pixel (:func:`land_mask` ``.cells``), computed during the
same pass, so building the candidate-cell table never reads the whole mask.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import importlib.util
import zipfile
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["DEFAULT_PX_PER_DEG", "NATIVE_PX_PER_DEG", "LandMask", "is_land", "land_mask"]

NATIVE_PX_PER_DEG = 120  # the GLOBE grid: 1/120° (~1 km), 21600 × 43200
DEFAULT_PX_PER_DEG = NATIVE_PX_PER_DEG
CELL_DEG = 0.25  # cells of the candidate table (:attr:`LandMask.cells`)
ALLOWED_PX_PER_DEG = (120, 60, 40, 24, 20, 12, 8, 4)  # divide 120, and a 0.25° cell holds whole pixels
_PACKAGE, _DIST = "global_land_mask", "global-land-mask"
_NPZ, _MASK, _LAT, _LON = "globe_combined_mask_compressed.npz", "mask.npy", "lat.npy", "lon.npy"
_BLOCK_ROWS = 60  # native rows streamed at a time: 60 × 43200 bytes = 2.6 MB
_BITS = np.array([128, 64, 32, 16, 8, 4, 2, 1], dtype=np.uint8)  # np.packbits bit order
_PIP_HINT = "lslib.data.las.sampling needs the GLOBE land mask: pip install global-land-mask"


@dataclass(frozen=True)
class _Axis:
    """One axis of the GLOBE grid, indexed as ``global_land_mask.globe`` does it (same float operations)."""

    first: float  # coordinate of index 0 (lat: 90.0, lon: -180.0)
    step: float  # coordinate of index 1 minus that of index 0 (lat: negative)
    lo: float  # smallest coordinate of the axis; smaller values are clamped to it
    hi: float  # largest coordinate; larger values are clamped to it

    @classmethod
    def of(cls, values: np.ndarray) -> _Axis:
        return cls(float(values[0]), float(values[1] - values[0]), float(values.min()), float(values.max()))

    def index(self, v: np.ndarray) -> np.ndarray:
        """Native index of each coordinate (``v`` float64, finite); ``int()`` truncates like ``astype('int')``."""
        return ((np.clip(v, self.lo, self.hi) - self.first) / self.step).astype(np.intp)


@dataclass(frozen=True)
class _Source:
    npz: Traversable  # the package's npz (a path for a normal installation)
    version: str
    crc: int  # CRC-32 of mask.npy as stored in the zip directory: changes with the data
    lat: _Axis
    lon: _Axis


@dataclass(frozen=True)
class LandMask:
    """The GLOBE land mask at ``px_per_deg`` pixels per degree, bit-packed and memory-mapped.

    ``packed[r, c // 8] >> (7 - c % 8) & 1`` is 1 where pixel (row ``r`` from the north, column ``c`` from
    180° W) holds land; ``cells`` (720 × 1440 bool, row 0 at 90° N, column 0 at 180° W) is True where a 0.25°
    cell holds at least one land pixel.
    """

    packed: np.ndarray
    cells: np.ndarray
    px_per_deg: int
    shape: tuple[int, int]  # (rows, cols) of the unpacked grid
    lat: _Axis
    lon: _Axis
    path: Path

    @property
    def factor(self) -> int:
        """Native pixels per pixel along each axis."""
        return NATIVE_PX_PER_DEG // self.px_per_deg

    def land_at(self, rows: Any, cols: Any) -> np.ndarray:
        """Land (bool) at integer pixel indices (broadcast together)."""
        rows, cols = np.broadcast_arrays(np.asarray(rows, dtype=np.intp), np.asarray(cols, dtype=np.intp))
        width = self.packed.shape[1]
        byte = np.take(self.packed.reshape(-1), rows * width + (cols >> 3))
        return (byte & np.take(_BITS, cols & 7)) != 0

    def lookup(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Land at finite float64 degrees (no range check: out-of-range values clamp to the edge)."""
        f = self.factor
        return self.land_at(self.lat.index(lat) // f, self.lon.index(lon) // f)


def _find_npz() -> Traversable:
    spec = importlib.util.find_spec(_PACKAGE)  # locates the package without running its __init__ (-> globe)
    if spec is None:
        raise ImportError(_PIP_HINT)
    module = importlib.util.module_from_spec(spec)  # not executed: importing it would load the 933 MB array
    resource = importlib.resources.files(module) / _NPZ
    if not resource.is_file():  # pragma: no cover - a broken installation
        raise ImportError(f"{_PIP_HINT} (its data file {_NPZ} is missing)")
    return resource


@lru_cache(maxsize=1)
def _source() -> _Source:
    npz = _find_npz()
    try:
        version = importlib.metadata.version(_DIST)
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - installed without metadata
        version = "unknown"
    with npz.open("rb") as fh, zipfile.ZipFile(fh) as z:
        crc = z.getinfo(_MASK).CRC
        with z.open(_LAT) as f:
            lat = np.lib.format.read_array(f)
        with z.open(_LON) as f:
            lon = np.lib.format.read_array(f)
    return _Source(npz, version, crc, _Axis.of(lat), _Axis.of(lon))


def _read_exact(f: IO[bytes], n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = f.read(n - got)
        if not chunk:
            raise ValueError(f"{_NPZ}: {_MASK} ends early ({got} of {n} bytes of a block)")
        parts.append(chunk)
        got += len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _any_blocks(a: np.ndarray, k: int) -> np.ndarray:
    """``k`` × ``k`` block-wise "any" of a 2-D bool array whose sides are multiples of ``k`` (strided ORs: fast)."""
    if k == 1:
        return a
    rows = a[0::k].copy()
    for i in range(1, k):
        rows |= a[i::k]
    out = rows[:, 0::k].copy()
    for j in range(1, k):
        out |= rows[:, j::k]
    return out


def _build(src: _Source, px: int, mask_path: Path, cells_path: Path) -> None:
    """Stream ``mask.npy`` out of the npz and write the packed mask and the 0.25° cell table (atomically)."""
    from lslib.atomic import atomic_path

    f_px = NATIVE_PX_PER_DEG // px
    cell_px = round(CELL_DEG * px)  # pixels per 0.25° cell side at this resolution
    with src.npz.open("rb") as fh, zipfile.ZipFile(fh) as z, z.open(_MASK) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:  # pragma: no cover - numpy only writes 3.0 for non-latin-1 field names
            raise ValueError(f"{_NPZ}: unsupported .npy format version {version} of {_MASK}")
        rows, cols = 180 * NATIVE_PX_PER_DEG, 360 * NATIVE_PX_PER_DEG
        if dtype != np.bool_ or fortran or tuple(shape) != (rows, cols):
            raise ValueError(f"{_NPZ}: unexpected {_MASK}: shape {shape}, dtype {dtype}, fortran_order {fortran}")
        out_rows, out_cols = rows // f_px, cols // f_px
        cells = np.zeros((out_rows // cell_px, out_cols // cell_px), dtype=bool)
        header = {"descr": "|u1", "fortran_order": False, "shape": (out_rows, -(-out_cols // 8))}  # uint8
        with atomic_path(mask_path) as tmp, tmp.open("wb") as out:
            np.lib.format.write_array_header_1_0(out, header)
            block_cells = _BLOCK_ROWS // f_px // cell_px
            for i in range(rows // _BLOCK_ROWS):
                ocean = np.frombuffer(_read_exact(f, _BLOCK_ROWS * cols), dtype=np.bool_).reshape(_BLOCK_ROWS, cols)
                land = _any_blocks(~ocean, f_px)  # a coarse pixel is land when any of its native pixels is
                out.write(np.packbits(land, axis=1).tobytes())
                cells[i * block_cells : (i + 1) * block_cells] = _any_blocks(land, cell_px)
    with atomic_path(cells_path) as tmp:
        np.save(tmp, cells)


def _open(mask_path: Path, cells_path: Path, px: int, src: _Source) -> LandMask:
    rows, cols = round(180 * px), round(360 * px)
    packed = np.load(mask_path, mmap_mode="r")
    cells = np.load(cells_path)
    n_cells = (round(180 / CELL_DEG), round(360 / CELL_DEG))
    if packed.dtype != np.uint8 or packed.shape != (rows, -(-cols // 8)) or cells.shape != n_cells:
        raise ValueError(f"{mask_path}: unexpected shape {packed.shape} / {cells.shape}")
    return LandMask(packed.view(np.ndarray), cells.astype(bool), px, (rows, cols), src.lat, src.lon, mask_path)


def check_px_per_deg(px_per_deg: Any) -> int:
    if (
        isinstance(px_per_deg, bool)
        or not isinstance(px_per_deg, int | np.integer)
        or (int(px_per_deg) not in ALLOWED_PX_PER_DEG)
    ):
        allowed = ", ".join(map(str, ALLOWED_PX_PER_DEG))
        raise ValueError(f"px_per_deg must be one of {allowed} (120: the native ~1 km grid), not {px_per_deg!r}")
    return int(px_per_deg)


@cache
def _land_mask(px: int) -> LandMask:
    from lslib.data.fetch import cache_dir

    src = _source()
    stem = f"globe_{px}ppd_{src.version}_{src.crc:08x}"
    folder = cache_dir() / "land_mask"
    mask_path, cells_path = folder / f"{stem}.npy", folder / f"{stem}_cells.npy"
    try:
        return _open(mask_path, cells_path, px, src)
    except (OSError, ValueError, EOFError):  # missing (first use), truncated or foreign: (re)build
        _build(src, px, mask_path, cells_path)
        return _open(mask_path, cells_path, px, src)


def land_mask(px_per_deg: int = DEFAULT_PX_PER_DEG) -> LandMask:
    """The cached, memory-mapped GLOBE land mask at ``px_per_deg`` (built on first use; memoised per process).

    Raises:
        ImportError: ``global-land-mask`` is not installed.
        ValueError: ``px_per_deg`` not in :data:`ALLOWED_PX_PER_DEG`.
    """
    return _land_mask(check_px_per_deg(px_per_deg))


def is_land(lat: Any, lon: Any, *, px_per_deg: int = DEFAULT_PX_PER_DEG) -> np.ndarray:
    """True where (lat, lon) in degrees lies on land per the 1 km GLOBE mask (most lakes count as land).

    A drop-in for ``global_land_mask.globe.is_land(lat, lon)`` (same argument order and, at the default native
    resolution, the same answer for every point) that does not hold the 933 MB mask in memory.

    Args:
        lat: latitudes in degrees, any shape broadcastable with ``lon``.
        lon: longitudes in degrees (EPSG:4326).
        px_per_deg: grid resolution; 120 (default) is the native grid, coarser values are documented in
            :mod:`lslib.data.las.sampling.landmask`.

    Returns:
        bool numpy array of the broadcast shape (0-d for scalars).

    Raises:
        ValueError: NaN or infinite values, latitude outside [-90, 90] or longitude outside [-180, 180].
    """
    lat_a, lon_a = np.broadcast_arrays(np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64))
    if not (np.isfinite(lat_a).all() and np.isfinite(lon_a).all()):
        raise ValueError("is_land: lat/lon contain NaN or infinite values; pass finite degrees")
    if lat_a.size and np.abs(lat_a).max() > 90:
        raise ValueError("is_land: latitude must be in [-90, 90] degrees (is the argument order lat, lon?)")
    if lon_a.size and np.abs(lon_a).max() > 180:
        raise ValueError("is_land: longitude must be in [-180, 180] degrees (EPSG:4326)")
    return land_mask(px_per_deg).lookup(lat_a, lon_a)
