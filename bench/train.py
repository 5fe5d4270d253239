"""Benchmark training and the evaluation protocols on LAS-mini (CPU, 2 threads; a GPU when present).

1. Training throughput per variant: steps/s and chips/s (batch 4, 128 px LAS-mini chips) and peak
   RSS, each variant in its own process.
2. Time to the default model: loading the released checkpoint in a fresh process (target <= 5 s: nothing is
   trained); with ``--retrain-default`` also LAS-mini + ``configs/train/tiny.yaml`` from scratch (the
   released recipe, about 25 minutes on 2 free cores) and its validation agreement with the weak labels.
3. The evaluation table on the validation chips: LandSegmenter (weak-label agreement, zero-shot with
   ESA WorldCover names, transfer = light fine-tuning on Zion/NLCD) beside the closed-set baselines
   trained on the same weak labels (per-pixel random forest, small CNN), written as CSV + markdown.

    LSLIB_DATA_MIRROR=../shared/data .venv/bin/python bench/train.py [--retrain-default] [--out outputs/bench-train]
        [--quick] [--json PATH]

``--quick``: tiny throughput only (10 steps), evaluation on one subset
(TerraMesh S2 / Esri) without the transfer run. ``--json``: the benchmark contract (``bench/_contract.py``)
plus ``baselines``: LandSegmenter beside each closed-set baseline on the same data and protocol.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _contract import target, write_json

os.environ.setdefault("LSLIB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

THROUGHPUT = r"""
import json, resource, sys, time
from dataclasses import replace
import torch
from lslib.training.config import TrainConfig, DataConfig, OptimConfig
from lslib.training.trainer import train
torch.set_num_threads(2)
variant, steps, las, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
cfg = TrainConfig(variant=variant, out=out, checkpoint_every=10**9, eval_every=10**9,
                  data=DataConfig(roots=(las,), batch_size=4), optim=OptimConfig(max_steps=steps + 2, warmup_steps=1))
train(replace(cfg), progress=False, stop_at=2)  # warm-up: imports, text encoder, first batches
t0 = time.perf_counter()
r = train(cfg, progress=False)
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"variant": variant, "steps": steps, "seconds": dt, "steps_per_s": steps / dt,
                  "chips_per_s": 4 * steps / dt, "peak_rss_mb": peak}))
