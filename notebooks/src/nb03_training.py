"""Generate ``notebooks/03_training.ipynb`` (outputs stripped).

PYTHONPATH=notebooks/src python notebooks/src/nb03_training.py
"""

from __future__ import annotations

from _nb import code, md, write

CELLS = [
    md("""
        # Training LandSegmenter on weak labels with mixed taxonomies

        The model learns *names*: every LAS chip brings its own product's class list, and each training step
        asks the model, for a handful of class names, "where is this, and is it here at all?".
        """),
    md("""
        ## Overview

        1. The training sample: present classes, absent classes and safe negatives from other products
        2. The losses: focal + Dice on masks, presence, pixel-text contrast
        3. A short run on LAS-mini with live curves
        4. Checkpoints and resuming: a stopped run continues to the identical result
        5. Looking at predictions against the weak labels
        6. What changes on a GPU hub
        """),
    md("""
        ## Prerequisites

        | Concepts | Importance | Notes |
        | --- | --- | --- |
        | [02 LAS construction](02_las_construction.ipynb) | Necessary | the chips we train on |
        | [PyTorch](https://pytorch.org/tutorials/) | Helpful | tensors, losses, optimisers |
        | [Accelerate](https://huggingface.co/docs/accelerate) | Helpful | the same script on CPU, one GPU or many |

        - **Time to learn**: 30 minutes
        - **System requirements**: 2 CPU cores, < 2 GB RAM (the `tiny` variant); no internet
        """),
    md("""
        ## Imports
        """),
    code("""
        import os
        from dataclasses import replace
        from pathlib import Path

        import matplotlib.pyplot as plt
        import numpy as np
        import pandas as pd
        import torch
        import xarray as xr
        from IPython.display import Image

        from lslib.data.las import build_las
        from lslib.data.las import load_recipe
        from lslib.data.local_stac import local_stac
        from lslib.model.build import count_parameters, load_model
        from lslib.taxonomy import get_taxonomy
        from lslib.training.config import load_config
        from lslib.training.dataset import LASDataset, SubsetBatchSampler, collate
        from lslib.training.evaluate import predict_chip
        from lslib.training.history import plot_history
        from lslib.training.trainer import train
        from lslib.viz import plot_label, rgb_composite
        """),
    md("""
        ## Parameters

        `LSLIB_SMALL=1` (set by CI) builds two LAS-mini subsets and trains a few dozen steps.
        """),
    code("""
        SMALL = os.environ.get("LSLIB_SMALL", "0") == "1"  # small run for CI
        LAS = Path("outputs/las-mini")  # shared with chapter 02 (resumes, does nothing if built)
        OUT = Path("outputs/train-notebook")
        SUBSETS = ["mini-zion-landsat-nlcd", "mini-terramesh-s2-esri"] if SMALL else [
            "mini-zion-landsat-nlcd", "mini-terramesh-s2-esri", "mini-terramesh-s1-esri", "mini-worldcereal-s2",
            "mini-t29unu-s2-scl"]
        STEPS = 30 if SMALL else 600
        LIMIT = 12 if SMALL else None  # chips per subset
        """),
    code("""
        with local_stac() as server:
            for name in SUBSETS:
                print(build_las(load_recipe(name), LAS, stac_url=server.url, workers=0, limit=LIMIT, progress=False))
        """),
    md("""
        ## 1. The training sample

        For each chip the dataset samples the classes present in its weak label, a few *absent* classes of the
        same product ("this name is not here"), and a few classes of *other* products that are safe negatives:
        a foreign class is used only if the crosswalk shows none of its counterparts is present, so WorldCover
        "Tree cover" is never a negative on an Esri chip that has "Trees".
        """),
    code("""
        data = LASDataset(roots=[LAS], split="train", max_classes=8, negatives=3, foreign_negatives=2, seed=0)
        sample = data[0]
        pd.DataFrame({"class name": sample["classes"], "taxonomy": sample["taxonomies"],
                      "present": sample["presence"].numpy().astype(bool),
                      "pixels": sample["targets"].sum((1, 2)).numpy().astype(int)})
        """),
    md("""
        Batches group chips of one subset (same bands and size); the class lists are padded and a mask says
        which entries are real.
        """),
    code("""
        batch = collate([data[i] for i in next(iter(SubsetBatchSampler(data, batch_size=4, seed=0)))])
        {k: tuple(v.shape) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        """),
    md("""
        ## 2. The losses

        - **masks**: sigmoid focal loss per class and pixel, plus soft Dice for classes present in the chip,
          over labelled pixels only; a thin band along class boundaries is ignored and targets are smoothed by
          5 % because weak labels are least reliable at edges and on shrub/grass/bare (products agree on only
          34–57 % there).
        - **presence**: binary cross-entropy of "is this class in the chip".
        - **alignment**: a pixel-text contrastive loss that teaches the dense image-text similarity used by the
          zero-shot fusion.
        """),
    md("""
        ## 3. A short run on LAS-mini
        """),
    code("""
        config = load_config("../configs/train/tiny.yaml")
        config = replace(config, out=str(OUT), checkpoint_every=10, eval_every=max(10, STEPS // 4),
                         data=replace(config.data, roots=(str(LAS),)),
                         optim=replace(config.optim, max_steps=STEPS, warmup_steps=5))
        half = train(config, stop_at=STEPS // 2)  # as if the session ended half-way
        print(f"stopped at step {half.steps}")
        """),
    md("""
        ## 4. Resuming

        `train` finds `OUT/last` (weights, optimizer, scheduler, step, random state, all in safetensors + JSON —
        nothing is unpickled) and continues on the same schedule. The result is bit-for-bit the one of an
        uninterrupted run (the test suite checks this).
        """),
    code("""
        result = train(config)
        print(f"resumed from step {result.resumed_from}, now at {result.steps}; best validation mIoU {result.best_miou}")
        plot_history(OUT).savefig(OUT / "curves.png", dpi=90)
        Image(filename=str(OUT / "curves.png"))
        """),
    md("""
        ## 5. Predictions against the weak labels

        Each validation chip is prompted with *all* class names of its product; the map shows the most likely
        name per pixel. Agreement with the weak label is a lower bound on quality: the label itself is wrong on
        a quarter to a third of the pixels.
        """),
    code("""
        model = load_model(OUT / "best")
        val = LASDataset(roots=[LAS], split="val")
        print(count_parameters(model)["total"] / 1e6, "M parameters")

        fig, axes = plt.subplots(2, 3, figsize=(13, 8))
        for row, i in zip(axes, [0, len(val) - 1]):
            s = val[i]
            tax = get_taxonomy(s["taxonomy"])
            classes = [c for c in tax.classes if c.code != tax.nodata]
            idx = predict_chip(model, s, [c.name for c in classes], [c.description for c in classes])
            pred = np.array([c.code for c in classes])[idx.numpy()]
            bands = list(s["band_names"])
            rgb = [b for b in ("B04", "B03", "B02", "SR_B4", "SR_B3", "SR_B2") if b in bands][:3]
            img = xr.DataArray(s["image"].numpy(), dims=("band", "y", "x"), coords={"band": bands})
            if len(rgb) == 3:
                row[0].imshow(rgb_composite(img, bands=rgb))
            row[0].set_title(s["point_id"], fontsize=8)
            row[0].set_axis_off()
            plot_label(row[1], s["label"].numpy(), tax, title="weak label")
            plot_label(row[2], pred, tax, title="model (all class names as prompts)")
        fig.tight_layout()
        plt.show()
        """),
    md("""
        ## 6. On a GPU hub

        The same call runs on a GPU: `accelerate` picks the device, and `mixed_precision: bf16` in the config
        turns on mixed precision. Several GPUs or nodes: `accelerate launch -m lslib train --config
        configs/train/base.yaml` (each process takes its share of the batches). The `base` and `paper` configs
        start from SAM2.1 Hiera weights when online (`build_model(..., pretrained_backbone=True)`).
        """),
    md("""
        ## Summary

        - Training samples class *names* per chip: present, absent, and safe negatives from other products.
        - Focal + Dice, presence and pixel-text contrastive losses, with label smoothing and boundary ignoring for
          weak-label noise.
        - Checkpoints are safetensors + JSON; a stopped run resumes to the identical result.

        ### What's next

        Chapter 04 maps land cover zero-shot on an interactive map with editable class prompts.
        """),
    md("""
        ## Resources and references

        - LandSegmenter: Liu, Huang, Zhu, arXiv:2511.08156. Focal loss: Lin et al. 2017. SAM / SAM2: Kirillov et
          al. 2023, Ravi et al. 2024. DOFA: Xiong et al. 2024.
        - Data as in chapter 02: TerraMesh (CC BY-SA 4.0), Esri/IO LULC (CC BY 4.0), Landsat/NLCD (USGS, public
          domain; spDataLarge CC0), WorldCereal, Sentinel-2 T29UNU; contains modified Copernicus Sentinel data.
        """),
]

if __name__ == "__main__":
    write("03_training", CELLS)
