"""The ``rustac serve`` process behind :func:`lslib.data.local_stac.catalog.serve_local`.

``rustac`` (PyPI package ``rustac``) is a STAC toolbox whose CLI serves collection and item JSON
files as an in-memory STAC API. :func:`serve_local` starts it on loopback, waits until
``GET /collections`` lists every collection, and returns a :class:`LocalStacServer` that stops it.

A server never outlives the Python process that started it, however that process ends:

* on Linux the child gets a parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGTERM)``), so the kernel ends it
  even when its parent is killed with SIGKILL (set when the server is started from the main thread: the signal
  follows the thread that started the child);
* it runs in its own process group (POSIX), which :meth:`LocalStacServer.stop` ends as a whole, and a Ctrl-C in
  the terminal reaches only Python, which stops it in ``finally``/``__exit__``;
* every started server is also stopped at interpreter exit (``atexit``), and where no parent-death signal exists
  (macOS) a SIGTERM handler stops them before the process ends (installed only if SIGTERM had the default action).

A later run never trips over a server left behind (e.g. by an older lslib): without ``port`` a free port is
picked, a requested port that is taken is refused naming its holder, and a server only counts as ready when
the listening socket is its own.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

__all__ = ["Catalog", "LocalStacServer", "PortInUseError", "serve_local"]

#: ``{collection id: (collection JSON path, items JSON path)}`` as written by ``build_local_catalog``.
Catalog = dict[str, tuple[Path, Path]]

#: Servers started and not yet stopped (strong references: stopped at interpreter exit even if dropped).
_LIVE: set[LocalStacServer] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


def _rustac_executable() -> str:
    """``rustac`` next to the running Python (the venv's bin/) first, then on PATH."""
    here = Path(sys.executable).parent
    for name in ("rustac", "rustac.exe"):
        if (here / name).is_file() and os.access(here / name, os.X_OK):
            return str(here / name)
    found = shutil.which("rustac")
    if found:
        return found
    raise FileNotFoundError(
        f"the `rustac` command is not installed (looked in {here} and on PATH). It serves the local STAC "
        "API: `pip install rustac` (PyPI package 'rustac') in this environment."
    )


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class PortInUseError(RuntimeError, OSError):
    """The requested port is taken (by a server left behind by an earlier run, or another program)."""


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _pdeathsig_setter() -> Any:
    """``libc.prctl`` (resolved in the parent: the child must not load libraries before exec), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _child_setup(prctl: Any, parent: int) -> Any:
    """``preexec_fn`` for the server: SIGTERM when the parent dies; if it died already, end at once."""

    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl: nobody would stop this server
            os.kill(os.getpid(), signal.SIGKILL)

    return setup


def _popen_options() -> dict[str, Any]:
    """How to start a server so that it dies with this process (see the module docstring)."""
    if os.name != "posix":
        return {}
    options: dict[str, Any] = {"start_new_session": True}
    prctl = _pdeathsig_setter()
    if prctl is not None and threading.current_thread() is threading.main_thread():
        options["preexec_fn"] = _child_setup(prctl, os.getpid())
    else:
        _install_sigterm_handler()
    return options


def _install_sigterm_handler() -> None:
    """Stop the servers on SIGTERM where the kernel can't (no parent-death signal); only over the default action."""
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
        # else: SIGTERM is handled already (or it is ours): that handler decides; atexit still stops the servers
    except (ValueError, OSError):  # not the main interpreter
        return


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # end as SIGTERM would have (exit status and all)


def _port_holder(port: int) -> tuple[int, str] | None:
    """``(pid, command line)`` of the process listening on ``port``, as far as this user may see; None if unknown."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        pids = [
            c.pid
            for c in psutil.net_connections(kind="tcp")
            if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN and c.pid
        ]
        if not pids:
            return None
        return min(pids), " ".join(psutil.Process(min(pids)).cmdline())[:200]
    except (psutil.Error, OSError):
        return None


def _check_port_free(host: str, port: int) -> None:
    """Raise PortInUseError if something already accepts connections on ``host:port`` (naming it if it can)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        if s.connect_ex((host, port)) != 0:
            return
    holder = _port_holder(port)
    if holder and "rustac" in holder[1]:
        why = (
            f"by pid {holder[0]} ({holder[1]}), a loopback STAC server left behind by an earlier run: stop it "
            f"(kill {holder[0]})"
        )
    elif holder:
        why = f"by pid {holder[0]} ({holder[1]})"
    else:
        why = "by another program"
    raise PortInUseError(
        f"cannot start rustac serve on {host}:{port}: the port is in use {why}; or leave the port out to pick a "
        "free one"
    )


def _listens(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` (or a child of it) holds the listening socket on ``port`` (None: can't tell)."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        root = psutil.Process(pid)
        conns = []
        for proc in [root, *root.children(recursive=True)]:
            conns += proc.net_connections(kind="tcp") if hasattr(proc, "net_connections") else proc.connections("tcp")
    except (psutil.Error, OSError):
        return None
    return any(c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN for c in conns)


class LocalStacServer:
    """A running ``rustac serve`` process. Use as a context manager, or call :meth:`stop`.

    Attributes:
        url: API root, e.g. ``"http://127.0.0.1:54321"`` (no trailing slash).
        collections: the collection ids it serves.
    """

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        url: str,
        log: Path,
        collections: Sequence[str],
        *,
        own_group: bool = False,
    ) -> None:
        self._process = process
        self._own_group = own_group
        self.url = url
        self._log = log
        self.collections = tuple(collections)
        _LIVE.add(self)

    @property
    def pid(self) -> int:
        """Process id of the server."""
        return self._process.pid

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process.poll() is None

    def log_text(self) -> str:
        """What the server wrote to stdout/stderr so far (empty after :meth:`stop`)."""
        try:
            return self._log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def wait(self, timeout: float | None = None) -> int:
        """Block until the server ends (e.g. a foreground CLI server stopped by Ctrl-C); its exit code.

        Ctrl-C (KeyboardInterrupt) stops the server before re-raising.
        """
        try:
            return self._process.wait(timeout)
        except KeyboardInterrupt:
            self.stop()
            raise

    @property
    def port(self) -> int:
        """The TCP port it serves on."""
        return int(self.url.rsplit(":", 1)[1])

    def _signal(self, sig: int) -> None:
        if self._own_group:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, sig)  # its whole process group
        with contextlib.suppress(ProcessLookupError):
            self._process.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after ``timeout`` seconds); idempotent."""
        if self._process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL if os.name == "posix" else signal.SIGTERM)
                self._process.wait(timeout)
        self._log.unlink(missing_ok=True)
        _LIVE.discard(self)

    def __enter__(self) -> LocalStacServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"LocalStacServer(url={self.url!r}, pid={self.pid}, {state}, {len(self.collections)} collections)"


def _listed_collections(url: str) -> set[str]:
    with urllib.request.urlopen(f"{url}/collections", timeout=1) as resp:
        doc = json.loads(resp.read())
    return {str(c.get("id")) for c in doc.get("collections", [])}


def _catalog_files(catalog: Catalog | Path) -> Catalog:
    if isinstance(catalog, dict):
        return catalog
    folder = Path(catalog)
    found = {p.name.removesuffix(".collection.json"): p for p in sorted(folder.glob("*.collection.json"))}
    out = {cid: (p, folder / f"{cid}.items.json") for cid, p in found.items()}
    if not out:
        raise FileNotFoundError(f"no *.collection.json in {folder}; run build_local_catalog({str(folder)!r}) first")
    return out


def serve_local(
    catalog: Catalog | Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    timeout: float = 30,
) -> LocalStacServer:
    """Serve a catalog with ``rustac serve`` (in-memory backend) and wait until it answers.

    Args:
        catalog: the mapping returned by :func:`~lslib.data.local_stac.catalog.build_local_catalog`, or its folder.
        host: interface to bind (loopback by default).
        port: TCP port; None picks a free one.
        timeout: seconds to wait for ``GET /collections`` to list every collection.

    Returns:
        The running server; ``server.url`` is the API root for ``pystac_client.Client.open``.

    Raises:
        FileNotFoundError: ``rustac`` is not installed, or a catalog file is missing.
        RuntimeError: the server exited or did not list all collections within ``timeout``
            seconds (it is killed; the message holds its output).
    """
    files = _catalog_files(catalog)
    args: list[str] = []
    for cid, (col, items) in files.items():
        for p in (col, items):
            if not Path(p).is_file():
                raise FileNotFoundError(f"catalog file of {cid} missing: {p}; rebuild with build_local_catalog")
        args += [str(Path(col).absolute()), str(Path(items).absolute())]
    exe = _rustac_executable()
    if port is not None:
        _check_port_free(host, int(port))
    attempts = 3 if port is None else 1  # a picked free port can be taken before rustac binds it
    for attempt in range(attempts):
        server = _start(exe, host, _free_port(host) if port is None else int(port), args, list(files))
        try:
            return _await_ready(server, set(files), timeout)
        except _EarlyExit as exc:
            if attempt == attempts - 1 or "in use" not in str(exc).lower():
                raise RuntimeError(str(exc)) from None
    raise AssertionError("unreachable")


class _EarlyExit(RuntimeError):
    """The server process ended before it served the catalog."""


def _start(exe: str, host: str, port: int, args: Sequence[str], collections: Sequence[str]) -> LocalStacServer:
    fd, log_name = tempfile.mkstemp(prefix="lslib-rustac-", suffix=".log")
    options = _popen_options()
    with os.fdopen(fd, "wb") as log_file:
        process = subprocess.Popen(
            [exe, "serve", "--addr", f"{host}:{port}", *args],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            **options,
        )
    own_group = bool(options.get("start_new_session"))
    return LocalStacServer(process, f"http://{host}:{port}", Path(log_name), collections, own_group=own_group)


def _await_ready(server: LocalStacServer, wanted: set[str], timeout: float) -> LocalStacServer:
    """Poll ``GET /collections`` every 0.1 s until it lists ``wanted``; stop the server on failure."""
    deadline = time.monotonic() + timeout
    missing = set(wanted)
    while time.monotonic() < deadline:
        if not server.running:
            text = server.log_text()
            code = server.wait()
            server.stop()
            raise _EarlyExit(f"rustac serve exited with code {code} before serving {server.url}:\n{text}")
        try:
            missing = wanted - _listed_collections(server.url)
        except (urllib.error.URLError, OSError, ValueError):
            missing = set(wanted)
        if not missing:
            if server.running and _listens(server.pid, server.port) is not False:
                return server
            missing = set(wanted)  # another process answered on the port (it took it first): not ours
        time.sleep(0.1)
    text = server.log_text()
    server.stop()
    raise RuntimeError(
        f"rustac serve at {server.url} did not list collections {sorted(missing)} within {timeout} s; "
        f"its output:\n{text}"
    )