"""


def throughput(las: Path, variants: dict[str, int]) -> list[dict[str, float]]:
    rows = []
    for variant, steps in variants.items():
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                [sys.executable, "-c", THROUGHPUT, variant, str(steps), str(las), tmp], capture_output=True, text=True
            )
        if proc.returncode:
            print(f"{variant}: failed\n{proc.stderr[-1500:]}", file=sys.stderr)
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


def load_default_seconds() -> float:
    """Seconds for ``default_model()`` in a fresh process (the released checkpoint; imports excluded)."""
    code = ("import time; from lslib.default_model import default_model; t = time.perf_counter(); "
            "default_model(progress=False); print(time.perf_counter() - t)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def time_to_default(workdir: Path) -> dict[str, float]:
    """Build LAS-mini and train the default recipe from scratch into ``workdir``."""
    from dataclasses import replace

    from lslib.default_model import build_las_mini
    from lslib.training.config import load_config
    from lslib.training.trainer import train

    t0 = time.perf_counter()
    build_las_mini(workdir / "las-mini", progress=False)
    t_las = time.perf_counter() - t0
    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "train" / "tiny.yaml")
    cfg = replace(cfg, out=str(workdir / "model"), data=replace(cfg.data, roots=(str(workdir / "las-mini"),)))
    result = train(cfg, progress=False)
    return {
        "las_seconds": t_las,
        "train_seconds": result.seconds,
        "total_seconds": time.perf_counter() - t0,
        "val_miou": float(result.best_miou or float("nan")),
        "steps": result.steps,
    }


def evaluation_table(las: Path, checkpoint: Path, out: Path, quick: bool = False) -> list[dict[str, object]]:
    from lslib.model.build import load_model
    from lslib.training.dataset import LASDataset
    from lslib.training.evaluate import evaluate_weak_agreement, evaluate_zero_shot

    rows: list[dict[str, object]] = []
    model = load_model(checkpoint)
    subsets = ["mini-zion-landsat-nlcd", "mini-terramesh-s2-esri", "mini-t29unu-s2-scl"]
    if quick:
        subsets = ["mini-terramesh-s2-esri"]
    for s in subsets:
        val = LASDataset(roots=[las], subsets=[s], split="val")
        m = evaluate_weak_agreement(model, val)
        rows.append(
            {
                "method": "LandSegmenter tiny",
                "protocol": "weak-label agreement",
                "data": s,
                "miou": m["miou"],
                "oa": m["oa"],
                "chips": m["chips"],
            }
        )
    val = LASDataset(roots=[las], subsets=["mini-terramesh-s2-esri"], split="val")
    z = evaluate_zero_shot(model, val, target_taxonomy="esa_worldcover")
    rows.append(
        {
            "method": "LandSegmenter tiny",
            "protocol": "zero-shot (WorldCover names)",
            "data": "mini-terramesh-s2-esri",
            "miou": z["miou"],
            "oa": z["oa"],
            "chips": z["chips"],
        }
    )
    if not quick:
        rows.append(transfer_row(las, checkpoint, out))
    return rows + baseline_rows(las, subsets)


def transfer_row(las: Path, checkpoint: Path, out: Path) -> dict[str, object]:
    """Transfer: light fine-tuning on Zion/NLCD train chips, evaluated on its val chips."""
    from lslib.model.build import load_model
    from lslib.training.dataset import LASDataset
    from lslib.training.evaluate import evaluate_weak_agreement

    ft_out = out / "finetune-zion"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "lslib",
            "finetune",
            "--checkpoint",
            str(checkpoint),
            "--data",
            str(las),
            "--subsets",
            "mini-zion-landsat-nlcd",
            "--mode",
            "light",
            "--max-steps",
            "150",
            "--out",
            str(ft_out),
            "-q",
        ],
        check=True,
        capture_output=True,
    )
    m = evaluate_weak_agreement(
        load_model(ft_out / "best"), LASDataset(roots=[las], subsets=["mini-zion-landsat-nlcd"], split="val")
    )
    return {
        "method": "LandSegmenter tiny + light fine-tune",
        "protocol": "transfer",
        "data": "mini-zion-landsat-nlcd",
        "miou": m["miou"],
        "oa": m["oa"],
        "chips": m["chips"],
    }


def baseline_rows(las: Path, subsets: list[str]) -> list[dict[str, object]]:
    """The closed-set baselines trained on the same weak labels, scored like LandSegmenter."""
    from lslib.training import baselines
    from lslib.training.dataset import LASDataset

    rows: list[dict[str, object]] = []
    train_all = LASDataset(roots=[las], split="train")
    val_all = LASDataset(roots=[las], split="val")
    for name, cls in [("random forest (pixels)", baselines.PixelForest), ("closed-set CNN", baselines.ClosedSetNet)]:
        for s in subsets:
            model_b = cls()
            model_b.fit(train_all, subset=s)
            m = baselines.evaluate_baseline(model_b, val_all, subset=s)
            rows.append(
                {
                    "method": name,
                    "protocol": "weak-label agreement",
                    "data": s,
                    "miou": m["miou"],
                    "oa": m["oa"],
                    "chips": m.get("chips", ""),
                }
            )
        model_b = cls()
        model_b.fit(train_all, subset="mini-terramesh-s2-esri")
        m = baselines.evaluate_baseline(
            model_b, val_all, subset="mini-terramesh-s2-esri", target_taxonomy="esa_worldcover"
        )
        rows.append(
            {
                "method": name,
                "protocol": "zero-shot via crosswalk (WorldCover)",
                "data": "mini-terramesh-s2-esri",
                "miou": m["miou"],
                "oa": m["oa"],
                "chips": m.get("chips", ""),
            }
        )
    return rows


def comparisons(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """LandSegmenter beside each baseline on the same data and protocol family (weak-label / zero-shot)."""
    def family(protocol: object) -> str:
        return "zero-shot" if str(protocol).startswith("zero-shot") else str(protocol)

    ours = {(family(r["protocol"]), r["data"]): r for r in rows if str(r["method"]) == "LandSegmenter tiny"}
    out: list[dict[str, object]] = []
    for r in rows:
        mine = ours.get((family(r["protocol"]), r["data"]))
        if mine is None or not str(r["method"]).startswith(("random forest", "closed-set")):
            continue
        out.append({"metric": f"mIoU, {family(r['protocol'])}, {r['data']}", "method": "LandSegmenter tiny",
                    "value": float(mine["miou"]), "baseline": str(r["method"]), "baseline_value": float(r["miou"]),
                    "higher_is_better": True})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--retrain-default", action="store_true",
                    help="also time retraining the released checkpoint from nothing (~25 min on 2 cores)")
    ap.add_argument("--out", type=Path, default=Path("outputs/bench-train"))
    ap.add_argument("--quick", action="store_true", help="tiny throughput, one-subset evaluation, no retraining")
    ap.add_argument("--json", default=None, help="also write the results as JSON (benchmark contract)")
    args = ap.parse_args()
    from lslib.default_model import ensure_las_mini, released_dir

    args.out.mkdir(parents=True, exist_ok=True)
    las, ckpt = ensure_las_mini(progress=False), released_dir()
    tables: list[dict[str, object]] = []
    targets: list[dict[str, object]] = []

    print("## Training throughput (batch 4)\n\n| variant | steps | seconds | steps/s | chips/s | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    thr = throughput(las, {"tiny": 10} if args.quick else {"tiny": 40, "base": 6})
    for r in thr:
        print(
            f"| {r['variant']} | {r['steps']} | {r['seconds']:.1f} | {r['steps_per_s']:.2f} | {r['chips_per_s']:.1f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    tables.append({"caption": "Training throughput (batch 4, 128 px LAS-mini chips)",
                   "rows": [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()} for r in thr]})
    load_s = load_default_seconds()
    print(f"\n## Time to the default model\n\nreleased checkpoint loaded in {load_s:.2f} s (target <= 5 s)")
    tables.append({"caption": "Time to the default model (released checkpoint, fresh process)",
                   "rows": [{"load_seconds": round(load_s, 3)}]})
    targets.append(target("time to the default model (released checkpoint)", "<= 5 s", load_s, "s", load_s <= 5))
    if args.retrain_default and not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            d = time_to_default(Path(tmp))
        flag = "reported"
        print(
            "\n## Time to the default checkpoint (from nothing)\n\n| LAS-mini build (s) | training (s) | total (s) | "
            "target | steps | val weak-label mIoU |\n|---:|---:|---:|---|---:|---:|"
        )
        print(
            f"| {d['las_seconds']:.0f} | {d['train_seconds']:.0f} | {d['total_seconds']:.0f} | ({flag}) | "
            f"{d['steps']} | {d['val_miou']:.3f} |"
        )
        tables.append({"caption": "Retraining the released checkpoint from nothing (LAS-mini + training)",
                       "rows": [{k: round(v, 3) for k, v in d.items()}]})
    rows = evaluation_table(las, ckpt, args.out, quick=args.quick)
    import csv

    with (args.out / "evaluation.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = ["| method | protocol | data | mIoU | OA | chips |", "|---|---|---|---:|---:|---:|"]
    lines += [
        f"| {r['method']} | {r['protocol']} | {r['data']} | {float(r['miou']):.3f} | {float(r['oa']):.3f} | "
        f"{r['chips']} |"
        for r in rows
    ]
    (args.out / "evaluation.md").write_text("\n".join(lines) + "\n")
    print("\n## Evaluation on LAS-mini validation chips\n\n" + "\n".join(lines))
    tables.append({"caption": "Evaluation on LAS-mini validation chips (closed-set baselines on the same weak labels)",
                   "rows": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]})
    write_json(args.json, "Training and evaluation on LAS-mini", tables, targets, baselines=comparisons(rows))


if __name__ == "__main__":
    main()
