"""``lslib.mapui.view``: a real multi-tile ``lslib predict`` output on a leafmap map (tiles and overlays), errors."""

from __future__ import annotations

import base64
import io
import json
import math
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from PIL import Image
from rasterio.warp import transform_bounds

from lslib.inference import Predictor
from lslib.inference.outputs import NODATA_CODE, UNKNOWN_CODE
from lslib.inference.tiling.large_area import map_large_area
from lslib.mapui import MapOutputError, ResultView, view
from lslib.mapui.result_view import (
    FINITE_NODATA,
    IMAGERY_PANE,
    RESULTS_PANE,
    configure_tile_proxy,
    finite_nodata_vrt,
    open_output,
)
from lslib.model.build import build_model

PROMPTS = "water, forest, cropland, built-up area"
BANDS = ["B02", "B03", "B04", "B8A"]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory, sample_dir) -> Path:  # type: ignore[no-untyped-def]
    """A 640 x 576 px crop of a real Sentinel-2 L2A scene (60 m, 4 bands) written as a GeoTIFF with overviews."""
    from lslib.data.images import open_image
    from lslib.data.readers.geotiff import write_geotiff

    folder = sample_dir("s2-l2a-scl-T29UNU-ireland")
    da = open_image(folder).sel(band=BANDS).isel(y=slice(600, 1240), x=slice(500, 1076)).compute()
    path = tmp_path_factory.mktemp("scene") / "t29unu-crop.tif"
    write_geotiff(da, path)
    return path


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory, scene: Path) -> Path:
    """``lslib predict`` of the scene with an untrained tiny model: tiles of 128 px, 3 x 3 blocks, a 2 x 2-tile COG."""
    torch.manual_seed(0)
    model = build_model("tiny").eval()
    target = tmp_path_factory.mktemp("map") / "out"
    res = map_large_area(scene, PROMPTS, target, predictor=Predictor(model, device="cpu"), tile=128, overlap=16,
                         block=256, progress=False)  # fmt: skip
    assert res.sidecar["input"] == str(scene.resolve())
    return target


def _cog(out: Path) -> tuple[dict[int, tuple[int, int, int, int]], tuple[float, float, float, float], np.ndarray]:
    with rasterio.open(out / "class_map.tif") as src:
        assert src.width > src.block_shapes[0][1] and src.height > src.block_shapes[0][0], "a multi-tile COG"
        assert src.overviews(1), "the COG has overviews"
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
        return src.colormap(1), (south, west, north, east), src.read(1)


def _tile(url: str, lat: float, lon: float, z: int) -> np.ndarray:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    assert url.startswith("http://127.0.0.1:"), url
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an http proxy
    with opener.open(url.format(z=z, x=x, y=y), timeout=60) as r:
        assert r.status == 200 and r.headers["content-type"] == "image/png"
        data = r.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def _opaque_colours(rgba: np.ndarray) -> set[tuple[int, int, int]]:
    px = rgba.reshape(-1, 4)
    return {tuple(int(v) for v in c[:3]) for c in np.unique(px[px[:, 3] == 255], axis=0)}


def _flat(bounds: tuple[tuple[float, float], tuple[float, float]]) -> tuple[float, float, float, float]:
    (south, west), (north, east) = bounds
    return (south, west, north, east)


def _hex(rgba: tuple[int, ...]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgba[:3])


def _overlay_rgba(layer) -> np.ndarray:  # type: ignore[no-untyped-def]
    assert layer.url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(layer.url.split(",", 1)[1]))).convert("RGBA"))


