"""``out/.lslib.lock``: one lslib run writes into an output folder at a time.

The lock file is lslib's by its content (``lslib run: pid ... on host since ...``, or empty); a file under
that name that lslib did not write is never replaced: the run stops and says so.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from pathlib import Path

from lslib.inference.outputs.files import OutputInUseError
from lslib.inference.outputs.layout import LOCK


class OutputLock:
    """``out/.lslib.lock`` held with ``fcntl.flock``: one lslib run writes into a folder at a time.

    The OS releases the lock when its process dies, so a crashed or killed run never blocks the next
    one; the lock file says which process holds it. Released (and the file removed) by :meth:`release`.
    """

    def __init__(self, out: Path) -> None:
        """The lock of folder ``out`` (not taken yet: :meth:`acquire`)."""
        self.path = out / LOCK
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`OutputInUseError` (another run holds it) or :class:`FileExistsError`.

        :class:`FileExistsError`: a file lslib did not write holds the lock's name. Without ``flock`` (not a
        POSIX OS) the run goes unlocked.
        """
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
        """Remove the lock file (if it is still the one locked) and release the lock; nothing when not held."""
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
        """Take the lock (:meth:`acquire`)."""
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        """Release the lock (:meth:`release`)."""
        self.release()
