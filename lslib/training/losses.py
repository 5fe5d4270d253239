"""Training losses for LandSegmenter: pure tensor functions over one batch.

Batch layout (``B`` images, ``K`` class prompts per image, padded to the largest class list):

- ``mask_logits: (B, K, H, W)`` per-class sigmoid logits (classes are independent, not a softmax);
- ``targets: (B, K, H, W)`` in {0, 1} (or soft in [0, 1]): one binary mask per prompted class;
- ``valid: (B, H, W)`` bool: labelled, not nodata, not an ignored boundary pixel;
- ``class_mask: (B, K)`` bool: real classes True, padding classes False;
- ``presence_logits: (B, K)`` and ``presence: (B, K)`` in {0, 1}: "this class occurs in the image";
- ``similarity: (B, K, H, W)`` cosine image-text similarity in [-1, 1];
- ``logit_scale``: scalar tensor, the inverse temperature that multiplies the cosine similarities,
  i.e. :meth:`lslib.model.dense_alignment.DenseAlignmentHead.scale` (already exponentiated, not the
  log-space parameter).

Values of ``mask_logits``/``targets``/``similarity`` at invalid pixels or padding classes are never
read (they may be anything, NaN included) and receive zero gradient. Every loss returns a scalar
that is ``0`` *with* a graph (backward gives zero gradients) when nothing is left to average over,
so a batch of unlabelled chips does not break the training step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LossWeights",
    "alignment_loss",
    "dice_loss",
    "mask_loss",
    "pixel_loss",
    "presence_loss",
    "presence_targets",
    "smooth_targets",
    "total_loss",
]

MaskLossKind = Literal["focal", "bce"]


# --- helpers ------------------------------------------------------------------------------------
def _zero(*tensors: Tensor) -> Tensor:
    """A scalar ``0`` connected to the graph of every tensor (zero gradients, never NaN)."""
    return sum((t.reshape(-1)[:0].sum() for t in tensors), start=torch.zeros((), device=tensors[0].device))


def _check_dense(name: str, x: Tensor, like: Tensor) -> None:
    if x.shape != like.shape:
        raise ValueError(f"{name} must have the shape of mask_logits {tuple(like.shape)}, got {tuple(x.shape)}")


def _check_masks(logits: Tensor, valid: Tensor, class_mask: Tensor) -> None:
    if logits.ndim != 4:
        raise ValueError(f"expected (B, K, H, W) logits/similarity, got {tuple(logits.shape)}")
    b, k, h, w = logits.shape
    if valid.shape != (b, h, w) or valid.dtype != torch.bool:
        raise ValueError(f"valid must be a bool ({b}, {h}, {w}) tensor, got {valid.dtype} {tuple(valid.shape)}")
    if class_mask.shape != (b, k) or class_mask.dtype != torch.bool:
        raise ValueError(
            f"class_mask must be a bool ({b}, {k}) tensor, got {class_mask.dtype} {tuple(class_mask.shape)}"
        )


def _weights(valid: Tensor, class_mask: Tensor) -> Tensor:
    """``(B, K, H, W)`` bool: pixel is valid and the class is real."""
    return valid[:, None] & class_mask[:, :, None, None]


def smooth_targets(targets: Tensor, label_smoothing: float) -> Tensor:
    """Binary label smoothing towards 0.5: ``y' = (1 - eps) y + eps / 2`` (1 -> 1 - eps/2, 0 -> eps/2)."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    return targets * (1.0 - label_smoothing) + 0.5 * label_smoothing


