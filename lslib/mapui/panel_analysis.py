"""Compare, inspect and stats/export panels.

Each is a widget box with private handlers calling the app
(and through it the predictor), never the model; the computations live in :mod:`lslib.mapui.analysis`.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import ipywidgets as w

from lslib.mapui.common import PanelHost, frame_html, guarded, message_html, show_figure


class ComparePanel:
    """Split map against a reference layer, crosswalk-based agreement table and confusion matrix."""

    def __init__(self, app: PanelHost) -> None:
        self._app = app
        self.result: dict[str, Any] | None = None
        self.figure: Any = None
        self._split: Any = None
        self.message = w.HTML()
        safe = guarded(self._error)
        self._split_box = w.Checkbox(value=False, description="split view (map | reference)", indent=False)
        self._split_box.observe(safe(self._on_split), names="value")
        self._button = w.Button(description="compute agreement", icon="balance-scale")
        self._button.on_click(safe(lambda _b: self.refresh()))
        self._path = w.Text(placeholder="reference GeoTIFF (labels)", layout=w.Layout(width="300px"))
        from lslib.prompt_set import presets

        self._taxonomy = w.Dropdown(
            options=presets(),
            value="terramesh_lulc" if "terramesh_lulc" in presets() else presets()[0],
            description="taxonomy",
        )
        self._load = w.Button(description="load reference", icon="folder-open")
        self._load.on_click(safe(self._on_load))
        self.table = w.HTML()
        self.output = w.Output()
        self.widget = w.VBox(
            [
                w.HTML(
                    "<small>Agreement of the map with a reference label through the class crosswalk; free-text "
                    "prompts are matched to the reference class nearest in the text encoder's space.</small>"
                ),
                w.HBox([self._split_box, self._button]),
                w.HBox([self._path, self._taxonomy, self._load]),
                self.message,
                self.table,
                self.output,
            ]
        )
        self.widget.add_class("lslib-compare-panel")

    def split(self, on: bool = True) -> None:
        """Show (or hide) the split view: the zero-shot map left, the reference layer right.

        Same code path as ticking the checkbox; needs a reference (``app.set_reference``).
        """
        self._split_box.value = bool(on)

    @property
    def split_active(self) -> bool:
        """Whether the split view (zero-shot map | reference) is shown."""
        return self._split is not None

    def _error(self, text: str) -> None:
        self.message.value = message_html(text)

    def refresh(self) -> dict[str, Any] | None:
        """Recompute the agreement for the current map (no-op without a reference or a map)."""
        if self._app.reference is None or self._app.prediction is None:
            self.message.value = message_html("load a reference label and run the map first", "info")
            return None
        res = self._app.agreement()
        self.result = res
        mapping = res["mapping"].copy()
        per = res["per_class"].reset_index()[["name", "iou", "f1", "recall", "precision", "support"]]
        self.table.value = (
            f"<b>OA {res['oa']:.3f} · mIoU {res['miou']:.3f}</b> over {res['pixels']:,} labelled pixels "
            f"({html.escape(res['taxonomy'])})<br><b>prompt → reference class</b>{frame_html(mapping)}"
            f"<b>per reference class</b>{frame_html(per)}"
        )
        self.figure = res["confusion"].plot(names=res["names"])
        show_figure(self.output, self.figure)
        self.message.value = ""
        return res

    def _on_split(self, change: dict[str, Any]) -> None:
        from ipyleaflet import SplitMapControl

        m = self._app.map
        ref = self._app.reference_layer
        if ref is None:
            self._split_box.value = False
            raise ValueError("no reference layer to compare with: load a reference first")
        if change["new"]:
            for layer in (self._app.class_layer, ref):
                if layer in m.layers:
                    m.remove(layer)
            ref.visible = True
            self._split = SplitMapControl(left_layer=self._app.class_layer, right_layer=ref)
            m.add(self._split)
        elif self._split is not None:
            m.remove(self._split)
            self._split = None
            for layer in (self._app.class_layer, ref):
                if layer not in m.layers:
                    m.add(layer)

    def _on_load(self, _button: object) -> None:
        path = self._path.value.strip()
        if not path or not Path(path).exists():
            raise ValueError(f"no reference file at {path!r}")
        self._app.set_reference(path, taxonomy=self._taxonomy.value)
        self.refresh()


class InspectPanel:
    """Click the map: class scores at that pixel, or (label mode) add a reference point of the chosen class."""

    def __init__(self, app: PanelHost) -> None:
        from lslib.mapui.analysis import PointLabels

        self._app = app
        self.labels = PointLabels()
        self.last_scores: dict[str, float] | None = None
        self.last_accuracy: dict[str, Any] | None = None
        self.message = w.HTML()
        self._mode = w.ToggleButtons(options=["scores", "label points", "teach"], value="scores")
        self._class = w.Dropdown(options=[], description="class")
        self._clear = w.Button(description="clear points", icon="eraser")
        self._clear.on_click(guarded(self._error)(lambda _b: self.clear()))
        self.scores_html = w.HTML("<small>click the map to see every prompt's score at that pixel</small>")
        self.accuracy_html = w.HTML()
        self.widget = w.VBox(
            [w.HBox([self._mode, self._class, self._clear]), self.message, self.scores_html, self.accuracy_html]
        )
        self.widget.add_class("lslib-inspect-panel")
        self._markers: Any = None

    def _error(self, text: str) -> None:
        self.message.value = message_html(text)

    @property
    def mode(self) -> str:
        """What a click on the map does: ``"scores"``, ``"label points"`` or ``"teach"``."""
        return str(self._mode.value)

    def set_mode(self, mode: str, class_name: str | None = None) -> None:
        """Set what a click on the map does.

        ``"scores"``, ``"label points"`` (clicks add reference points of ``class_name``) or ``"teach"``
        (clicks teach the map ``class_name`` there: :class:`lslib.mapui.panel_teach.TeachPanel`).
        """
        self._mode.value = mode
        if class_name is not None:
            self._class.value = class_name

    def click(self, lat: float, lon: float) -> None:
        """What a map click does in the current mode (errors shown in the panel)."""
        guarded(self._error)(self._click)(lat, lon)

    def _click(self, lat: float, lon: float) -> None:
        if self.mode in ("label points", "teach"):
            if not self._class.value:
                raise ValueError("choose the class of the point first")
            if self.mode == "teach":
                self._app.teach.teach_at(lat, lon, str(self._class.value))
                self.message.value = ""
            else:
                self.label_at(lat, lon, str(self._class.value))
        else:
            self.scores_at(lat, lon)

    def scores_at(self, lat: float, lon: float) -> dict[str, float]:
        """Every prompt's fused score at the pixel under ``(lat, lon)`` (from the cached probabilities)."""
        from lslib.mapui.aoi import lonlat_to_pixel

        probs = self._app.probabilities()
        pix = lonlat_to_pixel(probs, lat, lon)
        if pix is None:
            raise ValueError("that point is outside the area of interest")
        values = probs.values[:, pix[0], pix[1]]
        scores = {str(n): float(v) for n, v in zip(probs["class"].values, values, strict=True)}
        self.last_scores = scores
        k = int(self._app.prediction.class_map.values[pix]) if self._app.prediction is not None else -1
        winner = self._app.editor.prompts.names[k] if k >= 0 else "unknown"
        rows = "".join(
            f"<tr><td>{html.escape(n)}</td><td>{'' if math.isnan(s) else f'{s:.3f}'}</td></tr>"
            for n, s in sorted(scores.items(), key=lambda kv: -kv[1] if not math.isnan(kv[1]) else 0.0)
        )
        self.scores_html.value = (
            f"<b>pixel {pix[0]}, {pix[1]} ({lat:.5f}, {lon:.5f}): {html.escape(winner)}</b>"
            f"<table class='lslib-table'>{rows}</table>"
        )
        self.message.value = ""
        return scores

    def label_at(self, lat: float, lon: float, class_name: str) -> dict[str, Any]:
        """Add a reference point of ``class_name`` at ``(lat, lon)``; returns the updated accuracy."""
        from pyproj import Transformer

        if class_name not in self._app.editor.prompts.names:
            raise ValueError(f"{class_name!r} is not one of the prompts {self._app.editor.prompts.names}")
        x, y = Transformer.from_crs("EPSG:4326", self._app.image.rio.crs, always_xy=True).transform(lon, lat)
        self.labels.add(x, y, class_name)
        self._add_marker(lat, lon, class_name)
        return self.refresh()

    def _add_marker(self, lat: float, lon: float, class_name: str) -> None:
        from ipyleaflet import CircleMarker, LayerGroup

        if self._markers is None:
            self._markers = LayerGroup(name="reference points")
            self._app.map.add(self._markers)
        colours = dict(zip(self._app.editor.prompts.names, self._app.editor.prompts.colours, strict=True))
        self._markers.add(
            CircleMarker(
                location=(lat, lon),
                radius=5,
                color="#ffffff",
                weight=1,
                fill_opacity=1.0,
                fill_color=colours.get(class_name, "#000000"),
            )
        )

    def clear(self) -> None:
        """Remove every labelled reference point (and its marker) and refresh the accuracy."""
        self.labels.clear()
        if self._markers is not None:
            self._markers.clear_layers()
        self.refresh()

    def refresh(self) -> dict[str, Any]:
        """Update the class list and the point accuracy for the current prompts."""
        names = self._app.editor.prompts.names
        current = self._class.value
        self._class.options = names
        self._class.value = current if current in names else (names[0] if names else None)
        pred = self._app.prediction
        if pred is None or not self.labels.points:
            self.accuracy_html.value = "<small>label points: choose a class, switch to 'label points', click</small>"
            self.last_accuracy = None
            return {"n": 0, "oa": math.nan, "per_class": {}, "stale": 0, "outside": 0}
        acc = self.labels.accuracy(pred)
        self.last_accuracy = acc
        rows = "".join(
            f"<tr><td>{html.escape(n)}</td><td>{e['correct']}/{e['n']}</td><td>{e['accuracy']:.2f}</td></tr>"
            for n, e in acc["per_class"].items()
        )
        oa = "–" if math.isnan(acc["oa"]) else f"{acc['oa']:.3f}"
        extra = f" ({acc['stale']} points of removed classes ignored)" if acc["stale"] else ""
        self.accuracy_html.value = (
            f"<b>points: {acc['n']} · OA {oa}</b>{html.escape(extra)}<table class='lslib-table'>{rows}</table>"
        )
        return acc


