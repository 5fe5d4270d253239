"""Imagery and reference layers for the map: a DataArray, a GeoTIFF, a STAC item, or the default real scene.

Every source ends as a ``(band, y, x)`` float32 DataArray with a CRS and a ``wavelength`` coordinate (µm):
what :class:`lslib.inference.Predictor` needs. Files, items and arrays go through :func:`lslib.data.open_image`,
the one image-input contract that ``lslib predict`` uses too. STAC support is deliberately thin:
:func:`load_stac_item` loads one item's bands with odc-stac on the item's own pixel grid (scale/offset and
nodata from ``raster:bands``, wavelengths from ``eo:bands``); :func:`stac_image` searches an API first. It
works with the loopback API over the sample mirror (:func:`lslib.data.stac_local.local_stac`) offline, and
with Planetary Computer (``sign="planetary_computer"``, needs the ``planetary-computer`` package) or Earth
Search online.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


def load_image(
    source: xr.DataArray | str | Path,
    *,
    bands: Sequence[str | float] | str | None = None,
    sensor: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
) -> xr.DataArray:
    """A ``(band, y, x)`` float32 image with wavelengths, read into memory: :func:`lslib.data.open_image`.

    The same contract as ``lslib predict`` (same file and flags, same array): band names from ``bands=``, the
    file or ``sensor=``; physical values from ``scale=``/``offset=``, the file's scale tags or the sensor's
    convention, checked for plausibility. The map also needs a CRS.

    Raises:
        ImageInputError: implausible values (the message names the argument to pass).
        ValueError: no band names/wavelengths (pass ``bands=`` or ``sensor=``), or no CRS.
    """
    from lslib.data.images import open_image

    da = open_image(source, bands=bands, sensor=sensor, scale=scale, offset=offset)
    if da.rio.crs is None:
        raise ValueError("the image has no CRS, so it cannot be placed on the map: da.rio.write_crs('EPSG:...')")
    return da


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


def load_stac_item(
    item: Any, *, assets: Sequence[str] | None = None, bbox: tuple[float, float, float, float] | None = None
) -> xr.DataArray:
    """Load a STAC item's optical/SAR bands into ``(band, y, x)`` float32 with a ``wavelength`` coordinate.

    :func:`lslib.data.images.open_stac_item` (the contract of :func:`lslib.data.open_image`, which
    ``lslib predict`` uses for items too), read into memory.

    Args:
        item: a ``pystac.Item``.
        assets: asset keys to read (default: every asset with ``eo:bands`` and a centre wavelength).
        bbox: ``(west, south, east, north)`` in degrees to read only part of the item.
    """
    from lslib.data.images import open_stac_item

    return open_stac_item(item, assets=assets, bbox=bbox)


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
