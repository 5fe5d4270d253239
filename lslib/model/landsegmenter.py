"""LandSegmenter: composition of the parts, plus input/output processing. No layers are defined here.

    bands (B, C, H, W) + wavelengths (C,) µm
      ├─ RGB triplet ─> HieraEncoder ─> f1..f4 (strides 4..32)
      ├─ SpectralAdapter (DOFA) ─> s1..s4 ┐
      └─ HighFrequencyBranch ─> h1..h4 ───┴─> AttentionFusion per stage: f_i <- f_i + AFM(f_i, s_i, h_i)
    neck = proj(f3) + up2(proj(f4))  (stride 16)
    class names ─> TextEncoder (frozen) ─> (K, 384)
    VisionTextDecoder(neck, text, high_res=(f1, f2)) ─> mask logits (B, K, H/4, W/4), presence (B, K)
    DenseAlignmentHead(upscaled pixel features, text) ─> image-text similarity (B, K, H/4, W/4),
        independent of the other prompts (computed from the image embedding alone)

:meth:`LandSegmenter.encode_image` is the heavy part, run once per image (the predictor caches
it); :meth:`LandSegmenter.decode` runs per prompt set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from lslib.model.image_encoder import SIZE_MULTIPLE
from lslib.model.spectral_adapter import SAR_MIN_WAVELENGTH_UM, normalise_bands, robust_band_stats

if TYPE_CHECKING:
    from lslib.model.decoder import VisionTextDecoder
    from lslib.model.dense_alignment import DenseAlignmentHead

RGB_TARGETS_UM = (0.665, 0.560, 0.490)
SAR_POLARISATIONS = ("VV", "VH", "HH", "HV")


@dataclass
class ImageEmbedding:
    """Cached result of :meth:`LandSegmenter.encode_image` for one batch of images."""

    neck: torch.Tensor  # (B, D, h, w) at stride 16
    high_res: tuple[torch.Tensor, torch.Tensor]  # (B, C1, 4h, 4w), (B, C2, 2h, 2w)
    pixels: torch.Tensor  # (B, P, 4h, 4w) prompt-independent pixel features for the alignment head
    size: tuple[int, int]  # input (H, W) before padding

    def nbytes(self) -> int:
        """Memory held by the embedding's tensors, in bytes."""
        return sum(t.numel() * t.element_size() for t in (self.neck, *self.high_res, self.pixels))


@dataclass
class SegmenterOutput:
    """Per-class outputs at the input resolution (``H, W``), ``K`` = number of prompts."""

    mask_logits: torch.Tensor  # (B, K, H, W)
    presence_logits: torch.Tensor  # (B, K)
    similarity: torch.Tensor  # (B, K, H, W) cosine image-text similarity in [-1, 1]


def band_codes(wavelengths_um: torch.Tensor, band_names: Sequence[str] | None = None) -> torch.Tensor:
    """Per band: 0 optical, 1..4 SAR polarisation VV, VH, HH, HV (from the names; VV if unnamed)."""
    codes = []
    for i, w in enumerate(wavelengths_um.tolist()):
        if w < SAR_MIN_WAVELENGTH_UM:
            codes.append(0)
            continue
        name = (band_names[i] if band_names is not None else "VV").upper()
        codes.append(1 + SAR_POLARISATIONS.index(name) if name in SAR_POLARISATIONS else 1)
    return torch.tensor(codes, dtype=torch.long)


def rgb_composite(bands: torch.Tensor, wavelengths_um: torch.Tensor) -> torch.Tensor:
    """The backbone's 3-channel input in [0, 1] from any *normalised* band set (:func:`normalise_bands`).

    Optical: the bands nearest to red, green, blue (0.665, 0.56, 0.49 µm). SAR only: (VV, VH, VV - VH)
    of the stretched bands (the third rescaled to [0, 1]). ``bands``: ``(B, C, H, W)`` in [0, 1];
    returns ``(B, 3, H, W)``.
    """
    optical = [i for i, w in enumerate(wavelengths_um.tolist()) if w < SAR_MIN_WAVELENGTH_UM]
    if optical:
        waves = wavelengths_um[optical]
        idx = [optical[int(torch.argmin((waves - t).abs()))] for t in RGB_TARGETS_UM]
        rgb = bands[:, idx]
    else:
        first = bands[:, 0:1]
        second = bands[:, 1:2] if bands.shape[1] > 1 else first
        rgb = torch.cat([first, second, (first - second + 1) / 2], dim=1)
    return torch.nan_to_num(rgb, nan=0.0).clamp(0.0, 1.0)


