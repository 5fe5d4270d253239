"""Label rasters (GeoTIFF/JP2/NetCDF) and their reprojection onto an image grid.

A label is an integer ``xarray.DataArray`` with dims ``("y", "x")``, CRS and transform through
rioxarray, its nodata as ``rio.nodata`` (``_FillValue``), and attrs ``taxonomy`` (a product key
such as ``"terramesh_lulc"``, ``"nlcd"``, ``"esa_worldcover"``, ``"corine_l3"``, ``"s2_scl"``,
``"worldcereal"``; None when not given) and ``gsd`` (metres).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from rasterio.enums import Resampling

from lslib.data.readers.common import crs_error, existing_path, gsd_metres, open_raster, require_crs

__all__ = ["read_label", "reproject_label"]

Chunks = int | dict[str, int] | None
_NETCDF_SUFFIXES = (".nc", ".nc4", ".cdf", ".netcdf")


def _finish_label(da: xr.DataArray, nodata: int | None, taxonomy: str | None) -> xr.DataArray:
    da = da.drop_vars([c for c in da.coords if c not in ("x", "y", "spatial_ref")])
    da.attrs = {}
    da.encoding = {}
    if nodata is not None:
        da = da.rio.write_nodata(nodata, encoded=False)
    da.attrs.update({"taxonomy": taxonomy, "gsd": gsd_metres(da)})
    da.name = taxonomy or "label"
    return da


def _to_integer(da: xr.DataArray, nodata: int | None, where: str) -> tuple[xr.DataArray, int | None]:
    """Float labels (NaN = unlabelled) -> smallest integer dtype holding the codes and ``nodata``."""
    values = np.asarray(da.values)
    finite = values[np.isfinite(values)]
    if finite.size and not np.array_equal(finite, np.round(finite)):
        raise ValueError(f"{where} holds non-integer values; it is not a categorical label raster")
    has_nan = bool(np.isnan(values).any())
    if has_nan and nodata is None:
        raise ValueError(f"{where} has NaN (unlabelled) pixels and no nodata value; pass nodata=<int code>")
    codes = [float(finite.min()), float(finite.max())] if finite.size else [0.0]
    if nodata is not None:
        codes.append(float(nodata))
    dtype = np.promote_types(np.min_scalar_type(int(min(codes))), np.min_scalar_type(int(max(codes))))
    filled = np.where(np.isnan(values), nodata if nodata is not None else 0, values).astype(dtype)
    return da.copy(data=filled), nodata


def read_label(
    source: str | Path,
    *,
    taxonomy: str | None = None,
    nodata: int | None = None,
    variable: str | None = None,
    chunks: Chunks = None,
) -> xr.DataArray:
    """Read a single-band categorical label raster.

    Args:
        source: a GeoTIFF/JP2 with one band, or a NetCDF file (then ``variable`` names the 2-D
            label variable, e.g. ``"LC"`` in WorldCereal ``OUTPUT_*.nc``).
        taxonomy: key of the label product, stored in ``attrs["taxonomy"]``.
        nodata: nodata code; default the file's nodata (GeoTIFF nodata tag, NetCDF ``_FillValue``),
            else the taxonomy's nodata code (e.g. 0 for ``terramesh_lulc``).
        variable: NetCDF variable name (required for NetCDF files with several variables).
        chunks: dask chunks for lazy reading of rasters.

    Returns:
        ``(y, x)`` integer codes in the file's integer dtype (NetCDF: the stored dtype, i.e. the
        raw codes before CF decoding; float GeoTIFFs: the smallest integer dtype holding the
        codes, NaN -> ``nodata``), with ``rio.nodata`` and ``attrs["taxonomy"]``.
    """
    path = existing_path(source, "label file")
    if variable is not None or path.suffix.lower() in _NETCDF_SUFFIXES:
        return _read_netcdf_label(path, variable, taxonomy, nodata)
    raw = open_raster(path, chunks=chunks)
    if raw.sizes["band"] != 1:
        raise ValueError(f"{path} has {raw.sizes['band']} bands; a label raster must have exactly one")
    da = raw.isel(band=0, drop=True)
    code = nodata if nodata is not None else raw.rio.nodata
    if code is None and taxonomy is not None:
        code = _taxonomy_nodata(taxonomy)
    if np.issubdtype(da.dtype, np.floating):
        if code is not None and not np.isnan(code):
            da = da.where(da != code)
        da, code = _to_integer(da, None if code is None or np.isnan(code) else int(code), str(path))
    return _finish_label(da, None if code is None else int(code), taxonomy)


def _taxonomy_nodata(key: str) -> int | None:
    from lslib.taxonomy import get_taxonomy

    return get_taxonomy(key).nodata


def _read_netcdf_label(
    path: Path, variable: str | None, taxonomy: str | None, nodata: int | None
) -> xr.DataArray:
    with xr.open_dataset(path, mask_and_scale=False) as ds:
        names = [str(v) for v in ds.data_vars if ds[v].ndim == 2]
        if variable is None:
            if len(names) != 1:
                raise ValueError(f"{path} has 2-D variables {names}; choose one with variable=")
            variable = names[0]
        if variable not in ds.data_vars:
            raise ValueError(f"{path} has no variable {variable!r}; its 2-D variables: {names}")
        da = ds[variable].load()
        crs = da.rio.crs or _crs_from_attrs(ds.attrs)
    if da.dims != ("y", "x"):
        raise ValueError(f"{path}:{variable} has dims {da.dims}; read_label reads 2-D (y, x) label layers")
    if crs is None:
        raise crs_error(f"{path}:{variable}")
    scale = float(da.attrs.get("scale_factor", 1.0))
    offset = float(da.attrs.get("add_offset", 0.0))
    if scale != 1.0 or offset != 0.0:
        raise ValueError(
            f"{path}:{variable} is scaled (scale_factor={scale}, add_offset={offset}); not a label"
        )
    fill = da.attrs.get("_FillValue", da.encoding.get("_FillValue"))
    code = nodata if nodata is not None else (None if fill is None else int(fill))
    da = da.rio.write_crs(crs)
    if np.issubdtype(da.dtype, np.floating):
        da, code = _to_integer(da.where(da != code) if code is not None else da, code, f"{path}:{variable}")
    return _finish_label(da, code, taxonomy)


def _crs_from_attrs(attrs: dict[str, object]) -> str | None:
    epsg = attrs.get("epsg")
    return f"EPSG:{int(str(epsg))}" if epsg is not None and str(epsg).isdigit() else None


def reproject_label(label: xr.DataArray, like: xr.DataArray, *, method: str = "nearest") -> xr.DataArray:
    """Reproject a label onto the grid (CRS, transform, shape) of ``like``.

    Args:
        label: ``(y, x)`` integer label with CRS (and ideally ``rio.nodata``).
        like: any raster on the target grid (e.g. a ``(band, y, x)`` image).
        method: ``"nearest"`` (similar resolutions, or coarse labels onto a finer grid) or
            ``"mode"`` (majority of the covered source pixels: fine labels onto a coarser grid).

    Returns:
        ``(y, x)`` label with ``like``'s grid and coordinates, the label's dtype and attrs; pixels
        not covered by the label are ``rio.nodata`` (the label's nodata, else the dtype's default
        fill chosen by rioxarray, e.g. 255 for uint8, which is then written as ``rio.nodata``).
    """
    methods = {"nearest": Resampling.nearest, "mode": Resampling.mode}
    if method not in methods:
        raise ValueError(f"method must be one of {sorted(methods)}, got {method!r}")
    if label.ndim != 2:
        raise ValueError(f"label must be 2-D (y, x), got dims {label.dims}")
    require_crs(label, "the label")
    require_crs(like, "the target grid (like)")
    _require_overlap(label, like)
    out = label.rio.reproject_match(like, resampling=methods[method])
    out = out.assign_coords(x=like["x"].values, y=like["y"].values).astype(label.dtype)
    nodata = label.rio.nodata if label.rio.nodata is not None else out.rio.nodata
    attrs = {**label.attrs, "gsd": gsd_metres(like)}
    out.attrs = {}
    if nodata is not None:
        out = out.rio.write_nodata(int(nodata), encoded=False)
    out.attrs.update({k: v for k, v in attrs.items() if k != "_FillValue"})
    return out


def _require_overlap(label: xr.DataArray, like: xr.DataArray) -> None:
    """Check that ``label`` overlaps ``like``'s grid.

    Raises:
        ValueError: ``label`` does not touch ``like``'s grid: the result would be nodata only, which
            almost always means a wrong CRS on one side rather than a real gap.
    """
    from rasterio.warp import transform_bounds

    try:
        lb = transform_bounds(label.rio.crs, like.rio.crs, *label.rio.bounds())
    except Exception:  # bounds not transformable (exotic CRS): let rioxarray decide
        return
    tb = like.rio.bounds()
    if lb[0] >= tb[2] or lb[2] <= tb[0] or lb[1] >= tb[3] or lb[3] <= tb[1]:
        raise ValueError(
            f"the label ({label.rio.crs}, bounds {tuple(round(v, 3) for v in label.rio.bounds())}) does not overlap "
            f"the target grid ({like.rio.crs}, bounds {tuple(round(v, 3) for v in tb)}): check that both CRSs are "
            "right (a raster tagged with the wrong CRS lands elsewhere) or use a label that covers the area"
        )
