"""Output files of large-area mapping: class-map and confidence COGs, sidecar, progress record, block store.

Layout of an output folder (``out/``)::

    class_map.tif     uint8 COG in the one class-map convention of :mod:`lslib.inference.codes`: value
                      k = index of the prompt (0 .. K-1), 254 = unknown (below the class threshold),
                      255 = nodata (GeoTIFF nodata); colour table = prompt colours, unknown grey
                      (128, 128, 128), nodata transparent black; tags ``LSLIB_CLASSES/UNKNOWN/NODATA``
    confidence.tif    float32 COG: fused score of the winning class in [0, 1], NaN nodata
    map.json          sidecar (also in the COGs' ``LSLIB_*`` tags): prompts, thresholds, fusion mode,
                      model variant + sha256, lslib version, input, tile/overlap/block, areas, the files
                      of the map and the sha256 of those lslib wrote. Written last: its presence means
                      the run is complete.
    prompts.yaml      the prompt set (:func:`lslib.prompt_set.save`); ``prompts.lslib.yaml`` when a file
                      that lslib did not write (e.g. the ``--prompt-set`` input itself) holds that name

While running, only hidden names exist: ``.lslib-partial/`` (one small tiled GTiff per finished block
and output, ``b000042.class.tif`` / ``b000042.conf.tif``), ``.progress.json`` (the run signature and
the finished blocks with their valid-pixel counts) and ``.lslib.lock`` (held with ``flock`` while a
run writes into the folder). A block is recorded only once both of its files are written, read back,
flushed to disk and renamed into place; no file is ever shared between blocks, so a failure (disk
full, kill, power cut) while writing one block never touches the data of another. At the end both
COGs are built from a VRT mosaic of the block files under temporary names, renamed to the final names,
and the sidecar is written; a kill at any point leaves no file that looks complete.

Ownership: lslib deletes or replaces only files it recognises as its own (the COG tags ``LSLIB_*``,
the sidecar's ``signature``/``lslib_version``, the sha256 it recorded for the prompt files, the
progress record's signature) and never an input of the run; see :func:`inspect_out`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import socket
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from lslib.atomic import atomic_path, default_mode, fsync_path, write_text
from lslib.inference.codes import BAND_DESCRIPTION, NODATA_CODE, colour_table
from lslib.inference.codes import NODATA_RGBA as NODATA_RGBA  # re-exported: the convention lives in codes
from lslib.inference.codes import UNKNOWN_CODE as UNKNOWN_CODE
from lslib.inference.codes import UNKNOWN_RGBA as UNKNOWN_RGBA

CLASS_MAP = "class_map.tif"
CONFIDENCE = "confidence.tif"
SIDECAR = "map.json"
PROMPTS = "prompts.yaml"
#: where lslib's copy of the prompt set goes when ``prompts.yaml`` is not lslib's (an input, the user's file)
PROMPTS_ALT = "prompts.lslib.yaml"
PROGRESS = ".progress.json"
LOCK = ".lslib.lock"
PARTIAL_DIR = ".lslib-partial"
#: hidden partial files of lslib < 0.x (one shared GTiff per output): recognised by their tags and removed
LEGACY_PARTIAL = (".class_map.partial.tif", ".confidence.partial.tif")
PROGRESS_FORMAT = 2
OUR_FILES = (CLASS_MAP, CONFIDENCE, SIDECAR, PROMPTS, PROGRESS, *LEGACY_PARTIAL)
_BLOCK_FILE = re.compile(r"^b\d{6}\.(class|conf)\.tif$")
#: the files lslib writes inside .lslib-partial/: blocks, the VRT mosaics, staged prompt files, their temporaries
_PARTIAL_FILE = re.compile(
    r"^(b\d{6}\.(class|conf)\.tif|(class|conf)\.vrt|prompts(\.lslib)?\.(yaml|safetensors)"
    r"|\..+\.[a-z0-9_]{8}\.part\.(tif|vrt|yaml|safetensors))$"
)
#: final names whose atomic-write temporaries a killed run may leave in out/
_TEMP_TARGETS = (CLASS_MAP, CONFIDENCE, SIDECAR, PROGRESS, PROMPTS, PROMPTS_ALT, "prompts.safetensors",
                 "prompts.lslib.safetensors")


# --- errors ------------------------------------------------------------------------------------------------------


try:
    from rasterio._err import CPLE_BaseError as _CPLE  # GDAL errors rasterio raises as they are
except ImportError:  # pragma: no cover - rasterio without its private error module
    _CPLE = OSError


class OutputWriteError(OSError):
    """A write into the output folder failed (disk full, quota, I/O error); the message says what to do.

    No ``errno``: the CLI prints the message as is. ``__cause__`` is the original error.
    """


class OutputInUseError(OSError):
    """Another run holds the output folder's lock."""


