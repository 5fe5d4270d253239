"""LAS builder end to end against the loopback STAC API over the real samples (LAS-mini).

The builder code is the one used against Planetary Computer; only the endpoint differs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.windows import from_bounds

from lslib.data.las.build import build_las, resolve_url, sample_subset
from lslib.data.las.chips import list_chips, list_records, read_chip
from lslib.data.las.cut import StacUnreachableError
from lslib.data.las.recipes import load_recipe
from lslib.data.las.report import las_report

MINI = ["mini-terramesh-s2-esri", "mini-terramesh-s1-esri", "mini-zion-landsat-nlcd", "mini-worldcereal-s2",
        "mini-t29unu-s2-scl"]


@pytest.fixture(scope="module")
def stac_url(sample: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from lslib.data.local_stac.catalog import local_stac

    with local_stac(tmp_path_factory.mktemp("stac")) as server:
        yield server.url


@pytest.fixture(scope="module")
def built(stac_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("las")
    summaries = {name: build_las(load_recipe(name), root, stac_url=stac_url, workers=0, progress=False)
                 for name in MINI}
    return root, summaries


def test_las_mini_has_chips_from_every_source(built: tuple[Path, dict[str, Any]]) -> None:
    root, summaries = built
    for name in MINI:
        chips = list_chips(root, name)
        assert chips, f"{name}: no chips ({summaries[name]})"
        assert (root / name / "points.parquet").exists() and (root / name / "points.png").exists()
    assert not list_records(root, "failed"), list_records(root, "failed")


def test_terramesh_chip_matches_the_file(built: tuple[Path, dict[str, Any]], sample: Callable[[str], Path]) -> None:
    root, _ = built
    chip = read_chip(list_chips(root, "mini-terramesh-s2-esri")[0])
    site = chip.meta["image_item"].removesuffix("-s2l2a")
    assert chip.image.shape == (12, 128, 128) and list(chip.image["band"].values)[3] == "B04"
    assert chip.image["wavelength"].values[3] == pytest.approx(0.6646, abs=1e-3)
    left, bottom, right, top = chip.image.rio.bounds()
    with rasterio.open(sample(f"terramesh-examples-s2-esri-lulc/S2L2A/{site}.tif")) as src:
        assert src.crs == chip.image.rio.crs
        dn = src.read(4, window=from_bounds(left, bottom, right, top, src.transform))
    np.testing.assert_allclose(chip.image.sel(band="B04").values, dn / 1e4, rtol=1e-6)
    with rasterio.open(sample(f"terramesh-examples-s2-esri-lulc/LULC/{site}.tif")) as src:
        lab = src.read(1, window=from_bounds(left, bottom, right, top, src.transform))
    np.testing.assert_array_equal(chip.label.values, lab)
    assert chip.classes[9] == "Rangeland" and chip.meta["taxonomy"] == "terramesh_lulc"


def test_zion_label_is_reprojected_onto_the_landsat_grid(built: tuple[Path, dict[str, Any]],
                                                         sample: Callable[[str], Path]) -> None:
    from lslib.data.readers import read_label, reproject_label

    root, _ = built
    chip = read_chip(list_chips(root, "mini-zion-landsat-nlcd")[0])
    assert str(chip.image.rio.crs) == "EPSG:32612" and chip.image.rio.resolution() == (30.0, -30.0)
    nlcd = read_label(sample("landsat8-nlcd2011-zion/nlcd2011.tif"), taxonomy="nlcd")
    assert str(nlcd.rio.crs) != str(chip.image.rio.crs)  # a real reprojection
    expected = reproject_label(nlcd, chip.label, method="nearest").values
    assert (chip.label.values == expected).mean() > 0.99
    values = chip.image.values
    assert np.nanmin(values) > -0.25 and np.nanmax(values) < 1.2  # C2 L2 scaling applied


def test_rejections_carry_reasons(built: tuple[Path, dict[str, Any]]) -> None:
    root, _ = built
    reasons = {r["reason"] for r in list_records(root, "rejected")}
    assert reasons, "LAS-mini has points that must be rejected (e.g. outside the T29UNU swath)"
    for rec in list_records(root, "rejected"):
        assert rec["detail"] and rec["subset"] in MINI


def test_rerun_does_nothing(built: tuple[Path, dict[str, Any]], stac_url: str) -> None:
    root, _ = built
    before = sorted(p.name for p in root.rglob("*"))
    summary = build_las(load_recipe("mini-zion-landsat-nlcd"), root, stac_url=stac_url, workers=0, progress=False)
    assert summary.results == [] and summary.already_done == summary.total_points
    assert sorted(p.name for p in root.rglob("*")) == before


def test_report_and_index(built: tuple[Path, dict[str, Any]]) -> None:
    import geopandas as gpd

    root, _ = built
    rep = las_report(root)
    for name in MINI:
        assert rep["subsets"][name]["written"] == len(list_chips(root, name))
    index = gpd.read_parquet(root / "index.parquet")
    assert len(index) == sum(len(list_chips(root, n)) for n in MINI) and index.crs.to_epsg() == 4326
    assert (root / "report.png").stat().st_size > 5000
    md = (root / "report.md").read_text()
    assert "mini-zion-landsat-nlcd" in md and "Evergreen Forest" in md


def test_sampling_is_reproducible(stac_url: str) -> None:
    recipe = load_recipe("mini-zion-landsat-nlcd")
    a = sample_subset(recipe, url=stac_url, n=10, seed=3)
    b = sample_subset(recipe, url=stac_url, n=10, seed=3)
    assert list(a.point_id) == list(b.point_id) and np.allclose(a.lon, b.lon) and np.allclose(a.lat, b.lat)


def test_unreachable_catalog_and_missing_url(tmp_path: Path) -> None:
    recipe = load_recipe("mini-zion-landsat-nlcd")
    with pytest.raises(ValueError, match="loopback STAC API"):
        resolve_url(recipe, None)
    with pytest.raises(StacUnreachableError, match="lslib las serve-local"):
        build_las(recipe, tmp_path, stac_url="http://127.0.0.1:9", workers=0, progress=False)
    assert not any(tmp_path.iterdir())  # nothing written


def _chip_signature(root: Path, subset: str) -> dict[str, Any]:
    out = {}
    for path in list_chips(root, subset):
        chip = read_chip(path)
        meta = {k: v for k, v in chip.meta.items()}
        out[path.name] = (chip.image.values.tobytes(), chip.label.values.tobytes(), json.dumps(meta, sort_keys=True))
    return out


def test_killed_build_resumes_to_the_identical_result(stac_url: str, tmp_path: Path) -> None:
    subset = "mini-zion-landsat-nlcd"
    cmd = [sys.executable, "-m", "lslib", "las", "build", "--subset", subset, "--stac-url", stac_url,
           "--workers", "1", "-q"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    ref = tmp_path / "reference"
    subprocess.run([*cmd, "--out", str(ref)], check=True, env=env, capture_output=True, timeout=300)

    killed = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, "--out", str(killed)], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not list_chips(killed, subset) and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole job: scheduler, workers, main process
    proc.wait()
    partial = len(list_chips(killed, subset))
    total = len(list_chips(ref, subset))
    assert 0 < partial < total, f"the kill did not land mid-build ({partial} of {total} chips)"
    subprocess.run([*cmd, "--out", str(killed)], check=True, env=env, capture_output=True, timeout=300)
    assert not list((killed / subset / "chips").glob(".*")), "a temporary chip folder was left behind"
    assert _chip_signature(killed, subset) == _chip_signature(ref, subset)
    assert len(list_chips(killed, subset)) == total
    rej = lambda root: sorted((r["point_id"], r["reason"]) for r in list_records(root, "rejected"))  # noqa: E731
    assert rej(killed) == rej(ref)


def test_missing_collection_is_a_clear_error(stac_url: str, tmp_path: Path) -> None:
    from dataclasses import replace

    recipe = load_recipe("mini-zion-landsat-nlcd")
    bad = replace(recipe, image=replace(recipe.image, collection="landsat-c9"))
    with pytest.raises(ValueError, match=r"'landsat-c9' is not served by .*zion-landsat-c2-l2"):
        build_las(bad, tmp_path, stac_url=stac_url, workers=0, progress=False)


def test_corrupt_file_and_missing_band_are_recorded(sample: Callable[[str], Path], tmp_path: Path) -> None:
    from dataclasses import replace

    from lslib.data.local_stac.catalog import build_local_catalog, serve_local

    catalog = build_local_catalog(tmp_path / "cat", collections=["zion-landsat-c2-l2", "zion-nlcd-2011"])
    items_path = catalog["zion-landsat-c2-l2"][1]
    items = json.loads(items_path.read_text())
    red = Path(items["features"][0]["assets"]["red"]["href"].removeprefix("file://"))
    corrupt = tmp_path / "corrupt_red.tif"
    corrupt.write_bytes(red.read_bytes()[:4096])  # a truncated download: header, no pixels
    items["features"][0]["assets"]["red"]["href"] = corrupt.resolve().as_uri()
    items_path.write_text(json.dumps(items))
    recipe = load_recipe("mini-zion-landsat-nlcd")
    with serve_local(catalog) as server:
        summary = build_las(recipe, tmp_path / "las", stac_url=server.url, workers=0, progress=False, limit=3)
        assert summary.counts == {"failed": 3}, summary
        failed = list_records(tmp_path / "las", "failed")
        assert len(failed) == 3 and all("corrupt_red.tif" in r["detail"] for r in failed)
        assert {r["reason"] for r in failed} == {"AssetReadError"}
        assert not list_chips(tmp_path / "las", recipe.name)
        no_swir = replace(recipe, name="zion-swir", image=replace(recipe.image, bands={"SR_B6": "swir16"}))
        summary = build_las(no_swir, tmp_path / "las", stac_url=server.url, workers=0, progress=False, limit=2)
        assert {r["reason"] for r in summary.results} == {"missing band"}
