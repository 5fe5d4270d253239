"""Sampling of LAS chip locations: reproducibility, min distance, land, allocation, labels, footprints, I/O."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import xarray as xr
from pyproj import Transformer

from lslib.data.las.sampling import (
    biome_strata,
    is_land,
    read_points,
    sample_global,
    sample_in_footprints,
    sample_in_label,
    write_points,
)
from lslib.data.las.sampling.landmask import land_mask
from lslib.data.las.sampling.strata import land_mask_grid, zone_index

CONUS = (-125.0, 24.0, -66.5, 49.5)
R_EARTH_M = 6_371_008.8


def pairwise_haversine_m(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Brute force: all pairwise great-circle distances (metres), the diagonal set to +inf."""
    lo, la = np.radians(np.asarray(lon))[:, None], np.radians(np.asarray(lat))[:, None]
    a = np.sin((la.T - la) / 2) ** 2 + np.cos(la) * np.cos(la.T) * np.sin((lo.T - lo) / 2) ** 2
    d = 2 * R_EARTH_M * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    np.fill_diagonal(d, np.inf)
    return d


def counts(points: gpd.GeoDataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in points["stratum"].value_counts().items()}


# --- biome strata ------------------------------------------------------------------------------------------------

PLACES = {  # (lon, lat): expected stratum, all inland
    (2.35, 48.85): "Europe / temperate",  # Paris
    (31.2, 30.0): "Africa / subtropical",  # Cairo (west of Suez)
    (33.8, 29.5): "Asia / subtropical",  # Sinai
    (39.8, 21.4): "Asia / tropical",  # Mecca
    (37.6, 55.75): "Europe / boreal",  # Moscow (north of 55°)
    (61.4, 55.2): "Asia / boreal",  # Chelyabinsk (east of the Urals)
    (139.7, 35.7): "Asia / temperate",  # Tokyo
    (149.1, -35.3): "Oceania / temperate",  # Canberra
    (133.9, -23.7): "Oceania / subtropical",  # Alice Springs
    (-157.8, 21.3): "Oceania / tropical",  # Honolulu
    (143.2, -6.0): "Oceania / tropical",  # New Guinea highlands (PNG)
    (138.5, -4.0): "Oceania / tropical",  # Papua (Indonesia), east of 131° E
    (106.8, -6.3): "Asia / tropical",  # Jakarta
    (-51.7, 64.2): "North America / boreal",  # Nuuk
    (-40.0, 75.0): "North America / polar",  # Greenland ice sheet
    (-21.0, 64.5): "Europe / boreal",  # Iceland
    (-79.5, 9.0): "North America / tropical",  # Panama City
    (-74.1, 4.7): "South America / tropical",  # Bogotá
    (-68.3, -54.8): "South America / temperate",  # Ushuaia
    (47.5, -18.9): "Africa / tropical",  # Antananarivo
    (-169.8, 66.1): "Asia / boreal",  # Chukotka, west of 169° W
    (166.7, -77.8): "Antarctica / polar",  # McMurdo
    (-57.5, -63.5): "Antarctica / subantarctic",  # Trinity Peninsula (north of 66.56° S)
    (33.4, 35.1): "Asia / temperate",  # Cyprus
    (0.0, 0.0): "ocean",
}


def test_biome_strata_of_known_places() -> None:
    lon, lat = np.array(list(PLACES)).T
    got = biome_strata(lon, lat)
    assert got.shape == (len(PLACES),)
    assert dict(zip(PLACES, got.tolist(), strict=True)) == PLACES
    assert biome_strata(2.35, 48.85).shape == ()  # scalars broadcast
    assert biome_strata(np.full((2, 3), 2.35), 48.85).shape == (2, 3)


def test_zones_by_absolute_latitude() -> None:
    lat = np.array([0.0, 23.43, 23.45, -23.45, 34.99, 35.01, 54.99, 55.01, -55.01, 66.55, 66.57, -66.57])
    names = ["tropical", "subtropical", "temperate", "boreal", "subantarctic", "polar"]
    got = [names[i] for i in zone_index(lat)]
    assert got == ["tropical", "tropical", "subtropical", "subtropical", "subtropical", "temperate", "temperate",
                   "boreal", "subantarctic", "boreal", "polar", "polar"]  # fmt: skip


