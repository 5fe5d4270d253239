"""Generate ``notebooks/06_teach_the_map.ipynb`` (outputs stripped).

PYTHONPATH=notebooks/src python notebooks/src/nb06_teach_the_map.py
"""

from __future__ import annotations

from _nb import code, md, write

CELLS = [
    md("""
        # Teach the map: correct a zero-shot map with a few clicks

        When a zero-shot map is wrong and no wording fixes it, label a few pixels of each class and let the map
        learn from them: a small correction fitted in a second on the image's cached embedding, with the
        zero-shot map as its starting point. Then measure it honestly and reproduce it on a whole scene.
        """),
    md("""
        ## Overview

        1. The zero-shot map of a real Sentinel-2 scene beside its Esri/IO LULC weak label
        2. A handful of clicks: `predictor.adapt(prompts, points)` and the taught map
        3. Honest accuracy: held out at the clicks, and on every reference pixel not clicked
        4. How many clicks? The same measure over several draws (full run only)
        5. Teach mode in the map app: choose a class, click, undo, split view
        6. Reproducible at scale: the taught prompt set as YAML + safetensors, and `lslib predict` with it
        """),
    md("""
        ## Prerequisites

        | Concepts | Importance | Notes |
        | --- | --- | --- |
        | [04 Zero-shot mapping](04_zero_shot_mapping.ipynb) | Necessary | prompts, the map app, agreement |
        | [05 Evaluation](05_transfer_and_evaluation.ipynb) | Helpful | IoU, confusion matrices, weak labels |
        | Logistic regression, kernels | Helpful | the equations are in `docs/teach.md` |

        - **Time to learn**: 20 minutes
        - **System requirements**: CPU only, < 2 GB RAM (fits on Binder); no internet
        """),
    md("""
        ## Imports
        """),
    code("""
        import json
        import os
        import subprocess
        import sys
        from pathlib import Path

        import matplotlib.pyplot as plt
        import numpy as np
        import pandas as pd
        import yaml
        from IPython.display import display
        from matplotlib.colors import ListedColormap
        from matplotlib.patches import Patch
        from pyproj import Transformer

        from lslib import MapApp, Predictor, load_released, open_image, resolve, save_taught, with_scene_stretch
        from lslib.data.fetch import fetch
        from lslib.data.readers import read_geotiff
        from lslib.inference.colours import with_suggested_colours
        from lslib.inference.teach import TeachError
        from lslib.mapui.analysis import agreement
        from lslib.mapui.imagery import load_reference
        from lslib.taxonomy import get_taxonomy
        from lslib.viz import plot_label, rgb_composite
        """),
    md("""
        ## Parameters

        `LSLIB_SMALL=1` (set by CI) skips section 4, which teaches the map 12 more times to show how the result
        varies with the number and the choice of clicks; everything else runs the same in both modes.
        """),
    code("""
        SMALL = os.environ.get("LSLIB_SMALL", "0") == "1"  # small run for CI
        SITE = "433D_629L_3_1"  # TerraMesh site: Araucanía, Chile
        TERRAMESH = "terramesh-examples-s2-esri-lulc"
        PROMPTS = "water, trees, crops, built area, rangeland"  # Esri/IO LULC class names
        CLICKS_PER_CLASS = 3  # the "handful" of section 2
        SEED = 0  # which reference pixels stand in for the clicks
        CLICKS_SWEEP = [] if SMALL else [1, 3, 5, 10]  # section 4: clicks per class ...
        DRAWS = 3  # ... times this many draws
        OUT = Path("outputs/teach-the-map")
        """),
    md("""
        ## 1. The zero-shot map

        A 2.24 km × 2.24 km Sentinel-2 L2A chip (12 bands at 10 m, UTM 18S) and the Esri/IO 10 m Land
        Use/Land Cover map on the same grid. The image goes through the one input contract of `lslib`
        (`open_image`: band names and wavelengths from the sensor preset, reflectance checked for plausibility)
        and gets one robust band stretch for the whole scene (`with_scene_stretch`), as `lslib predict` and the
        map app do. The reference is a weak label: another model's output, 65-75 % accurate by independent
        assessments, not ground truth.
        """),
    code("""
        image = with_scene_stretch(open_image(fetch(f"{TERRAMESH}/S2L2A/{SITE}.tif"), sensor="s2-l2a"))
        reference = load_reference(fetch(f"{TERRAMESH}/LULC/{SITE}.tif"), "terramesh_lulc")
        esri = get_taxonomy("terramesh_lulc")
        print(image.rio.crs, image.rio.resolution(), dict(image.sizes))
        ref = np.asarray(reference.values)
        codes, counts = np.unique(ref, return_counts=True)
        pd.DataFrame({"reference class": [esri.by_code(int(c)).name for c in codes],
                      "share (%)": 100 * counts / counts.sum()}, index=codes).round(1)
        """),
    md("""
        The released default model (`tiny`, trained on LAS-mini; `load_released()` loads it from inside the
        package) encodes the image once; the five prompts are the Esri product's own class names for what is in
        this chip. Classes without a colour get the colour of the nearest product class, as in the map app.
        """),
    code("""
        predictor = Predictor(load_released())
        prompts = with_suggested_colours(resolve(PROMPTS), predictor.model)
        predictor.set_image(image)
        zero_shot = predictor.predict(prompts)
        print("device:", predictor.device, "|", predictor.stats)
        """),
    md("""
        A small helper draws a class map with the prompts' colours and a legend of the classes present
        (`lslib.viz.plot_label` does the same for a product's codes).
        """),
    code("""
        def plot_classes(ax, class_map, prompts, title):
            # (y, x) index into prompts (-1 unknown) with the prompts' colours and a legend of the classes present
            values = np.asarray(class_map.values)
            colours = [*prompts.colours, "#808080"]
            ax.imshow(np.where(values < 0, len(prompts), values), cmap=ListedColormap(colours),
                      vmin=-0.5, vmax=len(colours) - 0.5, interpolation="nearest")
            names = [*prompts.names, "unknown"]
            present = sorted({len(prompts) if v < 0 else int(v) for v in np.unique(values)})
            ax.legend(handles=[Patch(color=colours[i], label=names[i]) for i in present],
                      loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
            ax.set_title(title)
            ax.set_axis_off()


        rgb = rgb_composite(image)
        fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), layout="constrained")
        axes[0].imshow(rgb)
        axes[0].set_title("Sentinel-2 L2A (B04, B03, B02)")
        axes[0].set_axis_off()
        plot_label(axes[1], reference, esri, title="Esri/IO LULC (weak label)")
        plot_classes(axes[2], zero_shot.class_map, prompts, "zero-shot map")
        fig.suptitle(f"TerraMesh {SITE}, Araucanía (Chile): farmland, wooded hills, a town and a river")
        plt.show()
        """),
    md("""
        Compare the two maps on the right: the zero-shot map gets the wooded hills (top left) and much of the
        farmland, but it puts *water* on patches beside the river rather than on it, calls little of the town
        *built area* and almost nothing *rangeland*. Section 3 puts numbers on this. This chip is one of
        LAS-mini's training chips, so even the zero-shot map is measured on ground the model has seen.
        """),
    md("""
        ## 2. A handful of clicks

        A user who knows the place clicks a few pixels of each class, preferably where the map is wrong. We
        stand in for that user with a seeded draw: `CLICKS_PER_CLASS` pixels of each prompted class from the
        reference, taken inside patches of that class (the 3 × 3 neighbourhood is all one class: nobody clicks
        a field edge on purpose). The draw does not look at the zero-shot map, so some clicks land where the
        map is already right; the table says how many. The points are `(x, y, class name)` in the image CRS,
        exactly what a click on the map becomes.
        """),
    code("""
        CODE = {"water": 1, "trees": 2, "crops": 4, "built area": 5, "rangeland": 9}  # prompt -> reference code
        padded = np.pad(ref, 1, mode="edge")
        interior = np.ones(ref.shape, dtype=bool)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                interior &= padded[1 + dy : 1 + dy + ref.shape[0], 1 + dx : 1 + dx + ref.shape[1]] == ref


        def draw_clicks(per_class, seed):
            # (x, y, name) in the image CRS and (row, col): per_class interior reference pixels of each prompt
            rng = np.random.default_rng(seed)
            points, pixels = [], []
            for name, code in CODE.items():
                rows, cols = np.nonzero((ref == code) & interior)
                for i in rng.choice(rows.size, size=min(per_class, rows.size), replace=False):
                    points.append((float(image.x[cols[i]]), float(image.y[rows[i]]), name))
                    pixels.append((int(rows[i]), int(cols[i])))
            return points, pixels


        points, pixels = draw_clicks(CLICKS_PER_CLASS, SEED)
        zero_at = [prompts.names[zero_shot.class_map.values[r, c]] for r, c in pixels]
        pd.DataFrame([{"class": n, "x": round(x), "y": round(y), "zero-shot map says": z,
                       "map wrong": z != n} for (x, y, n), z in zip(points, zero_at)])
        """),
    md("""
        `adapt` fits the correction on the cached embedding and returns a *taught* prompt set: the same five
        classes plus the fitted head. In short (equations in `docs/teach.md`): each pixel is described by the
        decoder's pixel features and its stretched bands; the taught score of class *k* is
        softmax(*a* · log *f<sub>k</sub>* + Σ<sub>i</sub> κ(pixel, click *i*) α<sub>ik</sub>), where
        *f<sub>k</sub>* is the zero-shot score and κ a Gaussian kernel in feature space. It is kernel logistic
        regression with the zero-shot map as its prior: pixels that look like a click move towards its class,
        unlike pixels keep their zero-shot class, and with few clicks the penalty keeps the correction small.
        `predict(taught)` applies it.
        """),
    code("""
        encodes = predictor.stats["image_encodes"]
        taught = predictor.adapt(prompts, points)
        taught_map = predictor.predict(taught)
        print("teaching:", taught.extra["teaching"].summary()["points"])
        print("image encodes:", encodes, "->", predictor.stats["image_encodes"], "(the cached embedding is reused)")
        changed = float((taught_map.class_map.values != zero_shot.class_map.values).mean())
        print(f"pixels whose class changed: {100 * changed:.0f} % of the chip")
        """),
    code("""
        def plot_points(ax, points, prompts):
            inv = ~image.rio.transform()
            colours = dict(zip(prompts.names, prompts.colours))
            for x, y, name in points:
                col, row = inv * (x, y)
                ax.scatter(col - 0.5, row - 0.5, s=40, c=colours[name], edgecolors="black", linewidths=1.2)


        fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), layout="constrained")
        plot_classes(axes[0], zero_shot.class_map, prompts, "zero-shot")
        plot_classes(axes[1], taught_map.class_map, prompts, f"taught from {len(points)} clicks")
        plot_label(axes[2], reference, esri, title="Esri/IO LULC (weak label)")
        for ax in axes:
            plot_points(ax, points, prompts)
        plt.show()
        """),
    md("""
        The image was not encoded again (the encode counter did not move): teaching reads the embedding the
        predictor cached in section 1, so a click costs a fit on a few points and one pass over the pixels, not
        a forward pass through the image encoder. The model's weights do not change either.

        Fifteen clicks over five classes re-map a large share of this chip (the share printed above): a
        2 km chip holds few kinds of pixel, and most of them look like one click or another. Each click is a
        strong statement about everything that resembles it, so a wrong or untypical click costs a lot.

        A click that cannot teach is refused with the reason, for example one outside the image:
        """),
    code("""
        try:
            predictor.adapt(prompts, [(image.rio.bounds()[0] - 500.0, points[0][1], "water")])
        except TeachError as err:
            print("refused:", err)
        """),
    md("""
        ## 3. Honest accuracy

        Two numbers, answering two questions:

        - **held out at the clicks** (`predictor.held_out_accuracy(taught)`): each click is predicted by a
          correction fitted *without* it (leave-one-out). Accuracy at the clicks of the map fitted on them would
          be training accuracy. The zero-shot map's accuracy at the same clicks is beside it. With 15 clicks,
          one click is 7 points of percentage: read it as a rough check, not a measurement.
        - **on every reference pixel not clicked**: the taught and the zero-shot map against the Esri label,
          per class (IoU from the confusion matrix, `lslib.mapui.analysis.agreement`, the compare tab's
          function). The clicked pixels are left out, and so are the 90 *flooded vegetation* pixels (0.2 %),
          which no prompt names. This is agreement with a weak label, capped by its own errors.
        """),
    code("""
        held = predictor.held_out_accuracy(taught)
        print(f"held out at the {held['n']} clicks (leave-one-out): taught {held['oa']:.2f}, "
              f"zero-shot {held['zero_shot_oa']:.2f}")
        pd.DataFrame(held["per_class"]).T.astype({"n": int, "correct": int}).round(2)
        """),
    code("""
        scored = np.isin(ref, list(CODE.values()))
        for r, c in pixels:
            scored[r, c] = False  # the clicks themselves are not scored
        unclicked = reference.where(scored, 0).astype(ref.dtype).assign_attrs(reference.attrs)  # 0: nodata


        def compare(maps):
            # per-class IoU, mIoU and overall accuracy of each map against the unclicked reference pixels
            results = {name: agreement(p, unclicked) for name, p in maps.items()}
            per_class = {name: r["per_class"].set_index("name") for name, r in results.items()}
            table = pd.DataFrame({f"IoU {name}": frame["iou"] for name, frame in per_class.items()})
            table["reference pixels"] = next(iter(per_class.values()))["support"]
            summary = pd.DataFrame({name: {"mIoU": r["miou"], "overall accuracy": r["oa"], "pixels": r["pixels"]}
                                    for name, r in results.items()}).T.astype({"pixels": int})
            return table, summary, results


        table, summary, results = compare({"zero-shot": zero_shot, "taught": taught_map})
        display(summary.round(3))
        table.round(2)
        """),
    code("""
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
        for ax, (name, r) in zip(axes, results.items()):
            r["confusion"].plot(ax=ax, names=r["names"], normalize="true")
            ax.set_title(f"{name} (rows: reference, share of each row)")
        plt.show()
        """),
    md("""
        How to read this. The clicks recover what the zero-shot map missed (the river, the town, some
        rangeland) and pay for it with the class it got most right: a large part of the *crops* goes to
        *rangeland* and *built area* (the *Crops* row of the matrices). Fields, pasture and a small town's
        gardens look alike in this model's features, and three clicks per class cannot draw a fine line
        between them. So the mean IoU over the five classes rises while the overall accuracy, dominated by a
        chip that is 40 % crops, need not: read the per-class table, not one number. Whether one handful of
        clicks helps overall depends on which pixels were clicked (section 4 shows the spread). Both maps are
        compared with a weak label: some of the "errors" are the label's.
        """),
    md("""
        ## 4. How many clicks?

        One draw of 15 clicks is an anecdote. The full run (`SMALL = False`) teaches the map with 1, 3, 5 and 10
        clicks per class, `DRAWS` other draws each (seeds 100, 101, ...), and scores every taught map on the
        reference pixels not clicked in that draw: the mean over the draws, and the taught map's worst and best
        draw. Compare the draw of section 2 with the row of 3 clicks: the spread between draws
        is the point, which pixels you click matters as much as how many. `bench/fewshot.py` does this over
        many chips.
        """),
    code("""
        rows = []
        for per_class in CLICKS_SWEEP:
            for draw in range(DRAWS):
                pts, pix = draw_clicks(per_class, 100 + draw)
                keep = np.isin(ref, list(CODE.values()))
                for r, c in pix:
                    keep[r, c] = False
                target = reference.where(keep, 0).astype(ref.dtype).assign_attrs(reference.attrs)
                a = agreement(predictor.predict(predictor.adapt(prompts, pts)), target)
                z = agreement(zero_shot, target)
                rows.append({"clicks per class": per_class, "draw": draw, "mIoU zero-shot": z["miou"],
                             "mIoU taught": a["miou"], "OA zero-shot": z["oa"], "OA taught": a["oa"]})
        if rows:
            g = pd.DataFrame(rows).groupby("clicks per class")
            sweep = pd.concat({
                metric: pd.DataFrame({"zero-shot": g[f"{short} zero-shot"].mean(),
                                      "taught": g[f"{short} taught"].mean(),
                                      "taught, worst draw": g[f"{short} taught"].min(),
                                      "taught, best draw": g[f"{short} taught"].max()})
                for metric, short in [("mIoU", "mIoU"), ("overall accuracy", "OA")]
            }, axis=1)
            display(sweep.round(3))
        else:
            print("skipped in small mode (LSLIB_SMALL=1)")
        """),
    md("""
        ## 5. Teach mode in the map app

        The same, by hand, on the map. In `MapApp`:

        1. open the tab **inspect & teach** and set the mode to **teach**;
        2. choose the class in the *class* list, click pixels of that class on the map: every click refits the
           correction and redraws the overlay (a fraction of a second: the image is not encoded again);
        3. **undo** removes the last click, **clear teaching** goes back to the zero-shot map; the *strength*
           slider sets how far each click reaches (smaller: further);
        4. **split view (zero-shot | taught)**: drag the slider on the map to compare the two;
        5. the panel shows the clicks per class and the **held-out accuracy** (leave-one-out up to 10 clicks,
           5-fold beyond) beside the zero-shot map's at the same clicks;
        6. **save taught prompts** writes the YAML of section 6.

        A click outside the area of interest, on nodata, or after the 500th point is refused with a message.
        Below, two clicks on the river are scripted (`app.inspect.set_mode` and `app.inspect.click` take the
        same path as a mouse click), so that CI runs teach mode too. The app shares the predictor: the chip is
        not encoded again.
        """),
    code("""
        app = MapApp(image=image, predictor=predictor, prompts=prompts, reference=reference)
        app.run()
        to_lonlat = Transformer.from_crs(image.rio.crs, "EPSG:4326", always_xy=True)
        (south, west), (north, east) = app.overlay_bounds
        app.tabs.selected_index = 3  # inspect & teach
        app.inspect.set_mode("teach", "water")
        for x, y, _ in [p for p in points if p[2] == "water"][:2]:
            lon, lat = to_lonlat.transform(x, y)
            assert south <= lat <= north and west <= lon <= east
            app.inspect.click(lat, lon)
        app.teach.split(True)
        acc = app.teach.last_accuracy
        print("clicks:", [(p.name, round(p.x), round(p.y)) for p in app.teach.points])
        print(f"held out at the clicks: taught {acc['oa']:.2f}, zero-shot {acc['zero_shot_oa']:.2f} "
              f"| image encodes: {predictor.stats['image_encodes']}")
        app
        """),
    md("""
        Two clicks of one class are not enough to read the held-out accuracy: a correction fitted on water clicks
        alone can only push pixels towards water, so it "predicts" the other water click right almost by
        construction. Add clicks of every class on the map (or `app.inspect.click(lat, lon)` after
        `set_mode("teach", name)` for another class) before trusting it, and watch the counts and the accuracy
        in the panel.
        """),
    md("""
        ## 6. Reproducible at scale

        `save_taught` writes the taught prompt set: a YAML (the classes, plus a `teaching:` section with every
        point in its CRS, the counts, the settings, the model's fingerprint and the band set) and the fitted
        head as a `taught.safetensors` sidecar (tensors only, no pickle; its sha256 is in the YAML).
        """),
    code("""
        OUT.mkdir(parents=True, exist_ok=True)
        path = save_taught(taught, OUT / "taught.yaml")
        doc = yaml.safe_load(path.read_text())
        print(sorted(p.name for p in OUT.glob("taught.*")))
        teaching = {k: v for k, v in doc["teaching"].items() if k != "wavelengths"}  # (µm, one per band)
        teaching["points"] = teaching["points"][:2]
        print(yaml.safe_dump({"teaching": teaching}, sort_keys=False, default_flow_style=None, width=110))
        print(f"    # ... {len(doc['teaching']['points']) - 2} more points")
        """),
    md("""
        `lslib predict --prompt-set taught.yaml` maps a scene of any size with it, window by window with one
        stretch for the whole scene, as for any prompt set. Here it maps the same chip from its file, in a
        separate process, so we can check that the command line reproduces the notebook's taught map.
        """),
    code("""
        tif = fetch(f"{TERRAMESH}/S2L2A/{SITE}.tif")
        cmd = [sys.executable, "-m", "lslib", "predict", "--image", str(tif), "--sensor", "s2-l2a",
               "--prompt-set", str(path), "--out", str(OUT / "map"), "--overwrite", "-q"]
        print("lslib", " ".join(cmd[3:]))
        print(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        """),
    code("""
        sidecar = json.loads((OUT / "map" / "map.json").read_text())
        print("teaching recorded in map.json:", {k: sidecar["teaching"][k] for k in ("taught", "points", "model")})
        cli_map = read_geotiff(OUT / "map" / "class_map.tif").squeeze(drop=True)
        same = float((np.asarray(cli_map.values) == np.asarray(taught_map.class_map.values)).mean())
        print(f"pixels where lslib predict and the notebook's taught map agree: {100 * same:.2f} %")
        """),
    md("""
        The taught prompt set carries its own checks: on another model (fingerprint), another band set, or after
        its classes were edited, it is refused with the mismatch named, rather than giving a silently wrong
        map.
        """),
    md("""
        ## Summary

        - Teaching corrects *this scene's* zero-shot map from your clicks: kernel logistic regression on the
          cached embedding, with the zero-shot map as prior. The image is not encoded again and the model is
          not retrained; classes without clicks stay zero-shot.
        - A click moves the pixels that look like it; with few clicks the correction stays small. Clicks on a
          mixed or mislabelled pixel teach that error.
        - Measure it honestly: held out at the clicks (leave-one-out), and against a reference on the pixels not
          clicked, per class. One draw of clicks is an anecdote: the spread between draws is large.
        - Points outside the image or area of interest, on nodata, or of an unknown class are refused with the
          reason.
        - `save_taught` writes a YAML + safetensors pair that `lslib predict --prompt-set` uses on whole scenes;
          it applies only with the same model and band set (and is refused otherwise), and `map.json` records
          the teaching.

        ### What's next

        For many scenes or thousands of labels, fine-tune the model instead
        ([05 Transfer and evaluation](05_transfer_and_evaluation.ipynb), `lslib finetune`).
        """),
    md("""
        ## Resources and references

        - `docs/teach.md`: the equations, the settings (`strength`, `gamma`) and the limits of teaching;
          `docs/fusion.md`: the zero-shot scores *f<sub>k</sub>* that teaching starts from; `docs/mapui.md`: the
          map app.
        - `bench/fewshot.py` (its table: section *fewshot* of `BENCHMARKS.md`, written by `make bench`):
          teaching against a random forest on the same points and the zero-shot map, 1-20 points per class on
          the LAS-mini validation chips and the TerraMesh sites.
        - LandSegmenter: Liu, Huang, Zhu, arXiv:2511.08156.
        - Scene: TerraMesh examples (IBM/ESA), CC BY-SA 4.0; Esri / Impact Observatory 10 m Land Use/Land Cover,
          CC BY 4.0; contains modified Copernicus Sentinel data.
        - Kernel logistic regression: Zhu and Hastie 2005, *Kernel logistic regression and the import vector
          machine*, J. Comput. Graph. Stat. 14(1).
        """),
]

if __name__ == "__main__":
    write("06_teach_the_map", CELLS)
