"""Generate ``notebooks/00_quickstart.ipynb`` (outputs stripped): ``python notebooks/src/nb00_quickstart.py``."""

from __future__ import annotations

from _nb import code, md, write

CELLS = [
    md("""
        # Quick start: a land-cover map from class names, in one cell

        Type the classes you want, get a map. This chapter is the three-minute path: one cell opens a map of a
        real Sentinel-2 scene with a zero-shot land-cover overlay and an editable list of class names beside it.
        """),
    md("""
        ## Overview

        1. One cell: `quick_map()` maps a real scene; a static figure shows the image, the reference and the map
        2. The interactive map: edit a class name, press Enter, watch the overlay change
        3. How much of each class: the areas table
        4. Exercise: a class name the model does not know
        5. What this model can and cannot do (measured)
        """),
    md("""
        ## Prerequisites

        | Concepts | Importance | Notes |
        | --- | --- | --- |
        | Running a Jupyter cell | Necessary | Shift+Enter, or Run > Run All Cells |
        | Land cover classes (water, trees, crops, built-up) | Helpful | the model reads class names as text, but it only knows the words of the products it was trained on (section 4) |

        - **Time to learn**: 5 minutes
        - **System requirements**: CPU only, < 2 GB RAM (fits on Binder); no internet: the map shows the image
          itself, no web basemap
        """),
    md("""
        ## Imports
        """),
    code("""
        %matplotlib inline
        import os

        import numpy as np
        import pandas as pd
        from IPython.display import display

        from lslib import quick_map
        from lslib.taxonomy import get_taxonomy
        from lslib.viz import map_figure
        """),
    md("""
        ## Parameters

        `LSLIB_SMALL=1` (set by CI and the browser test) also applies the edit of section 2 from code, as a
        stand-in for a reader typing it. The exercise of section 4 runs its solution in every mode.
        """),
    code("""
        SMALL = os.environ.get("LSLIB_SMALL", "0") == "1"  # small run for CI
        PROMPTS = "water, trees, grass, crops, built area, bare ground"  # the words of the training labels
        """),
    md("""
        ## 1. One cell: a map

        `quick_map()` loads a real Sentinel-2 L2A scene (a 2.24 km TerraMesh chip on the coast of Paraná,
        Brazil) with its Esri/IO land-cover label, the default LandSegmenter model (`tiny` trained on LAS-mini, a
        checkpoint released inside the package: it loads in a moment, nothing is trained), encodes the image once
        and maps it with your class names.

        First the map as a static figure, beside the true colour image and the Esri label (a product, not
        ground truth). Every class keeps one colour everywhere: the map, its legend, the reference, the
        interactive map and the export. A class named like a product class gets that product's colour, any
        other name the colour of its nearest product class.
        """),
    code("""
        app = quick_map(prompts=PROMPTS)
        esri = get_taxonomy("terramesh_lulc")
        ref_share = pd.Series({esri.by_code(int(c)).name: n for c, n in zip(*np.unique(app.reference.values, return_counts=True))})
        ref_share = (100 * ref_share / ref_share.sum()).round(0).astype(int)
        SCENE = ("Paraná coast, Brazil: forest (left), a dark tidal channel, white sand bars, a wide pale beach and "
                 "the sea (Esri: " + ", ".join(f"{k} {v} %" for k, v in ref_share.items()) + ")")
        map_figure(app.aoi, app.prediction, app.reference, description=SCENE)
        """),
    md("""
        Read the figure before trusting anything else. The forest comes out where the image and the label have
        it, and the sea and the channel are water. But compare the map with the true colour image, not only
        with the label: the wide pale strip between the channel and the surf line is sand (a beach or tidal
        flat, dry on this image's date), yet the Esri label, a yearly product, calls most of it *Water*, and
        the map, trained on such labels, does the same. The label's *Bare ground* (the white sand bars) is
        mostly mapped as water too, and the little *Rangeland* (dune vegetation behind the beach) as crops,
        grass or trees: small, mixed classes are where this model is weakest.
        """),
    md("""
        ## 2. The interactive map: edit a class name

        The same map on an interactive map. In the editor beside it, click a name (say *trees*), type another
        (*forest*) and press Enter. Only the text of that one class is encoded again; the image embedding is
        cached, so the overlay comes back in well under a second. *Add class* appends a row; the status line
        counts the renders. The *compare* tab shows the Esri label in the same colours (split view).
        """),
    code("""
        app
        """),
    md("""
        ## 3. How much of each class

        Areas from the current map (projected CRS, so hectares are real), only the classes present. Re-run
        this cell after an edit.
        """),
    code("""
        areas_at_start = app.areas_table().set_index("class")["percent"]
        areas_at_start.round(1)
        """),
    md("""
        The same edit from code: `app.editor.set_name(row, name)` goes through exactly the path of typing in
        the row's name box and pressing Enter (one text encode, one render). In small mode this cell runs it
        (*trees* becomes *forest*, a synonym the model knows: the map hardly changes); otherwise edit by hand
        above, then re-run this cell: it compares the current map with the table above.
        """),
    code("""
        if SMALL:
            app.editor.set_name(1, "forest")  # row 1: "trees" -> "forest"
        now = app.areas_table().set_index("class")["percent"]
        if now.equals(areas_at_start):
            print("the map is unchanged: edit a class name above (then re-run this cell)")
        print("classes now:", app.editor.prompts.names)
        pd.concat({"at start (%)": areas_at_start, "now (%)": now}, axis=1).round(1)
        """),
    md("""
        ## 4. Exercise: a class name the model does not know

        The model reads class names as text, but it was trained on a few products' class names (water, trees,
        crops, built area, grassland ...). A word far from them is not understood, and a wrong word does not
        stay empty: its pixels go to whichever class is nearest.

        **Exercise.** Rename *trees* to *mangrove* (a real coastal forest type, but not a word of the training
        labels) and check where the Esri *Trees* pixels go. Then rename it back to *trees* (or *forest*).

        The check below captures the map before the edit, applies it (from code, like typing it), prints
        where the reference's trees went and the agreement with the label, and restores the name.
        """),
    code("""
        trees_ref = app.reference.values == esri.by_name("Trees").code

        def where_trees_go(app):
            # share (%) of the Esri 'Trees' pixels given to each map class
            names, cm = app.prediction.prompts.names, app.prediction.class_map.values[trees_ref]
            return pd.Series({names[i]: 100 * float((cm == i).mean()) for i in range(len(names))})

        row = 1
        old_name = app.editor.prompts.names[row]
        before, oa_before = where_trees_go(app), app.agreement()["oa"]
        app.editor.set_name(row, "mangrove")  # the edit (the solution: type it in the editor and press Enter)
        after, oa_after = where_trees_go(app), app.agreement()["oa"]
        table = pd.DataFrame({f"with '{old_name}' (%)": before.to_numpy(), "with 'mangrove' (%)": after.to_numpy()},
                             index=[n if n != "mangrove" else f"{old_name} / mangrove" for n in after.index])
        display(table.round(1))
        print(f"overall agreement with the Esri label: {100 * oa_before:.0f} % -> {100 * oa_after:.0f} %")
        app.editor.set_name(row, old_name)  # restore the name the model knows
        """),
    md("""
        With the released model, *mangrove* gets almost none of the forest: nearly all of it goes to *grass*
        and the agreement with the label drops by about a third. Synonyms of the training words (*forest*,
        *woodland*) work; specific types (*mangrove*, *eucalyptus plantation*) may or may not, and only the
        figure and the reference tell which. When no wording works, teach the map with a few clicks
        (chapter [06](06_teach_the_map.ipynb)).
        """),
    md("""
        ## 5. What this model can and cannot do

        Measured numbers, copied from `BENCHMARKS.md` (run of 2026-12-07, CPU, default checkpoint): mIoU is the
        mean over classes of the intersection over union with a weak label (1 = identical maps).

        | What | mIoU | Baselines on the same chips | BENCHMARKS.md section |
        | --- | ---: | --- | --- |
        | zero-shot, held-out TerraMesh S2 chips (Esri label) | 0.18 | random forest on pixels 0.36, closed-set CNN 0.34 | *Against baselines measured in the same run* (train) |
        | weak-label agreement after training, same chips | 0.28 | random forest 0.56, closed-set CNN 0.41 | *Against baselines* (train) |
        | taught from 10 clicks per class, held-out TerraMesh S2 | 0.47 | zero-shot 0.28, random forest on the same points 0.36 | *fewshot* |
        | leave-one-subset-out (a data source never seen) | 0.02 | max(majority class, random forest) 0.11 | *generalization* |

        So: the default `tiny` model maps broad, common classes (water, forest, fields) on scenes like its
        training data; it is below a random forest trained on the same labels; it does not generalise to data
        sources it never saw; and a few clicks of teaching (chapter 06) beat both zero-shot and a random forest
        on the same points. It is a teaching model for the workflow, not the paper's accuracy.
        """),
    md("""
        ## Summary

        - `quick_map()` is the one-cell path: real scene, default model, zero-shot overlay, prompt editor;
          `lslib.viz.map_figure` shows the map beside the image and the reference.
        - Class names are the interface: editing one re-encodes one prompt and re-renders the map. Words of the
          training labels and their synonyms work; unknown words give their pixels to the nearest class.
        - `app.areas_table()` summarises the current map; `app.editor` edits it from code.
        - Measured: zero-shot mIoU about 0.2 against a weak label, below a random forest; teaching from a few
          clicks reaches about 0.47.

        ### What's next

        Chapter [04 Zero-shot mapping](04_zero_shot_mapping.ipynb) compares the map with a land-cover product,
        inspects the model's confidence, teaches it a class it misses and exports the result as GeoTIFFs and
        polygons. Chapters 01-03 show
        the data and how the default model was trained.
        """),
    md("""
        ## Resources and references

        - LandSegmenter: Liu, Huang, Zhu, *LandSegmenter: towards a flexible foundation model for land use and
          land cover mapping*, arXiv:2511.08156.
        - Scene: TerraMesh examples (IBM/ESA), CC BY-SA 4.0; contains modified Copernicus Sentinel data.
        - Map widgets: [ipyleaflet](https://ipyleaflet.readthedocs.io/), [ipywidgets](https://ipywidgets.readthedocs.io/).
        """),
]

if __name__ == "__main__":
    write("00_quickstart", CELLS)
