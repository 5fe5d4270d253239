"""Evaluation protocols on LAS-style chips: weak-label agreement (and zero-shot on another taxonomy).

For each chip the prompts are *all* class names of a taxonomy (the chip's own product for weak-label
agreement; the target dataset's for zero-shot), the prediction is the class with the highest mask
probability, and a streaming confusion matrix per taxonomy gives per-class IoU, mIoU, OA and F1.
"""

from __future__ import annotations

from typing import Any

import torch

from lslib.fusion import DEFAULT_MODE, DEFAULT_OFFICIAL_THR

#: How every protocol here scores (the official evaluation's convention), written into each result.
METRIC = "one confusion matrix over all scored pixels of all chips (unlabelled ignored); IoU per class, mIoU, OA"
#: Fusion used by the zero-shot protocol (the ablation in ``docs/fusion.md`` chose it).
DEFAULT_FUSION: str | None = DEFAULT_MODE


def _check_arguments(limit: int | None, fusion: str | None = None, alpha: float = 1.0) -> None:
    """Refuse a ``limit`` that scores no chip (the metrics would be NaN), an unknown ``fusion``, a bad ``alpha``."""
    from typing import get_args

    from lslib.fusion import Mode

    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ValueError(f"limit must be None (all chips) or a whole number >= 1, got {limit!r}")
    if fusion is not None and fusion not in get_args(Mode):
        raise ValueError(f"unknown fusion {fusion!r}; choose one of {list(get_args(Mode))} or None (mask argmax)")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")


@torch.inference_mode()
def predict_chip(
    model: Any,
    sample: dict[str, Any],
    names: list[str],
    descriptions: list[str | None],
    device: torch.device | str = "cpu",
    *,
    fusion: str | None = None,
    alpha: float = 1.0,
    thr: float = DEFAULT_OFFICIAL_THR,
    phrases: list[list[str]] | None = None,
    reduction: str | None = None,
) -> torch.Tensor:
    """Per-pixel index (into ``names``) of the most likely class: ``(H, W)`` long.

    ``fusion=None``: the decoder's masks alone (argmax of the mask logits); otherwise a mode of
    :func:`lslib.fusion.fuse` (``"classwise"``, ``"global"``, ``"official"``, ``"decoder"``,
    ``"similarity"``), no threshold; ``thr`` is the official rule's. The decoder's prompts are always the
    names (+ descriptions). ``reduction`` (with ``phrases``, per class its name and synonyms) replaces the
    similarity probabilities by the model's alignment knowledge over the phrases, reduced by ``"max"`` or
    ``"mean"`` (:class:`lslib.model.clip_knowledge.AlignmentKnowledge`); None keeps the decoder's own.
    """
    model.eval()
    text = model.encode_prompts(names, descriptions=descriptions).to(device)
    image = sample["image"].unsqueeze(0).to(device)
    if reduction is None:
        out = model(image, sample["wavelengths"], text, band_names=sample["band_names"])
        knowledge = None
    else:
        from lslib.model.clip_knowledge import AlignmentKnowledge
        from lslib.model.landsegmenter import upsample_to

        if phrases is None:
            raise ValueError("reduction needs phrases: per class its name and synonyms")
        emb = model.encode_image(image, sample["wavelengths"], sample["band_names"])
        out = model.decode(emb, text)
        low = AlignmentKnowledge().probabilities(model, emb, image, list(sample["wavelengths"]), phrases,
                                                 reduction=reduction)  # type: ignore[arg-type]
        knowledge = upsample_to(low, emb)
    if fusion is None:
        return out.mask_logits[0].argmax(0).cpu()
    from lslib.fusion import fuse

    fused = fuse(out.mask_logits, out.presence_logits, out.similarity, scale=model.alignment.scale(),
                 alpha=alpha, mode=fusion, knowledge=knowledge, thr=thr)  # type: ignore[arg-type]
    return fused.class_index[0].cpu()


