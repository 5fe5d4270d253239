"""Which files of an output folder are lslib's: it deletes or replaces only those, never an input of the run.

A file is lslib's when lslib can prove it wrote it: a GeoTIFF with ``LSLIB_*`` tags, a ``map.json`` with
lslib's signature and version, a file whose sha256 a record lists as written by lslib, a progress record with
a signature, block files inside ``.lslib-partial/``, the temporaries of its atomic writes. Anything else under
those names is *foreign*. :func:`inspect_out` takes the inventory, :func:`remove_ours` and
:func:`clean_stale` remove only what it proves to be lslib's.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rasterio

from lslib.data.fetch import sha256sum
from lslib.inference.outputs.files import read_json, read_json_text
from lslib.inference.outputs.layout import (
    CLASS_MAP,
    CONFIDENCE,
    LEGACY_PARTIAL,
    PARTIAL_DIR,
    PARTIAL_FILE,
    PROGRESS,
    PROMPTS,
    PROMPTS_ALT,
    SIDECAR,
    TEMP_TARGETS,
)


def lslib_tags(path: Path) -> dict[str, str] | None:
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


def is_recorded(path: Path, written: Mapping[str, Any]) -> bool:
    """A file lslib wrote and has not changed since: ``written`` (name -> sha256) lists its current sha256."""
    recorded = written.get(path.name)
    return isinstance(recorded, str) and path.is_file() and sha256sum(path) == recorded


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
        """Whether the folder holds any file of lslib's (a map, a run, their leftovers)."""
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
    inputs = [q for q in (Path(p) for p in protect) if q.exists() and q.resolve().parent == here]
    _inspect_records(out, inv, inputs)
    cog_signature = _inspect_rasters(out, inv, inputs)
    _inspect_prompts(out, inv, inputs)
    part = out / PARTIAL_DIR
    if part.is_dir():
        inv.ours.extend(p for p in part.iterdir() if PARTIAL_FILE.match(p.name))
    inv.ours.extend(p for p in out.iterdir() if _stale_temp(p.name, TEMP_TARGETS))
    inv.signature = (inv.sidecar or {}).get("signature") or (inv.progress or {}).get("signature") or cog_signature
    maps = [n for n in (CLASS_MAP, CONFIDENCE) if (out / n).exists() and n not in inv.foreign]
    inv.complete = bool(inv.sidecar) and len(maps) == 2
    return inv


def _guarded(inv: OutInventory, path: Path, inputs: Sequence[Path]) -> bool:
    """Whether ``path`` is an input of the run (then listed in ``inv.inputs``): never lslib's to touch."""
    if any(_same_file(path, p) for p in inputs):
        inv.inputs.append(path.name)
        return True
    return False


def _inspect_records(out: Path, inv: OutInventory, inputs: Sequence[Path]) -> None:
    """The sidecar and the progress record: lslib's (kept in ``inv``) or foreign."""
    sidecar = read_json(out / SIDECAR)
    if (out / SIDECAR).exists():
        if is_lslib_sidecar(sidecar):
            inv.sidecar = sidecar
            if not _guarded(inv, out / SIDECAR, inputs):
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


def _inspect_rasters(out: Path, inv: OutInventory, inputs: Sequence[Path]) -> str | None:
    """The COGs and legacy partial files: lslib's by their tags, or foreign; returns the COGs' run signature."""
    cog_signature = None
    for name in (CLASS_MAP, CONFIDENCE, *LEGACY_PARTIAL):
        path = out / name
        if not path.exists():
            continue
        tags = lslib_tags(path)
        if tags is None:
            inv.foreign.append(name)
            continue
        if name in (CLASS_MAP, CONFIDENCE) and cog_signature is None:
            cog_signature = (read_json_text(tags.get("LSLIB_SIDECAR")) or {}).get("signature")
        if not _guarded(inv, path, inputs):
            inv.ours.append(path)
    return cog_signature


def _inspect_prompts(out: Path, inv: OutInventory, inputs: Sequence[Path]) -> None:
    """The prompt files: lslib's when a record lists their sha256; sets where lslib's copy may go."""
    written: dict[str, str] = {}
    for doc in (inv.progress, inv.sidecar):
        if doc and isinstance(doc.get("written"), dict):
            written.update({str(k): str(v) for k, v in doc["written"].items()})
    free = []
    for yaml_name in (PROMPTS, PROMPTS_ALT):
        taken = False
        for name in (yaml_name, str(Path(yaml_name).with_suffix(".safetensors"))):
            path = out / name
            if not path.exists():
                continue
            if is_recorded(path, written) and not _guarded(inv, path, inputs):
                inv.ours.append(path)
            else:
                taken = True
                if name not in inv.inputs:
                    inv.foreign.append(name)
        if not taken:
            free.append(yaml_name)
    inv.prompts_name = free[0] if free else None


def clean_stale(out: Path) -> None:
    """Remove the temporaries a killed run left (atomic writes cut short); only lslib's own names."""
    for p in out.iterdir() if out.is_dir() else ():
        if _stale_temp(p.name, TEMP_TARGETS):
            p.unlink(missing_ok=True)
    part = out / PARTIAL_DIR
    for p in part.iterdir() if part.is_dir() else ():
        if p.name.startswith(".") and PARTIAL_FILE.match(p.name):
            p.unlink(missing_ok=True)


def remove_ours(out: Path, inv: OutInventory) -> None:
    """Delete the files ``inv`` lists as lslib's (never a foreign file or an input), and the partial folder."""
    for path in inv.ours:
        path.unlink(missing_ok=True)
    remove_partial_dir(out)


def remove_partial_dir(out: Path) -> None:
    """Remove lslib's files in ``out/.lslib-partial/``, then the folder unless something else lives there."""
    part = out / PARTIAL_DIR
    if not part.is_dir():
        return
    for p in part.iterdir():
        if PARTIAL_FILE.match(p.name):
            p.unlink(missing_ok=True)
    try:
        part.rmdir()
    except OSError:
        pass  # something else lives there: leave it
