"""Chip locations inside given footprints, e.g. STAC item geometries (:func:`sample_in_footprints`)."""

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

__all__ = ["chip_margin_m", "sample_in_footprints", "shrink_in_degrees"]

_PATIENCE = 2000
_RAW_CAP = 5_000_000
#: Metres per degree, lower bounds on WGS 84: of longitude at the equator (times cos(lat)), and of latitude
#: (its value at the equator, the smallest): distances measured with them never exceed the true ones.
_M_PER_DEG_LON = 111_319.0
_M_PER_DEG_LAT = 110_574.0


def chip_margin_m(size_px: int, gsd_m: float) -> float:
    """Inward margin (metres) that keeps a whole ``size_px`` x ``gsd_m`` chip centred on a point inside a footprint.

    Half the chip's diagonal (a chip may be rotated against the footprint's edges), plus 1 % for the scale
    of the chip's projection (UTM away from its central meridian) and two pixels for the snapping of the
    chip to the image's pixel grid.
    """
    return float(size_px) * float(gsd_m) * math.sqrt(2.0) / 2.0 * 1.01 + 2.0 * float(gsd_m)


def shrink_in_degrees(footprints: gpd.GeoDataFrame | Sequence[Any], margin_m: float) -> list[Any]:
    """Lon/lat footprints shrunk by at least ``margin_m`` metres; those that vanish are dropped.

    Each footprint is scaled to metres with the smallest metres-per-degree it holds (longitude at its
    poleward edge), shrunk, and scaled back: an affine map, so edges straight in lon/lat (as STAC
    geometries and the builder's containment test read them) stay straight, and a point of the result
    is at least ``margin_m`` true metres from the footprint's edge (more towards the equator).

    Raises:
        ValueError: as :func:`sample_in_footprints` for invalid footprints, or a negative margin.
    """
    from shapely import affinity

    margin = check_distance(margin_m, "margin_m")
    geoms, _ = _as_geometries(footprints)
    out = []
    for geom in geoms:
        _, south, _, north = geom.bounds
        kx = _M_PER_DEG_LON * math.cos(math.radians(min(89.9, max(abs(south), abs(north)))))
        ky = _M_PER_DEG_LAT
        metres = affinity.scale(geom, xfact=kx, yfact=ky, origin=(0.0, 0.0))
        shrunk = metres.buffer(-margin) if margin > 0 else metres
        if not shrunk.is_empty and shrunk.area > 0:
            out.append(affinity.scale(shrunk, xfact=1.0 / kx, yfact=1.0 / ky, origin=(0.0, 0.0)))
    return out


class _PolygonSource:
    """Uniform points in a polygon drawn in its local Lambert azimuthal equal-area projection (metres)."""

    def __init__(self, shrunk: Any, to_lonlat: Any, rng: np.random.Generator) -> None:
        import shapely

        self._poly = shrunk
        shapely.prepare(shrunk)
        self._bounds = shrunk.bounds if not shrunk.is_empty else (0.0, 0.0, 0.0, 0.0)
        box_area = (self._bounds[2] - self._bounds[0]) * (self._bounds[3] - self._bounds[1])
        self._rate = shrunk.area / box_area if box_area > 0 else 0.0
        self._to_lonlat, self._rng = to_lonlat, rng
        self.raw = 0
        self.exhausted = shrunk.is_empty or shrunk.area <= 0

    def draw(self, k: int) -> Batch:
        import shapely

        if self.exhausted:
            return Batch(np.empty((0, 3)), {})
        size = int(np.clip(math.ceil(k / max(self._rate, 1e-3)), 256, 262_144))
        w, s, e, n = self._bounds
        x = w + self._rng.random(size) * (e - w)
        y = s + self._rng.random(size) * (n - s)
        self.raw += size
        self.exhausted = self.raw >= _RAW_CAP
        ok = shapely.contains_xy(self._poly, x, y)
        lon, lat = self._to_lonlat.transform(x[ok], y[ok])
        lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        return Batch(unit_vectors(lon, lat), {"lon": lon, "lat": lat})


