"""Fusion ablation on the zero-shot protocol: which way of combining decoder masks and dense image-text
similarity maps LAS-mini chips best when prompted with *another* product's class names.

For each (subset, target vocabulary) pair the reference is the chip's weak label crosswalked into the
target codes (ambiguous classes left out, as in ``lslib evaluate --protocol zero-shot``), and each
fusion mode of :func:`lslib.fusion.fuse` (plus the plain mask argmax) is scored with mIoU and OA.
The model is the default checkpoint (trained on first use). All chips of each subset are used
(``--split all``, the validation split alone has 1-8 chips per subset).

    .venv/bin/python bench/fusion.py [--split all|val] [--json out.json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

PAIRS = [
    ("mini-terramesh-s2-esri", "esa_worldcover"),
    ("mini-terramesh-s2-esri", "dynamic_world"),
    ("mini-zion-landsat-nlcd", "esa_worldcover"),
    ("mini-zion-landsat-nlcd", "dynamic_world"),
    ("mini-terramesh-s1-esri", "esa_worldcover"),
]
MODES = ["none", "decoder", "similarity", "classwise", "global"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="all", choices=["all", "val", "train"])
    ap.add_argument("--json", default=None, help="also write the results as JSON (bench contract)")
    ap.add_argument("--quick", action="store_true", help="at most 4 chips per pair")
    args = ap.parse_args(argv)

    import torch

    from lslib.default_model import default_model, ensure_las_mini
    from lslib.training.dataset import LASDataset
    from lslib.training.evaluate import DEFAULT_FUSION, evaluate_zero_shot

    torch.set_num_threads(2)
    model = default_model(progress=False)
    las = ensure_las_mini(progress=False)
    rows: list[dict[str, object]] = []
    for subset, target in PAIRS:
        ds = LASDataset(roots=[las], subsets=[subset], split=args.split)
        for mode in MODES:
            r = evaluate_zero_shot(model, ds, target_taxonomy=target, fusion=None if mode == "none" else mode,
                                   limit=4 if args.quick else None)
            rows.append({"subset": subset, "target": target, "chips": r["chips"], "fusion": mode,
                         "mIoU": round(r["miou"], 3), "OA": round(r["oa"], 3)})
            print(f"{subset:24s} {target:15s} {mode:10s} mIoU {r['miou']:.3f} OA {r['oa']:.3f}", file=sys.stderr)
    means = []
    for mode in MODES:
        sel = [r for r in rows if r["fusion"] == mode]
        means.append({"fusion": mode, "mean mIoU": round(sum(float(r["mIoU"]) for r in sel) / len(sel), 3),  # type: ignore[arg-type]
                      "mean OA": round(sum(float(r["OA"]) for r in sel) / len(sel), 3)})  # type: ignore[arg-type]
    best = max(means, key=lambda m: float(m["mean mIoU"]) + float(m["mean OA"]))  # type: ignore[arg-type]
    print("| subset | target names | chips | fusion | mIoU | OA |\n|---|---|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['subset']} | {r['target']} | {r['chips']} | {r['fusion']} | {r['mIoU']:.3f} | {r['OA']:.3f} |")
    print("\n| fusion | mean mIoU | mean OA |\n|---|---:|---:|")
    for m in means:
        print(f"| {m['fusion']} | {m['mean mIoU']:.3f} | {m['mean OA']:.3f} |")
    print(f"\nbest by mean (mIoU + OA): {best['fusion']}; library default: {DEFAULT_FUSION}")
    if args.json:
        from lslib.atomic import write_text

        default = next(m for m in means if m["fusion"] == DEFAULT_FUSION)
        doc = {
            "title": "Fusion ablation (zero-shot protocol, default checkpoint)",
            "machine": platform.platform(),
            "tables": [{"caption": "per pair", "rows": rows}, {"caption": "mean over pairs", "rows": means}],
            "targets": [{"metric": f"default fusion ({DEFAULT_FUSION}) is the best mode by mean mIoU + OA",
                         "target": f"best = {DEFAULT_FUSION}", "measured": float(default["mean mIoU"]),  # type: ignore[arg-type]
                         "unit": "mean mIoU", "met": best["fusion"] == DEFAULT_FUSION}],
        }
        write_text(Path(args.json), json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
