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
all classes: the mean of ``c_k``), ``"decoder"`` (``f = p``), ``"similarity"`` (``f = q``) and ``"official"``,
the rule of the authors' evaluation script (:func:`official_fusion`): with ``m_ls,k = max_x p_k(x)`` and
``m_clip,k = max_x q_k(x)`` per image, weights ``(w_clip, w_ls) = (2, 2)``, ``(3, 1)`` if
``m_ls,k < thr <= m_clip,k``, ``(1, 3)`` if ``m_clip,k < thr <= m_ls,k``, and
``f_k(x) = (w_clip q_k(x) + w_ls p_k(x)) / sum_j (w_clip,j q_j(x) + w_ls,j p_j(x))``.

``q`` is the CLIP knowledge: by default the similarity probabilities above (the model's own dense
alignment head); ``knowledge=`` passes any other ``(B, K, H, W)`` class probabilities on the same grid,
e.g. ProxyCLIP over LandSegmenter's encoder (:mod:`lslib.model.clip_knowledge`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

Mode = Literal["classwise", "global", "decoder", "similarity", "official"]
MODES: tuple[Mode, ...] = ("classwise", "global", "decoder", "similarity", "official")
#: the fusion every entry point uses unless told otherwise (measured best on the zero-shot protocol, docs/fusion.md)
DEFAULT_MODE: Mode = "global"
UNKNOWN = -1
#: ``thr`` of the official rule (the authors' ``max_thr``, whose default is not known): chosen by measurement
#: on the zero-shot protocol (``bench/fusion.py``, ``docs/fusion.md``)
DEFAULT_OFFICIAL_THR = 0.9


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


def official_weights(
    m_ls: torch.Tensor, m_clip: torch.Tensor, thr: float = DEFAULT_OFFICIAL_THR
) -> tuple[torch.Tensor, torch.Tensor]:
    """The official class-wise gating: per image and class, ``(w_clip, w_ls)`` from the two spatial maxima.

    Both start at 2; a class only CLIP is sure of (``m_ls < thr <= m_clip``) gets 3:1 for CLIP, a class
    only LandSegmenter is sure of (``m_clip < thr <= m_ls``) 1:3 for LandSegmenter.

    Args:
        m_ls: ``(B, K)`` max over pixels of LandSegmenter's probability of each class.
        m_clip: ``(B, K)`` max over pixels of the CLIP knowledge's probability of each class.
        thr: the confidence threshold (the authors' ``max_thr``).
    """
    w_clip = torch.full_like(m_ls, 2.0)
    w_ls = torch.full_like(m_ls, 2.0)
    clip_only = (m_ls < thr) & (m_clip >= thr)
    ls_only = (m_clip < thr) & (m_ls >= thr)
    w_clip = torch.where(clip_only, 3.0, torch.where(ls_only, 1.0, w_clip))
    w_ls = torch.where(clip_only, 1.0, torch.where(ls_only, 3.0, w_ls))
    return w_clip, w_ls


def official_fusion(
    weak_prob: torch.Tensor, clip_prob: torch.Tensor, thr: float = DEFAULT_OFFICIAL_THR
) -> torch.Tensor:
    """The authors' zero-shot fusion: ``w_clip * clip_prob + w_ls * weak_prob``, renormalised over classes.

    Args:
        weak_prob: ``(B, K, H, W)`` LandSegmenter's per-class probabilities (sigmoid of the mask logits).
        clip_prob: ``(B, K, H, W)`` the CLIP knowledge's per-class probabilities.
        thr: see :func:`official_weights`.

    Returns:
        ``(B, K, H, W)`` scores summing to 1 over classes at every pixel (uniform where both maps are 0).
    """
    if weak_prob.shape != clip_prob.shape:
        raise ValueError(f"weak_prob {tuple(weak_prob.shape)} and clip_prob {tuple(clip_prob.shape)} differ")
    if weak_prob.shape[1] == 0:
        return weak_prob.clone()
    w_clip, w_ls = official_weights(weak_prob.flatten(2).amax(-1), clip_prob.flatten(2).amax(-1), thr)
    fused = w_clip[..., None, None] * clip_prob + w_ls[..., None, None] * weak_prob
    total = fused.sum(1, keepdim=True)
    uniform = torch.full_like(fused, 1.0 / fused.shape[1])
    return torch.where(total > 0, fused / total.clamp_min(1e-12), uniform)


