"""Variant registry (all numbers in one place), builders, and safe save/load (safetensors + JSON).

``build_model("tiny")`` gives a random-initialised model (tests need no weights);
``build_model("paper", pretrained_backbone=True)`` loads SAM2.1 Hiera-B+ weights for users who are
online; ``load_model(folder)`` reads a checkpoint written by :func:`save_model`. Checkpoints are
``config.json`` + ``model.safetensors``: nothing is ever unpickled.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lslib.model.afm import AttentionFusion
from lslib.model.decoder import VisionTextDecoder
from lslib.model.dense_alignment import DenseAlignmentHead
from lslib.model.high_frequency import HighFrequencyBranch
from lslib.model.image_encoder import HieraEncoder, load_strict
from lslib.model.landsegmenter import SAR_POLARISATIONS, LandSegmenter, Neck
from lslib.model.spectral_adapter import SpectralAdapter

#: 2: inputs are stretched robustly per image (mean ± 2 std per band,
#: :func:`~lslib.model.spectral_adapter.normalise_bands`); version 1 checkpoints were trained on fixed reflectance
#: scaling and give wrong maps under version 2 inputs.
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
    """The :class:`ModelConfig` of ``variant``.

    Raises:
        ValueError: an unknown variant (lists the known ones).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown model variant {variant!r}; choose one of {sorted(VARIANTS)}")
    return VARIANTS[variant]


