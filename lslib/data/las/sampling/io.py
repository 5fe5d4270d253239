"""Sampled points on disk: GeoParquet + GeoJSON + a PNG map (:func:`write_points`), and back (:func:`read_points`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lslib.atomic import atomic_path

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.axes import Axes

__all__ = ["REQUIRED_COLUMNS", "read_points", "write_points"]

REQUIRED_COLUMNS = ("point_id", "stratum", "lon", "lat")
_SMALL_AREA_DEG = (90.0, 45.0)  # points spanning less than this (lon, lat) get a zoomed map


def _check_points(points: Any, where: str) -> None:
    import geopandas as gpd

    if not isinstance(points, gpd.GeoDataFrame):
        raise ValueError(f"{where}: expected a GeoDataFrame of points, got {type(points).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in points.columns]
    if missing:
        raise ValueError(
            f"{where}: missing columns {missing}; point tables need {list(REQUIRED_COLUMNS)} and a geometry "
            "(as made by lslib.data.las.sampling.sample_*)"
        )
    if points.crs is None:
        raise ValueError(f"{where}: the points have no CRS; set it (points.set_crs(4326) for lon/lat)")


def write_points(
    points: gpd.GeoDataFrame, out_dir: str | Path, *, name: str, title: str | None = None
) -> dict[str, Path]:
    """Write ``<name>.parquet`` (GeoParquet), ``<name>.geojson`` and ``<name>.png`` (a map) into ``out_dir``.

    The map shows the GLOBE land mask in light grey (0.25° for the world; finer when all points lie in a small
    area, which is then the map's extent) with the points coloured by stratum, a legend with the count per
    stratum, axes in degrees and ``title`` (default: name and count). Each file is written atomically.

    Args:
        points: sampled points (columns ``point_id``, ``stratum``, ``lon``, ``lat``, a geometry and a CRS);
            they are written in EPSG:4326.
        out_dir: folder, created if needed.
        name: file stem, without folders.
        title: map title.

    Returns:
        ``{"parquet": path, "geojson": path, "png": path}``.
    """
    _check_points(points, "write_points")
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"name must be a plain file stem such as 'las_global', got {name!r}")
    pts = points if points.crs.to_epsg() == 4326 else points.to_crs(4326)
    folder = Path(out_dir)
    paths = {k: folder / f"{name}.{k}" for k in ("parquet", "geojson", "png")}
    with atomic_path(paths["parquet"]) as tmp:
        pts.to_parquet(tmp)
    doc = json.loads(pts.to_json(drop_id=True, na="null"))
    doc["columns"] = [str(c) for c in pts.columns if c != pts.geometry.name]  # order, also when there are no points
    with atomic_path(paths["geojson"]) as tmp:
        tmp.write_text(json.dumps(doc), encoding="utf-8")
    with atomic_path(paths["png"]) as tmp:
        _plot_map(pts, tmp, title if title is not None else f"{name}: {len(pts)} points")
    return paths


def read_points(path: str | Path) -> gpd.GeoDataFrame:
    """Read points written by :func:`write_points` (``.parquet`` or ``.geojson``/``.json``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: another suffix, or required columns (``point_id``, ``stratum``, ``lon``, ``lat``) missing.
    """
    import geopandas as gpd

    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".parquet", ".geojson", ".json"):
        raise ValueError(
            f"{p}: read_points reads .parquet (GeoParquet) or .geojson files, not {suffix or 'no suffix'!r}"
        )
    if not p.is_file():
        raise FileNotFoundError(f"{p} does not exist; write it with lslib.data.las.sampling.write_points")
    if suffix == ".parquet":
        frame = gpd.read_parquet(p)
    else:
        doc = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
            raise ValueError(f"{p} is not a GeoJSON FeatureCollection")
        features = doc.get("features") or []
        order = doc.get("columns") or (list(features[0].get("properties") or {}) if features else [])
        frame = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326", columns=[*order, "geometry"])
        frame = frame[[*order, "geometry"]]
    _check_points(frame, f"read_points({p})")
    return frame


def _stratum_colours(k: int) -> list[Any]:
    from matplotlib import colormaps

    if k <= 10:
        return list(colormaps["tab10"].colors)[:k]  # type: ignore[attr-defined]
    tab20 = list(colormaps["tab20"].colors)  # type: ignore[attr-defined]
    pool = tab20[0::2] + tab20[1::2]  # strong colours first, then their light pairs
    for cmap in ("tab20b", "tab20c"):
        pool += list(colormaps[cmap].colors)  # type: ignore[attr-defined]
    return [pool[i % len(pool)] for i in range(k)]


def _map_bounds(lon: np.ndarray, lat: np.ndarray) -> tuple[float, float, float, float]:
    """(west, south, east, north): the world, or the points' box plus a margin when they span a small area."""
    if len(lon) == 0:
        return -180.0, -90.0, 180.0, 90.0
    w, e, s, n = float(lon.min()), float(lon.max()), float(lat.min()), float(lat.max())
    if e - w >= _SMALL_AREA_DEG[0] or n - s >= _SMALL_AREA_DEG[1]:
        return -180.0, -90.0, 180.0, 90.0
    pad = max(0.1 * max(e - w, n - s), 0.02)
    return max(w - pad, -180.0), max(s - pad, -90.0), min(e + pad, 180.0), min(n + pad, 90.0)


def _plot_map(points: gpd.GeoDataFrame, path: Path, title: str) -> None:
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from lslib.data.las.sampling.strata import land_mask_grid

    lon = np.asarray(points.geometry.x, dtype=np.float64)
    lat = np.asarray(points.geometry.y, dtype=np.float64)
    bounds = _map_bounds(lon, lat)
    world = bounds == (-180.0, -90.0, 180.0, 90.0)
    fig = Figure(figsize=(13, 6.5) if world else (10, 8), dpi=110)
    ax = fig.add_subplot()
    land, extent = land_mask_grid(bounds, max_pixels=1440)
    ax.imshow(
        land.astype(np.uint8),
        extent=extent,
        origin="upper",
        interpolation="nearest",
        cmap=ListedColormap(["#ffffff", "#d4d4d4"]),
        vmin=0,
        vmax=1,
    )
    _scatter_strata(ax, points, lon, lat)
    ax.set_xlim(bounds[0], bounds[2])
    ax.set_ylim(bounds[1], bounds[3])
    ax.set_aspect(1.0 / max(np.cos(np.radians((bounds[1] + bounds[3]) / 2)), 0.2) if not world else "equal")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=7))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=8))
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_title(title)
    ax.grid(True, linewidth=0.3, color="0.6", alpha=0.5)
    fig.savefig(path, format="png", bbox_inches="tight")


