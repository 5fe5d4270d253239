"""Teach mode: clicks label pixels of a class and the overlay is re-mapped from them after every click.

The panel keeps the points (image CRS), fits the correction on the cached embedding
(:meth:`lslib.inference.Predictor.adapt`, ``docs/teach.md``) and asks the app to render the taught prompt set;
the accuracy it shows is *held out* (each point predicted by a correction fitted without it), beside the
zero-shot map's accuracy at the same points. Undo, clear, per-class counts, a split view zero-shot | taught
and saving the taught prompt set (YAML + safetensors sidecar, for ``lslib predict --prompt-set``).
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from time import perf_counter
from typing import Any

import ipywidgets as w

from lslib.inference.teach import DEFAULT_STRENGTH, Point, TeachError, save_taught
from lslib.mapui.common import PanelHost, guarded, message_html
from lslib.prompt_set import PromptSet

#: points are refitted on every click; this many at most in one session (then: train a model)
MAX_TEACH_POINTS = 500
#: leave-one-out accuracy up to this many points, 5-fold beyond (every click refits: keep it fast)
LOO_BELOW = 10


class TeachPanel:
    """Teaching state and widgets of a :class:`~lslib.mapui.app.MapApp` (``app.teach``)."""

    def __init__(self, app: PanelHost) -> None:
        self._app = app
        self.points: list[Point] = []
        self.taught: PromptSet | None = None
        self.last_accuracy: dict[str, Any] | None = None
        self.notes: list[str] = []
        self.changed: float = math.nan  # share of the AOI's valid pixels the last refit changed
        self.timings: dict[str, float] = {}
        self._markers: Any = None
        self._marker_list: list[Any] = []
        self._zero_layer: Any = None
        self._split: Any = None
        self.message = w.HTML()
        self.counts_html = w.HTML()
        self.accuracy_html = w.HTML()
        safe = guarded(self._error)
        self._undo = w.Button(description="undo", icon="undo", layout=w.Layout(width="90px"))
        self._undo.on_click(safe(lambda _b: self.undo()))
        self._clear = w.Button(description="clear teaching", icon="eraser", layout=w.Layout(width="140px"))
        self._clear.on_click(safe(lambda _b: self.clear()))
        self.strength = w.FloatLogSlider(value=DEFAULT_STRENGTH, base=10, min=-2, max=1, step=0.25,
                                         description="strength", readout_format=".2f")
        self.strength.observe(safe(lambda _c: self.refit()), names="value")
        self._split_box = w.Checkbox(value=False, description="split view (zero-shot | taught)", indent=False)
        self._split_box.observe(safe(self._on_split), names="value")
        self._path = w.Text(value="taught.yaml", description="save as", layout=w.Layout(width="260px"))
        self._save = w.Button(description="save taught prompts", icon="save")
        self._save.on_click(safe(lambda _b: self.save(self._path.value)))
        self.widget = w.VBox([
            w.HTML("<small>teach: choose <b>teach</b> and a class above, click pixels of that class on the map; "
                   "the map is re-mapped after every click</small>"),
            w.HBox([self._undo, self._clear, self._split_box]),
            self.strength,
            self.message,
            self.counts_html,
            self.accuracy_html,
            w.HBox([self._path, self._save]),
        ])
        self.widget.add_class("lslib-teach-panel")
        self._show()

    # --- public ---------------------------------------------------------------------------------------
    def teach_at(self, lat: float, lon: float, class_name: str) -> PromptSet:
        """Add a labelled pixel of ``class_name`` at ``(lat, lon)``, refit and re-render; returns the taught set.

        A click outside the AOI, on nodata or of an unknown class is refused with the reason (nothing added).
        """
        from pyproj import Transformer

        prompts = self._app.editor.prompts
        if class_name not in prompts.names:
            raise TeachError(f"{class_name!r} is not one of the prompts {prompts.names}")
        if len(self.points) >= MAX_TEACH_POINTS:
            raise TeachError(f"{MAX_TEACH_POINTS} points is the most one session teaches from; save the taught "
                             "prompt set, or train a model on a labelled dataset (lslib train)")
        x, y = Transformer.from_crs("EPSG:4326", self._app.image.rio.crs, always_xy=True).transform(lon, lat)
        if not self._app.contains(float(x), float(y)):
            raise TeachError("that point is outside the area of interest: click inside it")
        point = Point(float(x), float(y), class_name)
        self.points.append(point)
        try:
            taught = self.refit()
        except TeachError:
            self.points.pop()
            self.refit()
            raise
        self._add_marker(lat, lon, class_name)
        return taught

    def taught_prompts(self, prompts: PromptSet) -> PromptSet:
        """``prompts`` taught with the current points on the app's AOI (``prompts`` itself when there are none).

        Points outside the current AOI are set aside with a note (they count again on an AOI holding them).
        """
        self.notes = []
        if not self.points:
            return prompts
        inside = [p for p in self.points if self._app.contains(p.x, p.y)]
        if len(inside) < len(self.points):
            self.notes.append(f"{len(self.points) - len(inside)} point(s) outside the area of interest set aside")
        taught = self._app.predictor.adapt(prompts, inside, strength=float(self.strength.value))
        self.notes += taught.extra["teaching"].notes
        return taught

    def refit(self) -> PromptSet:
        """Refit on the current points and prompts and re-render the map (also after an undo or a prompt edit)."""
        t0 = perf_counter()
        self._app.ensure_encoded()
        before = self._app.prediction
        prompts = self._app.editor.prompts
        taught = self.taught_prompts(prompts)
        t1 = perf_counter()
        self.taught = taught if self.points else None
        after = self._app.render(taught)
        self.changed = _changed_share(before, after)
        t2 = perf_counter()
        self._update_accuracy()
        self.timings = {"fit": t1 - t0, "render": t2 - t1, "accuracy": perf_counter() - t2,
                        "total": perf_counter() - t0}
        self._show()
        return taught

    def undo(self) -> None:
        """Remove the last point (and its marker) and re-map."""
        if not self.points:
            return
        self.points.pop()
        if self._marker_list:
            marker = self._marker_list.pop()
            if self._markers is not None and marker in self._markers.layers:
                self._markers.remove(marker)
        self.refit()

    def clear(self) -> None:
        """Forget every point: back to the zero-shot map."""
        self.points.clear()
        self._marker_list.clear()
        if self._markers is not None:
            self._markers.clear()
        self.refit()

    def save(self, path: str | Path) -> Path:
        """Write the taught prompt set (YAML + ``.safetensors`` head) for ``lslib predict --prompt-set``."""
        if self.taught is None:
            raise TeachError("nothing taught yet: click a few pixels in teach mode first")
        out = save_taught(self.taught, path)
        sidecar = html.escape(Path(out).stem)
        self.message.value = f"<small>saved {html.escape(str(out))} (+ {sidecar}.safetensors)</small>"
        return out

    def split(self, on: bool = True) -> None:
        """Split view: the zero-shot map on the left, the taught map on the right."""
        self._split_box.value = bool(on)

    @property
    def split_active(self) -> bool:
        """Whether the split view (zero-shot | taught) is shown."""
        return self._split is not None

    # --- internals ------------------------------------------------------------------------------------
    def _error(self, text: str) -> None:
        self.message.value = message_html(text)

    def _update_accuracy(self) -> None:
        if self.taught is None:
            self.last_accuracy = None
            return
        self.last_accuracy = self._app.predictor.held_out_accuracy(self.taught, loo_below=LOO_BELOW)

    def _show(self) -> None:
        counts: dict[str, int] = {}
        for p in self.points:
            counts[p.name] = counts.get(p.name, 0) + 1
        colours = dict(zip(self._app.editor.prompts.names, self._app.editor.prompts.colours, strict=True))
        rows = "".join(
            f"<tr><td><span style='color:{colours.get(n, '#000')}'>&#9679;</span> {html.escape(n)}</td>"
            f"<td>{c}</td></tr>" for n, c in counts.items()
        )
        head = f"<b>{len(self.points)} teaching point(s)</b>"
        self.counts_html.value = (f"{head}<table class='lslib-table'>{rows}</table>"
                                  if self.points else "<small>no teaching points: the map is zero-shot</small>")
        lines = list(self.notes)
        if not math.isnan(self.changed):
            lines.insert(0, f"the last change re-mapped {100 * self.changed:.1f} % of the area (undo reverts it)")
        notes = "".join(f"<div><small>{html.escape(n)}</small></div>" for n in lines)
        acc = self.last_accuracy
        if not acc or not acc["n"]:
            self.accuracy_html.value = notes
            return
        how = "leave-one-out" if acc["n"] <= LOO_BELOW else "5-fold"
        oa, zs = acc["oa"], acc["zero_shot_oa"]
        per = "".join(f"<tr><td>{html.escape(n)}</td><td>{e['correct']}/{e['n']}</td></tr>"
                      for n, e in acc["per_class"].items())
        self.accuracy_html.value = (
            f"<b>held-out accuracy ({how}, {acc['n']} points): taught {_fmt(oa)} · zero-shot {_fmt(zs)}</b>"
            f"<table class='lslib-table'>{per}</table>{notes}"
        )

    def _add_marker(self, lat: float, lon: float, class_name: str) -> None:
        from ipyleaflet import CircleMarker, LayerGroup

        if self._markers is None:
            self._markers = LayerGroup(name="teaching points")
            self._app.map.add(self._markers)
        colours = dict(zip(self._app.editor.prompts.names, self._app.editor.prompts.colours, strict=True))
        marker = CircleMarker(location=(lat, lon), radius=6, color="#000000", weight=2, fill_opacity=1.0,
                              fill_color=colours.get(class_name, "#000000"))
        self._markers.add(marker)
        self._marker_list.append(marker)

    def _on_split(self, change: dict[str, Any]) -> None:
        from ipyleaflet import ImageOverlay, SplitMapControl

        m = self._app.map
        if change["new"]:
            if self.taught is None:
                self._split_box.value = False
                raise TeachError("nothing taught yet: click a few pixels in teach mode first")
            png = self._app.zero_shot_png()
            self._zero_layer = ImageOverlay(url=png, bounds=self._app.class_layer.bounds, name="zero-shot")
            if self._app.class_layer in m.layers:
                m.remove(self._app.class_layer)
            self._split = SplitMapControl(left_layer=self._zero_layer, right_layer=self._app.class_layer)
            m.add(self._split)
        elif self._split is not None:
            m.remove(self._split)
            self._split = None
            if self._app.class_layer not in m.layers:
                m.add(self._app.class_layer)


def _changed_share(before: Any, after: Any) -> float:
    """Share of valid pixels whose class differs between two predictions of the same AOI (NaN if not comparable)."""
    import numpy as np

    if before is None or after is None or before.class_map.shape != after.class_map.shape:
        return math.nan
    valid = np.isfinite(np.asarray(after.confidence.values))
    if not valid.any():
        return math.nan
    return float((np.asarray(before.class_map.values) != np.asarray(after.class_map.values))[valid].mean())


def _fmt(v: float) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"
