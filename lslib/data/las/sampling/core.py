"""The machinery shared by the samplers: greedy min-distance packing, candidate streams, allocation.

Every sampler works the same way. Each stratum has a seeded *stream* of candidates (uniform within the stratum,
in a fixed order). Strata receive quotas (equal, or proportional to a weight); candidates are then offered in
stream order to one shared :class:`Packer`, which accepts a candidate when it is at least the minimum distance
from every point accepted so far (random sequential adsorption, i.e. greedy dart throwing). A stratum whose
stream runs dry (or keeps failing: ``patience`` candidates in a row rejected) is *saturated*; its unmet quota is
shared among the others (water-filling) until ``n`` points are placed or every stratum is saturated.

Everything is single-threaded and seeded through :class:`numpy.random.SeedSequence`, so a result depends only
on the inputs and the seed, never on the machine or its number of CPUs.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from scipy.spatial import cKDTree

if TYPE_CHECKING:
    import geopandas as gpd

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG), metres: all great-circle distances use it
_SAFETY = 1.0 + 1e-7  # reject pairs within a hair above the limit, so round-off never lets a closer pair in


def check_n(n: object) -> int:
    """``n`` as a positive int, else ValueError."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or int(n) <= 0:
        raise ValueError(f"n must be a positive integer (the number of points to draw), got {n!r}")
    return int(n)


def check_seed(seed: object) -> int:
    """``seed`` as an int.

    Raises:
        ValueError: ``seed`` is not a non-negative integer (bools are refused).
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_distance(value: float, name: str) -> float:
    """``value`` as a float distance (0 disables the check).

    Raises:
        ValueError: ``value`` is negative or not finite; the message names it ``name``.
    """
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite distance >= 0 (0 disables the check), got {value!r}")
    return v


def check_allocation(allocation: str) -> str:
    """``allocation`` if it is ``"equal"`` or ``"proportional"``.

    Raises:
        ValueError: any other value.
    """
    if allocation not in ("equal", "proportional"):
        raise ValueError(f"allocation must be 'equal' or 'proportional', not {allocation!r}")
    return allocation


def stream_rng(seed: int, key: str | int) -> np.random.Generator:
    """An independent generator per (seed, stratum key): adding or removing a stratum never changes another's."""
    tag = zlib.crc32(str(key).encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(tag,)))


def unit_vectors(lon_deg: np.ndarray, lat_deg: np.ndarray) -> np.ndarray:
    """(n, 3) unit vectors of points on the sphere (chord distance = 2 sin(angle / 2))."""
    lon, lat = np.radians(lon_deg), np.radians(lat_deg)
    c = np.cos(lat)
    return np.column_stack([c * np.cos(lon), c * np.sin(lon), np.sin(lat)])


def chord_for(distance_m: float) -> float:
    """Chord length on the unit sphere for a great-circle distance in metres (capped at the antipode)."""
    return 2.0 * math.sin(min(distance_m / EARTH_RADIUS_M, math.pi) / 2.0)


def haversine_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres between (lon, lat) points in degrees (broadcasting)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


class Packer:
    """Points accepted so far, with a KD-tree for the min-distance test.

    Coordinates are Euclidean: 3-D unit vectors with a chord radius (great-circle distance) or projected
    metres with a metre radius. ``radius`` 0 accepts everything.
    """

    def __init__(self, radius: float, dim: int) -> None:
        self.radius = radius * _SAFETY
        self._points = np.empty((0, dim))
        self._tree: cKDTree | None = None

    def __len__(self) -> int:
        return len(self._points)

    def offer(self, coords: np.ndarray, limit: int) -> tuple[np.ndarray, int]:
        """Accept candidates in order while ``limit`` is not reached.

        Returns (batch positions of the accepted candidates, number of candidates examined).
        """
        m = len(coords)
        if m == 0 or limit <= 0:
            return np.empty(0, dtype=np.intp), 0
        if self.radius == 0:
            take = np.arange(min(m, limit))
            self._add(coords[take])
            return take, len(take)
        free = np.ones(m, dtype=bool)
        if self._tree is not None:
            dist, _ = self._tree.query(coords, k=1, distance_upper_bound=self.radius)
            free = ~(dist <= self.radius)
        cand = np.flatnonzero(free)
        pairs = cKDTree(coords[cand]).query_pairs(self.radius, output_type="ndarray") if len(cand) > 1 else None
        if pairs is None or len(pairs) == 0:
            accepted = cand[:limit]
        else:
            lo, hi = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
            order = np.argsort(lo, kind="stable")
            lo, hi = lo[order], hi[order]
            start = np.searchsorted(lo, np.arange(len(cand) + 1))
            blocked = np.zeros(len(cand), dtype=bool)
            keep: list[int] = []
            for i in range(len(cand)):
                if blocked[i]:
                    continue
                keep.append(i)
                if len(keep) == limit:
                    break
                blocked[hi[start[i] : start[i + 1]]] = True
            accepted = cand[np.asarray(keep, dtype=np.intp)]
        examined = int(accepted[-1]) + 1 if len(accepted) == limit else m
        self._add(coords[accepted])
        return accepted, examined

    def _add(self, coords: np.ndarray) -> None:
        if len(coords):
            self._points = np.concatenate([self._points, coords])
            self._tree = cKDTree(self._points)


@dataclass
class Batch:
    """Candidates of one stratum in stream order: coordinates for the packer plus the columns to keep."""

    coords: np.ndarray
    columns: dict[str, np.ndarray]


class Source(Protocol):
    """A stratum's candidate stream.

    ``draw(k)`` returns about ``k`` valid candidates (fewer near the end, none when exhausted) and
    ``exhausted`` says the stream can yield nothing more.
    """

    exhausted: bool

    def draw(self, k: int) -> Batch:
        """About ``k`` valid candidates (fewer near the end, none when exhausted)."""


