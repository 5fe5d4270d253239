"""lslib.mapui, headless (no browser): widget edits drive the real predictor (untrained ``tiny``) on the real
TerraMesh chip; front-end events are fed through ipyleaflet's own message handlers."""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ipyleaflet")

SITE = "282D_485L_3_3"
PROMPTS = ["water", "forest", "cropland"]


@pytest.fixture(scope="module")
def predictor():  # type: ignore[no-untyped-def]
    from lslib.inference import Predictor
    from lslib.model.build import build_model

    return Predictor(build_model("tiny"), device="cpu")


@pytest.fixture(scope="module")
def scene(sample):  # type: ignore[no-untyped-def]
    from lslib.data.readers import read_label, read_sentinel2

    image = read_sentinel2(sample(f"terramesh-examples-s2-esri-lulc/S2L2A/{SITE}.tif"))
    ref = read_label(sample(f"terramesh-examples-s2-esri-lulc/LULC/{SITE}.tif"), taxonomy="terramesh_lulc")
    return image, ref


@pytest.fixture()
def app(scene, predictor):  # type: ignore[no-untyped-def]
    from lslib.mapui import MapApp

    image, ref = scene
    a = MapApp(image=image, predictor=predictor, prompts=list(PROMPTS), reference=ref)
    a.run()
    return a


def _png(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def _hex(rgb: np.ndarray) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb[:3]))


def test_dom_hooks_and_display(app) -> None:  # type: ignore[no-untyped-def]
    assert "lslib-app" in app.widget._dom_classes
    assert "lslib-map" in app.map._dom_classes
    assert "lslib-prompt-editor" in app.editor.widget._dom_classes
    assert "lslib-status" in app.status._dom_classes and "lslib-legend" in app.legend._dom_classes
    assert all("lslib-prompt-name" in app.editor.name_widget(i)._dom_classes for i in range(app.editor.rows))
    assert all(not app.editor.name_widget(i).continuous_update for i in range(app.editor.rows))
    assert "application/vnd.jupyter.widget-view+json" in app._repr_mimebundle_()
    assert "rendered 1" in app.status.value
    assert app.class_layer.url.startswith("data:image/png;base64,")
    assert app.imagery_layer.url.startswith("data:image/png;base64,")


def test_editing_a_name_encodes_one_prompt_and_renders_once(app, predictor) -> None:  # type: ignore[no-untyped-def]
    stats, renders, url, changes = dict(predictor.stats), app.renders, app.class_layer.url, app.editor.changes
    app.editor.name_widget(1).value = "tree cover"  # what typing + Enter does in the browser
    assert app.editor.changes == changes + 1
    assert predictor.stats["text_encodes"] == stats["text_encodes"] + 1
    assert predictor.stats["image_encodes"] == stats["image_encodes"]  # embeddings are cached per AOI
    assert app.renders == renders + 1 and f"rendered {renders + 1}" in app.status.value
    assert app.class_layer.url != url
    assert app.prediction.prompts.names == ["water", "tree cover", "cropland"]
    stats = dict(predictor.stats)
    app.editor.set_name(1, "forest")  # already encoded once: no new text encode, still one render
    assert predictor.stats["text_encodes"] == stats["text_encodes"] and app.renders == renders + 2


def test_colours_and_legend_stay_consistent(app) -> None:  # type: ignore[no-untyped-def]
    def colours() -> dict[str, str]:
        ps = app.editor.prompts
        return dict(zip(ps.names, ps.colours, strict=True))

    before = colours()
    app.editor.add_class("bare soil")
    after = colours()
    assert {k: after[k] for k in before} == before and after["bare soil"] not in before.values()
    app.editor.remove_class(0)
    app.editor.move_class(1, 0)
    final = colours()
    assert list(final) == ["cropland", "forest", "bare soil"]
    assert all(final[k] == after[k] for k in final)
    # the overlay shows only prompt colours, the unknown hatch or transparency; the legend lists what is drawn
    rgba = _png(app.overlay_png)
    drawn = {_hex(p) for p in np.unique(rgba[rgba[..., 3] > 0].reshape(-1, 4), axis=0)}
    assert drawn <= set(final.values()) | {"#141414", "#6e6e6e"}
    legend = {name: colour for name, colour, _ in app.legend_rows if colour}
    big = {colour for _, colour, pct in app.legend_rows if colour and pct > 0.5}  # tiny classes may vanish in
    assert big <= drawn - {"#141414", "#6e6e6e"} <= set(legend.values())  # the reprojection: only big ones
    assert all(final[name] == c for name, c in legend.items())
    assert all(name in app.legend.value for name in legend)


