"""A finished ``lslib predict`` output on a leafmap map: class COG as tiles, confidence, imagery, legend.

    from lslib.mapui import view
    v = view("out/")                   # display v: the map with its legend (v.map is a leafmap.Map)
    v.layers["confidence"].visible = True
    v = view("out/", imagery="scene.tif")   # the input, when map.json's ``input`` is not a file here

Layers, bottom to top:

* ``imagery``: the source image in true colour (bands nearest 665/560/490 nm, 2-98 % stretch from a
  decimated read). From ``imagery=`` or map.json's ``input`` when that is a file or folder that exists.
  A single raster file with overviews (or at most :data:`TILE_IMAGERY_MAX_SIDE` px a side) is served as tiles,
  anything else (a band folder, a STAC item, a large file without overviews, a DataArray) is one
  ``ImageOverlay`` of at most ``max_side`` px a side, as :class:`lslib.mapui.MapApp` draws its backdrop.
* ``classes``: ``class_map.tif`` with its own colour table (class colours, unknown grey, nodata transparent).
* ``confidence``: ``confidence.tif`` (0-1, magma), hidden until ticked in the layer control.

Tiles come from `localtileserver <https://github.com/banesullivan/localtileserver>`_, started in the kernel
by leafmap's ``Map.add_raster``: the class COG is read at the resolution of each zoom level (its overviews
when zoomed out), so a scene of any size opens at once and stays sharp when zoomed in. The browser fetches
the tiles through the Jupyter server, never from the kernel's port directly:

* plain JupyterLab / Notebook 7: localtileserver's own server extension
  (``<base_url>/localtileserver-proxy/<port>/...``, detected automatically);
* JupyterHub and Binder (``$JUPYTERHUB_SERVICE_PREFIX`` set): jupyter-server-proxy
  (``<hub prefix>/proxy/<port>/...``), see :func:`configure_tile_proxy`;
* outside Jupyter (scripts, tests): ``http://127.0.0.1:<port>/...``.

A raster with NaN nodata (``confidence.tif``, float imagery) is served through a VRT with a finite nodata
(:func:`finite_nodata_vrt`): localtileserver cannot describe a NaN nodata in JSON and refuses such a file.

``tiles=False`` draws classes and confidence as ``ImageOverlay`` PNGs of the COGs' overviews (at most
``max_side`` px a side; no tile server): for a static HTML export, or where no server can run.

The legend lists the classes present in the map (``areas`` of map.json with pixels, unknown included), with
their names from map.json's ``labels`` and their colours from the COG's colour table.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from lslib.mapui import render as R
from lslib.mapui.common import zoom_for

Bounds = tuple[tuple[float, float], tuple[float, float]]

CLASSES_LAYER = "classes"
CONFIDENCE_LAYER = "confidence"
IMAGERY_LAYER = "imagery"
#: an imagery file larger than this (px a side) without overviews is drawn as a preview overlay, not as tiles:
#: a tile server would decode the whole file for every zoomed-out tile
TILE_IMAGERY_MAX_SIDE = 4096
#: map panes (Leaflet z-index): imagery above any basemap (tilePane, 200), results above the imagery and below
#: Leaflet's overlayPane (400), whether each layer is a tile layer or an ImageOverlay
IMAGERY_PANE, RESULTS_PANE = "lslib-imagery", "lslib-results"
PANES = {IMAGERY_PANE: {"zIndex": 250, "pointerEvents": "none"}, RESULTS_PANE: {"zIndex": 300, "pointerEvents": "none"}}
#: default longest side of the overlays (the imagery preview; classes/confidence with ``tiles=False``)
VIEW_MAX_SIDE = 2048


class MapOutputError(ValueError):
    """The folder is not a finished ``lslib predict`` output; the message says what it holds and what to do."""


@dataclass
class ResultView:
    """What :func:`view` built: the map, its layers and legend, and where they come from.

    Displaying it displays the map (the legend is a control on the map).

    Attributes:
        out: the output folder.
        sidecar: its ``map.json``.
        map: the ``leafmap.Map`` (an ``ipyleaflet.Map``).
        layers: ``"classes"``, ``"confidence"`` and (when drawn) ``"imagery"``: ipyleaflet layers.
        legend: the legend (``ipywidgets.HTML``, class ``lslib-legend``).
        legend_rows: ``(name, "#rrggbb", percent)`` per class present, unknown last.
        colour_table: the class COG's colour table ``{code: (r, g, b, a)}``.
        bounds: ``((south, west), (north, east))`` of the class COG in EPSG:4326.
        tiles: classes/confidence are localtileserver tiles (else ``ImageOverlay`` PNGs).
        tile_clients: the ``localtileserver.TileClient`` of each tiled layer.
        tile_args: the rendering arguments of each tiled layer (bands, colormap, stretch).
        imagery: the imagery source drawn (a path, ``"DataArray"``), or None.
        notes: why something was not drawn (e.g. map.json's input is not a file here).
    """

    out: Path
    sidecar: dict[str, Any]
    map: Any
    layers: dict[str, Any]
    legend: Any
    legend_rows: list[tuple[str, str, float]]
    colour_table: dict[int, tuple[int, int, int, int]]
    bounds: Bounds
    tiles: bool
    tile_clients: dict[str, Any] = field(default_factory=dict)
    tile_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    imagery: str | None = None
    notes: list[str] = field(default_factory=list)

    def tile_url(self, layer: str = CLASSES_LAYER) -> str:
        """The kernel-side ``http://127.0.0.1:<port>/api/tiles/{z}/{x}/{y}.png?...`` template of a tiled layer.

        The map's layer itself may carry a proxy URL (``.../proxy/<port>/...``): what the browser fetches.
        """
        client = self.tile_clients.get(layer)
        if client is None:
            raise KeyError(f"{layer!r} is not a tiled layer here; tiled: {sorted(self.tile_clients)}")
        url: str = client.get_tile_url(**self.tile_args.get(layer, {}), client=False)
        return url

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.map._repr_mimebundle_(**kwargs)


# --- the output folder ---------------------------------------------------------------------------------------------


def open_output(out_dir: str | os.PathLike[str]) -> tuple[Path, dict[str, Any], Path, Path]:
    """``(out, sidecar, class_map_path, confidence_path)`` of a finished ``lslib predict`` output folder.

    Raises:
        FileNotFoundError: the folder does not exist.
        MapOutputError: not a folder, no (or a foreign) ``map.json``, an unfinished run (``.progress.json``),
            a missing map file, or a map in pixel coordinates (no CRS: it has no place on a map).
    """
    from lslib.inference.outputs import CLASS_MAP, CONFIDENCE, PROGRESS, SIDECAR, inspect_out

    out = Path(os.fsdecode(out_dir)).expanduser()
    if not out.exists():
        raise FileNotFoundError(f"{out} does not exist: pass the --out folder of a finished `lslib predict` run")
    if not out.is_dir():
        raise MapOutputError(f"{out} is a file: pass the --out folder of a finished `lslib predict` run")
    inv = inspect_out(out)
    if inv.sidecar is None:
        if inv.progress is not None:
            done = len(inv.progress.get("done", []))
            raise MapOutputError(
                f"{out} holds an unfinished `lslib predict` run ({PROGRESS}: {done} block{'s' * (done != 1)} "
                f"finished, no {SIDECAR} yet): it may still be running; if it stopped, rerun the same command "
                "(it resumes), then view the folder"
            )
        if SIDECAR in inv.foreign:
            raise MapOutputError(f"{out / SIDECAR} was not written by lslib (no run signature): not an lslib map")
        raise MapOutputError(
            f"{out} is not a finished `lslib predict` output: no {SIDECAR} (a finished run writes {CLASS_MAP}, "
            f"{CONFIDENCE}, {SIDECAR} and prompts.yaml); map a scene with `lslib predict --out {out}` first"
        )
    doc = inv.sidecar
    files: dict[str, Any] = doc["files"] if isinstance(doc.get("files"), dict) else {}
    paths = {key: out / str(files.get(key, default)) for key, default in
             (("class_map", CLASS_MAP), ("confidence", CONFIDENCE))}  # fmt: skip
    for path in paths.values():
        if not path.is_file():
            raise MapOutputError(f"{path} is missing: {out} is incomplete (rerun `lslib predict` into it)")
        if path.name in inv.foreign:
            raise MapOutputError(f"{path} was not written by lslib: {out} does not hold one lslib map")
    if doc.get("pixel_coordinates"):
        raise MapOutputError(
            f"the map in {out} is in pixel coordinates (its input had no CRS): it has no place on a map; "
            "open class_map.tif as an image instead"
        )
    return out, doc, paths["class_map"], paths["confidence"]


def read_colour_table(path: Path) -> dict[int, tuple[int, int, int, int]]:
    """The colour table of band 1 of a GeoTIFF (``{code: rgba}``)."""
    import rasterio

    with rasterio.open(path) as src:
        return {int(k): (int(v[0]), int(v[1]), int(v[2]), int(v[3])) for k, v in src.colormap(1).items()}


def cog_bounds_4326(path: Path) -> Bounds:
    """``((south, west), (north, east))`` of a raster in EPSG:4326 (edges densified)."""
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as src:
        if src.crs is None:
            raise MapOutputError(f"{path} has no CRS: it has no place on a map")
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
    return ((float(south), float(west)), (float(north), float(east)))


def legend_rows(
    sidecar: dict[str, Any], colour_table: dict[int, tuple[int, int, int, int]]
) -> list[tuple[str, str, float]]:
    """``(name, "#rrggbb", percent)`` for each class present in the map (``areas`` with pixels), unknown last.

    Names come from map.json's ``labels`` (``code -> name``), colours from the COG's colour table.
    """
    from lslib.inference.outputs import UNKNOWN_CODE

    labels = {str(v): int(k) for k, v in (sidecar.get("labels") or {}).items() if str(k).isdigit()}
    rows = []
    for i, area in enumerate(sidecar.get("areas") or []):
        if int(area.get("pixels", 0)) <= 0:
            continue
        name = str(area.get("class"))
        code = labels.get(name, UNKNOWN_CODE if name == "unknown" else i)
        r, g, b, _ = colour_table.get(code, (0, 0, 0, 255))
        rows.append((name, f"#{r:02x}{g:02x}{b:02x}", float(area.get("percent", 0.0))))
    return rows


# --- tiles ---------------------------------------------------------------------------------------------------------


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
def _quiet_kwargs() -> Iterator[None]:
    """Leafmap passes its options (``draw_control=``, ``cors_all=``) on to the ipyleaflet widget: traitlets warns."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Passing unrecognized arguments", DeprecationWarning)
        yield


