"""Atomic file writes: write to a temporary file in the target folder, then rename over the target.

A crash or a kill never leaves a half-written file under the final name. The file gets the usual
permissions of a new file (``0o666`` minus the umask, e.g. 0644), not ``tempfile.mkstemp``'s 0600, so
others sharing a folder can read it. ``fsync=True`` also flushes the data and the rename to disk before
returning (the file survives a power cut once the call returns).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux: /proc/self/status)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # os.umask can only be read by setting it: restore at once
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def default_mode() -> int:
    """Permissions of a new file as ``open()`` would create it: ``0o666 & ~umask``."""
    return 0o666 & ~current_umask()


def fsync_path(path: str | Path) -> None:
    """Flush a file's data (or a folder's entries) to disk; silently skipped where the OS refuses."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path, *, fsync: bool = False, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``.

    The temporary file keeps the target's suffix so that writers choosing a format from the
    extension (GDAL, matplotlib) behave. On an exception the temporary file is removed and the
    previous ``path`` (if any) is left untouched. Before the rename the file gets ``mode``
    (default ``0o666 & ~umask``); with ``fsync`` its data, then the folder's entry, are flushed to disk.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=f".part{target.suffix}")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, default_mode() if mode is None else mode)
            if fsync:
                fsync_path(tmp_path)
        os.replace(tmp_path, target)
        if fsync:
            fsync_path(target.parent)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(path: str | Path, text: str, *, fsync: bool = False) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | Path, data: bytes, *, fsync: bool = False) -> Path:
    """Atomically write ``data`` to ``path``."""
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)
    return Path(path)
