"""CLIP knowledge from LandSegmenter's own dense alignment head (the offline default)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from lslib.model.clip_knowledge.phrases import Reduction, class_probabilities

if TYPE_CHECKING:
    from lslib.model.landsegmenter import ImageEmbedding, LandSegmenter


class AlignmentKnowledge:
    """Dense image-text probabilities from the model's alignment head, in its text encoder's space.

    For phrase ``j`` with unit text embedding ``t_j`` (the model's prompt templates averaged) and pixel
    feature ``e(x)``: ``s_j(x) = cos(e(x), t_j)``, ``P_j(x) = softmax_j(scale * s_j(x))`` over all phrases
    of all classes (``scale``: the head's learned temperature), then a class's probability is the maximum
    over its phrases (``"max"``). With ``"mean"`` each class is one embedding (the mean of its phrases') and
    the softmax runs over classes: the similarity probabilities of the ``classwise``/``global`` fusions.
    """

    name = "alignment"

    @torch.inference_mode()
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
        """``(B, K, h, w)`` probabilities on the stride-4 grid (see :class:`~.phrases.ClipKnowledge`)."""
        pixels = embedding.pixels
        return class_probabilities(
            phrases, reduction, lambda flat: model.encode_prompts(flat, batch_size=16),
            lambda vectors: model.alignment(pixels, vectors.to(pixels.device)), model.alignment.scale(),
        )  # fmt: skip
