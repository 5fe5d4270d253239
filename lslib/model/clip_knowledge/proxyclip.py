"""ProxyCLIP over LandSegmenter's encoder: CLIP's values, attention from the proxy's features.

ProxyCLIP (Lan et al., ECCV 2024) keeps CLIP's vision transformer up to its last block and replaces the
last block's attention weights by the cosine similarity of a *proxy* model's patch features; values and
output projection stay CLIP's, the residual path and the MLP of the last block are dropped. LandSegmenter's
official evaluation uses the model's own encoder embedding as the proxy. For proxy features ``f_i``
(unit vectors) on the proxy grid::

    S_ij = <f_i, f_j>,   S' = gamma * (S - beta * mean(S)),   S'_ij = -inf where S'_ij < 0,
    A = softmax_j(S'),   out_i = W_o sum_j A_ij v_j

with CLIP's values ``v`` (of the last block's normed input, its patch tokens bilinearly resized to the
proxy grid). One deviation: the diagonal is never masked (``S'_ii`` kept even if negative), so a row is
never all ``-inf`` (ProxyCLIP would produce NaN there). ``out`` goes through CLIP's final layer norm and
projection, is compared with CLIP text embeddings (cosine, times ``logit_scale``) and turned into
probabilities over all phrases (softmax), then per class (:func:`~.phrases.reduce_phrases`). The image is
mapped in windows (``crop`` 256, ``stride`` 256 as the official test script), averaged where they overlap.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from lslib.model.clip_knowledge.phrases import Reduction, class_probabilities

if TYPE_CHECKING:
    from lslib.model.landsegmenter import ImageEmbedding, LandSegmenter

#: CLIP's pixel normalisation (OpenAI; OpenCLIP models fine-tuned from it, e.g. RemoteCLIP, use it too)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
#: the remote-sensing prompt templates of LandSegmenter's text side, reused for CLIP's text encoder
TEMPLATES = ("a satellite image of {}.", "an aerial photo of {}.", "a remote sensing image of {}.", "{}")
PROXY_STRIDE = 16  # LandSegmenter's encoder embedding (the neck) is at stride 16
DECODER_STRIDE = 4  # the decoder's masks and the fusion are at stride 4
RGB_UM = (0.665, 0.560, 0.490)  # central wavelengths of red, green, blue (Sentinel-2 B4, B3, B2)


def proxy_attention_weights(proxy: torch.Tensor, *, beta: float = 1.2, gamma: float = 3.0) -> torch.Tensor:
    """ProxyCLIP's attention weights from proxy features: ``(B, C, N)`` -> ``(B, N, N)``, rows sum to 1.

    Args:
        proxy: the proxy model's features of ``N`` patches (any scale: they are L2-normalised here).
        beta: how far above the mean similarity a pair must be to attend (ProxyCLIP default 1.2).
        gamma: temperature of the softmax (ProxyCLIP default 3.0).
    """
    unit = F.normalize(proxy.float(), dim=1)
    sim = torch.einsum("bcm,bcn->bmn", unit, unit)
    sim = (sim - beta * sim.mean(dim=(1, 2), keepdim=True)) * gamma
    eye = torch.eye(sim.shape[-1], dtype=torch.bool, device=sim.device)
    sim = sim.masked_fill((sim < 0) & ~eye, float("-inf"))
    return torch.softmax(sim, dim=-1)


def windows(size: int, crop: int, stride: int, align: int = PROXY_STRIDE) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` windows of at most ``crop`` covering ``[0, size)``, starts aligned to ``align``.

    As ProxyCLIP's sliding window, the last one is moved back to end at the border (then its start is
    rounded down to the proxy grid, so it may be up to ``align - 1`` pixels longer than ``crop``).
    """
    n = max(size - crop + stride - 1, 0) // stride + 1
    seen = set()
    for i in range(n):
        stop = min(i * stride + crop, size)
        start = max(stop - crop, 0) // align * align
        if (start, stop) not in seen:
            seen.add((start, stop))
            yield start, stop


