"""The interface of a CLIP-knowledge branch and the reduction of a class's phrases to one probability map."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, Protocol

import torch

if TYPE_CHECKING:
    from lslib.model.landsegmenter import ImageEmbedding, LandSegmenter

Reduction = Literal["max", "mean"]
#: ``"max"``: probability of a class = max over its phrases (ProxyCLIP); ``"mean"``: one embedding per class,
#: the mean of its phrases' embeddings (CLIP prompt ensembling; LandSegmenter's decoder always does this).
REDUCTIONS: tuple[Reduction, ...] = ("max", "mean")


class ClipKnowledge(Protocol):
    """Dense class probabilities from an image-text model, for the fusion (``lslib.fusion`` mode ``official``)."""

    name: str

    def probabilities(
        self,
        model: LandSegmenter,
        embedding: ImageEmbedding,
        unit_bands: torch.Tensor,
        wavelengths: Sequence[float],
        phrases: Sequence[Sequence[str]],
        *,
        reduction: Reduction = "max",
    ) -> torch.Tensor:
        """``(B, K, h, w)`` probabilities (sum 1 over classes) on the stride-4 grid of ``embedding.pixels``.

        Args:
            model: the LandSegmenter whose encoder produced ``embedding``.
            embedding: the cached image embedding (:meth:`~lslib.model.landsegmenter.LandSegmenter.encode_image`).
            unit_bands: ``(B, C, H, W)`` the bands as the encoder saw them, stretched to [0, 1].
            wavelengths: ``C`` central wavelengths (µm) of ``unit_bands``.
            phrases: per class, its phrases (name first, then synonyms).
            reduction: ``"max"`` or ``"mean"`` (:data:`REDUCTIONS`).
        """
        ...


def phrase_owner(phrases: Sequence[Sequence[str]]) -> tuple[list[str], torch.Tensor]:
    """Flatten per-class phrase lists: ``(all phrases, owner (Q,) class index of each)``.

    Raises:
        ValueError: a class without any phrase.
    """
    flat: list[str] = []
    owner: list[int] = []
    for k, class_phrases in enumerate(phrases):
        if not class_phrases:
            raise ValueError(f"class {k} has no phrase: give each class at least its name")
        flat.extend(class_phrases)
        owner.extend([k] * len(class_phrases))
    return flat, torch.tensor(owner, dtype=torch.long)


def reduce_phrases(probabilities: torch.Tensor, owner: torch.Tensor, k: int) -> torch.Tensor:
    """Per class, the maximum over its phrases: ``(B, Q, H, W)`` -> ``(B, K, H, W)``.

    ``probabilities`` are a softmax over all ``Q`` phrases (ProxyCLIP's post-processing); the result is
    not renormalised (the fusion renormalises).
    """
    b, _, h, w = probabilities.shape
    out = probabilities.new_zeros(b, k, h, w)
    index = owner.to(probabilities.device).view(1, -1, 1, 1).expand_as(probabilities)
    return out.scatter_reduce(1, index, probabilities, reduce="amax", include_self=False)


def mean_embeddings(vectors: torch.Tensor, owner: torch.Tensor, k: int) -> torch.Tensor:
    """Per class, the re-normalised mean of its phrases' unit embeddings: ``(Q, D)`` -> ``(K, D)``."""
    sums = vectors.new_zeros(k, vectors.shape[1]).index_add_(0, owner.to(vectors.device), vectors)
    return torch.nn.functional.normalize(sums, dim=1)


def class_probabilities(
    phrases: Sequence[Sequence[str]],
    reduction: Reduction,
    embed: Callable[[list[str]], torch.Tensor],
    similarity: Callable[[torch.Tensor], torch.Tensor],
    scale: float | torch.Tensor,
) -> torch.Tensor:
    """Per-class probabilities from per-phrase text embeddings, the pipeline every knowledge branch shares.

    Args:
        phrases: per class, its phrases.
        reduction: ``"mean"``: one embedding per class (the mean of its phrases'), softmax over classes;
            ``"max"``: softmax over all phrases, then per class the maximum over its own (ProxyCLIP).
        embed: phrases -> ``(Q, D)`` unit text embeddings.
        similarity: ``(N, D)`` text embeddings -> ``(B, N, H, W)`` cosine similarities.
        scale: softmax temperature.

    Returns:
        ``(B, K, H, W)`` class probabilities.
    """
    flat, owner = phrase_owner(phrases)
    k = len(phrases)
    vectors = embed(flat)
    if reduction == "mean":
        vectors = mean_embeddings(vectors, owner, k)
    probs = torch.softmax(similarity(vectors).float() * scale, dim=1)
    return probs if reduction == "mean" else reduce_phrases(probs, owner, k)
