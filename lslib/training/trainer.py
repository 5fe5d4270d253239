"""Training on LAS: mixed taxonomies, class names as prompts, negatives, resumable, through accelerate.

One step: a batch of chips from one subset (same bands and size); per chip the sampled class names
(present classes + absent ones of its own taxonomy + safe negatives from other taxonomies) are
encoded by the frozen text encoder (cached), the model predicts a mask and a presence score per
name plus the dense image-text similarity, and the loss is focal + Dice on the masks, BCE on
presence and a pixel-text contrastive term (:mod:`lslib.training.losses`).

Devices through ``accelerate``: CPU by default, a GPU when present (mixed precision from the
config), several GPUs / nodes with ``accelerate launch -m lslib train ...`` (DDP; each process
takes every ``world_size``-th batch). State (weights, optimizer, scheduler, step, RNG) is saved every
``checkpoint_every`` steps to ``<out>/last`` and restored automatically, so a killed run resumes to
the same result; the best validation mIoU goes to ``<out>/best``; metrics to ``<out>/metrics.csv``.
"""

from __future__ import annotations

import csv
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lslib.training.config import TrainConfig


@dataclass
class TrainResult:
    """What a training run did: output folder, steps, best validation mIoU, last loss and history."""

    out: Path
    steps: int
    best_miou: float | None
    last_loss: float | None
    seconds: float
    resumed_from: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's global and torch's random generators with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (the legacy global RNG, for user code in the loop)
    torch.manual_seed(seed)


def _lr_lambda(warmup: int, total: int) -> Any:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return f


def encode_batch_text(model: Any, batch: dict[str, Any], device: torch.device) -> torch.Tensor:
    """Per-sample class names -> ``(B, Kmax, text_dim)`` text embeddings (zeros on padding)."""
    b, kmax = batch["class_mask"].shape
    text = torch.zeros(b, kmax, model.config.text_dim, device=device)
    for i, (names, descs) in enumerate(zip(batch["classes"], batch["descriptions"], strict=True)):
        if names:
            text[i, : len(names)] = model.encode_prompts(names, descriptions=descs).to(device)
    return text


class _CsvLog:
    """Append-only CSV of metrics; rows past ``keep_until`` are dropped on resume (a killed run's tail)."""

    def __init__(self, path: Path, keep_until: int) -> None:
        self.path = path
        rows = []
        if path.exists() and keep_until > 0:
            with path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= keep_until]
        self.rows: list[dict[str, Any]] = rows
        self._write_all()

    def _write_all(self) -> None:
        from lslib.atomic import atomic_path

        keys = sorted({k for r in self.rows for k in r}, key=lambda k: (k != "step", k))
        with atomic_path(self.path) as tmp, tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys or ["step"])
            w.writeheader()
            w.writerows(self.rows)

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self._write_all()


def _initial_model(config: TrainConfig) -> Any:
    """The model a run starts from: ``init_checkpoint`` if set, else a new ``variant`` (backbone frozen if asked).

    Raises:
        ValueError: ``init_checkpoint`` holds another variant than the config trains.
    """
    from lslib.model.build import build_model, load_model

    model = (
        load_model(config.init_checkpoint)
        if config.init_checkpoint
        else build_model(config.variant, pretrained_backbone=config.pretrained_backbone)
    )
    if model.config.variant != config.variant:
        raise ValueError(
            f"init_checkpoint is a {model.config.variant!r} model but the config trains {config.variant!r}"
        )
    if config.optim.freeze_backbone or config.optim.trainable == "decoder_adapter":
        model.image_encoder.requires_grad_(False)
    return model


def _datasets(config: TrainConfig) -> tuple[Any, Any, Any]:
    """``(train set, validation set, train batch sampler)`` of ``config.data`` (balanced sampling if configured)."""
    from lslib.training.dataset import BalancedBatchSampler, LASDataset, SubsetBatchSampler

    d, aug = config.data, config.augment
    common: dict[str, Any] = dict(
        roots=[Path(r) for r in d.roots], subsets=d.subsets, val_fraction=d.val_fraction, seed=config.seed
    )
    train_set = LASDataset(
        split="train",
        max_classes=d.max_classes,
        negatives=d.negatives,
        foreign_negatives=d.foreign_negatives,
        ignore_boundary_px=d.ignore_boundary_px,
        prompt_synonyms=aug.enabled and aug.prompt_synonyms,
        **common,
    )
    val_set = LASDataset(split="val", **common)
    sampler: SubsetBatchSampler
    if aug.enabled and aug.balanced_sampling:
        sampler = BalancedBatchSampler(train_set, batch_size=d.batch_size, seed=config.seed)
    else:
        sampler = SubsetBatchSampler(train_set, batch_size=d.batch_size, shuffle=True, seed=config.seed)
    return train_set, val_set, sampler