def _add_tiles(m: Any, path: Path, name: str, args: dict[str, dict[str, Any]], **kwargs: Any) -> tuple[Any, Any]:
    """``m.add_raster`` (leafmap -> localtileserver): the layer and its TileClient; records the tile arguments."""
    with _quiet_kwargs():
        m.add_raster(str(path), layer_name=name, zoom_to_layer=False, **kwargs)
    params = getattr(m, "cog_layer_dict", {}).get(name) or {}
    layer = params.get("tile_layer") or m.find_layer(name)
    args[name] = {k: kwargs[k] for k in ("indexes", "colormap", "vmin", "vmax") if k in kwargs}
    return layer, params.get("tile_client") or layer.tile_server


# --- overlays ------------------------------------------------------------------------------------------------------


def _decimated(path: Path, max_side: int) -> xr.DataArray:
    """Band 1 of a raster at most ``max_side`` px a side (nearest; GDAL uses the overviews), on its coarser grid."""
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling

    with rasterio.open(path) as src:
        step = max(1.0, max(src.height, src.width) / max_side)
        h, w = max(1, round(src.height / step)), max(1, round(src.width / step))
        values = src.read(1, out_shape=(h, w), resampling=Resampling.nearest)
        transform = src.transform * Affine.scale(src.width / w, src.height / h)
        crs = src.crs
    ys = transform.f + (np.arange(h) + 0.5) * transform.e
    xs = transform.c + (np.arange(w) + 0.5) * transform.a
    da = xr.DataArray(values, dims=("y", "x"), coords={"y": ys, "x": xs})
    return da.rio.write_crs(crs).rio.write_transform(transform)


