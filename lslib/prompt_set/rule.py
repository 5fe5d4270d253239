"""The one prompt rule: :func:`resolve` turns what any door is given into a validated :class:`PromptSet`.

Every door (``Predictor.predict``, ``map_large_area``, the map app, ``lslib predict --prompts``) calls it; the
rule itself is spelled out in :mod:`lslib.prompt_set` and in :func:`resolve`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence, Set
from pathlib import Path
from typing import Any

from lslib.prompt_set.core import PromptSet, from_names, from_taxonomy, presets, validate
from lslib.prompt_set.files import load
from lslib.yaml_config import short, shorten

#: what every door says when it is given no class at all
EMPTY_HINT = "give at least one class name, e.g. 'water, forest', or a preset such as esa_worldcover"
#: a string ending in one of these (any case) is a prompt-set file
YAML_SUFFIXES = (".yaml", ".yml")


def resolve(prompts: PromptSet | Sequence[str] | str | os.PathLike[str]) -> PromptSet:
    """The one prompt rule: a PromptSet, a YAML path, a preset key, ``"a, b, c"`` or names -> a validated set.

    - a :class:`PromptSet`: returned as it is, validated;
    - a ``Path`` (any ``os.PathLike``): the prompt-set file, :func:`load`;
    - a string (stripped): ending in ``.yaml``/``.yml`` -> :func:`load` of that file (FileNotFoundError
      when it does not exist); else equal, ignoring case, to a preset key of :func:`presets` ->
      :func:`from_taxonomy`; else comma-separated class names, blank entries dropped (``"forest"`` is one
      class called forest, ``"esa_worldcover"`` is the 11 WorldCover classes);
    - a list/tuple: class names, one per class (:func:`from_names`; a preset key there is a name).

    Raises:
        ValueError: nothing to map (:data:`EMPTY_HINT` says what to pass), a list element that is not a
            string, or an invalid set (:func:`validate`: blank or duplicate names, too many classes).
        FileNotFoundError: a ``.yaml``/``.yml`` path or ``Path`` that does not exist.
        TypeError: anything else (a number, a mapping, a set).
    """
    if isinstance(prompts, PromptSet):
        validate(prompts)  # validated on construction; re-checked for sets altered with object.__setattr__
        return prompts
    if isinstance(prompts, os.PathLike):
        return load(os.fspath(prompts))
    if prompts is None:
        raise ValueError(f"no prompts given: {EMPTY_HINT}")
    if isinstance(prompts, str):
        return _from_text(prompts)
    return _from_items(prompts)


def _from_text(prompts: str) -> PromptSet:
    """A string: a YAML path, a preset key (any case) or comma-separated class names."""
    text = prompts.strip()
    if text.casefold().endswith(YAML_SUFFIXES):
        path = Path(text).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"no prompt-set file {short(text)} (looked for {shorten(str(path.absolute()), 300)}): give the "
                "path of an existing "
                "YAML file, class names such as 'water, forest', or a preset such as esa_worldcover"
            )
        return load(path)
    keys = {k.casefold(): k for k in presets()}
    if text.casefold() in keys:
        return from_taxonomy(keys[text.casefold()])
    names = [p for p in (s.strip() for s in text.split(",")) if p]
    if not names:
        raise ValueError(f"the prompt set is empty: {EMPTY_HINT}")
    return from_names(names)


def _from_items(prompts: Any) -> PromptSet:
    """Anything else: a list or tuple of class names (TypeError for bytes, mappings, sets and non-iterables)."""
    if isinstance(prompts, bytes | Mapping | Set) or not isinstance(prompts, Iterable):
        raise TypeError(
            f"prompts must be a PromptSet, a YAML path, a preset key, 'water, forest' or a list of class names, "
            f"not {type(prompts).__name__}"
        )
    items = list(prompts)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise ValueError(
                f"class {i + 1} is {type(item).__name__} {short(item)}, not a class name: pass names as text, "
                "e.g. ['water', 'forest']"
            )
    if not any(item.strip() for item in items):
        raise ValueError(f"the prompt set is empty: {EMPTY_HINT}")
    return from_names(items)