def upsample_to(x: torch.Tensor, embedding: ImageEmbedding) -> torch.Tensor:
    """Stride-4 maps ``(B, K, h4, w4)`` -> the input resolution ``(B, K, H, W)`` (bilinear, padding cropped)."""
    h, w = embedding.size
    full = embedding.neck.shape[-2] * 16, embedding.neck.shape[-1] * 16
    return F.interpolate(x, size=full, mode="bilinear", align_corners=False)[..., :h, :w]


class Neck(nn.Module):
    """Decoder input: ``proj(stage 3) + upsample2(proj(stage 4))`` -> ``(B, dim, H/16, W/16)``."""

    def __init__(self, *, c3: int, c4: int, dim: int) -> None:
        super().__init__()
        self.p3 = nn.Conv2d(c3, dim, 1)
        self.p4 = nn.Conv2d(c4, dim, 1)
        self.smooth = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, f3: torch.Tensor, f4: torch.Tensor) -> torch.Tensor:
        """Stage-3 and stage-4 features -> the decoder input at stage 3's resolution."""
        up = F.interpolate(self.p4(f4), size=f3.shape[-2:], mode="bilinear", align_corners=False)
        neck: torch.Tensor = self.smooth(self.p3(f3) + up)
        return neck


class LandSegmenter(nn.Module):
    """Text-prompted land-cover segmentation for any band set. Built by :func:`lslib.model.build.build_model`."""

    def __init__(
        self,
        *,
        config: Any,
        image_encoder: nn.Module,
        spectral: nn.Module,
        high_frequency: nn.Module,
        fusions: nn.ModuleList,
        neck: nn.Module,
        decoder: VisionTextDecoder,
        alignment: DenseAlignmentHead,
        pol_embed: nn.Embedding,
    ) -> None:
        super().__init__()
        self.config = config
        self.image_encoder = image_encoder
        self.spectral = spectral
        self.high_frequency = high_frequency
        self.fusions = fusions
        self.neck = neck
        self.decoder: VisionTextDecoder = decoder
        self.alignment: DenseAlignmentHead = alignment
        self.pol_embed: nn.Embedding = pol_embed  # added to SAR bands' wavelength tokens (VV/VH/HH/HV differ)
        self.use_adapter = True
        self.__dict__["_text_encoder"] = None  # frozen, not part of the state dict or checkpoints

    # --- text ------------------------------------------------------------------------------------
    @property
    def text_encoder(self) -> Any:
        """The frozen text encoder (:class:`lslib.model.text_encoder.TextEncoder`), loaded on first use."""
        if self.__dict__["_text_encoder"] is None:
            from lslib.model.text_encoder import TextEncoder

            self.__dict__["_text_encoder"] = TextEncoder.minilm()
        return self.__dict__["_text_encoder"]

    @text_encoder.setter
    def text_encoder(self, encoder: Any) -> None:
        self.__dict__["_text_encoder"] = encoder

    def encode_prompts(
        self,
        names: Sequence[str],
        *,
        descriptions: Sequence[str | None] | None = None,
        synonyms: Sequence[Sequence[str]] | None = None,
        batch_size: int = 1,
    ) -> torch.Tensor:
        """Class names (+ optional descriptions/synonyms) -> ``(K, text_dim)`` unit vectors (cached).

        ``batch_size``: see :func:`lslib.model.text_prompts.encode_classes` (1 = bit-reproducible).
        """
        from lslib.model.text_prompts import encode_classes

        text = encode_classes(
            self.text_encoder, list(names), descriptions=descriptions, synonyms=synonyms, batch_size=batch_size
        )
        return text.to(next(self.parameters()).device)

    # --- image -----------------------------------------------------------------------------------
    def encode_image(
        self,
        image: torch.Tensor,
        wavelengths_um: torch.Tensor | Sequence[float],
        band_names: Sequence[str] | None = None,
        *,
        norm_stats: torch.Tensor | None = None,
    ) -> ImageEmbedding:
        """Run the encoder and adapter once.

        Args:
            image: ``(B, C, H, W)`` float32 in physical units (reflectance, display 0-1 or SAR dB), NaN = nodata.
            wavelengths_um: ``(C,)`` central wavelength of each band in µm.
            band_names: optional band names (SAR polarisations ``VV``/``VH``/``HH``/``HV``).
            norm_stats: ``(B, C, 2)`` or ``(C, 2)`` per-band ``(low, high)`` of the robust stretch
                (:func:`lslib.model.spectral_adapter.robust_band_stats`); default: from ``image`` itself.
                Tiled mapping passes the whole scene's, so every window shares one stretch.
        """
        waves = torch.as_tensor(wavelengths_um, dtype=torch.float32, device=image.device)
        if image.ndim != 4 or image.shape[1] != waves.numel():
            raise ValueError(
                f"image must be (B, C, H, W) with C = {waves.numel()} wavelengths, got {tuple(image.shape)}"
            )
        if image.shape[1] == 0 or min(image.shape[-2:]) < 1:
            raise ValueError(f"empty image {tuple(image.shape)}")
        h, w = image.shape[-2:]
        pad_h, pad_w = (-h) % SIZE_MULTIPLE, (-w) % SIZE_MULTIPLE
        image = image.float()
        stats = robust_band_stats(image) if norm_stats is None else norm_stats
        if pad_h or pad_w:
            image = F.pad(image, (0, pad_w, 0, pad_h), value=float("nan"))
        unit = normalise_bands(image, waves, stats)  # (B, C, H, W) in [0, 1], NaN -> 0
        feats = self.image_encoder(rgb_composite(unit, waves))
        if self.use_adapter:
            bands = unit * 2.0 - 1.0  # zero-centred for the adapter
            codes = band_codes(waves, band_names).to(image.device)
            spectral = self.spectral(bands, waves, self.pol_embed(codes))
            hf = self.high_frequency(bands)
            feats = [fuse(f, s, hh) for fuse, f, s, hh in zip(self.fusions, feats, spectral, hf, strict=True)]
        neck = self.neck(feats[2], feats[3])
        high_res = (feats[0], feats[1])
        pixels = self.decoder.upscale(neck, high_res)  # before the class tokens: same for any prompt set
        return ImageEmbedding(neck=neck, high_res=high_res, pixels=pixels, size=(h, w))

    # --- decoding --------------------------------------------------------------------------------
    def decode(self, embedding: ImageEmbedding, text: torch.Tensor, *, upsample: bool = True) -> SegmenterOutput:
        """Masks, presence and image-text similarity for ``K`` prompts (``text``: ``(K, text_dim)``).

        ``upsample=False`` keeps the maps at the decoder's stride 4 over the padded input
        (``(B, K, ceil(H/16)*4, ceil(W/16)*4)``): cheaper when the caller fuses first and upsamples once.
        """
        out = self.decoder(embedding.neck, text, high_res=embedding.high_res)
        sim = self.alignment(embedding.pixels, text)
        if not upsample:
            return SegmenterOutput(out.mask_logits, out.presence_logits, sim.clamp(-1.0, 1.0))
        h, w = embedding.size

        def up(x: torch.Tensor) -> torch.Tensor:
            if x.shape[1] == 0:
                return x.new_zeros((x.shape[0], 0, h, w))
            return upsample_to(x, embedding)

        return SegmenterOutput(
            mask_logits=up(out.mask_logits), presence_logits=out.presence_logits, similarity=up(sim).clamp(-1.0, 1.0)
        )

    def forward(
        self,
        image: torch.Tensor,
        wavelengths_um: torch.Tensor | Sequence[float],
        text: torch.Tensor,
        band_names: Sequence[str] | None = None,
        *,
        norm_stats: torch.Tensor | None = None,
    ) -> SegmenterOutput:
        """``decode(encode_image(image, wavelengths, band_names, norm_stats=...), text)``; shapes as there."""
        return self.decode(self.encode_image(image, wavelengths_um, band_names, norm_stats=norm_stats), text)