def _cog_overlays(class_path: Path, conf_path: Path, colour_table: dict[int, tuple[int, int, int, int]],
                  max_side: int) -> tuple[tuple[bytes, Bounds], tuple[bytes, Bounds]]:  # fmt: skip
    """PNGs (EPSG:4326) of the class map (its colour table) and the confidence, and their bounds."""
    codes = _decimated(class_path, max_side)
    index = R.GridIndex.from_grid(codes, max_side=max_side)
    lut = np.zeros((256, 4), dtype=np.uint8)
    for code, rgba in colour_table.items():
        if 0 <= code < 256:
            lut[code] = rgba
    classes = index.take(lut[np.asarray(codes.values, dtype=np.uint8)], fill=0)
    conf = _decimated(conf_path, max_side)
    if conf.shape != codes.shape:  # both COGs share the grid: same decimated shape
        raise MapOutputError(f"{conf_path} and {class_path} are not on the same grid")
    confidence = R.confidence_rgba(index.take(np.asarray(conf.values, dtype=np.float32), fill=np.nan))
    return (R.png_bytes(classes), index.bounds), (R.png_bytes(confidence), index.bounds)


def _image_overlay(png: bytes, bounds: Bounds, name: str, **kwargs: Any) -> Any:
    from ipyleaflet import ImageOverlay

    return ImageOverlay(url=R.data_url(png), bounds=bounds, name=name, **kwargs)