# --- mask loss ----------------------------------------------------------------------------------
def pixel_loss(
    mask_logits: Tensor,
    targets: Tensor,
    valid: Tensor,
    class_mask: Tensor,
    *,
    kind: MaskLossKind = "focal",
    gamma: float = 2.0,
    alpha: float | None = None,
    label_smoothing: float = 0.0,
) -> Tensor:
    r"""Per-pixel sigmoid focal (or BCE) loss averaged over valid pixels of real classes.

    With ``p = sigmoid(x)``, smoothed target ``y`` (see :func:`smooth_targets`) and
    ``p_t = p y + (1 - p)(1 - y)``:

    .. math::
        \mathrm{BCE} = -[y \log p + (1 - y) \log(1 - p)], \qquad
        \mathrm{FL} = \alpha_t (1 - p_t)^\gamma \, \mathrm{BCE}, \qquad
        \alpha_t = \alpha y + (1 - \alpha)(1 - y)

    (``alpha=None``: ``alpha_t = 1``; ``gamma = 0`` and ``alpha=None``: FL = BCE), then

    .. math:: L = \frac{\sum_{b,k,i} w_{bki} \, \ell_{bki}}{\sum_{b,k,i} w_{bki}}, \qquad
        w_{bki} = \mathrm{valid}_{bi} \cdot \mathrm{class\_mask}_{bk}.

    Returns a scalar; ``0`` (with grad) when no valid pixel of a real class.
    """
    _check_masks(mask_logits, valid, class_mask)
    _check_dense("targets", targets, mask_logits)
    if kind not in ("focal", "bce"):
        raise ValueError(f"kind must be 'focal' or 'bce', got {kind!r}")
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1] or None, got {alpha}")
    w = _weights(valid, class_mask)
    n = w.sum()
    if n == 0:
        return _zero(mask_logits)
    x = torch.where(w, mask_logits.float(), 0.0)  # garbage (NaN) outside the weights never enters the graph
    y = smooth_targets(torch.where(w, targets.float(), 0.0), label_smoothing)
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    if kind == "focal" and gamma > 0:
        p = torch.sigmoid(x)
        p_t = p * y + (1 - p) * (1 - y)
        loss = loss * (1 - p_t).clamp_min(0).pow(gamma)
    if alpha is not None:
        loss = loss * (alpha * y + (1 - alpha) * (1 - y))
    return torch.where(w, loss, 0.0).sum() / n


def dice_loss(mask_logits: Tensor, targets: Tensor, valid: Tensor, class_mask: Tensor) -> Tensor:
    r"""Soft Dice loss per (image, class) over valid pixels, averaged over classes present in the image.

    .. math:: D_{bk} = 1 - \frac{2 \sum_i v_{bi} p_{bki} y_{bki}}{\sum_i v_{bi} p_{bki} + \sum_i v_{bi} y_{bki}}

    averaged over the pairs ``(b, k)`` with a real class and ``sum_i v_bi y_bki > 0``. A class absent
    from the image is skipped: without an epsilon its Dice is 0/0 when predicted empty, and with one
    it would only reward "predict nothing", which the per-pixel term already does. No smoothing of
    the targets here: Dice measures overlap with the labelled region, and smoothed targets would make
    every absent class "present". ``p = sigmoid(mask_logits)``. Returns ``0`` (with grad) when no
    class is present.
    """
    _check_masks(mask_logits, valid, class_mask)
    _check_dense("targets", targets, mask_logits)
    w = _weights(valid, class_mask)
    p = torch.where(w, torch.sigmoid(torch.where(w, mask_logits.float(), 0.0)), 0.0)
    y = torch.where(w, targets.float(), 0.0)
    inter = (p * y).sum((-2, -1))  # (B, K)
    denom = p.sum((-2, -1)) + y.sum((-2, -1))
    present = class_mask & (y.sum((-2, -1)) > 0)
    if not bool(present.any()):
        return _zero(mask_logits)
    dice = 1 - 2 * inter[present] / denom[present]  # denom >= sum(y) > 0 on present pairs
    return dice.mean()


