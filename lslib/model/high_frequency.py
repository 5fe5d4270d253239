"""High-frequency branch: band-agnostic high-pass structure (edges, texture) at every stage.

The normalised band stack is high-pass filtered (input minus a 5x5 binomial blur: the first level
of a Laplacian pyramid), then reduced over bands to two channels (mean and max of the absolute
response), so any band set gives the same input; a strided conv stem and a pyramid turn it into
features at the Hiera stages' resolutions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lslib.model.spectral_adapter import Pyramid


def high_pass(x: torch.Tensor) -> torch.Tensor:
    """``x - blur(x)`` with a separable 5x5 binomial kernel, per channel, reflect padding. ``(B, C, H, W)``."""
    k1 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype, device=x.device) / 16.0
    kernel = (k1[:, None] * k1[None, :]).expand(x.shape[1], 1, 5, 5)
    blurred = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), kernel, groups=x.shape[1])
    return x - blurred


class HighFrequencyBranch(nn.Module):
    """``(B, C, H, W)`` normalised bands -> ``[(B, C_i, H/4/2^i, W/4/2^i)]`` for each stage."""

    def __init__(self, *, stage_dims: Sequence[int], stem_dim: int = 32) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(2, stem_dim, 4, stride=4), nn.GELU())
        self.pyramid = Pyramid(in_dim=stem_dim, stage_dims=stage_dims)

    def forward(self, bands: torch.Tensor) -> list[torch.Tensor]:
        """High-pass the bands, reduce them to mean and max magnitude, and return one feature map per stage."""
        hp = high_pass(bands).abs()
        reduced = torch.cat([hp.mean(1, keepdim=True), hp.amax(1, keepdim=True)], dim=1)
        return list(self.pyramid(self.stem(reduced)))
