"""Class-wise confidence-guided fusion: decoder masks + dense image-text similarity -> class map.

Pure tensor functions (no model, no state); the equations are also in ``docs/fusion.md``.
For ``K`` prompted classes, a batch ``b`` and a pixel ``x``:

* decoder mask probability      ``p_k(x) = sigmoid(mask_logit_k(x))``
* decoder presence probability  ``pi_k = sigmoid(presence_logit_k)``
* similarity probability        ``q_k(x) = softmax_k(t * s_k(x))``  (``s`` cosine image-text similarity,
  ``t`` the alignment head's learned scale): how the *image* alone ranks the class names at x.
* class confidence              ``c_k = pi_k * max_x p_k(x)``: the decoder believes class k exists
  (present) *and* has drawn it somewhere with conviction.
* fused score                   ``f_k(x) = c_k * p_k(x) + (1 - c_k) * alpha * q_k(x)``

A class the decoder is sure about keeps its mask (``c_k -> 1``); a class it omits (``c_k -> 0``:
the paper's *semantic omission*) falls back on the similarity map, weighted by ``alpha``; a class
with neither mask nor similarity support scores low everywhere and is not invented. Then
``class(x) = argmax_k f_k(x)``, ``confidence(x) = max_k f_k(x)``, and ``unknown`` where the confidence
is below the threshold of the winning class (one global value or one per class).

``mode`` switches the design: ``"classwise"`` (above), ``"global"`` (the measured default, see docs) (one confidence for
all classes: the mean of ``c_k``), ``"decoder"`` (``f = p``) and ``"similarity"`` (``f = q``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

Mode = Literal["classwise", "global", "decoder", "similarity"]
#: the fusion every entry point uses unless told otherwise (measured best on the zero-shot protocol, docs/fusion.md)
DEFAULT_MODE: Mode = "global"
UNKNOWN = -1


@dataclass
class FusionResult:
    """Per-class fused scores and the decision."""

    scores: torch.Tensor  # (B, K, H, W) in [0, 1]
    class_index: torch.Tensor  # (B, H, W) int64 index into the K prompts, UNKNOWN (-1) where unsure
    confidence: torch.Tensor  # (B, H, W) max_k scores
    class_confidence: torch.Tensor  # (B, K) c_k


def similarity_probabilities(similarity: torch.Tensor, *, scale: float | torch.Tensor = 100.0) -> torch.Tensor:
    """``softmax_k(scale * s_k(x))``: ``(B, K, H, W)`` cosine similarities -> probabilities over classes."""
    if similarity.shape[1] == 0:
        return similarity.clone()
    return torch.softmax(similarity * scale, dim=1)


def class_confidence(mask_probs: torch.Tensor, presence_probs: torch.Tensor) -> torch.Tensor:
    """``c_k = pi_k * max_x p_k(x)``: ``(B, K, H, W)`` and ``(B, K)`` -> ``(B, K)`` in [0, 1]."""
    if mask_probs.shape[1] == 0:
        return presence_probs.clone()
    return presence_probs * mask_probs.flatten(2).amax(-1)


def fuse(
    mask_logits: torch.Tensor,
    presence_logits: torch.Tensor,
    similarity: torch.Tensor,
    *,
    scale: float | torch.Tensor = 100.0,
    alpha: float = 1.0,
    mode: Mode = DEFAULT_MODE,
    threshold: float | Sequence[float] | torch.Tensor = 0.0,
) -> FusionResult:
    """Fuse decoder and similarity evidence and decide a class per pixel.

    Args:
        mask_logits: ``(B, K, H, W)`` decoder mask logits.
        presence_logits: ``(B, K)`` decoder presence logits.
        similarity: ``(B, K, H, W)`` cosine image-text similarity in [-1, 1].
        scale: softmax temperature for the similarity (the alignment head's ``scale()``).
        alpha: weight of the similarity evidence in [0, 1].
        mode: ``"classwise"``, ``"global"`` (:data:`DEFAULT_MODE`), ``"decoder"`` or ``"similarity"`` (ablations).
        threshold: minimum fused score to name a pixel; a float for all classes or ``K`` values (per
            class, compared with the winning class's own threshold). Below it: :data:`UNKNOWN`.

    Raises:
        ValueError: mismatched shapes, ``alpha`` outside [0, 1], unknown mode, wrong number of thresholds.
    """
    if mask_logits.shape != similarity.shape or mask_logits.shape[:2] != presence_logits.shape:
        raise ValueError(
            f"shapes differ: mask_logits {tuple(mask_logits.shape)}, presence_logits {tuple(presence_logits.shape)}, "
            f"similarity {tuple(similarity.shape)}; expected (B, K, H, W), (B, K), (B, K, H, W)"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    scores, conf = fused_scores(mask_logits, presence_logits, similarity, scale=scale, alpha=alpha, mode=mode)
    class_index, confidence = decide(scores, threshold)
    return FusionResult(scores=scores, class_index=class_index, confidence=confidence, class_confidence=conf)


def fused_scores(
    mask_logits: torch.Tensor,
    presence_logits: torch.Tensor,
    similarity: torch.Tensor,
    *,
    scale: float | torch.Tensor = 100.0,
    alpha: float = 1.0,
    mode: Mode = DEFAULT_MODE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fused scores ``f`` ``(B, K, H, W)`` and class confidences ``c`` ``(B, K)`` (no decision)."""
    k = mask_logits.shape[1]
    p = torch.sigmoid(mask_logits.float())
    conf = class_confidence(p, torch.sigmoid(presence_logits.float()))
    if mode == "decoder":
        return p, conf
    q = similarity_probabilities(similarity.float(), scale=scale)
    if mode == "classwise":
        c = conf[..., None, None]
        scores = c * p + (1 - c) * alpha * q
    elif mode == "global":
        c = conf.mean(1, keepdim=True)[..., None, None] if k else conf[..., None, None]
        scores = c * p + (1 - c) * alpha * q
    elif mode == "similarity":
        scores = q
    else:
        raise ValueError(f"unknown fusion mode {mode!r}; choose classwise, global, decoder or similarity")
    return scores, conf


def decide(
    scores: torch.Tensor, threshold: float | Sequence[float] | torch.Tensor = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, K, H, W)`` scores -> class index ``(B, H, W)`` (:data:`UNKNOWN` below the winner's threshold)
    and confidence ``(B, H, W)`` = the winning score."""
    b, k, h, w = scores.shape
    if k == 0:
        return (torch.full((b, h, w), UNKNOWN, dtype=torch.long, device=scores.device),
                torch.zeros(b, h, w, device=scores.device))
    confidence, index = scores.max(dim=1)
    thr = torch.as_tensor(threshold, dtype=scores.dtype, device=scores.device)
    if thr.ndim == 1:
        if thr.numel() != k:
            raise ValueError(f"{thr.numel()} thresholds for {k} classes")
        thr = thr[index]
    index = torch.where(confidence >= thr, index, torch.full_like(index, UNKNOWN))
    return index, confidence
