"""The source image under a result: tiles of the file itself (with overviews, or small), else a preview PNG."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from lslib.mapui import render as R
from lslib.mapui.result_view.output import Bounds

#: an imagery file larger than this (px a side) without overviews is drawn as a preview overlay, not as tiles:
#: a tile server would decode the whole file for every zoomed-out tile
TILE_IMAGERY_MAX_SIDE = 4096


@dataclass
class Imagery:
    """The imagery to draw: a file served as tiles (``path``, band ``indexes``, DN stretch) or a preview PNG."""

    label: str
    path: Path | None = None  # tiles: the file and its band indexes (1-based) and DN stretch
    indexes: list[int] | None = None
    vmin: list[float] | None = None
    vmax: list[float] | None = None
    png: bytes | None = None  # overlay
    bounds: Bounds | None = None


def imagery_source(sidecar: dict[str, Any], imagery: Any, notes: list[str]) -> Any:
    """``imagery`` if given, else map.json's input when it exists here, else None (with a note why)."""
    if imagery is not None:
        return imagery
    described = str(sidecar.get("input") or "")
    if described and Path(described).exists():
        return described
    notes.append(
        f"imagery: map.json's input ({described or 'none'}) is not a file or folder here: pass imagery= (a path or "
        "a DataArray) to draw it"
    )
    return None


def stretch(img: xr.DataArray, bands: list[int]) -> tuple[list[float], list[float]]:
    """The 2-98 % percentiles of ``bands`` over pixels valid in all of them (raises if there is none)."""
    data = np.asarray(img.isel(band=bands).values, dtype=np.float64)
    valid = np.isfinite(data).all(0)
    if not valid.any():
        raise ValueError("the imagery has no valid pixel")
    lo, hi = np.percentile(data[:, valid], (2, 98), axis=1)
    return [float(v) for v in lo], [float(max(h, v + 1e-6)) for v, h in zip(lo, hi, strict=True)]


def load_imagery(source: Any, *, tiles: bool, max_side: int, bands: Any, sensor: str | None) -> Imagery:
    """The imagery as tiles (a single file with overviews, or small) or as a preview overlay."""
    import rasterio

    from lslib.data.images import image_header, open_image, open_preview
    from lslib.mapui.imagery import LAZY_CHUNK

    kw: dict[str, Any] = {"bands": bands, "sensor": sensor}
    with warnings.catch_warnings():  # radiometry assumptions: irrelevant to a display stretch
        warnings.simplefilter("ignore")
        if isinstance(source, xr.DataArray):
            img, header, label = source, None, "DataArray"
        else:
            path = Path(os.fsdecode(source)).expanduser()
            header = image_header(path)
            label = str(path)
            if header is None:  # a band folder, a STAC item: lazy, decimated by strides below
                img = open_image(path, chunks=LAZY_CHUNK, **kw)
            else:
                img = open_preview(header.path, max_side=max_side, **kw)
        if img.rio.crs is None:
            raise ValueError(f"the imagery {label} has no CRS, so it cannot be placed on the map")
        step = max(1, math.ceil(max(img.sizes["y"], img.sizes["x"]) / max_side))
        if step > 1:
            img = img.isel(y=slice(None, None, step), x=slice(None, None, step))
            img = img.rio.write_transform(img.rio.transform(recalc=True))
        img = img.compute() if img.chunks is not None else img
        rgb = R.rgb_bands(img)
        small = header is not None and max(header.height, header.width) <= TILE_IMAGERY_MAX_SIDE
        if tiles and header is not None and (header.overviews or small):
            with rasterio.open(header.path) as src:
                same_bands = src.count == img.sizes["band"]
            if same_bands:
                lo, hi = stretch(img, rgb)
                scale = float(img.attrs.get("scale") or 1.0)
                offset = float(img.attrs.get("offset") or 0.0)
                dn = [(v - offset) / scale for v in lo], [(v - offset) / scale for v in hi]
                return Imagery(label, path=header.path, indexes=[b + 1 for b in rgb], vmin=dn[0], vmax=dn[1])
        index = R.GridIndex.from_grid(img, max_side=max_side)
        return Imagery(label, png=R.png_bytes(index.take(R.rgb_rgba(img), fill=0)), bounds=index.bounds)
