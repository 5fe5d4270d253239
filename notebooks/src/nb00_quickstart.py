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

        1. One cell: `quick_map()` opens the map with a zero-shot overlay and the prompt editor
        2. Edit a class name, press Enter, watch the overlay change
        3. How much of each class: the areas table
        4. The same edit from code
        """),
    md("""
        ## Prerequisites

        | Concepts | Importance | Notes |
        | --- | --- | --- |
        | Running a Jupyter cell | Necessary | Shift+Enter, or Run > Run All Cells |
        | Land cover classes (water, trees, crops, built-up) | Helpful | any names work; the model reads them as text |

        - **Time to learn**: 3 minutes
        - **System requirements**: CPU only, < 2 GB RAM (fits on Binder); no internet: the map shows the image
          itself, no web basemap
        """),
    md("""
        ## Imports
        """),
    code("""
        import os

        from lslib import quick_map
        """),
    md("""
        ## Parameters

        `LSLIB_SMALL=1` (set by CI and the browser test) also applies the edit of section 3 from code, as a
        stand-in for a reader typing it.
        """),
    code("""
        SMALL = os.environ.get("LSLIB_SMALL", "0") == "1"  # small run for CI
        PROMPTS = "water, trees, grass, crops, built area, bare ground"  # or a preset: "esa_worldcover"
        """),
    md("""
        ## 1. One cell: a map

        `quick_map()` loads a real Sentinel-2 L2A scene (a TerraMesh site on the coast of Paraná, Brazil),
        the default LandSegmenter model (`tiny` trained on LAS-mini, a checkpoint released inside the package:
        it loads in a moment, nothing is trained), encodes the image once and maps it with your class names.
        """),
    code("""
        app = quick_map(prompts=PROMPTS)
        app
        """),
    md("""
        ## 2. Edit a class name

        In the editor beside the map, click a name (say *trees*), type another (*forest*, *mangrove*,
        *eucalyptus plantation*) and press Enter. Only the text of that one class is encoded again; the image
        embedding is cached, so the overlay comes back in well under a second. *Add class* appends a row;
        the status line counts the renders.

        The default model is small and trained on about a hundred weakly labelled chips: expect a
        plausible map for broad classes (water, trees, crops, built-up) and confusions between similar ones
        (grass, shrubs, bare ground). Chapter 04 measures how far it agrees with a land-cover product.
        """),
    md("""
        ## 3. How much of each class

        Areas from the current map (projected CRS, so hectares are real), only the classes present.
        """),
    code("""
        app.areas_table()
        """),
    md("""
        The same edit from code: `app.editor.set_name(row, name)` goes through exactly the path of typing in
        the row's name box and pressing Enter (one text encode, one render). In small mode this cell runs it;
        otherwise edit by hand above, then re-run the areas table.
        """),
    code("""
        if SMALL:
            app.editor.set_name(1, "forest")  # row 1: "trees" -> "forest"
            app.editor.add_class("sand")
        app.areas_table()
        """),
    md("""
        ## Summary

        - `quick_map()` is the one-cell path: real scene, default model, zero-shot overlay, prompt editor.
        - Class names are the interface: editing one re-encodes one prompt and re-renders the map.
        - `app.areas_table()` summarises the current map; `app.editor` edits it from code.

        ### What's next

        Chapter [04 Zero-shot mapping](04_zero_shot_mapping.ipynb) compares the map with a land-cover product,
        inspects the model's confidence and exports the result as GeoTIFFs and polygons. Chapters 01-03 show
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