@dataclass
class StratumState:
    """Sampling progress of one stratum: its source, weight, quota and the points kept so far."""

    name: str
    source: Source
    weight: float
    quota: int = 0
    saturated: bool = False
    failures: int = 0  # valid candidates rejected in a row
    parts: list[dict[str, np.ndarray]] = field(default_factory=list)
    count: int = 0


def split(total: int, weights: Sequence[float], priority: np.ndarray) -> list[int]:
    """Largest-remainder split of ``total`` by ``weights``.

    Ties go to the lowest ``priority`` (so equal weights give counts within ±1, and the same strata get
    the +1 each time).
    """
    w = np.asarray(weights, dtype=np.float64)
    if total <= 0 or len(w) == 0:
        return [0] * len(w)
    w = np.ones_like(w) if w.sum() <= 0 else w
    exact = total * w / w.sum()
    base = np.floor(exact + 1e-9).astype(np.int64)
    rest = total - int(base.sum())
    order = np.lexsort((np.asarray(priority), -np.round(exact - base, 9)))  # largest remainder, then priority
    base[order[:rest]] += 1
    return [int(b) for b in base]


def fill(states: list[StratumState], packer: Packer, n: int, *, seed: int, patience: int) -> None:
    """Run the allocation: quotas by weight, fill in stratum order, hand unmet quota on until ``n`` or saturation.

    After each pass the strata still open get ``n`` minus what the saturated ones hold, split again by weight
    (water-filling); ties between equal remainders follow one seeded priority order throughout.
    """
    priority = stream_rng(seed, "__allocation__").permutation(len(states))
    for s, q in zip(states, split(n, [s.weight for s in states], priority), strict=True):
        s.quota = q
    while True:
        for s in states:
            _fill_one(s, packer, patience)
        missing = n - sum(s.count for s in states)
        open_ = [i for i, s in enumerate(states) if not s.saturated]
        if missing <= 0 or not open_:
            return
        left = n - sum(s.count for s in states if s.saturated)
        quotas = split(left, [states[i].weight for i in open_], priority[open_])
        if any(q < states[i].count for i, q in zip(open_, quotas, strict=True)):  # proportional: top up instead
            quotas = [
                states[i].count + q
                for i, q in zip(open_, split(missing, [states[i].weight for i in open_], priority[open_]), strict=True)
            ]
        for i, q in zip(open_, quotas, strict=True):
            states[i].quota = q


def _fill_one(s: StratumState, packer: Packer, patience: int) -> None:
    while not s.saturated and s.count < s.quota:
        want = s.quota - s.count
        batch = s.source.draw(max(2 * want, 64))
        if len(batch.coords) == 0:
            s.saturated = s.source.exhausted or s.saturated
            if s.source.exhausted:
                return
            continue
        accepted, examined = packer.offer(batch.coords, want)
        if len(accepted):
            s.parts.append({k: v[accepted] for k, v in batch.columns.items()})
            s.count += len(accepted)
            s.failures = examined - int(accepted[-1]) - 1
        else:
            s.failures += examined
        if s.failures >= patience:
            s.saturated = True


def gather(states: list[StratumState]) -> dict[str, np.ndarray]:
    """The accepted points of all strata, stratum by stratum in acceptance order, plus a ``stratum`` column."""
    parts = [p for s in states for p in s.parts]
    if not parts:
        return {}
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    out["stratum"] = np.concatenate(
        [np.full(len(next(iter(p.values()))), s.name, dtype=object) for s in states for p in s.parts]
    )
    return out


def summary(states: list[StratumState]) -> dict[str, dict[str, object]]:
    """Per stratum: its final quota, count and whether it saturated (for ``GeoDataFrame.attrs``)."""
    return {s.name: {"quota": s.quota, "count": s.count, "saturated": s.saturated} for s in states}


def shortfall_message(what: str, n: int, states: list[StratumState], limit: str) -> str:
    """Explain why fewer than ``n`` points fit under ``limit``: the count and the saturated strata."""
    got = sum(s.count for s in states)
    full = ", ".join(f"{s.name}: {s.count}" for s in states if s.saturated)
    return (
        f"{what}: {n} points requested but only {got} fit with {limit}; saturated strata (count): {full}. "
        "Lower the minimum distance or n, or widen the area, to get more."
    )


_EMPTY_DTYPES = {"stratum": object, "crs": object, "code": np.int64, "footprint": np.int64}


def points_frame(
    cols: dict[str, np.ndarray], *, seed: int, columns: tuple[str, ...], attrs: dict[str, Any]
) -> gpd.GeoDataFrame:
    """A GeoDataFrame of EPSG:4326 points from ``cols``.

    ``cols`` holds ``lon``/``lat`` and ``columns``, or is empty. Columns: ``point_id`` first, then
    ``columns`` in order, ``geometry`` last; ``attrs["sampling"] = attrs``.
    """
    import geopandas as gpd

    if not cols:
        cols = {c: np.empty(0, dtype=_EMPTY_DTYPES.get(c, np.float64)) for c in {*columns, "lon", "lat"}}
    data: dict[str, Any] = {"point_id": np.array([f"{seed}-{i:06d}" for i in range(len(cols["lon"]))], dtype=object)}
    data.update({c: cols[c] for c in columns})
    geometry = gpd.points_from_xy(np.asarray(cols["lon"], dtype=np.float64), np.asarray(cols["lat"], dtype=np.float64))
    frame = gpd.GeoDataFrame(data, geometry=geometry, crs="EPSG:4326")
    frame.attrs["sampling"] = attrs
    return frame
