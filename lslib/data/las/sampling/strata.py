"""A coarse, documented stratification of the land surface: region (continent) × climate zone by latitude.

Land/sea comes from the 1 km GLOBE land mask of the PyPI package ``global-land-mask`` (1/120° grid; its
lakes count as land), read through :mod:`lslib.data.las.sampling.landmask`: a bit-packed, memory-mapped copy in the
lslib cache (built on first use in ~3 s), never the package's own module, which holds ~1 GB for the life of
the process.

Regions are simple lon/lat polygons (:data:`REGION_POLYGONS`), tested in this order, first match wins:

1. **Antarctica** - everything south of 60° S (the Antarctic Treaty limit).
2. **South America** - east of 93° W and south of a line along the Panama-Colombia border, the Caribbean coast
   (Trinidad and Tobago in; Aruba, Curaçao, Bonaire and Grenada out) and the Atlantic (Galápagos, Fernando de
   Noronha, South Georgia and the South Sandwich Islands in).
3. **Oceania** - Australia, New Zealand, New Guinea east of 131° E (the Sahul shelf: Aru, Kai, Tanimbar),
   Micronesia south of 21° N, Melanesia and Polynesia including Hawaii and Easter Island.
4. **North America** - the Americas north of South America, the Caribbean, Greenland (split from Iceland along
   the Denmark Strait), Bermuda, Alaska with the whole Aleutian chain, St Lawrence Island.
5. **Africa** - bounded by the Atlantic west of 30° W, the Strait of Gibraltar and the Mediterranean (Lampedusa
   in, Malta and Pantelleria out), the Suez Canal and the Red Sea and Gulf of Aden axes, and the Indian Ocean
   west of a line 60° E / 0° → 80° E / 25° S: Canary and Cape Verde Islands, Madagascar, the Mascarenes,
   Seychelles, Socotra and the sub-Antarctic Indian-Ocean islands (Prince Edward, Crozet, Kerguelen, Heard) in.
6. **Europe** - north of Africa and east of Greenland, west of the Ural crest and Ural River, the Caspian, the
   Greater Caucasus crest, the Black Sea, the Bosporus, the Dardanelles and the Greece-Turkey line in the Aegean
   (Iceland, Azores, Madeira, Svalbard, Franz Josef Land, Novaya Zemlya and Crete in; Cyprus out).
7. **Asia** - the rest, including Chukotka west of 169° W, the Middle East, Cyprus, Sinai, Indonesia west of
   131° E, the Philippines, Japan, the Maldives and Chagos.

The lines are coarse (a few km to tens of km off); small islands within ~20 km of another region's coast can
land on the wrong side. Climate zones use the absolute latitude: tropical < 23.44°, subtropical < 35°,
temperate < 55°, boreal < 66.56° (in the southern hemisphere this band is called ``subantarctic``), polar above.
A stratum is ``"<region> / <zone>"``, e.g. ``"Africa / tropical"``; points not on land are ``"ocean"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from lslib.data.las.sampling.landmask import land_mask

__all__ = [
    "OCEAN",
    "REGIONS",
    "REGION_POLYGONS",
    "ZONES",
    "biome_strata",
    "land_mask_grid",
]

Strata = Literal["biome", "region", "zone", "none"]
Ring = Sequence[tuple[float, float]]

REGIONS = ("North America", "South America", "Europe", "Africa", "Asia", "Oceania", "Antarctica")
ZONES = ("tropical", "subtropical", "temperate", "boreal", "subantarctic", "polar")
OCEAN = "ocean"
# Upper bounds of |latitude| (degrees) of the zones, from the equator outwards.
ZONE_EDGES_DEG = (23.44, 35.0, 55.0, 66.56)

# (lon, lat) rings in degrees; a region may have several rings. Asia has none: it is everything left.
REGION_POLYGONS: dict[str, tuple[Ring, ...]] = {
    "Antarctica": (((-180, -90), (180, -90), (180, -60), (-180, -60)),),
    "South America": (
        (
            (-93, -60), (-20, -60), (-20, -50), (-28, -40), (-28, 2), (-55, 9), (-60, 11.5), (-67, 11.3),
            (-69.5, 11.8), (-70.1, 12.3), (-71.5, 12.6), (-72.5, 12.7), (-76.5, 12.8), (-77.37, 8.68),
            (-77.9, 7.2), (-82, 5), (-93, 2),
        ),
    ),
    "Oceania": (
        ((-180, 30), (-125, 30), (-125, 0), (-100, -10), (-100, -60), (-180, -60)),
        (
            (112, -60), (180, -60), (180, 21), (137, 21), (130, 8), (131, 1), (131, -9), (130, -10),
            (123, -11.5), (112, -20),
        ),
    ),
    "North America": (
        (
            (-180, 0), (-180, 64), (-169, 64), (-169, 90), (-8, 90), (-8, 82), (-13, 79), (-15, 75), (-20, 70),
            (-28, 67), (-35, 60), (-40, 45), (-40, 0),
        ),
        ((170, 50), (180, 50), (180, 56), (170, 56)),
    ),
    "Africa": (
        (
            (-30, -60), (-30, 31), (-20, 31), (-6, 35.95), (-5, 35.95), (-2, 36.2), (0, 36.4), (8, 37.3),
            (10, 37.6), (11.5, 37.2), (12.3, 36.3), (14, 35.5), (20, 34.0), (25, 34.2), (32.3, 31.5),
            (32.3, 31.25), (32.27, 30.6), (32.55, 29.95), (32.7, 29.5), (33.6, 27.8), (35, 26), (38, 21), (40, 17),
            (42.5, 14), (43.35, 12.55), (51.5, 12.2), (60, 15), (60, 0), (66, -5), (80, -25), (80, -60),
        ),
    ),
    "Europe": (
        (
            (-45, 31), (-45, 90), (70, 90), (70, 77), (66, 70), (66, 68.5), (64.9, 66.1), (59.1, 65.0),
            (59.2, 63.9), (59.6, 59.6), (60, 57), (59, 55), (59, 53.4), (58.6, 51.2), (55.1, 51.8), (51.4, 51.2),
            (51.9, 47.0), (49.8, 45.0), (49.5, 41.0), (48.9, 41.0), (47.9, 41.2), (46.6, 41.8), (45.3, 42.5),
            (44.5, 42.7), (42.4, 43.35), (41.4, 43.4), (40.0, 43.97), (39.0, 44.35), (38.0, 44.7), (37.3, 45.0),
            (36.6, 45.3), (29.13, 41.24), (29.06, 41.1), (29.0, 41.0), (28.0, 40.8), (27.3, 40.6), (26.7, 40.38),
            (26.4, 40.15), (26.2, 40.02), (25.95, 39.55), (26.5, 39.4), (26.75, 38.95), (26.25, 38.6),
            (26.2, 38.2), (26.5, 37.95), (27.08, 37.8), (27.08, 37.3), (27.0, 37.0), (27.45, 36.95),
            (27.4, 36.65), (28.1, 36.6), (28.45, 36.45), (29.7, 36.05), (30.0, 35.0), (32.3, 31.5),
        ),
    ),
}  # fmt: skip
# Order of the point-in-polygon tests (first match wins); Asia is the remainder.
_TEST_ORDER = ("Antarctica", "South America", "Oceania", "North America", "Africa", "Europe")


def _check_lonlat(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    if not (np.isfinite(lon_a).all() and np.isfinite(lat_a).all()):
        raise ValueError("lon/lat contain NaN or infinite values; pass finite degrees")
    if lon_a.size and (np.abs(lon_a).max() > 180 or np.abs(lat_a).max() > 90):
        raise ValueError(
            "lon/lat out of range: lon must be in [-180, 180] and lat in [-90, 90] degrees (EPSG:4326); "
            "reproject projected coordinates first"
        )
    return lon_a, lat_a


@lru_cache(maxsize=1)
def _prepared_regions() -> tuple[tuple[str, Any], ...]:
    import shapely

    out = []
    for name in _TEST_ORDER:
        geom = shapely.union_all([shapely.Polygon(ring) for ring in REGION_POLYGONS[name]])
        shapely.prepare(geom)
        out.append((name, geom))
    return tuple(out)


def region_index(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Index into :data:`REGIONS` of each (lon, lat) in degrees, land or not (int8, same shape)."""
    import shapely

    out = np.full(lon.shape, REGIONS.index("Asia"), dtype=np.int8)
    todo = np.ones(lon.shape, dtype=bool)
    for name, geom in _prepared_regions():
        if not todo.any():
            break
        hit = np.zeros(lon.shape, dtype=bool)
        hit[todo] = shapely.intersects_xy(geom, lon[todo], lat[todo])
        out[hit] = REGIONS.index(name)
        todo &= ~hit
    return out


