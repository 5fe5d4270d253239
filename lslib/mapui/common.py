"""Helpers shared by the panels.

What they may ask of the app (:class:`PanelHost`), error-safe widget handlers,
figures in Output widgets, messages.
"""

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
    def prompts(self) -> PromptSet:
        """The current prompt set."""


class Teacher(Protocol):
    """Teach mode as the inspect panel sees it (:class:`lslib.mapui.panel_teach.TeachPanel`)."""

    def teach_at(self, lat: float, lon: float, class_name: str) -> PromptSet:
        """Teach the map ``class_name`` at ``(lat, lon)``; returns the taught prompt set."""


class PanelHost(Protocol):
    """What a panel may use of the map app (:class:`lslib.mapui.app.MapApp` is one).

    Its public state and methods, nothing else. Panels import this, not the app, so the app imports the
    panels and never the other way round.
    """

    @property
    def map(self) -> Any:
        """The ipyleaflet Map."""
    @property
    def class_layer(self) -> Any:
        """The overlay of the current map (an ipyleaflet ImageOverlay)."""
    @property
    def reference_layer(self) -> Any:
        """The reference label's overlay, or None."""
    @property
    def image(self) -> xr.DataArray:
        """The full ``(band, y, x)`` image the AOIs are cut from."""
    @property
    def reference(self) -> xr.DataArray | None:
        """The ``(y, x)`` reference label (``attrs["taxonomy"]``), or None."""
    @property
    def prediction(self) -> Prediction | None:
        """The current map of the AOI, or None before the first render."""
    @property
    def predictor(self) -> Predictor:
        """The predictor that encodes the AOI and maps it."""
    @property
    def editor(self) -> PromptSource:
        """The prompt editor (its ``prompts`` are the current prompt set)."""
    @property
    def teach(self) -> Teacher:
        """Teach mode (:class:`lslib.mapui.panel_teach.TeachPanel`)."""
    @property
    def max_pixels(self) -> int:
        """The largest AOI, in pixels, the app maps."""

    def show_error(self, text: str) -> None:
        """Show ``text`` as an error in the status line (the map stays as it is)."""
    def set_aoi(self, aoi: AoiSpec) -> bool:
        """Set a new AOI and re-run; False when it is refused."""
    def set_image(
        self,
        image: xr.DataArray | str | Path,
        *,
        source: str | None = None,
        bands: Sequence[str | float] | str | None = None,
        sensor: str | None = None,
    ) -> None:
        """Replace the imagery (the AOI becomes the whole image) and re-run."""
    def set_reference(self, reference: xr.DataArray | str | Path, taxonomy: str | None = None) -> None:
        """Replace the reference label and its overlay."""
    def ensure_encoded(self) -> None:
        """Clip the AOI and make it the predictor's current image (encoded once, then cached)."""
    def render(self, prompts: PromptSet) -> Prediction:
        """Map the AOI with ``prompts`` and update overlay, legend and panels."""
    def contains(self, x: float, y: float) -> bool:
        """Whether ``(x, y)`` in the image CRS falls on a pixel of the current AOI."""
    def zero_shot_png(self) -> str:
        """The zero-shot map of the current prompts on the AOI as a PNG data URL."""
    def probabilities(self) -> xr.DataArray:
        """``(class, y, x)`` fused scores of the current prompts on the AOI."""
    def agreement(self) -> dict[str, Any]:
        """Agreement of the current map with the reference."""
    def areas_table(self) -> pd.DataFrame:
        """Per-class area of the current map."""
    def export(self, folder: str | Path, *, overwrite: bool = False) -> dict[str, Path]:
        """Write the current map's files into ``folder``; returns ``{kind: path}``."""


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