def evaluate_zero_shot(
    model: Any,
    dataset: Any,
    *,
    target_taxonomy: str,
    device: torch.device | str = "cpu",
    limit: int | None = None,
    fusion: str | None = DEFAULT_FUSION,
    alpha: float = 1.0,
    thr: float = DEFAULT_OFFICIAL_THR,
    reduction: str | None = None,
) -> dict[str, Any]:
    """Zero-shot on another product's vocabulary: prompts are all class names of ``target_taxonomy``.

    The reference is the chip's label translated into the target codes through the crosswalk; only
    pixels whose source class has exactly one counterpart count (an ambiguous class such as Esri
    rangeland -> WorldCover grassland or shrubland cannot be scored fairly and is left out).
    ``fusion``: how decoder masks and dense similarity become a class map (:func:`predict_chip`);
    the default is the design that measured best on this protocol (``docs/fusion.md``).
    ``thr``: the official rule's threshold; ``reduction``: phrase reduction of the knowledge branch
    (:func:`predict_chip`; phrases = each class's name and synonyms).

    The metric is the official convention: one confusion matrix accumulated over every scored pixel of
    every chip (unlabelled/ambiguous pixels ignored, as label 255 in the authors' script), per-class IoU
    from it, mIoU their mean over classes present in the reference or the prediction, OA over scored pixels.
    Returns ``{"miou", "oa", "iou": {name: value}, "chips", "scored_fraction", "metric"}``.
    """
    from lslib.metrics import ConfusionMatrix
    from lslib.taxonomy import crosswalk, get_taxonomy

    _check_arguments(limit, fusion, alpha)
    dst = get_taxonomy(target_taxonomy)
    classes = [c for c in dst.classes if c.code != dst.nodata]
    codes = torch.tensor([c.code for c in classes])
    cm = ConfusionMatrix([c.code for c in classes])
    n, scored, labelled = 0, 0, 0
    for i in range(len(dataset)):
        if limit is not None and n >= limit:
            break
        sample = dataset[i]
        src = get_taxonomy(sample["taxonomy"])
        lut = {s: t[0] for s, t in crosswalk(src, dst).items() if len(t) == 1 and s != src.nodata}
        label = sample["label"]
        ref = torch.full_like(label, -1)
        for s, t in lut.items():
            ref[label == s] = t
        valid = sample["valid"] & (ref >= 0)
        labelled += int(sample["valid"].sum())
        scored += int(valid.sum())
        if not valid.any():
            continue
        pred_idx = predict_chip(model, sample, [c.name for c in classes], [c.description for c in classes], device,
                                fusion=fusion, alpha=alpha, thr=thr, reduction=reduction,
                                phrases=[[c.name, *c.synonyms] for c in classes])
        cm.update(codes[pred_idx], ref, valid)
        n += 1
    iou = {dst.by_code(code).name: v for code, v in cm.per_class_iou().items() if v == v}
    return {"miou": float(cm.miou()), "oa": float(cm.overall_accuracy()), "iou": iou, "chips": n,
            "scored_fraction": scored / labelled if labelled else float("nan"), "metric": METRIC}


def evaluate_weak_agreement(
    model: Any,
    dataset: Any,
    *,
    device: torch.device | str = "cpu",
    limit: int | None = None,
) -> dict[str, Any]:
    """Model vs the weak product on held-out chips, prompting each chip with its taxonomy's class names.

    Returns ``{"miou": mean over taxonomies of the mIoU over classes present, "oa": pixel accuracy over
    all chips, "per_taxonomy": {key: {"miou", "oa", "iou": {name: value}}}, "chips": n}``.
    """
    from lslib.metrics import ConfusionMatrix
    from lslib.taxonomy import get_taxonomy

    _check_arguments(limit)
    matrices: dict[str, ConfusionMatrix] = {}
    n = 0
    for i in range(len(dataset)):
        if limit is not None and n >= limit:
            break
        sample = dataset[i]
        tax = get_taxonomy(sample["taxonomy"])
        classes = [c for c in tax.classes if c.code != tax.nodata]
        pred_idx = predict_chip(model, sample, [c.name for c in classes], [c.description for c in classes], device)
        codes = torch.tensor([c.code for c in classes])
        cm = matrices.setdefault(tax.key, ConfusionMatrix([c.code for c in classes]))
        cm.update(codes[pred_idx], sample["label"], sample["valid"])
        n += 1
    per: dict[str, Any] = {}
    correct = total = 0.0
    for key, cm in matrices.items():
        tax = get_taxonomy(key)
        iou = {tax.by_code(code).name: v for code, v in cm.per_class_iou().items() if v == v}
        per[key] = {"miou": float(cm.miou()), "oa": float(cm.overall_accuracy()), "iou": iou}
        correct += float(cm.overall_accuracy()) * cm.total
        total += cm.total
    mious = [v["miou"] for v in per.values()]
    return {
        "miou": float(sum(mious) / len(mious)) if mious else float("nan"),
        "oa": correct / total if total else float("nan"),
        "per_taxonomy": per,
        "chips": n,
        "metric": METRIC.replace("all chips", "all chips of each product") + "; mIoU averaged over products",
    }
