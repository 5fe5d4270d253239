"""Prompt-set files: :func:`parse` a mapping read from YAML, :func:`load` and :func:`save` a file.

The layout (a bare list of classes is accepted too; ``color`` is a synonym of ``colour``):

.. code-block:: yaml

    name: my classes
    threshold: 0.0
    classes:
      - water
      - {name: forest, synonyms: [trees, woodland], description: closed tree canopy, threshold: 0.3}

A *taught* prompt set (:func:`lslib.inference.teach.save_taught`) also has a ``teaching:`` section:
:func:`load` keeps it intact in :attr:`PromptSet.extra <lslib.prompt_set.PromptSet.extra>`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from lslib.prompt_set.core import ClassPrompt, PromptSet
from lslib.yaml_config import load_yaml, short

#: the keys a class entry may have
CLASS_KEYS = frozenset({"name", "synonyms", "description", "colour", "color", "threshold", "code"})


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{what} must be a number in [0, 1], got {short(value)}")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{what} must be a number in [0, 1], got {short(value)}") from None


def _text(value: Any, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{what} must be text, got {short(value)}")
    return str(value)


def _class(entry: Any, i: int, where: str) -> ClassPrompt:
    """Class ``i`` (0-based) of the file ``where`` from its entry: a name or a mapping of :data:`CLASS_KEYS`."""
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: class {i + 1} must be a name or a mapping, got {short(entry)}")
    unknown = sorted(set(map(str, entry)) - CLASS_KEYS)
    if unknown:
        raise ValueError(f"{where}: class {i + 1} has unknown key(s) {short(unknown)}; valid: {sorted(CLASS_KEYS)}")
    what = f"{where}: class {i + 1}"
    synonyms = entry.get("synonyms") or ()
    if isinstance(synonyms, str):
        synonyms = (synonyms,)
    if not isinstance(synonyms, list | tuple):
        raise ValueError(f"{what}: synonyms must be a list of names, got {short(synonyms)}")
    code = entry.get("code")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
        raise ValueError(f"{what}: code must be an integer product code, got {short(code)}")
    return ClassPrompt(
        name=str(_text(entry.get("name", ""), f"{what} name")).strip(),
        synonyms=tuple(str(_text(s, f"{what} synonym")) for s in synonyms),
        description=_text(entry.get("description"), f"{what} description", optional=True),
        colour=_text(entry.get("colour", entry.get("color")), f"{what} colour", optional=True),
        threshold=None if entry.get("threshold") is None else _number(entry["threshold"], f"{what} threshold"),
        code=code,
    )


def parse(doc: Any, *, where: str = "prompt set") -> PromptSet:
    """Build from a mapping (as read from YAML); errors (always ValueError) say which entry is wrong."""
    if isinstance(doc, list):
        doc = {"classes": doc}
    if not isinstance(doc, dict) or "classes" not in doc:
        raise ValueError(f"{where}: expected a mapping with a 'classes' list")
    if not isinstance(doc["classes"] or [], list):
        raise ValueError(f"{where}: 'classes' must be a list of names or mappings, got {short(doc['classes'])}")
    classes = [_class(entry, i, where) for i, entry in enumerate(doc["classes"] or [])]
    return PromptSet(
        classes=tuple(classes),
        name=str(_text(doc.get("name", "prompts"), f"{where}: name")),
        threshold=_number(0.0 if doc.get("threshold") is None else doc["threshold"], f"{where}: threshold"),
        taxonomy=_text(doc.get("taxonomy"), f"{where}: taxonomy", optional=True),
    )


def load(path: str | Path) -> PromptSet:
    """Read a prompt-set YAML file.

    A *taught* prompt set (``lslib.inference.teach.save_taught``) keeps its ``teaching:`` section and its path in
    ``extra`` (``{"teaching": ..., "path": ...}``); the inference layer loads the head from the sidecar.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no prompt set at {path}")
    doc = load_yaml(path, what="prompt set")  # bounded: alias bombs, custom tags, non-UTF-8 -> ValueError
    prompts = parse(doc, where=path.name)
    if isinstance(doc, dict) and doc.get("teaching") is not None:
        prompts = replace(prompts, extra={"teaching": doc["teaching"], "path": str(path)})
    return prompts


def save(prompts: PromptSet, path: str | Path) -> Path:
    """Write a prompt set as YAML (atomically)."""
    from lslib.atomic import write_text

    return write_text(path, yaml.safe_dump(prompts.to_dict(), sort_keys=False, allow_unicode=True))