def test_biome_strata_rejects_bad_coordinates() -> None:
    with pytest.raises(ValueError, match="out of range"):
        biome_strata(10.0, 95.0)
    with pytest.raises(ValueError, match="NaN"):
        biome_strata(np.nan, 0.0)


def test_land_mask_grid_world_is_quarter_degree() -> None:
    land, extent = land_mask_grid()
    assert land.shape == (720, 1440) and extent == (-180.0, 180.0, -90.0, 90.0)
    assert 0.25 < land.mean() < 0.35  # land is ~29 % of the cells of a plate carrée grid
    # north up, west left: the pixel sampled for each map cell is the GLOBE pixel at its top-left corner
    lat = 90.0 - (np.arange(720) * 30 + 0.5) / 120
    lon = -180.0 + (np.arange(1440) * 30 + 0.5) / 120
    np.testing.assert_array_equal(land, is_land(lat[:, None], lon[None, :]))
    zoom, (west, east, south, north) = land_mask_grid((8.0, 54.0, 13.0, 58.0))  # Denmark: 1 km pixels
    assert zoom.shape == (480, 600) and (west, east, south, north) == (8.0, 13.0, 54.0, 58.0)
    np.testing.assert_array_equal(zoom, is_land(58.0 - (np.arange(480) + 0.5)[:, None] / 120,
                                                8.0 + (np.arange(600) + 0.5)[None, :] / 120))  # fmt: skip


# --- the GLOBE land mask, without global_land_mask.globe ---------------------------------------------------------

# Run in a child process: importing global_land_mask.globe holds ~1 GB for the life of the process.
_AGREEMENT = """
import json, sys
import numpy as np
from lslib.data.las.sampling import is_land
is_land(0.0, 0.0)
imported = sorted(m for m in sys.modules if m.startswith("global_land_mask"))
from global_land_mask import globe
rng = np.random.default_rng(0)
n = 20_000
lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))  # uniform on the sphere
lon = rng.uniform(-180, 180, n)
random = float((is_land(lat, lon) == globe.is_land(lat, lon)).mean())
# coasts (Denmark, 0.0125 deg), grid lines (multiples of 1/120 deg), the grid's edges, and their combinations
lat2, lon2 = np.meshgrid(np.linspace(54, 58, 321), np.linspace(8, 13, 401), indexing="ij")
g_lat = np.clip(rng.integers(-10800, 10801, n) / 120, -90, 90)
g_lon = np.clip(rng.integers(-21600, 21601, n) / 120, -180, 180)
e_lat = np.array([90, -90, 89.99999, -89.99999, 0.0, globe._lat.min(), globe._lat.max()])
e_lon = np.array([180, -180, 179.99999, -179.99999, 0.0, globe._lon.min(), globe._lon.max()])
lat3 = np.concatenate([lat2.ravel(), g_lat, np.repeat(e_lat, len(e_lon))])
lon3 = np.concatenate([lon2.ravel(), g_lon, np.tile(e_lon, len(e_lat))])
ours, theirs = is_land(lat3, lon3), globe.is_land(lat3, lon3)
coast = float((ours == theirs).mean())
print(json.dumps({"imported": imported, "random": random, "coast_grid_edges": coast, "n": int(lat3.size),
                  "scalar": [bool(is_land(55.68, 12.52)), bool(globe.is_land(55.68, 12.52))]}))
"""


def test_is_land_equals_global_land_mask_globe() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _AGREEMENT], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got["imported"] == []  # lslib never imports the package (its import loads the 933 MB array)
    assert got["random"] == 1.0 and got["coast_grid_edges"] == 1.0  # native resolution: exact, everywhere
    assert got["scalar"] == [True, True]  # Copenhagen


def test_is_land_inputs() -> None:
    assert is_land(48.85, 2.35).shape == () and bool(is_land(48.85, 2.35))  # Paris; lat first, like globe
    assert not is_land(0.0, 0.0)
    assert is_land(np.full((2, 3), 48.85), [2.35, -10.0, -30.0]).tolist() == [[True, False, False]] * 2
    assert is_land(np.array([90.0, -90.0]), np.array([180.0, -180.0])).tolist() == [False, True]
    with pytest.raises(ValueError, match="argument order lat, lon"):
        is_land(149.1, -35.3)  # Canberra as (lon, lat)
    with pytest.raises(ValueError, match="longitude"):
        is_land(0.0, 180.5)
    with pytest.raises(ValueError, match="NaN"):
        is_land([0.0, np.nan], 0.0)
    with pytest.raises(ValueError, match="px_per_deg must be one of"):
        is_land(0.0, 0.0, px_per_deg=50)


