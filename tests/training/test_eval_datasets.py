"""Evaluation datasets from folders: pairing, bands, scaling, label maps, benchmark layouts (tiny fake rasters)
and the real TerraMesh S2 L2A + LULC folders as a RasterPairDataset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from lslib.training.eval_datasets import (
    DFC2020_TO_WORLDCOVER,
    RasterPairDataset,
    chesapeake,
    dfc2020,
    loveda,
    openearthmap,
)


def _write(path: Path, data: np.ndarray, *, driver: str = "GTiff", nodata: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = data if data.ndim == 3 else data[None]
    geo = {} if driver == "PNG" else {"crs": "EPSG:32633", "transform": from_origin(500000, 4000000, 10, 10)}
    with rasterio.open(
        path, "w", driver=driver, width=arr.shape[2], height=arr.shape[1], count=arr.shape[0], dtype=arr.dtype,
        nodata=nodata, **geo,
    ) as dst:  # fmt: skip
        dst.write(arr)
    return path


def _rgb(h: int = 8, w: int = 8, c: int = 3) -> np.ndarray:
    return (np.arange(c * h * w) % 256).astype(np.uint8).reshape(c, h, w)


def test_pairs_by_stem_scales_and_masks(tmp_path: Path) -> None:
    label = np.array([[0, 1], [2, 9]], dtype=np.uint8)  # 0 nodata, 9 not a LoveDA code
    for name in ["b", "a"]:
        _write(tmp_path / "img" / f"{name}.tif", np.full((3, 2, 2), 255, dtype=np.uint8))
        _write(tmp_path / "lab" / f"{name}.tif", label)
    ds = RasterPairDataset(
        images=str(tmp_path / "img" / "*.tif"),
        labels=sorted((tmp_path / "lab").glob("*.tif")),
        taxonomy="loveda",
        sensor="rgb",
        scale=1 / 255,
    )
    assert len(ds) == 2 and ds.keys == ["a", "b"] and ds.band_names == ["red", "green", "blue"]
    item = ds[0]
    assert set(item) >= {"image", "wavelengths", "band_names", "label", "valid", "taxonomy", "point_id"}
    assert item["image"].dtype == torch.float32 and torch.allclose(item["image"], torch.ones(3, 2, 2))
    assert item["label"].dtype == torch.int64 and item["label"].tolist() == [[0, 1], [2, 9]]
    assert item["valid"].tolist() == [[False, True], [True, False]]
    assert item["wavelengths"].tolist() == pytest.approx([0.6646, 0.5598, 0.4927])
    assert item["point_id"] == "a" and item["taxonomy"] == "loveda" and "32633" in item["crs"]


def test_unpaired_files_are_listed(tmp_path: Path) -> None:
    for name in ["a", "b", "c"]:
        _write(tmp_path / "img" / f"{name}.tif", _rgb())
    _write(tmp_path / "lab" / "a.tif", np.ones((8, 8), np.uint8))
    _write(tmp_path / "lab" / "z.tif", np.ones((8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"2 image\(s\) without a label: .*b\.tif.*c\.tif; 1 label\(s\) .*z\.tif"):
        RasterPairDataset(images=str(tmp_path / "img/*.tif"), labels=str(tmp_path / "lab/*.tif"), taxonomy="loveda")
    with pytest.raises(FileNotFoundError, match="no image files match"):
        RasterPairDataset(images=str(tmp_path / "none/*.tif"), labels=str(tmp_path / "lab/*.tif"), taxonomy="loveda")


def test_band_layout_errors(tmp_path: Path) -> None:
    img = _write(tmp_path / "img" / "a.tif", _rgb(c=5))
    lab = _write(tmp_path / "lab" / "a.tif", np.ones((8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"cannot tell the bands.*pass sensor="):
        RasterPairDataset(images=[img], labels=[lab], taxonomy="loveda")
    with pytest.raises(ValueError, match="has 5 bands but 12 band names"):
        RasterPairDataset(images=[img], labels=[lab], taxonomy="loveda", sensor="sentinel2_l2a")
    with pytest.raises(ValueError, match="unknown sensor"):
        RasterPairDataset(images=[img], labels=[lab], taxonomy="loveda", sensor="spot")
    ds = RasterPairDataset(
        images=[img],
        labels=[lab],
        taxonomy="loveda",
        sensor="sentinel2_l2a",
        band_names=["B2", "B3", "B4", "B8", "B11"],
    )
    assert ds.band_names == ["B02", "B03", "B04", "B08", "B11"]
    assert ds[0]["wavelengths"].tolist() == pytest.approx([0.4927, 0.5598, 0.6646, 0.8328, 1.6137])


def test_lslib_tagged_images_need_no_sensor(tmp_path: Path) -> None:
    import xarray as xr

    from lslib.data.readers import write_geotiff

    da = xr.DataArray(
        np.random.default_rng(0).random((2, 4, 4), dtype=np.float32),
        dims=("band", "y", "x"),
        coords={
            "band": ["SR_B4", "SR_B5"],
            "wavelength": ("band", [0.655, 0.865]),
            "y": np.arange(4.0),
            "x": np.arange(4.0),
        },
    ).rio.write_crs("EPSG:32612")
    write_geotiff(da, tmp_path / "img" / "p.tif")
    _write(tmp_path / "lab" / "p.tif", np.full((4, 4), 42, np.uint8))
    ds = RasterPairDataset(images=str(tmp_path / "img/*.tif"), labels=str(tmp_path / "lab/*.tif"), taxonomy="nlcd")
    assert ds.band_names == ["SR_B4", "SR_B5"] and ds[0]["wavelengths"].tolist() == pytest.approx([0.655, 0.865])
    assert bool(ds[0]["valid"].all())


def test_label_map_and_nodata(tmp_path: Path) -> None:
    img = np.array([[[0, 1000]]], dtype=np.uint16).repeat(13, 0)
    _write(tmp_path / "i" / "x.tif", img, nodata=0)
    _write(tmp_path / "l" / "x.tif", np.array([[4, 11]], np.uint8))  # 11: no DFC class
    ds = RasterPairDataset(
        images=str(tmp_path / "i/*.tif"), labels=str(tmp_path / "l/*.tif"), taxonomy="esa_worldcover",
        sensor="sentinel2_l1c", scale=1e-4, label_map=DFC2020_TO_WORLDCOVER,
    )  # fmt: skip
    item = ds[0]
    assert bool(torch.isnan(item["image"][:, 0, 0]).all()) and item["image"][0, 0, 1].item() == pytest.approx(0.1)
    assert item["label"].tolist() == [[30, 0]] and item["valid"].tolist() == [[False, False]]  # NaN image, nodata
    with pytest.raises(ValueError, match="not esa_worldcover codes"):
        RasterPairDataset(images=str(tmp_path / "i/*.tif"), labels=str(tmp_path / "l/*.tif"),
                          taxonomy="esa_worldcover", sensor="sentinel2_l1c", label_map={1: 12})  # fmt: skip


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # our writer: PNGs have no CRS
def test_loveda_layout(tmp_path: Path) -> None:
    folder = tmp_path / "Val" / "Urban"
    for n in ["1366", "1367"]:
        _write(folder / "images_png" / f"{n}.png", _rgb(), driver="PNG")
        _write(folder / "masks_png" / f"{n}.png", (np.arange(64) % 8).astype(np.uint8).reshape(8, 8), driver="PNG")
    ds = loveda(tmp_path, "Val", "Urban")
    item = ds[1]
    assert len(ds) == 2 and item["point_id"] == "1367" and item["taxonomy"] == "loveda"
    assert item["image"].max().item() <= 1.0 and int(item["valid"].sum()) == 56  # mask 0 is no data
    assert item["crs"] is None
    with pytest.raises(FileNotFoundError, match="Rural"):
        loveda(tmp_path, "Val", "Rural")


def test_openearthmap_layout(tmp_path: Path) -> None:
    for name in ["aachen_1", "aachen_2"]:
        _write(tmp_path / "aachen" / "images" / f"{name}.tif", _rgb())
        _write(tmp_path / "aachen" / "labels" / f"{name}.tif", np.full((8, 8), 5, np.uint8))
    (tmp_path / "val.txt").write_text("aachen_2.tif\n")
    ds = openearthmap(tmp_path, "val")
    assert ds.keys == ["aachen_2"] and ds[0]["label"].unique().tolist() == [5]
    assert len(openearthmap(tmp_path, None)) == 2
    with pytest.raises(FileNotFoundError, match=r"train\.txt"):
        openearthmap(tmp_path, "train")


def test_chesapeake_layout(tmp_path: Path) -> None:
    folder = tmp_path / "de_1m_2013_extended-debuffered-test_tiles"
    tile = "m_3807503_ne_18_060_20130613"
    _write(folder / f"{tile}_naip-new.tif", _rgb(c=4))
    _write(folder / f"{tile}_lc.tif", np.array([[1, 15]], np.uint8).repeat(8, 0)[:, :2].repeat(4, 1))
    _write(folder / f"{tile}_nlcd.tif", np.ones((8, 8), np.uint8))  # other layers are ignored
    ds = chesapeake(tmp_path, "de")
    assert ds.keys == [tile] and ds.band_names == ["R", "G", "B", "N"] and ds[0]["taxonomy"] == "chesapeake7"
    assert float(ds[0]["valid"].float().mean()) == 0.5  # 15 = no data


def test_dfc2020_layout(tmp_path: Path) -> None:
    for n in ["p26", "p27"]:
        _write(tmp_path / "ROIs0000_test" / "s2_0" / f"ROIs0000_test_s2_0_{n}.tif", np.full((13, 4, 4), 500, np.uint16))
        _write(tmp_path / "ROIs0000_test" / "dfc_0" / f"ROIs0000_test_dfc_0_{n}.tif", np.full((4, 4), 10, np.uint8))
    ds = dfc2020(tmp_path)
    assert ds.keys == ["ROIs0000_test_0_p26", "ROIs0000_test_0_p27"] and len(ds.band_names) == 13
    item = ds[0]
    assert item["label"].unique().tolist() == [80] and item["image"][0, 0, 0].item() == pytest.approx(0.05)


def test_real_terramesh_folders(sample_dir: Callable[[str], Path]) -> None:
    s2 = sample_dir("terramesh-examples-s2-esri-lulc/S2L2A")
    lulc = sample_dir("terramesh-examples-s2-esri-lulc/LULC")
    ds = RasterPairDataset(
        images=str(s2 / "*.tif"), labels=str(lulc / "*.tif"), taxonomy="terramesh_lulc",
        sensor="sentinel2_l2a", scale=1e-4, image_nodata=0,
    )  # fmt: skip
    assert len(ds) == 5 and "282D_485L_3_3" in ds.keys and len(ds.band_names) == 12
    item = ds[ds.keys.index("282D_485L_3_3")]
    assert item["image"].shape == (12, 224, 224) and item["label"].shape == (224, 224)
    red = item["image"][3][item["valid"]]
    assert 0.0 < float(red.median()) < 0.5  # surface reflectance
    assert set(item["label"].unique().tolist()) == {1, 2, 6, 9} and bool(item["valid"].all())
    assert item["transform"][0] == pytest.approx(10.0)
