"""Georeferenced raster I/O: every reader returns an ``xarray.DataArray`` that carries its grid.

Images: dims ``("band", "y", "x")`` (``("time", "band", "y", "x")`` for time series), CRS and
transform via rioxarray (``da.rio.crs``, ``da.rio.transform()``), a ``band`` coordinate of
canonical band names (:mod:`lslib.data.bands`), a ``wavelength`` coordinate on the band dim (central
wavelength in µm; SAR bands get the C-band radar wavelength, 55 465.8 µm), attrs ``sensor``,
``gsd`` (metres) and ``units`` (``"reflectance"``, ``"dB"``, ``"normalized"``), float32 with NaN
as nodata (``da.rio.nodata`` is NaN).

Labels: dims ``("y", "x")``, integer codes, ``rio.nodata`` kept, attrs ``taxonomy`` and ``gsd``.

Public functions (all options keyword-only):

* :func:`read_sentinel2` - per-band GeoTIFF/JP2 folders or multi-band GeoTIFFs, L1C/L2A, offsets.
* :func:`read_sentinel1` - VV/VH backscatter in dB.
* :func:`read_landsat` - Landsat 7/8/9 Level-2 surface reflectance.
* :func:`read_rgb` - RGB/NAIP imagery scaled to [0, 1].
* :func:`read_label`, :func:`reproject_label` - label rasters (GeoTIFF/JP2/NetCDF) and alignment.
* :func:`read_worldcereal_s2` - WorldCereal NetCDF S2 time series.
* :func:`write_geotiff`, :func:`read_geotiff` - (COG) GeoTIFF round trip keeping band names and
  wavelengths.
"""

from __future__ import annotations

from lslib.data.readers.common import gsd_metres
from lslib.data.readers.geotiff import read_geotiff, write_geotiff
from lslib.data.readers.labels import read_label, reproject_label
from lslib.data.readers.sensors import LANDSAT_SR_SCALING, read_landsat, read_rgb, read_sentinel1
from lslib.data.readers.sentinel2 import LAYOUTS, detect_boa_offset, read_sentinel2
from lslib.data.readers.worldcereal import read_worldcereal_s2

__all__ = [
    "LANDSAT_SR_SCALING",
    "LAYOUTS",
    "detect_boa_offset",
    "gsd_metres",
    "read_geotiff",
    "read_label",
    "read_landsat",
    "read_rgb",
    "read_sentinel1",
    "read_sentinel2",
    "read_worldcereal_s2",
    "reproject_label",
    "write_geotiff",
]