def zone_index(lat: np.ndarray) -> np.ndarray:
    """Index into :data:`ZONES` of each latitude in degrees (int8, same shape)."""
    band = np.searchsorted(np.asarray(ZONE_EDGES_DEG), np.abs(lat), side="right")  # 0..4 from the equator
    names = np.array([0, 1, 2, 3, 5], dtype=np.int8)[band]  # tropical, subtropical, temperate, boreal, polar
    return np.where((band == 3) & (lat < 0), np.int8(ZONES.index("subantarctic")), names).astype(np.int8)


def stratum_names(strata: Strata) -> tuple[str, ...]:
    """All possible stratum names of a stratification, in a fixed order (region order, then zone order)."""
    if strata == "biome":
        return tuple(f"{r} / {z}" for r in REGIONS for z in ZONES)
    if strata == "region":
        return REGIONS
    if strata == "zone":
        return ZONES
    if strata == "none":
        return ("land",)
    raise ValueError(f"strata must be 'biome', 'region', 'zone' or 'none', not {strata!r}")


def combine(region: np.ndarray, zone: np.ndarray, strata: Strata) -> np.ndarray:
    """Stratum index (into :func:`stratum_names`) from region and zone indices."""
    if strata == "biome":
        return region.astype(np.int16) * len(ZONES) + zone
    if strata == "region":
        return region.astype(np.int16)
    if strata == "zone":
        return zone.astype(np.int16)
    stratum_names(strata)  # raises on an unknown name
    return np.zeros(region.shape, dtype=np.int16)


