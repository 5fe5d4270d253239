"""Imagery and reference layers for the map: a DataArray, a GeoTIFF, a STAC item, or the default real scene.

Every source ends as a ``(band, y, x)`` float32 DataArray with a CRS and a ``wavelength`` coordinate (µm):
what :class:`lslib.inference.Predictor` needs. STAC support is deliberately thin: :func:`load_stac_item`
loads one item's bands with odc-stac on the item's own pixel grid (scale/offset and nodata from
``raster:bands``, wavelengths from ``eo:bands``); :func:`stac_image` searches an API first. It works with the
loopback API over the sample mirror (:func:`lslib.data.stac_local.local_stac`) offline, and with Planetary
Computer (``sign="planetary_computer"``, needs the ``planetary-computer`` package) or Earth Search online.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

#: the default real scene: a TerraMesh Sentinel-2 L2A chip (Paraná coast, Brazil) and its Esri/IO LULC weak label
DEFAULT_DATASET = "terramesh-examples-s2-esri-lulc"
DEFAULT_SITE = "282D_485L_3_3"
DEFAULT_TAXONOMY = "terramesh_lulc"
PLANETARY_COMPUTER = "https://planetarycomputer.microsoft.com/api/stac/v1"
EARTH_SEARCH = "https://earth-search.aws.element84.com/v1"


def default_scene(site: str = DEFAULT_SITE) -> tuple[xr.DataArray, xr.DataArray]:
    """The TerraMesh S2 L2A chip of ``site`` and its Esri/IO LULC reference (taxonomy ``terramesh_lulc``)."""
    from lslib.data.fetch import fetch
    from lslib.data.readers import read_label, read_sentinel2

    image = read_sentinel2(fetch(f"{DEFAULT_DATASET}/S2L2A/{site}.tif"))
    reference = read_label(fetch(f"{DEFAULT_DATASET}/LULC/{site}.tif"), taxonomy=DEFAULT_TAXONOMY)
    return image, reference


def _has_wavelengths(da: xr.DataArray) -> bool:
    return "wavelength" in da.coords and bool(np.isfinite(np.asarray(da["wavelength"].values, dtype=float)).all())


def load_image(
    source: xr.DataArray | str | Path, *, bands: Sequence[str | float] | str | None = None, sensor: str | None = None
) -> xr.DataArray:
    """A ``(band, y, x)`` image with wavelengths from a DataArray or a raster file.

    Files written by lslib carry their wavelengths; a Sentinel-2 multi-band GeoTIFF is recognised by
    :func:`lslib.data.readers.read_sentinel2`; any other file needs ``bands=`` (names or µm) or ``sensor=``
    (see :func:`lslib.inference.assign_bands`).
    """
    from lslib.inference import assign_bands

    if isinstance(source, xr.DataArray):
        da = source if "band" in source.dims else source.expand_dims(band=[1])
    else:
        from lslib.data.readers import read_geotiff, read_sentinel2

        da = read_geotiff(source)
        if "band" not in da.dims:
            da = da.expand_dims(band=[1])
        if not _has_wavelengths(da) and bands is None and sensor is None:
            try:
                da = read_sentinel2(source)
            except (ValueError, OSError) as exc:
                raise ValueError(
                    f"{source} has no band wavelengths: pass bands=(e.g. 'red,green,blue,nir' or µm) or "
                    f"sensor=('naip', 'rgb', 's2-l2a', 'landsat8') ({exc})"
                ) from exc
    if bands is not None or sensor is not None:
        da = assign_bands(da, bands=bands, sensor=sensor)
    if not _has_wavelengths(da):
        raise ValueError(
            "the image has no 'wavelength' coordinate (µm per band): read it with an lslib reader or name its "
            "bands with lslib.inference.assign_bands(da, bands=..., sensor=...)"
        )
    if da.rio.crs is None:
        raise ValueError("the image has no CRS, so it cannot be placed on the map: da.rio.write_crs('EPSG:...')")
    return da.astype(np.float32) if da.dtype != np.float32 else da


def load_reference(source: xr.DataArray | str | Path, taxonomy: str | None = None) -> xr.DataArray:
    """A ``(y, x)`` reference label with ``attrs["taxonomy"]`` (from ``taxonomy=`` or the array/file)."""
    from lslib.data.readers import read_label

    if isinstance(source, xr.DataArray):
        ref = source.squeeze(drop=True) if source.ndim == 3 else source
        if taxonomy:
            ref = ref.assign_attrs(taxonomy=taxonomy)
    else:
        ref = read_label(source, taxonomy=taxonomy)
        if not taxonomy:
            from rasterio import open as ropen

            with ropen(source) as src:
                tag = src.tags().get("taxonomy")
            if tag:
                ref = ref.assign_attrs(taxonomy=tag)
    if not ref.attrs.get("taxonomy"):
        from lslib.prompt_set import presets

        raise ValueError(f"the reference needs its taxonomy: pass reference_taxonomy= one of {', '.join(presets())}")
    return ref


# --- STAC --------------------------------------------------------------------------------------


def _asset_bands(key: str, asset: Any) -> list[tuple[str, str, float, dict[str, Any]]]:
    """``(odc band name, band name, wavelength µm, raster:bands entry)`` for each band of an asset."""
    eo = asset.extra_fields.get("eo:bands") or []
    raster = asset.extra_fields.get("raster:bands") or [{}] * max(1, len(eo))
    n = max(len(eo), len(raster), 1)
    out = []
    for i in range(n):
        entry = eo[i] if i < len(eo) else {}
        wave = entry.get("center_wavelength")
        name = str(entry.get("name") or (key if n == 1 else f"{key}.{i + 1}"))
        odc_name = key if n == 1 else f"{key}.{i + 1}"
        out.append(
            (odc_name, name, math.nan if wave is None else float(wave), dict(raster[i] if i < len(raster) else {}))
        )
    return out


def _item_geobox(item: Any, keys: Sequence[str]) -> Any:
    """The GeoBox of the finest asset among ``keys`` (pixels read exactly, no 0-anchored resnapping)."""
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
    return GeoBox(best[0], best[1], best[2])


def load_stac_item(
    item: Any, *, assets: Sequence[str] | None = None, bbox: tuple[float, float, float, float] | None = None
) -> xr.DataArray:
    """Load a STAC item's optical/SAR bands into ``(band, y, x)`` float32 with a ``wavelength`` coordinate.

    Args:
        item: a ``pystac.Item``.
        assets: asset keys to read (default: every asset with ``eo:bands`` and a centre wavelength).
        bbox: ``(west, south, east, north)`` in degrees to read only part of the item.
    """
    import odc.stac

    keys = (
        list(assets)
        if assets
        else [
            k
            for k, a in item.assets.items()
            if any("center_wavelength" in b for b in a.extra_fields.get("eo:bands", []))
        ]
    )
    if not keys:
        raise ValueError(f"STAC item {item.id} has no asset with eo:bands wavelengths; pass assets=[...]")
    bands = [b for k in keys for b in _asset_bands(k, item.assets[k])]
    geobox = _item_geobox(item, keys)
    if bbox is not None:
        from pyproj import Transformer

        west, south, east, north = bbox
        xs, ys = Transformer.from_crs("EPSG:4326", geobox.crs.to_wkt(), always_xy=True).transform(
            [west, east, west, east], [south, south, north, north]
        )
        inv = ~geobox.affine
        cols, rows = zip(*(inv * (x, y) for x, y in zip(xs, ys, strict=True)), strict=True)
        r0, r1 = max(0, math.floor(min(rows))), min(geobox.shape[0], math.ceil(max(rows)))
        c0, c1 = max(0, math.floor(min(cols))), min(geobox.shape[1], math.ceil(max(cols)))
        if r0 >= r1 or c0 >= c1:
            raise ValueError(f"bbox {bbox} does not overlap STAC item {item.id}")
        geobox = geobox[r0:r1, c0:c1]
    ds = odc.stac.load([item], bands=[b[0] for b in bands], geobox=geobox, resampling="nearest", chunks=None)
    layers = []
    for odc_name, _, _, raster in bands:
        v = ds[odc_name].isel(time=0).astype(np.float32)
        if raster.get("nodata") is not None:
            v = v.where(v != float(raster["nodata"]))
        layers.append(v * float(raster.get("scale", 1.0)) + float(raster.get("offset", 0.0)))
    da = xr.concat(layers, dim="band").assign_coords(
        band=[b[1] for b in bands], wavelength=("band", np.asarray([b[2] for b in bands], dtype=np.float64))
    )
    da = da.drop_vars([c for c in da.coords if c not in ("band", "wavelength", "y", "x", "spatial_ref")])
    da = da.rio.write_crs(geobox.crs.to_wkt()).rio.write_nodata(np.nan, encoded=False)
    da.attrs.update({"stac_item": item.id, "units": "reflectance"})
    return da.rename("stac")


def stac_image(
    url: str,
    collection: str,
    *,
    item_id: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    datetime: str | None = None,
    assets: Sequence[str] | None = None,
    sign: str | None = None,
) -> xr.DataArray:
    """Search ``collection`` on the STAC API at ``url`` and load the least cloudy matching item.

    ``url``: the loopback API (``local_stac().url``), :data:`PLANETARY_COMPUTER` (``sign="planetary_computer"``)
    or :data:`EARTH_SEARCH`. ``bbox`` (degrees) both selects items and crops the read.
    """
    import pystac_client

    modifier = None
    if sign == "planetary_computer":
        import planetary_computer  # an optional, online-only dependency

        modifier = planetary_computer.sign_inplace
    client = pystac_client.Client.open(url, modifier=modifier)
    kwargs: dict[str, Any] = {"collections": [collection], "max_items": 50}
    if item_id:
        kwargs["ids"] = [item_id]
    if bbox:
        kwargs["bbox"] = list(bbox)
    if datetime:
        kwargs["datetime"] = datetime
    items = list(client.search(**kwargs).items())
    if not items:
        raise ValueError(
            f"no item of {collection!r} at {url} matches { ({k: v for k, v in kwargs.items() if k != 'max_items'}) }"
        )
    items.sort(key=lambda it: (float(it.properties.get("eo:cloud_cover") or 0.0), it.id))
    return load_stac_item(items[0], assets=assets, bbox=bbox)
