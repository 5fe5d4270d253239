"""Vision-text decoder: a SAM-style two-way transformer that turns class-name embeddings into masks.

Each class name (already embedded by the text prompter, ``(K, text_dim)``) becomes one *class
token*. A two-way transformer lets the class tokens read the image and the image read the tokens;
the image is then upscaled from stride 16 to stride 4 (adding the encoder's stride-8 and stride-4
features on the way, as SAM2 does), and every class token is turned by a small hypernetwork into a
linear classifier over the upscaled pixel features: one mask per class. Every class is scored
independently (no softmax over classes, no background token), so ``K`` may be anything from 0 to
hundreds and may include names never seen in training. Nothing depends on the order of the
classes: permuting ``text`` permutes the outputs the same way.

Written for this project after the design of segment-anything's ``TwoWayTransformer`` and
``MaskDecoder`` (Kirillov et al. 2023) and SAM2's high-resolution skip features (Ravi et al. 2024).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "Attention",
    "DecoderOutput",
    "FourierPositionEncoding",
    "LayerNorm2d",
    "TwoWayBlock",
    "TwoWayTransformer",
    "VisionTextDecoder",
]


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of ``(B, C, H, W)`` maps (per pixel)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        """``x: (B, C, H, W)`` -> ``(B, C, H, W)`` normalised over ``C``."""
        mean = x.mean(dim=1, keepdim=True)
        var = (x - mean).pow(2).mean(dim=1, keepdim=True)
        x = (x - mean) * torch.rsqrt(var + self.eps)
        return x * self.weight[:, None, None] + self.bias[:, None, None]


class FourierPositionEncoding(nn.Module):
    """Random Fourier features of normalised pixel-centre coordinates, for any ``h, w``.

    Coordinates are pixel centres scaled to ``[-1, 1]`` over the map's extent, projected by a fixed
    Gaussian matrix ``(2, dim/2)`` (a persistent buffer, so checkpoints carry it) and passed
    through ``sin``/``cos``.
    """

    gaussian: Tensor

    def __init__(self, dim: int, *, scale: float = 1.0) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"the position encoding width must be even, got {dim}")
        self.register_buffer("gaussian", scale * torch.randn(2, dim // 2))

    def forward(self, h: int, w: int) -> Tensor:
        """Returns ``(h * w, dim)``, row-major over ``(h, w)``, in the buffer's dtype and device."""
        g = self.gaussian
        ys = (torch.arange(h, device=g.device, dtype=g.dtype) + 0.5) / h
        xs = (torch.arange(w, device=g.device, dtype=g.dtype) + 0.5) / w
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(h * w, 2)
        proj = (2.0 * grid - 1.0) @ g * (2.0 * math.pi)
        return torch.cat([proj.sin(), proj.cos()], dim=-1)


class Attention(nn.Module):
    """Multi-head attention with an optional reduced inner width (``dim // downsample``).

    ``q: (B, Nq, dim)``, ``k, v: (B, Nk, dim)`` -> ``(B, Nq, dim)``. With no keys (``Nk == 0``) the
    attention-weighted sum is empty, i.e. zero, and the output is the output projection's bias.
    """

    def __init__(self, *, dim: int, heads: int, downsample: int = 1) -> None:
        super().__init__()
        inner = dim // downsample
        if inner * downsample != dim or inner % heads:
            raise ValueError(f"dim={dim} / downsample={downsample} must be an integer divisible by heads={heads}")
        self.heads = heads
        self.inner = inner
        self.q_proj = nn.Linear(dim, inner)
        self.k_proj = nn.Linear(dim, inner)
        self.v_proj = nn.Linear(dim, inner)
        self.out_proj = nn.Linear(inner, dim)

    def _split(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.inner // self.heads).transpose(1, 2)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """``q: (B, Nq, dim)``, ``k, v: (B, Nk, dim)`` (batch may broadcast from 1) -> ``(B, Nq, dim)``."""
        b, nq, _ = q.shape
        if nq == 0 or k.shape[1] == 0:
            empty: Tensor = self.out_proj(q.new_zeros(b, nq, self.inner))
            return empty
        qh, kh, vh = self._split(self.q_proj(q)), self._split(self.k_proj(k)), self._split(self.v_proj(v))
        out = F.scaled_dot_product_attention(qh, kh, vh)
        fused: Tensor = self.out_proj(out.transpose(1, 2).reshape(b, nq, self.inner))
        return fused


class TwoWayBlock(nn.Module):
    """One two-way block: token self-attention, token->image attention, token MLP, image->token attention.

    Each step is residual and followed by a LayerNorm (post-norm, as in SAM). Positional encodings
    are added to queries and keys, never to values: image tokens use the image encoding, class
    tokens use their own initial embeddings. In the first block the tokens still *are* their
    positional encoding, so it is not added a second time to the self-attention inputs.
    """

    def __init__(self, *, dim: int, heads: int, mlp_dim: int, downsample: int, first: bool) -> None:
        super().__init__()
        self.first = first
        self.self_attn = Attention(dim=dim, heads=heads)
        self.norm1 = nn.LayerNorm(dim)
        self.token_to_image = Attention(dim=dim, heads=heads, downsample=downsample)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))
        self.norm3 = nn.LayerNorm(dim)
        self.image_to_token = Attention(dim=dim, heads=heads, downsample=downsample)
        self.norm4 = nn.LayerNorm(dim)

    def forward(self, tokens: Tensor, image: Tensor, token_pe: Tensor, image_pe: Tensor) -> tuple[Tensor, Tensor]:
        """``tokens, token_pe: (B, K, dim)``; ``image: (B, N, dim)``; ``image_pe: (1|B, N, dim)``.

        Returns the updated ``(tokens (B, K, dim), image (B, N, dim))``.
        """
        q = tokens if self.first else tokens + token_pe
        tokens = self.norm1(tokens + self.self_attn(q, q, tokens))

        q = tokens + token_pe
        k = image + image_pe
        tokens = self.norm2(tokens + self.token_to_image(q, k, image))
        tokens = self.norm3(tokens + self.mlp(tokens))

        q = tokens + token_pe
        image = self.norm4(image + self.image_to_token(k, q, tokens))
        return tokens, image


