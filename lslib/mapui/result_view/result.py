"""The map of a finished ``lslib predict`` output (:func:`view`) and what it built (:class:`ResultView`)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr

from lslib.mapui import render as R
from lslib.mapui.common import zoom_for
from lslib.mapui.result_view.imagery import imagery_source, load_imagery
from lslib.mapui.result_view.output import Bounds, cog_bounds_4326, legend_rows, open_output, read_colour_table
from lslib.mapui.result_view.overlays import cog_overlays, image_overlay
from lslib.mapui.result_view.tiles import (
    add_tiles,
    finite_nodata_vrt,
    has_nan_nodata,
    quiet_kwargs,
    require_tile_server,
)

CLASSES_LAYER = "classes"
CONFIDENCE_LAYER = "confidence"
IMAGERY_LAYER = "imagery"
#: map panes (Leaflet z-index): imagery above any basemap (tilePane, 200), results above the imagery and below
#: Leaflet's overlayPane (400), whether each layer is a tile layer or an ImageOverlay
IMAGERY_PANE, RESULTS_PANE = "lslib-imagery", "lslib-results"
PANES = {IMAGERY_PANE: {"zIndex": 250, "pointerEvents": "none"}, RESULTS_PANE: {"zIndex": 300, "pointerEvents": "none"}}
#: default longest side of the overlays (the imagery preview; classes/confidence with ``tiles=False``)
VIEW_MAX_SIDE = 2048


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


def add_result_layers(
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
        layers[CLASSES_LAYER], clients[CLASSES_LAYER] = add_tiles(
            m, tileable(class_path), CLASSES_LAYER, tile_args, opacity=0.8, pane=RESULTS_PANE
        )
        layers[CONFIDENCE_LAYER], clients[CONFIDENCE_LAYER] = add_tiles(
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
        (cls_png, cls_bounds), (conf_png, conf_bounds) = cog_overlays(class_path, conf_path, colours, max_side)
        layers[CLASSES_LAYER] = image_overlay(cls_png, cls_bounds, CLASSES_LAYER, opacity=0.8, pane=RESULTS_PANE)
        layers[CONFIDENCE_LAYER] = image_overlay(conf_png, conf_bounds, CONFIDENCE_LAYER, opacity=0.85,
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
        require_tile_server()
    colours = read_colour_table(class_path)
    bounds = cog_bounds_4326(class_path)
    rows = legend_rows(doc, colours)
    notes: list[str] = []

    (south, west), (north, east) = bounds
    with quiet_kwargs():
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

    source = imagery_source(doc, imagery, notes)
    drawn: str | None = None
    if source is not None:
        try:
            img = load_imagery(source, tiles=tiles, max_side=max_side, bands=bands, sensor=sensor)
        except (ValueError, OSError) as exc:
            if imagery is not None:
                raise
            notes.append(f"imagery: {source} could not be drawn ({exc}); pass imagery= (and bands=/sensor=)")
        else:
            drawn = img.label
            if img.path is not None:
                layers[IMAGERY_LAYER], clients[IMAGERY_LAYER] = add_tiles(
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
                layers[IMAGERY_LAYER] = image_overlay(img.png, img.bounds, IMAGERY_LAYER, pane=IMAGERY_PANE)
                m.add(layers[IMAGERY_LAYER])

    add_result_layers(
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
