"""Generate ``notebooks/04_zero_shot_mapping.ipynb`` (outputs stripped).

python notebooks/src/nb04_zero_shot_mapping.py
"""

from __future__ import annotations

from _nb import code, md, write

CELLS = [
    md("""
        # Zero-shot mapping: prompts, map, edit, compare, export

        A land-cover map of a real Sentinel-2 scene from class names you choose, compared with an existing
        land-cover product, inspected pixel by pixel and exported as GeoTIFFs and polygons.
        """),
    md("""
        ## Overview

        1. The scene: a TerraMesh site in Araucanía, Chile (Sentinel-2 L2A) and its Esri/IO LULC weak label
        2. Prompts: a product's class list or your own words
        3. The map: `MapApp` with the default model
        4. Edit: replace a vague word by the label's own (exercise 1)
        5. Compare: which prompt is scored against which reference class, agreement, confusion matrix
        6. Inspect: the scores behind one pixel, and the model's confidence
        7. Teach the map where no wording helps: the town (exercise 2)
        8. Export: classes and confidence as Cloud-Optimised GeoTIFFs, the prompts, polygons
        9. A whole scene: `lslib predict` (`map_large_area`) on a tiled map
        """),
    md("""
        ## Prerequisites

        | Concepts | Importance | Notes |
        | --- | --- | --- |
        | [00 Quick start](00_quickstart.ipynb) | Necessary | the map and the prompt editor |
        | [01 Getting started](01_getting_started.ipynb) | Helpful | TerraMesh sites, taxonomies, crosswalks |
        | [05 Evaluation](05_transfer_and_evaluation.ipynb) | Helpful | IoU, confusion matrices, weak labels |

        - **Time to learn**: 30 minutes
        - **System requirements**: CPU only, < 2 GB RAM (fits on Binder); no internet
        """),
    md("""
        ## Imports
        """),
    code("""
        %matplotlib inline
        import os
        from pathlib import Path

        import geopandas as gpd
        import matplotlib.pyplot as plt
        import numpy as np
        import pandas as pd
        from IPython.display import display
        from pyproj import Transformer

        from lslib import MapApp, Predictor, default_model, from_taxonomy, map_large_area, open_image, view
        from lslib.data.fetch import fetch, fetch_dir
        from lslib.data.readers import read_geotiff, read_label, read_sentinel2
        from lslib.taxonomy import class_histogram, get_taxonomy
        from lslib.inference.colours import with_suggested_colours
        from lslib.prompt_set import resolve
        from lslib.viz import map_figure, plot_classes, plot_label, rgb_composite
        """),
    md("""
        ## Parameters

        The exercises are meant to be done by hand in the map's panels; each one's solution also runs from
        code (`app.editor.*` takes exactly the path of typing + Enter), in every mode, so that its check
        prints what the edit does. `LSLIB_SMALL=1` (set by CI) only shrinks section 9.
        """),
    code("""
        SMALL = os.environ.get("LSLIB_SMALL", "0") == "1"  # small run for CI
        SITE = "433D_629L_3_1"  # TerraMesh site: Araucanía, Chile
        TERRAMESH = "terramesh-examples-s2-esri-lulc"
        PROMPTS = ["water", "vegetation", "crops", "built area", "bare ground"]  # "vegetation": deliberately vague
        OUT = Path("outputs/zero-shot-map")
        SCENE = "s2-l2a-scl-T29UNU-ireland"  # section 9: a whole Sentinel-2 L2A tile (1830 x 1830 px at 60 m)
        SCENE_PROMPTS = ["water", "forest", "grassland", "cropland", "built-up area", "bare ground", "cloud"]
        SCENE_CROP = 512 if SMALL else None  # small run: map a 512 x 512 px crop (30 km) instead of the tile
        """),
    md("""
        ## 1. The scene and its weak label

        A 2.24 km × 2.24 km Sentinel-2 L2A chip at 10 m (12 bands, UTM 18S) and the Esri/IO 10 m Land
        Use/Land Cover map on the same grid. The label is a product, not ground truth: it is itself a model's
        output, 65-75 % accurate by independent assessments, and it is what the default model was trained to
        agree with.
        """),
    code("""
        image = read_sentinel2(fetch(f"{TERRAMESH}/S2L2A/{SITE}.tif"))
        label = read_label(fetch(f"{TERRAMESH}/LULC/{SITE}.tif"), taxonomy="terramesh_lulc")
        esri = get_taxonomy("terramesh_lulc")
        print(image.rio.crs, image.rio.resolution(), dict(image.sizes))
        hist = class_histogram(label.values, esri)
        {name: f"{100 * n / sum(hist.values()):.1f} %" for name, n in hist.items() if n}
        """),
    code("""
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
        axes[0].imshow(rgb_composite(image))
        axes[0].set_title("Sentinel-2 L2A (B04, B03, B02)")
        axes[0].set_axis_off()
        plot_label(axes[1], label, esri, title="Esri/IO LULC (weak label)")
        plt.show()
        """),
    md("""
        ## 2. Prompts: a product's classes or your own words

        A prompt set is a list of classes, each a name (plus optional synonyms, a description, a colour and a
        confidence threshold). Presets give every product's class list with its descriptions; any list of
        names works too. Here we start from five plain words, one of them deliberately broad.
        """),
    code("""
        wc = from_taxonomy("esa_worldcover")
        pd.DataFrame([{"name": c.name, "description": c.description, "colour": c.colour} for c in wc])
        """),
    md("""
        ## 3. The map

        `MapApp` clips the area of interest (AOI), encodes it once with the default model and maps it with the
        prompts. The AOI is given here as bounds in the image's CRS (the whole chip), which is also how it works
        headless; on the map you can draw another one in the *area & imagery* tab. The Esri label comes along
        as the `reference` for section 5.

        The default model is `tiny` (a small Hiera image encoder) trained on LAS-mini (about 120 weakly
        labelled chips) with augmentations that vary scale, bands and radiometry: the checkpoint released
        inside the package (`lslib/resources/models/tiny-lasmini-v2`, see its `MODEL_CARD.md`). It loads at once.
        """),
    code("""
        predictor = Predictor(default_model())
        AOI = image.rio.bounds()  # (minx, miny, maxx, maxy) in the image CRS
        app = MapApp(image=image, predictor=predictor, prompts=PROMPTS, reference=label, aoi=AOI)
        app.run()
        print("device:", predictor.device, "| timings (s):", {k: round(v, 2) for k, v in app.timings.items()})
        app
        """),
    code("""
        app.areas_table().round(1)
        """),
    md("""
        The static figure of the map, beside the image and the label (same colours as the interactive map):
        """),
    code("""
        DESCRIPTION = ("Araucanía, Chile: a river winding through small fields (Esri 42 % crops), houses scattered "
                       "along the roads (23 % built area), wooded patches (21 % trees) and green pasture")
        map_figure(image, app.prediction, label, description=DESCRIPTION)
        """),
    md("""
        The map does **not** look like the scene yet: *crops* spreads over most of it, including most of the
        built-up strip along the river, the wooded patches are split between *vegetation* and *crops*, and the
        river is *water* only where its bed is wide (in the middle), while dark patches elsewhere are called
        water too. The next sections measure
        this and fix what can be fixed.
        """),
    md("""
        ## 4. Edit the prompts

        **Exercise 1.** *Vegetation* is a vague word, and the model was trained on the Esri classes: its word
        for wooded land is *trees*. In the editor, rename *vegetation* to *trees* and press Enter (the image is
        not encoded again, only the new name: `predictor.stats` counts it). The row's colour follows the new
        name: *trees* takes the label's *Trees* green, as the reference shows it (a colour you pick yourself
        stays). Then check: the cell below captured the map **before** the edit and prints where the Esri
        *Trees* pixels went, before and after.

        The solution (run from code here, in every mode, exactly as typing it):
        """),
    code("""
        trees_ref = label.values == esri.by_name("Trees").code

        def where(prediction, ref_mask):
            # share (%) of the reference pixels in ref_mask given to each map class
            names, cm = prediction.prompts.names, prediction.class_map.values[ref_mask]
            return pd.Series({n: 100 * float((cm == i).mean()) for i, n in enumerate(names)})

        before = where(app.prediction, trees_ref)                    # captured BEFORE the edit
        row = app.editor.prompts.names.index("vegetation")
        app.editor.set_name(row, "trees")                         # the edit (one text encode, one render)
        print("colour of 'trees':", app.editor.prompts.colours[row], "| the label's Trees:", esri.by_name("Trees").color)
        after = where(app.prediction, trees_ref)
        display(pd.DataFrame({"with 'vegetation' (%)": before.to_numpy(), "with 'trees' (%)": after.to_numpy()},
                             index=[n if n != "trees" else "vegetation / trees" for n in after.index]).round(1))
        print(app.editor.prompts.names, "| renders:", app.renders, "|", predictor.stats)
        """),
    md("""
        With the released model about half of the wooded land was *vegetation* and more than a third *crops*;
        with *trees* about three quarters is *trees*. A vague word spreads its pixels; the word of the
        training labels (or a close synonym: *forest*) is understood best.
        """),
    md("""
        ## 5. Compare with the reference

        In the *compare* tab, tick *split view* (or call `app.compare.split(True)`, as below) to slide between
        the map (left) and the Esri label (right), in the same colours, and press *compute agreement*.

        Agreement needs each prompt matched to a reference class, and the table says how: *crosswalk* (a
        product's preset class, through the crosswalk between products), *same name* (the prompt or a synonym
        is a reference class name or synonym: *forest* is a synonym of *Trees*), *text encoder nearest*
        (free text: the most similar reference class, with the similarity) or *given* (your override). Only
        reference classes that are present **and** matched by a prompt are scored; the others are listed,
        not scored as IoU 0.
        """),
    code("""
        app.tabs.selected_index = 2  # the compare tab: it refreshes after every edit while open
        app.compare.split(True)      # the split view: drag the slider on the map
        res = app.agreement()
        print(f"OA {100 * res['oa']:.0f} % of {res['pixels']:,} labelled pixels; "
              f"{100 * res['oa_scored']:.0f} % on the classes scored; mIoU {res['miou']:.2f} ({res['taxonomy']})")
        display(res["mapping"].round(2))
        print("reference classes no prompt matches (not scored):")
        display(res["not_prompted"].round(1))
        print("prompts without reference pixels (not scored):")
        display(res["not_in_reference"].round(1))
        """),
    code("""
        res["per_class"].round(2)
        """),
    md("""
        *Rangeland* (pasture) has no prompt: its pixels count as misses in OA but get no IoU. Prompts can be
        matched by hand: `app.agreement(overrides={"prompt": "Reference class"})` (or `None` to leave a prompt
        unscored). For example, had we kept *vegetation*, text similarity would have matched it to *Flooded
        vegetation*; the override scores it against *Trees* instead. Here: score *bare ground* (which the
        label does not have) against *Built area*, as if the two were one class.
        """),
    code("""
        res_override = app.agreement(overrides={"bare ground": "Built area"})
        print(f"mIoU {res['miou']:.2f} -> {res_override['miou']:.2f} with bare ground counted as built area")
        res_override["per_class"].round(2)
        """),
    code("""
        names = {c: f"{n} ← " + (", ".join(res["mapping"].loc[res["mapping"]["code"] == c, "prompt"]) or "no prompt")
                 for c, n in res["names"].items()}
        fig, ax = plt.subplots(figsize=(7.5, 6.5), layout="constrained")
        res["confusion"].plot(ax=ax, names=names, normalize="true")
        ax.set_title("confusion matrix (each row sums to 1)")
        fig.axes[-1].set_ylabel("share of the reference class's pixels")  # the colour bar
        plt.show()
        """),
    md("""
        The confusion matrix's labels say *reference class ← prompt(s)*; rows are the reference, columns the
        map, each row sums to 1. How to read these numbers honestly:

        - This site is one of the TerraMesh chips in LAS-mini, the default model's training set: the agreement
          is measured on a training area and is optimistic. Chapter 05 measures held-out chips.
        - The reference is a weak label. Where the model and Esri disagree (field edges, the town's gardens),
          either may be wrong; look at the imagery before blaming the model.
        - `tiny` is small and briefly trained: water and the fields come out, the wooded patches partly, and
          the town mostly not (most of its pixels are called *crops*); no wording fixes this (try *town*,
          *buildings and roads*). That is what section 7's teaching is for.
        """),
    md("""
        ## 6. Inspect

        In the *inspect* tab, click a pixel to see every class's fused score there. The same from code, at the
        centre of the chip. Then the two confidences of the fusion (`docs/fusion.md`): per class,
        *c<sub>k</sub>* = presence score × peak mask score, which decides how much the decoder's mask is trusted
        against the dense image-text similarity (a class with *c<sub>k</sub>* near 0 is mapped by the similarity
        alone); per pixel, the winning class's fused score (low where classes compete; the *confidence layer*
        checkbox shows it on the map).
        """),
    code("""
        x, y = (AOI[0] + AOI[2]) / 2, (AOI[1] + AOI[3]) / 2
        lon, lat = Transformer.from_crs(image.rio.crs, "EPSG:4326", always_xy=True).transform(x, y)
        pd.Series(app.inspect.scores_at(lat, lon), name=f"scores at {lat:.4f}, {lon:.4f}").sort_values(ascending=False)
        """),
    code("""
        pred = app.prediction
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        pd.Series(pred.class_confidence).sort_values().plot.barh(ax=axes[0], title="class-wise confidence $c_k$")
        im = axes[1].imshow(pred.confidence.values, cmap="magma", vmin=0, vmax=1)
        axes[1].set_title("confidence of the winning class")
        axes[1].set_axis_off()
        axes[0].set_xlabel("$c_k$ (presence × peak mask score)")
        fig.colorbar(im, ax=axes[1], shrink=0.8, label="fused score of the winning class")
        plt.show()
        """),
    md("""
        ## 7. Teach the map where no wording helps

        **Exercise 2.** The Esri label calls about a quarter of this chip *Built area* (the town along the
        road); the map calls most of it *crops*. Rewording does not fix it; teaching does: in the *inspect &
        teach* tab choose mode *teach*, a class, and click a few pixels where the map is wrong (docs/teach.md).
        Click about five pixels of the town that the map calls crops (class *built area*) and five of each
        other class where the map is right. The map is corrected from the cached embedding in a fraction of a
        second; nothing is retrained.

        The check captures the zero-shot map's agreement **before** teaching and prints both. The solution
        picks the clicks from the reference (5 per class, a fixed seed: a student would click them) and gives
        them to the teach tab as clicks, `app.teach.teach_at(lat, lon, class)`: each refits the correction
        (`predictor.adapt`) and re-renders the app's overlay, so the map above now shows the taught map, with
        the clicks as markers (tick *split view* in the teach panel to compare it with the zero-shot map).
        """),
    code("""
        zero_shot = app.prediction
        res_before = app.agreement()  # captured BEFORE teaching
        built_ref = label.values == esri.by_name("Built area").code
        names = zero_shot.prompts.names
        cm = zero_shot.class_map.values
        rng = np.random.default_rng(0)
        transform = zero_shot.class_map.rio.transform()
        points = []
        for ref_name, name in [("Built area", "built area"), ("Crops", "crops"), ("Trees", "trees"), ("Water", "water")]:
            ref_mask = label.values == esri.by_name(ref_name).code
            # the town where the map is wrong; the other classes where it is right
            pick = ref_mask & ((cm != names.index(name)) if name == "built area" else (cm == names.index(name)))
            for row, col in np.argwhere(pick)[rng.choice(int(pick.sum()), 5, replace=False)]:
                points.append((*(transform * (col + 0.5, row + 0.5)), name))
        to_lonlat = Transformer.from_crs(image.rio.crs, "EPSG:4326", always_xy=True)
        for px, py, name in points:  # what a click in teach mode does: refit, re-render the overlay
            lon, lat = to_lonlat.transform(px, py)
            app.teach.teach_at(lat, lon, name)
        taught, taught_map = app.teach.taught, app.prediction  # the taught map, as the app shows it
        res_after = app.agreement()
        print(f"{len(points)} clicks")
        display(pd.DataFrame({
            "zero-shot": [res_before["oa"], res_before["miou"], *res_before["per_class"].set_index("name")["iou"]],
            "taught": [res_after["oa"], res_after["miou"], *res_after["per_class"].set_index("name")["iou"]],
        }, index=["OA", "mIoU", *[f"IoU {n}" for n in res_before["per_class"]["name"]]]).round(2))
        print(f"reference built area the map calls built area: {100 * (cm[built_ref] == names.index('built area')).mean():.0f} %"
              f" -> {100 * (taught_map.class_map.values[built_ref] == names.index('built area')).mean():.0f} %")
        print("held-out accuracy at the clicks (leave-one-out):", predictor.held_out_accuracy(taught)["oa"])
        """),
    code("""
        fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), layout="constrained")
        plot_label(axes[0], label, esri, title="Esri/IO LULC (weak label)")
        plot_classes(axes[1], zero_shot.class_map, zero_shot.prompts, title="zero-shot")
        plot_classes(axes[2], taught_map.class_map, taught_map.prompts, title=f"taught from {len(points)} clicks")
        xs, ys = np.array([p[0] for p in points]), np.array([p[1] for p in points])
        cols, rows = ~transform * (xs, ys)
        axes[2].scatter(cols, rows, s=18, c="white", edgecolors="black", linewidths=0.8)
        fig.suptitle("teaching the town: the clicks are the white dots", fontsize="medium")
        plt.show()
        """),
    md("""
        With the released model, five clicks of town and fifteen of the other classes roughly double the IoU of
        *Built area* and raise the overall agreement. The held-out accuracy at the clicks stays modest: the
        town is a mix of roofs, gardens and roads at 10 m, and a click on a garden teaches "built area looks
        like grass". `BENCHMARKS.md` (*fewshot*) measures the same on held-out chips: 10 clicks per class
        take TerraMesh mIoU from 0.28 (zero-shot) to 0.47, above a random forest on the same points (0.36).
        To keep the taught prompt set, `app.teach.save("taught.yaml")` (or `save_taught`, chapter 06); the
        export below writes the map the app shows: the taught one (`app.teach.clear()` goes back to zero-shot).
        """),
    md("""
        ## 8. Export

        `app.export(folder)` (or *export* in the *stats & export* tab) writes the current map:
        `classes.tif` (uint8 Cloud-Optimised GeoTIFF with a colour table, coded as `lslib predict`'s
        `class_map.tif`: class *k* is *k*, 254 unknown, 255 nodata; the names are in the `LSLIB_CLASSES`
        tag), `confidence.tif`, `prompts.yaml` (a taught set keeps its teaching in a `.safetensors` sidecar; load it
        back with `lslib.prompt_set.load`, in the editor, or in `lslib predict` for large areas) and
        `polygons.gpkg` (one polygon per class with its area).
        """),
    code("""
        paths = app.export(OUT)
        for kind, path in paths.items():
            print(f"{kind:10s} {path}  ({path.stat().st_size:,} bytes)")
        classes = read_geotiff(paths["classes"])
        print(classes.rio.crs, dict(classes.sizes), "classes:", classes.attrs.get("LSLIB_CLASSES"))
        """),
    code("""
        gpd.read_file(paths["polygons"])[["class", "area_ha"]].round(1)
        """),
    md("""
        ## 9. A whole scene: `lslib predict` on a tiled map

        `MapApp` keeps its area of interest in memory and re-renders it after every edit: fine for a chip, not
        for a scene. A scene of any size goes through `map_large_area` (the function behind
        `lslib predict --image <folder> --prompts "..." --out <folder>`): it maps the image block by block
        with overlapping windows, skips blocks without data, resumes an interrupted run and writes
        `class_map.tif` and `confidence.tif` (Cloud-Optimised GeoTIFFs, coded as the export above),
        `map.json` (input, prompts, model, areas) and `prompts.yaml` into its output folder.

        The scene: the Sentinel-2 L2A tile T29UNU (western Ireland, 5 October 2022), its 11 bands at 60 m, a
        110 km square of which the satellite's swath covers about 60 %, under a good deal of cloud (hence the
        *cloud* prompt). In small mode (`SCENE_CROP`) a 512 × 512 px crop inside the swath is mapped instead.
        """),
    code("""
        scene = open_image(fetch_dir(SCENE))  # the band folder: (band, y, x) reflectance, wavelengths attached
        if SCENE_CROP:
            scene = scene.isel(y=slice(256, 256 + SCENE_CROP), x=slice(256, 256 + SCENE_CROP))
        print(scene.rio.crs, scene.rio.resolution(), dict(scene.sizes))
        # the chapter's colour language: each prompt in the colour of its nearest Esri class (forest = Trees)
        scene_prompts = with_suggested_colours(resolve(SCENE_PROMPTS), predictor.model, prefer="terramesh_lulc")
        result = map_large_area(scene, scene_prompts, OUT / "scene", predictor=predictor, overwrite=True,
                                progress=False)  # progress=True: a progress bar and the plan on stderr
        print(result.plan)
        print(f"{result.pixels_mapped:,} pixels in {result.seconds:.1f} s")
        print(result.table())
        """),
    md("""
        `view(folder)` (`lslib.mapui.result_view`) opens the finished folder on a [leafmap](https://leafmap.org/) map:
        classes and confidence are served as tiles by localtileserver (read from the COGs at each zoom's
        resolution, so a 10 m tile of 10 980² px opens as fast as this one), the imagery underneath, a legend of
        the classes present with their share, and a *confidence* layer (hidden: tick it in the layer control).
        The input here is an in-memory DataArray, so the imagery is passed along; for a file `map.json` names
        it and `view` finds it itself.
        """),
    code("""
        scene_view = view(OUT / "scene", imagery=scene)
        print(scene_view.legend_rows)
        scene_view
        """),
    md("""
        ## Summary

        - `MapApp` maps an AOI from class names with the encoded image cached: every edit re-encodes one
          prompt and re-renders.
        - Rewording a class changes the map at once; the words of the training labels work best. Preset
          classes, reference names and free text are matched to the reference (shown, and overridable); classes
          on one side only are reported, not scored.
        - The default `tiny` model is a teaching model: on this chip it maps the fields and the wooded patches
          and misses the town; a few clicks of teaching (`predictor.adapt`) correct what no wording can.
        - `app.export` writes COGs with a colour table, the prompt set and polygons.
        - A whole scene goes through `map_large_area` (`lslib predict`) into a folder, and `view(folder)` shows
          it as map tiles with a legend and a confidence layer.

        ### What's next

        [05 Transfer and evaluation](05_transfer_and_evaluation.ipynb) measures zero-shot mapping on held-out
        chips and against closed-set baselines, and adapts the model to a new product with a light fine-tune.
        """),
    md("""
        ## Resources and references

        - LandSegmenter: Liu, Huang, Zhu, arXiv:2511.08156.
        - Scene: TerraMesh examples (IBM/ESA), CC BY-SA 4.0; Esri / Impact Observatory 10 m Land Use/Land Cover,
          CC BY 4.0; contains modified Copernicus Sentinel data.
        - Venter et al. 2022, *Global 10 m Land Use Land Cover Datasets: A Comparison of Dynamic World, World
          Cover and Esri Land Cover*, Remote Sensing 14(16): how far the products agree with each other.
        - Scene of section 9: Sentinel-2 L2A tile T29UNU, 2022-10-05 (60 m bands, from the stactools-packages
          `sentinel2` test data); contains modified Copernicus Sentinel data 2022.
        - [ipyleaflet](https://ipyleaflet.readthedocs.io/) (the map, its `SplitMapControl`);
          [leafmap](https://leafmap.org/) and [localtileserver](https://github.com/banesullivan/localtileserver)
          (the tiled map of section 9); [Cloud-Optimised GeoTIFF](https://cogeo.org/).
        """),
]

if __name__ == "__main__":
    write("04_zero_shot_mapping", CELLS)