# --- imagery -------------------------------------------------------------------------------------------------------


@dataclass
class _Imagery:
    label: str
    path: Path | None = None  # tiles: the file and its band indexes (1-based) and DN stretch
    indexes: list[int] | None = None
    vmin: list[float] | None = None
    vmax: list[float] | None = None
    png: bytes | None = None  # overlay
    bounds: Bounds | None = None


def _imagery_source(sidecar: dict[str, Any], imagery: Any, notes: list[str]) -> Any:
    if imagery is not None:
        return imagery
    described = str(sidecar.get("input") or "")
    if described and Path(described).exists():
        return described
    notes.append(
        f"imagery: map.json's input ({described or 'none'}) is not a file or folder here: pass imagery= (a path or "
        "a DataArray) to draw it"
    )
    return None


def _stretch(img: xr.DataArray, bands: list[int]) -> tuple[list[float], list[float]]:
    data = np.asarray(img.isel(band=bands).values, dtype=np.float64)
    valid = np.isfinite(data).all(0)
    if not valid.any():
        raise ValueError("the imagery has no valid pixel")
    lo, hi = np.percentile(data[:, valid], (2, 98), axis=1)
    return [float(v) for v in lo], [float(max(h, v + 1e-6)) for v, h in zip(lo, hi, strict=True)]


def _load_imagery(source: Any, *, tiles: bool, max_side: int, bands: Any, sensor: str | None) -> _Imagery:
    """The imagery as tiles (a single file with overviews, or small) or as a preview overlay."""
    import rasterio

    from lslib.data.images import image_header, open_image, open_preview
    from lslib.mapui.imagery import LAZY_CHUNK

    kw: dict[str, Any] = {"bands": bands, "sensor": sensor}
    with warnings.catch_warnings():  # radiometry assumptions: irrelevant to a display stretch
        warnings.simplefilter("ignore")
        if isinstance(source, xr.DataArray):
            img, header, label = source, None, "DataArray"
        else:
            path = Path(os.fsdecode(source)).expanduser()
            header = image_header(path)
            label = str(path)
            if header is None:  # a band folder, a STAC item: lazy, decimated by strides below
                img = open_image(path, chunks=LAZY_CHUNK, **kw)
            else:
                img = open_preview(header.path, max_side=max_side, **kw)
        if img.rio.crs is None:
            raise ValueError(f"the imagery {label} has no CRS, so it cannot be placed on the map")
        step = max(1, math.ceil(max(img.sizes["y"], img.sizes["x"]) / max_side))
        if step > 1:
            img = img.isel(y=slice(None, None, step), x=slice(None, None, step))
            img = img.rio.write_transform(img.rio.transform(recalc=True))
        img = img.compute() if img.chunks is not None else img
        rgb = R.rgb_bands(img)
        small = header is not None and max(header.height, header.width) <= TILE_IMAGERY_MAX_SIDE
        if tiles and header is not None and (header.overviews or small):
            with rasterio.open(header.path) as src:
                same_bands = src.count == img.sizes["band"]
            if same_bands:
                lo, hi = _stretch(img, rgb)
                scale = float(img.attrs.get("scale") or 1.0)
                offset = float(img.attrs.get("offset") or 0.0)
                dn = [(v - offset) / scale for v in lo], [(v - offset) / scale for v in hi]
                return _Imagery(label, path=header.path, indexes=[b + 1 for b in rgb], vmin=dn[0], vmax=dn[1])
        index = R.GridIndex.from_grid(img, max_side=max_side)
        return _Imagery(label, png=R.png_bytes(index.take(R.rgb_rgba(img), fill=0)), bounds=index.bounds)


