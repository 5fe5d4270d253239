"""Large-area mapping: geometry and blending, outputs (COG, colour table, sidecar), resume, bad input."""

from __future__ import annotations

import errno
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401 - the .rio accessor
import torch
import xarray as xr
from fakes import FieldPredictor
from hypothesis import given, settings
from hypothesis import strategies as st

from lslib.inference import Predictor
from lslib.inference.outputs import NODATA_CODE, UNKNOWN_CODE, PartialWriter
from lslib.inference.tiling.geometry import axis_windows, make_grid
from lslib.inference.tiling.large_area import map_large_area
from lslib.model.build import build_model

PROMPTS = "water, forest, cropland, built-up area"


@pytest.fixture(scope="module")
def tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("tiny").eval()


def raster(h: int, w: int, *, bands: int = 4, seed: int = 0, crs: str | None = "EPSG:32633") -> xr.DataArray:
    """A smooth-ish reflectance image with wavelengths, on a 10 m UTM grid."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = [0.2 + 0.15 * np.sin(yy / (7 + 3 * b)) * np.cos(xx / (11 + b)) for b in range(bands)]
    data = np.stack(base) + rng.normal(0, 0.01, (bands, h, w)).astype(np.float32)
    names = ["red", "green", "blue", "nir", "swir16", "swir22"][:bands]
    waves = [0.665, 0.56, 0.49, 0.842, 1.61, 2.19][:bands]
    da = xr.DataArray(
        data.astype(np.float32), dims=("band", "y", "x"),
        coords={"band": names, "wavelength": ("band", waves), "y": 5_000_000 - 10 * (np.arange(h) + 0.5),
                "x": 400_000 + 10 * (np.arange(w) + 0.5)},
    )  # fmt: skip
    return da.rio.write_crs(crs) if crs else da


# --- geometry ----------------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 700), w=st.integers(1, 700), tile=st.integers(8, 200), frac=st.floats(0, 0.5),
    block=st.integers(0, 400),
)  # fmt: skip
def test_every_pixel_covered_and_weights_sum_to_one(h: int, w: int, tile: int, frac: float, block: int) -> None:
    overlap = min(int(tile * frac), tile // 2)
    grid = make_grid(h, w, tile=tile, overlap=overlap, block=tile + block)
    total = grid.weight_sum()
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-12)
    for n, windows in ((h, grid.row_windows), (w, grid.col_windows)):
        assert windows[0][0] == 0 and windows[-1][1] == n  # covered end to end
        assert all(0 <= s < e <= n for s, e in windows)  # never past the edge
        assert all(e - s == min(tile, n) for s, e in windows)  # full-size windows, no padding
        assert all(b[0] < a[1] for a, b in itertools.pairwise(windows) if overlap)  # overlap
    # blocks tile the raster exactly, and each block lists every window that touches it
    cover = np.zeros((h, w), dtype=int)
    for b in grid.blocks:
        cover[b.rows[0] : b.rows[1], b.cols[0] : b.cols[1]] += 1
        for i, (s, e) in enumerate(grid.row_windows):
            assert (i in b.row_windows) == (s < b.rows[1] and e > b.rows[0])
    assert (cover == 1).all()


def test_last_window_clamped_inside() -> None:
    assert axis_windows(1000, 512, 64) == [(0, 512), (448, 960), (488, 1000)]
    assert axis_windows(300, 512, 64) == [(0, 300)]  # smaller than a tile: one window of its own size
    assert axis_windows(896, 512, 64) == [(0, 512), (384, 896)]
    with pytest.raises(ValueError, match="overlap"):
        axis_windows(100, 64, 40)


def test_blending_gives_a_smooth_field_back_exactly(tmp_path: Path) -> None:
    """Model-independent seam check: the fused score = a smooth field, blended across 3x3 blocks and many tiles."""
    h, w = 700, 650
    yy, xx = np.mgrid[0:h, 0:w]
    field = (0.5 + 0.4 * np.sin(yy / 37.0) * np.cos(xx / 53.0)).astype(np.float32)
    da = raster(h, w, bands=1).copy(data=field[None])
    res = map_large_area(da, ["field"], tmp_path / "out", predictor=FieldPredictor(), tile=128, overlap=32,
                         block=256, progress=False)  # fmt: skip
    with rasterio.open(res.paths["confidence"]) as src:
        conf = src.read(1)
    np.testing.assert_allclose(conf, field, rtol=0, atol=2e-6)
    # a constant field too (exactly, to float32 rounding), and the tile seams are invisible in the gradient
    res2 = map_large_area(da.copy(data=np.full((1, h, w), 0.3, np.float32)), ["c"], tmp_path / "c",
                          predictor=FieldPredictor(), tile=100, overlap=20, block=200, progress=False)  # fmt: skip
    with rasterio.open(res2.paths["confidence"]) as src:
        np.testing.assert_allclose(src.read(1), 0.3, rtol=0, atol=1e-6)


# --- real model --------------------------------------------------------------------------------------------------


def test_tiled_equals_single_window_when_the_tile_covers_the_scene(tmp_path: Path, tiny: torch.nn.Module) -> None:
    da = raster(96, 80)
    pred = Predictor(tiny, device="cpu")
    pred.set_image(da)
    direct = pred.predict(PROMPTS)
    res = map_large_area(da, PROMPTS, tmp_path / "o", predictor=Predictor(tiny, device="cpu"), tile=128, overlap=16,
                         progress=False)  # fmt: skip
    with rasterio.open(res.paths["class_map"]) as src:
        codes = src.read(1)
    with rasterio.open(res.paths["confidence"]) as src:
        conf = src.read(1)
    expected = np.where(direct.class_map.values < 0, UNKNOWN_CODE, direct.class_map.values)
    np.testing.assert_array_equal(codes, expected)
    np.testing.assert_allclose(conf, direct.confidence.values, rtol=0, atol=1e-6)


def test_real_chip_cog_sidecar_and_areas(tmp_path: Path, tiny: torch.nn.Module, sample) -> None:  # type: ignore[no-untyped-def]
    chip = sample("terramesh-examples-s2-esri-lulc/S2L2A/433D_629L_3_1.tif")
    pred = Predictor(tiny, device="cpu", mode="classwise")
    res = map_large_area(chip, PROMPTS, tmp_path / "map", predictor=pred, sensor="s2-l2a", tile=128, overlap=32,
                         block=128, progress=False)  # fmt: skip
    assert res.pixels_mapped == 224 * 224
    assert sorted(p.name for p in (tmp_path / "map").iterdir()) == [
        "class_map.tif", "confidence.tif", "map.json", "prompts.yaml"]  # fmt: skip
    with rasterio.open(res.paths["class_map"]) as src:
        assert src.profile["tiled"] and src.crs.to_epsg() == 32718 and src.nodata == NODATA_CODE
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        cmap = src.colormap(1)
        assert cmap[UNKNOWN_CODE] == (128, 128, 128, 255) and cmap[NODATA_CODE][3] == 0
        tags = src.tags()
        codes = src.read(1)
    assert json.loads(tags["LSLIB_CLASSES"]) == [p.strip() for p in PROMPTS.split(",")]
    doc = json.loads((tmp_path / "map" / "map.json").read_text())
    assert doc["tile"] == 128 and doc["overlap"] == 32 and doc["fusion_mode"] == "classwise"
    assert doc["model_variant"] == "tiny" and len(doc["model_sha256"]) == 64 and doc["lslib_version"]
    assert doc["thresholds"] == [0.0] * 4 and doc["input"].endswith("433D_629L_3_1.tif")
    assert json.loads(tags["LSLIB_SIDECAR"])["signature"] == doc["signature"]
    total = sum(r["pixels"] for r in res.areas)
    assert total == 224 * 224
    for r in res.areas[:-1]:
        k = [a["class"] for a in res.areas].index(r["class"])
        assert r["pixels"] == int((codes == k).sum())
        assert r["hectares"] == pytest.approx(r["pixels"] * 0.01)  # 10 m pixels
    assert sum(r["percent"] for r in res.areas) == pytest.approx(100)


def test_cog_has_overviews_and_nodata_windows_are_skipped(tmp_path: Path) -> None:
    da = raster(1100, 1030, bands=2)
    data = da.values.copy()
    data[:, :400, :400] = np.nan  # covers the first window entirely
    data[:, 900:905, 500:510] = np.nan
    pred = FieldPredictor()
    res = map_large_area(da.copy(data=data), ["a", "b"], tmp_path / "o", predictor=pred, tile=256, overlap=32,
                         block=512, progress=False)  # fmt: skip
    grid = make_grid(1100, 1030, tile=256, overlap=32, block=512)
    assert res.windows_computed == pred.calls
    seen = {tuple(int(v) for v in k.split(":")[-2:]) for k in pred.keys}
    assert (0, 0) not in seen and (224, 0) in seen  # the NaN-only window was never predicted
    assert len(seen) == grid.n_windows - 1
    with rasterio.open(res.paths["class_map"]) as src:
        assert src.overviews(1) and src.block_shapes[0] == (512, 512)
        codes = src.read(1)
    assert (codes[:400, :400] == NODATA_CODE).all() and (codes[900:905, 500:510] == NODATA_CODE).all()
    assert res.pixels_mapped == 1100 * 1030 - 400 * 400 - 50
    expected = np.where(np.isnan(data).any(0), NODATA_CODE, np.nan_to_num(data).argmax(0))
    np.testing.assert_array_equal(codes, expected)


# --- resume, refusal, errors --------------------------------------------------------------------------------------


class Interrupt(Exception):
    pass


def test_resume_skips_finished_blocks(tmp_path: Path, tiny: torch.nn.Module) -> None:
    da = raster(200, 190)
    kw = {"tile": 64, "overlap": 16, "block": 64, "progress": False}
    full = map_large_area(da, PROMPTS, tmp_path / "full", predictor=Predictor(tiny, device="cpu"), **kw)

    class Dying(Predictor):
        def raw(self, prompts):  # type: ignore[no-untyped-def]
            if self.stats["predicts"] >= 10:
                raise Interrupt
            return super().raw(prompts)

    with pytest.raises(Interrupt):
        map_large_area(da, PROMPTS, tmp_path / "part", predictor=Dying(tiny, device="cpu"), **kw)
    assert not (tmp_path / "part" / "class_map.tif").exists() and not (tmp_path / "part" / "map.json").exists()
    done = json.loads((tmp_path / "part" / ".progress.json").read_text())["done"]
    assert done
    second = Predictor(tiny, device="cpu")
    res = map_large_area(da, PROMPTS, tmp_path / "part", predictor=second, **kw)
    n_blocks = len(make_grid(200, 190, tile=64, overlap=16, block=64).blocks)
    assert res.blocks_resumed == len(done) and res.blocks_computed == n_blocks - len(done)
    assert second.stats["image_encodes"] < full.windows_computed
    for name in ("class_map.tif", "confidence.tif"):
        with rasterio.open(tmp_path / "full" / name) as a, rasterio.open(tmp_path / "part" / name) as b:
            np.testing.assert_array_equal(a.read(), b.read())
    assert not (tmp_path / "part" / ".progress.json").exists()
    # a finished map with the same settings is not recomputed
    again = Predictor(tiny, device="cpu")
    res3 = map_large_area(da, PROMPTS, tmp_path / "part", predictor=again, **kw)
    assert again.stats["image_encodes"] == 0 and res3.areas == res.areas


def test_refuses_other_map_unless_overwrite(tmp_path: Path, tiny: torch.nn.Module) -> None:
    da = raster(64, 64)
    out = tmp_path / "o"
    map_large_area(da, PROMPTS, out, predictor=Predictor(tiny, device="cpu"), tile=64, overlap=16, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(FileExistsError, match="--overwrite"):
        map_large_area(da, "water, snow", out, predictor=Predictor(tiny, device="cpu"), tile=64, overlap=16,
                       progress=False)  # fmt: skip
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing changed
    res = map_large_area(da, "water, snow", out, predictor=Predictor(tiny, device="cpu"), tile=64, overlap=16,
                         progress=False, overwrite=True)  # fmt: skip
    assert [r["class"] for r in res.areas] == ["water", "snow", "unknown"]


@pytest.mark.parametrize(
    ("prompts", "match"), [("", "empty"), ([], "empty"), (" , ", "empty")],
)
def test_empty_prompt_set(tmp_path: Path, prompts, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        map_large_area(raster(32, 32), prompts, tmp_path / "o", predictor=FieldPredictor(), progress=False)
    assert not (tmp_path / "o").exists()


def test_all_nodata_input_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    da = raster(80, 80).copy(data=np.full((4, 80, 80), np.nan, np.float32))
    with pytest.raises(ValueError, match="no valid pixel"):
        map_large_area(da, PROMPTS, tmp_path / "o", predictor=FieldPredictor(), tile=32, overlap=8, block=32,
                       progress=False)  # fmt: skip
    assert list((tmp_path / "o").iterdir()) == []


def test_no_crs_geotiff_is_refused_and_missing_wavelengths_explained(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", width=32, height=32, count=3, dtype="uint8",
                       transform=rasterio.transform.from_origin(400000, 5e6, 10, 10)) as dst:  # fmt: skip
        dst.write(np.ones((3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="no CRS"):
        map_large_area(path, PROMPTS, tmp_path / "o", predictor=FieldPredictor(), sensor="rgb", progress=False)
    da = raster(32, 32).drop_vars("wavelength")
    with pytest.raises(ValueError, match="wavelength"):
        map_large_area(da, PROMPTS, tmp_path / "o2", predictor=FieldPredictor(), progress=False)
    with pytest.raises(ValueError, match="unknown band"):
        map_large_area(da, PROMPTS, tmp_path / "o3", predictor=FieldPredictor(), bands="red,green,blue,plaid",
                       progress=False)  # fmt: skip


def test_disk_full_leaves_nothing_that_looks_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    original = PartialWriter.write_block

    def full_disk(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PartialWriter, "write_block", full_disk)
    out = tmp_path / "o"
    with pytest.raises(OSError, match="disk is full") as info:
        map_large_area(raster(150, 150, bands=2), ["a", "b"], out, predictor=FieldPredictor(), tile=64, overlap=16,
                       block=64, progress=False)  # fmt: skip
    assert "resumes" in str(info.value) and info.value.__cause__.errno == errno.ENOSPC  # type: ignore[union-attr]
    assert not any((out / n).exists() for n in ("class_map.tif", "confidence.tif", "map.json", "prompts.yaml"))
    assert len(json.loads((out / ".progress.json").read_text())["done"]) == 1


def test_threads_and_dask_give_the_serial_result(tmp_path: Path, tiny: torch.nn.Module) -> None:
    from distributed import Client, LocalCluster

    da = raster(160, 150)
    kw = {"tile": 64, "overlap": 16, "block": 64, "progress": False}
    ref = map_large_area(da, PROMPTS, tmp_path / "s", predictor=Predictor(tiny, device="cpu"), **kw)
    thr = map_large_area(da, PROMPTS, tmp_path / "t", predictor=Predictor(tiny, device="cpu"), workers=2, **kw)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:  # fmt: skip
        dsk = map_large_area(da, PROMPTS, tmp_path / "d", predictor=Predictor(tiny, device="cpu"), client=client, **kw)
    for res in (thr, dsk):
        for key in ("class_map", "confidence"):
            with rasterio.open(ref.paths[key]) as a, rasterio.open(res.paths[key]) as b:
                np.testing.assert_allclose(a.read(), b.read(), rtol=0, atol=1e-6)


def test_stac_item_input_matches_the_reader(tmp_path: Path, sample_dir) -> None:  # type: ignore[no-untyped-def]
    """A STAC item (per-band JP2 assets of the real T29UNU tile, raster scale/offset, eo wavelengths) via odc-stac."""
    from lslib.data.local_stac.meta import Grid, eo_bands, make_item, raster_asset, raster_band
    from lslib.data.readers import read_sentinel2

    folder = sample_dir("s2-l2a-scl-T29UNU-ireland")
    names = ["B02", "B03", "B04"]
    files = {b: next(folder.glob(f"*_{b}_60m.jp2")) for b in names}
    grid = Grid.of_file(files["B02"])
    assets = {
        b: raster_asset(f, grid, title=b, media_type="image/jp2", eo=eo_bands("sentinel2_l2a", [b]),
                        bands=[raster_band("uint16", resolution=60, nodata=0, scale=1e-4, offset=-0.1)])
        for b, f in files.items()
    }  # fmt: skip
    item = make_item("T29UNU", "s2", grids=[grid], assets=assets, properties={"datetime": "2022-10-05T11:54:11Z"})
    item_path = tmp_path / "item.json"
    item_path.write_text(json.dumps(item))
    res = map_large_area(item_path, ["blue", "green", "red"], tmp_path / "o", predictor=FieldPredictor(),
                         tile=512, overlap=64, block=1024, progress=False)  # fmt: skip
    ref = read_sentinel2(folder, bands=names).values
    best = np.nan_to_num(ref).argmax(0)
    best = np.where(np.nan_to_num(ref).max(0) < 0, UNKNOWN_CODE, best)  # dark pixels: score below threshold 0
    expected = np.where(np.isnan(ref).any(0), NODATA_CODE, best)
    with rasterio.open(res.paths["class_map"]) as src:
        assert src.crs.to_epsg() == 32629 and src.shape == (1830, 1830)
        codes = src.read(1)
    assert (codes == expected).mean() > 0.999  # same pixels, same classes (ties at float rounding aside)
    assert res.sidecar["input"].startswith("STAC item") and res.sidecar["input"].endswith("item.json")