def stratum_index(lon: np.ndarray, lat: np.ndarray, strata: Strata = "biome") -> np.ndarray:
    """Stratum index of each point (into :func:`stratum_names`), -1 for points not on land."""
    out = np.full(lon.shape, -1, dtype=np.int16)
    land = land_mask().lookup(lat, lon)  # callers pass finite, in-range float64 degrees
    if land.any():
        out[land] = combine(region_index(lon[land], lat[land]), zone_index(lat[land]), strata)
    return out


def biome_strata(lon: Any, lat: Any) -> np.ndarray:
    """The stratum ``"<region> / <zone>"`` of each point, ``"ocean"`` where the GLOBE mask says sea.

    Args:
        lon: longitudes in degrees (EPSG:4326), any shape broadcastable with ``lat``.
        lat: latitudes in degrees.

    Returns:
        numpy str array of the broadcast shape, e.g. ``"Europe / temperate"`` for Paris and ``"ocean"`` for
        (0°, 0°). Regions and zones are documented in :mod:`lslib.data.las.sampling.strata`.

    Raises:
        ValueError: NaN, or coordinates outside [-180, 180] × [-90, 90].
    """
    lon_a, lat_a = _check_lonlat(lon, lat)
    idx = stratum_index(lon_a, lat_a, "biome")
    names = np.array([*stratum_names("biome"), OCEAN])
    return names[np.where(idx < 0, len(names) - 1, idx)]


