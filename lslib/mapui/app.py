"""The interactive map: an ipyleaflet Map with the imagery, the zero-shot class overlay and panels around it.

State flow: the AOI is clipped (size-guarded) and encoded once by the predictor (its cache keeps the
embeddings); every valid prompt edit calls :meth:`Predictor.predict` (only the new prompt's text is encoded)
and re-renders the overlay through a precomputed EPSG:4326 index map (:mod:`lslib.mapui.render`). Errors
never raise out of a widget callback: they appear in the status line (``lslib-status``) or the panel.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from time import perf_counter
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
import xarray as xr

from lslib.inference import Prediction, Predictor
from lslib.inference.colours import name_embedder
from lslib.mapui import render as R
from lslib.mapui.aoi import AoiError, bounds_geojson, clip_bounds, clip_geojson, geometry_of
from lslib.mapui.common import AoiSpec, guarded, message_html, zoom_for
from lslib.mapui.imagery import default_scene, load_reference, open_scene
from lslib.mapui.panel_analysis import ComparePanel, InspectPanel, StatsPanel
from lslib.mapui.panel_aoi import AoiPanel
from lslib.mapui.panel_teach import TeachPanel
from lslib.mapui.prompt_editor import PromptEditor
from lslib.prompt_set import PromptSet

_EMPTY: dict[str, Any] = {"type": "FeatureCollection", "features": []}


class MapApp:
    """Zero-shot mapping on a leaflet map with widget-editable class prompts (see ``docs/mapui.md``).

    Args:
        image: ``(band, y, x)`` DataArray with a ``wavelength`` coordinate, or a raster path; ``None``: the
            default real scene (a TerraMesh Sentinel-2 chip, with its Esri/IO LULC label as ``reference``).
        predictor: a :class:`lslib.inference.Predictor` (``None``: one around the released default model,
            :func:`lslib.model.build.load_released`; device = the predictor's, so a GPU hub uses its GPU).
        prompts: PromptSet, names, ``"a, b, c"``, a taxonomy preset key or a prompt-set YAML path (the one
            prompt rule, :func:`lslib.prompt_set.resolve`); classes without a colour are drawn like their nearest
            product class (:func:`lslib.prompt_set.suggest_colours` with the predictor's text encoder), a class
            of the ``reference``'s product first: ``trees`` beside an Esri label is Esri's *Trees* green.
        reference: ``(y, x)`` label with ``attrs["taxonomy"]`` (or a path with ``reference_taxonomy=``).
        aoi: ``(minx, miny, maxx, maxy)`` in the image CRS, a GeoJSON polygon in EPSG:4326, or ``None`` (whole
            image): the headless fallback when nobody draws.
        max_pixels: AOIs above this are refused with a message suggesting ``lslib predict``.
        bands, sensor: band names / sensor for image files without wavelengths (:func:`lslib.data.open_image`).
        scale, offset: physical value = DN x scale + offset, overriding the file's tags and the sensor's
            convention (as ``lslib predict --scale/--offset``).
        basemap: add OpenStreetMap tiles under the imagery (needs internet in the browser; off by default).
    """

    def __init__(
        self,
        image: xr.DataArray | str | Path | None = None,
        predictor: Predictor | None = None,
        prompts: PromptSet | Sequence[str] | str = "esa_worldcover",
        reference: xr.DataArray | str | Path | None = None,
        aoi: AoiSpec = None,
        max_pixels: int = 2_000_000,
        *,
        reference_taxonomy: str | None = None,
        bands: Sequence[str | float] | str | None = None,
        sensor: str | None = None,
        scale: float | None = None,
        offset: float | None = None,
        basemap: bool = False,
        map_height: str = "480px",
    ) -> None:
        from ipyleaflet import GeoJSON, ImageOverlay, LayersControl, Map, ScaleControl

        if image is None:
            image, default_ref = default_scene()
            reference = default_ref if reference is None else reference
        self.source = _source_name(image)
        self.max_pixels = int(max_pixels)
        # one robust stretch for the whole image (as `lslib predict` does): every AOI of it is stretched alike. An
        # image larger than max_pixels is sized from its header and opened lazily: only AOIs are read in full
        self.image, self._preview = open_scene(
            image, max_pixels=self.max_pixels, bands=bands, sensor=sensor, scale=scale, offset=offset
        )
        self.reference = None if reference is None else load_reference(reference, reference_taxonomy)
        self.predictor = predictor if predictor is not None else _default_predictor()
        self.prediction: Prediction | None = None
        self.overlay_png = b""
        self.renders = 0
        self.error: str | None = None
        self.timings: dict[str, float] = {}
        self.legend_rows: list[tuple[str, str | None, float]] = []
        self._aoi_spec: AoiSpec = aoi
        self._aoi: xr.DataArray | None = None
        self._aoi_key: str | None = None
        self._index: R.GridIndex | None = None
        self._hatch: np.ndarray | None = None
        self._probabilities: tuple[PromptSet, xr.DataArray] | None = None
        # widgets
        self.status = w.HTML()
        self.status.add_class("lslib-status")
        self.legend = w.HTML(R.legend_html([]))
        self.legend.add_class("lslib-legend")
        self.editor = PromptEditor(
            prompts,
            on_change=guarded(self.show_error)(self._on_prompts),
            embed=name_embedder(self.predictor.model),
            prefer=None if self.reference is None else str(self.reference.attrs["taxonomy"]),
        )
        backdrop, bounds = self._backdrop()
        self.map = Map(
            center=_centre(bounds),
            zoom=zoom_for(bounds),
            layers=(),
            scroll_wheel_zoom=True,
            layout=w.Layout(height=map_height, width="100%"),
        )
        self.map.add_class("lslib-map")
        if basemap:
            from ipyleaflet import TileLayer

            self.map.add(TileLayer(name="OpenStreetMap", base=True))
        self.imagery_layer = ImageOverlay(url=R.data_url(backdrop), bounds=bounds, name="imagery")
        blank = R.data_url(R.png_bytes(np.zeros((1, 1, 4), dtype=np.uint8)))  # until the first render
        self.class_layer = ImageOverlay(url=blank, bounds=bounds, name="classes", opacity=0.75)
        self.confidence_layer = ImageOverlay(url=blank, bounds=bounds, name="confidence", visible=False, opacity=0.8)
        self.reference_layer: Any = None
        for layer in (self.imagery_layer, self.class_layer, self.confidence_layer):
            self.map.add(layer)
        self._add_reference_layer()
        self.aoi_layer = GeoJSON(data=_EMPTY, name="area of interest", style={"color": "#ff00ff", "fill": False})
        self.map.add(self.aoi_layer)
        self.map.add(LayersControl(position="topright"))
        self.map.add(ScaleControl(position="bottomleft"))
        self.opacity = w.FloatSlider(value=0.75, min=0.0, max=1.0, step=0.05, description="opacity")
        self.opacity.observe(lambda c: setattr(self.class_layer, "opacity", c["new"]), names="value")
        self.show_confidence = w.Checkbox(value=False, description="confidence layer", indent=False)
        self.show_confidence.observe(guarded(self.show_error)(self._on_confidence), names="value")
        self.aoi_panel = AoiPanel(self)
        self.map.add(self.aoi_panel.draw)
        self.compare = ComparePanel(self)
        self.inspect = InspectPanel(self)
        self.stats = StatsPanel(self)
        self.teach = TeachPanel(self)
        self.map.on_interaction(guarded(self.show_error)(self._on_interaction))
        self.tabs = w.Tab(
            children=[
                self.editor.widget,
                self.aoi_panel.widget,
                self.compare.widget,
                w.VBox([self.inspect.widget, self.teach.widget]),
                self.stats.widget,
            ]
        )
        for i, title in enumerate(["prompts", "area & imagery", "compare", "inspect & teach", "stats & export"]):
            self.tabs.set_title(i, title)
        self.tabs.observe(guarded(self.show_error)(lambda _c: self._refresh_panels()), names="selected_index")
        side = w.VBox([self.legend, self.opacity, self.show_confidence], layout=w.Layout(width="260px"))
        self.widget = w.VBox([self.status, w.HBox([w.Box([self.map], layout=w.Layout(flex="1")), side]), self.tabs])
        self.widget.add_class("lslib-app")
        self._set_status("ready: call app.run() or edit a prompt")

    # --- display -------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # --- public API ----------------------------------------------------------------------------
    def run(self) -> Prediction | None:
        """Encode the AOI (once; cached by the predictor) and render the map for the current prompts."""
        try:
            self._ensure_aoi()
        except AoiError as exc:
            self.show_error(str(exc))
            return self.prediction
        if self.teach.points:
            self.teach.refit()  # the teaching points re-teach the map on this AOI
            pred = self.prediction
        else:
            pred = self._render(self.editor.prompts)
        self._outline()
        return pred

    def set_aoi(self, aoi: AoiSpec) -> bool:
        """New AOI (bounds in the image CRS, GeoJSON in EPSG:4326, or None = whole image) and re-run.

        A refused AOI (too large, outside the image) shows the reason and keeps the current one: False.
        """
        try:
            clipped = self._clip(aoi)
        except AoiError as exc:
            self.show_error(str(exc))
            return False
        self._aoi_spec, self._aoi, self._aoi_key, self._index = aoi, clipped, None, None
        self.run()
        return True

    def _outline(self) -> None:
        """Draw the AOI outline: the drawn polygon, or the rectangle of the AOI's overlay."""
        if isinstance(self._aoi_spec, Mapping):
            geometry = geometry_of(self._aoi_spec)
        elif self._aoi_spec is not None and self._index is not None:
            (south, west), (north, east) = self._index.bounds
            geometry = bounds_geojson(south, west, north, east)
        else:
            self.aoi_layer.data = _EMPTY
            return
        self.aoi_layer.data = {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": {}, "geometry": geometry}],
        }

    def set_image(
        self,
        image: xr.DataArray | str | Path,
        *,
        source: str | None = None,
        reference: xr.DataArray | str | Path | None = None,
        reference_taxonomy: str | None = None,
        bands: Sequence[str | float] | str | None = None,
        sensor: str | None = None,
        scale: float | None = None,
        offset: float | None = None,
    ) -> None:
        """Replace the imagery (the AOI becomes the whole image) and re-run.

        A path is opened as by ``MapApp``
        (``bands``/``sensor``/``scale``/``offset`` as there; a large file lazily, only AOIs are read).
        """
        self.image, self._preview = open_scene(
            image, max_pixels=self.max_pixels, bands=bands, sensor=sensor, scale=scale, offset=offset
        )
        self.source = source or _source_name(image)
        if reference is not None:
            self.reference = load_reference(reference, reference_taxonomy)
        backdrop, bounds = self._backdrop()
        self.imagery_layer.bounds, self.imagery_layer.url = bounds, R.data_url(backdrop)
        self.map.center, self.map.zoom = _centre(bounds), zoom_for(bounds)
        self._add_reference_layer()
        self._aoi_spec, self._aoi, self._aoi_key, self._index = None, None, None, None
        self.run()

    def set_reference(self, reference: xr.DataArray | str | Path, taxonomy: str | None = None) -> None:
        """Replace the reference label (a DataArray, or a path read with ``taxonomy``) and its overlay."""
        self.reference = load_reference(reference, taxonomy)
        self._add_reference_layer()

    def probabilities(self) -> xr.DataArray:
        """``(class, y, x)`` fused scores of the current prompts on the AOI (computed once per prompt set)."""
        ps = self.teach.taught or self.editor.prompts
        if self._probabilities is None or self._probabilities[0] != ps:
            self._ensure_aoi()
            self._ensure_current()
            pred = self.predictor.predict(ps, probabilities=True)
            assert pred.probabilities is not None
            probs = pred.probabilities.rio.write_crs(self.image.rio.crs)
            self._probabilities = (ps, probs.rio.write_transform(pred.class_map.rio.transform()))
        return self._probabilities[1]

    def areas_table(self) -> pd.DataFrame:
        """Per-class area of the current map: ``class, pixels, hectares, percent`` (classes present only)."""
        from lslib.mapui.analysis import areas_table

        return areas_table(self._need_prediction())

    def agreement(self, overrides: Mapping[str, str | None] | None = None) -> dict[str, Any]:
        """Agreement with the reference (see :func:`lslib.mapui.analysis.agreement`).

        Args:
            overrides: ``{prompt name: reference class name or None}`` replacing the automatic matching.
        """
        from lslib.mapui.analysis import agreement

        if self.reference is None:
            raise ValueError("no reference label: pass reference= (a label DataArray or path) to MapApp")
        return agreement(self._need_prediction(), self.reference, self.predictor.text_embeddings, overrides)

    def export(self, folder: str | Path, *, overwrite: bool = False) -> dict[str, Path]:
        """Write the classes COG, confidence COG, prompts.yaml and polygons.gpkg into ``folder``.

        A folder holding another run's outputs (an ``lslib predict`` map, files this export would replace that
        an earlier export did not write) is refused unless ``overwrite=True``: see
        :func:`lslib.mapui.analysis.export`.
        """
        from lslib.mapui.analysis import export

        pred = self._need_prediction()
        return export(pred, pred.prompts, folder, overwrite=overwrite)

    # --- what the panels use ---------------------------------------------------------------------
    def ensure_encoded(self) -> None:
        """Clip the AOI and make it the predictor's current image (encoded once, then cached)."""
        self._ensure_aoi()
        self._ensure_current()

    def render(self, prompts: PromptSet) -> Prediction:
        """Map the AOI with ``prompts`` (zero-shot or taught) and update overlay, legend and panels."""
        return self._render(prompts)

    def contains(self, x: float, y: float) -> bool:
        """Whether ``(x, y)`` in the image CRS falls on a pixel of the current AOI."""
        self._ensure_aoi()
        assert self._aoi is not None
        col, row = ~self._aoi.rio.transform() * (x, y)
        return 0 <= row < self._aoi.sizes["y"] and 0 <= col < self._aoi.sizes["x"]

    def zero_shot_png(self) -> str:
        """The zero-shot map of the current prompts on the AOI as a PNG data URL (split view of teach mode)."""
        self.ensure_encoded()
        prompts = self.editor.prompts
        return R.data_url(self._class_png(self.predictor.predict(prompts), prompts, self.renders))

    @property
    def aoi(self) -> xr.DataArray:
        """The clipped AOI image (what the predictor encodes)."""
        self._ensure_aoi()
        assert self._aoi is not None
        return self._aoi

    @property
    def overlay_bounds(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """``((south, west), (north, east))`` of the class overlay."""
        return tuple(tuple(float(v) for v in c) for c in self.class_layer.bounds)  # type: ignore[return-value]

    def show_error(self, text: str) -> None:
        """Show ``text`` as an error in the status line (the map stays as it is)."""
        self.error = text
        self._set_status(None)

    # --- internals -----------------------------------------------------------------------------
    def _need_prediction(self) -> Prediction:
        if self.prediction is None:
            self.run()
        if self.prediction is None:
            raise ValueError(self.error or "no map yet: call app.run()")
        return self.prediction

    def _clip(self, aoi: AoiSpec) -> xr.DataArray:
        """The AOI, size-checked before any pixel is read, then read in full (a lazy image: its chunks only)."""
        if aoi is None:
            from lslib.mapui.aoi import check_size

            check_size(self.image.sizes["y"], self.image.sizes["x"], self.max_pixels, self.source)
            clipped = self.image
        elif isinstance(aoi, Mapping):
            clipped = clip_geojson(self.image, aoi, max_pixels=self.max_pixels, source=self.source)
        else:
            clipped = clip_bounds(self.image, tuple(aoi), max_pixels=self.max_pixels, source=self.source)  # type: ignore[arg-type]
        return clipped.compute() if clipped.chunks is not None else clipped

    def _ensure_aoi(self) -> None:
        if self._aoi is None:
            self._aoi = self._clip(self._aoi_spec)
        if self._index is None:
            self._index = R.GridIndex.from_grid(self._aoi)
            self._hatch = R.hatch_mask(self._index.shape)
        if self._aoi_key is None:
            self._aoi_key = self.predictor.image_key(self._aoi)

    def _ensure_current(self) -> None:
        """Make our AOI the predictor's current image, encoding it only if not cached (shown in the status)."""
        assert self._aoi is not None and self._aoi_key is not None
        if self.predictor.current_key == self._aoi_key:
            return
        before = self.predictor.stats["image_encodes"]
        h, wd, nb = self._aoi.sizes["y"], self._aoi.sizes["x"], self._aoi.sizes["band"]
        self._set_status(f"encoding the AOI ({h} x {wd} px, {nb} bands) on {self.predictor.device} …")
        t0 = perf_counter()
        self.predictor.set_image(self._aoi, key=self._aoi_key)
        if self.predictor.stats["image_encodes"] > before:
            self.timings["encode"] = perf_counter() - t0

    def _on_prompts(self, prompts: PromptSet) -> None:
        if self._aoi is None or self.prediction is None:
            self.run()  # first edit before run(): encode the AOI first
        elif self.teach.points:
            self.teach.refit()  # the points re-teach the edited classes (points of removed classes set aside)
        else:
            self._render(prompts)

    def _render(self, prompts: PromptSet) -> Prediction:
        t0 = perf_counter()
        self._ensure_aoi()
        self._ensure_current()
        t1 = perf_counter()
        pred = self.predictor.predict(prompts)
        t2 = perf_counter()
        png = self._class_png(pred, prompts, self.renders + 1)
        t3 = perf_counter()
        assert self._index is not None
        self.prediction, self._probabilities, self.overlay_png = pred, None, png
        self.renders += 1
        self.error = None
        self.class_layer.bounds = self._index.bounds
        self.class_layer.url = R.data_url(png)
        if self.show_confidence.value:
            self._render_confidence()
        self._update_legend(pred, prompts)
        self.timings.update(predict=t2 - t1, overlay=t3 - t2, total=perf_counter() - t0)
        self._set_status(f"{len(prompts)} classes · {1000 * self.timings['total']:.0f} ms")
        self.inspect.refresh()
        self._refresh_panels()
        return pred

    def _class_png(self, pred: Prediction, prompts: PromptSet, number: int) -> bytes:
        """Class map -> EPSG:4326 display grid -> LUT colours -> PNG (the per-edit hot path)."""
        assert self._index is not None
        valid = np.isfinite(np.asarray(pred.confidence.values))
        codes = self._index.take(R.class_codes(np.asarray(pred.class_map.values), valid), fill=0)
        rgba = R.colourise(codes, R.class_lut(prompts.colours), self._hatch)
        return R.png_bytes(rgba, text={"lslib-render": str(number)})

    def _render_confidence(self) -> None:
        if self.prediction is None or self._index is None:
            return
        conf = self._index.take(np.asarray(self.prediction.confidence.values, dtype=np.float32), fill=np.nan)
        self.confidence_layer.bounds = self._index.bounds
        self.confidence_layer.url = R.data_url(R.png_bytes(R.confidence_rgba(conf)))

    def _on_confidence(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self._render_confidence()
        self.confidence_layer.visible = bool(change["new"])

    def _update_legend(self, pred: Prediction, prompts: PromptSet) -> None:
        rows: list[tuple[str, str | None, float]] = []
        colours = dict(zip(prompts.names, prompts.colours, strict=True))
        for r in pred.areas():
            if r["pixels"] > 0:
                rows.append((r["class"], colours.get(r["class"]), float(r["percent"])))
        self.legend_rows = rows
        self.legend.value = R.legend_html(rows, title="classes present")

    def _refresh_panels(self) -> None:
        """Refresh the panel on screen (stats, compare); the others refresh when their tab is opened."""
        if self.prediction is None:
            return
        if self.tabs.selected_index == 2:
            self.compare.refresh()
        elif self.tabs.selected_index == 4:
            self.stats.refresh()

    def _set_status(self, text: str | None) -> None:
        err = message_html(self.error) if self.error else ""
        info = f" · {html.escape(text)}" if text else ""
        self.status.value = f"<div><b>rendered {self.renders}</b>{info}</div>{err}"

    def _on_interaction(self, **kwargs: Any) -> None:
        if kwargs.get("type") == "click" and kwargs.get("coordinates"):
            lat, lon = kwargs["coordinates"]
            self.inspect.click(float(lat), float(lon))

    def _backdrop(self) -> tuple[bytes, tuple[tuple[float, float], tuple[float, float]]]:
        """RGB of the whole image (strided to at most ~1024 px a side) on its EPSG:4326 grid, as PNG.

        A large file draws its decimated preview (:func:`lslib.mapui.imagery.open_scene`); a lazy array is
        strided chunk by chunk: the full raster is never in memory.
        """
        img = self._preview if self._preview is not None else self.image
        step = max(1, math.ceil(max(img.sizes["y"], img.sizes["x"]) / R.BACKDROP_MAX_SIDE))
        if step > 1:
            img = img.isel(y=slice(None, None, step), x=slice(None, None, step))
            img = img.rio.write_transform(img.rio.transform(recalc=True))
        index = R.GridIndex.from_grid(img, max_side=R.BACKDROP_MAX_SIDE)
        return R.png_bytes(index.take(R.rgb_rgba(img), fill=0)), index.bounds

    def _add_reference_layer(self) -> None:
        from ipyleaflet import ImageOverlay

        from lslib.taxonomy import get_taxonomy

        if self.reference_layer is not None and self.reference_layer in self.map.layers:
            self.map.remove(self.reference_layer)
        self.reference_layer = None
        if self.reference is None:
            return
        tax = get_taxonomy(str(self.reference.attrs["taxonomy"]))
        self.editor.prefer = tax.key  # classes added from now on take the reference's colours
        codes = np.asarray(self.reference.values).astype(np.int64)
        lut = np.zeros((max(int(codes.max()), max(tax.codes)) + 1, 4), dtype=np.uint8)
        for code, colour in tax.colormap().items():
            if code < len(lut):
                lut[code] = colour
        index = R.GridIndex.from_grid(self.reference, max_side=R.BACKDROP_MAX_SIDE)
        rgba = index.take(lut[np.clip(codes, 0, len(lut) - 1)], fill=0)
        self.reference_layer = ImageOverlay(
            url=R.data_url(R.png_bytes(rgba)),
            bounds=index.bounds,
            name=f"reference ({tax.key})",
            visible=True,
            opacity=0.75,
        )
        self.map.add(self.reference_layer)
        self.reference_layer.visible = False  # listed in the layer control; shown in the split view


def _default_predictor() -> Predictor:
    """A predictor around the released default model: the map app chooses it, the engine never does."""
    from lslib.model.build import load_released

    return Predictor(load_released())


def _source_name(image: Any) -> str | None:
    """How messages name the image: its path (a bytes path decoded as the OS does), None for an array."""
    if image is None or isinstance(image, xr.DataArray):
        return None
    return os.fsdecode(image) if isinstance(image, bytes | os.PathLike) else str(image)


def _centre(bounds: tuple[tuple[float, float], tuple[float, float]]) -> tuple[float, float]:
    (south, west), (north, east) = bounds
    return ((south + north) / 2, (west + east) / 2)


def quick_map(
    image: xr.DataArray | str | Path | None = None,
    prompts: PromptSet | Sequence[str] | str = "esa_worldcover",
    **kwargs: Any,
) -> MapApp:
    """One cell: build a :class:`MapApp` (default real scene and trained default model), run it, return it."""
    app = MapApp(image=image, prompts=prompts, **kwargs)
    app.run()
    return app
