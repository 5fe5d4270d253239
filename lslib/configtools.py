"""Building frozen dataclasses from YAML mappings with errors that name the bad field."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def from_mapping(cls: type[Any], doc: Any, where: str, *, none_is_default: bool = False) -> Any:
    """``cls(**doc)`` for a dataclass, after checking ``doc`` is a mapping of known fields.

    Lists become tuples (frozen dataclasses stay hashable). ``none_is_default``: ``None`` gives ``cls()``.

    Raises:
        ValueError: not a mapping, unknown keys (listing the valid ones), or a missing/invalid field.
    """
    if doc is None and none_is_default:
        return cls()
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(doc).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(doc) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid: {sorted(names)}")
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in doc.items()})
    except TypeError as exc:
        raise ValueError(f"{where}: {exc}") from exc