def test_prompts_matching_the_reference_take_its_colours(app, scene, predictor) -> None:  # type: ignore[no-untyped-def]
    from lslib.mapui import MapApp
    from lslib.taxonomy import get_taxonomy

    esri = {c.name: c.color.lower() for c in get_taxonomy("terramesh_lulc").classes}
    image, ref = scene
    a = MapApp(image=image, predictor=predictor, prompts=["water", "trees", "crops"], reference=ref)
    assert a.editor.prefer == "terramesh_lulc"
    assert a.editor.prompts.colours == [esri["Water"], esri["Trees"], esri["Crops"]]  # as the reference layer
    a.editor.add_class("built area")
    assert a.editor.prompts.colours[-1] == esri["Built area"]
    a.set_reference(ref.copy().assign_attrs(taxonomy="esri_lulc"))
    assert a.editor.prefer == "esri_lulc"


def test_a_renamed_class_takes_the_colour_of_its_new_name_unless_chosen(app, scene, predictor) -> None:  # type: ignore[no-untyped-def]
    from lslib.mapui import MapApp
    from lslib.taxonomy import get_taxonomy

    esri = {c.name: c.color.lower() for c in get_taxonomy("terramesh_lulc").classes}
    image, ref = scene
    a = MapApp(image=image, predictor=predictor, prompts=["water", "vegetation", "crops"], reference=ref)
    renders = a.renders
    a.editor.set_name(1, "trees")  # a suggested colour follows the rename: one render, the reference's Trees
    assert a.editor.prompts.colours[1] == esri["Trees"] and a.renders == renders + 1
    a.editor.set_colour(2, "#ff00ff")  # chosen by the user: it stays through a rename
    a.editor.set_name(2, "built area")
    assert a.editor.prompts.colours[2] == "#ff00ff"
    assert a.editor.prompts.colours[0] == esri["Water"]  # the other classes keep theirs


def test_invalid_prompts_show_an_error_and_keep_the_map(app) -> None:  # type: ignore[no-untyped-def]
    renders, png, prompts = app.renders, app.overlay_png, app.editor.prompts
    for bad, word in (("", "empty name"), ("Water ", "same name"), ("WATER", "same name")):
        app.editor.set_name(1, bad)
        assert word in app.editor.error and word in app.editor.message.value
        assert app.renders == renders and app.overlay_png == png and app.editor.prompts == prompts
    app.editor.set_name(1, "forest")  # back to the valid set: error cleared, nothing to re-render
    assert app.editor.error is None and app.editor.message.value == "" and app.renders == renders
    app.editor.set_prompts([f"class {i}" for i in range(201)])
    assert "too many" in app.editor.error and app.renders == renders and app.editor.prompts == prompts
    app.editor.set_prompts(list(PROMPTS))
    assert app.editor.error is None and app.editor.prompts.names == PROMPTS
    app.editor.load("/nonexistent/prompts.yaml")
    assert "no prompt set" in app.editor.message.value and app.renders == renders


