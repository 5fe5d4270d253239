"""``lslib las check``: before a long online build, sign and load one item per collection of a recipe.

Reports what the API really serves (bands, data type, CRS, resolution, nodata, scale/offset) next
to what the recipe expects, so a missing account key, a renamed asset or a wrong scale shows up in
seconds instead of as thousands of rejected points.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lslib.data.fetch import is_offline
from lslib.data.las.cut import load_bands
from lslib.data.las.recipes import Recipe
from lslib.data.las.search import check_stac, first_item, item_window

#: Hosts of the loopback STAC API (allowed offline).
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


class NeedsInternetError(RuntimeError):
    """An online recipe was checked while lslib is offline."""


def _is_loopback(url: str) -> bool:
    from urllib.parse import urlparse

    return (urlparse(url).hostname or "") in {h.strip("[]") for h in LOOPBACK}


def _band_report(item: Any, band: str, da: Any) -> dict[str, Any]:
    asset = item.assets[band.split(".")[0]]
    raster = asset.extra_fields.get("raster:bands") or []
    index = int(band.split(".")[1]) - 1 if "." in band else 0
    meta = raster[index] if index < len(raster) else {}
    values = np.asarray(da.values)
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    return {
        "band": band,
        "dtype": str(values.dtype),
        "nodata": da.attrs.get("nodata"),
        "scale": meta.get("scale"),
        "offset": meta.get("offset"),
        "min": float(finite.min()) if finite.size else None,
        "max": float(finite.max()) if finite.size else None,
    }


def _check_collection(
    recipe: Recipe, url: str, collection: str, bands: list[str], query: dict[str, Any], size: int
) -> dict[str, Any]:
    item = first_item(url, recipe.sign, collection, query)
    if item is None:
        return {"collection": collection, "item": None, "error": f"no item of {collection} matches {query or 'any'}"}
    geobox = item_window(item, bands[0], size)
    out: dict[str, Any] = {
        "collection": collection,
        "item": item.id,
        "crs": str(geobox.crs),
        "resolution": abs(float(geobox.affine.a)),
    }
    try:
        ds = load_bands(item, bands, geobox, "nearest", recipe.image.dtype if collection == recipe.image.collection
                        else None)  # fmt: skip
    except Exception as exc:  # reported, not raised: the check lists every problem
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    out["bands"] = [_band_report(item, b, ds[b]) for b in bands]
    return out


def check_recipe(recipe: Recipe, url: str, *, size: int = 16) -> list[dict[str, Any]]:
    """Sign and load a ``size``-pixel window of one item per collection of ``recipe``; what was seen.

    Returns:
        One dict per collection: ``collection``, ``item``, ``crs``, ``resolution``, ``bands`` (each
        with ``dtype``, ``nodata``, ``scale``, ``offset``, ``min``, ``max``) or ``error``.

    Raises:
        NeedsInternetError: ``$LSLIB_OFFLINE`` is set and ``url`` is not a loopback API.
        StacUnreachableError, StacAccessError, ValueError: as :func:`~lslib.data.las.search.check_stac`.
    """
    if is_offline() and not _is_loopback(url):
        raise NeedsInternetError(
            f"checking {recipe.name} needs the internet ({url}); lslib is offline (LSLIB_OFFLINE is set). "
            "Run it where the STAC API is reachable, or pass --stac-url of a loopback API."
        )
    image = recipe.image
    plan = [(image.collection, list(image.bands.values()) + ([image.mask.band] if image.mask else []), image.query)]
    if not recipe.label.same_item:
        plan.append((recipe.label.collection, [recipe.label.band], recipe.label.query))
    check_stac(url, recipe.sign, [c for c, _, _ in plan])
    return [_check_collection(recipe, url, cid, bands, query, size) for cid, bands, query in plan]


def format_check(recipe: Recipe, report: list[dict[str, Any]]) -> str:
    """The check's report as text, with the recipe's expected scale/offset."""
    lines = [f"{recipe.name}: recipe scale {recipe.image.scale:g}, offset {recipe.image.offset:+g}"]
    for col in report:
        if col.get("item") is None or "bands" not in col:
            lines.append(f"  {col['collection']}: {col.get('item') or '-'}: ERROR {col['error']}")
            continue
        lines.append(f"  {col['collection']}: item {col['item']}, {col['crs']}, {col['resolution']:g} m")
        for b in col["bands"]:
            lines.append(
                f"    {b['band']:12s} {b['dtype']:8s} nodata {b['nodata']} scale {b['scale']} offset {b['offset']} "
                f"range [{b['min']}, {b['max']}]"
            )
    return "\n".join(lines)