def mask_loss(
    mask_logits: Tensor,
    targets: Tensor,
    valid: Tensor,
    class_mask: Tensor,
    *,
    kind: MaskLossKind = "focal",
    gamma: float = 2.0,
    alpha: float | None = None,
    dice_weight: float = 1.0,
    label_smoothing: float = 0.0,
) -> Tensor:
    r"""Mask loss: ``pixel_loss + dice_weight * dice_loss`` (see :func:`pixel_loss`, :func:`dice_loss`).

    Args:
        mask_logits: ``(B, K, H, W)`` sigmoid logits.
        targets: ``(B, K, H, W)`` in {0, 1} or soft in [0, 1].
        valid: ``(B, H, W)`` bool.
        class_mask: ``(B, K)`` bool, padding classes False.
        kind: ``"focal"`` (sigmoid focal loss, Lin et al. 2017) or ``"bce"``.
        gamma: focal exponent (ignored for ``"bce"``); ``gamma=0`` makes focal equal to BCE.
        alpha: optional positive-class weight ``alpha_t`` (both kinds); ``None`` = 1.
        dice_weight: weight of the Dice term (0 disables it).
        label_smoothing: ``eps`` in [0, 1]; per-pixel targets become ``(1 - eps) y + eps/2``.

    Why label smoothing: the training labels are weak, rasterised from several land-cover products
    that disagree with each other on 25-35 % of the pixels of the fuzzy classes (shrubland vs
    grassland vs bare/sparse vegetation). A hard 0/1 target drives the logits to +-inf on pixels
    whose label is a coin toss between products; with smoothing the per-pixel optimum is
    ``sigmoid(x) = 1 - eps/2`` instead (finite logit ``log((2 - eps) / eps)``), which bounds the
    gradient from contradictory labels and keeps the scores calibrated for the confidence-guided
    fusion. Dice is computed on the unsmoothed targets.

    Returns a scalar; ``0`` (with grad) when there is no valid pixel.
    """
    pixel = pixel_loss(
        mask_logits, targets, valid, class_mask, kind=kind, gamma=gamma, alpha=alpha, label_smoothing=label_smoothing
    )
    if dice_weight == 0:
        return pixel
    return pixel + dice_weight * dice_loss(mask_logits, targets, valid, class_mask)


# --- presence -----------------------------------------------------------------------------------
def presence_targets(targets: Tensor, valid: Tensor, class_mask: Tensor) -> Tensor:
    """``(B, K)`` float in {0, 1}: the class has at least one valid pixel with target > 0.5 (0 for padding)."""
    _check_masks(targets, valid, class_mask)
    hit = ((targets > 0.5) & valid[:, None]).flatten(2).any(-1)
    return (hit & class_mask).float()


def presence_loss(presence_logits: Tensor, presence: Tensor, class_mask: Tensor) -> Tensor:
    r"""Image-level presence BCE over real classes.

    .. math:: L = \frac{\sum_{b,k} c_{bk} \, \mathrm{BCE}(z_{bk}, q_{bk})}{\sum_{b,k} c_{bk}}

    with ``z`` = ``presence_logits (B, K)``, ``q`` = ``presence (B, K)`` in {0, 1} and ``c`` =
    ``class_mask (B, K)``. Returns ``0`` (with grad) when there is no real class.
    """
    if presence_logits.ndim != 2 or presence.shape != presence_logits.shape or class_mask.shape != presence.shape:
        raise ValueError(
            "presence_logits, presence and class_mask must all be (B, K), got "
            f"{tuple(presence_logits.shape)}, {tuple(presence.shape)}, {tuple(class_mask.shape)}"
        )
    if class_mask.dtype != torch.bool:
        raise ValueError(f"class_mask must be bool, got {class_mask.dtype}")
    n = class_mask.sum()
    if n == 0:
        return _zero(presence_logits)
    z = torch.where(class_mask, presence_logits.float(), 0.0)
    q = torch.where(class_mask, presence.float(), 0.0)
    loss = F.binary_cross_entropy_with_logits(z, q, reduction="none")
    return torch.where(class_mask, loss, 0.0).sum() / n


