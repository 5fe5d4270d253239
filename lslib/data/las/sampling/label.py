"""Class-stratified chip locations inside a georeferenced label raster (:func:`sample_in_label`)."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from lslib.data.las.sampling.core import (
    Batch,
    Packer,
    StratumState,
    check_allocation,
    check_distance,
    check_n,
    check_seed,
    chord_for,
    fill,
    gather,
    points_frame,
    shortfall_message,
    stream_rng,
    summary,
    unit_vectors,
)

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["sample_in_label"]

_PATIENCE = 5000
# metres per degree, as in lslib.data.readers.common.gsd_metres (longitude: times cos(latitude))
_M_PER_DEG_LON, _M_PER_DEG_LAT = 111_320.0, 110_574.0
_MAX_NODATA_FRACTION = 0.5


class _Grid:
    """Pixel geometry of a (y, x) label: centres, pixel size in metres, chip windows, nodata counts."""

    def __init__(self, label: xr.DataArray, valid: np.ndarray, half_m: float) -> None:
        crs = label.rio.crs
        self.geographic = bool(crs.is_geographic)
        self.height, self.width = valid.shape
        t = label.rio.transform(recalc=self.height > 1 and self.width > 1)
        if t.b != 0 or t.d != 0:
            raise ValueError("the label's grid is rotated; reproject it to a north-up grid first (rio.reproject)")
        self.x = np.asarray(label["x"].values, dtype=np.float64)
        self.y = np.asarray(label["y"].values, dtype=np.float64)
        if self.geographic:
            self.unit = 1.0
            lat = np.radians(self.y)
            dx_m = abs(t.a) * _M_PER_DEG_LON * np.maximum(np.cos(lat), 1e-6)  # per row
            self.hx = half_m / dx_m
            self.hy = np.full(self.height, half_m / (abs(t.e) * _M_PER_DEG_LAT))
        else:
            self.unit = float(crs.linear_units_factor[1])  # metres per CRS unit
            self.hx = np.full(self.height, half_m / (abs(t.a) * self.unit))
            self.hy = np.full(self.height, half_m / (abs(t.e) * self.unit))
        nodata = (~valid).astype(np.int32)
        self._sat = None
        if nodata.any():
            self._sat = np.zeros((self.height + 1, self.width + 1), dtype=np.int32)
            self._sat[1:, 1:] = nodata.cumsum(0, dtype=np.int32).cumsum(1, dtype=np.int32)

    def eligible(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """True where the chip centred on pixel (row, col) lies inside the raster and is <= 50 % nodata."""
        hx, hy = self.hx[rows], self.hy[rows]
        eps = 1e-9
        inside = (cols + 0.5 - hx >= -eps) & (cols + 0.5 + hx <= self.width + eps)
        inside &= (rows + 0.5 - hy >= -eps) & (rows + 0.5 + hy <= self.height + eps)
        if self._sat is None or not inside.any():
            return inside
        r, c, hx, hy = rows[inside], cols[inside], hx[inside], hy[inside]
        r0 = np.clip(np.ceil(r - hy), 0, self.height - 1).astype(np.intp)
        r1 = np.clip(np.floor(r + hy), 0, self.height - 1).astype(np.intp)
        c0 = np.clip(np.ceil(c - hx), 0, self.width - 1).astype(np.intp)
        c1 = np.clip(np.floor(c + hx), 0, self.width - 1).astype(np.intp)
        s = self._sat
        bad = s[r1 + 1, c1 + 1] - s[r0, c1 + 1] - s[r1 + 1, c0] + s[r0, c0]
        total = (r1 - r0 + 1) * (c1 - c0 + 1)
        out = np.zeros(len(rows), dtype=bool)
        out[np.flatnonzero(inside)] = bad <= _MAX_NODATA_FRACTION * total
        return out

    def coords(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Coordinates for the packer: 3-D unit vectors (geographic) or metres (projected)."""
        if self.geographic:
            return unit_vectors(self.x[cols], self.y[rows])
        return np.column_stack([self.x[cols] * self.unit, self.y[rows] * self.unit])


class _PixelSource:
    """A class's pixels in a seeded random order, kept when their chip is eligible."""

    def __init__(self, flat: np.ndarray, code: int, grid: _Grid, rng: np.random.Generator) -> None:
        self._order = rng.permutation(flat)
        self._pos = 0
        self._code, self._grid = code, grid
        self.exhausted = len(flat) == 0

    def draw(self, k: int) -> Batch:
        g = self._grid
        empty = Batch(np.empty((0, 3 if g.geographic else 2)), {})
        while not self.exhausted:
            take = self._order[self._pos : self._pos + max(4 * k, 1024)]
            self._pos += len(take)
            self.exhausted = self._pos >= len(self._order)
            rows, cols = np.divmod(take, g.width)
            ok = g.eligible(rows, cols)
            if ok.any():
                rows, cols = rows[ok], cols[ok]
                columns = {"code": np.full(len(rows), self._code, dtype=np.int64), "x": g.x[cols], "y": g.y[rows]}
                return Batch(g.coords(rows, cols), columns)
        return empty


def _class_names(codes: list[int], taxonomy: str | None) -> dict[int, str]:
    if taxonomy is None:
        return {c: str(c) for c in codes}
    from lslib.taxonomy import get_taxonomy

    tax = get_taxonomy(taxonomy)
    unknown = [c for c in codes if c not in tax]
    if unknown:
        warnings.warn(f"codes {unknown} are not classes of {tax.key!r}; their stratum is the code", stacklevel=3)
    return {c: tax.by_code(c).name if c in tax else str(c) for c in codes}