def test_coarse_land_mask_is_rebuilt_and_keeps_all_land() -> None:
    native = land_mask()
    assert native.path.parent.name == "land_mask" and native.path.name.startswith("globe_120ppd_")
    assert native.packed.shape == (21600, 5400) and native.packed.dtype == np.uint8
    coarse_path = native.path.with_name(native.path.name.replace("globe_120ppd_", "globe_60ppd_"))
    coarse_path.write_bytes(native.path.read_bytes()[:1000])  # a truncated file is rebuilt, not trusted
    coarse = land_mask(60)
    assert coarse.path == coarse_path and coarse.packed.shape == (10800, 2700)
    np.testing.assert_array_equal(coarse.cells, native.cells)
    rng = np.random.default_rng(5)
    lat, lon = np.degrees(np.arcsin(rng.uniform(-1, 1, 20_000))), rng.uniform(-180, 180, 20_000)
    fine, rough = is_land(lat, lon), is_land(lat, lon, px_per_deg=60)
    assert not (fine & ~rough).any()  # "any land": no land lost, some sea along coasts counts as land
    assert (fine == rough).mean() >= 0.995


_RSS = """
import resource, sys
from lslib.data.las.sampling import sample_global
pts = sample_global(200, seed=0)
kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform == "darwin" else 1)
print(len(pts), round(kib / 1024), any(m.startswith("global_land_mask") for m in sys.modules))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="resource.getrusage and /bin/sh are POSIX")
def test_sample_global_peak_memory_cold_and_warm_cache(tmp_path: Path) -> None:
    env = {**os.environ, "LSLIB_CACHE_DIR": str(tmp_path)}

    def peak_mb() -> int:
        # Through a shell that forks (does not exec) Python: a child spawned by pytest itself would inherit
        # pytest's own resident size in ru_maxrss (Linux keeps the high-water mark across vfork + exec).
        cmd = ["/bin/sh", "-c", '"$0" -c "$1"; exit $?', sys.executable, _RSS]
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        n, mb, imported = run.stdout.split()
        assert n == "200" and imported == "False"
        return int(mb)

    cold = peak_mb()  # builds the packed mask, streaming the npz (was ~1.2 GB with global_land_mask.globe)
    names = sorted(p.name for p in (tmp_path / "land_mask").iterdir())
    assert len(names) == 2 and names[0].startswith("globe_120ppd_") and names[1].endswith("_cells.npy")
    warm = peak_mb()  # memory-maps it
    assert cold < 600 and warm < 400, (cold, warm)


# --- sample_global -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def global_pts() -> gpd.GeoDataFrame:
    return sample_global(2000, seed=0, min_distance_km=10.0)


def test_global_is_reproducible(global_pts: gpd.GeoDataFrame) -> None:
    again = sample_global(2000, seed=0, min_distance_km=10.0)
    assert again.equals(global_pts)
    other = sample_global(2000, seed=1, min_distance_km=10.0)
    assert len(other) == 2000
    assert not np.isin(other["lon"].to_numpy(), global_pts["lon"].to_numpy()).any()
    assert list(global_pts.columns) == ["point_id", "stratum", "lon", "lat", "geometry"]
    assert global_pts.crs.to_epsg() == 4326
    assert global_pts["point_id"].iloc[0] == "0-000000" and global_pts["point_id"].is_unique
    assert other["point_id"].iloc[-1] == "1-001999"


def test_global_min_distance_and_land(global_pts: gpd.GeoDataFrame) -> None:
    lon, lat = global_pts["lon"].to_numpy(), global_pts["lat"].to_numpy()
    assert len(global_pts) == 2000
    assert pairwise_haversine_m(lon, lat).min() >= 10_000.0
    assert is_land(lat, lon).all()
    np.testing.assert_array_equal(global_pts.geometry.x, lon)
    np.testing.assert_array_equal(biome_strata(lon, lat), global_pts["stratum"].to_numpy())


def test_global_full_strata_hand_on_their_quota(global_pts: gpd.GeoDataFrame) -> None:
    per = global_pts.attrs["sampling"]["per_stratum"]
    k = len(per)
    assert k >= 20  # 7 regions × up to 5 zones, the combinations that hold land
    full = {s for s, v in per.items() if v["saturated"]}
    assert full == {"Europe / subtropical"}  # Madeira and a strip of Crete: ~20 points at 10 km
    c = counts(global_pts)
    assert c["Europe / subtropical"] < 2000 / k
    others = [c[s] for s in per if s not in full]
    assert max(others) - min(others) <= 1 and sum(c.values()) == 2000


def test_global_equal_allocation_when_available() -> None:
    pts = sample_global(400, seed=3, min_distance_km=5.0)
    c = counts(pts)
    k = len(c)
    assert all(abs(v - 400 / k) <= 1 for v in c.values()), c
    assert not any(v["saturated"] for v in pts.attrs["sampling"]["per_stratum"].values())


def test_global_proportional_follows_land_area() -> None:
    pts = sample_global(600, seed=0, min_distance_km=10.0, allocation="proportional")
    c = counts(pts)
    assert sum(c.values()) == 600
    assert c["Africa / tropical"] > 5 * c.get("Europe / polar", 0)  # ~17 M km² against ~0.3 M km²
    assert c.get("Europe / subtropical", 0) <= 1


def test_global_region_box() -> None:
    pts = sample_global(300, seed=0, min_distance_km=10.0, region=CONUS)
    west, south, east, north = CONUS
    assert len(pts) == 300
    assert pts["lon"].between(west, east).all() and pts["lat"].between(south, north).all()
    assert set(pts["stratum"]) == {"North America / subtropical", "North America / temperate"}
    regions = sample_global(50, seed=0, region=CONUS, strata="region")
    assert set(regions["stratum"]) == {"North America"}


def test_global_warns_when_n_does_not_fit() -> None:
    madeira = (-17.4, 32.5, -16.2, 33.2)
    with pytest.warns(UserWarning, match=r"100 points requested but only \d+ fit with min_distance_km=10"):
        pts = sample_global(100, seed=0, min_distance_km=10.0, region=madeira)
    assert 3 <= len(pts) < 30
    assert pairwise_haversine_m(pts["lon"], pts["lat"]).min() >= 10_000.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "positive integer"),
        ({"n": -5}, "positive integer"),
        ({"n": 2.5}, "positive integer"),
        ({"n": 10, "min_distance_km": -1.0}, "min_distance_km must be"),
        ({"n": 10, "region": (10.0, 0.0, 5.0, 10.0)}, "not a valid lon/lat box"),
        ({"n": 10, "region": (0.0, -95.0, 10.0, 0.0)}, "not a valid lon/lat box"),
        ({"n": 10, "region": (1.0, 2.0, 3.0)}, "west, south, east, north"),
        ({"n": 10, "region": (-30.0, -10.0, -20.0, 0.0)}, "no land"),
        ({"n": 10, "allocation": "random"}, "allocation must be"),
        ({"n": 10, "strata": "koppen"}, "strata must be"),
        ({"n": 10, "seed": -1}, "seed must be"),
    ],
)
def test_global_bad_input(kwargs: dict[str, object], match: str) -> None:
    n = kwargs.pop("n")
    with pytest.raises(ValueError, match=match):
        sample_global(n, **kwargs)  # type: ignore[arg-type]


# --- sample_in_label ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nlcd(sample: Callable[[str], Path]) -> xr.DataArray:
    from lslib.data.readers import read_label

    return read_label(sample("landsat8-nlcd2011-zion/nlcd2011.tif"), taxonomy="nlcd")


def test_label_rare_classes_chips_and_codes(nlcd: xr.DataArray) -> None:
    from lslib.taxonomy import get_taxonomy

    values = nlcd.values
    assert (values == 11).mean() < 0.001  # open water: 1209 of 1.46 M pixels
    pts = sample_in_label(nlcd, 140, seed=0, chip_size_px=32, chip_gsd_m=30.0, taxonomy="nlcd")
    assert len(pts) == 140
    assert list(pts.columns) == ["point_id", "stratum", "code", "x", "y", "crs", "lon", "lat", "geometry"]
    c = counts(pts)
    assert c["Open Water"] >= 3 and c["Cultivated Crops"] >= 1
    assert set(pts["code"]) == set(np.unique(values).tolist())  # every class present gets points
    # the sampled pixel holds the class, and points are pixel centres
    at = nlcd.sel(x=xr.DataArray(pts["x"].to_numpy()), y=xr.DataArray(pts["y"].to_numpy())).values
    np.testing.assert_array_equal(at, pts["code"].to_numpy())
    tax = get_taxonomy("nlcd")
    assert [tax.by_code(k).name for k in pts["code"]] == pts["stratum"].tolist()
    # the 960 m chip fits inside the raster; chips are a chip side (960 m) apart
    left, bottom, right, top = nlcd.rio.bounds()
    half = 32 * 30.0 / 2
    assert (pts["x"] - half >= left).all() and (pts["x"] + half <= right).all()
    assert (pts["y"] - half >= bottom).all() and (pts["y"] + half <= top).all()
    xy = pts[["x", "y"]].to_numpy()
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    assert d.min() >= 960.0
    # lon/lat are the pixel centres in EPSG:4326
    lon, lat = Transformer.from_crs(nlcd.rio.crs, "EPSG:4326", always_xy=True).transform(pts["x"], pts["y"])
    np.testing.assert_allclose(pts["lon"], lon)
    np.testing.assert_allclose(pts["lat"], lat)
    assert set(pts["crs"]) == {nlcd.rio.crs.to_string()}
    # classes that did not run out share the quota equally
    per = pts.attrs["sampling"]["per_stratum"]
    open_counts = [v["count"] for v in per.values() if not v["saturated"]]
    assert max(open_counts) - min(open_counts) <= 1


def test_label_is_reproducible(nlcd: xr.DataArray) -> None:
    kw = {"chip_size_px": 16, "chip_gsd_m": 30.0, "min_distance_m": 500.0}
    a = sample_in_label(nlcd, 50, seed=7, **kw)  # type: ignore[arg-type]
    b = sample_in_label(nlcd, 50, seed=7, **kw)  # type: ignore[arg-type]
    c = sample_in_label(nlcd, 50, seed=8, **kw)  # type: ignore[arg-type]
    assert a.equals(b) and not a[["x", "y"]].equals(c[["x", "y"]])
    assert a["stratum"].iloc[0] == "11"  # no taxonomy: the code as text


def test_label_proportional(nlcd: xr.DataArray) -> None:
    pts = sample_in_label(nlcd, 100, chip_size_px=16, chip_gsd_m=30.0, allocation="proportional")
    c = counts(pts)
    assert sum(c.values()) == 100
    assert c["42"] > c["52"] > c["21"]  # evergreen 39 %, shrub 37 %, developed open space 1 %


def _synthetic_label() -> xr.DataArray:
    """200 × 200 px at 10 m (EPSG:32633): class 1 in the top half; below, nodata except class 2 in cols 150-159."""
    a = np.zeros((200, 200), dtype=np.uint8)
    a[:100] = 1
    a[100:, 150:160] = 2
    x = 500_000 + 10.0 * (np.arange(200) + 0.5)
    y = 5_000_000 - 10.0 * (np.arange(200) + 0.5)
    da = xr.DataArray(a, dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs("EPSG:32633")
    return da.rio.write_nodata(0, encoded=False)


def test_label_skips_chips_with_mostly_nodata() -> None:
    label = _synthetic_label()
    pts = sample_in_label(label, 40, seed=0, min_distance_m=20.0, chip_size_px=40, chip_gsd_m=10.0)
    assert set(pts["stratum"]) == {"1", "2"}  # the thin strip still gets points where chips are half valid
    cols = np.round((pts["x"].to_numpy() - 500_000) / 10 - 0.5).astype(int)
    rows = np.round((5_000_000 - pts["y"].to_numpy()) / 10 - 0.5).astype(int)
    a = label.values
    for r, c in zip(rows, cols, strict=True):  # 41 × 41 pixel centres inside each 400 m chip
        window = a[r - 20 : r + 21, c - 20 : c + 21]
        assert window.shape == (41, 41)  # inside the raster
        assert (window == 0).mean() <= 0.5
    strip = pts["code"] == 2
    assert (rows[strip] <= 108).all()  # lower in the strip the chip is > 50 % nodata


def test_label_bad_input(nlcd: xr.DataArray) -> None:
    kw = {"chip_size_px": 16, "chip_gsd_m": 30.0}
    small = nlcd.isel(x=slice(0, 50), y=slice(0, 50))
    with pytest.raises(ValueError, match="no CRS"):
        sample_in_label(xr.DataArray(small.values, dims=("y", "x")), 10, **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="only nodata"):
        sample_in_label(small.where(False, 255).astype("uint8").rio.write_nodata(255), 10, **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive integer"):
        sample_in_label(small, 0, **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_distance_m must be"):
        sample_in_label(small, 5, min_distance_m=-1.0, **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chip_size_px"):
        sample_in_label(small, 5, chip_size_px=0, chip_gsd_m=10.0)
    with pytest.raises(ValueError, match="2-D"):
        sample_in_label(small.expand_dims(band=[1]), 5, **kw)  # type: ignore[arg-type]


def test_label_geographic_worldcover_mangroves(sample: Callable[[str], Path]) -> None:
    from lslib.data.readers import read_label

    path = sample("esa-worldcover-tile-N00E006/ESA_WorldCover_10m_2021_v200_N00E006_Map.tif")
    tile = read_label(path, taxonomy="esa_worldcover", chunks={"x": 2048, "y": 2048})
    # São Tomé, every 4th pixel (~37 m): 1350 × 1200 px of the 36000² tile
    label = tile.sel(x=slice(6.4, 6.8), y=slice(0.45, 0.0)).isel(x=slice(None, None, 4), y=slice(None, None, 4))
    label = label.load()
    assert (label.values == 95).sum() < 500  # mangroves: ~0.01 % of the window
    pts = sample_in_label(label, 90, seed=1, chip_size_px=16, chip_gsd_m=10.0, taxonomy="esa_worldcover")
    c = counts(pts)
    assert c["Mangroves"] >= 5 and c["Herbaceous wetland"] >= 5
    at = label.sel(x=xr.DataArray(pts["x"].to_numpy()), y=xr.DataArray(pts["y"].to_numpy())).values
    np.testing.assert_array_equal(at, pts["code"].to_numpy())
    assert pairwise_haversine_m(pts["lon"], pts["lat"]).min() >= 160.0
    west, south, east, north = label.rio.bounds(recalc=True)
    half_deg = 80.0 / 110_574.0  # 160 m chip, in degrees of latitude (longitude: same order at the equator)
    assert pts["lat"].between(south + half_deg, north - half_deg).all()
    assert pts["lon"].between(west + half_deg * 0.99, east - half_deg * 0.99).all()


# --- sample_in_footprints ----------------------------------------------------------------------------------------

FOOTPRINTS = [
    shapely.box(6.5, 0.1, 6.7, 0.3),  # ~22 km square on the equator
    shapely.Polygon([(10.0, 45.0), (10.5, 45.0), (10.25, 45.4)]),  # ~40 km triangle in northern Italy
]


def test_footprints_points_inside_shrunk_polygons() -> None:
    pts = sample_in_footprints(FOOTPRINTS, 60, seed=0, min_distance_m=2000.0, margin_m=1000.0)
    assert len(pts) == 60 and counts(pts) == {"footprint-0": 30, "footprint-1": 30}
    assert pairwise_haversine_m(pts["lon"], pts["lat"]).min() >= 2000.0
    for i, poly in enumerate(FOOTPRINTS):
        own = pts[pts["footprint"] == i]
        series = gpd.GeoSeries([poly], crs=4326)
        utm = series.estimate_utm_crs()
        poly_m = series.to_crs(utm).iloc[0]
        pts_m = own.to_crs(utm).geometry
        assert pts_m.within(poly_m).all()
        assert (pts_m.distance(poly_m.exterior) >= 990.0).all()  # the 1 km margin (UTM scale ±0.1 %)
    again = sample_in_footprints(FOOTPRINTS, 60, seed=0, min_distance_m=2000.0, margin_m=1000.0)
    assert again.equals(pts)
    other = sample_in_footprints(FOOTPRINTS, 60, seed=1, min_distance_m=2000.0, margin_m=1000.0)
    assert not np.isin(other["lon"].to_numpy(), pts["lon"].to_numpy()).any()


def test_footprints_geodataframe_ids_and_vanishing_margin() -> None:
    tiny = shapely.box(20.0, 10.0, 20.005, 10.005)  # ~550 m: gone with a 500 m margin
    frame = gpd.GeoDataFrame({"id": ["S2A_a", "S2B_b", "tiny"]}, geometry=[*FOOTPRINTS, tiny], crs=4326)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pts = sample_in_footprints(frame, 20, seed=0, min_distance_m=1000.0, margin_m=500.0)
    assert any("vanishes" in str(w.message) for w in caught)
    assert counts(pts) == {"S2A_a": 10, "S2B_b": 10}


def test_footprints_bad_input() -> None:
    with pytest.raises(ValueError, match="empty"):
        sample_in_footprints([], 10, min_distance_m=100.0)
    projected = gpd.GeoDataFrame(geometry=FOOTPRINTS, crs=4326).to_crs(3857)
    with pytest.raises(ValueError, match="not EPSG:4326"):
        sample_in_footprints(projected, 10, min_distance_m=100.0)
    with pytest.raises(ValueError, match="EPSG:4326"):
        sample_in_footprints([shapely.box(500_000, 4e6, 510_000, 4.01e6)], 10, min_distance_m=100.0)
    with pytest.raises(ValueError, match="no CRS"):
        sample_in_footprints(gpd.GeoDataFrame(geometry=FOOTPRINTS), 10, min_distance_m=100.0)
    with pytest.raises(ValueError, match="antimeridian"):
        sample_in_footprints([shapely.box(-179.5, 0.0, 179.5, 1.0)], 10, min_distance_m=100.0)
    with pytest.raises(ValueError, match="Polygons"):
        sample_in_footprints([shapely.Point(1, 1)], 10, min_distance_m=100.0)
    with pytest.raises(ValueError, match="min_distance_m must be"):
        sample_in_footprints(FOOTPRINTS, 10, min_distance_m=-5.0)
    with pytest.raises(ValueError, match="margin_m must be"):
        sample_in_footprints(FOOTPRINTS, 10, min_distance_m=5.0, margin_m=-1.0)
    with pytest.raises(ValueError, match="positive integer"):
        sample_in_footprints(FOOTPRINTS, 0, min_distance_m=5.0)


# --- write / read ------------------------------------------------------------------------------------------------


def test_write_read_round_trip(global_pts: gpd.GeoDataFrame, nlcd: xr.DataArray, tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    paths = write_points(global_pts, tmp_path, name="las_global", title="LAS global sample")
    assert {k: p.name for k, p in paths.items()} == {
        "parquet": "las_global.parquet", "geojson": "las_global.geojson", "png": "las_global.png",
    }  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["las_global.geojson", "las_global.parquet", "las_global.png"]
    for key in ("parquet", "geojson"):
        back = read_points(paths[key])
        assert list(back.columns) == list(global_pts.columns)
        assert back.crs.to_epsg() == 4326
        assert back["point_id"].tolist() == global_pts["point_id"].tolist()
        assert back["stratum"].tolist() == global_pts["stratum"].tolist()
        np.testing.assert_array_equal(back["lon"], global_pts["lon"])
        np.testing.assert_array_equal(back.geometry.y, global_pts.geometry.y)
    image = mpimg.imread(paths["png"])
    assert image.ndim == 3 and image.shape[0] > 400 and image.shape[1] > 800 and image.std() > 0.05

    pts = sample_in_label(nlcd, 30, chip_size_px=16, chip_gsd_m=30.0, taxonomy="nlcd")
    paths = write_points(pts, tmp_path / "zion", name="zion")
    for key in ("parquet", "geojson"):
        back = read_points(paths[key])
        assert list(back.columns) == list(pts.columns) and back["code"].dtype == np.int64
        assert back.drop(columns="geometry").equals(pts.drop(columns="geometry"))
    assert mpimg.imread(paths["png"]).shape[0] > 300  # zoomed to Zion


def test_read_points_errors(global_pts: gpd.GeoDataFrame, tmp_path: Path) -> None:
    (tmp_path / "points.csv").write_text("point_id,lon,lat\n")
    with pytest.raises(ValueError, match=r"\.parquet .* or \.geojson"):
        read_points(tmp_path / "points.csv")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_points(tmp_path / "missing.parquet")
    global_pts.drop(columns="stratum").to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match=r"missing columns \['stratum'\]"):
        read_points(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="plain file stem"):
        write_points(global_pts, tmp_path, name="a/b")