class StatsPanel:
    """Per-class areas (table + bar chart) and export of the map (COGs, prompts YAML, GeoPackage)."""

    def __init__(self, app: PanelHost) -> None:
        self._app = app
        self.figure: Any = None
        self.message = w.HTML()
        safe = guarded(self._error)
        self._update = w.Button(description="update areas", icon="refresh")
        self._update.on_click(safe(lambda _b: self.refresh()))
        self._folder = w.Text(value="lslib-map-export", placeholder="export folder", layout=w.Layout(width="300px"))
        self._export = w.Button(description="export", icon="download")
        self._export.on_click(safe(lambda _b: self._on_export()))
        self.table = w.HTML()
        self.output = w.Output()
        self.widget = w.VBox(
            [w.HBox([self._update]), self.table, self.output, w.HBox([self._folder, self._export]), self.message]
        )
        self.widget.add_class("lslib-stats-panel")

    def _error(self, text: str) -> None:
        self.message.value = message_html(text)

    def refresh(self) -> Any:
        """Recompute the areas table and chart for the current map; returns the table (or None)."""
        from lslib.mapui.analysis import areas_figure

        if self._app.prediction is None:
            return None
        table = self._app.areas_table()
        self.table.value = frame_html(table)
        ps = self._app.editor.prompts
        self.figure = areas_figure(table, dict(zip(ps.names, ps.colours, strict=True)))
        show_figure(self.output, self.figure)
        return table

    def _on_export(self) -> None:
        paths = self._app.export(self._folder.value.strip() or "lslib-map-export")
        listing = ", ".join(p.name for p in paths.values())
        self.message.value = message_html(f"wrote {listing} to {Path(next(iter(paths.values()))).parent}", "ok")