# --- the view ------------------------------------------------------------------------------------------------------


def _require_tile_server() -> None:
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


def _add_result_layers(
    m: Any,
    class_path: Path,
    conf_path: Path,
    *,
    tiles: bool,
    colours: dict[int, tuple[int, int, int, int]],
    max_side: int,
    tileable: Callable[[Path], Path],
    tile_args: dict[str, dict[str, Any]],
    layers: dict[str, Any],
    clients: dict[str, Any],
) -> None:
    """Add the classes and (hidden) confidence layers of a map to ``m``, in the results pane.

    With ``tiles`` they are localtileserver tile layers of the COGs (their clients go to ``clients``), else
    ``ImageOverlay`` PNGs of at most ``max_side`` px; the layers go to ``layers`` under their names.
    """
    if tiles:
        layers[CLASSES_LAYER], clients[CLASSES_LAYER] = _add_tiles(
            m, tileable(class_path), CLASSES_LAYER, tile_args, opacity=0.8, pane=RESULTS_PANE
        )
        layers[CONFIDENCE_LAYER], clients[CONFIDENCE_LAYER] = _add_tiles(
            m,
            tileable(conf_path),
            CONFIDENCE_LAYER,
            tile_args,
            colormap="magma",
            vmin=0.0,
            vmax=1.0,
            visible=False,
            opacity=0.85,
            pane=RESULTS_PANE,
        )
    else:
        (cls_png, cls_bounds), (conf_png, conf_bounds) = _cog_overlays(class_path, conf_path, colours, max_side)
        layers[CLASSES_LAYER] = _image_overlay(cls_png, cls_bounds, CLASSES_LAYER, opacity=0.8, pane=RESULTS_PANE)
        layers[CONFIDENCE_LAYER] = _image_overlay(conf_png, conf_bounds, CONFIDENCE_LAYER, opacity=0.85,
                                                  visible=False, pane=RESULTS_PANE)  # fmt: skip
        m.add(layers[CLASSES_LAYER])
        m.add(layers[CONFIDENCE_LAYER])


