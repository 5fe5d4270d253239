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