def test_tiles_layers_legend_colours_bounds(out: Path, scene: Path) -> None:
    cmap, (south, west, north, east), codes = _cog(out)
    doc = json.loads((out / "map.json").read_text())
    v = view(out)
    assert isinstance(v, ResultView) and v.tiles and v.out == out and v.imagery == str(scene.resolve())
    assert v.notes == []
    # layers: imagery under classes under confidence (hidden); panes keep that order for tiles and overlays
    names = [layer.name for layer in v.map.layers]
    assert names[-3:] == ["imagery", "classes", "confidence"], names
    assert not v.map.layers[0].visible, "the OpenStreetMap basemap is hidden offline"
    assert v.layers["classes"].visible and not v.layers["confidence"].visible
    assert v.layers["imagery"].pane == IMAGERY_PANE and v.layers["classes"].pane == RESULTS_PANE
    assert set(v.tile_clients) == {"imagery", "classes", "confidence"}
    assert "lslib-result-map" in v.map._dom_classes
    # legend = the classes present (map.json's areas with pixels), named by map.json, coloured by the COG
    present = [a for a in doc["areas"] if a["pixels"] > 0]
    assert [r[0] for r in v.legend_rows] == [a["class"] for a in present]
    codes_by_name = {name: int(code) for code, name in doc["labels"].items()}
    assert [r[1] for r in v.legend_rows] == [_hex(cmap[codes_by_name[a["class"]]]) for a in present]
    assert [r[2] for r in v.legend_rows] == pytest.approx([a["percent"] for a in present])
    assert {int(k) for k in np.unique(codes)} - {NODATA_CODE} == {codes_by_name[a["class"]] for a in present}
    for name, colour, _ in v.legend_rows:
        assert name in v.legend.value and colour in v.legend.value
    assert v.colour_table == {int(k): tuple(c) for k, c in cmap.items()}
    # bounds = the COG's bounds in EPSG:4326, for the view and every tile layer
    assert _flat(v.bounds) == pytest.approx((south, west, north, east))
    for name, client in v.tile_clients.items():
        s, n, w, e = client.bounds()
        assert (s, w, n, e) == pytest.approx((south, west, north, east), abs=1e-5), name
        assert _flat(v.layers[name].bounds) == pytest.approx((south, west, north, east), abs=1e-5), name
    # imagery: true colour from the file's bands (B04, B03, B02 = bands 3, 2, 1 here), stretched in its values
    assert v.tile_args["imagery"]["indexes"] == [3, 2, 1]
    assert all(lo < hi for lo, hi in zip(v.tile_args["imagery"]["vmin"], v.tile_args["imagery"]["vmax"], strict=True))


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # rio-tiler, in the server
def test_tile_server_serves_png_tiles_with_the_colour_table(out: Path) -> None:
    cmap, (south, west, north, east), _ = _cog(out)
    v = view(out)
    lat, lon = (south + north) / 2, (west + east) / 2
    allowed = {tuple(cmap[code][:3]) for code in [*range(4), UNKNOWN_CODE]}
    full = _tile(v.tile_url("classes"), lat, lon, 12)  # ~6 km tile inside a ~35 km scene: full resolution
    assert (full[..., 3] == 255).mean() > 0.99
    assert _opaque_colours(full) <= allowed
    whole = _tile(v.tile_url("classes"), lat, lon, 8)  # the whole scene in one tile: read from the overviews
    assert 0 < (whole[..., 3] == 255).mean() < 1, "the scene, and transparent nodata around it"
    assert _opaque_colours(whole) <= allowed
    conf = _tile(v.tile_url("confidence"), lat, lon, 12)
    assert (conf[..., 3] == 255).mean() > 0.99 and len(_opaque_colours(conf)) > 1
    img = _tile(v.tile_url("imagery"), lat, lon, 12)
    assert (img[..., 3] == 255).mean() > 0.99 and img[..., :3].std() > 5


def test_overlays_without_a_tile_server(out: Path) -> None:
    cmap, (south, west, north, east), _ = _cog(out)
    v = view(out, tiles=False, max_side=300)
    assert not v.tiles and v.tile_clients == {}
    assert [layer.name for layer in v.map.layers][-3:] == ["imagery", "classes", "confidence"]
    classes = _overlay_rgba(v.layers["classes"])
    assert max(classes.shape[:2]) <= 300
    assert _opaque_colours(classes) <= {tuple(cmap[code][:3]) for code in [*range(4), UNKNOWN_CODE]}
    assert (classes[..., 3] == 255).mean() > 0.5
    assert _overlay_rgba(v.layers["confidence"]).shape == classes.shape
    assert _overlay_rgba(v.layers["imagery"])[..., 3].max() == 255
    (s, w), (n, e) = v.layers["classes"].bounds
    pixel = max(north - south, east - west) / 300
    assert (s, w, n, e) == pytest.approx((south, west, north, east), abs=2 * pixel)
    assert v.legend_rows == view(out, tiles=False, max_side=64).legend_rows