# --- 0.25° cells: which strata each cell of the globe can hold ------------------------------------------------

CELL_DEG = 0.25
_BOX_CHUNK = 32_768


@lru_cache(maxsize=1)
def land_cells() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 0.25° cells holding at least one GLOBE land pixel: (row, col, region flags).

    Cell (row, col) spans lon ``-180 + 0.25 col`` .. ``+0.25`` and lat ``90 - 0.25 row`` .. ``-0.25``. The
    flags ``(n_cells, len(REGIONS))`` say which regions' polygons the cell touches (exact, with shapely).
    """
    import shapely

    r, c = np.nonzero(land_mask().cells)  # cached with the mask: the whole mask is not read here
    owns: list[tuple[int, Any]] = []  # (region index, the part of the plane where it is the first match)
    taken = None
    for name, geom in _prepared_regions():
        owns.append((REGIONS.index(name), geom if taken is None else shapely.difference(geom, taken)))
        taken = geom if taken is None else shapely.union(taken, geom)
    owns.append((REGIONS.index("Asia"), shapely.difference(shapely.box(-180, -90, 180, 90), taken)))
    for _, own in owns:
        shapely.prepare(own)
    flags = np.zeros((len(r), len(REGIONS)), dtype=bool)
    for lo in range(0, len(r), _BOX_CHUNK):  # ~360k cells: boxes in chunks keep memory low (GEOS objects)
        sl = slice(lo, lo + _BOX_CHUNK)
        west, north = -180.0 + CELL_DEG * c[sl], 90.0 - CELL_DEG * r[sl]
        boxes = shapely.box(west, north - CELL_DEG, west + CELL_DEG, north)
        for k, own in owns:
            flags[sl, k] = shapely.intersects(boxes, own)
        del boxes
    return r, c, flags


def cell_zone_flags(rows: np.ndarray) -> np.ndarray:
    """(n, len(ZONES)) bool: the zones that the latitude range of cell rows ``rows`` overlaps.

    Zone bands are > 11° wide, so a 0.25° cell meets at most two zones: those of its two edges.
    """
    north = 90.0 - CELL_DEG * rows
    flags = np.zeros((len(rows), len(ZONES)), dtype=bool)
    idx = np.arange(len(rows))
    flags[idx, zone_index(north - 1e-9)] = True
    flags[idx, zone_index(north - CELL_DEG + 1e-9)] = True
    return flags


def land_mask_grid(
    bounds: tuple[float, float, float, float] = (-180.0, -90.0, 180.0, 90.0), *, max_pixels: int = 1440
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The GLOBE land mask over ``bounds`` (west, south, east, north, degrees), strided for display.

    Returns ``(land, extent)``: a bool ``(rows, cols)`` array (north up, at most ``max_pixels`` along the longer
    side: 0.25° for the whole world) and its exact (west, east, south, north) for ``imshow(extent=...)``.
    """
    west, south, east, north = bounds
    mask = land_mask()
    n_rows, n_cols = mask.shape
    ppd = mask.px_per_deg
    c0 = int(np.clip(np.floor((west + 180.0) * ppd), 0, n_cols - 1))
    c1 = int(np.clip(np.ceil((east + 180.0) * ppd), c0 + 1, n_cols))
    r0 = int(np.clip(np.floor((90.0 - north) * ppd), 0, n_rows - 1))
    r1 = int(np.clip(np.ceil((90.0 - south) * ppd), r0 + 1, n_rows))
    step = max(1, int(np.ceil(max(c1 - c0, r1 - r0) / max_pixels)))
    land = mask.land_at(np.arange(r0, r1, step)[:, None], np.arange(c0, c1, step)[None, :])
    px = 1.0 / ppd
    extent = (
        -180.0 + c0 * px,
        -180.0 + (c0 + land.shape[1] * step) * px,
        90.0 - (r0 + land.shape[0] * step) * px,
        90.0 - r0 * px,
    )
    return land, extent
