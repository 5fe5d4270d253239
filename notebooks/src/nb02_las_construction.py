"""Generate ``notebooks/02_las_construction.ipynb`` (outputs stripped).

PYTHONPATH=notebooks/src python notebooks/src/nb02_las_construction.py
"""

from __future__ import annotations

from _nb import code, md, write

CELLS = [
    md("""
        # Building LAS: a weak-label land-cover dataset from STAC

        LandSegmenter learns from **LAS** (LAnd Segment): image chips paired with *weak labels* cut from
        existing land-cover products, each chip keeping its product's own class names. This chapter builds a
        small LAS — **LAS-mini** — from real samples, with exactly the code that builds the full dataset from
        Planetary Computer.
        """),
    md("""
        ## Overview

        1. Why weak labels, and where the products disagree
        2. The recipes: eight subsets = imagery collection + label product + taxonomy + chip design
        3. Sampling locations: global strata, and class strata inside a label product
        4. Building LAS-mini from a STAC API on loopback (pystac-client + odc-stac + Dask)
        5. The online path (Planetary Computer), shown but run only when online
        6. Inspecting chips: imagery, weak label, class histogram
        7. Exercise
        """),
    md("""
        ## Prerequisites

        | Concepts | Importance | Notes |
        | --- | --- | --- |
        | [01 Getting started](01_getting_started.ipynb) | Necessary | manifests, readers, taxonomies |
        | [STAC](https://stacspec.org/) and [pystac-client](https://pystac-client.readthedocs.io/) | Helpful | searching imagery by place and time |
        | [odc-stac](https://odc-stac.readthedocs.io/) | Helpful | loading STAC items onto a pixel grid |
        | [Dask distributed](https://distributed.dask.org/) | Helpful | the build runs chips in parallel |

        - **Time to learn**: 30 minutes
        - **System requirements**: 2 CPU cores, < 2 GB RAM; no internet (the STAC API runs on this machine over the sample mirror)
        """),
    md("""
        ## Imports
        """),
    code("""
        import os
        from pathlib import Path

        import matplotlib.pyplot as plt
        import numpy as np
        import pandas as pd
        import pystac_client
        from IPython.display import Image

        from lslib.data.las import list_chips, read_chip
        from lslib.data.las import build_las, dask_client, sample_subset
        from lslib.data.las import las_report
        from lslib.data.las import list_recipes, load_recipe
        from lslib.data.las.sampling import sample_global, write_points
        from lslib.data.local_stac import local_stac
        from lslib.taxonomy import crosswalk, get_taxonomy
        from lslib.viz import plot_label, rgb_composite
        """),
    md("""
        ## Parameters

        `LSLIB_SMALL=1` (set by CI) builds fewer subsets with one worker. `ONLINE = True` runs section 5 against Planetary Computer (needs internet and `pip install planetary-computer`).
        """),
    code("""
        SMALL = os.environ.get("LSLIB_SMALL", "0") == "1"  # small run for CI
        ONLINE = False  # section 5: build a few chips from Planetary Computer
        OUT = Path("outputs/las-mini")  # the build folder: rerunning resumes, a finished build does nothing
        SUBSETS = (
            ["mini-zion-landsat-nlcd", "mini-terramesh-s2-esri"]
            if SMALL
            else [n for n in list_recipes() if n.startswith("mini-")]
        )
        WORKERS = 1 if SMALL else 2
        N_GLOBAL = 400 if SMALL else 4000
        """),
    md("""
        ## 1. Why weak labels

        Precise land-cover annotation is expensive; global land-cover products are free, cover the planet and
        are *mostly* right. LandSegmenter trains on them at scale, and keeps each product's own class names,
        so the model learns names rather than a fixed list of indices. Their errors are known: independent
        validation (Venter et al. 2022) finds about 65–75 % overall accuracy, and the products agree on water,
        built-up and trees but not on shrub, grass, bare ground and flooded vegetation.
        """),
    code("""
        agreement = pd.DataFrame(
            {"agreement between products (%)": {"water": 92, "built": 83, "trees": 81, "crops": 78,
                                                "bare": 57, "flooded vegetation": 53, "shrub": 47, "grass": 34}}
        )
        agreement.plot.barh(legend=False, figsize=(6, 3), title="Where weak labels are noisy (Venter et al. 2022)")
        plt.xlabel("% agreement")
        plt.show()
        """),
    md("""
        The taxonomies differ too. A crosswalk through shared concepts shows which classes correspond; one
        class can map to several (Esri *rangeland* is WorldCover *grassland* or *shrubland*).
        """),
    code("""
        esri, wc = get_taxonomy("esri_lulc"), get_taxonomy("esa_worldcover")
        cw = crosswalk(esri, wc)
        matrix = pd.DataFrame(0, index=[c.name for c in esri.classes], columns=[c.name for c in wc.classes])
        for code, targets in cw.items():
            if code in esri:
                for rank, t in enumerate(targets):
                    matrix.loc[esri.by_code(code).name, wc.by_code(t).name] = 2 if rank == 0 else 1
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.imshow(matrix.values, cmap="Blues", vmin=0, vmax=2)
        ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=60, ha="right")
        ax.set_yticks(range(len(matrix.index)), matrix.index)
        ax.set_title("Esri/IO LULC -> ESA WorldCover (dark: best match, light: also)")
        plt.show()
        """),
    md("""
        ## 2. The recipes

        Each LAS subset is a YAML file in `data_manifests/las/`: a STAC imagery collection, a label product
        with its taxonomy, the chip size and GSD, quality filters and a sampling design. The eight online
        subsets read Planetary Computer; the `mini-*` recipes read the loopback STAC API over the real samples.
        """),
    code("""
        rows = []
        for name in list_recipes():
            r = load_recipe(name)
            rows.append({"subset": name, "imagery": r.image.collection, "labels": r.label.collection,
                         "taxonomy": r.label.taxonomy, "chip": f"{r.chip.size} px @ {r.chip.gsd:g} m",
                         "sampling": r.sampling.strategy, "where": "loopback" if r.is_local else "Planetary Computer"})
        pd.DataFrame(rows)
        """),
    md("""
        ## 3. Sampling locations

        Global subsets sample land points stratified by continent × climate zone with equal allocation, so
        small regions (the subtropical islands of Europe, the polar zones) are represented, with a minimum
        distance between points. Seeded: the same seed gives the same points.
        """),
    code("""
        points = sample_global(N_GLOBAL, seed=1, min_distance_km=50)
        files = write_points(points, OUT / "design", name="global-design",
                             title=f"{len(points)} land points, continent x climate-zone strata, min distance 50 km")
        print(points["stratum"].value_counts().to_string())
        Image(filename=str(files["png"]))
        """),
    md("""
        LAS-mini samples *inside* the label products instead: class strata with equal allocation, so rare
        classes (NLCD *Open Water* is 0.08 % of Zion) still get chips, and no chip crosses the raster's edge.
        For that we need the STAC API.
        """),
    md("""
        ## 4. Building LAS-mini from a STAC API on loopback

        `local_stac()` describes the real samples as STAC items (projection, raster and eo extensions) and
        serves them with `rustac serve` on 127.0.0.1. The builder then uses pystac-client and odc-stac exactly
        as against Planetary Computer: only the URL differs.
        """),
    code("""
        server = local_stac()
        client = pystac_client.Client.open(server.url)
        pd.DataFrame([{"collection": c.id, "items": len(list(client.search(collections=[c.id]).items()))}
                      for c in client.get_collections()])
        """),
    code("""
        zion = load_recipe("mini-zion-landsat-nlcd")
        zion_points = sample_subset(zion, url=server.url)
        nlcd = get_taxonomy("nlcd")
        zion_points.groupby("stratum").size().rename("points").to_frame()
        """),
    md("""
        Now the build: one Dask task per point, each searching the imagery, loading the chip on the image's
        pixel grid, reprojecting the weak label onto it (NLCD 2011 is on another grid), masking clouds and
        applying the quality filters. Chips appear atomically; rerunning this cell does nothing new.
        """),
    code("""
        with dask_client(WORKERS) as dask:
            for name in SUBSETS:
                print(build_las(load_recipe(name), OUT, stac_url=server.url, client=dask))
        report = las_report(OUT)
        pd.DataFrame({s: {k: r[k] for k in ("taxonomy", "written", "rejected", "failed")}
                      for s, r in report["subsets"].items()}).T
        """),
    code("""
        Image(filename=str(OUT / "report.png"))
        """),
    md("""
        ## 5. The online path

        The same call builds a real subset from Planetary Computer (signed asset URLs need
        `pip install planetary-computer`). It runs only when `ONLINE = True`.
        """),
    code("""
        if ONLINE:
            recipe = load_recipe("s2l2a-worldcover")
            online_points = sample_subset(recipe, url=recipe.stac_url, n=20, seed=0)
            print(build_las(recipe, "outputs/las-online", workers=WORKERS, limit=20))
        else:
            print("offline: skipped (set ONLINE = True to build 20 chips from", load_recipe("s2l2a-worldcover").stac_url, ")")
        """),
    md("""
        ## 6. Inspecting chips

        Each chip is a folder with `image.tif` (bands with names and wavelengths), `label.tif` (the product's
        codes with its colour table) and `meta.json` (source items, dates, class table, licence). They open in
        QGIS as they are; here we read them as georeferenced arrays.
        """),
    code(r"""
        chips = [p for s in SUBSETS for p in list_chips(OUT, s)[:2]]
        fig, axes = plt.subplots(len(chips), 3, figsize=(14, 3.8 * len(chips)), squeeze=False,
                                 gridspec_kw={"width_ratios": [1, 1.7, 1.1]})
        for row, path in zip(axes, chips):
            chip = read_chip(path)
            bands = [str(b) for b in chip.image["band"].values]
            rgb = [b for b in ("B04", "B03", "B02", "SR_B4", "SR_B3", "SR_B2") if b in bands][:3]
            if len(rgb) == 3:
                row[0].imshow(rgb_composite(chip.image, bands=rgb))
            else:  # SAR: VV
                row[0].imshow(chip.image.values[0], cmap="gray")
            row[0].set_title(f"{chip.meta['subset']}\n{chip.meta['image_item']}", fontsize=8)
            row[0].set_axis_off()
            plot_label(row[1], chip.label, chip.meta["taxonomy"], title=f"weak label ({chip.meta['taxonomy']})")
            counts = {chip.classes[int(c)]: n for c, n in chip.meta["class_counts"].items()}
            row[2].barh(list(counts), list(counts.values()), color="#4c78a8")
            row[2].set_title("class histogram (pixels)", fontsize=9)
            row[2].tick_params(labelsize=7)
        fig.tight_layout()
        plt.show()
        """),
    code("""
        server.stop()
        """),
    md("""
        ## 7. Exercise

        1. The Zion subset keeps a chip only if at most 10 % of it is nodata. Copy
           `data_manifests/las/mini-zion-landsat-nlcd.yaml`, change `chip.size` to 64 and `sampling.n` to 80,
           build it into a new folder and compare the class frequencies in `report.md`: are the rare classes
           better represented?
        2. Which LAS-mini points were rejected, and why? Read `OUT/<subset>/rejected/*.json`.
        3. Add a recipe for Sentinel-1 + Esri LULC on Planetary Computer (collections `sentinel-1-rtc` and
           `io-lulc-annual-v02`) and check it with `lslib las list`.
        """),
    md("""
        ## Summary

        - LAS pairs imagery with weak labels from existing products; each chip keeps its product's class names.
        - A recipe (YAML) defines a subset; sampling is seeded and stratified so rare classes and regions appear.
        - The builder searches any STAC API, loads chips with odc-stac onto the image grid, reprojects labels,
          masks clouds, filters, and writes each chip atomically; killed builds resume.

        ### What's next

        Chapter 03 trains LandSegmenter on LAS-mini with mixed taxonomies.
        """),
    md("""
        ## Resources and references

        - LandSegmenter: Liu, Huang, Zhu, arXiv:2511.08156. Venter et al. (2022), *Global 10 m land use land
          cover datasets: a comparison of Dynamic World, World Cover and Esri Land Cover*, Remote Sensing 14(16).
        - TerraMesh examples (IBM/terramind, Apache-2.0), TerraMesh data CC BY-SA 4.0; Esri / Impact Observatory
          10 m LULC, CC BY 4.0. Landsat 8 courtesy of the USGS; NLCD 2011 (MRLC/USGS), public domain (spDataLarge,
          CC0). ESA WorldCereal (MIT), Flemish LPIS open data, Copernicus-GEOGLAM. Sentinel-2 T29UNU
          (stactools-packages/sentinel2, Apache-2.0). All contain modified Copernicus Sentinel data.
        - Land mask for sampling: GLOBE 1 km, via the `global-land-mask` package (MIT).
        """),
]

if __name__ == "__main__":
    write("02_las_construction", CELLS)
