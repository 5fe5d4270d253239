"""``lslib train`` and ``lslib evaluate``."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from lslib.cli.args import fraction, learning_rate, positive_int
from lslib.fusion import DEFAULT_MODE, DEFAULT_OFFICIAL_THR, MODES
from lslib.model.clip_knowledge import REDUCTIONS


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


def _cmd_finetune(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from lslib.model.build import load_model
    from lslib.training.config import TrainConfig, load_config
    from lslib.training.trainer import train

    variant = load_model(args.checkpoint).config.variant
    base = load_config(args.config) if args.config else TrainConfig(variant=variant)
    config = replace(
        base,
        variant=variant,
        init_checkpoint=str(args.checkpoint),
        out=args.out,
        data=replace(base.data, roots=tuple(args.data), subsets=tuple(args.subsets) if args.subsets else None),
        optim=replace(
            base.optim,
            max_steps=args.max_steps,
            lr=args.lr,
            warmup_steps=min(20, args.max_steps // 10),
            trainable="decoder_adapter" if args.mode == "light" else "all",
        ),
        checkpoint_every=max(1, min(base.checkpoint_every, args.max_steps)),
        eval_every=max(1, min(base.eval_every, args.max_steps)),
    )
    result = train(config, resume=not args.no_resume, progress=not args.quiet)
    best = "n/a" if result.best_miou is None else f"{result.best_miou:.3f}"
    print(
        f"fine-tuned ({args.mode}) {variant} for {result.steps} steps in {result.seconds:.0f} s; best val mIoU {best}; "
        f"checkpoint {result.out / 'best'}"
    )
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from lslib.model.build import load_model
    from lslib.training.dataset import LASDataset
    from lslib.training.evaluate import evaluate_weak_agreement, evaluate_zero_shot

    model = load_model(args.checkpoint)
    data = LASDataset(
        roots=[Path(p) for p in args.data], subsets=args.subsets, split=args.split, val_fraction=args.val_fraction
    )
    if args.protocol == "zero-shot":
        if not args.target_taxonomy:
            raise ValueError("--protocol zero-shot needs --target-taxonomy (e.g. esa_worldcover)")
        fusion = None if args.fusion == "none" else args.fusion
        metrics = evaluate_zero_shot(model, data, target_taxonomy=args.target_taxonomy, limit=args.limit, fusion=fusion,
                                     thr=args.thr, reduction=args.phrases)
    else:
        metrics = evaluate_weak_agreement(model, data, limit=args.limit)
    if not metrics.get("chips"):
        why = "" if args.protocol == "weak" else f"; zero-shot scores only labels with a {args.target_taxonomy} class"
        raise ValueError(
            f"no chip was scored (the {args.split} split has {len(data)} chips in {', '.join(args.data)}{why}): "
            "nothing written. Check --data, --subsets, --split and --val-fraction."
        )
    text = json.dumps(_json_safe(metrics), indent=1, allow_nan=False)
    print(text)
    if args.out:
        from lslib.atomic import write_text

        write_text(args.out, text)
    return 0


def _json_safe(value: Any) -> Any:
    """``value`` with NaN/inf floats as None (null): a metric that is undefined, and the file stays valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def add_train_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``lslib train``, ``lslib finetune`` and ``lslib evaluate`` commands to ``sub``."""
    p = sub.add_parser("train", help="train LandSegmenter on LAS chips (resumes from <out>/last)")
    p.add_argument("--config", required=True, help="YAML config, e.g. configs/train/tiny.yaml")
    p.add_argument("--max-steps", type=positive_int, default=None, help="override optim.max_steps")
    p.add_argument("--out", default=None, help="override the output folder")
    p.add_argument("--data", nargs="+", default=None, help="override data.roots (LAS build folders)")
    p.add_argument("--no-resume", action="store_true", help="ignore <out>/last and start from scratch")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("finetune", help="transfer: fine-tune a checkpoint on a labelled dataset (LAS layout)")
    p.add_argument("--checkpoint", required=True, help="the checkpoint to start from")
    p.add_argument("--data", nargs="+", required=True, help="folders with chips of the target dataset")
    p.add_argument("--subsets", nargs="+", default=None, help="which subsets of those folders")
    p.add_argument("--mode", default="full", choices=["full", "light"], help="light: adapter + decoder only")
    p.add_argument("--max-steps", type=positive_int, default=300)
    p.add_argument("--lr", type=learning_rate, default=3e-4)
    p.add_argument("--config", default=None, help="YAML for the other settings (default: built-in)")
    p.add_argument("--out", required=True, help="output folder (resumes from <out>/last)")
    p.add_argument("--no-resume", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_finetune)

    p = sub.add_parser("evaluate", help="weak-label agreement of a checkpoint on LAS chips (mIoU, OA, IoU)")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder (config.json + model.safetensors)")
    p.add_argument("--data", nargs="+", required=True, help="LAS build folders")
    p.add_argument("--subsets", nargs="+", default=None, help="LAS subsets (default: all in the folders)")
    p.add_argument(
        "--protocol",
        default="weak",
        choices=["weak", "zero-shot"],
        help="weak: agreement with each chip's own product; zero-shot: another product's names",
    )
    p.add_argument("--target-taxonomy", default=None, help="zero-shot vocabulary, e.g. esa_worldcover")
    p.add_argument(
        "--fusion",
        default=DEFAULT_MODE,
        choices=[*MODES, "none"],
        help=f"zero-shot: how decoder masks and dense similarity are combined (docs/fusion.md; default {DEFAULT_MODE}, "
        "as lslib predict; official = the authors' class-wise gating; none = mask argmax)",
    )
    p.add_argument("--thr", type=fraction, default=DEFAULT_OFFICIAL_THR,
                   help="threshold of --fusion official on each class's maximum probability "
                   f"(default {DEFAULT_OFFICIAL_THR})")
    p.add_argument("--phrases", default=None, choices=list(REDUCTIONS),
                   help="zero-shot: knowledge over each class's name and synonyms, reduced by max (ProxyCLIP) or mean "
                   "of embeddings (default: the decoder's own similarity)")
    p.add_argument("--split", default="val", choices=["train", "val", "all"])
    p.add_argument("--val-fraction", type=fraction, default=0.2, help="share of chips held out (default 0.2)")
    p.add_argument("--limit", type=positive_int, default=None, help="evaluate at most N chips")
    p.add_argument("--out", default=None, help="also write the metrics JSON here")
    p.set_defaults(func=_cmd_evaluate)
