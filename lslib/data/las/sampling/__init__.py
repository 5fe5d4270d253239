"""Reproducible, stratified sampling of chip locations for LAS (the weak-label training set).

LAS is built by sampling locations, then cutting an image chip and a weak-label chip at each. This module
draws the locations; all functions are seeded (same seed and package versions -> identical points, whatever the
machine or its number of CPUs) and enforce a minimum distance between points. Public API (options keyword-only):

* :func:`biome_strata` - region (continent) × climate zone of lon/lat points, ``"ocean"`` off land
  (:mod:`lslib.data.las.sampling.strata` documents the polygons and zones).
* :func:`sample_global` - points on land (GLOBE 1 km mask), stratified by biome, optionally in a lon/lat box.
* :func:`is_land` - the GLOBE 1 km land mask at (lat, lon): ``global_land_mask.globe.is_land`` without its ~1 GB
  in-memory array (:mod:`lslib.data.las.sampling.landmask`: bit-packed, memory-mapped from the lslib cache).
* :func:`sample_in_label` - points stratified by class inside a label raster, where a whole chip fits.
* :func:`sample_in_footprints` - points inside footprints (e.g. STAC item geometries), shrunk by a margin.
* :func:`shrink_in_degrees`, :func:`chip_margin_m` - lon/lat footprints shrunk so a whole chip fits (e.g. for
  ``sample_global(within=...)``: land points only where a label item holds the whole chip).
* :func:`write_points`, :func:`read_points` - GeoParquet + GeoJSON + a PNG map, and back.

Every sampler returns an EPSG:4326 ``geopandas.GeoDataFrame`` of points with at least ``point_id``
(``"<seed>-<i:06d>"``), ``stratum``, ``lon``, ``lat`` and ``geometry``; ``attrs["sampling"]`` records the
arguments and, per stratum, the quota, the count and whether it saturated. How points are chosen is described
in :mod:`lslib.data.las.sampling.core` (seeded streams, greedy min-distance packing, water-filling allocation).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

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
from lslib.data.las.sampling.footprints import chip_margin_m, sample_in_footprints, shrink_in_degrees
from lslib.data.las.sampling.io import read_points, write_points
from lslib.data.las.sampling.label import sample_in_label
from lslib.data.las.sampling.landmask import is_land
from lslib.data.las.sampling.strata import (
    CELL_DEG,
    ZONES,
    Strata,
    biome_strata,
    cell_zone_flags,
    land_cells,
    stratum_index,
    stratum_names,
)

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "biome_strata",
    "chip_margin_m",
    "is_land",
    "points_frame",
    "read_points",
    "sample_global",
    "sample_in_footprints",
    "sample_in_label",
    "shrink_in_degrees",
    "write_points",
]

Region = tuple[float, float, float, float]
_PATIENCE = 2000  # valid candidates rejected in a row before a stratum counts as full
_PRESENCE_BUDGET = 400_000  # raw proposals without a single hit before a stratum counts as absent
_RAW_CAP = 20_000_000  # raw proposals per stratum, at most
_AREA_PROPOSALS = 20_000  # fixed-seed proposals per stratum that estimate its land area (proportional)


def _check_region(region: Region | None) -> Region:
    if region is None:
        return (-180.0, -90.0, 180.0, 90.0)
    try:
        west, south, east, north = (float(v) for v in region)
    except (TypeError, ValueError):
        raise ValueError(f"region must be a (west, south, east, north) tuple of degrees, got {region!r}") from None
    ok = -180 <= west < east <= 180 and -90 <= south < north <= 90
    if not ok:
        raise ValueError(
            f"region {region!r} is not a valid lon/lat box: need -180 <= west < east <= 180 and "
            "-90 <= south < north <= 90 degrees, e.g. (-125.0, 24.0, -66.5, 49.5) for CONUS. A box across the "
            "antimeridian must be sampled as two boxes."
        )
    return west, south, east, north


class _CellSource:
    """Uniform points on the sphere inside a set of (clipped) 0.25° cells, kept when on land in the stratum."""

    def __init__(
        self, boxes: np.ndarray, stratum: int, strata: Strata, rng: np.random.Generator, within: Any = None
    ) -> None:
        self._within = within  # a prepared lon/lat (Multi)Polygon, or None
        self._boxes = boxes  # (k, 4): west, east, sin(south), sin(north)
        weights = (boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2])
        self.area_sr = float(np.radians(1.0) * weights.sum())  # steradians covered by the cells
        self._cum = np.cumsum(weights) / weights.sum()
        self._stratum, self._strata, self._rng = stratum, strata, rng
        self.raw = 0
        self.hits = 0
        self.exhausted = False

    def propose(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``k`` raw proposals: (lon, lat, True where on land in the stratum)."""
        cell = np.minimum(np.searchsorted(self._cum, self._rng.random(k), side="right"), len(self._cum) - 1)
        u, v = self._rng.random(k), self._rng.random(k)
        b = self._boxes[cell]
        lon = b[:, 0] + u * (b[:, 1] - b[:, 0])
        lat = np.degrees(np.arcsin(np.clip(b[:, 2] + v * (b[:, 3] - b[:, 2]), -1.0, 1.0)))
        ok = stratum_index(lon, lat, self._strata) == self._stratum
        if self._within is not None:
            import shapely

            ok &= shapely.contains_xy(self._within, lon, lat)
        return lon, lat, ok

    def draw(self, k: int) -> Batch:
        rate = (self.hits + 1) / (self.raw + 4)
        size = int(np.clip(math.ceil(k / rate), 1024, 262_144))
        lon, lat, ok = self.propose(size)
        self.raw += size
        self.hits += int(ok.sum())
        if (self.hits == 0 and self.raw >= _PRESENCE_BUDGET) or self.raw >= _RAW_CAP:
            self.exhausted = True
        lon, lat = lon[ok], lat[ok]
        return Batch(unit_vectors(lon, lat), {"lon": lon, "lat": lat})


