"""Image encoder: SAM2's hierarchical Hiera backbone (transformers ``Sam2HieraDetModel``), 4 stages.

Online users load real ``facebook/sam2.1-hiera-*`` weights (:meth:`HieraEncoder.from_pretrained`);
offline variants are the same class with small configs and random initialisation. Input: an RGB
(or chosen band triplet) tensor normalised with ImageNet statistics; output: one feature map per
stage at strides 4, 8, 16 and 32, channels first.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: the input side must be a multiple of this (4 stages of stride 4, 2, 2, 2 and the 8 px window
#: positional embedding at stride 4); :class:`lslib.model.landsegmenter.LandSegmenter` pads to it.
SIZE_MULTIPLE = 32


class OfflineWeightsError(OSError):
    """Pretrained weights were requested but are not available offline."""


class HieraEncoder(nn.Module):
    """SAM2 Hiera backbone returning the four stage features.

    Args (keyword-only):
        hiera: keyword arguments of ``transformers.Sam2HieraDetConfig`` (``hidden_size``,
            ``embed_dim_per_stage``, ``blocks_per_stage``, ``num_attention_heads_per_stage``,
            ``global_attention_blocks``, ``window_size_per_stage``, ...).
    """

    def __init__(self, *, hiera: dict[str, Any]) -> None:
        super().__init__()
        from transformers import Sam2HieraDetConfig, Sam2HieraDetModel

        self.config = Sam2HieraDetConfig(**hiera)
        self.backbone = Sam2HieraDetModel(self.config)
        self.stage_dims: tuple[int, ...] = tuple(int(d) for d in hiera["embed_dim_per_stage"])
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        """Stage features.

        Args:
            rgb: ``(B, 3, H, W)`` float in [0, 1] (display-scaled true or false colour); H and W
                multiples of :data:`SIZE_MULTIPLE`.

        Returns:
            ``[(B, C1, H/4, W/4), (B, C2, H/8, W/8), (B, C3, H/16, W/16), (B, C4, H/32, W/32)]``.
        """
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise ValueError(f"HieraEncoder expects (B, 3, H, W), got {tuple(rgb.shape)}")
        h, w = rgb.shape[-2:]
        if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
            raise ValueError(f"image size {h}x{w} must be a multiple of {SIZE_MULTIPLE}; pad it first")
        out = self.backbone(pixel_values=(rgb - self.mean) / self.std)
        return [s.permute(0, 3, 1, 2).contiguous() for s in out.intermediate_hidden_states]

    @classmethod
    def from_pretrained(cls, hub_id: str, *, hiera: dict[str, Any]) -> HieraEncoder:
        """Build with ``hiera`` and load the backbone weights of a SAM2 checkpoint.

        ``hub_id`` (e.g. ``facebook/sam2.1-hiera-tiny``) is on the Hugging Face hub or a local folder.

        Raises:
            OfflineWeightsError: the weights are not in the local cache and the hub is offline
                (``HF_HUB_OFFLINE=1``) or unreachable; says what to do. Never a silent random init.
            ValueError: the checkpoint's backbone does not match ``hiera`` (lists the keys).
        """
        from transformers import Sam2Model

        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"} and not os.path.isdir(hub_id)
        try:
            sam2 = Sam2Model.from_pretrained(hub_id, local_files_only=offline)
        except OSError as exc:
            raise OfflineWeightsError(
                f"SAM2 weights {hub_id!r} are not available here ({'offline: HF_HUB_OFFLINE=1' if offline else exc}). "
                "Run once online to cache them, pass a local folder holding the checkpoint, or build the model "
                "without pretrained weights (build_model(variant) / pretrained_backbone=False)."
            ) from exc
        encoder = cls(hiera=hiera)
        state = sam2.vision_encoder.backbone.state_dict()
        load_strict(encoder.backbone, state, what=f"SAM2 backbone of {hub_id}")
        return encoder


def load_strict(module: nn.Module, state: dict[str, torch.Tensor], *, what: str) -> None:
    """``module.load_state_dict(state)`` that reports missing, unexpected and mis-shaped keys clearly."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        raise ValueError(
            f"{what} does not match this model: {_few(missing)} missing, {_few(unexpected)} unexpected, "
            f"{_few([f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}' for k in shapes])} with another shape. "
            "Is it a checkpoint of another variant or project?"
        )
    module.load_state_dict(state)


def _few(items: Sequence[str], n: int = 6) -> str:
    if not items:
        return "0"
    more = f", … (+{len(items) - n})" if len(items) > n else ""
    return f"{len(items)} [{', '.join(items[:n])}{more}]"
