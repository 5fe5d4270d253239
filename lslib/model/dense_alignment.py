"""Dense image-text alignment head: per-pixel cosine similarity between image features and class names.

This is the offline stand-in for CLIP's dense knowledge used by the class-wise confidence-guided
fusion: pixel features are projected into the text-embedding space, L2-normalised, and compared
with the L2-normalised class embeddings. Trained with a contrastive (CLIP-style) loss whose
temperature is the learned :attr:`DenseAlignmentHead.logit_scale`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["DenseAlignmentHead"]

MAX_LOGIT_SCALE = 100.0
"""Upper bound of ``exp(logit_scale)``, as in CLIP."""


class DenseAlignmentHead(nn.Module):
    """Project ``(B, in_dim, H, W)`` pixel features to text space and score them against class names.

    Args:
        in_dim: channels of the pixel features.
        text_dim: width of the text embeddings (384 for all-MiniLM-L6-v2).
        hidden: ``None`` for a single 1x1 convolution (a linear projection, as CLIP's image
            projection); an int for a two-layer 1x1-conv MLP ``in_dim -> hidden -> text_dim`` with GELU.

    ``logit_scale`` is a learned scalar in log space, initialised to ``log(1 / 0.07)`` as in CLIP;
    :meth:`scale` gives ``exp(logit_scale)`` clamped at 100.
    """

    def __init__(self, *, in_dim: int, text_dim: int, hidden: int | None = None) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.text_dim = text_dim
        if hidden is None:
            self.proj: nn.Module = nn.Conv2d(in_dim, text_dim, kernel_size=1)
        else:
            self.proj = nn.Sequential(
                nn.Conv2d(in_dim, hidden, kernel_size=1), nn.GELU(), nn.Conv2d(hidden, text_dim, kernel_size=1)
            )
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def embed(self, pixels: Tensor) -> Tensor:
        """``pixels: (B, in_dim, H, W)`` -> unit-norm per-pixel text-space embeddings ``(B, text_dim, H, W)``.

        A pixel whose projection is exactly zero stays zero (similarity 0 with every class).
        """
        if pixels.ndim != 4 or pixels.shape[1] != self.in_dim:
            raise ValueError(f"pixels must be (B, {self.in_dim}, H, W), got {tuple(pixels.shape)}")
        return F.normalize(self.proj(pixels), dim=1)

    def forward(self, pixels: Tensor, text: Tensor) -> Tensor:
        """Cosine similarity of every pixel with every class.

        Args:
            pixels: ``(B, in_dim, H, W)`` pixel features.
            text: ``(K, text_dim)`` shared by the batch or ``(B, K, text_dim)``; normalised here.

        Returns:
            similarity ``(B, K, H, W)`` in ``[-1, 1]``.
        """
        if pixels.ndim != 4 or pixels.shape[1] != self.in_dim:
            raise ValueError(f"pixels must be (B, {self.in_dim}, H, W), got {tuple(pixels.shape)}")
        b, _, h, w = pixels.shape
        if text.ndim == 2:
            text = text.unsqueeze(0).expand(b, -1, -1)
        if text.ndim != 3 or text.shape[0] != b or text.shape[-1] != self.text_dim:
            raise ValueError(f"text must be (K, {self.text_dim}) or ({b}, K, {self.text_dim}), got {tuple(text.shape)}")
        text = F.normalize(text.to(device=pixels.device, dtype=pixels.dtype), dim=-1)
        if isinstance(self.proj, nn.Conv2d):
            sim = self._linear_similarity(pixels, text)
        else:
            sim = torch.bmm(text, self.embed(pixels).flatten(2)).view(b, text.shape[1], h, w)
        return sim.clamp(-1.0, 1.0)

    def _linear_similarity(self, pixels: Tensor, text: Tensor) -> Tensor:
        """cos(W x + b, t) without materialising the ``(B, text_dim, H, W)`` projection.

        Numerator ``t.(W x + b) = (W^T t).x + t.b``; squared norm ``|W x + b|^2 = x^T (W^T W) x +
        2 (W^T b).x + b.b``: all in the small pixel space (``in_dim``), exact up to rounding, ~10x
        faster for ``in_dim`` << ``text_dim``.
        """
        assert isinstance(self.proj, nn.Conv2d)
        b, c, h, w = pixels.shape
        weight = self.proj.weight.view(self.text_dim, c)  # (T, C)
        bias = self.proj.bias if self.proj.bias is not None else weight.new_zeros(self.text_dim)
        x = pixels.flatten(2)  # (B, C, HW)
        num = torch.bmm(text @ weight, x) + (text @ bias).unsqueeze(-1)  # (B, K, HW)
        gram = weight.T @ weight  # (C, C)
        sq = (x * torch.einsum("ij,bjn->bin", gram, x)).sum(1) + 2 * (weight.T @ bias) @ x + bias @ bias  # (B, HW)
        norm = sq.clamp_min(0).sqrt().unsqueeze(1)
        sim = torch.where(norm > 1e-12, num / norm.clamp_min(1e-12), torch.zeros_like(num))
        return sim.view(b, text.shape[1], h, w)

    def similarity(self, pixels: Tensor, text: Tensor) -> Tensor:
        """Alias of :meth:`forward`: ``(B, in_dim, H, W)``, ``(K|B×K, text_dim)`` -> ``(B, K, H, W)`` in [-1, 1]."""
        sim: Tensor = self(pixels, text)
        return sim

    def scale(self) -> Tensor:
        """``exp(logit_scale)`` clamped at 100: the inverse temperature (scalar tensor)."""
        return self.logit_scale.clamp(max=math.log(MAX_LOGIT_SCALE)).exp()

    def logits(self, similarity: Tensor) -> Tensor:
        """Cosine similarities ``(B, K, H, W)`` -> contrastive logits ``similarity * scale()``, same shape."""
        return similarity * self.scale()