def _touching(lo_x: np.ndarray, lo_y: np.ndarray, hi_x: np.ndarray, hi_y: np.ndarray, shapes: list[Any]) -> np.ndarray:
    """Which cells (lon/lat boxes) intersect any of ``shapes``."""
    import shapely

    hit = shapely.STRtree(shapes).query(shapely.box(lo_x, lo_y, hi_x, hi_y), predicate="intersects")
    out = np.zeros(len(lo_x), dtype=bool)
    out[hit[0]] = True
    return out


def _stratum_cells(region: Region, strata: Strata, within: list[Any] | None = None) -> dict[int, np.ndarray]:
    """Per stratum index: its candidate cells clipped to the region, as (west, east, sin south, sin north).

    With ``within`` (lon/lat polygons), only cells that intersect one of them.
    """
    west, south, east, north = region
    rows, cols, rflags = land_cells()
    c_w = -180.0 + CELL_DEG * cols
    c_n = 90.0 - CELL_DEG * rows
    lo_x, hi_x = np.maximum(c_w, west), np.minimum(c_w + CELL_DEG, east)
    lo_y, hi_y = np.maximum(c_n - CELL_DEG, south), np.minimum(c_n, north)
    inside = (hi_x > lo_x) & (hi_y > lo_y)
    if within is not None:
        inside[inside] = _touching(lo_x[inside], lo_y[inside], hi_x[inside], hi_y[inside], within)
    boxes = np.column_stack([lo_x, hi_x, np.sin(np.radians(lo_y)), np.sin(np.radians(hi_y))])[inside]
    rflags, zflags = rflags[inside], cell_zone_flags(rows[inside])
    names = stratum_names(strata)
    out: dict[int, np.ndarray] = {}
    for k in range(len(names)):
        if strata == "biome":
            sel = rflags[:, k // len(ZONES)] & zflags[:, k % len(ZONES)]
        elif strata == "region":
            sel = rflags[:, k]
        elif strata == "zone":
            sel = zflags[:, k]
        else:
            sel = np.ones(len(boxes), dtype=bool)
        if sel.any():
            out[k] = boxes[sel]
    return out


def _land_area_km2(boxes: np.ndarray, stratum: int, strata: Strata) -> float:
    """Land area of a stratum inside its cells, from fixed-seed proposals (±~1 %; independent of the seed)."""
    source = _CellSource(boxes, stratum, strata, stream_rng(0, f"area-{stratum}"))
    _, _, ok = source.propose(_AREA_PROPOSALS)
    return source.area_sr * float(ok.mean()) * (6371.0088**2)


def sample_global(
    n: int,
    *,
    seed: int = 0,
    min_distance_km: float = 10.0,
    region: Region | None = None,
    strata: Strata = "biome",
    allocation: str = "equal",
    within: Sequence[Any] | None = None,
) -> gpd.GeoDataFrame:
    """Sample ``n`` points on land, stratified, at least ``min_distance_km`` apart (great-circle).

    Candidates are uniform on the sphere (uniform in lon and in sin(lat), so equal areas get equal chances),
    drawn per stratum inside the 0.25° cells that can hold it and kept when the 1 km GLOBE mask says land
    and :func:`biome_strata` gives that stratum. Quotas: ``"equal"`` gives every stratum present in the region
    the same number (±1), so small regions are as well represented as Asia; ``"proportional"`` follows the
    strata's land areas (estimated once, independently of the seed). A stratum that is full (no room left at
    the minimum distance) hands its remaining quota to the others.

    Args:
        n: number of points.
        seed: non-negative seed; the same seed gives identical points, other seeds other points.
        min_distance_km: minimum great-circle distance between any two points (Earth radius 6371.0088 km);
            0 disables it.
        region: (west, south, east, north) lon/lat box in degrees, e.g. ``(-125.0, 24.0, -66.5, 49.5)`` for
            CONUS; None for the whole globe.
        strata: ``"biome"`` (region × zone), ``"region"``, ``"zone"`` or ``"none"`` (one stratum ``"land"``).
        allocation: ``"equal"`` or ``"proportional"`` (to land area).
        within: lon/lat (Multi)Polygons, e.g. label items' footprints shrunk by :func:`shrink_in_degrees`:
            points only inside one of them (areas of ``"proportional"`` ignore it); None for no limit.

    Returns:
        EPSG:4326 points with columns ``point_id`` (``"<seed>-<i:06d>"``), ``stratum``, ``lon``, ``lat`` (degrees),
        ``geometry``, ordered by stratum then draw order. If fewer than ``n`` fit, a warning gives the numbers.

    Raises:
        ValueError: n <= 0, a negative distance, an invalid region box, an unknown strata or allocation, a
            region without land, or ``within`` empty or outside the region.
    """
    n, seed = check_n(n), check_seed(seed)
    dist_km = check_distance(min_distance_km, "min_distance_km")
    box = _check_region(region)
    check_allocation(allocation)
    names = stratum_names(strata)
    shapes, prepared = _within(within)
    cells = _stratum_cells(box, strata, shapes)
    if not cells:
        where = " inside the given footprints" if shapes is not None else ""
        raise ValueError(f"region {box} holds no land{where} per the GLOBE mask; choose a box over land")
    states = []
    for k, boxes in cells.items():
        weight = 1.0 if allocation == "equal" else _land_area_km2(boxes, k, strata)
        source = _CellSource(boxes, k, strata, stream_rng(seed, names[k]), prepared)
        states.append(StratumState(names[k], source, weight))
    packer = Packer(chord_for(dist_km * 1000.0), 3)
    fill(states, packer, n, seed=seed, patience=_PATIENCE)
    absent = [s for s in states if isinstance(s.source, _CellSource) and s.source.exhausted and s.source.hits == 0]
    states = [s for s in states if s not in absent]  # strata whose cells hold none of their land
    if sum(s.count for s in states) < n:
        warnings.warn(shortfall_message("sample_global", n, states, f"min_distance_km={dist_km}"), stacklevel=2)
    cols = gather(states)
    meta = {
        "function": "sample_global",
        "seed": seed,
        "min_distance_km": dist_km,
        "region": box,
        "strata": strata,
        "allocation": allocation,
        "per_stratum": summary(states),
    }
    if shapes is not None:
        meta["within_footprints"] = len(shapes)
    return points_frame(cols, seed=seed, columns=("stratum", "lon", "lat"), attrs=meta)


def _within(within: Sequence[Any] | None) -> tuple[list[Any] | None, Any]:
    """(the polygons, their prepared union) of ``sample_global(within=...)``; (None, None) without."""
    if within is None:
        return None, None
    import shapely

    shapes = list(within)
    if not shapes or not all(isinstance(g, shapely.Polygon | shapely.MultiPolygon) for g in shapes):
        raise ValueError("within must be a non-empty sequence of lon/lat (Multi)Polygons")
    union = shapely.union_all(shapes)
    shapely.prepare(union)
    return shapes, union
