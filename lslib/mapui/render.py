"""Fast rendering for the map: grid -> EPSG:4326 index maps, colour lookup tables, PNG data URLs, legend HTML.

Every prompt edit re-renders the class overlay, so the per-edit path is numpy only:

1. :class:`GridIndex` (once per AOI): the AOI grid reprojected to EPSG:4326 with rioxarray (nearest) as an
   *index map*: each output pixel holds the flat index of its source pixel (``-1`` outside the image).
   Reprojecting any per-pixel array on the AOI grid is then ``flat[index]``, identical to reprojecting it
   with rioxarray nearest, but a few ms instead of a GDAL warp per edit. Class map, confidence and the RGB
   imagery share the index, so they land on exactly the same bounds.
2. :func:`colourise`: one ``(K + 2, 4)`` uint8 lookup table (transparent, unknown, the K class colours).
3. :func:`png_bytes`: PIL with a low zlib level; a ``tEXt`` chunk carries the render number, so every
   render has a new data URL (the browser test waits for it) even when the map did not change.

Leaflet places an ``ImageOverlay`` by its south-west/north-east corners and stretches it linearly in Web
Mercator; an EPSG:4326 raster of an AOI of a few tens of km is off by far less than a pixel.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

#: colour of pixels below every class threshold ("unknown"): dark grey/black diagonal hatch
UNKNOWN_COLOURS = ((20, 20, 20, 255), (110, 110, 110, 255))
UNKNOWN_CSS = "repeating-linear-gradient(45deg, #141414 0 3px, #6e6e6e 3px 6px)"
#: longest side of the RGB backdrop of a whole scene (the class overlay of an AOI is never downsampled)
BACKDROP_MAX_SIDE = 1024


def hex_to_rgba(colour: str, alpha: int = 255) -> tuple[int, int, int, int]:
    """``"#rrggbb"`` -> ``(r, g, b, alpha)``."""
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16), alpha


@dataclass(frozen=True)
class GridIndex:
    """The EPSG:4326 display grid of a raster grid, as an index map into the source pixels.

    Attributes:
        index: ``(H', W')`` int32 flat source index (row-major), ``-1`` where no source pixel.
        bounds: ``((south, west), (north, east))`` in degrees: what ipyleaflet's ``ImageOverlay`` takes.
        src_shape: ``(H, W)`` of the source grid.
    """

    index: np.ndarray
    bounds: tuple[tuple[float, float], tuple[float, float]]
    src_shape: tuple[int, int]

    @classmethod
    def from_grid(cls, template: xr.DataArray, *, max_side: int | None = None) -> GridIndex:
        """Reproject ``template``'s grid (any ``(…, y, x)`` array with a CRS) to EPSG:4326, nearest.

        Args:
            template: a georeferenced array; only its grid is used.
            max_side: cap on the longest side of the output (a whole-scene backdrop); ``None`` keeps the
                resolution GDAL picks (about the source's).
        """
        from rasterio.enums import Resampling

        if template.rio.crs is None:
            raise ValueError("the image has no CRS, so it cannot be placed on the map; write one with da.rio.write_crs")
        h, w = int(template.sizes["y"]), int(template.sizes["x"])
        src = xr.DataArray(
            np.arange(h * w, dtype=np.int32).reshape(h, w),
            dims=("y", "x"),
            coords={"y": template["y"].values, "x": template["x"].values},
        )
        src = src.rio.write_crs(template.rio.crs).rio.write_transform(template.rio.transform()).rio.write_nodata(-1)
        dst = src.rio.reproject("EPSG:4326", resampling=Resampling.nearest, nodata=-1)
        if max_side is not None and max(dst.shape) > max_side:
            scale = max_side / max(dst.shape)
            shape = (max(1, round(dst.shape[0] * scale)), max(1, round(dst.shape[1] * scale)))
            dst = src.rio.reproject("EPSG:4326", resampling=Resampling.nearest, nodata=-1, shape=shape)
        west, south, east, north = (float(v) for v in dst.rio.bounds())
        return cls(np.asarray(dst.values, dtype=np.int32), ((south, west), (north, east)), (h, w))

    @property
    def shape(self) -> tuple[int, int]:
        """The display grid's ``(rows, cols)``."""
        return (int(self.index.shape[0]), int(self.index.shape[1]))

    def take(self, values: np.ndarray, fill: float | int = 0) -> np.ndarray:
        """``values`` (``(H, W[, C])`` on the source grid) on the EPSG:4326 grid; ``fill`` outside."""
        flat = np.asarray(values).reshape(self.src_shape[0] * self.src_shape[1], *np.shape(values)[2:])
        out = flat[np.maximum(self.index, 0)]
        out[self.index < 0] = fill
        return out


def class_lut(colours: Sequence[str]) -> np.ndarray:
    """``(K + 3, 4)`` uint8: row 0 transparent (nodata), rows 1-2 the unknown hatch, rows 3.. the classes."""
    lut = np.zeros((len(colours) + 3, 4), dtype=np.uint8)
    lut[1], lut[2] = UNKNOWN_COLOURS
    for i, c in enumerate(colours):
        lut[i + 3] = hex_to_rgba(c)
    return lut


def hatch_mask(shape: tuple[int, int], period: int = 6) -> np.ndarray:
    """Diagonal stripes (True on half of each period) used to draw unknown pixels as a hatch."""
    rows, cols = np.indices(shape)
    return ((rows + cols) % period) < period // 2


def class_codes(class_map: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Class map (``-1`` unknown) + valid mask -> LUT rows without hatch: 0 nodata, 1 unknown, 3+k class k."""
    codes = np.where(class_map >= 0, class_map.astype(np.int32) + 3, 1)
    codes[~valid] = 0
    return codes


def colourise(codes_4326: np.ndarray, lut: np.ndarray, hatch: np.ndarray | None = None) -> np.ndarray:
    """LUT rows (from :func:`class_codes`, already on the display grid) -> ``(H, W, 4)`` RGBA uint8."""
    if hatch is not None:
        codes_4326 = codes_4326 + ((codes_4326 == 1) & hatch)
    return lut[codes_4326]


def confidence_rgba(conf_4326: np.ndarray) -> np.ndarray:
    """Confidence in [0, 1] (NaN nodata) -> RGBA: magma-like ramp from dark purple (low) to yellow (high)."""
    stops = np.array([[0, 0, 4], [81, 18, 124], [183, 55, 121], [252, 137, 97], [252, 253, 191]], dtype=np.float32)
    c = np.nan_to_num(np.clip(conf_4326, 0.0, 1.0), nan=0.0) * (len(stops) - 1)
    lo = np.floor(c).astype(np.int32).clip(0, len(stops) - 2)
    t = (c - lo)[..., None]
    rgb = stops[lo] * (1 - t) + stops[lo + 1] * t
    alpha = np.where(np.isfinite(conf_4326), 255, 0).astype(np.uint8)[..., None]
    return np.concatenate([rgb.astype(np.uint8), alpha], axis=-1)


def rgb_bands(image: xr.DataArray) -> list[int]:
    """Positions of the bands nearest to red, green and blue (0.665, 0.56, 0.49 µm); one band -> grey."""
    if "wavelength" not in image.coords or image.sizes["band"] < 3:
        return [0, 0, 0]
    waves = np.asarray(image["wavelength"].values, dtype=np.float64)
    waves = np.where(np.isfinite(waves), waves, np.inf)
    return [int(np.argmin(np.abs(waves - target))) for target in (0.665, 0.56, 0.49)]


def rgb_rgba(image: xr.DataArray, percentiles: tuple[float, float] = (2, 98)) -> np.ndarray:
    """True colour (or grey) of an image ``(band, y, x)``, stretched per band: ``(y, x, 4)`` uint8, NaN transparent."""
    idx = rgb_bands(image)
    data = np.asarray(image.isel(band=idx).values, dtype=np.float32)
    out = np.zeros((*data.shape[1:], 4), dtype=np.uint8)
    valid = np.isfinite(data).all(0)
    for i in range(3):
        ch = data[i]
        if valid.any():
            lo, hi = np.percentile(ch[valid], percentiles)
            out[..., i] = (np.clip((np.nan_to_num(ch) - lo) / max(float(hi - lo), 1e-6), 0, 1) * 255).astype(np.uint8)
    out[..., 3] = np.where(valid, 255, 0)
    return out


def png_bytes(rgba: np.ndarray, *, text: dict[str, str] | None = None, compress_level: int = 1) -> bytes:
    """RGBA uint8 -> PNG bytes (PIL, fast zlib level); ``text`` entries become ``tEXt`` chunks."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba), mode="RGBA").save(
        buf, format="PNG", compress_level=compress_level, pnginfo=info
    )
    return buf.getvalue()


def data_url(png: bytes) -> str:
    """PNG bytes -> ``data:image/png;base64,...`` (a local URL: no tile server, no internet)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_png(fig: object, dpi: int = 100) -> bytes:
    """A matplotlib Figure as PNG bytes (no pyplot)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")  # type: ignore[attr-defined]
    return buf.getvalue()


def legend_html(rows: Sequence[tuple[str, str | None, float]], title: str = "legend") -> str:
    """Legend rows ``(name, "#rrggbb" or None for unknown, percent)`` as HTML swatches."""
    items = []
    for name, colour, pct in rows:
        fill = UNKNOWN_CSS if colour is None else colour
        swatch = (
            f'<span style="display:inline-block;width:14px;height:14px;margin-right:6px;vertical-align:middle;'
            f'border:1px solid #444;background:{fill}"></span>'
        )
        label = html.escape(name) if colour is not None else f"<i>{html.escape(name)}</i>"
        items.append(f'<div class="lslib-legend-item">{swatch}{label} <small>({pct:.1f} %)</small></div>')
    body = "".join(items) or "<div><small>no map yet</small></div>"
    return f"<div><b>{html.escape(title)}</b>{body}</div>"
