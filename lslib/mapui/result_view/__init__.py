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

Modules, in reading order: :mod:`~.result` (:func:`view`, :class:`ResultView`, the layers), :mod:`~.output`
(checking the folder, colour table, bounds, legend), :mod:`~.tiles` (localtileserver, proxies, NaN nodata),
:mod:`~.overlays` (PNG overlays without a tile server) and :mod:`~.imagery` (the source image under the map).
"""

from __future__ import annotations

from lslib.mapui.result_view.imagery import TILE_IMAGERY_MAX_SIDE
from lslib.mapui.result_view.output import MapOutputError, legend_rows, open_output, read_colour_table
from lslib.mapui.result_view.result import (
    CLASSES_LAYER,
    CONFIDENCE_LAYER,
    IMAGERY_LAYER,
    IMAGERY_PANE,
    RESULTS_PANE,
    VIEW_MAX_SIDE,
    ResultView,
    view,
)
from lslib.mapui.result_view.tiles import FINITE_NODATA, configure_tile_proxy, finite_nodata_vrt

__all__ = [
    "CLASSES_LAYER",
    "CONFIDENCE_LAYER",
    "FINITE_NODATA",
    "IMAGERY_LAYER",
    "IMAGERY_PANE",
    "RESULTS_PANE",
    "TILE_IMAGERY_MAX_SIDE",
    "VIEW_MAX_SIDE",
    "MapOutputError",
    "ResultView",
    "configure_tile_proxy",
    "finite_nodata_vrt",
    "legend_rows",
    "open_output",
    "read_colour_table",
    "view",
]