def test_prompt_yaml_round_trip_and_presets(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from lslib.prompt_set import load

    app.editor.set_synonyms(0, "lake, river")
    app.editor.set_threshold(2, 0.4)
    path = app.editor.save(tmp_path / "p.yaml")
    assert load(path) == app.editor.prompts
    app.editor.set_name(0, "sea")
    app.editor.load(path)
    assert app.editor.prompts == load(path) and app.prediction.prompts == load(path)
    (tmp_path / "bad.yaml").write_text("classes: [{name: water, colour: blue-ish}]")
    app.editor.load(tmp_path / "bad.yaml")
    assert "colour" in app.editor.error


def test_size_guard_and_aoi_bounds(scene, predictor) -> None:  # type: ignore[no-untyped-def]
    from lslib.mapui import MapApp

    image, _ = scene
    app = MapApp(image=image, predictor=predictor, prompts=list(PROMPTS), max_pixels=10_000)
    assert app.run() is None and app.renders == 0
    assert "max_pixels=10,000" in app.status.value and "lslib predict" in app.status.value
    x0, y1 = float(image.x[10]), float(image.y[10])
    assert app.set_aoi((x0, y1 - 40 * 10, x0 + 60 * 10, y1))  # (minx, miny, maxx, maxy) in the image CRS
    assert app.prediction.class_map.shape == (41, 61) and "rendered 1" in app.status.value
    assert not app.set_aoi(None)  # the whole image is refused again; the AOI and map stay
    assert "Mpx" in app.status.value and app.prediction.class_map.shape == (41, 61) and app.renders == 1



def test_without_a_predictor_app_loads_the_released_model(scene, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``MapApp()`` / ``quick_map()`` choose the default model themselves (``Predictor`` needs one)."""
    from lslib.mapui import MapApp
    from lslib.model import build

    tiny = build.build_model("tiny").eval()
    monkeypatch.setattr(build, "load_released", lambda: tiny)  # the released model, faster: same path
    image, _ = scene
    app = MapApp(image=image, prompts=list(PROMPTS))
    assert app.predictor.model is tiny
    assert app.run() is not None and app.predictor.current_key == app.predictor.image_key(app.aoi)

def test_drawn_geojson_polygon_maps_to_the_right_pixels(app, scene) -> None:  # type: ignore[no-untyped-def]
    from pyproj import Transformer

    image, _ = scene
    r0, r1, c0, c1 = 20, 60, 100, 160  # rows 20..59, cols 100..159
    t = image.rio.transform()
    corners = [t * (c, r) for c, r in ((c0 + 0.25, r0 + 0.25), (c1 - 0.25, r0 + 0.25), (c1 - 0.25, r1 - 0.25),
                                       (c0 + 0.25, r1 - 0.25))]
    to_ll = Transformer.from_crs(image.rio.crs, "EPSG:4326", always_xy=True)
    ring = [list(to_ll.transform(x, y)) for x, y in corners]
    feature = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}}
    # through the DrawControl's front-end message path
    app.aoi_panel.draw._handle_leaflet_event(None, {"event": "draw:created", "geo_json": feature}, None)
    aoi = app.aoi
    assert aoi.sizes["y"] == r1 - r0 and aoi.sizes["x"] == c1 - c0
    np.testing.assert_array_equal(aoi.x.values, image.x.values[c0:c1])
    np.testing.assert_array_equal(aoi.y.values, image.y.values[r0:r1])
    np.testing.assert_array_equal(aoi.values, image.values[:, r0:r1, c0:c1])
    assert app.prediction.class_map.shape == (r1 - r0, c1 - c0)
    assert app.aoi_layer.data["features"][0]["geometry"] == feature["geometry"]  # the outline on the map
    # a point is not an AOI: a message, no exception, the AOI stays
    point = {"type": "Feature", "geometry": {"type": "Point", "coordinates": ring[0]}}
    app.aoi_panel.draw._handle_leaflet_event(None, {"event": "draw:created", "geo_json": point}, None)
    assert "polygon" in app.status.value.lower() and app.aoi.sizes["y"] == r1 - r0


def test_overlay_lands_on_the_image_bounds(app, scene) -> None:  # type: ignore[no-untyped-def]
    image, _ = scene
    west, south, east, north = image.rio.transform_bounds("EPSG:4326")
    (s, w), (n, e) = app.overlay_bounds
    deg = 10 / 111_000  # one 10 m pixel in degrees of latitude
    assert abs(s - south) < deg and abs(n - north) < deg and abs(w - west) < deg and abs(e - east) < deg
    rgba = _png(app.overlay_png)
    assert rgba.shape[:2] == app._index.shape and (rgba[..., 3] > 0).mean() > 0.9
    assert tuple(tuple(b) for b in app.imagery_layer.bounds) == app.overlay_bounds  # whole-image AOI


def test_click_inspect_scores(app) -> None:  # type: ignore[no-untyped-def]
    from lslib.mapui.aoi import pixel_to_lonlat

    pred = app.prediction
    for r, c in ((5, 7), (112, 100), (200, 31)):
        lat, lon = pixel_to_lonlat(pred.class_map, r, c)
        app.map._handle_leaflet_event(None, {"event": "interaction", "type": "click", "coordinates": [lat, lon]}, None)
        scores = app.inspect.last_scores
        assert list(scores) == PROMPTS
        values = np.array(list(scores.values()))
        assert np.all((values >= 0) & (values <= 1))
        assert math.isclose(values.max(), float(pred.confidence.values[r, c]), rel_tol=1e-5)
        k = int(pred.class_map.values[r, c])
        assert k == -1 or int(np.argmax(values)) == k
    assert PROMPTS[int(np.argmax(values))] in app.inspect.scores_html.value


def test_click_to_label_accuracy(app) -> None:  # type: ignore[no-untyped-def]
    from lslib.mapui.aoi import pixel_to_lonlat

    pred = app.prediction
    pixels = [(10, 10), (50, 120), (150, 60), (200, 200)]
    predicted = [PROMPTS[int(pred.class_map.values[r, c])] for r, c in pixels]
    labels = [predicted[0], predicted[1]] + [next(n for n in PROMPTS if n != p) for p in predicted[2:]]
    for (r, c), name in zip(pixels, labels, strict=True):
        app.inspect.set_mode("label points", name)
        lat, lon = pixel_to_lonlat(pred.class_map, r, c)
        app.map._handle_leaflet_event(None, {"event": "interaction", "type": "click", "coordinates": [lat, lon]}, None)
    acc = app.inspect.last_accuracy
    assert acc["n"] == 4 and acc["oa"] == pytest.approx(0.5)
    assert sum(e["correct"] for e in acc["per_class"].values()) == 2
    # recomputed when the prompts change: renaming a labelled class makes its points stale
    gone = labels[3]
    app.editor.set_name(PROMPTS.index(gone), "orchard")
    acc2 = app.inspect.last_accuracy
    assert acc2["stale"] == labels.count(gone) and acc2["n"] == 4 - labels.count(gone)


def test_areas_table_and_chart(app) -> None:  # type: ignore[no-untyped-def]
    table = app.areas_table()
    assert table["percent"].sum() == pytest.approx(100.0)
    assert (table["pixels"] > 0).all() and set(table["class"]) <= {*PROMPTS, "unknown"}
    assert table["hectares"].to_numpy() == pytest.approx(table["pixels"].to_numpy() * 0.01)  # 10 m pixels
    assert table["pixels"].sum() == 224 * 224
    app.stats.refresh()
    assert type(app.stats.figure).__name__ == "Figure" and "image/png" in app.stats.output.outputs[0]["data"]


def test_export_writes_valid_files(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import geopandas as gpd
    import rasterio

    from lslib.prompt_set import load

    paths = app.export(tmp_path / "out")
    pred = app.prediction
    with rasterio.open(paths["classes"]) as src:
        data, cmap = src.read(1), src.colormap(1)
        assert src.crs == app.image.rio.crs and src.nodata == 255
        assert src.transform == pred.class_map.rio.transform()
    # lslib predict's convention (lslib.inference.codes): class k -> k, 254 unknown, 255 nodata
    np.testing.assert_array_equal(data, np.where(pred.class_map.values >= 0, pred.class_map.values, 254))
    for k, colour in enumerate(pred.prompts.colours):
        assert _hex(np.array(cmap[k])) == colour
    with rasterio.open(paths["confidence"]) as src:
        np.testing.assert_allclose(src.read(1), pred.confidence.values)
    assert load(paths["prompts"]) == pred.prompts
    gdf = gpd.read_file(paths["polygons"])
    assert gdf.crs == app.image.rio.crs and gdf["class"].is_unique
    present = {r["class"] for r in pred.areas() if r["pixels"]}
    assert set(gdf["class"]) == present
    assert gdf["area_ha"].sum() == pytest.approx(224 * 224 * 100 / 1e4)
    assert not list(tmp_path.glob("out/.*part*"))  # no temporary files left


def test_agreement_with_the_terramesh_reference(app, scene) -> None:  # type: ignore[no-untyped-def]
    _, ref = scene
    app.editor.set_prompts(["water", "forest", "ocean"])
    res = app.agreement()
    how = dict(zip(res["mapping"]["prompt"], res["mapping"]["how"], strict=True))
    assert how["water"] == "same name" and how["forest"] == "same name"  # a synonym of 'Trees'
    assert how["ocean"] == "text encoder nearest"
    assert res["pixels"] == int((ref.values != 0).sum())
    assert 0.0 <= res["oa"] <= 1.0 and 0.0 <= res["miou"] <= 1.0
    cm = res["confusion"]
    assert cm.total == res["pixels"] and res["oa"] == pytest.approx(np.trace(cm.matrix) / cm.total)
    app.compare.refresh()
    assert "OA" in app.compare.table.value and "image/png" in app.compare.output.outputs[0]["data"]
    app.compare.split(True)
    assert app.compare.split_active
    assert any(type(c).__name__ == "SplitMapControl" for c in app.map.controls)
    app.compare.split(False)
    assert not app.compare.split_active
    assert app.class_layer in app.map.layers
    assert not any(type(c).__name__ == "SplitMapControl" for c in app.map.controls)


def test_preset_prompts_map_to_reference_codes_through_the_crosswalk() -> None:
    from lslib.mapui.analysis import match_prompts
    from lslib.prompt_set import from_taxonomy
    from lslib.taxonomy import crosswalk

    ps = from_taxonomy("esa_worldcover")
    table = match_prompts(ps, "terramesh_lulc", None)  # every class has a code: no text encoder needed
    cw = crosswalk("esa_worldcover", "terramesh_lulc")
    for p, code in zip(ps, table["code"], strict=True):
        assert code == (cw[p.code][0] if cw[p.code] else -1)
    assert table["how"].str.startswith("crosswalk").all()


def test_confidence_layer_toggle(app) -> None:  # type: ignore[no-untyped-def]
    assert not app.confidence_layer.visible
    app.show_confidence.value = True
    assert app.confidence_layer.visible and app.confidence_layer.url.startswith("data:image/png;base64,")
    rgba = _png(base64.b64decode(app.confidence_layer.url.split(",", 1)[1]))
    assert rgba.shape[:2] == app._index.shape and (rgba[..., 3] > 0).mean() > 0.9
    assert app.confidence_layer.bounds == app.class_layer.bounds


def test_stac_item_loads_like_the_reader(tmp_path: Path, scene) -> None:  # type: ignore[no-untyped-def]
    from lslib.data.local_stac.catalog import build_local_catalog, serve_local
    from lslib.mapui.imagery import stac_image

    image, _ = scene
    with serve_local(build_local_catalog(tmp_path, collections=["terramesh-s2l2a"])) as api:
        da = stac_image(api.url, "terramesh-s2l2a", item_id=f"{SITE}-s2l2a")
    assert da.shape == image.shape and da.rio.crs == image.rio.crs
    np.testing.assert_allclose(da["wavelength"].values, image["wavelength"].values, rtol=1e-4)
    np.testing.assert_allclose(da.values, image.values, rtol=1e-5, atol=1e-6)


def test_preset_dropdown_emits_one_change_with_the_taxonomy_classes() -> None:
    from lslib.mapui import PromptEditor
    from lslib.prompt_set import from_taxonomy, presets

    seen = []
    editor = PromptEditor("water, forest", on_change=seen.append)
    assert set(presets()) <= {v for _, v in editor._preset.options}
    editor._preset.value = "loveda"  # choosing a preset in the dropdown
    ref = from_taxonomy("loveda")
    assert len(seen) == 1 and seen[0] is editor.prompts and editor.rows == len(ref)
    assert [(c.name, c.colour, c.code) for c in editor.prompts] == [(c.name, c.colour, c.code) for c in ref]
    editor.set_name(0, "roofs")  # a renamed preset class is free text: its product code is dropped
    assert len(seen) == 2 and editor.prompts.classes[0].code is None and editor.prompts.classes[1].code is not None


def test_image_from_geotiff_paths(sample, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import rasterio
    from rasterio.transform import from_origin

    from lslib.data.readers import read_sentinel2
    from lslib.mapui.imagery import load_image

    path = sample(f"terramesh-examples-s2-esri-lulc/S2L2A/{SITE}.tif")
    da = load_image(path)  # no wavelength tags: recognised as a Sentinel-2 multi-band GeoTIFF
    np.testing.assert_array_equal(da.values, read_sentinel2(path).values)
    rgb = tmp_path / "rgb.tif"
    profile = {"driver": "GTiff", "width": 8, "height": 6, "count": 3, "dtype": "uint8", "crs": "EPSG:32633",
               "transform": from_origin(500000, 4000000, 1.0, 1.0)}
    with rasterio.open(rgb, "w", **profile) as dst:
        dst.write(np.full((3, 6, 8), 100, dtype=np.uint8))
    with pytest.raises(ValueError, match="bands="):
        load_image(rgb)
    da = load_image(rgb, sensor="naip", bands="red,green,blue")
    assert da.sizes["band"] == 3 and np.isfinite(da["wavelength"].values).all()


def test_agreement_overrides_and_unscored_classes(app, scene) -> None:  # type: ignore[no-untyped-def]
    app.editor.set_prompts(["water", "forest", "snow"])
    res = app.agreement(overrides={"forest": "Rangeland", "snow": None})
    by_prompt = res["mapping"].set_index("prompt")
    assert by_prompt.loc["forest", "reference_class"] == "Rangeland" and by_prompt.loc["forest", "how"] == "given"
    assert by_prompt.loc["snow", "code"] == -1
    scored = set(res["per_class"]["name"])
    assert "Trees" not in scored and "Trees" in set(res["not_prompted"]["name"])  # reported, not IoU 0
    assert "snow" in set(res["not_in_reference"]["prompt"])
    assert res["miou"] == pytest.approx(res["per_class"]["iou"].mean())
    with pytest.raises(KeyError, match="not in the set"):
        app.agreement(overrides={"ocean": "Water"})
