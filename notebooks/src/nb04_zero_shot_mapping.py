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
        4. Edit: split *vegetation* into *forest* and *grassland* (exercise 1)
        5. Compare: split view, agreement table, confusion matrix
        6. Inspect: the scores behind one pixel, and the model's confidence
        7. Wording matters: separate built-up land from bare ground (exercise 2)
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
        from lslib.viz import plot_label, rgb_composite
        """),
    md("""
        ## Parameters

        The exercises below are meant to be done by hand in the map's prompt editor. `SCRIPTED` applies the
        same edits from code (`app.editor.*` takes exactly the path of typing + Enter); it is on in small mode
        (`LSLIB_SMALL=1`, set by CI), where nobody types.
        """),
    code("""
        SMALL = os.environ.get("LSLIB_SMALL", "0") == "1"  # small run for CI
        SCRIPTED = SMALL  # set True to run the exercises' solutions from code
        SITE = "433D_629L_3_1"  # TerraMesh site: Araucanía, Chile
        TERRAMESH = "terramesh-examples-s2-esri-lulc"
        PROMPTS = ["water", "vegetation", "crops", "built area", "bare ground"]
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
        ## 4. Edit the prompts

        **Exercise 1.** *Vegetation* lumps together the forest (dark green, top left of the image) and the
        bright green pastures. In the editor, rename *vegetation* to *forest*, press Enter, then type *grassland* in the
        *new class name* box and press Enter. Watch the overlay after each step: the image is not encoded
        again, only the new class name (`predictor.stats` below counts it).

        The scripted solution:
        """),
    code("""
        before = app.areas_table().set_index("class")["percent"]
        if SCRIPTED:
            app.editor.set_name(app.editor.prompts.names.index("vegetation"), "forest")
            app.editor.add_class("grassland")
        after = app.areas_table().set_index("class")["percent"]
        display(pd.concat({"before (%)": before, "after (%)": after}, axis=1).round(1))
        print(app.editor.prompts.names, "| renders:", app.renders, "|", predictor.stats)
        trees_ref = label.values == esri.by_name("Trees").code
        names = app.editor.prompts.names
        if "forest" in names:
            called = 100 * float((app.prediction.class_map.values[trees_ref] == names.index("forest")).mean())
            print(f"reference 'Trees' pixels the map calls forest: {called:.0f} %")
        """),
    md("""
        Check the last line against the label above. With the default checkpoint, the wooded hills of this
        chip mostly come out as *crops*: a small model trained for minutes confuses dark vegetation classes,
        and no wording fixes a feature the image encoder does not separate (*trees*, the label's own word,
        does no better: try it). That is the case for a bigger model or a light fine-tune on a few labelled
        chips (chapter 05), not for more prompt engineering.
        """),
    md("""
        ## 5. Compare with the reference

        In the *compare* tab, tick *split view* (or call `app.compare.split(True)`, as below) to slide between
        the map (left) and the Esri label (right), and press *compute agreement*. Agreement needs each prompt matched to a reference class: preset classes
        go through the crosswalk between products, a prompt that *is* a reference class name matches it, and
        free text goes to the nearest reference class in the text encoder's space (the table shows how each
        was matched).
        """),
    code("""
        app.tabs.selected_index = 2  # the compare tab: it refreshes after every edit while open
        app.compare.split(True)      # the split view: drag the slider on the map
        res = app.agreement()
        print(f"OA {res['oa']:.3f} · mIoU {res['miou']:.3f} over {res['pixels']:,} pixels ({res['taxonomy']})")
        res["mapping"]
        """),
    code("""
        res["per_class"].round(3)
        """),
    code("""
        display(res["confusion"].plot(names=res["names"], normalize="true"))
        """),
    md("""
        How to read these numbers honestly:

        - This site is one of the TerraMesh chips in LAS-mini, the default model's training set: the agreement
          is measured on a training area and is optimistic. Chapter 05 measures held-out chips.
        - The reference is a weak label. Where the model and Esri disagree (field edges, the built-up rows
          above), either may be wrong; look at the imagery before blaming the model.
        - `tiny` is small and briefly trained: water, the crop fields and the town come out recognisably,
          forest and rangeland poorly, and the overall agreement stays far below the 65-75 % that the label's
          own accuracy allows. The `paper` variant (SAM2.1 Hiera-B+) trained on a full LAS build is the real
          thing; this notebook shows the workflow, not the paper's accuracy.
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
        fig.colorbar(im, ax=axes[1], shrink=0.8)
        plt.show()
        """),
    md("""
        ## 7. Wording matters

        **Exercise 2.** The Esri label calls about a quarter of this chip *Built area* (the town along the
        road). Find a wording for the *built area* class that the model separates from *bare ground*: try
        *buildings and roads*, *town*, *houses, streets and paved surfaces*; a synonym (second box) or a
        description (third box) also enters the prompt. Keep an eye on how many of the reference's built-up
        pixels the map calls built and how many it calls bare ground.

        The scripted solution tries a few wordings and measures exactly that (the reference is on the map's
        grid, so this is a pixel count):
        """),
    code("""
        WORDINGS = ["built area", "buildings and roads", "town", "houses, streets and paved surfaces"]
        built_ref = label.values == esri.by_name("Built area").code

        def built_vs_bare(prediction, built_name):
            # where the reference's built-up pixels went, and how much of the map is bare ground (%)
            names, cm = prediction.prompts.names, prediction.class_map.values
            bare = names.index("bare ground")
            return {
                "reference built → built (%)": 100 * float((cm[built_ref] == names.index(built_name)).mean()),
                "reference built → bare ground (%)": 100 * float((cm[built_ref] == bare).mean()),
                "map called bare ground (%)": 100 * float((cm == bare).mean()),
            }

        rows = []
        if SCRIPTED:
            row = app.editor.prompts.names.index("built area")
            for wording in WORDINGS:
                app.editor.set_name(row, wording)
                iou = app.agreement()["per_class"].set_index("name")["iou"].get("Built area", np.nan)
                rows.append({"wording": wording, **built_vs_bare(app.prediction, wording), "IoU with Built area": iou})
            best = max(rows, key=lambda r: r["IoU with Built area"])
            app.editor.set_name(row, best["wording"])
            print("kept:", best["wording"])
        pd.DataFrame(rows).round(2)
        """),
    md("""
        ## 8. Export

        `app.export(folder)` (or *export* in the *stats & export* tab) writes the current map:
        `classes.tif` (uint8 Cloud-Optimised GeoTIFF with a colour table, coded as `lslib predict`'s
        `class_map.tif`: class *k* is *k*, 254 unknown, 255 nodata; the names are in the `LSLIB_CLASSES`
        tag), `confidence.tif`, `prompts.yaml` (load it
        back with `lslib.prompt_set.load`, in the editor, or in `lslib predict` for large areas) and
        `polygons.gpkg` (one polygon per class with its area).
        """),
    code("""
        paths = app.export(OUT)
        for kind, path in paths.items():
            print(f"{kind:10s} {path}  ({path.stat().st_size / 1024:.0f} KiB)")
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
        result = map_large_area(scene, SCENE_PROMPTS, OUT / "scene", predictor=predictor, overwrite=True,
                                progress=False)  # progress=True: a progress bar and the plan on stderr
        print(result.plan)
        print(f"{result.pixels_mapped:,} pixels in {result.seconds:.1f} s")
        print(result.table())
        """),
    md("""
        `view(folder)` (`lslib.mapui.view`) opens the finished folder on a [leafmap](https://leafmap.org/) map:
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
        - Splitting or rewording a class changes the map at once; preset classes, exact reference names and
          free text are all matched to a reference for agreement tables and confusion matrices.
        - The default `tiny` model is a teaching model: it separates broad classes and struggles between
          similar ones; agreement with a weak label is capped by the label's own errors.
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