class TwoWayTransformer(nn.Module):
    """``depth`` two-way blocks followed by a final token->image attention.

    Operates on flattened image tokens so it is agnostic of ``h, w``; the caller supplies the
    image positional encoding. Class tokens are their own positional encoding.
    """

    def __init__(self, *, dim: int, depth: int, heads: int, mlp_dim: int, downsample: int = 2) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TwoWayBlock(dim=dim, heads=heads, mlp_dim=mlp_dim, downsample=downsample, first=i == 0)
            for i in range(depth)
        )
        self.final_attn = Attention(dim=dim, heads=heads, downsample=downsample)
        self.final_norm = nn.LayerNorm(dim)

    def forward(self, tokens: Tensor, image: Tensor, image_pe: Tensor) -> tuple[Tensor, Tensor]:
        """``tokens: (B, K, dim)``, ``image: (B, N, dim)``, ``image_pe: (1|B, N, dim)``.

        Returns ``(tokens (B, K, dim), image (B, N, dim))``.
        """
        token_pe = tokens
        for block in self.blocks:
            tokens, image = block(tokens, image, token_pe, image_pe)
        attn = self.final_attn(tokens + token_pe, image + image_pe, image)
        return self.final_norm(tokens + attn), image


def _mlp(in_dim: int, hidden: int, out_dim: int, layers: int) -> nn.Sequential:
    """``layers`` Linear layers with GELU between them."""
    dims = [in_dim] + [hidden] * (layers - 1) + [out_dim]
    mods: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(dims)):
        if i:
            mods.append(nn.GELU())
        mods.append(nn.Linear(a, b))
    return nn.Sequential(*mods)


class DecoderOutput(NamedTuple):
    """What :class:`VisionTextDecoder` returns (``H = 4h``, ``W = 4w``: stride 4 of the input image).

    - ``mask_logits: (B, K, H, W)``: per-class, per-pixel logits (independent sigmoids).
    - ``presence_logits: (B, K)``: per-class logit of "this class is present in the image".
    - ``pixel_embed: (B, upscale_dim, H, W)``: the upscaled pixel features the masks are read from.
    - ``tokens: (B, K, dim)``: the final class tokens.
    """

    mask_logits: Tensor
    presence_logits: Tensor
    pixel_embed: Tensor
    tokens: Tensor