def _is_disk_full(exc: BaseException) -> bool:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(e) or "Disk quota exceeded" in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False


def _low_space(out: Path, below: int = 64 << 20) -> bool:
    """Whether the disk of ``out`` is (nearly) full: GDAL reports ENOSPC only on stderr, not in its exception."""
    import shutil

    try:
        return shutil.disk_usage(out).free < below
    except OSError:
        return False


def disk_full_message(out: Path, exc: OSError) -> str:
    """The error message for a failed write: what happened, what is left, what to do."""
    what = "the disk is full" if _is_disk_full(exc) or _low_space(out) else f"a write failed ({exc})"
    return (
        f"{what} while writing the map into {out}: nothing was finalised (class_map.tif/confidence.tif/map.json "
        "are not complete; only hidden .lslib-partial/ and .progress.json). Free some space (or choose another "
        "--out) and rerun the same command: finished blocks are kept and the run resumes."
    )


@contextmanager
def writing(out: Path) -> Iterator[None]:
    """Turn an ``OSError`` of a write into ``out`` into :class:`OutputWriteError` (disk full: what to do).

    A read error of an input (:class:`lslib.data.readers.common.RasterReadError`) passes unchanged.
    """
    from rasterio.errors import RasterioError

    from lslib.data.readers.common import RasterReadError

    try:
        yield
    except (OutputWriteError, OutputInUseError, RasterReadError, FileExistsError, FileNotFoundError):
        raise
    except (OSError, RasterioError, _CPLE) as exc:  # GDAL's own write errors (rasterio.shutil.copy) are CPLE_*
        raise OutputWriteError(disk_full_message(out, exc if isinstance(exc, OSError) else OSError(str(exc)))) from exc


# --- small helpers -------------------------------------------------------------------------------------------------


def make_readable(path: Path) -> None:
    """Give a file the usual permissions of a new file (``0o666`` minus the umask)."""
    os.chmod(path, default_mode())


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's content, or None when missing or unreadable (a torn file never counts)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (renames) to disk where the OS allows it."""
    fsync_path(path)


def _lslib_tags(path: Path) -> dict[str, str] | None:
    """The ``LSLIB_*`` tags of a GeoTIFF lslib wrote, or None (not a raster, or not lslib's)."""
    from rasterio.errors import NotGeoreferencedWarning, RasterioError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                tags = src.tags()
    except (RasterioError, OSError):
        return None
    return tags if ("LSLIB_SIDECAR" in tags or "LSLIB_VERSION" in tags) else None


def is_lslib_sidecar(doc: Mapping[str, Any] | None) -> bool:
    """A ``map.json`` lslib wrote: a JSON object with its run signature and lslib version."""
    return doc is not None and isinstance(doc.get("signature"), str) and "lslib_version" in doc


def is_lslib_progress(doc: Mapping[str, Any] | None) -> bool:
    """A ``.progress.json`` lslib wrote: its run signature, the finished blocks and their valid-pixel count."""
    return (doc is not None and bool(re.fullmatch(r"[0-9a-f]{64}", str(doc.get("signature"))))
            and isinstance(doc.get("done"), list) and isinstance(doc.get("valid_pixels"), int))  # fmt: skip


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or os.path.samefile(a, b)
    except OSError:
        return False


def _stale_temp(name: str, targets: Iterable[str]) -> bool:
    """A temporary file :func:`lslib.atomic.atomic_path` left for one of ``targets`` (a kill mid-write)."""
    for t in targets:
        p = Path(t)
        if re.fullmatch(re.escape(f".{p.stem}.") + r"[a-z0-9_]{8}" + re.escape(f".part{p.suffix}"), name):
            return True
    return False


# --- what is in an output folder -----------------------------------------------------------------------------------


