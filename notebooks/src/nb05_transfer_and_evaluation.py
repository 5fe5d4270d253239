"""Generate ``notebooks/05_transfer_and_evaluation.ipynb`` (outputs stripped).

PYTHONPATH=notebooks/src python notebooks/src/nb05_transfer_and_evaluation.py
"""

from __future__ import annotations

from _nb import code, md, write

CELLS = [
    md("""
        # Transfer learning and evaluation: zero-shot, fine-tuned and closed-set baselines

        How good is a land-cover map from class *names*? We measure LandSegmenter on held-out LAS-mini chips
        three ways and put it beside closed-set baselines trained on the same weak labels.
        """),
    md("""
        ## Overview

        1. The three protocols: weak-label agreement, zero-shot with another product's names, transfer
        2. Baselines: a per-pixel random forest and a closed-set CNN (fixed class heads, no text)
        3. Confusion matrices and per-class IoU
        4. Reading the numbers: weak labels disagree exactly where the model struggles
        """),
    md("""
        ## Prerequisites

        | Concepts | Importance | Notes |
        | --- | --- | --- |
        | [03 Training](03_training.ipynb) | Necessary | the model and its checkpoints |
        | IoU, overall accuracy, confusion matrix | Necessary | segmentation metrics |
        | Crosswalks between products | Helpful | chapter 01, section 3 |

        - **Time to learn**: 30 minutes
        - **System requirements**: 2 CPU cores, < 2 GB RAM; no internet
        """),
    md("""
        ## Imports
        """),
    code("""
        import os
        import subprocess
        import sys
        from dataclasses import replace
        from pathlib import Path

        import matplotlib.pyplot as plt
        import pandas as pd
        import torch
        from IPython.display import Image, display

        from lslib.data.las import build_las
        from lslib.data.las import load_recipe
        from lslib.data.local_stac import local_stac
        from lslib.model.build import load_model
        from lslib.taxonomy import get_taxonomy
        from lslib.training import baselines
        from lslib.training.config import load_config
        from lslib.training.dataset import LASDataset
        from lslib.default_model import released_dir
        from lslib.training.evaluate import evaluate_weak_agreement, evaluate_zero_shot, predict_chip
        from lslib.metrics import ConfusionMatrix
        from lslib.training.trainer import train
        """),
    md("""
        ## Parameters

        `LSLIB_SMALL=1` (set by CI) uses the short model trained in chapter 03 (or trains one for a few
        steps) and fewer baseline steps: its numbers only show that everything runs. The full run uses the
        default checkpoint (`tiny` on LAS-mini, trained once and cached).
        """),
    code("""
        SMALL = os.environ.get("LSLIB_SMALL", "0") == "1"  # small run for CI
        LAS = Path("outputs/las-mini")
        SUBSETS = ["mini-zion-landsat-nlcd", "mini-terramesh-s2-esri"]
        FT_STEPS = 6 if SMALL else 150
        CNN_STEPS = 20 if SMALL else 300
        VAL = 0.4 if SMALL else 0.2  # share of chips held out (small runs have few chips)
        """),
    code("""
        with local_stac() as server:
            for name in SUBSETS:
                build_las(load_recipe(name), LAS, stac_url=server.url, workers=0, limit=12 if SMALL else None, progress=False)

        if SMALL:
            ckpt = Path("outputs/train-notebook/best")
            if not (ckpt / "config.json").exists():
                cfg = load_config("../configs/train/tiny.yaml")
                cfg = replace(cfg, out="outputs/train-notebook", data=replace(cfg.data, roots=(str(LAS),)),
                              optim=replace(cfg.optim, max_steps=10, warmup_steps=2), eval_every=10, checkpoint_every=10)
                train(cfg, progress=False)
            CKPT = ckpt
        else:
            CKPT = released_dir()  # the released default checkpoint (inside the package)
        model = load_model(CKPT)
        val = LASDataset(roots=[LAS], subsets=SUBSETS, split="val", val_fraction=VAL)
        train_set = LASDataset(roots=[LAS], subsets=SUBSETS, split="train", val_fraction=VAL)
        print(len(train_set), "training chips,", len(val), "validation chips")
        """),
    md("""
        ## 1. Three protocols

        - **weak-label agreement**: prompt each chip with every class name of its own product and compare with
          that product's label;
        - **zero-shot**: prompt with another product's names (ESA WorldCover on the Esri-labelled TerraMesh chips);
          the reference is the Esri label crosswalked to WorldCover, scoring only classes with one counterpart;
        - **transfer**: fine-tune on the target's training chips (here: the light variant, adapter + decoder
          only), then evaluate on its held-out chips.
        """),
    code("""
        rows = []
        for s in SUBSETS:
            m = evaluate_weak_agreement(model, LASDataset(roots=[LAS], subsets=[s], split="val", val_fraction=VAL))
            rows.append({"method": "LandSegmenter", "protocol": "weak-label agreement", "data": s, "mIoU": m["miou"], "OA": m["oa"]})
        z = evaluate_zero_shot(model, LASDataset(roots=[LAS], subsets=["mini-terramesh-s2-esri"], split="val", val_fraction=VAL),
                               target_taxonomy="esa_worldcover")
        rows.append({"method": "LandSegmenter", "protocol": "zero-shot (WorldCover names)", "data": "mini-terramesh-s2-esri",
                     "mIoU": z["miou"], "OA": z["oa"]})
        print(f"zero-shot scored {100 * z['scored_fraction']:.0f} % of the labelled pixels (unambiguous classes)")
        """),
    code("""
        ft = Path("outputs/finetune-zion")
        subprocess.run([sys.executable, "-m", "lslib", "finetune", "--checkpoint", str(CKPT), "--data", str(LAS),
                        "--subsets", "mini-zion-landsat-nlcd", "--mode", "light", "--max-steps", str(FT_STEPS),
                        "--out", str(ft), "-q"], check=True)
        zion_val = LASDataset(roots=[LAS], subsets=["mini-zion-landsat-nlcd"], split="val", val_fraction=VAL)
        m = evaluate_weak_agreement(load_model(ft / "best"), zion_val)
        rows.append({"method": "LandSegmenter + light fine-tune", "protocol": "transfer", "data": "mini-zion-landsat-nlcd",
                     "mIoU": m["miou"], "OA": m["oa"]})
        """),
    md("""
        ## 2. Closed-set baselines on the same weak labels

        A per-pixel random forest on the bands (plus NDVI/NDWI) and a small CNN with a fixed class head, one per
        product. In zero-shot they can only answer in their own classes, mapped to the target through the
        crosswalk.
        """),
    code("""
        for name, cls in [("random forest", baselines.PixelForest), ("closed-set CNN", baselines.ClosedSetNet)]:
            for s in SUBSETS:
                b = cls()
                b.fit(train_set, subset=s, **({"steps": CNN_STEPS} if cls is baselines.ClosedSetNet else {}))
                m = baselines.evaluate_baseline(b, val, subset=s)
                rows.append({"method": name, "protocol": "weak-label agreement", "data": s, "mIoU": m["miou"], "OA": m["oa"]})
                if s == "mini-terramesh-s2-esri":
                    m = baselines.evaluate_baseline(b, val, subset=s, target_taxonomy="esa_worldcover")
                    rows.append({"method": name, "protocol": "zero-shot via crosswalk", "data": s, "mIoU": m["miou"], "OA": m["oa"]})
        table = pd.DataFrame(rows)
        table.round(3)
        """),
    md("""
        ## 3. Confusion matrix and per-class IoU (Zion, NLCD names)
        """),
    code("""
        tax = get_taxonomy("nlcd")
        classes = [c for c in tax.classes if c.code != tax.nodata]
        cm = ConfusionMatrix([c.code for c in classes])
        for i in range(len(zion_val)):
            s = zion_val[i]
            idx = predict_chip(model, s, [c.name for c in classes], [c.description for c in classes])
            cm.update(torch.tensor([c.code for c in classes])[idx], s["label"], s["valid"])
        names = {c.code: c.name for c in classes}
        fig = cm.plot(names=names, normalize="true")
        fig.savefig("outputs/confusion-zion.png", dpi=80, bbox_inches="tight")
        display(Image(filename="outputs/confusion-zion.png"))
        cm.to_frame(names).round(3)
        """),
    md("""
        ## 4. Reading the numbers

        - Agreement with a weak label is bounded by the label's own accuracy (65–75 % for the global products):
          a perfect model cannot reach 100 %.
        - The products disagree most on shrub, grass, bare ground and wetlands; the confusion matrix shows the
          model's errors concentrate in the same rows.
        - Closed-set baselines are strong on their own product and weak elsewhere: they can only answer in
          their training classes. The text prompter lets the same weights answer in any product's names.
        - LAS-mini is tiny (about a hundred chips from a handful of places): these numbers show the method and
          the harness, not the paper's results. Point `lslib evaluate` at a full LAS build, and
          `lslib.training.eval_datasets` at LoveDA, OpenEarthMap, Chesapeake or DFC2020 downloads, for real benchmarks.
        """),
    md("""
        ## Summary

        - Three protocols (weak-label agreement, zero-shot, transfer) on held-out chips, with streaming
          confusion matrices and per-class IoU.
        - Closed-set baselines trained on the same weak labels, mapped through the crosswalk for zero-shot.

        ### What's next

        [06 Teach the map](06_teach_the_map.ipynb): when a zero-shot map is wrong and no wording fixes it,
        correct it with a few labelled clicks instead of a fine-tune.
        """),
    md("""
        ## Resources and references

        - Venter et al. 2022, *Global 10 m Land Use Land Cover Datasets: A Comparison of Dynamic World, World
          Cover and Esri Land Cover*, Remote Sensing 14(16). LandSegmenter: arXiv:2511.08156.
        - Data: Landsat 8 (USGS) and NLCD 2011 (MRLC/USGS), public domain, via spDataLarge (CC0); TerraMesh
          (CC BY-SA 4.0) with Esri/IO LULC (CC BY 4.0); contains modified Copernicus Sentinel data.
        """),
]

if __name__ == "__main__":
    write("05_transfer_and_evaluation", CELLS)
