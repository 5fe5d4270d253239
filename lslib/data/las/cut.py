"""LAS builder: cut image + weak-label chips at sampled points, from any STAC API, in parallel.

For each point of a subset (:mod:`lslib.data.las.recipes`):

1. search the imagery collection (pystac-client) for items covering the chip in the recipe's time
   window, keep those under the cloud limit, take the lowest-cloud one (ties: nearest to the window's
   middle, so near the label product's year);
2. load the chip with odc-stac on a grid snapped to the item's own pixel grid (``chip.crs: native``)
   or the point's UTM zone, convert DN to physical units, mask nodata and clouds (SCL classes or
   Landsat QA bits);
3. search the label product, load it onto the same grid (nearest, or mode for finer products), so a
   product on another grid (NLCD 2011 vs Landsat) is reprojected;
4. apply the quality filters, then write the chip atomically (:mod:`lslib.data.las.chips`) or a
   rejection record with its reason.

The same code runs against Planetary Computer or the loopback STAC API over the sample mirror.
Points already written or rejected are skipped, so a killed build resumes where it stopped and a
finished build does nothing. Chips are built in parallel with Dask (:func:`~lslib.data.las.build.build_las`).
"""

from __future__ import annotations

import hashlib
import math
import time
import traceback
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor, also in Dask workers)
import xarray as xr

from lslib.data.bands import band_info
from lslib.data.images import (
    SENSOR_RADIOMETRY,
    ImageInputError,
    check_plausible,
    dn_to_physical,
    s2_offset_from_properties,
)
from lslib.data.las.chips import FAILED, REJECTED, chip_path, write_chip, write_record
from lslib.data.las.recipes import Recipe
from lslib.data.las.search import (  # noqa: F401  (re-exported: the builder's public names)
    AssetReadError,
    Rejected,
    StacUnreachableError,
    check_stac,
    chip_geobox,
    declare_raster_bands,
    item_shape,
    search_items,
    wgs84_polygon,
)