@dataclass
class OutInventory:
    """What :func:`inspect_out` found in an output folder."""

    ours: list[Path] = field(default_factory=list)  # files lslib wrote: it may replace or remove them
    foreign: list[str] = field(default_factory=list)  # names lslib uses holding files it did not write
    inputs: list[str] = field(default_factory=list)  # names lslib uses holding an input of this run
    signature: str | None = None  # of the map or run in the folder
    sidecar: dict[str, Any] | None = None  # lslib's map.json, if any
    progress: dict[str, Any] | None = None  # lslib's .progress.json, if any
    complete: bool = False  # map.json + both COGs, all lslib's
    prompts_name: str | None = None  # where lslib's copy of the prompt set may go (None: both names taken)

    @property
    def has_map(self) -> bool:
        return bool(self.ours)


def inspect_out(out: Path, protect: Iterable[Path] = ()) -> OutInventory:
    """Classify the files of ``out`` that lslib would use: its own ones, other files, inputs of this run.

    A file is lslib's when lslib can prove it wrote it: a GeoTIFF with ``LSLIB_*`` tags, a ``map.json``
    with lslib's signature and version, a prompt file whose sha256 the sidecar/progress record lists as
    written by lslib, a progress record with a signature, block files inside ``.lslib-partial/``. Anything
    else under those names is *foreign*: lslib never deletes or rewrites it. Files in ``protect`` (the
    inputs of the run) are never lslib's to touch, whoever wrote them.
    """
    inv = OutInventory()
    if not out.is_dir():
        inv.prompts_name = PROMPTS
        return inv
    here = out.resolve()
    protect = [q for q in (Path(p) for p in protect) if q.exists() and q.resolve().parent == here]

    def guarded(path: Path) -> bool:
        if any(_same_file(path, p) for p in protect):
            inv.inputs.append(path.name)
            return True
        return False

    sidecar = read_json(out / SIDECAR)
    if (out / SIDECAR).exists():
        if is_lslib_sidecar(sidecar):
            inv.sidecar = sidecar
            if not guarded(out / SIDECAR):
                inv.ours.append(out / SIDECAR)
        else:
            inv.foreign.append(SIDECAR)
    progress = read_json(out / PROGRESS)
    if (out / PROGRESS).exists():
        if is_lslib_progress(progress):
            inv.progress = progress
            inv.ours.append(out / PROGRESS)
        else:
            inv.foreign.append(PROGRESS)
    cog_signature = None
    for name in (CLASS_MAP, CONFIDENCE, *LEGACY_PARTIAL):
        path = out / name
        if not path.exists():
            continue
        tags = _lslib_tags(path)
        if tags is None:
            inv.foreign.append(name)
            continue
        if name in (CLASS_MAP, CONFIDENCE) and cog_signature is None:
            cog_signature = (read_json_text(tags.get("LSLIB_SIDECAR")) or {}).get("signature")
        if not guarded(path):
            inv.ours.append(path)
    written: dict[str, str] = {}
    for doc in (inv.progress, inv.sidecar):
        if doc and isinstance(doc.get("written"), dict):
            written.update({str(k): str(v) for k, v in doc["written"].items()})
    free = []
    for yaml_name in (PROMPTS, PROMPTS_ALT):
        names = (yaml_name, str(Path(yaml_name).with_suffix(".safetensors")))
        taken = False
        for name in names:
            path = out / name
            if not path.exists():
                continue
            if name in written and path.is_file() and sha256_file(path) == written[name] and not guarded(path):
                inv.ours.append(path)
            else:
                taken = True
                if name not in inv.inputs:
                    inv.foreign.append(name)
        if not taken:
            free.append(yaml_name)
    inv.prompts_name = free[0] if free else None
    part = out / PARTIAL_DIR
    if part.is_dir():
        inv.ours.extend(p for p in part.iterdir() if _PARTIAL_FILE.match(p.name))
    inv.ours.extend(p for p in out.iterdir() if _stale_temp(p.name, _TEMP_TARGETS))
    inv.signature = (inv.sidecar or {}).get("signature") or (inv.progress or {}).get("signature") or cog_signature
    maps = [n for n in (CLASS_MAP, CONFIDENCE) if (out / n).exists() and n not in inv.foreign]
    inv.complete = bool(inv.sidecar) and len(maps) == 2
    return inv


