"""Serving rasters as map tiles: localtileserver through leafmap, behind Jupyter's proxies, NaN nodata made finite."""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any


def configure_tile_proxy(environ: MutableMapping[str, str] | None = None) -> str | None:
    """Route tile URLs through jupyter-server-proxy on JupyterHub/Binder; returns the prefix in force, or None.

    On a hub (``$JUPYTERHUB_SERVICE_PREFIX``, e.g. ``/user/alice/``) the browser cannot reach the kernel's
    ``127.0.0.1``: tiles go through ``/user/alice/proxy/<port>/`` (jupyter-server-proxy), set as
    ``$LOCALTILESERVER_CLIENT_PREFIX`` (an absolute path). A prefix already set is kept (set it yourself for
    other proxies, e.g. ``"proxy/{port}"`` on a server with jupyter-server-proxy and no hub). Without a hub
    nothing is set: localtileserver detects its own proxy in JupyterLab, and serves 127.0.0.1 elsewhere.
    """
    env = os.environ if environ is None else environ
    if env.get("LOCALTILESERVER_CLIENT_PREFIX"):
        return env["LOCALTILESERVER_CLIENT_PREFIX"]
    hub = env.get("JUPYTERHUB_SERVICE_PREFIX", "").strip("/")
    if not hub:
        return None
    prefix = f"/{hub}/proxy/{{port}}"
    env["LOCALTILESERVER_CLIENT_PREFIX"] = prefix
    return prefix


#: the nodata value of :func:`finite_nodata_vrt` (outside reflectance, scores and most DN ranges)
FINITE_NODATA = -9999.0


def has_nan_nodata(path: Path) -> bool:
    """Whether any band of a raster declares NaN as its nodata value."""
    import rasterio

    with rasterio.open(path) as src:
        return any(v is not None and math.isnan(v) for v in src.nodatavals)


def finite_nodata_vrt(path: Path, folder: Path) -> Path:
    """A VRT in ``folder`` over ``path`` (every band) with NaN nodata turned into :data:`FINITE_NODATA`.

    localtileserver describes a raster in JSON before serving it, and a NaN nodata is not valid JSON (its
    ``/api/metadata`` answers 500, so ``add_raster`` fails on ``confidence.tif`` or a float image). The VRT
    maps NaN pixels to :data:`FINITE_NODATA` (``ComplexSource`` ``NODATA``) and declares it as nodata: same
    grid, same values elsewhere, and GDAL reads the source's overviews through it. Nothing is written next to
    the map (lslib's output folder holds only lslib's files).
    """
    from xml.sax.saxutils import escape

    import rasterio
    from rasterio.dtypes import _gdal_typename

    source = escape(str(path.resolve()))
    with rasterio.open(path) as src:
        t = src.transform
        bands = []
        for i, (dtype, (by, bx), desc) in enumerate(zip(src.dtypes, src.block_shapes, src.descriptions, strict=True)):
            bands.append(
                f'  <VRTRasterBand dataType="{_gdal_typename(dtype)}" band="{i + 1}" blockXSize="{bx}" '
                f'blockYSize="{by}">\n'
                + (f"    <Description>{escape(desc)}</Description>\n" if desc else "")
                + f"    <NoDataValue>{FINITE_NODATA!r}</NoDataValue>\n"
                "    <ComplexSource>\n"
                f'      <SourceFilename relativeToVRT="0">{source}</SourceFilename>\n'
                f"      <SourceBand>{i + 1}</SourceBand>\n"
                "      <NODATA>nan</NODATA>\n"
                "    </ComplexSource>\n"
                "  </VRTRasterBand>\n"
            )
        xml = (
            f'<VRTDataset rasterXSize="{src.width}" rasterYSize="{src.height}">\n'
            f"  <SRS>{escape(src.crs.to_wkt()) if src.crs else ''}</SRS>\n"
            f"  <GeoTransform>{t.c!r}, {t.a!r}, {t.b!r}, {t.f!r}, {t.d!r}, {t.e!r}</GeoTransform>\n"
            + "".join(bands)
            + "</VRTDataset>\n"
        )
    vrt = folder / f"{path.stem}.vrt"
    vrt.write_text(xml, encoding="utf-8")
    return vrt


@contextlib.contextmanager
def quiet_kwargs() -> Iterator[None]:
    """Leafmap passes its options (``draw_control=``, ``cors_all=``) on to the ipyleaflet widget: traitlets warns."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Passing unrecognized arguments", DeprecationWarning)
        yield


def add_tiles(m: Any, path: Path, name: str, args: dict[str, dict[str, Any]], **kwargs: Any) -> tuple[Any, Any]:
    """``m.add_raster`` (leafmap -> localtileserver): the layer and its TileClient; records the tile arguments."""
    with quiet_kwargs():
        m.add_raster(str(path), layer_name=name, zoom_to_layer=False, **kwargs)
    params = getattr(m, "cog_layer_dict", {}).get(name) or {}
    layer = params.get("tile_layer") or m.find_layer(name)
    args[name] = {k: kwargs[k] for k in ("indexes", "colormap", "vmin", "vmax") if k in kwargs}
    return layer, params.get("tile_client") or layer.tile_server


def require_tile_server() -> None:
    """Check that localtileserver is installed and set up its Jupyter proxy (for ``view(..., tiles=True)``).

    Raises:
        ImportError: localtileserver is not installed (says how to install it, or to pass ``tiles=False``).
    """
    try:
        import localtileserver  # noqa: F401 - leafmap's add_raster needs it
    except ImportError as exc:
        raise ImportError(
            "view(..., tiles=True) serves the COGs with localtileserver: `pip install localtileserver` "
            "(and jupyter-server-proxy on JupyterHub/Binder), or pass tiles=False for PNG overlays"
        ) from exc
    configure_tile_proxy()
