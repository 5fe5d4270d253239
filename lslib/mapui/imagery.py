"""Imagery and reference layers for the map: a DataArray, a GeoTIFF, a STAC item, or the default real scene.

Every source ends as a ``(band, y, x)`` float32 DataArray with a CRS and a ``wavelength`` coordinate (µm):
what :class:`lslib.inference.Predictor` needs. Files, items and arrays go through :func:`lslib.data.open_image`,
the one image-input contract that ``lslib predict`` uses too; the map opens them with :func:`open_scene`, which
reads an image larger than the largest AOI lazily (size from the file's header, backdrop and stretch from one
decimated read, only AOIs in full). STAC support is deliberately thin:
:func:`load_stac_item` loads one item's bands with odc-stac on the item's own pixel grid (scale/offset and
nodata from ``raster:bands``, wavelengths from ``eo:bands``); :func:`stac_image` searches an API first. It
works with the loopback API over the sample mirror (:func:`lslib.data.local_stac.catalog.local_stac`) offline, and
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
    chunks: int | None = None,
) -> xr.DataArray:
    """A ``(band, y, x)`` float32 image with wavelengths: :func:`lslib.data.open_image`.

    The same contract as ``lslib predict`` (same file and flags, same array): band names from ``bands=``, the
    file or ``sensor=``; physical values from ``scale=``/``offset=``, the file's scale tags or the sensor's
    convention, checked for plausibility. The map also needs a CRS. ``chunks=None`` reads the image into
    memory (refused from the file's header when it cannot fit); an int opens it lazily (dask chunks).

    Raises:
        ImageInputError: implausible values (the message names the argument to pass).
        ImageTooLargeError: ``chunks=None`` and the image cannot fit in memory.
        ValueError: no band names/wavelengths (pass ``bands=`` or ``sensor=``), or no CRS.
    """
    from lslib.data.images import open_image

    da = open_image(source, bands=bands, sensor=sensor, scale=scale, offset=offset, chunks=chunks)
    if da.rio.crs is None:
        raise ValueError("the image has no CRS, so it cannot be placed on the map: da.rio.write_crs('EPSG:...')")
    return da


#: dask chunk side (pixels) of an image larger than the largest AOI: only the AOI's chunks are ever read
LAZY_CHUNK = 1024
#: a file larger than the largest AOI whose preview (backdrop and whole-scene stretch, one decimated read) would
#: decode more values than this is refused: no overviews coarse enough (40 000² x 12 bands is 19.2 G values)
PREVIEW_DECODE_LIMIT = 20_000_000_000


def open_scene(
    source: xr.DataArray | str | Path,
    *,
    max_pixels: int,
    bands: Sequence[str | float] | str | None = None,
    sensor: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
    preview_side: int = 1024,
) -> tuple[xr.DataArray, xr.DataArray | None]:
    """The map's image (with its whole-scene stretch, ``attrs["norm_stats"]``) and, for a large file, a preview.

    An image of at most ``max_pixels`` (the largest AOI the map maps) is read into memory, as
    :func:`load_image` does. A larger one is never read whole: its size comes from the file's header, it is
    opened lazily (dask chunks of :data:`LAZY_CHUNK`; only an AOI is read, by the map), and its backdrop and
    whole-scene stretch come from one decimated read at most ``preview_side`` pixels a side
    (:func:`lslib.data.images.open_preview`: GDAL overviews when the file has them). The stretch of that preview
    may differ slightly from ``lslib predict``'s (a regular subsample of the full-resolution pixels); images up
    to ``max_pixels`` get exactly the same. Lazy sources without one header (a large Sentinel-2 band folder,
    a dask DataArray) are stretched and previewed by strided reads, chunk by chunk.

    Returns:
        ``(image, preview)``; ``preview`` is None when the image itself is small enough to draw.

    Raises:
        ImageTooLargeError: a file larger than ``max_pixels`` without overviews coarse enough for a preview
            (it says how to build them), or one that cannot fit in memory where it would be read whole.
        as :func:`load_image` otherwise.
    """
    from lslib.data.images import ImageTooLargeError, image_header, open_preview
    from lslib.inference import with_scene_stretch

    kw: dict[str, Any] = {"bands": bands, "sensor": sensor, "scale": scale, "offset": offset}
    header = image_header(source)
    if header is not None and header.pixels <= max_pixels:
        return with_scene_stretch(load_image(source, **kw)), None
    if header is None:  # a DataArray, a band folder, a STAC item: lazy where the source is, loaded when small
        da = load_image(source, **kw, chunks=None if isinstance(source, xr.DataArray) else LAZY_CHUNK)
        if da.chunks is not None and da.sizes["y"] * da.sizes["x"] <= max_pixels:
            da = da.compute()
        return with_scene_stretch(da), None
    decoded = header.decoded_values(preview_side)
    if decoded > PREVIEW_DECODE_LIMIT:
        coarse = " coarse enough" if header.overviews else ""
        raise ImageTooLargeError(
            f"{header.path.name} is {header.height:,} x {header.width:,} px x {header.count} bands "
            f"({header.pixels / 1e6:,.0f} Mpx) and has no overviews{coarse}: the map would decode all of it "
            f"({decoded / 1e9:,.0f} G values) to draw its backdrop. Build overviews once (`rio overview --build auto "
            f"{header.path}`, or GDAL's gdaladdo), or map it in batch mode: lslib predict --image {header.path} "
            "--prompts prompts.yaml --out OUT_DIR"
        )
    da = load_image(source, **kw, chunks=LAZY_CHUNK)
    preview = open_preview(header.path, max_side=preview_side, **kw)
    return da.assign_attrs(norm_stats=with_scene_stretch(preview).attrs["norm_stats"]), preview


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
