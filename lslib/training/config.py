"""Training configuration: one YAML file per variant in ``configs/train/`` (tiny, base, paper).

Every field has a default; a YAML file overrides any subset, the CLI overrides a few (``--max-steps``,
``--out``). Unknown keys are errors that name the valid ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from lslib.yaml_config import from_mapping, load_yaml


@dataclass(frozen=True)
class DataConfig:
    """Training data: LAS build folders, subsets, validation split, class sampling and batching."""

    roots: tuple[str, ...] = ("outputs/las-mini",)
    subsets: tuple[str, ...] | None = None
    val_fraction: float = 0.2
    max_classes: int = 12
    negatives: int = 3
    foreign_negatives: int = 2
    ignore_boundary_px: int = 1
    batch_size: int = 4


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentations of the LandSegmenter training samples (:mod:`lslib.training.augment`).

    ``enabled`` switches them all; each field switches one family (the ablation in BENCHMARKS.md).
    Everything random is a pure function of (seed, epoch, chip), so a resumed run is bit-identical.
    """

    enabled: bool = False
    #: the 8 flips / 90° rotations (dihedral group)
    geometric: bool = True
    #: random resized crop: each chip also seen at ``scale_range`` x its native GSD (0.5 = finer, 2 = coarser)
    scale_jitter: bool = True
    scale_range: tuple[float, float] = (0.5, 2.0)
    #: per-band brightness / contrast / gamma jitter, additive haze, Gaussian noise
    radiometric: bool = True
    #: multispectral chips also seen as RGB only, RGBN, Sentinel-2 10 m bands only (probabilities below)
    spectral_views: bool = True
    view_probs: tuple[float, float, float, float] = (0.25, 0.2, 0.15, 0.4)  # rgb, rgbn, s2-10m, full
    #: 8-bit display rendering of RGB(N) views (a stretched photo / ortho instead of reflectance)
    display_prob: float = 0.3
    #: class prompts sampled among the name, its synonyms and phrases (else always the product's name)
    prompt_synonyms: bool = True
    #: chips sampled with weights that balance subsets and rare classes (else uniform)
    balanced_sampling: bool = True


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and schedule: AdamW learning rate, weight decay, steps, warmup, clipping, what trains."""

    lr: float = 3e-4
    weight_decay: float = 0.01
    max_steps: int = 300
    warmup_steps: int = 20
    grad_clip: float = 1.0
    freeze_backbone: bool = False
    #: "all", or "decoder_adapter": only the adapter (spectral, high-frequency, fusion), neck, decoder and
    #: alignment head train; the Hiera backbone stays frozen (the cheap transfer-learning variant)
    trainable: Literal["all", "decoder_adapter"] = "all"


@dataclass(frozen=True)
class LossConfig:
    """Loss: focal or BCE mask loss with dice, presence and alignment terms."""

    kind: Literal["focal", "bce"] = "focal"
    gamma: float = 2.0
    dice_weight: float = 1.0
    presence_weight: float = 0.5
    alignment_weight: float = 0.5
    label_smoothing: float = 0.05


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run: model variant, output folder, seed, schedules and the sections above."""

    variant: str = "tiny"
    #: start the image encoder from its released weights (``build_model(..., pretrained_backbone=True)``)
    pretrained_backbone: bool = False
    init_checkpoint: str | None = None
    out: str = "outputs/train-tiny"
    seed: int = 0
    checkpoint_every: int = 50
    eval_every: int = 50
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict[str, Any]:
        """The config as nested plain dicts (for YAML and checkpoints)."""
        return asdict(self)


def _section(cls: type[Any], doc: Any, where: str) -> Any:
    return from_mapping(cls, doc, where, none_is_default=True)


def parse_config(doc: dict[str, Any], *, where: str = "config") -> TrainConfig:
    """A :class:`TrainConfig` from a YAML mapping; missing keys take the defaults.

    Raises:
        ValueError: an unknown key or a bad value (named by its path under ``where``).
    """
    doc = dict(doc)
    sections = {
        "data": _section(DataConfig, doc.pop("data", None), f"{where}.data"),
        "optim": _section(OptimConfig, doc.pop("optim", None), f"{where}.optim"),
        "loss": _section(LossConfig, doc.pop("loss", None), f"{where}.loss"),
        "augment": _section(AugmentConfig, doc.pop("augment", None), f"{where}.augment"),
    }
    config: TrainConfig = _section(TrainConfig, {**doc, **sections}, where)
    from lslib.model.build import get_config

    get_config(config.variant)  # unknown variant -> ValueError listing the valid ones
    if config.optim.max_steps < 1 or config.data.batch_size < 1:
        raise ValueError(f"{where}: max_steps and batch_size must be >= 1")
    return config


def load_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """Read a YAML config; ``overrides`` replace top-level or ``section.key`` values (e.g. ``optim.max_steps``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no training config at {path}; see configs/train/*.yaml")
    doc = load_yaml(path, what="training config")  # plain YAML only: a !!python/... tag is refused, never run
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: a training config is a mapping of settings, got {type(doc).__name__}")
    for key, value in overrides.items():
        if value is None:
            continue
        section, _, name = key.partition(".")
        if name:
            part = doc.get(section)
            if part is None:
                part = doc[section] = {}
            if not isinstance(part, dict):
                raise ValueError(f"{path.name}.{section}: expected a mapping, got {type(part).__name__}")
            part[name] = value
        else:
            doc[key] = value
    return parse_config(doc, where=path.name)
