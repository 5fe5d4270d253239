"""Spectral adapter (DOFA-style): wavelength-conditioned dynamic patch embedding, any band set.

A small hypernetwork turns each band's central wavelength into that band's patch-embedding
weights (Xiong et al., DOFA, 2024): the bands' wavelength tokens pass a transformer layer (so each
band's weights depend on the whole band set), then linear heads emit a ``(dim, k, k)`` kernel per
band and one bias. The generated ``(dim, C, k, k)`` kernel convolves the normalised band stack,
so RGB, RGBN, Sentinel-2 (12/13 bands), Landsat and Sentinel-1 VV/VH all enter one model. SAR
bands carry their radar wavelength (C-band 55 466 µm): the log-wavelength encoding gives them
tokens far from the optical ones. Features are produced at each Hiera stage's resolution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: wavelengths above this (µm) are radar bands (values in dB), below are optical (reflectance or display 0-1).
SAR_MIN_WAVELENGTH_UM = 1000.0


def wavelength_encoding(wavelengths_um: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal encoding of log10(wavelength / 1 µm): ``(C,)`` -> ``(C, dim)``.

    Frequencies are spread over the range 0.3 µm (log -0.5) .. 1e5 µm (log 5), so visible, SWIR and
    radar bands are well separated.
    """
    x = torch.log10(wavelengths_um.clamp_min(1e-3)).float().unsqueeze(-1)  # (C, 1)
    freqs = torch.exp(torch.linspace(math.log(0.5), math.log(200.0), dim // 2, device=x.device))
    return torch.cat([torch.sin(x * freqs), torch.cos(x * freqs)], dim=-1)


#: robust per-image normalisation: each band clipped to mean ± ``ROBUST_K`` standard deviations
ROBUST_K = 2.0


def robust_band_stats(image: torch.Tensor, *, k: float = ROBUST_K) -> torch.Tensor:
    """Per image and band, the ``(low, high)`` = mean ∓ ``k`` std over finite pixels: ``(B, C, 2)``.

    ``image``: ``(B, C, H, W)`` physical values (reflectance, display 0-1, or SAR dB), NaN = nodata.
    A band without a finite pixel gets ``(0, 1)``. Large-area mapping computes these once per scene
    (on an overview) and passes them to every window, so tiles share one stretch and show no seams.
    """
    x = image.float().flatten(2)
    finite = torch.isfinite(x)
    n = finite.sum(-1).clamp_min(1)
    x0 = torch.where(finite, x, torch.zeros((), dtype=x.dtype, device=x.device))
    mean = x0.sum(-1) / n
    var = (torch.where(finite, x - mean[..., None], torch.zeros((), device=x.device)) ** 2).sum(-1) / n
    std = var.sqrt()
    empty = finite.sum(-1) == 0
    low = torch.where(empty, torch.zeros_like(mean), mean - k * std)
    high = torch.where(empty, torch.ones_like(mean), mean + k * std)
    return torch.stack([low, high], dim=-1)


def normalise_bands(
    image: torch.Tensor, wavelengths_um: torch.Tensor | None = None, stats: torch.Tensor | None = None
) -> torch.Tensor:
    """Robust per-image, per-band stretch to ``[0, 1]``; NaN (nodata) -> 0.

    Each band is clipped to ``[low, high]`` = mean ± 2 std (:func:`robust_band_stats`, from ``image``
    itself unless ``stats`` ``(B, C, 2)`` or ``(C, 2)`` is given) and scaled to ``[0, 1]``, as the
    official LandSegmenter evaluation code does for Sentinel-2. The same scene as reflectance, as
    DN x any scale, or as an 8-bit display export lands in the same range, and optical and SAR bands
    share one scale. Used identically in training and inference. ``wavelengths_um`` is accepted for
    API symmetry (the stretch is wavelength-independent). Returns ``(B, C, H, W)`` float32.
    """
    del wavelengths_um
    if stats is None:
        stats = robust_band_stats(image)
    stats = stats.to(image.device, torch.float32)
    if stats.ndim == 2:
        stats = stats.unsqueeze(0)
    low, high = stats[..., 0, None, None], stats[..., 1, None, None]
    out = (image.float() - low) / (high - low).clamp_min(1e-6)
    return torch.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0).clamp(0.0, 1.0)


def _norm(dim: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, dim), dim)


