"""Tests for lslib.taxonomy: every product table, the crosswalks and remapping, real samples where available.

Expected numbers are hand-checked: codes and colours against the product documentation / embedded
palettes, pixel counts against ``np.unique`` of the mirror files (noted next to each value).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lslib.taxonomy import (
    LandCoverClass,
    Taxonomy,
    class_histogram,
    crosswalk,
    get_taxonomy,
    hub_vocabulary,
    list_taxonomies,
    lut,
    remap,
)

REPO = Path(__file__).resolve().parents[2]
MIRROR = Path(os.environ.get("LSLIB_DATA_MIRROR") or REPO.parent / "shared" / "data")
KEYS = list_taxonomies()


def _mirror(rel: str) -> Path:
    """A file of the real-sample mirror, or skip the test with the reason."""
    path = MIRROR / rel
    if not path.exists():
        pytest.skip(f"real sample {rel} not found in the mirror {MIRROR} (set LSLIB_DATA_MIRROR)")
    return path


def _read_band(rel: str) -> tuple[np.ndarray, dict]:
    rasterio = pytest.importorskip("rasterio")
    with rasterio.open(_mirror(rel)) as ds:
        return ds.read(1), {"transform": ds.transform, "shape": ds.shape, "nodata": ds.nodata}


# --------------------------------------------------------------------------- every product


def test_products_listed() -> None:
    assert KEYS == [
        "esa_worldcover",
        "esri_lulc",
        "terramesh_lulc",
        "dynamic_world",
        "nlcd",
        "nlcd_generalised",
        "corine_l3",
        "corine_l2",
        "corine_l1",
        "chesapeake7",
        "loveda",
        "openearthmap",
        "worldcereal",
        "s2_scl",
        "globeland30_slovenia",
        "lcmap",
        "nrcan_landcover",
        "usda_cdl",
    ]
    sizes = {k: len(get_taxonomy(k)) for k in KEYS}
    assert sizes == {
        "esa_worldcover": 11,
        "esri_lulc": 9,
        "terramesh_lulc": 9,
        "dynamic_world": 9,
        "nlcd": 20,
        "nlcd_generalised": 8,
        "corine_l3": 44,
        "corine_l2": 15,
        "corine_l1": 5,
        "chesapeake7": 6,
        "loveda": 7,
        "openearthmap": 8,
        "worldcereal": 4,
        "s2_scl": 11,
        "globeland30_slovenia": 10,
        "lcmap": 8,
        "nrcan_landcover": 15,
        "usda_cdl": 133,
    }


@pytest.mark.parametrize("key", KEYS)
def test_table_is_well_formed(key: str) -> None:
    tax = get_taxonomy(key)
    assert tax.key == key and tax.title and tax.licence and tax.url.startswith("http") and tax.note
    assert tax.gsd_m is not None and tax.gsd_m > 0
    assert len(set(tax.codes)) == len(tax.codes) == len(tax)
    assert all(isinstance(c, int) and c >= 0 for c in tax.codes)
    assert all(n.strip() for n in tax.names)
    assert len({n.casefold() for n in tax.names}) == len(tax.names)
    for c in tax.classes:
        assert re.fullmatch(r"#[0-9a-f]{6}", c.color), c
        assert len(c.description) > 10 and c.description != c.name
        assert c.hub and set(c.hub) <= set(hub_vocabulary())
        assert c.code in tax and tax.by_code(c.code) is c
        assert tax.by_name(c.name) is c
        for s in c.synonyms:
            assert tax.by_name(s) is c


@pytest.mark.parametrize("key", KEYS)
def test_nodata_handling(key: str) -> None:
    tax = get_taxonomy(key)
    assert tax.nodata is not None and tax.nodata not in tax.codes and tax.nodata not in tax
    with pytest.raises(KeyError, match="nodata"):
        tax.by_code(tax.nodata)
    assert crosswalk(tax, tax)[tax.nodata] == (tax.nodata,)
    assert all(crosswalk(tax, tax)[c] == (c,) for c in tax.codes)
    assert len(tax.prompts()) == len(tax) and tax.prompts() == list(tax.names)
    hist = class_histogram(np.full((3, 3), tax.nodata), tax)
    assert list(hist) == list(tax.names) and sum(hist.values()) == 0


@pytest.mark.parametrize("key", KEYS)
def test_colormap_covers_all_codes(key: str) -> None:
    tax = get_taxonomy(key)
    cmap, nodata = tax.colormap(), tax.nodata
    assert nodata is not None and set(cmap) == set(tax.codes) | {nodata}
    assert cmap[nodata] == (0, 0, 0, 0)
    for c in tax.classes:
        r, g, b, a = cmap[c.code]
        assert a == 255 and f"#{r:02x}{g:02x}{b:02x}" == c.color


@pytest.mark.parametrize("key", KEYS)
def test_matplotlib_colours_and_legend(key: str) -> None:
    pytest.importorskip("matplotlib")
    tax = get_taxonomy(key)
    mpl_cmap, norm = tax.mpl_cmap_norm()
    codes = np.array([*tax.codes, tax.nodata])
    got = np.round(mpl_cmap(norm(codes)) * 255).astype(int)
    want = np.array([tax.colormap()[int(c)] for c in codes])
    np.testing.assert_array_equal(got, want)
    handles = tax.legend_handles()
    assert [h.get_label() for h in handles] == list(tax.names)
    first = tax.classes[0]
    only = tax.legend_handles(np.array([tax.nodata, first.code, first.code]))
    assert [h.get_label() for h in only] == [first.name]


# --------------------------------------------------------------------------- specific products


def test_worldcover_official_codes_and_colours() -> None:
    wc = get_taxonomy("esa_worldcover")
    assert wc.codes == (10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)
    assert wc.nodata == 0
    assert wc.by_code(10).name == "Tree cover" and wc.by_code(10).color == "#006400"
    assert wc.by_code(95).name == "Mangroves" and wc.by_code(95).color == "#00cf75"
    assert wc.by_code(100).color == "#fae6a0"


def test_worldcover_colours_match_the_product_palette() -> None:
    rasterio = pytest.importorskip("rasterio")
    path = _mirror("esa-worldcover-tile-N00E006/ESA_WorldCover_10m_2021_v200_N00E006_Map.tif")
    with rasterio.open(path) as ds:
        embedded = ds.colormap(1)
    for c in get_taxonomy("esa_worldcover").classes:
        assert embedded[c.code] == c.rgba, c.name


def test_worldcover_tile_to_esri_counts() -> None:
    rasterio = pytest.importorskip("rasterio")
    path = _mirror("esa-worldcover-tile-N00E006/ESA_WorldCover_10m_2021_v200_N00E006_Map.tif")
    with rasterio.open(path) as ds:  # 1/64 overview; np.unique: 0: 275110, 10: 2711, 30: 54, 50: 29, 60: 7,
        small = ds.read(1, out_shape=(562, 562))  # 80: 37932, 95: 1 (one mangrove pixel)
    with pytest.raises(ValueError, match="Mangroves"):
        remap(small, "esa_worldcover", "esri_lulc")
    esri = remap(small, "esa_worldcover", "esri_lulc", ambiguous="first")
    hist = class_histogram(esri, "esri_lulc")
    assert hist["Trees"] == 2711 + 1 and hist["Water"] == 37932 and hist["Rangeland"] == 54
    assert hist["Built area"] == 29 and hist["Bare ground"] == 7 and int((esri == 0).sum()) == 275110


def test_corine_levels_and_parents() -> None:
    l3, l2, l1 = (get_taxonomy(f"corine_l{i}") for i in (3, 2, 1))
    assert (len(l3), len(l2), len(l1)) == (44, 15, 5)
    assert l3.codes[0] == 111 and l3.codes[-1] == 523 and l1.codes == (1, 2, 3, 4, 5)
    assert l3.parent == "corine_l2" and l2.parent == "corine_l1" and l1.parent is None
    for c in l3.classes:
        assert c.parent == c.code // 10 and c.parent in l2
    for c in l2.classes:
        assert c.parent == c.code // 10 and c.parent in l1
    assert l3.by_code(211).name == "Non-irrigated arable land" and l3.by_code(211).color == "#ffffa8"
    assert l3.by_code(335).color == "#a6e6cc" and l3.by_code(523).color == "#e6f2ff"
    assert crosswalk("corine_l3", "corine_l2")[211] == (21,)
    assert crosswalk("corine_l3", "corine_l1")[211] == (2,)
    assert crosswalk("corine_l1", "corine_l3")[4] == (411, 412, 421, 422, 423)
    assert crosswalk("corine_l3", "esa_worldcover")[211] == (40,)
    assert lut(get_taxonomy("corine_l3"), "corine_l1").dtype == np.uint8
    assert lut(get_taxonomy("corine_l1"), "corine_l3", ambiguous="first").dtype == np.uint16


def test_bigearthnet_reference_map_to_corine_l1() -> None:
    rel = (
        "bigearthnet-samples/rico-hdl/Reference_Maps/S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP/"
        "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57/"
        "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57_reference_map.tif"
    )
    ref, _ = _read_band(rel)  # np.unique: 211: 7075, 231: 1154, 311: 4131, 313: 2040
    l1 = remap(ref, "corine_l3", "corine_l1")
    hist = class_histogram(l1, "corine_l1")
    assert hist == {
        "Artificial surfaces": 0,
        "Agricultural areas": 7075 + 1154,
        "Forest and semi natural areas": 4131 + 2040,
        "Wetlands": 0,
        "Water bodies": 0,
    }


def test_crosswalk_esri_and_worldcover() -> None:
    esri_to_wc = crosswalk("esri_lulc", "esa_worldcover")
    assert set(esri_to_wc[11]) == {20, 30}  # rangeland <-> shrubland + grassland
    assert esri_to_wc[2] == (10, 95)  # trees -> tree cover (+ mangroves)
    assert esri_to_wc[10] == ()  # clouds have no counterpart
    assert esri_to_wc[0] == (0,)
    wc_to_esri = crosswalk("esa_worldcover", "esri_lulc")
    assert wc_to_esri[10] == (2,)  # tree cover -> trees
    assert wc_to_esri[20] == (11,) and wc_to_esri[30] == (11,)
    assert wc_to_esri[95] == (2, 4)  # mangroves: trees or flooded vegetation
    assert wc_to_esri[100] == (11,)  # moss and lichen widened to grass -> rangeland
    table = lut(get_taxonomy("esa_worldcover"), "esri_lulc", ambiguous="first")
    assert (table[0], table[10], table[40], table[95], table[100]) == (0, 2, 5, 2, 11)
    assert table[15] == 0  # unused slots hold dst nodata


def test_crosswalk_through_hub_hierarchy() -> None:
    scl_to_wc = crosswalk("s2_scl", "esa_worldcover")
    assert set(scl_to_wc[4]) == {10, 20, 30, 40, 90, 95, 100}  # vegetation -> every vegetated class
    assert scl_to_wc[5] == (60, 50) and scl_to_wc[1] == () and scl_to_wc[0] == (0,)
    assert crosswalk("esa_worldcover", "s2_scl")[10] == (4,)
    assert crosswalk("s2_scl", "esri_lulc")[10] == (10,)  # thin cirrus -> clouds
    assert crosswalk("esa_worldcover", "loveda")[50] == (2, 3)  # built-up -> building, road
    assert crosswalk("esri_lulc", "dynamic_world")[2] == (1,)
    assert crosswalk("nlcd", "esa_worldcover")[81] == (30,)  # pasture/hay -> grassland
    assert hub_vocabulary()["mangroves"].broader == "trees"


def test_terramesh_esri_round_trip() -> None:
    codes = np.arange(10, dtype=np.uint8).reshape(2, 5)
    esri = remap(codes, "terramesh_lulc", "esri_lulc")
    np.testing.assert_array_equal(esri.ravel(), [0, 1, 2, 4, 5, 7, 8, 9, 10, 11])
    np.testing.assert_array_equal(remap(esri, "esri_lulc", "terramesh_lulc"), codes)
    tm, esri_tax = get_taxonomy("terramesh_lulc"), get_taxonomy("esri_lulc")
    for new, old in zip(tm.codes, esri_tax.codes, strict=True):
        assert tm.by_code(new).name == esri_tax.by_code(old).name
        assert tm.by_code(new).color == esri_tax.by_code(old).color


def test_terramesh_sample_to_esri() -> None:
    label, _ = _read_band("terramesh-examples-s2-esri-lulc/LULC/433D_629L_3_1.tif")
    # np.unique: 1: 3127, 2: 10396, 3: 90, 4: 21213, 5: 11742, 9: 3608
    esri = remap(label, "terramesh_lulc", "esri_lulc")
    values, counts = np.unique(esri, return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist(), strict=True)) == {
        1: 3127,
        2: 10396,
        4: 90,
        5: 21213,
        7: 11742,
        11: 3608,
    }


def test_nlcd_generalisation_reproduces_spdatalarge() -> None:
    detailed, meta2011 = _read_band("landsat8-nlcd2011-zion/nlcd2011.tif")
    general, meta = _read_band("landsat8-nlcd2011-zion/nlcd.tif")
    assert meta2011["shape"] == meta["shape"] == (1359, 1073)  # same grid (CRS labels differ, both UTM 12N)
    assert meta2011["transform"] == meta["transform"]
    assert meta2011["nodata"] == meta["nodata"] == 255
    out = remap(detailed, "nlcd", "nlcd_generalised")
    np.testing.assert_array_equal(out, general)
    hist = class_histogram(general, "nlcd_generalised")
    assert hist["Forest"] == 196044 + 564668 + 6825  # NLCD 41 + 42 + 43
    assert hist["Developed"] == 14149 + 3173 + 195  # NLCD 21 + 22 + 23
    assert hist["Shrubland"] == 545771  # NLCD 52


def test_nlcd_alaska_classes_flagged() -> None:
    nlcd = get_taxonomy("nlcd")
    alaska = [c.code for c in nlcd.classes if c.note == "Alaska only"]
    assert alaska == [51, 72, 73, 74]
    conus = [c for c in nlcd.codes if c not in alaska]
    assert conus == [11, 12, 21, 22, 23, 24, 31, 41, 42, 43, 52, 71, 81, 82, 90, 95]
    assert nlcd.by_code(42).color == "#1c5f2c" and nlcd.nodata == 255


def test_scl_histogram_of_real_tile() -> None:
    scl, _ = _read_band("s2-l2a-scl-T29UNU-ireland/T29UNU_20221005T115411_SCL_60m.jp2")
    hist = class_histogram(scl, "s2_scl")  # np.unique counts; 0 (outside swath) = 1353830 is nodata
    assert hist["Cloud medium probability"] == 757674 and hist["Vegetation"] == 522171
    assert hist["Saturated or defective"] == 0 and hist["Snow or ice"] == 10
    assert sum(hist.values()) == 1830 * 1830 - 1353830


def test_globeland30_slovenia_sample() -> None:
    lulc = np.load(_mirror("eolearn-testeopatch-slovenia/mask_timeless/LULC.npy"))[..., 0]
    hist = class_histogram(lulc, "globeland30_slovenia")  # np.unique: 0: 155, 1: 11, 2: 7601, 3: 1777, 4: 358, 8: 198
    assert hist["Forest"] == 7601 and hist["Artificial surface"] == 198 and hist["Tundra"] == 0
    assert not any(k.startswith("unknown") for k in hist)


def test_worldcereal_sample_codes() -> None:
    xr = pytest.importorskip("xarray")
    path = _mirror("worldcereal-lpis-s2-patches/OUTPUT_POLY-110_10m_00002806639B424A_32631_2017-08-01_2018-11-30.nc")
    with xr.open_dataset(path) as ds:
        lc = ds["LC"].values
    wcl = get_taxonomy("worldcereal")
    assert wcl.nodata == 0
    labels = np.nan_to_num(lc, nan=0).astype(np.int32)  # NaN = unlabelled = nodata 0
    hist = class_histogram(labels, wcl)  # np.unique: 11: 1249 + 96 + 31 + 25, 13: 835, 60: 107, 99: 1753
    assert hist == {"Temporary crops": 1401, "Grassland": 835, "Built-up": 107, "Non-cropland": 1753}
    assert crosswalk(wcl, "esa_worldcover")[11] == (40,)


def test_lcmap_primary_cover() -> None:
    lcmap = get_taxonomy("lcmap")
    assert len(lcmap) == 8 and lcmap.codes == tuple(range(1, 9)) and lcmap.nodata == 0
    assert lcmap.names == (
        "Developed",
        "Cropland",
        "Grass/Shrub",
        "Tree Cover",
        "Water",
        "Wetland",
        "Ice and Snow",
        "Barren",
    )
    assert lcmap.gsd_m == 30.0 and "public domain" in lcmap.licence
    assert lcmap.by_name("snow/ice").code == 7 and lcmap.by_name("wetlands").code == 6  # STAC spellings
    to_wc = crosswalk(lcmap, "esa_worldcover")
    assert to_wc[3] in ((30, 20), (20, 30))  # grass/shrub -> grassland + shrubland
    assert (to_wc[1], to_wc[2], to_wc[4], to_wc[5], to_wc[6], to_wc[7], to_wc[8]) == (
        (50,),
        (40,),
        (10,),
        (80,),
        (90,),
        (70,),
        (60,),
    )
    assert to_wc[0] == (0,)
    labels = np.array([[0, 1, 2, 3], [4, 5, 6, 8]], dtype=np.uint8)
    wc = remap(labels, lcmap, "esa_worldcover", ambiguous="first")
    np.testing.assert_array_equal(wc, [[0, 50, 40, 30], [10, 80, 90, 60]])


def test_nrcan_landcover_uses_the_nalcms_subset() -> None:
    nrcan = get_taxonomy("nrcan_landcover")
    assert nrcan.codes == (1, 2, 5, 6, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19)
    assert not {3, 4, 7, 9} & set(nrcan.codes)  # tropical NALCMS classes do not occur in Canada
    assert nrcan.nodata == 0 and nrcan.gsd_m == 30.0 and "Open Government Licence" in nrcan.licence
    assert nrcan.by_code(1).name == "Temperate or sub-polar needleleaf forest" and nrcan.by_code(1).color == "#033e00"
    assert nrcan.by_code(18).name == "Water" and nrcan.by_code(18).color == "#4c73a1"
    assert nrcan.by_code(19).color == "#fff7fe" and nrcan.by_name("urban and built-up").code == 17
    to_wc = crosswalk(nrcan, "esa_worldcover")
    assert to_wc[18] == (80,)
    assert all(to_wc[c] == (10,) for c in (1, 2, 5, 6))  # every forest class -> tree cover
    assert to_wc[15] == (40,) and to_wc[17] == (50,) and to_wc[12][0] == 100  # grass tundra -> moss and lichen


def test_usda_cdl_legend_and_crosswalk() -> None:
    cdl = get_taxonomy("usda_cdl")
    assert cdl.nodata == 0 and cdl.gsd_m == 30.0 and 0 not in cdl and 62 not in cdl
    expected = {
        1: "Corn",
        5: "Soybeans",
        24: "Winter Wheat",
        26: "Dbl Crop WinWht/Soybeans",
        111: "Open Water",
        142: "Evergreen Forest",
        176: "Grass/Pasture",
        195: "Herbaceous Wetlands",
        254: "Dbl Crop Barley/Soybeans",
    }
    assert {code: cdl.by_code(code).name for code in expected} == expected
    assert cdl.by_code(1).color == "#ffd400" and cdl.by_code(5).color == "#267300"
    assert cdl.by_code(24).color == "#a87000" and cdl.by_code(176).color == "#e9ffbe"
    assert cdl.by_name("maize").code == 1 and cdl.by_name("grassland/pasture").code == 176
    codes = set(cdl.codes)
    assert {*range(1, 7), *range(21, 40), *range(41, 62), 204, 205, *range(225, 251)} <= codes | {40}
    assert set(range(121, 125)) | {81, 82, 83, 87, 88, 92, 111, 112, 131, 141, 142, 143, 152, 190} <= codes
    assert max(codes) == 254 and {7, 8, 9, 40, 73, 251, 252, 253, 255}.isdisjoint(codes)
    legacy = [c.code for c in cdl.classes if c.note.startswith("legacy")]
    assert legacy == [63, 64, 65, 81, 82, 83, 87, 88]
    crops = [c.code for c in cdl.classes if c.hub[0] == "crops"]  # 133 classes less 23 non-crop ones
    assert len(crops) == 110 and all(c in crops for c in (1, 26, 61, 69, 75, 225, 254))
    to_wc = crosswalk(cdl, "esa_worldcover")
    assert to_wc[1] == (40,) and to_wc[142] == (10,) and to_wc[111] == (80,)
    assert to_wc[176] == (30,) and to_wc[152] == (20,) and to_wc[131] == (60,) and to_wc[112] == (70,)
    assert to_wc[195] == (90,) and to_wc[124] == (50,) and to_wc[81] == ()  # clouds have no counterpart
    assert all(to_wc[c] == (40,) for c in crops if c != 61)  # fallow 61 -> cropland or bare
    # crosswalks into the CDL rank the current codes before aquaculture and the legacy codes
    from_wc = crosswalk("esa_worldcover", cdl)
    assert from_wc[80] == (111, 92, 83) and from_wc[10][0] == 141 and from_wc[20] == (152, 64)
    assert crosswalk("nlcd", cdl)[81] == (176,) and crosswalk("nlcd", cdl)[12] == (112,)
    fields = np.array([[1, 5, 24], [176, 142, 111], [0, 81, 61]], dtype=np.uint8)
    wc = remap(fields, cdl, "esa_worldcover", ambiguous="first")
    np.testing.assert_array_equal(wc, [[40, 40, 40], [30, 10, 80], [0, 0, 40]])
    hist = class_histogram(fields, cdl)
    assert hist["Corn"] == hist["Soybeans"] == hist["Clouds/No Data"] == 1 and sum(hist.values()) == 8


def test_rasterio_writes_the_colormap(tmp_path: Path) -> None:
    rasterio = pytest.importorskip("rasterio")
    tax = get_taxonomy("esa_worldcover")
    path = tmp_path / "wc.tif"
    transform = rasterio.Affine(1 / 12000, 0.0, 6.0, 0.0, -1 / 12000, 3.0)
    profile = {"driver": "GTiff", "width": 4, "height": 1, "count": 1, "dtype": "uint8", "crs": "EPSG:4326"}
    profile["transform"] = transform
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.array([[0, 10, 50, 100]], dtype=np.uint8), 1)
        ds.write_colormap(1, tax.colormap())
    with rasterio.open(path) as ds:
        back = ds.colormap(1)
    assert back[10] == (0, 100, 0, 255) and back[100] == (250, 230, 160, 255)
    assert back[0][:3] == (0, 0, 0)  # GeoTIFF palettes store no alpha: nodata transparency is up to the reader


# --------------------------------------------------------------------------- API behaviour


def test_remap_unknown_codes_error() -> None:
    a = np.array([[10, 20, 7], [255, 0, 30]], dtype=np.uint8)
    with pytest.raises(ValueError, match=r"not esa_worldcover codes: 7, 255"):
        remap(a, "esa_worldcover", "esri_lulc")
    with pytest.raises(TypeError, match="integer"):
        remap(a.astype(np.float32), "esa_worldcover", "esri_lulc")
    with pytest.raises(ValueError, match="ambiguous must be"):
        lut(get_taxonomy("esa_worldcover"), "esri_lulc", ambiguous="last")  # type: ignore[arg-type]


def test_remap_checks_ambiguity_only_for_classes_present() -> None:
    a = np.array([[10, 80], [0, 20]], dtype=np.uint8)
    np.testing.assert_array_equal(remap(a, "esa_worldcover", "esri_lulc"), [[2, 1], [0, 11]])
    with pytest.raises(ValueError, match=r"95 'Mangroves' -> \['2 Trees', '4 Flooded vegetation'\]"):
        remap(np.array([95]), "esa_worldcover", "esri_lulc")
    with pytest.raises(ValueError, match="ambiguous"):
        lut(get_taxonomy("esa_worldcover"), "esri_lulc")


def test_class_histogram_reports_unknown_codes() -> None:
    hist = class_histogram(np.array([[1, 1, 0], [11, 42, 42]]), "esri_lulc")
    assert hist["Water"] == 2 and hist["Rangeland"] == 1 and hist["Trees"] == 0
    assert hist["unknown code 42"] == 2 and "unknown code 0" not in hist


def test_get_taxonomy_suggests_closest_key() -> None:
    with pytest.raises(ValueError, match="Did you mean 'esa_worldcover'"):
        get_taxonomy("esa_worldcovr")
    with pytest.raises(ValueError, match="Did you mean 'dynamic_world'"):
        get_taxonomy("dynamic_wrld")
    assert get_taxonomy("ESA-WorldCover") is get_taxonomy("esa_worldcover")


def test_by_name_with_synonyms() -> None:
    assert get_taxonomy("esri_lulc").by_name("grassland").code == 11
    assert get_taxonomy("esri_lulc").by_name(" Built-UP ").code == 7
    assert get_taxonomy("dynamic_world").by_name("shrub_and_scrub").code == 5
    assert get_taxonomy("esa_worldcover").by_name("  SNOW & ICE ").code == 70
    assert get_taxonomy("corine_l3").by_name("orchards").code == 222
    assert get_taxonomy("s2_scl").by_name("topographic casted shadows").code == 2
    with pytest.raises(KeyError, match="Did you mean 'Tree cover'"):
        get_taxonomy("esa_worldcover").by_name("tre cover")
    with pytest.raises(KeyError, match="valid codes: 10, 20"):
        get_taxonomy("esa_worldcover").by_code(12)


def test_prompts_template() -> None:
    loveda = get_taxonomy("loveda")
    assert loveda.prompts("a satellite photo of {}")[:2] == [
        "a satellite photo of background",
        "a satellite photo of building",
    ]
    wc = get_taxonomy("esa_worldcover")
    assert wc.prompts("{name}: {description}")[0] == f"Tree cover: {wc.by_code(10).description}"


def test_taxonomy_validates_its_table() -> None:
    cls = LandCoverClass(1, "water", "open water bodies", "#0000ff", hub=("water",))
    meta = {"title": "t", "nodata": 0, "gsd_m": 1.0, "licence": "CC0", "url": "https://x", "note": ""}
    with pytest.raises(ValueError, match="duplicate codes"):
        Taxonomy(key="toy", classes=(cls, cls), **meta)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rrggbb"):
        Taxonomy(key="toy", classes=(LandCoverClass(2, "x", "a bad colour", "blue"),), **meta)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="also a class code"):
        Taxonomy(key="toy", classes=(cls,), **{**meta, "nodata": 1})  # type: ignore[arg-type]
    toy = Taxonomy(key="toy", classes=(cls,), **meta)  # type: ignore[arg-type]
    assert crosswalk(toy, "esa_worldcover") == {1: (80,), 0: (0,)}  # custom tables cross-walk via the hub


def test_import_is_light() -> None:
    code = "import sys, lslib.taxonomy; assert 'matplotlib' not in sys.modules and 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
