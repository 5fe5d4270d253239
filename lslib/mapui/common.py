"""Small helpers shared by the panels: error-safe widget handlers, figures in Output widgets, messages."""

from __future__ import annotations

import base64
import functools
import html
import math
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


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