def _class_colours(points: gpd.GeoDataFrame, names: list[str]) -> list[Any] | None:
    """The product's class colours when the points come from :func:`sample_in_label` with a taxonomy."""
    key = (points.attrs.get("sampling") or {}).get("taxonomy")
    if key is None or "code" not in points.columns:
        return None
    from lslib.taxonomy import get_taxonomy

    tax = get_taxonomy(str(key))
    first = points.groupby("stratum", sort=False)["code"].first()
    codes = [int(first[name]) for name in names]
    return [tax.by_code(c).color for c in codes] if all(c in tax for c in codes) else None


def _scatter_strata(ax: Axes, points: gpd.GeoDataFrame, lon: np.ndarray, lat: np.ndarray) -> None:
    strata = np.asarray(points["stratum"].astype(str))
    names = list(dict.fromkeys(strata.tolist()))  # order of first appearance (samplers sort by stratum)
    size = float(np.clip(400.0 / np.sqrt(max(len(points), 1)), 3.0, 30.0))
    colours = _class_colours(points, names) or _stratum_colours(len(names))
    for name, colour in zip(names, colours, strict=True):
        sel = strata == name
        ax.scatter(
            lon[sel],
            lat[sel],
            s=size,
            color=colour,
            edgecolors="black",
            linewidths=0.2,
            label=f"{name} ({int(sel.sum())})",
            zorder=3,
        )
    if names:
        ax.legend(
            title=f"stratum (count), {len(points)} points",
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=7,
            title_fontsize=8,
            ncol=1 if len(names) <= 24 else 2,
            frameon=False,
            markerscale=1.5,
        )
