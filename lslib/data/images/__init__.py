"""ONE image-input contract: any image source -> ``(band, y, x)`` float32 physical values with wavelengths.

:func:`open_image` is the only door from an input to the model: ``lslib predict`` (tiling), the map UI
(``MapApp(image=path)``) and the Python API all call it, so the same file with the same flags gives the
same array everywhere.

Sources: a GeoTIFF/COG/JP2/PNG/JPEG file, a Sentinel-2 band folder (:func:`lslib.data.readers.read_sentinel2`),
a STAC item (``pystac.Item``, dict or JSON path; odc-stac on the item's own grid) or an ``xarray.DataArray``.

Band names, in order of precedence: ``bands=`` (names or µm), band names stored in the source (GeoTIFF band
descriptions such as ``blue``/``B04``/``swir16``, lslib's own ``wavelength_um`` tags, STAC ``eo:bands``),
the ``sensor=`` preset's band order (:data:`SENSOR_PRESETS`; a file with fewer bands must name them), and
for an unnamed 12-band integer file the Sentinel-2 L2A order (with a warning).

Radiometry (scale/offset, ``attrs["radiometry_source"]``), in order of precedence:

1. ``scale=``/``offset=`` (``--scale``/``--offset``): replace every other source; an omitted one is 1 / 0;
2. the file's GDAL scale/offset tags (``src.scales``/``src.offsets``) or the item's ``raster:bands``;
3. float data: already physical;
4. any uint8 (optical) image: DN/255, radiometry ``"display"`` (a sensor preset cannot make 8-bit data
   reflectance; ``--scale`` can);
5. the sensor preset (:data:`lslib.data.images.radiometry.SENSOR_RADIOMETRY`; from ``sensor=``, lslib's ``sensor``
   tag or Sentinel-2 metadata tags in the file): Sentinel-2 DN/10 000 with the -0.1
   offset of processing baseline >= 04.00 (from ``BOA_ADD_OFFSET``/baseline tags, the product metadata or
   the STAC ``s2:processing_baseline``), Landsat C2 L2 DN x 2.75e-5 - 0.2, NAIP/RGB uint8 DN/255 (display);
6. other integers without any hint: DN/10 000 only if that gives plausible reflectance, with a
   :class:`~lslib.data.images.radiometry.RadiometryAssumedWarning`; else
   :class:`~lslib.data.images.radiometry.ImageInputError`.
   Never for a file without georeferencing (a 16-bit PNG: display 0..65535 or reflectance x 10 000 cannot be
   told apart): an :class:`~lslib.data.images.radiometry.ImageInputError` asks for ``--scale`` (or ``--sensor``).

Every result is checked on a small overview (robust 0.5/99.5 percentiles; see
:func:`lslib.data.images.radiometry.check_plausible`): DN passed as reflectance, display values outside [0, 1] and
linear SAR raise :class:`~lslib.data.images.radiometry.ImageInputError` naming the flag to pass. Never a silent map.

Modules, in reading order (each imports only the ones above it)::

    radiometry  DN -> physical values: sensor DN conventions (SENSOR_RADIOMETRY), the Sentinel-2 baseline
                offset, dn_to_physical, the plausibility check and its errors (ImageInputError)
    diagnose    what is wrong with an input, said so with the fix: path checks (input_path), multi-page
                files, alpha bands, bands without names, metadata that is not UTF-8
    probe       how large a file is before any pixel is read: image_header/ImageHeader, the memory check
                (ImageTooLargeError), decimated reads for overviews and previews
    calibrate   RawImage (a source's raw values and what it says about them) -> physical values: the
                precedence above (plan), the plausibility check, the attrs
    files       image files -> RawImage: band names, tags, pixel grids (PixelCoordinatesWarning)
    open        the doors: open_image, open_preview, open_stac_item (and DataArrays, Sentinel-2 folders)

Every public name of the contract is importable from here (``from lslib.data.images import open_image``),
including the band tables of :mod:`lslib.data.bands` it uses (:data:`SENSOR_PRESETS`, :func:`assign_bands`).
"""

from __future__ import annotations

from lslib.data.bands import SENSOR_PRESETS, Bands, assign_bands, resolve_bands
from lslib.data.images.files import PIXEL_SUFFIXES, PixelCoordinatesWarning
from lslib.data.images.open import open_image, open_preview, open_stac_item
from lslib.data.images.probe import ImageHeader, ImageTooLargeError, image_header
from lslib.data.images.radiometry import (
    DISPLAY_RANGE,
    REFLECTANCE_RANGE,
    SAR_DB_RANGE,
    SAR_WAVELENGTH_UM,
    SENSOR_RADIOMETRY,
    ImageInputError,
    Radiometry,
    RadiometryAssumedWarning,
    SensorRadiometry,
    check_plausible,
    dn_to_physical,
    overview,
    s2_offset_from_properties,
    s2_offset_from_tags,
    sensor_radiometry,
    warn_assumed,
)

__all__ = [
    "DISPLAY_RANGE",
    "PIXEL_SUFFIXES",
    "REFLECTANCE_RANGE",
    "SAR_DB_RANGE",
    "SAR_WAVELENGTH_UM",
    "SENSOR_PRESETS",
    "SENSOR_RADIOMETRY",
    "Bands",
    "ImageHeader",
    "ImageInputError",
    "ImageTooLargeError",
    "PixelCoordinatesWarning",
    "Radiometry",
    "RadiometryAssumedWarning",
    "SensorRadiometry",
    "assign_bands",
    "check_plausible",
    "dn_to_physical",
    "image_header",
    "open_image",
    "open_preview",
    "open_stac_item",
    "overview",
    "resolve_bands",
    "s2_offset_from_properties",
    "s2_offset_from_tags",
    "sensor_radiometry",
    "warn_assumed",
]