class DynamicPatchEmbed(nn.Module):
    """Wavelength-conditioned patch embedding: ``(B, C, H, W)`` + ``(C,)`` µm -> ``(B, dim, H/k, W/k)``."""

    def __init__(self, *, dim: int, kernel: int = 4, wave_dim: int = 64, hidden: int = 128, heads: int = 4) -> None:
        super().__init__()
        self.dim, self.kernel, self.wave_dim = dim, kernel, wave_dim
        self.token = nn.Sequential(nn.Linear(wave_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.mixer = nn.TransformerEncoderLayer(
            hidden, heads, hidden * 2, dropout=0.0, batch_first=True, norm_first=True
        )
        self.to_weight = nn.Linear(hidden, dim * kernel * kernel)
        self.to_bias = nn.Linear(hidden, dim)
        nn.init.trunc_normal_(self.to_weight.weight, std=0.02)
        nn.init.zeros_(self.to_weight.bias)
        nn.init.zeros_(self.to_bias.bias)

    def kernels(
        self, wavelengths_um: torch.Tensor, extra: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Generated ``(dim, C, k, k)`` weights and ``(dim,)`` bias for a band set.

        ``extra``: optional ``(C, hidden)`` embeddings added to the band tokens (SAR polarisation).
        """
        tokens = self.token(wavelength_encoding(wavelengths_um, self.wave_dim))
        if extra is not None:
            tokens = tokens + extra
        tokens = self.mixer(tokens.unsqueeze(0))[0]
        c = tokens.shape[0]
        weight = self.to_weight(tokens).view(c, self.dim, self.kernel, self.kernel).permute(1, 0, 2, 3)
        return weight / math.sqrt(c), self.to_bias(tokens.mean(0))

    def forward(self, x: torch.Tensor, wavelengths_um: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """Patch-embed ``x`` with kernels generated from its bands' wavelengths.

        Raises:
            ValueError: the number of bands and of wavelengths differ.
        """
        if x.shape[1] != wavelengths_um.shape[0]:
            raise ValueError(f"image has {x.shape[1]} bands but {wavelengths_um.shape[0]} wavelengths were given")
        weight, bias = self.kernels(wavelengths_um.to(x.device), extra)
        return F.conv2d(x, weight, bias, stride=self.kernel)


class Pyramid(nn.Module):
    """Stride-4 features -> one map per stage (strides 4, 8, 16, 32) with the stages' widths."""

    def __init__(self, *, in_dim: int, stage_dims: Sequence[int]) -> None:
        super().__init__()
        self.levels = nn.ModuleList()
        prev = in_dim
        for i, d in enumerate(stage_dims):
            stride = 1 if i == 0 else 2
            self.levels.append(nn.Sequential(nn.Conv2d(prev, d, 3, stride=stride, padding=1), _norm(d), nn.GELU()))
            prev = d

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature map after each stage, finest first."""
        out = []
        for level in self.levels:
            x = level(x)
            out.append(x)
        return out


class SpectralAdapter(nn.Module):
    """DOFA-style spectral features at every stage: ``[(B, C_i, H/4/2^i, W/4/2^i)]``."""

    def __init__(
        self, *, stage_dims: Sequence[int], embed_dim: int = 64, wave_dim: int = 64, hidden: int = 128
    ) -> None:
        super().__init__()
        self.embed = DynamicPatchEmbed(dim=embed_dim, wave_dim=wave_dim, hidden=hidden)
        self.pyramid = Pyramid(in_dim=embed_dim, stage_dims=stage_dims)

    def forward(
        self, bands: torch.Tensor, wavelengths_um: torch.Tensor, extra: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """Embed the bands into the encoder's input.

        ``bands``: ``(B, C, H, W)`` normalised (:func:`normalise_bands`); ``wavelengths_um``: ``(C,)``;
        ``extra``: optional ``(C, hidden)`` band-token embeddings.
        """
        return list(self.pyramid(F.gelu(self.embed(bands, wavelengths_um, extra))))