def clean_stale(out: Path) -> None:
    """Remove the temporaries a killed run left (atomic writes cut short); only lslib's own names."""
    for p in out.iterdir() if out.is_dir() else ():
        if _stale_temp(p.name, _TEMP_TARGETS):
            p.unlink(missing_ok=True)
    part = out / PARTIAL_DIR
    for p in part.iterdir() if part.is_dir() else ():
        if p.name.startswith(".") and _PARTIAL_FILE.match(p.name):
            p.unlink(missing_ok=True)


def read_json_text(text: str | None) -> dict[str, Any] | None:
    try:
        doc = json.loads(text or "")
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def remove_ours(out: Path, inv: OutInventory) -> None:
    """Delete the files ``inv`` lists as lslib's (never a foreign file or an input), and the partial folder."""
    for path in inv.ours:
        path.unlink(missing_ok=True)
    _remove_partial_dir(out)


def _remove_partial_dir(out: Path) -> None:
    part = out / PARTIAL_DIR
    if not part.is_dir():
        return
    for p in part.iterdir():
        if _PARTIAL_FILE.match(p.name):
            p.unlink(missing_ok=True)
    try:
        part.rmdir()
    except OSError:
        pass  # something else lives there: leave it


# --- the lock ------------------------------------------------------------------------------------------------------


