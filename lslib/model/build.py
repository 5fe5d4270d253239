"""Variant registry (all numbers in one place), builders, and safe save/load (safetensors + JSON).

``build_model("tiny")`` gives a random-initialised model (tests need no weights);
``build_model("paper", pretrained_backbone=True)`` loads SAM2.1 Hiera-B+ weights for users who are
online; ``load_model(folder)`` reads a checkpoint written by :func:`save_model`. Checkpoints are
``config.json`` + ``model.safetensors``: nothing is ever unpickled.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lslib.model.alignment import DenseAlignmentHead
from lslib.model.attention_fusion import AttentionFusion
from lslib.model.decoder import VisionTextDecoder
from lslib.model.high_frequency import HighFrequencyBranch
from lslib.model.image_encoder import HieraEncoder, load_strict
from lslib.model.landsegmenter import SAR_POLARISATIONS, LandSegmenter, Neck
from lslib.model.spectral_adapter import SpectralAdapter

#: 2: inputs are stretched robustly per image (mean ± 2 std per band, :func:`normalise_bands`); version 1
#: checkpoints were trained on fixed reflectance scaling and give wrong maps under version 2 inputs.
FORMAT_VERSION = 2
PICKLE_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle"}


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a LandSegmenter variant (written to ``config.json``)."""

    variant: str
    hiera: dict[str, Any]
    backbone_hub_id: str | None = None  # real SAM2 weights for this backbone size, for online users
    adapter_embed_dim: int = 64
    wave_dim: int = 64
    hyper_hidden: int = 128
    hf_stem_dim: int = 32
    decoder_dim: int = 128
    decoder_depth: int = 2
    decoder_heads: int = 4
    text_encoder: str = "minilm"  # lslib.model.text_encoder.TextEncoder.minilm()
    text_dim: int = 384
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


_WINDOWS = {"window_size_per_stage": [8, 4, 14, 7], "window_positional_embedding_background_size": [7, 7]}

VARIANTS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(
        variant="tiny",
        hiera={
            "hidden_size": 32,
            "embed_dim_per_stage": [32, 64, 128, 256],
            "blocks_per_stage": [1, 1, 3, 1],
            "num_attention_heads_per_stage": [1, 1, 2, 4],
            "global_attention_blocks": [3],
            **_WINDOWS,
        },
        adapter_embed_dim=32,
        wave_dim=32,
        hyper_hidden=64,
        hf_stem_dim=16,
        decoder_dim=128,
        decoder_depth=2,
        decoder_heads=4,
        notes="CPU / Binder default: ~1.4 M-parameter Hiera, trains in minutes on 2 cores",
    ),
    "base": ModelConfig(
        variant="base",
        hiera={
            "hidden_size": 96,
            "embed_dim_per_stage": [96, 192, 384, 768],
            "blocks_per_stage": [1, 2, 7, 2],
            "num_attention_heads_per_stage": [1, 2, 4, 8],
            "global_attention_blocks": [5, 7, 9],
            **_WINDOWS,
        },
        backbone_hub_id="facebook/sam2.1-hiera-tiny",
        adapter_embed_dim=64,
        wave_dim=64,
        hyper_hidden=128,
        hf_stem_dim=32,
        decoder_dim=256,
        decoder_depth=2,
        decoder_heads=8,
        notes="SAM2.1 Hiera-T backbone (same shapes as its released weights)",
    ),
    "paper": ModelConfig(
        variant="paper",
        hiera={
            "hidden_size": 112,
            "embed_dim_per_stage": [112, 224, 448, 896],
            "blocks_per_stage": [2, 3, 16, 3],
            "num_attention_heads_per_stage": [2, 4, 8, 16],
            "global_attention_blocks": [12, 16, 20],
            "window_size_per_stage": [8, 4, 14, 7],
            "window_positional_embedding_background_size": [14, 14],
        },
        backbone_hub_id="facebook/sam2.1-hiera-base-plus",
        adapter_embed_dim=96,
        wave_dim=128,
        hyper_hidden=256,
        hf_stem_dim=48,
        decoder_dim=256,
        decoder_depth=2,
        decoder_heads=8,
        notes="SAM2.1 Hiera-B+ backbone with the full adapter, as in the paper (GPU)",
    ),
}


def get_config(variant: str) -> ModelConfig:
    if variant not in VARIANTS:
        raise ValueError(f"unknown model variant {variant!r}; choose one of {sorted(VARIANTS)}")
    return VARIANTS[variant]


def build_from_config(config: ModelConfig, *, pretrained_backbone: bool = False) -> LandSegmenter:
    """Wire the parts for ``config`` (random init, or SAM2 backbone weights when asked)."""
    if pretrained_backbone:
        if not config.backbone_hub_id:
            raise ValueError(f"variant {config.variant!r} has no released backbone weights; use 'base' or 'paper'")
        encoder = HieraEncoder.from_pretrained(config.backbone_hub_id, hiera=config.hiera)
    else:
        encoder = HieraEncoder(hiera=config.hiera)
    dims = encoder.stage_dims
    decoder = VisionTextDecoder(
        dim=config.decoder_dim,
        text_dim=config.text_dim,
        depth=config.decoder_depth,
        heads=config.decoder_heads,
        high_res_dims=(dims[0], dims[1]),
    )
    return LandSegmenter(
        config=config,
        image_encoder=encoder,
        spectral=SpectralAdapter(
            stage_dims=dims, embed_dim=config.adapter_embed_dim, wave_dim=config.wave_dim, hidden=config.hyper_hidden
        ),
        high_frequency=HighFrequencyBranch(stage_dims=dims, stem_dim=config.hf_stem_dim),
        fusions=nn.ModuleList(AttentionFusion(dim=d) for d in dims),
        neck=Neck(c3=dims[2], c4=dims[3], dim=config.decoder_dim),
        decoder=decoder,
        alignment=DenseAlignmentHead(in_dim=decoder.upscale_dim, text_dim=config.text_dim),
        pol_embed=nn.Embedding(1 + len(SAR_POLARISATIONS), config.hyper_hidden, padding_idx=0),
    )