def sample_in_label(
    label: xr.DataArray,
    n: int,
    *,
    seed: int = 0,
    min_distance_m: float | None = None,
    chip_size_px: int,
    chip_gsd_m: float,
    allocation: str = "equal",
    taxonomy: str | None = None,
) -> gpd.GeoDataFrame:
    """Sample chip centres inside a label raster, stratified by class.

    The strata are the classes present (nodata excluded). ``"equal"`` allocation gives every class the same
    number of points (±1), capped by what the class offers, so rare classes (NLCD open water at 0.08 % of Zion)
    get as many as forests; ``"proportional"`` follows the classes' pixel counts. A class that runs out hands
    its remaining quota to the others. Points are pixel centres drawn in a seeded random order; a pixel is
    skipped when its chip (``chip_size_px × chip_gsd_m`` metres, centred on the pixel) would reach outside the
    raster or hold more than 50 % nodata pixels, or when it lies closer than ``min_distance_m`` to a point
    already taken. Distances are in the label's CRS metres (projected) or great-circle metres (geographic CRS,
    where the chip's size in degrees uses 111 320 m × cos(lat) per degree of longitude, 110 574 m of latitude).

    Args:
        label: ``(y, x)`` integer label with CRS, transform and ``rio.nodata`` (e.g. from
            :func:`lslib.data.readers.read_label`); loaded into memory, so pass a window or an overview of
            very large rasters.
        n: number of points.
        seed: non-negative seed (same seed -> identical points).
        min_distance_m: minimum distance between points in metres; default one chip side
            (``chip_size_px * chip_gsd_m``), so that chips never overlap.
        chip_size_px: chip side in pixels of the chip grid.
        chip_gsd_m: chip pixel size in metres.
        allocation: ``"equal"`` or ``"proportional"``.
        taxonomy: product key (e.g. ``"nlcd"``): ``stratum`` is then the class name, else the code as text.

    Returns:
        EPSG:4326 points with ``point_id``, ``stratum``, ``code`` (int), ``x``, ``y`` (pixel centre in the
        label's CRS), ``crs`` (that CRS as text), ``lon``, ``lat``, ``geometry``; by class then draw order.

    Raises:
        ValueError: n <= 0, a negative distance, a bad chip size, a label that is not 2-D, has no CRS, holds
            only nodata, or has a rotated grid.
    """
    from lslib.data.readers.common import require_crs

    n, seed = check_n(n), check_seed(seed)
    check_allocation(allocation)
    if isinstance(chip_size_px, bool) or not isinstance(chip_size_px, int | np.integer) or chip_size_px < 1:
        raise ValueError(f"chip_size_px must be a positive integer, got {chip_size_px!r}")
    if not (math.isfinite(float(chip_gsd_m)) and float(chip_gsd_m) > 0):
        raise ValueError(f"chip_gsd_m must be a positive number of metres, got {chip_gsd_m!r}")
    side_m = int(chip_size_px) * float(chip_gsd_m)
    dist_m = side_m if min_distance_m is None else check_distance(min_distance_m, "min_distance_m")
    if label.ndim != 2 or set(label.dims) != {"y", "x"}:
        raise ValueError(f"label must be a 2-D (y, x) DataArray, got dims {label.dims}; select one band first")
    crs = require_crs(label, "the label")
    label = label.transpose("y", "x")
    values = np.asarray(label.values)
    nodata = label.rio.nodata
    valid = np.ones(values.shape, dtype=bool) if nodata is None or np.isnan(nodata) else values != nodata
    if np.issubdtype(values.dtype, np.floating):
        valid &= np.isfinite(values)
    if not valid.any():
        raise ValueError(
            f"the label holds only nodata ({nodata}); nothing to sample. Check the window you read, or the "
            "label's nodata value (label.rio.write_nodata(...))"
        )
    flat_valid = np.flatnonzero(valid.ravel())
    codes_valid = values.ravel()[flat_valid].astype(np.int64)
    order = np.argsort(codes_valid, kind="stable")
    codes, starts, counts = np.unique(codes_valid[order], return_index=True, return_counts=True)
    names = _class_names([int(c) for c in codes], taxonomy)
    grid = _Grid(label, valid, side_m / 2.0)
    states = []
    for code, start, count in zip(codes, starts, counts, strict=True):
        pixels = np.sort(flat_valid[order[start : start + count]])
        source = _PixelSource(pixels, int(code), grid, stream_rng(seed, int(code)))
        weight = 1.0 if allocation == "equal" else float(count)
        states.append(StratumState(names[int(code)], source, weight))
    radius = chord_for(dist_m) if grid.geographic else dist_m
    packer = Packer(radius, 3 if grid.geographic else 2)
    fill(states, packer, n, seed=seed, patience=_PATIENCE)
    if sum(s.count for s in states) < n:
        warnings.warn(shortfall_message("sample_in_label", n, states, f"min_distance_m={dist_m}"), stacklevel=2)
    cols = gather(states)
    if cols:
        from pyproj import Transformer

        to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        cols["lon"], cols["lat"] = to_ll.transform(cols["x"], cols["y"])
        cols["crs"] = np.full(len(cols["x"]), crs.to_string(), dtype=object)
    meta = {
        "function": "sample_in_label",
        "seed": seed,
        "min_distance_m": dist_m,
        "chip_size_px": int(chip_size_px),
        "chip_gsd_m": float(chip_gsd_m),
        "allocation": allocation,
        "taxonomy": taxonomy,
        "per_stratum": summary(states),
    }
    return points_frame(cols, seed=seed, columns=("stratum", "code", "x", "y", "crs", "lon", "lat"), attrs=meta)
