"""The LAS chip store: one Zarr group per chip, written atomically, plus a GeoParquet index.

Layout of a build folder::

    <root>/<subset>/points.parquet          sampled points (lslib.data.sampling)
    <root>/<subset>/chips/<point_id>.zarr   one chip: image (band, y, x) + label (y, x) + metadata
    <root>/<subset>/rejected/<point_id>.json  a point whose chip failed a quality filter (final)
    <root>/<subset>/failed/<point_id>.json    an error (network, corrupt file): retried on the next run
    <root>/index.parquet, report.*          derived: rebuilt from the chips by ``lslib las report``

A chip is an ``xarray.Dataset`` with ``image`` (float32, NaN = nodata; coords ``band``, ``wavelength``
in µm), ``label`` (integer product codes, ``label.attrs["nodata"]``), the CRS in ``spatial_ref``
(rioxarray), and attrs: subset, point_id, lon/lat, gsd, taxonomy, the class table (JSON), source item
ids and dates, licence, attribution, quality fractions. Training reads it with xarray/zarr; GIS users
open it with GDAL's Zarr driver or ``xarray.open_zarr``.

A chip folder appears under its final name only once complete (written to a hidden temporary
folder, then renamed), so a killed build never leaves a half-written chip behind.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from lslib.atomic import write_text

CHIPS, REJECTED, FAILED = "chips", "rejected", "failed"


@dataclass(frozen=True)
class Chip:
    """A chip read back from the store: georeferenced image and label plus metadata."""

    image: xr.DataArray  # (band, y, x) float32, CRS via rioxarray
    label: xr.DataArray  # (y, x) integer codes, rio.nodata set
    meta: dict[str, Any]

    @property
    def classes(self) -> dict[int, str]:
        """``{code: name}`` of the chip's taxonomy (all classes, not only those present)."""
        return {int(k): v["name"] for k, v in self.meta["classes"].items()}


def chip_path(root: Path, subset: str, point_id: str) -> Path:
    return Path(root) / subset / CHIPS / f"{point_id}.zarr"


def record_path(root: Path, subset: str, point_id: str, kind: str) -> Path:
    return Path(root) / subset / kind / f"{point_id}.json"


def point_status(root: Path, subset: str, point_id: str) -> str | None:
    """``"written"``, ``"rejected"`` (both final) or None (to do: new, or failed before)."""
    if chip_path(root, subset, point_id).is_dir():
        return "written"
    if record_path(root, subset, point_id, REJECTED).is_file():
        return "rejected"
    return None


def clean_partial(root: Path, subset: str) -> int:
    """Remove temporary chip folders left by a killed build; returns how many were removed."""
    folder = Path(root) / subset / CHIPS
    removed = 0
    if folder.is_dir():
        for tmp in folder.glob(".*.tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)
            removed += 1
    return removed


def write_chip(ds: xr.Dataset, path: Path) -> Path:
    """Write a chip dataset to ``path`` (a ``.zarr`` folder) atomically.

    Raises:
        FileExistsError: ``path`` exists already (chips are never overwritten in place).
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"chip {path} exists already; delete it to rebuild it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        ds.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)  # v2: GDAL, QGIS and all zarr versions read it
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def write_record(root: Path, subset: str, point_id: str, kind: str, record: dict[str, Any]) -> Path:
    """Atomically write a rejected/failed record (JSON); a rejected record replaces a failed one."""
    path = record_path(root, subset, point_id, kind)
    write_text(path, json.dumps(record, indent=1, sort_keys=True, default=_json_default))
    if kind == REJECTED:
        record_path(root, subset, point_id, FAILED).unlink(missing_ok=True)
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_chip(path: Path) -> Chip:
    """Read a chip written by :func:`write_chip` into memory, with its CRS restored."""
    import rioxarray  # noqa: F401  (registers .rio)

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no chip at {path}")
    with xr.open_zarr(path, consolidated=True, decode_coords="all") as ds:
        ds = ds.load()
    meta = {k: (json.loads(v) if k in ("classes", "class_counts") else v) for k, v in ds.attrs.items()}
    crs = ds.rio.crs
    if crs is None:
        raise ValueError(f"chip {path} has no CRS (spatial_ref); it was not written by lslib.data.chips")
    image = ds["image"].rio.write_crs(crs).rio.write_nodata(np.nan, encoded=False)
    label = ds["label"].rio.write_crs(crs).rio.write_nodata(int(ds["label"].attrs["nodata"]), encoded=False)
    return Chip(image=image, label=label, meta=meta)


def list_chips(root: Path, subset: str | None = None) -> list[Path]:
    """Chip folders under a build root, sorted (one subset or all)."""
    root = Path(root)
    pattern = f"{subset}/{CHIPS}/*.zarr" if subset else f"*/{CHIPS}/*.zarr"
    return sorted(p for p in root.glob(pattern) if p.is_dir() and not p.name.startswith("."))


def list_records(root: Path, kind: str, subset: str | None = None) -> list[dict[str, Any]]:
    """All rejected or failed records (with ``subset`` and ``point_id`` added)."""
    root = Path(root)
    pattern = f"{subset}/{kind}/*.json" if subset else f"*/{kind}/*.json"
    out = []
    for p in sorted(root.glob(pattern)):
        rec = json.loads(p.read_text(encoding="utf-8"))
        rec.setdefault("subset", p.parent.parent.name)
        rec.setdefault("point_id", p.stem)
        out.append(rec)
    return out
