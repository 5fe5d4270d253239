"""Attention fusion module (AFM): merges backbone, spectral and high-frequency features per stage.

For stage features ``f`` (backbone), ``s`` (spectral) and ``h`` (high-frequency):

    a  = W_m [s ; h]                                  (1x1 conv, merge the adapter branches)
    a' = a * sigma(MLP([GAP(f) ; GAP(a)]))            (channel / feature attention)
    a''= a' * sigma(conv7x7([mean_c(a') ; max_c(a')]))  (spatial / position attention)
    out = f + W_o a''                                 (residual; W_o is zero-initialised)

With ``W_o = 0`` at initialisation the encoder starts as the pretrained backbone, and with the
adapter switched off it *is* the backbone.
"""

from __future__ import annotations

import torch
from torch import nn


class AttentionFusion(nn.Module):
    """One AFM for a stage of width ``dim``; inputs and output ``(B, dim, h, w)``."""

    def __init__(self, *, dim: int, reduction: int = 4) -> None:
        super().__init__()
        self.merge = nn.Conv2d(2 * dim, dim, 1)
        hidden = max(8, dim // reduction)
        self.channel = nn.Sequential(nn.Linear(2 * dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)
        self.out = nn.Conv2d(dim, dim, 1)
        nn.init.zeros_(self.out.weight)
        assert self.out.bias is not None
        nn.init.zeros_(self.out.bias)

    def forward(self, f: torch.Tensor, s: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Fuse the encoder features ``f`` with the spectral ``s`` and high-frequency ``h`` features (residual)."""
        a = self.merge(torch.cat([s, h], dim=1))
        pooled = torch.cat([f.mean((2, 3)), a.mean((2, 3))], dim=1)
        a = a * torch.sigmoid(self.channel(pooled))[:, :, None, None]
        a = a * torch.sigmoid(self.spatial(torch.cat([a.mean(1, keepdim=True), a.amax(1, keepdim=True)], dim=1)))
        fused: torch.Tensor = f + self.out(a)
        return fused