def view(
    out_dir: str | os.PathLike[str],
    *,
    imagery: xr.DataArray | str | os.PathLike[str] | None = None,
    max_side: int = VIEW_MAX_SIDE,
    tiles: bool = True,
    basemap: bool = False,
    bands: Any = None,
    sensor: str | None = None,
    height: str = "600px",
) -> ResultView:
    """Open a finished ``lslib predict`` output folder on a leafmap map (module docstring: layers, proxies).

    Args:
        out_dir: the ``--out`` folder (``class_map.tif``, ``confidence.tif``, ``map.json``, ``prompts.yaml``).
        imagery: the source image (path or DataArray); default: map.json's ``input`` when it exists here.
        max_side: longest side (px) of the overlays: the imagery preview, and classes/confidence with
            ``tiles=False``.
        tiles: serve classes and confidence (and imagery files with overviews) as tiles with localtileserver;
            ``False``: ``ImageOverlay`` PNGs (no server).
        basemap: show OpenStreetMap under the layers (needs internet in the browser; listed but hidden otherwise).
        bands: band names/wavelengths for imagery files without band metadata (:func:`lslib.data.open_image`).
        sensor: a sensor preset for imagery files without band metadata.
        height: the map's CSS height.

    Raises:
        FileNotFoundError: ``out_dir`` does not exist.
        MapOutputError: not a finished, georeferenced ``lslib predict`` output (the message says why).
        ImportError: ``tiles=True`` without localtileserver (``pip install localtileserver``, or ``tiles=False``).
        ValueError, OSError: an ``imagery=`` that cannot be read (map.json's own input only adds a note).
    """
    import ipywidgets as w
    import leafmap
    from ipyleaflet import LayersControl, WidgetControl

    out, doc, class_path, conf_path = open_output(out_dir)
    if tiles:
        _require_tile_server()
    colours = read_colour_table(class_path)
    bounds = cog_bounds_4326(class_path)
    rows = legend_rows(doc, colours)
    notes: list[str] = []

    (south, west), (north, east) = bounds
    with _quiet_kwargs():
        m = leafmap.Map(
            center=((south + north) / 2, (west + east) / 2), zoom=zoom_for(bounds), height=height,
            draw_control=False, toolbar_control=False, layers_control=False, search_control=False,
        )  # fmt: skip
    m.add_class("lslib-map")
    m.add_class("lslib-result-map")
    m.panes = {**m.panes, **PANES}
    if m.layers:
        m.layers[0].visible = bool(basemap)  # leafmap's OpenStreetMap base layer: no internet -> hidden
    layers: dict[str, Any] = {}
    clients: dict[str, Any] = {}
    tile_args: dict[str, dict[str, Any]] = {}
    scratch: list[tempfile.TemporaryDirectory[str]] = []

    def tileable(path: Path) -> Path:
        """``path``, or a VRT of it with a finite nodata (kept as long as the map widget: its tiles read it)."""
        if not has_nan_nodata(path):
            return path
        if not scratch:
            scratch.append(tempfile.TemporaryDirectory(prefix="lslib-view-"))
            m._lslib_scratch = scratch[0]
        return finite_nodata_vrt(path, Path(scratch[0].name))

    source = _imagery_source(doc, imagery, notes)
    drawn: str | None = None
    if source is not None:
        try:
            img = _load_imagery(source, tiles=tiles, max_side=max_side, bands=bands, sensor=sensor)
        except (ValueError, OSError) as exc:
            if imagery is not None:
                raise
            notes.append(f"imagery: {source} could not be drawn ({exc}); pass imagery= (and bands=/sensor=)")
        else:
            drawn = img.label
            if img.path is not None:
                layers[IMAGERY_LAYER], clients[IMAGERY_LAYER] = _add_tiles(
                    m,
                    tileable(img.path),
                    IMAGERY_LAYER,
                    tile_args,
                    indexes=img.indexes,
                    vmin=img.vmin,
                    vmax=img.vmax,
                    pane=IMAGERY_PANE,
                )
            else:
                assert img.png is not None and img.bounds is not None
                layers[IMAGERY_LAYER] = _image_overlay(img.png, img.bounds, IMAGERY_LAYER, pane=IMAGERY_PANE)
                m.add(layers[IMAGERY_LAYER])

    _add_result_layers(
        m, class_path, conf_path, tiles=tiles, colours=colours, max_side=max_side, tileable=tileable,
        tile_args=tile_args, layers=layers, clients=clients,
    )  # fmt: skip

    legend = w.HTML(R.legend_html(rows, title=f"classes ({out.name})"))
    legend.add_class("lslib-legend")
    m.add(WidgetControl(widget=legend, position="bottomright"))
    m.add(LayersControl(position="topright"))
    return ResultView(out=out, sidecar=doc, map=m, layers=layers, legend=legend, legend_rows=rows,
                      colour_table=colours, bounds=bounds, tiles=tiles, tile_clients=clients, tile_args=tile_args,
                      imagery=drawn,
                      notes=notes)  # fmt: skip
