"""Shared by the panels: what they may ask of the app (:class:`PanelHost`), error-safe widget handlers,
figures in Output widgets, messages."""

from __future__ import annotations

import base64
import functools
import html
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

    from lslib.inference import Prediction, Predictor
    from lslib.prompt_set import PromptSet

F = TypeVar("F", bound=Callable[..., Any])
#: an area of interest: ``(minx, miny, maxx, maxy)`` in the image CRS, a GeoJSON polygon in EPSG:4326, or
#: None (the whole image)
AoiSpec = tuple[float, float, float, float] | Mapping[str, Any] | None


class PromptSource(Protocol):
    """The prompt editor as the panels see it: the current prompt set."""

    @property
    def prompts(self) -> PromptSet: ...


class Teacher(Protocol):
    """Teach mode as the inspect panel sees it (:class:`lslib.mapui.panel_teach.TeachPanel`)."""

    def teach_at(self, lat: float, lon: float, class_name: str) -> PromptSet: ...


class PanelHost(Protocol):
    """What a panel may use of the map app (:class:`lslib.mapui.app.MapApp` is one): its public state and
    methods, nothing else. Panels import this, not the app, so the app imports the panels and never the
    other way round."""

    @property
    def map(self) -> Any: ...  # the ipyleaflet Map
    @property
    def class_layer(self) -> Any: ...  # the overlay of the current map (an ipyleaflet ImageOverlay)
    @property
    def reference_layer(self) -> Any: ...  # the reference label's overlay, or None
    @property
    def image(self) -> xr.DataArray: ...
    @property
    def reference(self) -> xr.DataArray | None: ...
    @property
    def prediction(self) -> Prediction | None: ...
    @property
    def predictor(self) -> Predictor: ...
    @property
    def editor(self) -> PromptSource: ...
    @property
    def teach(self) -> Teacher: ...
    @property
    def max_pixels(self) -> int: ...

    def show_error(self, text: str) -> None: ...
    def set_aoi(self, aoi: AoiSpec) -> bool: ...
    def set_image(
        self,
        image: xr.DataArray | str | Path,
        *,
        source: str | None = None,
        bands: Sequence[str | float] | str | None = None,
        sensor: str | None = None,
    ) -> None: ...
    def set_reference(self, reference: xr.DataArray | str | Path, taxonomy: str | None = None) -> None: ...
    def ensure_encoded(self) -> None: ...
    def render(self, prompts: PromptSet) -> Prediction: ...
    def contains(self, x: float, y: float) -> bool: ...
    def zero_shot_png(self) -> str: ...
    def probabilities(self) -> xr.DataArray: ...
    def agreement(self) -> dict[str, Any]: ...
    def areas_table(self) -> pd.DataFrame: ...
    def export(self, folder: str | Path, *, overwrite: bool = False) -> dict[str, Path]: ...


def guarded(report: Callable[[str], None]) -> Callable[[F], F]:
    """Wrap a widget handler: an exception becomes a one-line message through ``report``, never a traceback.

    Widget callbacks run inside the kernel's comm handler, where a traceback would land in the log (or in
    a random cell); the user instead sees what went wrong and what to do in the panel.
    """

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                report(f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc))
                return None

        return inner  # type: ignore[return-value]

    return wrap


def message_html(text: str | None, kind: str = "error") -> str:
    """An HTML line for an HTML widget: red for errors, grey for information, empty for None."""
    if not text:
        return ""
    colour = {"error": "#b00020", "info": "#444", "ok": "#1b5e20"}.get(kind, "#444")
    icon = "⚠ " if kind == "error" else ""
    return f'<div style="color:{colour};white-space:normal">{icon}{html.escape(text)}</div>'


def show_figure(output: Any, fig: Any, dpi: int = 100) -> None:
    """Put a matplotlib Figure into an ``ipywidgets.Output`` as a PNG (works with and without a kernel)."""
    from lslib.mapui.render import figure_png

    png = figure_png(fig, dpi=dpi)
    output.outputs = (
        {
            "output_type": "display_data",
            "data": {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": repr(fig)},
            "metadata": {},
        },
    )


def zoom_for(bounds: tuple[tuple[float, float], tuple[float, float]], viewport_px: int = 600) -> int:
    """A Web Mercator zoom level showing ``((south, west), (north, east))`` in about ``viewport_px`` pixels."""
    (south, west), (north, east) = bounds
    span_lon = max(abs(east - west), 1e-6)
    lat = math.radians((south + north) / 2)
    span_lat = max(abs(north - south), 1e-6) / max(math.cos(lat), 1e-3)
    span = max(span_lon, span_lat)
    return int(max(1, min(18, math.floor(math.log2(360.0 * viewport_px / (256.0 * span))))))


def frame_html(frame: Any, floatfmt: str = "{:.2f}") -> str:
    """A pandas DataFrame as a compact HTML table (index hidden)."""
    return str(frame.to_html(index=False, float_format=floatfmt.format, border=0, classes="lslib-table"))
