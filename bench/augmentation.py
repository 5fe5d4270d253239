"""Augmentation ablation (issue 12 §2): which augmentation families make the recipe generalise.

The recipe (``configs/train/tiny.yaml``) is trained with a short schedule (``--steps``, same seed) in
variants: all augmentations on; each family off in turn (geometric, scale_jitter, radiometric,
spectral_views, prompt_synonyms, balanced_sampling); all off (``augment.enabled: false``). Each model is
scored on the held-out validation views of ``bench/generalization.py`` (split 2: Landsat/NLCD with
WorldCover and Esri names; TerraMesh S2 as RGB, RGBN, 30 m and 8-bit display, each with both vocabularies;
the native 12-band view as a control, not in the mean), with the same zero-shot protocol and fusion.
Reported per variant: mean mIoU over the views, each view's mIoU and the validation weak-label
agreement the trainer measured. Runs are cached under ``--work`` (a folder per variant, step count and
config hash): a rerun reuses finished runs and resumes killed ones.

    LSLIB_DATA_MIRROR=../shared/data .venv/bin/python bench/augmentation.py [--steps 300] [--las DIR]
        [--work DIR] [--out DIR] [--variants all-on all-off ...] [--quick] [--json PATH]

``--quick``: 20 steps per variant.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _contract import target, write_json
from generalization import (
    REPO,
    common_args,
    log,
    markdown,
    recipe,
    resolve_las,
    score_models,
    train_cached,
    validation_cases,
)

FAMILIES = ("geometric", "scale_jitter", "radiometric", "spectral_views", "prompt_synonyms", "balanced_sampling")
#: variant name -> config overrides (``section.key``: value)
VARIANTS: dict[str, dict[str, Any]] = {
    "all-on": {"augment.enabled": True, **{f"augment.{f}": True for f in FAMILIES}},
    **{f"no-{f}": {"augment.enabled": True, **{f"augment.{g}": g != f for g in FAMILIES}} for f in FAMILIES},
    "all-off": {"augment.enabled": False},
}


def val_miou(best: Path) -> float:
    """The validation weak-label mIoU stored with a checkpoint (NaN when none)."""
    try:
        meta = json.loads((best / "config.json").read_text(encoding="utf-8")).get("metadata", {})
        value = meta.get("val_miou")
        return float(value) if value is not None else math.nan
    except (OSError, ValueError):
        return math.nan


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=None, help="training steps per variant (300; quick 20)")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    common_args(ap)
    args = ap.parse_args(argv)
    import torch

    from lslib.model.build import load_model

    torch.set_num_threads(int(os.environ.get("LSLIB_BENCH_THREADS", "2")))
    t0 = time.perf_counter()
    steps = args.steps or (20 if args.quick else 300)
    out = args.out or REPO / "outputs" / "bench-augmentation" / ("quick" if args.quick else "full")
    work = args.work or REPO / "outputs" / "bench-augmentation" / "models"
    fusion = None if str(args.fusion).lower() == "none" else args.fusion
    implemented = importlib.util.find_spec("lslib.training.augment") is not None
    if not implemented:
        log("lslib.training.augment is missing: every variant trains the same (unaugmented) recipe")
    las = resolve_las(args.las)

    models: dict[str, Any] = {}
    info: dict[str, dict[str, Any]] = {}
    for name in args.variants:
        config = recipe(las, steps, **VARIANTS[name])
        best, trained = train_cached(config, work, f"aug-{name}")
        models[name] = load_model(best)
        info[name] = {"train_seconds": round(trained, 1), "val": val_miou(best),
                      "seed": config.seed, "val_fraction": config.data.val_fraction}
    seeds = {(v["seed"], v["val_fraction"]) for v in info.values()}
    if len(seeds) != 1:
        raise SystemExit(f"variants disagree on the validation split {sorted(seeds)}")
    seed, vf = seeds.pop()

    per_view: dict[str, dict[str, float]] = {name: {} for name in models}
    counted: list[str] = []
    for case in validation_cases(las, seed, vf):
        if not case.samples:
            continue
        label = case.name + (" (control)" if case.control else "")
        if not case.control:
            counted.append(label)
        for name, (miou, _) in score_models(case, models, fusion).items():
            per_view[name][label] = miou
        log(f"{label}: " + ", ".join(f"{n} {per_view[n][label]:.3f}" for n in models))

    rows = []
    for name in models:
        views = per_view[name]
        mean = sum(views[v] for v in counted) / len(counted) if counted else math.nan
        rows.append({"variant": name, "steps": steps, "mean mIoU (views)": round(mean, 4),
                     "val weak-label mIoU": round(info[name]["val"], 4),
                     **{v: round(m, 4) for v, m in views.items()},
                     "train seconds (0: reused)": info[name]["train_seconds"]})
    by = {r["variant"]: r for r in rows}
    targets, baselines = [], []
    if "all-on" in by and "all-off" in by:
        on, off = by["all-on"]["mean mIoU (views)"], by["all-off"]["mean mIoU (views)"]
        targets.append(target("augmentations on vs off: mean mIoU over the held-out views", "on > off",
                              on - off, "mIoU difference", on > off))
        baselines.append({"metric": "mean mIoU over the held-out views", "method": "all augmentations",
                          "value": on, "baseline": "no augmentation", "baseline_value": off,
                          "higher_is_better": True})
        for r in rows:
            r["vs all-on"] = round(r["mean mIoU (views)"] - on, 4)
    seconds = time.perf_counter() - t0
    note = "" if implemented else " (lslib.training.augment missing: variants identical)"
    tables = [
        {"caption": f"Augmentation ablation: {steps} steps per variant, seed {seed}; mIoU on the validation views "
                    f"(controls not in the mean; fusion {fusion}){note}", "rows": rows},
        {"caption": "Wall time", "rows": [{"seconds": round(seconds, 1), "quick": args.quick}]},
    ]
    out.mkdir(parents=True, exist_ok=True)
    text = "\n\n".join(f"## {t['caption']}\n\n{markdown(t['rows'])}" for t in tables)
    (out / "augmentation.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    for t in targets:
        print(f"target {t['metric']}: {t['target']}, measured {t['measured']:.4f} -> {'met' if t['met'] else 'MISSED'}")
    write_json(args.json, "Augmentation ablation (short schedule, held-out views)", tables, targets,
               baselines=baselines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