# --- loading -----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _configure_gdal() -> None:
    """Configure GDAL once per process for reading chips.

    GDAL does not list a file's folder at open (sidecar search), and uses the
    cloud-friendly defaults of odc-stac for remote assets (no effect on local files).
    """
    import odc.stac

    odc.stac.configure_rio(cloud_defaults=True, GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR")


def load_bands(item: Any, bands: Sequence[str], geobox: Any, resampling: str, dtype: str | None = None) -> xr.Dataset:
    """Load odc-stac ``bands`` of one item onto ``geobox`` (first time step).

    Raises:
        Rejected: an asset is missing ("missing band").
        AssetReadError: a file cannot be read.
    """
    import odc.stac

    _configure_gdal()
    missing = [b for b in bands if b.split(".")[0] not in item.assets]
    if missing:
        raise Rejected("missing band", f"item {item.id} has no asset for {missing} (it has {sorted(item.assets)})")
    item = declare_raster_bands(item, [b.split(".")[0] for b in bands if "." in b], dtype)
    try:
        ds = odc.stac.load([item], bands=list(bands), geobox=geobox, resampling=resampling, chunks=None)
    except Exception as exc:  # odc-stac reports unreadable files as a bare AssertionError
        hrefs = sorted({item.assets[b.split(".")[0]].href for b in bands})
        raise AssetReadError(
            f"could not read {list(bands)} of item {item.id} from {hrefs}: the file is corrupt, truncated or "
            "unreachable (check the URL, your connection or `lslib data fetch`)"
        ) from exc
    return ds.isel(time=0)


def load_image(recipe: Recipe, item: Any, geobox: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image chip in physical units plus masks.

    Returns:
        (image (C, H, W) float32 with NaN nodata, nodata mask (H, W) bool, cloud mask (H, W) bool).
    """
    spec = recipe.image
    ds = load_bands(item, list(spec.bands.values()), geobox, spec.resampling, spec.dtype)
    baseline = s2_offset_from_properties(item.properties) if spec.s2_baseline_offset else None
    offset = spec.offset + (baseline or 0.0)
    layers, nodata = [], np.zeros(geobox.shape, dtype=bool)
    for stac_band in spec.bands.values():
        da = ds[stac_band]
        raw = da.values
        invalid = ~np.isfinite(raw) if raw.dtype.kind == "f" else np.zeros(raw.shape, dtype=bool)
        for nd in {spec.nodata, da.attrs.get("nodata")} - {None}:
            if not (isinstance(nd, float) and math.isnan(nd)):
                invalid |= raw == nd
        values = dn_to_physical(raw, spec.scale, offset)
        if spec.to_db:
            values = (10.0 * np.log10(np.clip(values, 1e-6, None))).astype(np.float32)
        values[invalid] = np.nan
        nodata |= invalid
        layers.append(values)
    image = np.stack(layers)
    cloud = np.zeros(geobox.shape, dtype=bool)
    if spec.mask is not None:
        m = load_bands(item, [spec.mask.band], geobox, "nearest")[spec.mask.band].values.astype(np.int64)
        if spec.mask.kind == "classes":
            cloud = np.isin(m, spec.mask.invalid)
            nodata |= np.isin(m, spec.mask.nodata)
        else:
            cloud = np.zeros(m.shape, dtype=bool)
            for bit in spec.mask.invalid:
                cloud |= (m >> bit) & 1 == 1
        image[:, cloud | nodata] = np.nan
    _check_radiometry(recipe, item, image)
    return image, nodata, cloud & ~nodata


def _check_radiometry(recipe: Recipe, item: Any, image: np.ndarray) -> None:
    """Reject a chip whose values are not plausible for the recipe's sensor (a wrong scale/offset in the recipe)."""
    spec = recipe.image
    sar = np.array([band_info(spec.sensor, b).kind == "sar" for b in spec.bands], dtype=bool)
    kind = SENSOR_RADIOMETRY[spec.sensor].radiometry if spec.sensor in SENSOR_RADIOMETRY else "reflectance"
    try:
        check_plausible(
            image, "display" if kind == "display" else "reflectance", sar=sar,
            source=f"recipe {recipe.name}: DN x {spec.scale:g} {spec.offset:+g}", dtype=None,
            advice="fix image.scale / image.offset / image.to_db in the recipe", what=f"item {item.id}",
        )  # fmt: skip
    except ImageInputError as exc:
        raise Rejected("implausible values", str(exc)) from None


def load_label(recipe: Recipe, item: Any, geobox: Any) -> np.ndarray:
    """Label chip (H, W) in the product's codes on the chip grid; nodata = the taxonomy's nodata."""
    from lslib.taxonomy import get_taxonomy

    spec = recipe.label
    tax = get_taxonomy(spec.taxonomy)
    da = load_bands(item, [spec.band], geobox, spec.resampling)[spec.band]
    raw = da.values
    fill = tax.nodata if tax.nodata is not None else 0
    asset_nodata = da.attrs.get("nodata")
    out = np.where(np.isfinite(raw), raw, fill) if raw.dtype.kind == "f" else raw.copy()
    if asset_nodata is not None and not (isinstance(asset_nodata, float) and math.isnan(asset_nodata)):
        out[raw == asset_nodata] = fill
    out = out.astype(np.int64)
    out[~np.isin(out, [*tax.codes, fill])] = fill  # codes outside the taxonomy are not labels
    dtype = np.uint8 if max(*tax.codes, fill) <= 255 else np.uint16
    return out.astype(dtype)


# --- one chip ----------------------------------------------------------------------------------


def _keeps_single_class(point_id: str, quota: float) -> bool:
    """Deterministic quota draw: the same points keep single-class chips in any run order."""
    h = int(hashlib.sha256(point_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return h < quota


def _when(item: Any) -> str | None:
    when = item.datetime or item.common_metadata.start_datetime
    return when.isoformat() if when is not None else None


#: Rejections of one image item that another candidate item may avoid.
RETRIED = ("cloud", "nodata", "missing band", "implausible values")


def _image_quality(recipe: Recipe, item: Any, geobox: Any) -> tuple[np.ndarray, float, float]:
    """The chip's image of ``item`` and its nodata and cloud fractions, or :class:`Rejected`."""
    q = recipe.quality
    image, nodata, cloud = load_image(recipe, item, geobox)
    nodata_frac, cloud_frac = float(nodata.mean()), float(cloud.mean())
    if nodata_frac > q.max_nodata_fraction:
        raise Rejected(
            "nodata",
            f"{nodata_frac:.1%} of the chip has no data (limit {q.max_nodata_fraction:.0%})",
            nodata_fraction=nodata_frac,
        )
    if cloud_frac > q.max_cloud_fraction:
        raise Rejected(
            "cloud", f"{cloud_frac:.1%} cloud/shadow (limit {q.max_cloud_fraction:.0%})", cloud_fraction=cloud_frac
        )
    return image, nodata_frac, cloud_frac


def pick_image(recipe: Recipe, items: Sequence[Any], geobox: Any) -> tuple[Any, np.ndarray, float, float]:
    """The first of ``items`` (best first) whose chip passes the image filters, up to ``image.candidates``.

    Returns:
        (item, image, nodata fraction, cloud fraction).

    Raises:
        Rejected: every candidate failed; the reason is the best candidate's, the detail lists all.
    """
    tried: list[tuple[Any, Rejected]] = []
    for item in items[: recipe.image.candidates]:
        try:
            return (item, *_image_quality(recipe, item, geobox))
        except Rejected as rej:
            if rej.reason not in RETRIED:
                raise
            tried.append((item, rej))
    first = tried[0][1]
    if len(tried) == 1:
        raise first
    detail = "; ".join(f"{item.id}: {rej}" for item, rej in tried)
    raise Rejected(first.reason, f"{len(tried)} candidate items failed: {detail}", **first.values)


def make_chip(recipe: Recipe, point: dict[str, Any], url: str) -> xr.Dataset:
    """Build one chip dataset (no writing). Raises :class:`Rejected` with the reason otherwise."""
    from lslib.taxonomy import get_taxonomy

    lon, lat, pid = float(point["lon"]), float(point["lat"]), str(point["point_id"])
    q = recipe.quality
    # a first geobox from any candidate item gives the chip polygon used to search both products
    from shapely.geometry import Point

    probe = search_items(
        recipe,
        url,
        recipe.image.collection,
        Point(lon, lat).buffer(1e-7),
        recipe.image.datetime,
        recipe.image.max_cloud,
        recipe.image.query,
    )
    if not probe:
        raise Rejected(
            "no image",
            f"no {recipe.image.collection} item covers ({lon:.5f}, {lat:.5f}) "
            f"in {recipe.image.datetime} under {recipe.image.max_cloud}% cloud",
        )
    geobox = chip_geobox(recipe, probe[0], lon, lat)
    chip_poly = wgs84_polygon(geobox)
    items = [i for i in probe if item_shape(i).contains(chip_poly)]
    if not items:
        raise Rejected("image does not cover the chip", f"{len(probe)} item(s) touch the point, none the whole chip")
    item, image, nodata_frac, cloud_frac = pick_image(recipe, items, geobox)
    if recipe.label.same_item:
        label_item = item
    else:
        found = search_items(
            recipe, url, recipe.label.collection, chip_poly, recipe.label.datetime, None, recipe.label.query
        )
        if not found:
            raise Rejected("label does not cover the chip", f"no {recipe.label.collection} item covers the chip")
        label_item = found[0]
    label = load_label(recipe, label_item, geobox)
    tax = get_taxonomy(recipe.label.taxonomy)
    fill = tax.nodata if tax.nodata is not None else 0
    labelled = label != fill
    labelled_frac = float(labelled.mean())
    if labelled_frac < q.min_labelled_fraction:
        raise Rejected(
            "label coverage",
            f"{labelled_frac:.1%} labelled (minimum {q.min_labelled_fraction:.0%})",
            labelled_fraction=labelled_frac,
        )
    codes, counts = np.unique(label[labelled], return_counts=True)
    if len(codes) == 1 and not _keeps_single_class(pid, q.single_class_quota):
        raise Rejected(
            "single class",
            f"only {tax.by_code(int(codes[0])).name!r}; beyond the "
            f"{q.single_class_quota:.0%} quota of single-class chips",
        )
    names = list(recipe.image.bands)
    aff, (h, w) = geobox.affine, geobox.shape
    coords = {"x": aff.c + (np.arange(w) + 0.5) * aff.a, "y": aff.f + (np.arange(h) + 0.5) * aff.e}
    ds = xr.Dataset(
        {
            "image": (("band", "y", "x"), image),
            "label": (("y", "x"), label, {"nodata": int(fill), "taxonomy": tax.key}),
        },
        coords={
            **coords,
            "band": names,
            "wavelength": ("band", [band_info(recipe.image.sensor, b).wavelength_um for b in names]),
        },
    )
    ds["wavelength"].attrs["units"] = "µm"
    ds = ds.rio.write_crs(geobox.crs.to_wkt()).rio.write_transform(aff)
    ds.attrs = {
        "subset": recipe.name,
        "point_id": pid,
        "lon": lon,
        "lat": lat,
        "crs": geobox.crs.to_wkt(),
        "transform": list(geobox.affine)[:6],
        "gsd": float(recipe.chip.gsd),
        "sensor": recipe.image.sensor,
        "taxonomy": tax.key,
        "bbox_wgs84": list(chip_poly.bounds),
        "classes": {str(c.code): {"name": c.name, "description": c.description} for c in tax.classes},
        "class_counts": {str(int(c)): int(n) for c, n in zip(codes, counts, strict=True)},
        "image_item": item.id,
        "image_collection": recipe.image.collection,
        "image_datetime": _when(item) or "",
        "label_item": label_item.id,
        "label_collection": recipe.label.collection,
        "label_datetime": _when(label_item) or "",
        "nodata_fraction": nodata_frac,
        "cloud_fraction": cloud_frac,
        "labelled_fraction": labelled_frac,
        "licence": recipe.licence,
        "attribution": recipe.attribution,
        "stratum": str(point.get("stratum", "")),
    }
    return ds


def build_chip(recipe: Recipe, point: dict[str, Any], *, url: str, root: str | Path) -> dict[str, Any]:
    """Build and store the chip of one point; returns ``{point_id, status, reason, detail, seconds}``.

    Status ``written`` and ``rejected`` are final (recorded on disk); ``failed`` (an error such as a
    network failure or a corrupt file) is recorded and retried by the next run.
    """
    t0 = time.perf_counter()
    pid = str(point["point_id"])
    out: dict[str, Any] = {"point_id": pid, "subset": recipe.name, "reason": "", "detail": ""}
    try:
        ds = make_chip(recipe, point, url)
        write_chip(ds, chip_path(Path(root), recipe.name, pid))
        (Path(root) / recipe.name / FAILED / f"{pid}.json").unlink(missing_ok=True)
        out["status"] = "written"
    except Rejected as rej:
        out.update(status="rejected", reason=rej.reason, detail=rej.detail, **rej.values)
        write_record(Path(root), recipe.name, pid, REJECTED, {**out, "lon": point["lon"], "lat": point["lat"]})
    except FileExistsError:
        out["status"] = "written"  # built by a concurrent or earlier run
    except Exception as exc:  # recorded and retried: the build never stops on one bad chip
        out.update(
            status="failed",
            reason=type(exc).__name__,
            detail=_describe(exc)[:500],
            trace=traceback.format_exc(limit=3)[-1500:],
        )
        write_record(Path(root), recipe.name, pid, FAILED, {**out, "lon": point["lon"], "lat": point["lat"]})
    out["seconds"] = time.perf_counter() - t0
    return out


def _describe(exc: BaseException) -> str:
    """The error and its causes in one line (some errors, e.g. odc-stac read failures, have no text)."""
    parts, seen = [], set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts.append(f"{type(cur).__name__}: {cur}" if str(cur) else type(cur).__name__)
        cur = cur.__cause__ or cur.__context__
    return " <- ".join(parts)


def build_point(point: dict[str, Any], *, recipe: Recipe, url: str, root: str) -> dict[str, Any]:
    """:func:`build_chip` with the point first, for ``dask.distributed.Client.map``."""
    return build_chip(recipe, point, url=url, root=root)
