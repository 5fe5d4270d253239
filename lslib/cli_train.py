"""``lslib train`` and ``lslib evaluate``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _cmd_train(args: argparse.Namespace) -> int:
    from lslib.training.config import load_config
    from lslib.training.trainer import train

    config = load_config(args.config, **{"optim.max_steps": args.max_steps, "out": args.out, "data.roots": args.data})
    result = train(config, resume=not args.no_resume, progress=not args.quiet)
    best = "n/a" if result.best_miou is None else f"{result.best_miou:.3f}"
    print(
        f"trained {config.variant} to step {result.steps} (resumed from {result.resumed_from}) in "
        f"{result.seconds:.0f} s; last loss {result.last_loss}; best val mIoU {best}"
    )
    print(
        f"checkpoints: {result.out / 'best'} (best), {result.out / 'last'} (resume); log: {result.out / 'metrics.csv'}"
    )
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from lslib.model.build import load_model
    from lslib.training.dataset import LASDataset
    from lslib.training.evaluate import evaluate_weak_agreement

    model = load_model(args.checkpoint)
    data = LASDataset(roots=[Path(p) for p in args.data], split=args.split, val_fraction=args.val_fraction)
    metrics = evaluate_weak_agreement(model, data, limit=args.limit)
    print(json.dumps(metrics, indent=1))
    if args.out:
        from lslib.atomic import write_text

        write_text(args.out, json.dumps(metrics, indent=1))
    return 0


def add_train_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train LandSegmenter on LAS chips (resumes from <out>/last)")
    p.add_argument("--config", required=True, help="YAML config, e.g. configs/train/tiny.yaml")
    p.add_argument("--max-steps", type=int, default=None, help="override optim.max_steps")
    p.add_argument("--out", default=None, help="override the output folder")
    p.add_argument("--data", nargs="+", default=None, help="override data.roots (LAS build folders)")
    p.add_argument("--no-resume", action="store_true", help="ignore <out>/last and start from scratch")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="weak-label agreement of a checkpoint on LAS chips (mIoU, OA, IoU)")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder (config.json + model.safetensors)")
    p.add_argument("--data", nargs="+", required=True, help="LAS build folders")
    p.add_argument("--split", default="val", choices=["train", "val", "all"])
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--limit", type=int, default=None, help="evaluate at most N chips")
    p.add_argument("--out", default=None, help="also write the metrics JSON here")
    p.set_defaults(func=_cmd_evaluate)
