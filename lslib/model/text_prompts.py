"""Text prompts for class names: remote-sensing templates, synonyms and descriptions, ensembled.

``encode_classes`` averages each class's prompt embeddings from a
:class:`lslib.model.text_encoder.TextEncoder` and re-normalises them (CLIP prompt ensembling); every
prompt goes through the encoder's cache, so editing one class re-encodes only its prompts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from lslib.model.text_encoder import TextEncoder

DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a satellite image of {}.",
    "an aerial photo of {}.",
    "a remote sensing image of {}.",
    "{}",
)


def _normalise_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def build_prompts(
    names: Sequence[str],
    *,
    synonyms: Sequence[Sequence[str]] | None = None,
    descriptions: Sequence[str | None] | None = None,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
) -> list[list[str]]:
    """Prompts per class.

    Every template formatted with the name and with each synonym, then
    ``"{name}: {description}"`` when a description is given; duplicates within a class are dropped.

    Args:
        names: ``K`` class names (whitespace is collapsed; case is kept).
        synonyms: ``K`` sequences of synonyms, aligned with ``names`` (``()`` for none).
        descriptions: ``K`` descriptions or ``None``, aligned with ``names``.
        templates: format strings with exactly one ``{}``.

    Returns ``K`` non-empty lists of prompts. Raises ValueError for an empty class list, blank or duplicate
    names (after casefolding and collapsing whitespace), misaligned synonyms/descriptions or bad templates.
    """
    if isinstance(names, str):
        raise TypeError("names must be a sequence of class names, not one str")
    raw = list(names)
    if not raw:
        raise ValueError("no class names given")
    wrong = [i for i, n in enumerate(raw) if not isinstance(n, str)]
    if wrong:
        raise TypeError(f"class names at index {wrong} are not strings")
    names = [" ".join(n.split()) for n in raw]
    blank = [i for i, n in enumerate(names) if not n]
    if blank:
        raise ValueError(f"class names at index {blank} are empty or blank")
    first: dict[str, str] = {}
    dupes = []
    for name in raw:
        key = _normalise_name(name)
        if key in first:
            dupes.append(f"{first[key]!r} == {name!r}")
        first.setdefault(key, name)
    if dupes:
        raise ValueError(f"duplicate class names (ignoring case and spaces): {', '.join(dupes)}")
    templates = list(templates)
    bad = [t for t in templates if not isinstance(t, str) or t.count("{}") != 1]
    if not templates or bad:
        raise ValueError(f"templates must be a non-empty list of strings with exactly one '{{}}'; bad: {bad}")
    syns = _aligned(synonyms, len(names), "synonyms", ())
    descs = _aligned(descriptions, len(names), "descriptions", None)
    prompts = []
    for i, (name, syn, desc) in enumerate(zip(names, syns, descs, strict=True)):
        if isinstance(syn, str):
            raise TypeError(f"synonyms[{i}] must be a sequence of strings, not one str: {syn!r}")
        terms = [name] + [" ".join(s.split()) for s in syn if s.strip()]
        class_prompts = [t.format(term) for term in terms for t in templates]
        if desc is not None and desc.strip():
            class_prompts.append(f"{name}: {' '.join(desc.split())}")
        prompts.append(list(dict.fromkeys(class_prompts)))
    return prompts


def encode_classes(
    encoder: TextEncoder,
    names: Sequence[str],
    *,
    synonyms: Sequence[Sequence[str]] | None = None,
    descriptions: Sequence[str | None] | None = None,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    batch_size: int = 1,
) -> torch.Tensor:
    """Class embeddings ``(K, dim)`` float32, unit norm.

    The mean of each class's prompt embeddings
    (:func:`build_prompts`), re-normalised (CLIP prompt ensembling). All prompts go through the cache.

    ``batch_size`` > 1 encodes new prompts in padded batches: several times faster, but equal to the
    one-at-a-time embeddings only to ~1e-6 (training keeps 1 so that a resumed run is bit-identical).
    """
    prompts = build_prompts(names, synonyms=synonyms, descriptions=descriptions, templates=templates)
    flat = [p for class_prompts in prompts for p in class_prompts]
    emb = encoder.encode(flat, batch_size=batch_size)
    counts = torch.tensor([len(p) for p in prompts], device=emb.device)
    owner = torch.repeat_interleave(torch.arange(len(prompts), device=emb.device), counts)
    sums = torch.zeros(len(prompts), emb.shape[1], dtype=emb.dtype, device=emb.device).index_add_(0, owner, emb)
    return F.normalize(sums / counts[:, None], p=2, dim=1)


def _aligned(values: Sequence[Any] | None, k: int, what: str, default: Any) -> list[Any]:
    if values is None:
        return [default] * k
    if isinstance(values, str):
        raise TypeError(f"{what} must be a sequence with one entry per class, not one str")
    values = list(values)
    if len(values) != k:
        raise ValueError(f"{what} has {len(values)} entries for {k} class names")
    return values