# --- image-text alignment -----------------------------------------------------------------------
def alignment_loss(
    similarity: Tensor, targets: Tensor, valid: Tensor, class_mask: Tensor, logit_scale: Tensor
) -> Tensor:
    r"""Pixel-text contrastive loss (InfoNCE over the image's classes), CLIP-style.

    For every valid pixel ``i`` of image ``b`` whose target is positive (``> 0.5``) for exactly one
    real class ``k*``:

    .. math:: \ell_{bi} = -\log \frac{\exp(s \, \cos_{b k^* i})}{\sum_{k \in \mathrm{real}(b)} \exp(s \, \cos_{bki})}

    with ``s`` = ``logit_scale`` (padding classes get logit ``-inf``, i.e. drop out of the sum);
    the loss is the mean of ``\ell`` over those pixels. Pixels with no positive class (unlabelled for
    this prompt set) or several (overlapping/hierarchical prompts, where "the" class is ambiguous) are
    ignored. An image with a single real class contributes ``0`` (no negatives). Gradients flow to
    ``similarity`` and to ``logit_scale``. Returns ``0`` (with grad) when no pixel qualifies.
    """
    _check_masks(similarity, valid, class_mask)
    _check_dense("targets", targets, similarity)
    if logit_scale.numel() != 1:
        raise ValueError(f"logit_scale must be a scalar tensor, got shape {tuple(logit_scale.shape)}")
    positive = (targets > 0.5) & class_mask[:, :, None, None]  # (B, K, H, W)
    selected = valid & (positive.sum(1) == 1)  # (B, H, W)
    if not bool(selected.any()):
        return _zero(similarity, logit_scale)
    sim = similarity.float().permute(0, 2, 3, 1)[selected]  # (N, K)
    label = positive.permute(0, 2, 3, 1)[selected].float().argmax(-1)  # (N,)
    real = class_mask[:, None, None, :].expand(-1, *selected.shape[1:], -1)[selected]  # (N, K)
    logits = (sim * logit_scale.float().reshape(())).masked_fill(~real, float("-inf"))
    return F.cross_entropy(logits, label)


# --- total --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms: ``mask * (pixel + dice * Dice) + presence * P + alignment * A``.

    ``dice`` is the weight of Dice *inside* the mask loss (``dice_weight`` of :func:`mask_loss`).
    Defaults match :class:`lslib.training.config.LossConfig`.
    """

    mask: float = 1.0
    dice: float = 1.0
    presence: float = 0.5
    alignment: float = 0.5

    def __post_init__(self) -> None:
        for name in ("mask", "dice", "presence", "alignment"):
            if getattr(self, name) < 0:
                raise ValueError(f"loss weight {name} must be >= 0, got {getattr(self, name)}")


def total_loss(
    *,
    mask_logits: Tensor,
    presence_logits: Tensor,
    similarity: Tensor,
    logit_scale: Tensor,
    targets: Tensor,
    valid: Tensor,
    class_mask: Tensor,
    presence: Tensor,
    weights: LossWeights | None = None,
    kind: MaskLossKind = "focal",
    gamma: float = 2.0,
    alpha: float | None = None,
    label_smoothing: float = 0.0,
) -> tuple[Tensor, dict[str, float]]:
    r"""Weighted sum of all terms, and each term (unweighted) as a float for logging.

    .. math:: L = w_m (L_\mathrm{pixel} + w_d L_\mathrm{dice}) + w_p L_\mathrm{presence} + w_a L_\mathrm{align}

    Shapes as in the module docstring; ``kind``/``gamma``/``alpha``/``label_smoothing`` as in
    :func:`mask_loss`. Returns ``(loss, parts)`` with ``parts`` keys ``pixel``, ``dice``, ``mask``
    (``pixel + w_d dice``), ``presence``, ``alignment``, ``total``. A term with weight 0 is still
    computed (for logging) but kept out of the graph.
    """
    w = weights if weights is not None else LossWeights()
    pixel = pixel_loss(
        mask_logits, targets, valid, class_mask, kind=kind, gamma=gamma, alpha=alpha, label_smoothing=label_smoothing
    )
    dice = dice_loss(mask_logits, targets, valid, class_mask)
    pres = presence_loss(presence_logits, presence, class_mask)
    align = alignment_loss(similarity, targets, valid, class_mask, logit_scale)
    mask = pixel + w.dice * dice if w.dice else pixel
    terms = [(w.mask, mask), (w.presence, pres), (w.alignment, align)]
    loss = _zero(mask_logits, presence_logits, similarity, logit_scale)
    for weight, term in terms:
        if weight:
            loss = loss + weight * term
    names = ("pixel", "dice", "mask", "presence", "alignment", "total")
    values = torch.stack([t.detach().float() for t in (pixel, dice, mask, pres, align, loss)]).tolist()  # one sync
    return loss, dict(zip(names, values, strict=True))