class OutputLock:
    """``out/.lslib.lock`` held with ``fcntl.flock``: one lslib run writes into a folder at a time.

    The OS releases the lock when its process dies, so a crashed or killed run never blocks the next
    one; the lock file says which process holds it. Released (and the file removed) by :meth:`release`.
    """

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK
        self.fd: int | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # no flock on this OS: run unlocked
            return
        for _ in range(20):
            if self.path.exists() and not self._ours():
                raise FileExistsError(
                    f"{self.path} is a file lslib did not write: lslib never replaces a file it did not write; move "
                    "it away or choose another --out"
                )
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                raise OutputInUseError(
                    f"another lslib run is writing into {self.path.parent} ({self._holder()}): wait for it to finish "
                    "or choose another --out (a crashed or killed run does not hold the folder)"
                ) from None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:  # the previous holder removed the file between our open and flock: try again
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            os.write(fd, f"lslib run: pid {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode())
            self.fd = fd
            return
        raise OutputInUseError(f"could not lock {self.path}: other runs keep replacing it; choose another --out")

    def _ours(self) -> bool:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return True
        return text == "" or text.startswith("lslib run:")

    def _holder(self) -> str:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            text = ""
        return text.removeprefix("lslib run: ") or "a running process"

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            try:
                if os.path.samestat(os.fstat(self.fd), os.stat(self.path)):
                    self.path.unlink()
            except FileNotFoundError:
                pass
        finally:
            os.close(self.fd)  # releases the flock
            self.fd = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# --- the block store -----------------------------------------------------------------------------------------------

_BlockRect = tuple[int, tuple[int, int], tuple[int, int]]  # (block index, (row0, row1), (col0, col1))



class PartialWriter:
    """Finished blocks as files of their own in ``out/.lslib-partial/``; the COGs are built from them at the end.

    Each block is two small tiled GTiffs (``b{index:06d}.class.tif`` uint8 and ``.conf.tif`` float32),
    written under a temporary name, read back and compared, flushed to disk and renamed: once
    :meth:`write_block` returns, the block is durable and no later write touches it. A block without
    a valid pixel has no file (it is nodata in the COGs).
    """

    def __init__(
        self,
        out: Path,
        *,
        height: int,
        width: int,
        crs: CRS | None,
        transform: Affine,
        colours: Sequence[str],
        tags: Mapping[str, str],
    ) -> None:
        self.out = out
        self.dir = out / PARTIAL_DIR
        self.paths = {CLASS_MAP: self.dir / "class.vrt", CONFIDENCE: self.dir / "conf.vrt"}
        self.height, self.width = height, width
        self.crs, self.transform = crs, transform
        self.colours = list(colours)
        self.tags = dict(tags)

    def block_paths(self, index: int) -> tuple[Path, Path]:
        return self.dir / f"b{index:06d}.class.tif", self.dir / f"b{index:06d}.conf.tif"

    def create(self) -> None:
        """Start empty: the partial folder exists and holds no block (leftovers of another run are removed)."""
        _remove_partial_dir(self.out)
        self.dir.mkdir(parents=True, exist_ok=True)

    def exists(self) -> bool:
        return self.dir.is_dir()

    def has(self, index: int) -> bool:
        return all(p.is_file() for p in self.block_paths(index))

    def write_block(self, rows: tuple[int, int], cols: tuple[int, int], codes: np.ndarray, conf: np.ndarray,
                    *, index: int) -> None:  # fmt: skip
        """Write one block (both outputs) durably; a block with no valid pixel writes nothing."""
        if not (codes != NODATA_CODE).any():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        for path, data, nodata in zip(self.block_paths(index), (codes, conf), (NODATA_CODE, math.nan), strict=True):
            _write_block_file(path, data, nodata)
        fsync_path(self.dir)

    def read_block(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, confidence)`` of a block with data, from its files."""
        from rasterio.errors import NotGeoreferencedWarning

        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            for path in self.block_paths(index):
                with rasterio.open(path) as src:
                    out.append(src.read(1))
        return out[0], out[1]

    def finalise(self, blocks: Sequence[_BlockRect], tags: Mapping[str, str]) -> dict[str, Path]:
        """Build both COGs from the blocks with data (VRT mosaic), temporary names first, then rename both."""
        from rasterio.errors import NotGeoreferencedWarning
        from rasterio.shutil import copy as rio_copy

        all_tags = {**self.tags, **tags}
        self.dir.mkdir(parents=True, exist_ok=True)
        for key, dtype, nodata in ((CLASS_MAP, "Byte", NODATA_CODE), (CONFIDENCE, "Float32", math.nan)):
            self._write_vrt(self.paths[key], key, dtype, nodata, blocks, all_tags)
        finals = {key: self.out / key for key in (CONFIDENCE, CLASS_MAP)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with atomic_path(finals[CONFIDENCE], fsync=True) as conf_tmp, \
                    atomic_path(finals[CLASS_MAP], fsync=True) as class_tmp:  # fmt: skip
                for key, tmp, resampling in ((CONFIDENCE, conf_tmp, "average"), (CLASS_MAP, class_tmp, "nearest")):
                    rio_copy(
                        self.paths[key], tmp, driver="COG", compress="deflate", blocksize=512,
                        overview_resampling=resampling, predictor="yes" if key == CONFIDENCE else "no",
                        bigtiff="if_safer", sparse_ok=True,
                    )  # fmt: skip
                    _check_cog(tmp, colour=key == CLASS_MAP)
        return finals

    def _write_vrt(self, path: Path, key: str, dtype: str, nodata: float, blocks: Sequence[_BlockRect],
                   tags: Mapping[str, str]) -> None:  # fmt: skip
        root = ET.Element("VRTDataset", rasterXSize=str(self.width), rasterYSize=str(self.height))
        if self.crs is not None:
            ET.SubElement(root, "SRS", dataAxisToSRSAxisMapping="1,2").text = self.crs.to_wkt()
        if self.crs is not None or self.transform != Affine.identity():
            ET.SubElement(root, "GeoTransform").text = ", ".join(repr(float(v)) for v in self.transform.to_gdal())
        meta = ET.SubElement(root, "Metadata")
        for k in sorted(tags):
            ET.SubElement(meta, "MDI", key=k).text = tags[k]
        band = ET.SubElement(root, "VRTRasterBand", dataType=dtype, band="1")
        if key == CLASS_MAP:
            ET.SubElement(band, "Description").text = BAND_DESCRIPTION
        else:
            ET.SubElement(band, "Description").text = "fused score of the winning class"
        ET.SubElement(band, "NoDataValue").text = "nan" if math.isnan(nodata) else str(int(nodata))
        if key == CLASS_MAP:
            ET.SubElement(band, "ColorInterp").text = "Palette"
            table = ET.SubElement(band, "ColorTable")
            for _, rgba in sorted(colour_table(self.colours).items()):
                ET.SubElement(table, "Entry", c1=str(rgba[0]), c2=str(rgba[1]), c3=str(rgba[2]), c4=str(rgba[3]))
        which = 0 if key == CLASS_MAP else 1
        for index, (r0, r1), (c0, c1) in blocks:
            src = ET.SubElement(band, "SimpleSource")
            ET.SubElement(src, "SourceFilename", relativeToVRT="1").text = self.block_paths(index)[which].name
            ET.SubElement(src, "SourceBand").text = "1"
            xs, ys = str(c1 - c0), str(r1 - r0)
            ET.SubElement(src, "SrcRect", xOff="0", yOff="0", xSize=xs, ySize=ys)
            ET.SubElement(src, "DstRect", xOff=str(c0), yOff=str(r0), xSize=xs, ySize=ys)
        with atomic_path(path) as tmp:
            ET.ElementTree(root).write(tmp, encoding="utf-8")

    def remove(self) -> None:
        _remove_partial_dir(self.out)
        for name in LEGACY_PARTIAL:
            path = self.out / name
            if path.exists() and _lslib_tags(path) is not None:
                path.unlink()


def _write_block_file(path: Path, data: np.ndarray, nodata: float) -> None:
    """One block file: written under a temporary name, read back and compared, fsynced, renamed."""
    from rasterio.errors import NotGeoreferencedWarning, RasterioError

    h, w = data.shape
    tile = 256 if min(h, w) >= 256 else 16 * max(1, min(h, w) // 16)
    profile = {
        "driver": "GTiff", "width": w, "height": h, "count": 1, "dtype": data.dtype.name, "nodata": nodata,
        "tiled": True, "blockxsize": tile, "blockysize": tile, "compress": "deflate", "zlevel": 1,
    }  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with atomic_path(path, fsync=True) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                dst.write(data[None])
            try:  # what is on disk is what was computed: GDAL can report a failed flush on close as a warning only
                with rasterio.open(tmp) as src:
                    back = src.read(1)
            except (OSError, RasterioError, _CPLE) as exc:
                raise OSError(errno.EIO, f"{path.name} cannot be read back after writing it: the write failed") from exc
            if not np.array_equal(back, data, equal_nan=data.dtype.kind == "f"):
                raise OSError(errno.EIO, f"{path.name} reads back different data: the write failed")


def _check_cog(path: Path, *, colour: bool) -> None:
    with rasterio.open(path) as src:
        if colour:
            src.colormap(1)  # raises if the colour table was lost


# --- progress ------------------------------------------------------------------------------------------------------


class Progress:
    """``.progress.json``: the run's signature, the finished blocks and their valid pixels, replaced atomically.

    A block is added only after its files are durable (:meth:`PartialWriter.write_block`); the record is
    flushed to disk too. ``written``: sha256 of the prompt files lslib wrote (how it recognises them).
    """

    def __init__(self, out: Path, signature: str) -> None:
        self.path = out / PROGRESS
        self.signature = signature
        self.blocks: dict[int, int] = {}
        self.written: dict[str, str] = {}

    @property
    def done(self) -> set[int]:
        return set(self.blocks)

    @property
    def valid_pixels(self) -> int:
        return sum(self.blocks.values())

    def load(self, writer: PartialWriter | None = None) -> bool:
        """Adopt a previous record with the same signature and format; False when there is none or it differs.

        With ``writer``, a block recorded with valid pixels whose files are missing is dropped (recomputed).
        """
        doc = read_json(self.path)
        if doc is None or not is_lslib_progress(doc) or doc.get("signature") != self.signature:
            return False
        if doc.get("format") != PROGRESS_FORMAT or not isinstance(doc.get("valid"), dict):
            return False
        valid = {int(k): int(v) for k, v in doc["valid"].items()}
        self.blocks = {int(b): valid.get(int(b), 0) for b in doc.get("done", [])}
        if writer is not None:
            self.blocks = {b: n for b, n in self.blocks.items() if n == 0 or writer.has(b)}
        self.written = {str(k): str(v) for k, v in (doc.get("written") or {}).items()}
        return True

    def record(self, block: int, valid: int) -> None:
        self.blocks[int(block)] = int(valid)
        self.save()

    def save(self) -> None:
        doc = {"signature": self.signature, "format": PROGRESS_FORMAT, "done": sorted(self.blocks),
               "valid": {str(b): n for b, n in sorted(self.blocks.items())}, "valid_pixels": self.valid_pixels,
               "written": self.written}  # fmt: skip
        write_text(self.path, json.dumps(doc), fsync=True)


def write_sidecar(out: Path, doc: Mapping[str, Any]) -> Path:
    """Write ``map.json`` atomically and durably (the completion marker)."""
    return write_text(out / SIDECAR, json.dumps(doc, indent=1, default=str), fsync=True)