class VisionTextDecoder(nn.Module):
    """Class-name embeddings + stride-16 image features -> one stride-4 mask and one presence score per class.

    Args:
        dim: width of the image embedding and of the transformer.
        text_dim: width of the text embeddings (384 for all-MiniLM-L6-v2).
        depth: number of two-way blocks.
        heads: attention heads (``dim`` and ``dim / 2`` must be divisible by it).
        mlp_dim: hidden width of the token MLP; default ``4 * dim``.
        high_res_dims: channels ``(C1, C2)`` of the encoder's stride-4 and stride-8 features, or
            ``None`` to build no high-resolution skips.
        upscale_dim: channels of the stride-4 pixel features; default ``max(16, dim // 8)``. The
            stride-8 stage uses ``2 * upscale_dim``.
        attention_downsample: inner-width divisor of the cross-attentions (2 as in SAM).
    """

    def __init__(
        self,
        *,
        dim: int,
        text_dim: int,
        depth: int = 2,
        heads: int = 8,
        mlp_dim: int | None = None,
        high_res_dims: tuple[int, int] | None = None,
        upscale_dim: int | None = None,
        attention_downsample: int = 2,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.text_dim = text_dim
        self.upscale_dim = upscale_dim if upscale_dim is not None else max(16, dim // 8)
        self.high_res_dims = high_res_dims
        mid = 2 * self.upscale_dim

        self.text_proj = nn.Linear(text_dim, dim)
        self.class_type = nn.Parameter(torch.randn(dim) * 0.02)
        self.pos_enc = FourierPositionEncoding(dim)
        self.transformer = TwoWayTransformer(
            dim=dim,
            depth=depth,
            heads=heads,
            mlp_dim=mlp_dim if mlp_dim is not None else 4 * dim,
            downsample=attention_downsample,
        )

        self.up1 = nn.ConvTranspose2d(dim, mid, kernel_size=2, stride=2)
        self.up1_norm = LayerNorm2d(mid)
        self.up2 = nn.ConvTranspose2d(mid, self.upscale_dim, kernel_size=2, stride=2)
        self.skip_s8: nn.Conv2d | None = None
        self.skip_s4: nn.Conv2d | None = None
        if high_res_dims is not None:
            c1, c2 = high_res_dims
            self.skip_s4 = nn.Conv2d(c1, self.upscale_dim, kernel_size=1)
            self.skip_s8 = nn.Conv2d(c2, mid, kernel_size=1)

        self.hyper = _mlp(dim, dim, self.upscale_dim, layers=3)
        self.presence = _mlp(dim, dim, 1, layers=3)

    def _batched_text(self, text: Tensor, batch: int, like: Tensor) -> Tensor:
        """``(K, E)`` or ``(B, K, E)`` -> ``(B, K, E)`` in ``like``'s dtype."""
        if text.ndim == 2:
            text = text.unsqueeze(0).expand(batch, -1, -1)
        elif text.ndim != 3 or text.shape[0] != batch:
            raise ValueError(
                f"text must be (K, {self.text_dim}) or ({batch}, K, {self.text_dim}), got {tuple(text.shape)}"
            )
        if text.shape[-1] != self.text_dim:
            raise ValueError(f"text embeddings have width {text.shape[-1]}, the decoder expects {self.text_dim}")
        return text.to(device=like.device, dtype=like.dtype)

    def _check_high_res(self, high_res: tuple[Tensor, Tensor], b: int, h: int, w: int) -> None:
        if self.high_res_dims is None:
            raise ValueError("high_res features were given but the decoder was built with high_res_dims=None")
        s4, s8 = high_res
        want4 = (b, self.high_res_dims[0], 4 * h, 4 * w)
        want8 = (b, self.high_res_dims[1], 2 * h, 2 * w)
        if tuple(s4.shape) != want4 or tuple(s8.shape) != want8:
            raise ValueError(
                f"high_res must be (stride-4 {want4}, stride-8 {want8}); got {tuple(s4.shape)}, {tuple(s8.shape)}"
            )

    def upscale(self, image: Tensor, high_res: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """``image: (B, dim, h, w)`` (transformer output) -> pixel features ``(B, upscale_dim, 4h, 4w)``.

        ``high_res = (stride-4 (B, C1, 4h, 4w), stride-8 (B, C2, 2h, 2w))`` encoder features are
        1x1-projected and added after the first (stride 8) and second (stride 4) x2 upsampling.
        """
        x = self.up1(image)
        if high_res is not None and self.skip_s8 is not None:
            x = x + self.skip_s8(high_res[1])
        x = F.gelu(self.up1_norm(x))
        x = self.up2(x)
        if high_res is not None and self.skip_s4 is not None:
            x = x + self.skip_s4(high_res[0])
        return F.gelu(x)

    def forward(
        self,
        image_embed: Tensor,
        text: Tensor,
        high_res: tuple[Tensor, Tensor] | None = None,
    ) -> DecoderOutput:
        """Decode one mask and one presence logit per class.

        Args:
            image_embed: ``(B, dim, h, w)`` neck features at stride 16.
            text: ``(K, text_dim)`` shared by the batch, or ``(B, K, text_dim)`` per image; any
                ``K >= 0``. Expected L2-normalised (as the text prompter returns them).
            high_res: optional ``(stride-4 (B, C1, 4h, 4w), stride-8 (B, C2, 2h, 2w))`` encoder features.

        Returns:
            :class:`DecoderOutput` with ``mask_logits (B, K, 4h, 4w)``, ``presence_logits (B, K)``,
            ``pixel_embed (B, upscale_dim, 4h, 4w)``, ``tokens (B, K, dim)``.
        """
        if image_embed.ndim != 4 or image_embed.shape[1] != self.dim:
            raise ValueError(f"image_embed must be (B, {self.dim}, h, w), got {tuple(image_embed.shape)}")
        b, _, h, w = image_embed.shape
        if high_res is not None:
            self._check_high_res(high_res, b, h, w)
        text = self._batched_text(text, b, image_embed)

        tokens = self.text_proj(text) + self.class_type
        image_pe = self.pos_enc(h, w).to(image_embed.dtype).unsqueeze(0)
        image = image_embed.flatten(2).transpose(1, 2)
        tokens, image = self.transformer(tokens, image, image_pe)

        pixel = self.upscale(image.transpose(1, 2).reshape(b, self.dim, h, w), high_res)
        weights = self.hyper(tokens)  # (B, K, upscale_dim)
        masks = torch.bmm(weights, pixel.flatten(2)).view(b, weights.shape[1], 4 * h, 4 * w)
        presence = self.presence(tokens).squeeze(-1)
        return DecoderOutput(mask_logits=masks, presence_logits=presence, pixel_embed=pixel, tokens=tokens)
