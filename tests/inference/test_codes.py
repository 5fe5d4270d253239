"""One class-map convention for every writer (:mod:`lslib.inference.codes`): ``lslib predict``'s ``class_map.tif``
and the map app's exported ``classes.tif`` hold the same codes (k = prompt index, 254 unknown, 255 nodata), colour
table, band description and ``LSLIB_*`` tags for the same image and prompts; old exports (k + 1) still read right."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401 - the .rio accessor
import torch
import xarray as xr

from lslib.data.readers import write_geotiff
from lslib.inference.codes import (
    BAND_DESCRIPTION,
    NODATA_CODE,
    TAG_CLASSES,
    TAG_NODATA,
    TAG_UNKNOWN,
    UNKNOWN_CODE,
    class_map_tags,
    colour_table,
    decode_class_map,
    encode_class_map,
    read_class_map,
)
from lslib.model.build import build_model, save_model

PROMPT_SET = """\
name: convention
classes:
  - {name: water, colour: "#419bdf", threshold: 1.0}
  - {name: forest, colour: "#397d49"}
  - {name: cropland}
  - {name: built-up area, colour: "#c4281b"}
"""
NAMES = ["water", "forest", "cropland", "built-up area"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return save_model(build_model("tiny"), tmp_path_factory.mktemp("ckpt") / "tiny")


def _image(path: Path, size: int = 72) -> Path:
    """A 4-band GeoTIFF with a nodata corner (NaN in every band)."""
    data = np.random.default_rng(1).uniform(0.02, 0.4, (4, size, size)).astype(np.float32)
    data[:, :10, :20] = np.nan
    coords = {"band": ["red", "green", "blue", "nir"], "wavelength": ("band", [0.665, 0.56, 0.49, 0.842]),
              "y": 5e6 - 10 * (np.arange(size) + 0.5), "x": 4e5 + 10 * (np.arange(size) + 0.5)}  # fmt: skip
    da = xr.DataArray(data, dims=("band", "y", "x"), coords=coords).rio.write_crs("EPSG:32633")
    return write_geotiff(da, path)


def _read(path: Path) -> dict[str, object]:
    with rasterio.open(path) as src:
        tags = src.tags()
        return {
            "codes": src.read(1), "nodata": src.nodata, "colours": src.colormap(1), "crs": src.crs,
            "transform": src.transform, "description": src.descriptions[0],
            "tags": {k: tags.get(k) for k in (TAG_CLASSES, TAG_UNKNOWN, TAG_NODATA)},
        }  # fmt: skip


def test_predict_and_map_export_write_the_same_class_map(tmp_path: Path, checkpoint: Path) -> None:
    pytest.importorskip("ipyleaflet")
    from lslib.cli.main import main
    from lslib.inference import Predictor
    from lslib.mapui import MapApp
    from lslib.model.build import load_model
    from lslib.prompt_set import load

    img = _image(tmp_path / "scene.tif")
    prompts = tmp_path / "prompts.yaml"
    prompts.write_text(PROMPT_SET, encoding="utf-8")
    out = tmp_path / "predict"
    # one window covers the scene: the tiled map is the predictor's map, pixel for pixel
    assert main(["predict", "--image", str(img), "--prompt-set", str(prompts), "--out", str(out), "--checkpoint",
                 str(checkpoint), "--tile", "128", "--overlap", "16", "-q"]) == 0  # fmt: skip
    app = MapApp(image=img, predictor=Predictor(load_model(checkpoint), device="cpu"), prompts=load(prompts))
    pred = app.run()
    assert pred is not None
    exported = app.export(tmp_path / "export")

    cli, exp = _read(out / "class_map.tif"), _read(exported["classes"])
    codes = cli["codes"]
    assert isinstance(codes, np.ndarray)
    # every kind of code is present: a class, unknown (water's threshold 1.0) and nodata (the NaN corner)
    assert {UNKNOWN_CODE, NODATA_CODE} < set(np.unique(codes).tolist()) and int(codes.min()) < len(NAMES)
    assert (codes[:10, :20] == NODATA_CODE).all()
    np.testing.assert_array_equal(exp["codes"], codes)
    for key in ("nodata", "colours", "crs", "transform", "description", "tags"):
        assert exp[key] == cli[key], key
    assert cli["tags"] == class_map_tags(NAMES) and cli["description"] == BAND_DESCRIPTION
    assert cli["nodata"] == NODATA_CODE
    table = colour_table(load(out / "prompts.yaml").colours)  # the colours the map was drawn with
    assert load(exported["prompts"]).colours == load(out / "prompts.yaml").colours
    assert {k: v[:3] for k, v in cli["colours"].items() if k != NODATA_CODE} == {  # type: ignore[attr-defined]
        k: v[:3] for k, v in table.items() if k != NODATA_CODE}  # fmt: skip
    # the sidecar documents the same codes; both files decode to the map app's prediction
    doc = json.loads((out / "map.json").read_text(encoding="utf-8"))
    assert doc["codes"]["unknown"] == UNKNOWN_CODE and doc["labels"][str(UNKNOWN_CODE)] == "unknown"
    for path in (out / "class_map.tif", exported["classes"]):
        cm = read_class_map(path)
        assert cm.names == NAMES and not cm.legacy
        np.testing.assert_array_equal(cm.index, np.asarray(pred.class_map.values))
        np.testing.assert_array_equal(cm.valid, codes != NODATA_CODE)
    # the polygons carry the same codes
    import geopandas as gpd

    gdf = gpd.read_file(exported["polygons"])
    assert dict(zip(gdf["value"], gdf["class"], strict=True)) == {
        int(v): ("unknown" if v == UNKNOWN_CODE else NAMES[int(v)]) for v in np.unique(codes) if v != NODATA_CODE
    }


def test_encode_decode_round_trip_and_overflow() -> None:
    index = np.array([[0, 1, -1], [3, -1, 2]], dtype=np.int16)
    valid = np.array([[True, True, True], [True, False, True]])
    codes = encode_class_map(index, valid)
    assert codes.dtype == np.uint8
    np.testing.assert_array_equal(codes, [[0, 1, UNKNOWN_CODE], [3, NODATA_CODE, 2]])
    back, ok = decode_class_map(codes)
    np.testing.assert_array_equal(ok, valid)
    np.testing.assert_array_equal(back, np.where(valid, index, -1))
    with pytest.raises(ValueError, match="254 classes at most"):
        encode_class_map(np.array([254]), np.array([True]))


def test_an_old_export_still_reads_right(tmp_path: Path) -> None:
    """Map-app exports before the one convention stored class k as k + 1 and 0 as unknown (``classes`` tag)."""
    old = np.array([[1, 2, 0], [3, 255, 1]], dtype=np.uint8)
    da = xr.DataArray(old, dims=("y", "x"), coords={"y": [15.0, 5.0], "x": [5.0, 15.0, 25.0]})
    da = da.rio.write_crs("EPSG:32633").rio.write_nodata(255, encoded=False)
    path = write_geotiff(da, tmp_path / "classes.tif",
                         tags={"classes": "0=unknown;1=water;2=forest;3=cropland", "nodata": "255"})  # fmt: skip
    cm = read_class_map(path)
    assert cm.legacy and cm.names == ["water", "forest", "cropland"]
    np.testing.assert_array_equal(cm.index, [[0, 1, -1], [2, -1, 0]])
    np.testing.assert_array_equal(cm.valid, old != 255)