def _forward_loss(
    model: Any, core: Any, batch: dict[str, Any], accelerator: Any, config: TrainConfig, weights: Any
) -> tuple[torch.Tensor, dict[str, float]]:
    """One training forward pass of ``batch`` (``model`` in train mode, autocast): ``(total loss, its parts)``.

    ``core`` is the unwrapped model (text encoding, the alignment's logit scale); ``weights`` the loss weights.
    """
    from lslib.training.losses import total_loss

    device = accelerator.device
    model.train()
    text = encode_batch_text(core, batch, device)
    with accelerator.autocast():
        outputs = model(batch["image"].to(device), batch["wavelengths"], text, band_names=batch["band_names"])
        loss, parts = total_loss(
            mask_logits=outputs.mask_logits,
            presence_logits=outputs.presence_logits,
            similarity=outputs.similarity,
            logit_scale=core.alignment.scale(),
            targets=batch["targets"].to(device),
            valid=batch["valid"].to(device),
            class_mask=batch["class_mask"].to(device),
            presence=batch["presence"].to(device),
            weights=weights,
            kind=config.loss.kind,
            gamma=config.loss.gamma,
            label_smoothing=config.loss.label_smoothing,
        )
    return loss, parts


def train(
    config: TrainConfig, *, resume: bool = True, progress: bool = True, stop_at: int | None = None
) -> TrainResult:
    """Train (or resume) as configured; returns where the checkpoints are and the best validation mIoU.

    ``stop_at``: end this run after that global step (state saved), e.g. to fit a session's time; a
    later call continues on the same schedule (the learning-rate schedule follows ``max_steps``).
    """
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    from lslib.model.build import save_model
    from lslib.training.augment import augment_batch
    from lslib.training.checkpoint import load_state, save_state
    from lslib.training.dataset import collate, stable_hash64
    from lslib.training.evaluate import evaluate_weak_agreement
    from lslib.training.losses import LossWeights

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=not torch.cuda.is_available())
    device = accelerator.device
    model = _initial_model(config)
    aug = config.augment
    train_set, val_set, sampler = _datasets(config)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.optim.lr, weight_decay=config.optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(config.optim.warmup_steps, config.optim.max_steps)
    )
    model.to(device)
    start: dict[str, Any] = {"step": 0, "epoch": 0, "batch": 0, "best_miou": None}
    if resume and (out / "last" / "state.json").exists():
        start = load_state(out / "last", model=model, optimizer=optimizer, scheduler=scheduler)
    model, optimizer = accelerator.prepare(model, optimizer)
    core = accelerator.unwrap_model(model)
    weights = LossWeights(
        presence=config.loss.presence_weight, alignment=config.loss.alignment_weight, dice=config.loss.dice_weight
    )
    log = _CsvLog(out / "metrics.csv", keep_until=int(start["step"]))
    step, epoch, skip = int(start["step"]), int(start["epoch"]), int(start["batch"])
    best = start.get("best_miou")
    t0, last_loss = time.perf_counter(), None
    bar = tqdm(total=config.optim.max_steps, initial=step, desc=f"train {config.variant}", disable=not progress)
    while step < config.optim.max_steps:
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        batches = list(sampler)[accelerator.process_index :: accelerator.num_processes]
        for bi in range(skip, len(batches)):
            batch = collate([train_set[i] for i in batches[bi]])
            if aug.enabled:
                rng = np.random.default_rng(stable_hash64(f"augment:{config.seed}:{epoch}:{bi}"))
                batch = augment_batch(batch, aug, rng)
            loss, parts = _forward_loss(model, core, batch, accelerator, config, weights)
            accelerator.backward(loss)
            if config.optim.grad_clip:
                accelerator.clip_grad_norm_(params, config.optim.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            last_loss = float(loss.detach())
            row: dict[str, Any] = {
                "step": step,
                "epoch": epoch,
                "lr": scheduler.get_last_lr()[0],
                "loss": last_loss,
                **{f"loss_{k}": round(float(v), 6) for k, v in parts.items()},
                "seconds": round(time.perf_counter() - t0, 2),
            }
            bar.update()
            bar.set_postfix(loss=f"{last_loss:.3f}")
            at_end = step >= config.optim.max_steps or (stop_at is not None and step >= stop_at)
            if accelerator.is_main_process and (step % config.eval_every == 0 or at_end) and len(val_set):
                metrics = evaluate_weak_agreement(core, val_set, device=device)
                row.update({f"val_{k}": v for k, v in metrics.items() if isinstance(v, float)})
                if best is None or metrics["miou"] > best:
                    best = metrics["miou"]
                    save_model(
                        core, out / "best", metadata={"step": step, "val_miou": best, "train_config": config.to_dict()}
                    )
            if accelerator.is_main_process:
                log.add(row)
                if step % config.checkpoint_every == 0 or at_end:
                    state = {
                        "step": step,
                        "epoch": epoch if bi + 1 < len(batches) else epoch + 1,
                        "batch": bi + 1 if bi + 1 < len(batches) else 0,
                        "best_miou": best,
                    }
                    save_state(
                        out / "last",
                        model=core,
                        optimizer=optimizer,
                        scheduler=scheduler,
                        progress=state,
                        train_config=config.to_dict(),
                    )
            if at_end:
                break
        else:
            epoch, skip = epoch + 1, 0
            continue
        break
    bar.close()
    if accelerator.is_main_process and not (out / "best" / "config.json").exists():
        # no validation chips (tiny datasets): the final weights are the best we know
        save_model(core, out / "best", metadata={"step": step, "val_miou": None, "note": "no validation chips",
                                                 "train_config": config.to_dict()})
    return TrainResult(
        out=out,
        steps=step,
        best_miou=best,
        last_loss=last_loss,
        seconds=time.perf_counter() - t0,
        resumed_from=int(start["step"]),
        history=log.rows,
    )
