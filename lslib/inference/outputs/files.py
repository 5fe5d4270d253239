"""Writing into an output folder: its errors (disk full: what to do), JSON records, hashes, permissions, flushes.

Nothing here knows which file is which (:mod:`lslib.inference.outputs.layout`) or whose it is
(:mod:`lslib.inference.outputs.ownership`): these are the small tools every writer of the folder uses.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lslib.atomic import default_mode, fsync_path

try:
    from rasterio._err import CPLE_BaseError as GdalError  # GDAL errors rasterio raises as they are
except ImportError:  # pragma: no cover - rasterio without its private error module
    GdalError = OSError

__all__ = [
    "GdalError",
    "OutputInUseError",
    "OutputWriteError",
    "disk_full_message",
    "fsync_dir",
    "make_readable",
    "read_json",
    "read_json_text",
    "writing",
]


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
    except (OSError, RasterioError, GdalError) as exc:  # GDAL's own write errors (rasterio.shutil.copy) are CPLE_*
        raise OutputWriteError(disk_full_message(out, exc if isinstance(exc, OSError) else OSError(str(exc)))) from exc


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


def read_json_text(text: str | None) -> dict[str, Any] | None:
    """A JSON object given as text (e.g. a GeoTIFF tag), or None when missing, malformed or not an object."""
    try:
        doc = json.loads(text or "")
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (renames) to disk where the OS allows it."""
    fsync_path(path)
