"""Online LAS recipes against a loopback STAC API whose items are shaped like Planetary Computer's.

The fixture items (``tests/pc_like_stac.py``) reproduce what broke the recipes on the live API:
NAIP's ``image`` asset without ``raster:bands``, Landsat 7 mixed with Landsat 8, CDL's three item
types, HH/HV-only Sentinel-1 items, a cloudy best scene. Each online recipe is built over them with
its own code path (smaller chips, the recipe's filters, candidates and scaling).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pc_like_stac
import pytest
from shapely.geometry import Point

from lslib.data.las import search
from lslib.data.las.build import build_las
from lslib.data.las.chips import list_chips, list_records, read_chip
from lslib.data.las.recipes import Recipe, load_recipe, parse_recipe


@pytest.fixture(scope="module")
def pc_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from lslib.data.local_stac.server import serve_local

    catalog = pc_like_stac.write_catalog(tmp_path_factory.mktemp("pc-like"))
    with serve_local(catalog) as server:
        yield server.url


def _small(recipe: Recipe, **image: Any) -> Recipe:
    """The recipe with 32-pixel chips, all chips kept (one point), local URL, no signing."""
    quality = dataclasses.replace(recipe.quality, single_class_quota=1.0)
    return dataclasses.replace(recipe, chip=dataclasses.replace(recipe.chip, size=32), quality=quality, sign=None,
                               image=dataclasses.replace(recipe.image, **image))


def _build(recipe: Recipe, url: str, root: Path) -> dict[str, Any]:
    pts = gpd.GeoDataFrame({"point_id": [f"{recipe.name}-0"], "stratum": ["fixture"], "lon": [pc_like_stac.LON],
                            "lat": [pc_like_stac.LAT]}, geometry=[Point(pc_like_stac.LON, pc_like_stac.LAT)],
                           crs="EPSG:4326")
    (root / recipe.name).mkdir(parents=True, exist_ok=True)
    pts.to_parquet(root / recipe.name / "points.parquet")
    summary = build_las(recipe, root, stac_url=url, workers=0, progress=False)
    assert not list_records(root, "failed"), list_records(root, "failed")
    chips = list_chips(root, recipe.name)
    return {"summary": summary, "chip": read_chip(chips[0]) if chips else None,
            "rejected": list_records(root, "rejected")}


def test_naip_image_asset_without_raster_bands_loads_four_bands(pc_url: str, tmp_path: Path) -> None:
    out = _build(_small(load_recipe("naip-chesapeake")), pc_url, tmp_path)
    chip = out["chip"]
    assert chip is not None, out["summary"]
    assert list(chip.image["band"].values) == ["R", "G", "B", "N"] and chip.image.shape == (4, 32, 32)
    assert float(chip.image.min()) >= 40 / 255 - 1e-6 and float(chip.image.max()) <= 220 / 255 + 1e-6
    assert chip.meta["label_item"] == "md-lc-7-2013"


def test_naip_dtype_is_read_from_the_file_when_the_recipe_gives_none(pc_url: str, tmp_path: Path) -> None:
    out = _build(_small(load_recipe("naip-chesapeake"), dtype=None), pc_url, tmp_path)
    assert out["chip"] is not None and out["chip"].image.shape[0] == 4


def test_landsat_skips_landsat7_and_falls_back_past_a_cloudy_scene(pc_url: str, tmp_path: Path) -> None:
    recipe = _small(load_recipe("landsat-lcmap"))
    out = _build(recipe, pc_url, tmp_path / "a")
    chip = out["chip"]
    assert chip is not None, out["summary"]
    # LE07 (least cloudy, no coastal band) is filtered out; the cloudy LC08 is tried and rejected; next one used
    assert chip.meta["image_item"] == "LC08_L2SP_015033_20210805_02_T1"
    assert chip.image.shape == (7, 32, 32) and chip.meta["label_item"].startswith("LCMAP_CU_2021")
    # without the platform filter and the fall-back, the point is lost for good
    old = _small(recipe, query={}, candidates=1)
    lost = _build(old, pc_url, tmp_path / "b")
    assert lost["chip"] is None and lost["rejected"][0]["reason"] == "missing band"
    only_first = _small(recipe, candidates=1)
    cloudy = _build(only_first, pc_url, tmp_path / "c")
    assert cloudy["chip"] is None and cloudy["rejected"][0]["reason"] == "cloud"


def test_all_candidates_rejected_reports_each(pc_url: str, tmp_path: Path) -> None:
    recipe = _small(load_recipe("landsat-lcmap"), query={"platform": {"in": ["landsat-8"]}}, candidates=5)
    recipe = dataclasses.replace(recipe, quality=dataclasses.replace(recipe.quality, max_nodata_fraction=0.0,
                                                                     max_cloud_fraction=0.0))
    recipe = dataclasses.replace(recipe, image=dataclasses.replace(recipe.image, datetime="2021-06-01/2021-06-30"))
    out = _build(recipe, pc_url, tmp_path)
    assert out["chip"] is None and out["rejected"][0]["reason"] == "cloud"


def test_cdl_uses_the_cropland_item(pc_url: str, tmp_path: Path) -> None:
    recipe = _small(load_recipe("s2l2a-cdl"))
    out = _build(recipe, pc_url, tmp_path)
    chip = out["chip"]
    assert chip is not None, out["summary"]
    assert chip.meta["label_item"] == "cropland_2021_18" and chip.image.shape == (12, 32, 32)
    assert set(chip.meta["class_counts"]) <= {"1", "5", "24", "36", "61"}
    poly = Point(pc_like_stac.LON, pc_like_stac.LAT).buffer(1e-4)
    every = search.search_items(recipe, pc_url, "usda-cdl", poly, recipe.label.datetime, None)
    assert sorted(i.properties["usda_cdl:type"] for i in every) == ["cropland", "cultivated", "frequency"]
    picked = search.search_items(recipe, pc_url, "usda-cdl", poly, recipe.label.datetime, None, recipe.label.query)
    assert [i.id for i in picked] == ["cropland_2021_18"]


def test_s1_skips_hh_hv_items(pc_url: str, tmp_path: Path) -> None:
    recipe = _small(load_recipe("s1rtc-worldcover"))
    out = _build(recipe, pc_url, tmp_path / "a")
    chip = out["chip"]
    assert chip is not None, out["summary"]
    assert chip.meta["image_item"].endswith("_VV") and list(chip.image["band"].values) == ["VV", "VH"]
    lost = _build(_small(recipe, query={}, candidates=1), pc_url, tmp_path / "b")
    assert lost["chip"] is None and lost["rejected"][0]["reason"] == "missing band"


def test_search_sends_query_sort_and_limit_only_where_supported() -> None:
    recipe = load_recipe("landsat-lcmap")
    geom = Point(0, 0).buffer(1).__geo_interface__
    online = search.search_kwargs("landsat-c2-l2", geom, recipe.image.datetime, recipe.image.query, 10,
                                  can_query=True, can_sort=True)
    assert online["query"] == {"platform": {"in": ["landsat-8", "landsat-9"]}, "eo:cloud_cover": {"lte": 10}}
    assert online["sortby"] == [{"field": "properties.eo:cloud_cover", "direction": "asc"}]
    assert online["limit"] == online["max_items"] == search.SORTED_LIMIT
    local = search.search_kwargs("landsat-c2-l2", geom, recipe.image.datetime, recipe.image.query, 10,
                                 can_query=False, can_sort=False)
    assert "query" not in local and "sortby" not in local and local["max_items"] == search.UNSORTED_LIMIT
    s1 = load_recipe("s1rtc-worldcover").image
    assert search.server_query(s1.query, None) == {}  # 'contains' is evaluated client-side only


def test_matches_query() -> None:
    q = {"sar:polarizations": {"contains": ["VV", "VH"]}, "platform": {"in": ["a", "b"]}}
    assert search.matches_query({"sar:polarizations": ["VV", "VH"], "platform": "a"}, q)
    assert not search.matches_query({"sar:polarizations": ["HH", "HV"], "platform": "a"}, q)
    assert not search.matches_query({"sar:polarizations": ["VV", "VH"]}, q)
    assert search.matches_query({"eo:cloud_cover": 3}, {"eo:cloud_cover": {"lte": 3, "gt": 0}})
    assert not search.matches_query({"eo:cloud_cover": "x"}, {"eo:cloud_cover": {"lt": 3}})


def test_recipe_query_is_validated() -> None:
    doc = {"name": "x", "title": "x", "stac_url": "local", "licence": "x", "attribution": "x",
           "image": {"collection": "c", "sensor": "landsat8", "bands": {"SR_B2": "blue"}, "datetime": "2021",
                     "query": {"platform": {"like": "x"}}},
           "label": {"collection": "l", "band": "data", "taxonomy": "lcmap"}}
    with pytest.raises(ValueError, match="unknown operator"):
        parse_recipe(doc)


def test_nrcan_recipe_matches_the_2015_product() -> None:
    r = load_recipe("landsat-nrcan")
    assert "2015" in r.title and "2015" in r.attribution and "2020" not in r.title + r.attribution
    assert r.label.datetime == "2015-01-01/2015-12-31" and r.image.datetime.startswith("2015-")
    assert r.image.query == {"platform": {"in": ["landsat-8", "landsat-9"]}}


def test_check_stac_signs_one_item_and_stops_on_a_refusal(pc_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(obj: Any) -> Any:  # like planetary_computer.sign_inplace without the key: items of this collection
        # a search page (a dict of features), an Item or a Collection
        ids = [f.get("collection") for f in obj.get("features", [])] if isinstance(obj, dict) else [obj.id]
        if "sentinel-1-rtc" not in ids or not isinstance(obj, dict):
            return obj
        raise OSError("403 Client Error: Forbidden for url: https://planetarycomputer.microsoft.com/api/sas/v1/sign")

    monkeypatch.setitem(search.SIGNERS, "refusing", refuse)
    monkeypatch.setitem(search.SIGNERS, "passing", lambda obj: obj)
    search.check_stac(pc_url, "passing", ["sentinel-1-rtc", "esa-worldcover"])
    with pytest.raises(search.StacAccessError, match=search.PC_KEY_ENV):
        search.check_stac(pc_url, "refusing", ["sentinel-1-rtc"])


def test_las_check_reports_what_the_api_serves(pc_url: str) -> None:
    from lslib.data.las.check import check_recipe, format_check

    recipe = dataclasses.replace(load_recipe("naip-chesapeake"), sign=None)
    report = check_recipe(recipe, pc_url)
    naip, label = report
    assert naip["item"] == "md_m_3807604_ne_18_1_20130909" and "26918" in naip["crs"] and naip["resolution"] == 1
    assert [b["band"] for b in naip["bands"]] == ["image.1", "image.2", "image.3", "image.4"]
    assert {b["dtype"] for b in naip["bands"]} == {"uint8"}
    assert label["bands"][0]["nodata"] == 15
    landsat = check_recipe(dataclasses.replace(load_recipe("landsat-lcmap"), sign=None), pc_url)[0]
    assert landsat["item"].startswith("LC08") and landsat["bands"][0]["scale"] == pytest.approx(2.75e-5)
    assert "image.4" in format_check(recipe, report)


def test_las_check_offline_says_it_needs_the_internet(capsys: pytest.CaptureFixture[str]) -> None:
    from lslib.cli.main import main

    assert main(["las", "check", "--subset", "s2l2a-cdl"]) == 2
    assert "needs the internet" in capsys.readouterr().err


# --- defect 7: tiled label products (LCMAP here: two tiles, proj:wkt2) -----------------------------------------


def _tiled(min_distance_km: float = 0.3, n: int = 12) -> Recipe:
    recipe = _small(load_recipe("landsat-lcmap"))
    return dataclasses.replace(recipe, sampling=dataclasses.replace(recipe.sampling, n=n,
                                                                    min_distance_km=min_distance_km))


def _chip_items(recipe: Recipe, url: str, lon: float, lat: float) -> list[str]:
    """Ids of the label items that hold the whole chip of a point (on the image grid, as the builder cuts it)."""
    image = search.search_items(recipe, url, recipe.image.collection, Point(lon, lat).buffer(1e-7),
                                recipe.image.datetime, recipe.image.max_cloud, recipe.image.query)
    chip = search.wgs84_polygon(search.chip_geobox(recipe, image[0], lon, lat))
    return [i.id for i in search.label_items(recipe, url) if search.item_shape(i).contains(chip)]


def test_label_items_filters_by_datetime_and_query_and_splits_full_pages(pc_url: str) -> None:
    lcmap = _tiled()
    ids = [i.id for i in search.label_items(lcmap, pc_url)]
    assert ids == ["LCMAP_CU_2021_V13_LCPRI-018012", "LCMAP_CU_2021_V13_LCPRI-019012"]
    assert [i.id for i in search.label_items(lcmap, pc_url, page=1)] == ids  # boxes split until a page is not full
    other_year = dataclasses.replace(lcmap, label=dataclasses.replace(lcmap.label, datetime="2019-01-01/2019-12-31"))
    assert search.label_items(other_year, pc_url) == []
    cdl = dataclasses.replace(load_recipe("s2l2a-cdl"), sign=None)
    assert [i.id for i in search.label_items(cdl, pc_url)] == ["cropland_2021_18"]


def test_within_label_points_have_their_chip_in_exactly_one_label_tile(pc_url: str, tmp_path: Path) -> None:
    from lslib.data.las.build import sample_subset

    recipe = _tiled()
    assert recipe.sampling.within_label and recipe.sampling.strategy == "global"
    pts = sample_subset(recipe, url=pc_url)
    assert len(pts) >= 6 and pts.attrs["sampling"]["within_footprints"] == 2
    tiles = {t for lon, lat in zip(pts.lon, pts.lat, strict=True) for t in _chip_items(recipe, pc_url, lon, lat)}
    for lon, lat in zip(pts.lon, pts.lat, strict=True):
        assert len(_chip_items(recipe, pc_url, lon, lat)) == 1, (lon, lat)
    assert len(tiles) == 2  # both tiles get points
    (tmp_path / recipe.name).mkdir(parents=True)
    pts.to_parquet(tmp_path / recipe.name / "points.parquet")
    summary = build_las(recipe, tmp_path, stac_url=pc_url, workers=0, progress=False)
    assert not list_records(tmp_path, "failed"), list_records(tmp_path, "failed")
    assert not any("label does not cover" in r for r in summary.reasons), summary.reasons
    chips = [read_chip(p) for p in list_chips(tmp_path, recipe.name)]
    assert len(chips) == len(pts), summary
    assert {c.meta["label_item"] for c in chips} == tiles


def test_a_chip_across_the_tile_edge_is_rejected(pc_url: str, tmp_path: Path) -> None:
    """What within_label avoids: global sampling may draw a point on the edge between two label tiles."""
    from pyproj import Transformer

    recipe = _tiled()
    _, y = Transformer.from_crs("EPSG:4326", f"EPSG:{pc_like_stac.ALBERS}", always_xy=True).transform(
        pc_like_stac.LON, pc_like_stac.LAT)
    t = pc_like_stac.lcmap_grid()
    edge_x = (t * (pc_like_stac.LCMAP_SPLIT, 0))[0]
    lon, lat = Transformer.from_crs(f"EPSG:{pc_like_stac.ALBERS}", "EPSG:4326", always_xy=True).transform(edge_x, y)
    assert _chip_items(recipe, pc_url, lon, lat) == []
    point = {"point_id": "edge-0", "lon": lon, "lat": lat}
    from lslib.data.las.cut import build_chip

    out = build_chip(recipe, point, url=pc_url, root=str(tmp_path))
    assert out["status"] == "rejected" and out["reason"] == "label does not cover the chip"


def test_within_label_is_validated() -> None:
    doc = {"name": "x", "title": "x", "stac_url": "local", "licence": "x", "attribution": "x",
           "image": {"collection": "c", "sensor": "landsat8", "bands": {"SR_B2": "blue"}, "datetime": "2021"},
           "label": {"collection": "l", "band": "data", "taxonomy": "lcmap"},
           "sampling": {"strategy": "label", "within_label": True}}
    with pytest.raises(ValueError, match="within_label"):
        parse_recipe(doc)
    tiled = [n for n in ("s2l2a-cdl", "landsat-lcmap", "landsat-nrcan", "naip-chesapeake", "s2l2a-worldcover")
             if load_recipe(n).sampling.within_label]
    assert len(tiled) == 5


# --- proj:wkt2 instead of proj:epsg ------------------------------------------------------------------------------


def test_proj_wkt2_items_are_searched_cut_and_checked(pc_url: str) -> None:
    from lslib.data.las.check import check_recipe

    recipe = _tiled()
    tiles = search.label_items(recipe, pc_url)
    assert all(t.properties.get("proj:epsg") is None and "proj:wkt2" in t.properties for t in tiles)
    window = search.item_window(tiles[0], "lcpri", 16)
    assert window.crs.epsg == pc_like_stac.ALBERS and abs(window.affine.a) == 30
    assert search.item_crs({"proj:code": "EPSG:32618", "proj:epsg": 1}) == "EPSG:32618"
    assert search.item_crs({"proj:epsg": None, "proj:wkt2": "PROJCRS[...]"}) == "PROJCRS[...]"
    assert search.item_crs({}) is None
    label = check_recipe(dataclasses.replace(recipe, sign=None), pc_url)[1]
    assert "error" not in label, label
    assert label["item"].startswith("LCMAP_CU_2021") and "5070" in label["crs"] and label["resolution"] == 30
    assert label["bands"][0]["dtype"] == "uint8" and label["bands"][0]["nodata"] == 0