def _as_geometries(footprints: Any) -> tuple[list[Any], list[str]]:
    """(geometries, stratum names) from a GeoDataFrame in EPSG:4326 or a sequence of lon/lat geometries."""
    import geopandas as gpd
    import shapely

    if isinstance(footprints, gpd.GeoDataFrame | gpd.GeoSeries):
        if footprints.crs is None:
            raise ValueError("footprints have no CRS; if they are lon/lat degrees use footprints.set_crs(4326)")
        if footprints.crs.to_epsg() != 4326:
            raise ValueError(f"footprints are in {footprints.crs.to_string()}, not EPSG:4326; use .to_crs(4326)")
        geoms = list(footprints.geometry)
        ids = footprints["id"] if isinstance(footprints, gpd.GeoDataFrame) and "id" in footprints else None
        if ids is not None and ids.is_unique:
            names = [str(v) for v in ids]
        else:
            names = [f"footprint-{i}" for i in range(len(geoms))]
    elif isinstance(footprints, Sequence) and not isinstance(footprints, str | bytes):
        geoms = list(footprints)
        names = [f"footprint-{i}" for i in range(len(geoms))]
    else:
        raise ValueError(f"footprints must be a GeoDataFrame or a sequence of shapely polygons, not {footprints!r}")
    if not geoms:
        raise ValueError("footprints is empty; pass at least one polygon (e.g. STAC item geometries)")
    for i, g in enumerate(geoms):
        if not isinstance(g, shapely.Polygon | shapely.MultiPolygon) or g.is_empty:
            what = "an empty polygon" if isinstance(g, shapely.Geometry) and g.is_empty else type(g).__name__
            raise ValueError(f"footprint {i} is {what}; footprints must be non-empty (Multi)Polygons")
        w, s, e, n = g.bounds
        if min(w, e) < -180 or max(w, e) > 180 or min(s, n) < -90 or max(s, n) > 90:
            raise ValueError(
                f"footprint {i} has bounds {g.bounds}, outside lon/lat degrees: footprints must be EPSG:4326 "
                "(reproject them first)"
            )
        if e - w > 180:
            raise ValueError(f"footprint {i} spans {e - w:.0f}° of longitude: split footprints at the antimeridian")
    return geoms, names


def _local_projection(geom: Any, margin_m: float) -> tuple[Any, Any]:
    """(polygon in a local LAEA projection shrunk by ``margin_m`` metres, transformer back to lon/lat)."""
    import shapely
    from pyproj import CRS, Transformer

    c = geom.centroid
    laea = CRS.from_proj4(f"+proj=laea +lat_0={c.y} +lon_0={c.x} +datum=WGS84 +units=m +no_defs")
    fwd = Transformer.from_crs("EPSG:4326", laea, always_xy=True)
    inv = Transformer.from_crs(laea, "EPSG:4326", always_xy=True)
    local = shapely.transform(geom, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
    shrunk = local.buffer(-margin_m) if margin_m > 0 else local
    return shrunk, inv


def sample_in_footprints(
    footprints: gpd.GeoDataFrame | Sequence[Any],
    n: int,
    *,
    seed: int = 0,
    min_distance_m: float,
    margin_m: float = 0.0,
) -> gpd.GeoDataFrame:
    """Sample points uniformly inside footprints, the same number per footprint, at least a distance apart.

    Each footprint is projected to a Lambert azimuthal equal-area projection centred on it (so uniform is
    uniform by area and the margin is in true metres), shrunk by ``margin_m`` so a chip centred on any point
    stays inside, and sampled by rejection from its bounding box. The minimum distance is great-circle and
    applies across footprints (overlapping footprints share their room). A footprint that is full hands its
    remaining quota to the others; one that vanishes when shrunk gets no points (with a warning).

    Args:
        footprints: a GeoDataFrame in EPSG:4326 (an ``id`` column, e.g. STAC item ids, names the strata) or a
            sequence of shapely (Multi)Polygons in lon/lat degrees; none may cross the antimeridian.
        n: number of points.
        seed: non-negative seed (same seed -> identical points).
        min_distance_m: minimum great-circle distance between points, metres (0 disables it).
        margin_m: inward buffer in metres, e.g. half a chip's diagonal so whole chips fit.

    Returns:
        EPSG:4326 points with ``point_id``, ``stratum`` (the footprint's id, else ``"footprint-<i>"``),
        ``footprint`` (its position), ``lon``, ``lat``, ``geometry``; by footprint then draw order.

    Raises:
        ValueError: n <= 0, negative distances, empty footprints, non-polygons, or footprints not in EPSG:4326.
    """
    n, seed = check_n(n), check_seed(seed)
    dist_m = check_distance(min_distance_m, "min_distance_m")
    margin = check_distance(margin_m, "margin_m")
    geoms, names = _as_geometries(footprints)
    states = []
    for i, (geom, name) in enumerate(zip(geoms, names, strict=True)):
        shrunk, inv = _local_projection(geom, margin)
        if shrunk.is_empty:
            warnings.warn(
                f"footprint {name} vanishes when shrunk by margin_m={margin}; it gets no points", stacklevel=2
            )
        source = _PolygonSource(shrunk, inv, stream_rng(seed, f"{i}:{name}"))
        states.append(StratumState(name, source, 1.0))
    packer = Packer(chord_for(dist_m), 3)
    fill(states, packer, n, seed=seed, patience=_PATIENCE)
    if sum(s.count for s in states) < n:
        warnings.warn(shortfall_message("sample_in_footprints", n, states, f"min_distance_m={dist_m}"), stacklevel=2)
    for i, s in enumerate(states):
        for part in s.parts:
            part["footprint"] = np.full(len(part["lon"]), i, dtype=np.int64)
    cols = gather(states)
    meta = {
        "function": "sample_in_footprints",
        "seed": seed,
        "min_distance_m": dist_m,
        "margin_m": margin,
        "per_stratum": summary(states),
    }
    return points_frame(cols, seed=seed, columns=("stratum", "footprint", "lon", "lat"), attrs=meta)
