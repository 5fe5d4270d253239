"""One STAC item's bands as a raw ``(band, y, x)`` DataArray on the item's own pixel grid, with band metadata.

Used by :func:`lslib.data.images.open_image` (which turns the DN into physical values with the per-band
``raster:bands`` scale/offset) for ``lslib predict --image item.json`` and the map UI alike. Pixels are read
with odc-stac on the grid of the finest selected asset (``proj:shape``/``proj:transform``/``proj:code``), so
nothing is resnapped; multi-band assets give one band per ``eo:bands`` entry (odc name ``asset.N``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

__all__ = ["ItemBand", "as_item", "is_stac_item", "item_bands", "item_geobox", "load_item"]


@dataclass(frozen=True)
class ItemBand:
    """One band of a STAC item.

    Attributes:
        odc_name: odc-stac band name (the asset key, or ``"asset.N"`` for band N of a multi-band asset).
        name: band name (``eo:bands`` name, else common name, else the odc name).
        wavelength_um: ``eo:bands`` centre wavelength (µm), NaN when absent.
        scale, offset, nodata: from ``raster:bands`` (None when absent).
    """

    odc_name: str
    name: str
    wavelength_um: float
    scale: float | None
    offset: float | None
    nodata: float | None


def is_stac_item(source: Any) -> bool:
    """True for a ``pystac.Item``, a STAC Feature dict, or a path/str ending in ``.json``."""
    if type(source).__name__ == "Item" and hasattr(source, "assets"):
        return True
    if isinstance(source, Mapping) and source.get("type") == "Feature" and "assets" in source:
        return True
    return isinstance(source, str | Path) and str(source).lower().endswith(".json")


def as_item(source: Any) -> Any:
    """A ``pystac.Item`` from an item, a dict or a JSON path."""
    import pystac

    if isinstance(source, str | Path):
        from lslib.data.readers_common import existing_path

        return pystac.Item.from_file(str(existing_path(source, "STAC item")))
    if isinstance(source, Mapping):
        return pystac.Item.from_dict(dict(source))
    return source


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def item_bands(item: Any, assets: Sequence[str] | None = None) -> list[ItemBand]:
    """The bands of ``assets`` (asset keys, or ``eo:bands`` names/common names; default: every asset with
    ``eo:bands`` centre wavelengths), in that order.

    Raises:
        ValueError: a requested asset/band the item does not have, or no asset with wavelengths.
    """
    keys: list[str] = []
    if assets:
        for want in assets:
            if want in item.assets:
                keys.append(want)
                continue
            match = [
                k for k, a in item.assets.items()
                if any(want.lower() in (str(b.get("name", "")).lower(), str(b.get("common_name", "")).lower())
                       for b in a.extra_fields.get("eo:bands", []))
            ]  # fmt: skip
            if not match:
                raise ValueError(
                    f"STAC item {item.id} has no asset or band {want!r}; its assets: {sorted(item.assets)}"
                )
            keys.append(match[0])
    else:
        keys = [
            k for k, a in item.assets.items()
            if any("center_wavelength" in b for b in a.extra_fields.get("eo:bands", []))
        ]  # fmt: skip
    if not keys:
        raise ValueError(
            f"STAC item {item.id} has no asset with eo:bands wavelengths; name the assets to read "
            f"(--bands B04,B03,B02 / assets=[...]); its assets: {sorted(item.assets)}"
        )
    out: list[ItemBand] = []
    for key in keys:
        asset = item.assets[key]
        eo = asset.extra_fields.get("eo:bands") or []
        raster = asset.extra_fields.get("raster:bands") or []
        n = max(len(eo), len(raster), 1)
        for i in range(n):
            entry = eo[i] if i < len(eo) else {}
            rb = raster[i] if i < len(raster) else {}
            odc_name = key if n == 1 else f"{key}.{i + 1}"
            wave = entry.get("center_wavelength")
            name = str(entry.get("name") or entry.get("common_name") or odc_name)
            out.append(
                ItemBand(
                    odc_name, name, math.nan if wave is None else float(wave),
                    _float(rb.get("scale")), _float(rb.get("offset")), _float(rb.get("nodata")),
                )
            )  # fmt: skip
    return out


def item_geobox(item: Any, keys: Sequence[str], bbox: tuple[float, float, float, float] | None = None) -> Any:
    """The odc GeoBox of the finest asset among ``keys``, cropped to ``bbox`` (degrees W, S, E, N) if given.

    Raises:
        ValueError: no ``proj:shape``/``proj:transform``/``proj:code`` on the assets, or ``bbox`` misses the item.
    """
    from affine import Affine
    from odc.geo import CRS
    from odc.geo.geobox import GeoBox

    best = None
    for key in keys:
        props = {**item.properties, **item.assets[key].extra_fields}
        code = props.get("proj:code") or (f"EPSG:{props['proj:epsg']}" if props.get("proj:epsg") else None)
        if code is None or props.get("proj:transform") is None or props.get("proj:shape") is None:
            continue
        a = Affine(*props["proj:transform"][:6])
        if best is None or abs(a.a) < abs(best[1].a):
            best = (tuple(props["proj:shape"]), a, CRS(code))
    if best is None:
        raise ValueError(f"STAC item {item.id} has no proj:shape/proj:transform/proj:code: cannot place its pixels")
    geobox = GeoBox(best[0], best[1], best[2])
    if bbox is None:
        return geobox
    from pyproj import Transformer

    west, south, east, north = bbox
    xs, ys = Transformer.from_crs("EPSG:4326", best[2].to_wkt(), always_xy=True).transform(
        [west, east, west, east], [south, south, north, north]
    )
    inv = ~geobox.affine
    cols, rows = zip(*(inv * (x, y) for x, y in zip(xs, ys, strict=True)), strict=True)
    r0, r1 = max(0, math.floor(min(rows))), min(geobox.shape[0], math.ceil(max(rows)))
    c0, c1 = max(0, math.floor(min(cols))), min(geobox.shape[1], math.ceil(max(cols)))
    if r0 >= r1 or c0 >= c1:
        raise ValueError(f"bbox {bbox} does not overlap STAC item {item.id}")
    return geobox[r0:r1, c0:c1]


def load_item(
    item: Any,
    *,
    assets: Sequence[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    chunks: int | None = None,
) -> tuple[xr.DataArray, list[ItemBand]]:
    """``(raw (band, y, x) DataArray of DN with a CRS, its bands)``; lazy (dask) when ``chunks`` is given.

    The band coordinate holds the odc names; nothing is scaled or masked here.
    """
    import odc.stac

    bands = item_bands(item, assets)
    geobox = item_geobox(item, sorted({b.odc_name.split(".")[0] for b in bands}), bbox)
    dask_chunks: dict[str, int | Literal["auto"]] | None = None if chunks is None else {"x": chunks, "y": chunks}
    ds = odc.stac.load(
        [item], bands=[b.odc_name for b in bands], geobox=geobox, resampling="nearest", chunks=dask_chunks,
        fail_on_error=True,
    )  # fmt: skip
    if "time" in ds.dims:
        ds = ds.isel(time=0)
    layers = [ds[b.odc_name] for b in bands]
    bands = [
        b if b.nodata is not None else replace(b, nodata=_float(v.attrs.get("nodata")))
        for b, v in zip(bands, layers, strict=True)
    ]
    dtype = np.result_type(*[v.dtype for v in layers])
    da = xr.concat([v.astype(dtype) for v in layers], dim="band").assign_coords(band=[b.odc_name for b in bands])
    da = da.drop_vars([c for c in da.coords if c not in ("band", "y", "x", "spatial_ref")])
    da.attrs = {}
    da = da.rio.write_crs(str(geobox.crs))
    return da.transpose("band", "y", "x"), bands