def test_imagery_from_map_json_missing_is_a_note_and_explicit_imagery_is_drawn(out: Path, scene: Path,
                                                                                tmp_path: Path) -> None:  # fmt: skip
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    doc = json.loads((copy / "map.json").read_text())
    (copy / "map.json").write_text(json.dumps({**doc, "input": str(tmp_path / "moved-away.tif")}))
    v = view(copy, tiles=False, max_side=128)
    assert "imagery" not in v.layers and v.imagery is None
    assert any("imagery=" in note and "moved-away.tif" in note for note in v.notes)
    v = view(copy, tiles=False, max_side=128, imagery=scene)
    assert v.imagery == str(scene) and "imagery" in v.layers
    with pytest.raises(FileNotFoundError):
        view(copy, tiles=False, imagery=tmp_path / "nope.tif")


def test_not_a_finished_output(out: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        view(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MapOutputError, match=r"no map\.json"):
        view(tmp_path / "empty")
    with pytest.raises(MapOutputError, match="is a file"):
        view(out / "class_map.tif")
    # an unfinished run: the progress record, no sidecar yet
    running = tmp_path / "running"
    running.mkdir()
    (running / ".progress.json").write_text(json.dumps({"signature": "a" * 64, "done": [0, 1], "valid_pixels": 7}))
    with pytest.raises(MapOutputError, match=r"unfinished .*2 blocks finished.*rerun the same command"):
        view(running)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "map.json").write_text("{}")
    with pytest.raises(MapOutputError, match="not written by lslib"):
        view(foreign)
    partial = tmp_path / "partial"
    shutil.copytree(out, partial)
    (partial / "confidence.tif").unlink()
    with pytest.raises(MapOutputError, match=r"confidence\.tif is missing"):
        view(partial)
    pixel = tmp_path / "pixel"
    shutil.copytree(out, pixel)
    doc = json.loads((pixel / "map.json").read_text())
    (pixel / "map.json").write_text(json.dumps({**doc, "pixel_coordinates": True}))
    with pytest.raises(MapOutputError, match="pixel coordinates"):
        open_output(pixel)


def test_tile_proxy_for_jupyterhub_and_binder() -> None:
    env = {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"}
    assert configure_tile_proxy(env) == "/user/alice/proxy/{port}"
    assert env["LOCALTILESERVER_CLIENT_PREFIX"] == "/user/alice/proxy/{port}"
    assert configure_tile_proxy({"LOCALTILESERVER_CLIENT_PREFIX": "proxy/{port}"}) == "proxy/{port}"  # kept
    plain: dict[str, str] = {}
    assert configure_tile_proxy(plain) is None and plain == {}  # JupyterLab: localtileserver's own proxy


def test_finite_nodata_vrt_keeps_values_grid_and_overviews(out: Path, tmp_path: Path) -> None:
    vrt = finite_nodata_vrt(out / "confidence.tif", tmp_path)
    with rasterio.open(out / "confidence.tif") as src, rasterio.open(vrt) as dst:
        assert math.isnan(src.nodata) and dst.nodata == FINITE_NODATA
        assert (dst.crs, dst.transform, dst.shape) == (src.crs, src.transform, src.shape)
        assert dst.overviews(1) == src.overviews(1)
        a, b = src.read(1), dst.read(1)
    np.testing.assert_array_equal(np.where(np.isnan(a), FINITE_NODATA, a), b)
    assert sorted(p.name for p in out.iterdir()) == ["class_map.tif", "confidence.tif", "map.json", "prompts.yaml"]
