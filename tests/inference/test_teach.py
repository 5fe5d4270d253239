"""Teaching the map from labelled pixels (lslib.inference.teach, Predictor.adapt, the taught prompt set).

The maths on hand-checkable toy cases; the predictor, the taught YAML, ``lslib predict`` and bad input on the
real TerraMesh scene with the released model; the map app's teach mode headless (tests/test_browser.py clicks
it in a real browser)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from lslib.inference import teach as T

SITE = "433D_629L_3_1"
PROMPTS = "water, trees, crops, built area, rangeland"


# --- maths -------------------------------------------------------------------------------------------------
def test_kernel_values_by_hand() -> None:
    u = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    v = torch.tensor([[0.0, 0.0]])
    k = T.kernel(u, v, gamma=1.0)
    # |u - v|^2 / F = 0 and (1 + 1) / 2 = 1
    assert torch.allclose(k[:, 0], torch.tensor([1.0, math.exp(-1.0)]))


def test_no_points_is_the_zero_shot_map() -> None:
    stats = {"bands": (torch.zeros(1), torch.ones(1))}
    head = T.fit_head({"bands": torch.zeros(0, 1)}, np.zeros(0, int), torch.zeros(0, 2), ["a", "b"], stats=stats,
                      features=("bands",))
    assert not head.taught
    scores = torch.rand(1, 2, 3, 3)
    feats = T.ImageFeatures(torch.zeros(1, 4, 1, 1), torch.zeros(1, 1, 3, 3), {})
    assert head.apply(scores, feats, lambda x: x) is scores


def test_one_click_moves_like_pixels_only() -> None:
    """Two classes, one band; the prior says "a" everywhere (0.6 vs 0.4). One point of "b" at value +2:
    pixels near +2 become "b", pixels near -2 stay "a" (one click never flips the whole map)."""
    stats = {"bands": (torch.zeros(1), torch.ones(1))}
    head = T.fit_head({"bands": torch.tensor([[2.0]])}, np.array([1]), torch.tensor([[0.6, 0.4]]), ["a", "b"],
                      stats=stats, features=("bands",), strength=0.3, gamma=0.5)
    assert head.counts == {"a": 0, "b": 1}
    assert torch.all(head.alpha[:, 0] == 0)  # the class without points is not touched
    values = torch.tensor([-2.0, -1.0, 0.0, 1.9, 2.0])
    z = head.logits_at(torch.tensor([[0.6, 0.4]] * 5), {"bands": values[:, None]})
    assert z.argmax(1).tolist() == [0, 0, 0, 1, 1]
    # the same head on a map: the correction is the kernel-weighted alpha, exactly
    feats = T.ImageFeatures(torch.zeros(1, 1, 1, 5), values.view(1, 1, 1, 5), {})
    out = head.apply(torch.tensor([0.6, 0.4]).view(1, 2, 1, 1).expand(1, 2, 1, 5), feats, lambda x: x)
    assert out.argmax(1).flatten().tolist() == [0, 0, 0, 1, 1]
    assert torch.allclose(out.sum(1), torch.ones(1, 1, 5))


def test_prior_is_kept_with_few_points_and_yields_to_many() -> None:
    """A confident prior (0.95 "a") is not overturned by one contradicting point far from it in feature space,
    but twenty consistent points win."""
    stats = {"bands": (torch.zeros(1), torch.ones(1))}
    prior = torch.tensor([[0.95, 0.05]])
    one = T.fit_head({"bands": torch.tensor([[0.0]])}, np.array([1]), prior, ["a", "b"], stats=stats,
                     features=("bands",), strength=3.0)
    assert one.logits_at(prior, {"bands": torch.tensor([[0.0]])}).argmax(1).item() == 0
    many = T.fit_head({"bands": torch.zeros(20, 1)}, np.ones(20, int), prior.expand(20, 2), ["a", "b"], stats=stats,
                      features=("bands",), strength=3.0)
    assert many.logits_at(prior, {"bands": torch.tensor([[0.0]])}).argmax(1).item() == 1


def test_held_out_accuracy_is_leave_one_out() -> None:
    stats = {"bands": (torch.zeros(1), torch.ones(1))}
    x = torch.tensor([[-2.0], [-2.1], [-1.9], [2.0], [2.1], [1.9]])
    y = np.array([0, 0, 0, 1, 1, 1])
    prior = torch.tensor([[0.6, 0.4]] * 6)
    acc = T.held_out_accuracy({"bands": x}, y, prior, ["a", "b"], stats=stats, features=("bands",))
    assert acc["n"] == 6 and acc["oa"] == 1.0 and acc["zero_shot_oa"] == 0.5
    assert acc["per_class"]["b"] == {"n": 3, "correct": 3, "accuracy": 1.0}
    # a single point of a class cannot be predicted from the others: held out, it is the prior's call
    acc1 = T.held_out_accuracy({"bands": x[3:4]}, y[3:4], prior[:1], ["a", "b"], stats=stats, features=("bands",))
    assert acc1["oa"] == 0.0


# --- the predictor on a real scene -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def predictor():  # type: ignore[no-untyped-def]
    from lslib.inference import Predictor
    from lslib.model.build import load_released

    return Predictor(load_released(), device="cpu")


@pytest.fixture(scope="module")
def scene(sample):  # type: ignore[no-untyped-def]
    from lslib.data import open_image
    from lslib.inference import with_scene_stretch
    from lslib.mapui.imagery import load_reference

    da = with_scene_stretch(open_image(sample(f"terramesh-examples-s2-esri-lulc/S2L2A/{SITE}.tif"), sensor="s2-l2a"))
    ref = load_reference(sample(f"terramesh-examples-s2-esri-lulc/LULC/{SITE}.tif"), "terramesh_lulc")
    return da, np.asarray(ref.values)


def _points(da, ref, per_class: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """``per_class`` reference pixels of water (1), trees (2), crops (4), built (5), rangeland (9)."""
    names = {1: "water", 2: "trees", 4: "crops", 5: "built area", 9: "rangeland"}
    rng = np.random.default_rng(seed)
    pts = []
    for code, name in names.items():
        r, c = np.nonzero(ref == code)
        for i in rng.choice(r.size, size=min(per_class, r.size), replace=False):
            pts.append((float(da.x[c[i]]), float(da.y[r[i]]), name))
    return pts


def test_adapt_corrects_without_reencoding(predictor, scene) -> None:  # type: ignore[no-untyped-def]
    da, ref = scene
    predictor.set_image(da)
    zero = predictor.predict(PROMPTS)
    encodes = predictor.stats["image_encodes"]
    pts = _points(da, ref, 10)
    taught = predictor.adapt(PROMPTS, pts)
    pred = predictor.predict(taught)
    assert predictor.stats["image_encodes"] == encodes  # the cached embedding only
    assert taught.extra["teaching"].summary()["points"]["water"] == 10
    codes = np.array([1, 2, 4, 5, 9])
    np.isin(ref, codes)

    def recall(p):  # type: ignore[no-untyped-def]  # mean per-class recall (the scene is 40 % crops)
        got = codes[np.asarray(p.class_map.values).clip(0)]
        return float(np.mean([(got[ref == c] == c).mean() for c in codes if (ref == c).any()]))

    assert recall(pred) > recall(zero) + 0.05, (recall(zero), recall(pred))
    held = predictor.held_out_accuracy(taught)
    assert held["n"] == 50 and 0.0 <= held["oa"] <= 1.0 and not math.isnan(held["zero_shot_oa"])
    # one click changes part of the map, never all of it
    one = predictor.predict(predictor.adapt(PROMPTS, pts[:1]))
    changed = float((np.asarray(one.class_map.values) != np.asarray(zero.class_map.values)).mean())
    assert changed < 0.5


def test_taught_prompt_set_round_trip_and_lslib_predict(  # type: ignore[no-untyped-def]
    predictor, scene, sample, tmp_path
) -> None:
    from lslib.cli.main import main
    from lslib.inference.tiling.large_area import map_large_area
    from lslib.prompt_set import load

    da, ref = scene
    predictor.set_image(da)
    taught = predictor.adapt(PROMPTS, _points(da, ref, 5))
    path = T.save_taught(taught, tmp_path / "taught.yaml")
    assert (tmp_path / "taught.safetensors").exists()
    assert b"pickle" not in (tmp_path / "taught.safetensors").read_bytes()[:200]
    loaded = load(path)
    assert loaded.names == taught.names
    a = predictor.predict(taught).class_map.values
    b = predictor.predict(loaded).class_map.values
    assert np.array_equal(a, b)
    # the whole scene through tiling (as `lslib predict --prompt-set taught.yaml`), metadata says it was taught
    src = sample(f"terramesh-examples-s2-esri-lulc/S2L2A/{SITE}.tif")
    res = map_large_area(src, path, tmp_path / "map", predictor=predictor, sensor="s2-l2a", tile=256)
    doc = json.loads((tmp_path / "map" / "map.json").read_text())
    assert doc["teaching"]["taught"] and doc["teaching"]["points"]["trees"] == 5
    assert (tmp_path / "map" / "prompts.safetensors").exists()
    import rasterio

    with rasterio.open(res.paths["class_map"]) as f:
        tiled = f.read(1)
    assert (tiled == a).mean() > 0.99
    # the CLI reads it too
    rc = main(["predict", "--image", str(src), "--sensor", "s2-l2a", "--prompt-set", str(path),
               "--out", str(tmp_path / "cli")])
    assert rc == 0
    assert json.loads((tmp_path / "cli" / "map.json").read_text())["teaching"]["points"]["water"] == 5


# --- bad input ---------------------------------------------------------------------------------------------
def test_bad_points_are_refused_clearly(predictor, scene) -> None:  # type: ignore[no-untyped-def]
    da, _ref = scene
    predictor.set_image(da)
    x0, y0 = float(da.x[10]), float(da.y[10])
    with pytest.raises(T.TeachError, match="outside the image"):
        predictor.adapt(PROMPTS, [(x0 - 1e5, y0, "water")])
    with pytest.raises(T.TeachError, match="empty class name"):
        predictor.adapt(PROMPTS, [(x0, y0, " ")])
    with pytest.raises(T.TeachError, match="too many"):
        predictor.adapt(PROMPTS, [(x0, y0, "water")] * (T.MAX_POINTS + 1))
    taught = predictor.adapt(PROMPTS, [(x0, y0, "water"), (x0, y0, "glacier")])
    assert any("glacier" in n and "removed or renamed" in n for n in taught.extra["teaching"].notes)
    holed = da.copy(data=np.asarray(da.values).copy())
    holed.values[:, 10, 10] = np.nan
    predictor.set_image(holed)
    with pytest.raises(T.TeachError, match="nodata"):
        predictor.adapt(PROMPTS, [(x0, y0, "water")])


def test_taught_set_on_another_band_set_model_or_edited_sidecar(predictor, scene, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from lslib.inference import Predictor
    from lslib.model.build import build_model
    from lslib.prompt_set import load

    da, ref = scene
    predictor.set_image(da)
    path = T.save_taught(predictor.adapt(PROMPTS, _points(da, ref, 2)), tmp_path / "t.yaml")
    rgb = da.isel(band=[1, 2, 3])
    rgb.attrs = {k: v for k, v in rgb.attrs.items() if k != "norm_stats"}
    predictor.set_image(rgb)
    with pytest.raises(T.TeachError, match="bands"):
        predictor.predict(load(path))
    other = Predictor(build_model("tiny"), device="cpu")
    other.set_image(da)
    with pytest.raises(T.TeachError, match="model"):
        other.predict(load(path))
    predictor.set_image(da)
    with pytest.raises(T.TeachError, match="classes"):
        predictor.predict(load(path).without("water"))
    blob = bytearray((tmp_path / "t.safetensors").read_bytes())
    blob[-1] ^= 1
    (tmp_path / "t.safetensors").write_bytes(bytes(blob))
    with pytest.raises(T.TeachError, match="sha256"):
        predictor.predict(load(path))
    (tmp_path / "t.safetensors").unlink()
    with pytest.raises(T.TeachError, match="missing"):
        predictor.predict(load(path))


# --- the map app's teach mode ------------------------------------------------------------------------------
def test_map_app_teach_mode(predictor, scene, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("ipyleaflet")
    from lslib.mapui import MapApp
    from lslib.prompt_set import load

    da, _ref = scene
    app = MapApp(image=da, predictor=predictor, prompts=PROMPTS)
    app.run()
    zero_png, renders = app.overlay_png, app.renders
    (s, w), (n, e) = app.overlay_bounds
    assert "teach" in app.inspect._mode.options
    app.inspect.set_mode("teach", "water")
    lat, lon = s + (n - s) * 0.5, w + (e - w) * 0.5
    app.inspect.click(lat, lon)
    assert app.error is None and app.renders == renders + 1
    assert len(app.teach.points) == 1 and app.teach.taught is not None
    assert app.prediction is not None and app.prediction.prompts is app.teach.taught
    assert len(app.teach._markers.layers) == 1
    app.inspect.set_mode("teach", "trees")
    app.inspect.click(s + (n - s) * 0.2, w + (e - w) * 0.8)
    assert "2 teaching point(s)" in app.teach.counts_html.value
    assert "held-out accuracy (leave-one-out, 2 points)" in app.teach.accuracy_html.value
    assert 0.0 <= app.teach.changed < 1.0 and "re-mapped" in app.teach.accuracy_html.value
    assert app.overlay_png != zero_png
    # outside the AOI: refused in the panel, nothing added
    app.inspect.click(n + 1.0, e + 1.0)
    assert len(app.teach.points) == 2 and "outside" in app.inspect.message.value
    # split view zero-shot | taught
    app.teach.split(True)
    assert app.teach.split_active
    app.teach.split(False)
    assert not app.teach.split_active and app.class_layer in app.map.layers
    # a prompt edit re-teaches; save; undo and clear return to the zero-shot map
    out = app.teach.save(tmp_path / "taught.yaml")
    assert load(out).extra["teaching"]["counts"] == {"water": 1, "trees": 1, "crops": 0, "built area": 0,
                                                     "rangeland": 0}
    files = app.export(tmp_path / "export")  # the export keeps the teaching: it re-maps as shown
    assert (tmp_path / "export" / "prompts.safetensors").exists()
    assert load(files["prompts"]).extra["teaching"]["counts"]["water"] == 1
    app.teach.undo()
    assert len(app.teach.points) == 1 and len(app.teach._markers.layers) == 1
    app.teach.clear()
    assert app.teach.taught is None and app.overlay_png[-200:] is not None
    assert np.array_equal(app.prediction.class_map.values, predictor.predict(PROMPTS).class_map.values)
