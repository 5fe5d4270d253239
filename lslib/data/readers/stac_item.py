"""One STAC item's bands as a raw ``(band, y, x)`` DataArray on the item's own pixel grid, with band metadata.

Used by :func:`lslib.data.images.open_image` (which turns the DN into physical values with the per-band
``raster:bands`` scale/offset) for ``lslib predict --image item.json`` and the map UI alike. Pixels are read
with odc-stac on the grid of the finest selected asset (``proj:shape``/``proj:transform``/``proj:code``), so
nothing is resnapped; multi-band assets give one band per ``eo:bands`` entry (odc name ``asset.N``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

from lslib.yaml_config import short, shorten

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


#: larger STAC item files are refused before parsing (a Sentinel-2 item is ~50 kB)
MAX_ITEM_BYTES = 20_000_000


def as_item(source: Any) -> Any:
    """A ``pystac.Item`` from an item, a dict or a JSON path.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a file or dict that is not a STAC item (not JSON, not UTF-8, a list, a FeatureCollection,
            missing or malformed ``id``/``properties``/``assets``/band fields); the message names the file.
    """
    import pystac

    if isinstance(source, str | Path):
        from lslib.data.readers.common import existing_path

        path = existing_path(source, "STAC item")
        doc = _read_item_json(path)
        _check_item_doc(doc, str(path))
        try:
            return pystac.Item.from_file(str(path))
        except Exception as exc:  # pystac's own errors (KeyError, AttributeError...) say nothing of the file
            raise ValueError(f"{path} is not a STAC item pystac can read: {shorten(repr(exc))}") from None
    if isinstance(source, Mapping):
        _check_item_doc(source, "the STAC item dict")
        try:
            return pystac.Item.from_dict(dict(source))
        except Exception as exc:
            raise ValueError(f"the STAC item dict is not a STAC item pystac can read: {shorten(repr(exc))}") from None
    return source


def _read_item_json(path: Path) -> Any:
    """The JSON of a STAC item file, or ValueError naming the file and what is wrong."""
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a STAC item JSON file")
    with path.open("rb") as f:
        raw = f.read(MAX_ITEM_BYTES + 1)
    if len(raw) > MAX_ITEM_BYTES:
        raise ValueError(f"{path} is too large for a STAC item (more than {MAX_ITEM_BYTES:,} bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}): STAC items are UTF-8 JSON"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}): a STAC item is the "
            "JSON of one Feature"
        ) from None
    except RecursionError:
        raise ValueError(f"{path}: the JSON is nested too deeply to be a STAC item") from None


def _check_item_doc(doc: Any, where: str) -> None:
    """Check the fields of a STAC item document that pystac and :func:`item_bands` rely on."""
    _check_is_feature(doc, where)
    _check_item_keys(doc, where)
    _check_assets(doc, where)


def _check_is_feature(doc: Any, where: str) -> None:
    """Raise ValueError unless ``doc`` is a JSON object of ``type`` ``Feature`` (says what it is instead)."""
    if not isinstance(doc, Mapping):
        raise ValueError(
            f"{where}: a STAC item is a JSON object (a GeoJSON Feature), not {type(doc).__name__} {short(doc, 80)}"
        )
    kind = doc.get("type")
    if kind == "FeatureCollection":
        n = len(doc["features"]) if isinstance(doc.get("features"), list) else "several"
        raise ValueError(f"{where} is a FeatureCollection of {n} features: save one item (one Feature) and give that")
    if kind != "Feature":
        raise ValueError(
            f"{where}: 'type' is {short(kind, 60)}, not 'Feature': this is not a STAC item (a collection or catalog "
            "describes many items: give one item's JSON)"
        )


def _check_item_keys(doc: Mapping[str, Any], where: str) -> None:
    """Raise ValueError for a missing or mistyped top-level key (``stac_version``, ``id``, ``links``, ...)."""
    missing = [k for k in ("stac_version", "id", "properties", "assets") if k not in doc]
    if missing:
        raise ValueError(f"{where}: the STAC item has no {', '.join(repr(k) for k in missing)}")
    if not isinstance(doc["stac_version"], str):
        raise ValueError(f"{where}: 'stac_version' must be text such as '1.0.0', got {short(doc['stac_version'])}")
    if not isinstance(doc["id"], str) or not doc["id"]:
        raise ValueError(f"{where}: 'id' must be non-empty text, got {short(doc['id'])}")
    if not isinstance(doc["properties"], Mapping):
        raise ValueError(f"{where}: 'properties' must be an object, got {short(doc['properties'])}")
    for key, kind_of in (("links", list), ("stac_extensions", list), ("bbox", list)):
        if doc.get(key) is not None and not isinstance(doc[key], kind_of):
            raise ValueError(f"{where}: {key!r} must be a list, got {short(doc[key])}")
    if not all(isinstance(link, Mapping) and isinstance(link.get("href"), str) for link in doc.get("links") or []):
        raise ValueError(f"{where}: every entry of 'links' must be an object with an 'href'")


def _check_assets(doc: Mapping[str, Any], where: str) -> None:
    """Check ``assets`` (an object of objects with an ``href``) and the band/projection fields of the item."""
    assets = doc["assets"]
    if not isinstance(assets, Mapping):
        raise ValueError(f"{where}: 'assets' must be an object of named assets, got {short(assets)}")
    _check_fields(doc["properties"], f"{where}: properties")
    for key, asset in assets.items():
        if not isinstance(asset, Mapping):
            raise ValueError(f"{where}: asset {short(key)} must be an object with an 'href', got {short(asset)}")
        if not isinstance(asset.get("href"), str) or not asset["href"]:
            raise ValueError(f"{where}: asset {short(key)} has no 'href' (the URL or path of its file)")
        _check_fields(asset, f"{where}: asset {short(key)}")


def _check_fields(fields: Mapping[str, Any], where: str) -> None:
    """The band and projection fields :func:`item_bands` / :func:`item_geobox` read, where present."""
    for key in ("eo:bands", "raster:bands"):
        _band_list(fields.get(key), f"{where} {key}")
    _shape(fields.get("proj:shape"), where)
    _transform(fields.get("proj:transform"), where)
    epsg = fields.get("proj:epsg")
    if epsg is not None and (isinstance(epsg, bool) or not isinstance(epsg, Integral)):
        raise ValueError(f"{where}: proj:epsg must be an integer EPSG code, got {short(epsg)}")
    code = fields.get("proj:code")
    if code is not None and not isinstance(code, str):
        raise ValueError(f"{where}: proj:code must be text such as 'EPSG:32633', got {short(code)}")


def _band_list(value: Any, what: str) -> list[Mapping[str, Any]]:
    """``eo:bands`` / ``raster:bands``: a list of objects whose numbers are numbers ([] when absent)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(b, Mapping) for b in value):
        raise ValueError(f"{what} must be a list of band objects, got {short(value)}")
    for i, band in enumerate(value):
        for key in ("center_wavelength", "scale", "offset", "nodata"):
            _number(band.get(key), f"{what}[{i}].{key}")
    return value