def rgb_of(unit_bands: torch.Tensor, wavelengths: Sequence[float]) -> torch.Tensor:
    """The red, green and blue bands of a ``(B, C, H, W)`` [0, 1] stack (nearest wavelength within 40 nm).

    Raises:
        ValueError: the image has no band near one of them (e.g. SAR only): CLIP needs a colour image.
    """
    waves = torch.as_tensor(list(wavelengths), dtype=torch.float32)
    index = []
    for target, colour in zip(RGB_UM, ("red", "green", "blue"), strict=True):
        dist = (waves - target).abs()
        if waves.numel() == 0 or float(dist.min()) > 0.04:
            raise ValueError(
                f"ProxyCLIP needs a {colour} band (~{target} µm) for CLIP; this image has wavelengths "
                f"{[round(float(w), 3) for w in waves]}: use the default knowledge (clip=None) for it"
            )
        index.append(int(dist.argmin()))
    return unit_bands[:, index].nan_to_num(0.0).clamp(0.0, 1.0)


def _call_layer(layer: Any, x: torch.Tensor) -> torch.Tensor:
    """One transformers ``CLIPEncoderLayer`` on ``x`` (its signature changed between releases)."""
    params = inspect.signature(layer.forward).parameters
    out = layer(x, None, None) if "causal_attention_mask" in params else layer(x, attention_mask=None)
    hidden: torch.Tensor = out[0] if isinstance(out, tuple) else out
    return hidden