#: integer fields of :class:`ModelConfig`: inclusive range, and a number each value must be a multiple of (the
#: layers split them: heads, sin/cos halves, group norms); generous bounds that still refuse a model of gigabytes.
_INT_FIELDS: dict[str, tuple[int, int, int]] = {
    "adapter_embed_dim": (1, 2048, 1),
    "wave_dim": (2, 2048, 2),  # sin and cos halves
    "hyper_hidden": (4, 2048, 4),  # 4 attention heads in the spectral adapter
    "hf_stem_dim": (1, 2048, 1),
    "decoder_dim": (16, 4096, 2),  # Fourier positional encoding halves
    "decoder_depth": (1, 16, 1),
    "decoder_heads": (1, 64, 1),
    "text_dim": (1, 4096, 1),
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_config(raw: Any, *, where: str) -> ModelConfig:
    """A :class:`ModelConfig` from ``raw`` (the ``"config"`` mapping of ``config.json``, or a config), validated.

    Checks every field's type and range, that ``variant`` is a registry name whose backbone (``hiera``) the
    config has (a config naming another variant would record the wrong one), the attention-head and
    divisibility rules of the layers, and that ``text_encoder``/``text_dim`` name a known encoder. Head
    sizes other than the registry's are allowed (:func:`with_overrides`).

    Raises:
        ValueError: naming ``where`` and the field, what it is and what is expected.
    """
    doc = asdict(raw) if isinstance(raw, ModelConfig) else raw
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: 'config' must be a mapping of model fields, got {type(doc).__name__}")
    names = [f.name for f in fields(ModelConfig)]
    unknown = sorted(set(doc) - set(names))
    if unknown:
        raise ValueError(f"{where}: unknown config field(s) {unknown}; valid: {names}")
    for required in ("variant", "hiera"):
        if required not in doc:
            raise ValueError(f"{where}: config field {required!r} is missing")
    variant = _check_variant(doc, where)
    _check_int_fields(doc, where)
    defaults = VARIANTS[variant]
    dim, heads = doc.get("decoder_dim", defaults.decoder_dim), doc.get("decoder_heads", defaults.decoder_heads)
    if (dim // 2) % heads:
        raise ValueError(
            f"{where}: field 'decoder_heads' is {heads}: decoder_dim {dim} and its half must be divisible by it"
        )
    hub = doc.get("backbone_hub_id")
    if hub is not None and (not isinstance(hub, str) or not hub.strip()):
        raise ValueError(f"{where}: field 'backbone_hub_id' is {hub!r}; it must be a hub id string or null")
    if not isinstance(doc.get("notes", ""), str):
        raise ValueError(f"{where}: field 'notes' must be a string, got {type(doc['notes']).__name__}")
    if not isinstance(doc.get("extra", {}), dict):
        raise ValueError(f"{where}: field 'extra' must be a mapping, got {type(doc['extra']).__name__}")
    from lslib.model.text_encoder import check_encoder_config

    check_encoder_config(
        doc.get("text_encoder", defaults.text_encoder), doc.get("text_dim", defaults.text_dim), where=where
    )
    return raw if isinstance(raw, ModelConfig) else ModelConfig(**doc)


def _check_variant(doc: dict[str, Any], where: str) -> str:
    """``doc``'s ``variant``, checked: a registry name whose backbone (``hiera``) the config has.

    Raises:
        ValueError: an unknown variant, a ``hiera`` that is not a mapping, or the backbone of another variant
            (names it) or of none (shows the differing keys).
    """
    variant = doc["variant"]
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise ValueError(f"{where}: field 'variant' is {variant!r}; choose one of {sorted(VARIANTS)}")
    hiera = doc["hiera"]
    if not isinstance(hiera, dict):
        raise ValueError(f"{where}: field 'hiera' must be a mapping, got {type(hiera).__name__}")
    own = VARIANTS[variant].hiera
    if hiera != own:
        other = [name for name, cfg in VARIANTS.items() if cfg.hiera == hiera]
        if other:
            raise ValueError(
                f"{where}: field 'variant' is {variant!r} but the backbone ('hiera') is that of variant {other[0]!r}: "
                f'the config names the wrong variant; set "variant": "{other[0]}"'
            )
        diff = sorted(set(hiera) ^ set(own) | {k for k in set(hiera) & set(own) if hiera[k] != own[k]})
        shown = ", ".join(
            f"hiera.{k} is {hiera.get(k, '(missing)')!r}, {variant!r} has {own.get(k, '(none)')!r}" for k in diff[:4]
        )
        raise ValueError(f"{where}: field 'hiera' is not the backbone of variant {variant!r} ({shown})")
    return variant


def _check_int_fields(doc: dict[str, Any], where: str) -> None:
    """Raise ValueError for an integer field of ``doc`` outside its range or not a multiple (:data:`_INT_FIELDS`)."""
    for name, (lo, hi, multiple) in _INT_FIELDS.items():
        if name not in doc:
            continue
        value = doc[name]
        if not _is_int(value) or not lo <= value <= hi or value % multiple:
            rule = f"an integer in [{lo}, {hi}]" + (f", a multiple of {multiple}" if multiple > 1 else "")
            raise ValueError(f"{where}: field {name!r} is {value!r}; it must be {rule}")


def build_from_config(config: ModelConfig, *, pretrained_backbone: bool = False) -> LandSegmenter:
    """Wire the parts for ``config`` (random init, or SAM2 backbone weights when asked).

    Raises:
        ValueError: an invalid config (:func:`check_config`), or no released backbone for the variant.
    """
    check_config(config, where=f"model config of variant {config.variant!r}")
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

    Before any weight is read or any layer allocated, ``config.json`` is validated (:func:`check_config`) and
    the weights' names, shapes and dtypes are compared with that config from the safetensors header; after
    reading, weights holding NaN or infinity (a diverged training run) are refused.

    Raises:
        ValueError: a pickle file (refused, never unpickled), not an lslib checkpoint, an invalid config field
            (names the file and field), truncated file, weights that do not match the config (lists the keys),
            or non-finite weights.
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
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{cfg_file} is not an lslib LandSegmenter config: {exc}") from exc
    if not isinstance(doc, dict) or "config" not in doc:
        raise ValueError(f"{cfg_file} is not an lslib LandSegmenter config: no 'config' mapping")
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{cfg_file} is checkpoint format {version}, this lslib reads format {FORMAT_VERSION}: format 1 models "
            "were trained on fixed reflectance scaling, not the per-image robust stretch lslib now applies, and would "
            "give wrong maps. Retrain it (lslib train --config ...) or use the released default (default_model())."
        )
    config = check_config(doc["config"], where=str(cfg_file))
    try:
        check_weights_header(weights, config, where=str(cfg_file))
        state = load_file(str(weights), device=str(map_location))
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{weights} cannot be read (truncated or corrupt?): {exc}") from exc
    check_finite(state, where=str(weights))
    model = build_from_config(config)
    own = model.state_dict()
    state = {k: v.to(own[k].dtype) if k in own and v.is_floating_point() else v for k, v in state.items()}
    load_strict(model, state, what=f"checkpoint {weights}")
    return model.eval()


def _few(items: list[str], n: int = 6) -> str:
    if not items:
        return "0"
    more = f", … (+{len(items) - n})" if len(items) > n else ""
    return f"{len(items)} [{', '.join(items[:n])}{more}]"


#: safetensors dtype names a stored floating-point weight may have (load_model converts to the model's dtype)
_FLOAT_DTYPES = {"F16", "BF16", "F32", "F64"}
_ST_DTYPES = {
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def _dtype_ok(stored: str, expected: torch.Tensor) -> bool:
    return stored in _FLOAT_DTYPES if expected.is_floating_point() else stored == _ST_DTYPES.get(expected.dtype)


def check_weights_header(weights: str | Path, config: ModelConfig, *, where: str = "config.json") -> None:
    """Compare the tensors listed in a safetensors header with what ``config`` builds; nothing is allocated.

    The expected names and shapes come from building ``config`` on PyTorch's ``meta`` device; the file's
    from its header (``safe_open``: names, shapes, dtypes and metadata only). A header that records another
    variant (``save_model`` writes it) than ``config`` is refused too.

    Raises:
        ValueError: other variant, missing/unexpected/mis-shaped tensors, or a dtype that cannot hold them.
        safetensors.SafetensorError: not a safetensors file, or truncated.
    """
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as f:
        meta = f.metadata() or {}
        stored = {k: (tuple(f.get_slice(k).get_shape()), str(f.get_slice(k).get_dtype())) for k in f.keys()}
    recorded = meta.get("variant")
    if recorded is not None and recorded != config.variant:
        raise ValueError(
            f"{where} says variant {config.variant!r} but its weights {Path(weights).name} were saved from a "
            f"{recorded!r} model: the config names the wrong variant"
        )
    with torch.device("meta"):
        expected = build_from_config(config).state_dict()
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    both = set(expected) & set(stored)
    shapes = sorted(
        f"{k} {stored[k][0]} vs {tuple(expected[k].shape)}" for k in both if stored[k][0] != tuple(expected[k].shape)
    )
    dtypes = sorted(f"{k} {stored[k][1]}" for k in both if not _dtype_ok(stored[k][1], expected[k]))
    if missing or unexpected or shapes or dtypes:
        raise ValueError(
            f"the weights {weights} do not match {where}: {_few(missing)} missing, {_few(unexpected)} unexpected, "
            f"{_few(shapes)} with another shape, {_few(dtypes)} with an unusable dtype. Is it a checkpoint of "
            "another variant or project, or was config.json edited?"
        )


def check_finite(state: dict[str, torch.Tensor], *, where: str) -> None:
    """Raise ValueError if a floating-point tensor of ``state`` holds NaN or infinity (a diverged training run)."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError(
            f"{where}: {_few(bad)} weight tensors hold NaN or infinite values: the training run that wrote it diverged "
            "(a map from it would be all 'unknown'). Use an earlier checkpoint, or retrain with a lower learning rate "
            "(optim.lr) or gradient clipping (optim.grad_clip)."
        )


def with_overrides(variant: str, **changes: Any) -> ModelConfig:
    """A registry config with some fields changed (e.g. a smaller decoder for an experiment); validated.

    Raises:
        ValueError: an unknown variant or field, or a value :func:`check_config` refuses.
    """
    names = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise ValueError(f"unknown model config field(s) {unknown}; valid: {sorted(names)}")
    return check_config(replace(get_config(variant), **changes), where=f"with_overrides({variant!r})")


#: the released default checkpoint shipped in the package (trained by ``lslib.default_model``)
RELEASED_NAME = "tiny-lasmini-v2"


def released_dir() -> Path:
    """Folder of the released default checkpoint inside the installed package (``lslib/resources/models``)."""
    return Path(__file__).resolve().parent.parent / "resources" / "models" / RELEASED_NAME


def load_released() -> LandSegmenter:
    """The released default model (instant, offline; see its ``MODEL_CARD.md``).

    Raises:
        FileNotFoundError: the package lacks the released weights (a broken install): reinstall lslib, or
            retrain it with ``lslib.default_model.default_model(retrain=True)``.
    """
    folder = released_dir()
    if not (folder / "model.safetensors").exists():
        raise FileNotFoundError(
            f"the released default checkpoint is missing from this installation ({folder}); reinstall lslib "
            "(pip install -e .) or train it again with default_model(retrain=True) / make default-model-retrain"
        )
    return load_model(folder)