def fuse(
    mask_logits: torch.Tensor,
    presence_logits: torch.Tensor,
    similarity: torch.Tensor,
    *,
    scale: float | torch.Tensor = 100.0,
    alpha: float = 1.0,
    mode: Mode = DEFAULT_MODE,
    threshold: float | Sequence[float] | torch.Tensor = 0.0,
    knowledge: torch.Tensor | None = None,
    thr: float = DEFAULT_OFFICIAL_THR,
) -> FusionResult:
    """Fuse decoder and similarity evidence and decide a class per pixel.

    Args:
        mask_logits: ``(B, K, H, W)`` decoder mask logits.
        presence_logits: ``(B, K)`` decoder presence logits.
        similarity: ``(B, K, H, W)`` cosine image-text similarity in [-1, 1].
        scale: softmax temperature for the similarity (the alignment head's ``scale()``).
        alpha: weight of the similarity evidence in [0, 1].
        mode: ``"classwise"``, ``"global"`` (:data:`DEFAULT_MODE`), ``"official"`` (the authors' class-wise
            gating, :func:`official_fusion`), ``"decoder"`` or ``"similarity"`` (ablations).
        threshold: minimum fused score to name a pixel; a float for all classes or ``K`` values (per
            class, compared with the winning class's own threshold). Below it: :data:`UNKNOWN`.
        knowledge: ``(B, K, H, W)`` class probabilities of a CLIP-knowledge branch
            (:mod:`lslib.model.clip_knowledge`) replacing the similarity probabilities; None: from ``similarity``.
        thr: threshold of the ``"official"`` rule (:func:`official_weights`).

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
    scores, conf = fused_scores(mask_logits, presence_logits, similarity, scale=scale, alpha=alpha, mode=mode,
                                knowledge=knowledge, thr=thr)
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
    knowledge: torch.Tensor | None = None,
    thr: float = DEFAULT_OFFICIAL_THR,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fused scores ``f`` ``(B, K, H, W)`` and class confidences ``c`` ``(B, K)`` (no decision).

    ``knowledge`` (``(B, K, H, W)`` class probabilities, e.g. ProxyCLIP's) replaces the similarity
    probabilities ``q``; ``thr`` is the official rule's threshold (:func:`official_weights`).
    """
    k = mask_logits.shape[1]
    p = torch.sigmoid(mask_logits.float())
    conf = class_confidence(p, torch.sigmoid(presence_logits.float()))
    if mode == "decoder":
        return p, conf
    q = similarity_probabilities(similarity.float(), scale=scale) if knowledge is None else knowledge.float()
    if knowledge is not None and knowledge.shape != p.shape:
        raise ValueError(f"knowledge {tuple(knowledge.shape)} must have the decoder's shape {tuple(p.shape)}")
    if mode == "classwise":
        c = conf[..., None, None]
        scores = c * p + (1 - c) * alpha * q
    elif mode == "global":
        c = conf.mean(1, keepdim=True)[..., None, None] if k else conf[..., None, None]
        scores = c * p + (1 - c) * alpha * q
    elif mode == "similarity":
        scores = q
    elif mode == "official":
        scores = official_fusion(p, q, thr)
    else:
        raise ValueError(f"unknown fusion mode {mode!r}; choose one of {', '.join(MODES)}")
    return scores, conf


def decide(
    scores: torch.Tensor, threshold: float | Sequence[float] | torch.Tensor = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decide each pixel's class from the fused scores.

    ``(B, K, H, W)`` scores -> class index ``(B, H, W)`` (:data:`UNKNOWN` below the winner's threshold)
    and confidence ``(B, H, W)`` = the winning score.
    """
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