class ProxyClipKnowledge:
    """ProxyCLIP with LandSegmenter's encoder embedding as the proxy, on a transformers ``CLIPModel``.

    Args:
        clip: a ``transformers.CLIPModel`` (:func:`~.loading.load_clip` builds one from a folder, a
            file of OpenCLIP weights or a hub id).
        tokenizer: its tokenizer (``transformers.CLIPTokenizer``; the CLIP BPE vocabulary).
        name: what to call it in outputs (the folder or hub id).
        crop, stride: sliding window in pixels (official: 256, 256).
        beta, gamma: proxy attention (:func:`proxy_attention_weights`).
        logit_scale: temperature of the softmax over phrases (ProxyCLIP: 40).
        templates: prompt templates, averaged per phrase.
    """

    def __init__(
        self,
        clip: Any,
        tokenizer: Any,
        *,
        name: str = "proxyclip",
        crop: int = 256,
        stride: int = 256,
        beta: float = 1.2,
        gamma: float = 3.0,
        logit_scale: float = 40.0,
        templates: Sequence[str] = TEMPLATES,
    ) -> None:
        self.clip = clip.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.crop, self.stride = int(crop), int(stride)
        self.beta, self.gamma, self.logit_scale = float(beta), float(gamma), float(logit_scale)
        self.templates = tuple(templates)
        self.patch = int(clip.config.vision_config.patch_size)
        self._text: dict[str, torch.Tensor] = {}

    @property
    def device(self) -> torch.device:
        """Where CLIP's weights are."""
        weight: torch.nn.Parameter = next(self.clip.parameters())
        return weight.device

    # --- text ------------------------------------------------------------------------------------
    @torch.inference_mode()
    def text_features(self, phrases: Sequence[str]) -> torch.Tensor:
        """``(Q, D)`` unit CLIP text embeddings, each the normalised mean over :attr:`templates` (cached)."""
        new = [p for p in dict.fromkeys(phrases) if p not in self._text]
        if new:
            texts = [t.format(p) for p in new for t in self.templates]
            tok = self.tokenizer(texts, padding=True, truncation=True, max_length=77, return_tensors="pt")
            out = self.clip.text_model(input_ids=tok["input_ids"].to(self.device),
                                       attention_mask=tok["attention_mask"].to(self.device))
            emb = F.normalize(self.clip.text_projection(out.pooler_output).float(), dim=-1)
            emb = F.normalize(emb.view(len(new), len(self.templates), -1).mean(1), dim=-1)
            self._text.update(zip(new, emb, strict=True))
        return torch.stack([self._text[p] for p in phrases])

    # --- image -----------------------------------------------------------------------------------
    @torch.inference_mode()
    def image_features(self, rgb: torch.Tensor, proxy: torch.Tensor) -> torch.Tensor:
        """Dense CLIP features ``(B, D, h, w)`` (unit) on the proxy grid of one window.

        Args:
            rgb: ``(B, 3, H, W)`` in [0, 1]; zero-padded here to a multiple of CLIP's patch size.
            proxy: ``(B, C, h, w)`` proxy features of the same window.
        """
        vision = self.clip.vision_model
        mean = torch.tensor(CLIP_MEAN, device=rgb.device).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD, device=rgb.device).view(1, 3, 1, 1)
        x = (rgb - mean) / std
        x = F.pad(x, (0, (-x.shape[-1]) % self.patch, 0, (-x.shape[-2]) % self.patch))
        grid = (x.shape[-2] // self.patch, x.shape[-1] // self.patch)
        dtype = next(self.clip.parameters()).dtype
        tokens = vision.embeddings(x.to(dtype), interpolate_pos_encoding=True)
        tokens = vision.pre_layrnorm(tokens)
        layers = vision.encoder.layers
        for layer in layers[:-1]:
            tokens = _call_layer(layer, tokens)
        last = layers[-1]
        values = last.self_attn.v_proj(last.layer_norm1(tokens))[:, 1:]  # patch tokens only
        b, _, d = values.shape
        h, w = proxy.shape[-2:]
        values = values.transpose(1, 2).reshape(b, d, *grid)
        values = F.interpolate(values.float(), size=(h, w), mode="bilinear", align_corners=False)
        attn = proxy_attention_weights(proxy.flatten(2), beta=self.beta, gamma=self.gamma)
        out = torch.bmm(attn, values.flatten(2).transpose(1, 2)).to(dtype)  # (B, h*w, D)
        out = last.self_attn.out_proj(out)
        feats = self.clip.visual_projection(vision.post_layernorm(out)).float()
        return F.normalize(feats, dim=-1).transpose(1, 2).reshape(b, -1, h, w)

    @torch.inference_mode()
    def logits(self, rgb: torch.Tensor, proxy: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Cosine similarity with ``text`` ``(Q, D)`` on the stride-4 grid: ``(B, Q, ceil(H/4), ceil(W/4))``.

        Sliding windows (starts on the 16-pixel proxy grid); each window's similarity, on its proxy grid, is
        resized to its stride-4 cells and averaged where windows overlap. The stride-4 grid is the one the
        fusion runs on: 16x less memory than the full resolution (an AOI of 4000 x 4000 px with 30 phrases
        needs 120 MB, not 2 GB).

        Args:
            rgb: ``(B, 3, H, W)`` in [0, 1].
            proxy: ``(B, C, ceil(H/16), ceil(W/16))`` or larger (the padded neck) proxy features at stride 16.
            text: unit text embeddings.
        """
        b, _, height, width = rgb.shape
        s, cell = PROXY_STRIDE, DECODER_STRIDE
        h4, w4 = -(-height // cell), -(-width // cell)
        total = rgb.new_zeros(b, text.shape[0], h4, w4)
        count = rgb.new_zeros(1, 1, h4, w4)
        for y0, y1 in windows(height, self.crop, self.stride):
            for x0, x1 in windows(width, self.crop, self.stride):
                gy, gx = -(-y1 // s), -(-x1 // s)
                window_proxy = proxy[:, :, y0 // s: gy, x0 // s: gx]
                feats = self.image_features(rgb[:, :, y0:y1, x0:x1], window_proxy)
                sim = torch.einsum("bdhw,qd->bqhw", feats, text.to(feats.device))
                per = s // cell  # stride-4 cells per proxy cell
                sim = F.interpolate(sim, size=((gy - y0 // s) * per, (gx - x0 // s) * per), mode="bilinear",
                                    align_corners=False)
                ny, nx = -(-y1 // cell) - y0 // cell, -(-x1 // cell) - x0 // cell
                total[:, :, y0 // cell: y0 // cell + ny, x0 // cell: x0 // cell + nx] += sim[:, :, :ny, :nx]
                count[:, :, y0 // cell: y0 // cell + ny, x0 // cell: x0 // cell + nx] += 1
        return total / count

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
        rgb = rgb_of(unit_bands, wavelengths).to(self.device)
        neck = embedding.neck.to(self.device)
        probs = class_probabilities(phrases, reduction, self.text_features,
                                    lambda text: self.logits(rgb, neck, text), self.logit_scale)  # fmt: skip
        return to_decoder_grid(probs, embedding)


def to_decoder_grid(probs: torch.Tensor, embedding: ImageEmbedding) -> torch.Tensor:
    """``(B, K, ceil(H/4), ceil(W/4))`` -> the decoder's stride-4 grid over the padded input (border replicated)."""
    h4, w4 = embedding.pixels.shape[-2:]
    padded = F.pad(probs, (0, w4 - probs.shape[-1], 0, h4 - probs.shape[-2]), mode="replicate")
    return padded.to(embedding.pixels.device)