def _number(value: Any, what: str) -> float | None:
    """A STAC number (``"nan"``/``"inf"``/``"-inf"`` allowed, as in ``raster:bands`` nodata) or None."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in ("nan", "inf", "-inf", "+inf"):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{what} must be a number, got {short(value)}")
    return float(value)


def _shape(value: Any, where: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list | tuple) or len(value) != 2
        or not all(isinstance(v, Integral) and not isinstance(v, bool) and int(v) > 0 for v in value)
    ):  # fmt: skip
        raise ValueError(f"{where}: proj:shape must be [rows, columns] (two positive integers), got {short(value)}")
    return int(value[0]), int(value[1])


def _transform(value: Any, where: str) -> tuple[float, ...] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list | tuple) or len(value) not in (6, 9)
        or not all(isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    ):  # fmt: skip
        raise ValueError(f"{where}: proj:transform must be 6 (or 9) finite numbers, got {short(value)}")
    return tuple(float(v) for v in value[:6])


def _where(item: Any) -> str:
    """``STAC item <id> (<file>)`` for messages about an item."""
    href = None
    try:
        href = item.get_self_href()
    except Exception:  # an item-like object without links
        pass
    label = f"STAC item {short(getattr(item, 'id', None), 80)}"
    return f"{label} ({shorten(str(href), 200)})" if href else label


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def item_bands(item: Any, assets: Sequence[str] | None = None) -> list[ItemBand]:
    """The bands of ``assets`` of a STAC item, in that order.

    ``assets`` are asset keys, or ``eo:bands`` names/common names; default: every asset with
    ``eo:bands`` centre wavelengths.

    Raises:
        ValueError: a requested asset/band the item does not have, or no asset with wavelengths.
    """
    where = _where(item)
    keys: list[str] = []
    if assets:
        for want in assets:
            if want in item.assets:
                keys.append(want)
                continue
            match = [
                k for k, a in item.assets.items()
                if any(want.lower() in (str(b.get("name", "")).lower(), str(b.get("common_name", "")).lower())
                       for b in _band_list(a.extra_fields.get("eo:bands"), f"{where}: asset {short(k)} eo:bands"))
            ]  # fmt: skip
            if not match:
                raise ValueError(
                    f"{where} has no asset or band {short(want)}; its assets: {short(sorted(item.assets), 400)}"
                )
            keys.append(match[0])
    else:
        keys = [
            k for k, a in item.assets.items()
            if any("center_wavelength" in b
                   for b in _band_list(a.extra_fields.get("eo:bands"), f"{where}: asset {short(k)} eo:bands"))
        ]  # fmt: skip
    if not keys:
        raise ValueError(
            f"{where} has no asset with eo:bands wavelengths; name the assets to read "
            f"(--bands B04,B03,B02 / assets=[...]); its assets: {short(sorted(item.assets), 400)}"
        )
    out: list[ItemBand] = []
    for key in keys:
        asset = item.assets[key]
        eo = _band_list(asset.extra_fields.get("eo:bands"), f"{where}: asset {short(key)} eo:bands")
        raster = _band_list(asset.extra_fields.get("raster:bands"), f"{where}: asset {short(key)} raster:bands")
        n = max(len(eo), len(raster), 1)
        for i in range(n):
            entry = eo[i] if i < len(eo) else {}
            rb = raster[i] if i < len(raster) else {}
            odc_name = key if n == 1 else f"{key}.{i + 1}"
            wave = _number(entry.get("center_wavelength"), f"{where}: asset {short(key)} center_wavelength")
            name = str(entry.get("name") or entry.get("common_name") or odc_name)
            out.append(
                ItemBand(
                    odc_name, name, math.nan if wave is None else wave,
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

    where = _where(item)
    best = None
    for key in keys:
        props = {**item.properties, **item.assets[key].extra_fields}
        _check_fields(props, f"{where}: asset {short(key)}")
        code = props.get("proj:code") or (f"EPSG:{props['proj:epsg']}" if props.get("proj:epsg") else None)
        shape, transform = _shape(props.get("proj:shape"), where), _transform(props.get("proj:transform"), where)
        if code is None or transform is None or shape is None:
            continue
        a = Affine(*transform)
        if best is None or abs(a.a) < abs(best[1].a):
            try:
                crs = CRS(code)
            except Exception as exc:  # pyproj / odc errors quote the code at length
                raise ValueError(
                    f"{where}: asset {short(key)}: {short(code)} is not a CRS ({shorten(str(exc))})"
                ) from None
            best = (shape, a, crs)
    if best is None:
        raise ValueError(f"{where} has no proj:shape/proj:transform/proj:code: cannot place its pixels")
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
        raise ValueError(f"bbox {short(bbox)} does not overlap {where}")
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