def build_model(
    variant: str = "tiny", *, checkpoint: str | Path | None = None, pretrained_backbone: bool = False
) -> LandSegmenter:
    """Build a variant: random init (``checkpoint=None``), or load a checkpoint folder/file.

    Raises:
        ValueError: unknown variant, a checkpoint of another variant (names both), a pickle file.
    """
    config = get_config(variant)
    if checkpoint is None:
        return build_from_config(config, pretrained_backbone=pretrained_backbone)
    model = load_model(checkpoint)
    if model.config.variant != variant:
        raise ValueError(f"checkpoint {checkpoint} is a {model.config.variant!r} model, not {variant!r}")
    return model


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Parameters per top-level part (and ``total``)."""
    out = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    out["total"] = sum(p.numel() for p in model.parameters())
    return out


def save_model(
    model: LandSegmenter, folder: str | Path, *, metadata: dict[str, Any] | None = None, half: bool = False
) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``folder`` (each atomically).

    ``half``: store floating-point weights as float16 (half the size; :func:`load_model` restores float32).
    """
    from safetensors.torch import save_file

    from lslib.atomic import atomic_path, write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    meta = {"format": "lslib-landsegmenter", "format_version": str(FORMAT_VERSION), "variant": model.config.variant}
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(state, str(tmp), metadata=meta)
    doc = {"format_version": FORMAT_VERSION, "config": asdict(model.config), "metadata": metadata or {}}
    write_text(folder / "config.json", json.dumps(doc, indent=1))
    return folder


def load_model(path: str | Path, *, map_location: str | torch.device = "cpu") -> LandSegmenter:
    """Load a checkpoint written by :func:`save_model` (a folder, or its ``model.safetensors``).

    Raises:
        ValueError: a pickle file (refused, never unpickled), not an lslib checkpoint, truncated
            file, or weights that do not match the config (lists the keys).
        FileNotFoundError: nothing at ``path``.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise ValueError(
            f"{path} is a pickle-based checkpoint; lslib never unpickles files (arbitrary code execution). "
            "Convert it to safetensors (safetensors.torch.save_file) with a config.json, or use save_model()."
        )
    folder = path.parent if path.is_file() else path
    weights, cfg_file = folder / "model.safetensors", folder / "config.json"
    if not weights.exists() or not cfg_file.exists():
        raise FileNotFoundError(f"no lslib checkpoint at {path}: expected {weights.name} and {cfg_file.name}")
    try:
        doc = json.loads(cfg_file.read_text(encoding="utf-8"))
        config = ModelConfig(**doc["config"])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{cfg_file} is not an lslib LandSegmenter config: {exc}") from exc
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{cfg_file} is checkpoint format {version}, this lslib reads format {FORMAT_VERSION}: format 1 models "
            "were trained on fixed reflectance scaling, not the per-image robust stretch lslib now applies, and would "
            "give wrong maps. Retrain it (lslib train --config ...) or use the released default (default_model())."
        )
    try:
        state = load_file(str(weights), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{weights} cannot be read (truncated or corrupt?): {exc}") from exc
    model = build_from_config(config)
    own = model.state_dict()
    state = {k: v.to(own[k].dtype) if k in own and v.is_floating_point() else v for k, v in state.items()}
    load_strict(model, state, what=f"checkpoint {weights}")
    return model.eval()


def with_overrides(variant: str, **changes: Any) -> ModelConfig:
    """A registry config with some fields changed (e.g. a smaller decoder for an experiment)."""
    return replace(get_config(variant), **changes)


#: the released default checkpoint shipped in the package (trained by ``lslib.training.default``)
RELEASED_NAME = "tiny-lasmini-v2"


def released_dir() -> Path:
    """Folder of the released default checkpoint inside the installed package (``lslib/resources/models``)."""
    return Path(__file__).resolve().parent.parent / "resources" / "models" / RELEASED_NAME


def load_released() -> LandSegmenter:
    """The released default model (instant, offline; see its ``MODEL_CARD.md``).

    Raises:
        FileNotFoundError: the package lacks the released weights (a broken install): reinstall lslib, or
            retrain it with ``lslib.training.default.default_model(retrain=True)``.
    """
    folder = released_dir()
    if not (folder / "model.safetensors").exists():
        raise FileNotFoundError(
            f"the released default checkpoint is missing from this installation ({folder}); reinstall lslib "
            "(pip install -e .) or train it again with default_model(retrain=True) / make default-model-retrain"
        )
    return load_model(folder)

