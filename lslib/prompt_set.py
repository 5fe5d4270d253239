"""Prompt sets: the ordered class list a user maps with (names, synonyms, descriptions, colours, thresholds).

A prompt set is what the map UI edits and what ``lslib predict`` reads: YAML on disk, a preset for every
product in :mod:`lslib.taxonomy`, and validation that refuses what would make a map ambiguous (blank or
duplicate names after normalisation, too many classes, bad colours or thresholds).

.. code-block:: yaml

    name: my classes
    classes:
      - {name: water, colour: "#419bdf"}
      - {name: forest, synonyms: [trees, woodland], description: closed tree canopy, threshold: 0.3}
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

#: more classes than this is refused: the decoder's cost grows with K and maps become unreadable
MAX_CLASSES = 200
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
# a qualitative palette for classes without a colour (Tableau 20)
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#c7c7c7",
    "#dbdb8d",
    "#9edae5",
)


def normalise_name(name: str) -> str:
    """Case-, space-, ``_``/``-`` and ``&``/``and``-insensitive key used to detect duplicates."""
    text = name.casefold().replace("&", " and ").replace("_", " ").replace("-", " ").replace("/", " ")
    return " ".join(text.split())


@dataclass(frozen=True)
class ClassPrompt:
    """One class of a prompt set. ``threshold``: minimum fused score to name a pixel (None: the set's)."""

    name: str
    synonyms: tuple[str, ...] = ()
    description: str | None = None
    colour: str | None = None
    threshold: float | None = None
    code: int | None = None  # the product code when the class comes from a taxonomy preset


@dataclass(frozen=True)
class PromptSet:
    """An ordered, validated list of class prompts (see the module docstring for the YAML layout)."""

    classes: tuple[ClassPrompt, ...]
    name: str = "prompts"
    threshold: float = 0.0
    taxonomy: str | None = None  # the preset it came from, if any
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate(self)

    def __len__(self) -> int:
        return len(self.classes)

    def __iter__(self) -> Iterator[ClassPrompt]:
        return iter(self.classes)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def colours(self) -> list[str]:
        """Every class's colour (a palette colour where none was given)."""
        return [c.colour or _PALETTE[i % len(_PALETTE)] for i, c in enumerate(self.classes)]

    @property
    def thresholds(self) -> list[float]:
        return [self.threshold if c.threshold is None else c.threshold for c in self.classes]

    def with_class(self, prompt: ClassPrompt, index: int | None = None) -> PromptSet:
        """A new set with ``prompt`` inserted (appended by default); validated."""
        classes = list(self.classes)
        classes.insert(len(classes) if index is None else index, prompt)
        return replace(self, classes=tuple(classes))

    def without(self, name: str) -> PromptSet:
        """A new set without the class called ``name`` (normalised match); KeyError if absent."""
        key = normalise_name(name)
        kept = tuple(c for c in self.classes if normalise_name(c.name) != key)
        if len(kept) == len(self.classes):
            raise KeyError(f"no class {name!r} in the prompt set; it has {self.names}")
        return replace(self, classes=kept)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "threshold": self.threshold}
        if self.taxonomy:
            out["taxonomy"] = self.taxonomy
        out["classes"] = [
            {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(c).items() if v not in (None, ())}
            for c in self.classes
        ]
        return out


def validate(prompts: PromptSet) -> None:
    """Raise ValueError naming the problem: no classes, too many, blank or duplicate names, bad colours/thresholds."""
    classes = prompts.classes
    if not classes:
        raise ValueError("the prompt set has no classes; add at least one class name")
    if len(classes) > MAX_CLASSES:
        raise ValueError(f"{len(classes)} classes is too many (at most {MAX_CLASSES}); split the set or merge classes")
    seen: dict[str, tuple[str, str, int]] = {}  # normalised term -> (term, its class name, its class index)
    for i, c in enumerate(classes):
        if not isinstance(c.name, str) or not c.name.strip():
            raise ValueError(f"class {i + 1} has an empty name; type a class name such as 'water'")
        for term in (c.name, *c.synonyms):
            key = normalise_name(term)
            if not key:
                raise ValueError(f"class {c.name!r} has a blank synonym")
            if key in seen and seen[key][2] == i:
                continue  # a synonym that only restates its own class name: harmless
            if key in seen:
                other, owner, _ = seen[key]
                raise ValueError(
                    f"{term!r} (class {c.name!r}) duplicates {other!r} (class {owner!r}); names and "
                    "synonyms must be distinct ignoring case, spaces and punctuation"
                )
            seen[key] = (term, c.name, i)
        if c.colour is not None and not _HEX.match(c.colour):
            raise ValueError(f"class {c.name!r}: colour {c.colour!r} is not '#rrggbb'")
        if c.threshold is not None and not 0.0 <= c.threshold <= 1.0:
            raise ValueError(f"class {c.name!r}: threshold {c.threshold} is outside [0, 1]")
    if not 0.0 <= prompts.threshold <= 1.0:
        raise ValueError(f"threshold {prompts.threshold} is outside [0, 1]")


def from_names(names: Sequence[str], *, name: str = "prompts", threshold: float = 0.0) -> PromptSet:
    """A prompt set from plain class names (palette colours)."""
    return PromptSet(
        classes=tuple(ClassPrompt(name=n.strip() if isinstance(n, str) else n) for n in names),
        name=name,
        threshold=threshold,
    )


def from_taxonomy(key: str, *, threshold: float = 0.0) -> PromptSet:
    """The preset of a product: its class names, synonyms, descriptions, official colours and codes."""
    from lslib.taxonomy import get_taxonomy

    tax = get_taxonomy(key)
    classes = tuple(
        ClassPrompt(name=c.name, synonyms=tuple(c.synonyms), description=c.description, colour=c.color, code=c.code)
        for c in tax.classes
        if c.code != tax.nodata
    )
    return PromptSet(classes=classes, name=tax.title, threshold=threshold, taxonomy=tax.key)


def presets() -> list[str]:
    """Taxonomy keys usable with :func:`from_taxonomy`."""
    from lslib.taxonomy import list_taxonomies

    return list_taxonomies()


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{what} must be a number in [0, 1], got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{what} must be a number in [0, 1], got {value!r}") from None


def _text(value: Any, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{what} must be text, got {value!r}")
    return str(value)


def parse(doc: Any, *, where: str = "prompt set") -> PromptSet:
    """Build from a mapping (as read from YAML); errors (always ValueError) say which entry is wrong."""
    if isinstance(doc, list):
        doc = {"classes": doc}
    if not isinstance(doc, dict) or "classes" not in doc:
        raise ValueError(f"{where}: expected a mapping with a 'classes' list")
    if not isinstance(doc["classes"] or [], list):
        raise ValueError(f"{where}: 'classes' must be a list of names or mappings, got {doc['classes']!r}")
    allowed = {"name", "synonyms", "description", "colour", "color", "threshold", "code"}
    classes = []
    for i, entry in enumerate(doc["classes"] or []):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: class {i + 1} must be a name or a mapping, got {entry!r}")
        unknown = sorted(set(map(str, entry)) - allowed)
        if unknown:
            raise ValueError(f"{where}: class {i + 1} has unknown key(s) {unknown}; valid: {sorted(allowed)}")
        what = f"{where}: class {i + 1}"
        synonyms = entry.get("synonyms") or ()
        if isinstance(synonyms, str):
            synonyms = (synonyms,)
        if not isinstance(synonyms, list | tuple):
            raise ValueError(f"{what}: synonyms must be a list of names, got {synonyms!r}")
        code = entry.get("code")
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
            raise ValueError(f"{what}: code must be an integer product code, got {code!r}")
        classes.append(
            ClassPrompt(
                name=str(_text(entry.get("name", ""), f"{what} name")).strip(),
                synonyms=tuple(str(_text(s, f"{what} synonym")) for s in synonyms),
                description=_text(entry.get("description"), f"{what} description", optional=True),
                colour=_text(entry.get("colour", entry.get("color")), f"{what} colour", optional=True),
                threshold=None if entry.get("threshold") is None else _number(entry["threshold"], f"{what} threshold"),
                code=code,
            )
        )
    return PromptSet(
        classes=tuple(classes),
        name=str(_text(doc.get("name", "prompts"), f"{where}: name")),
        threshold=_number(0.0 if doc.get("threshold") is None else doc["threshold"], f"{where}: threshold"),
        taxonomy=_text(doc.get("taxonomy"), f"{where}: taxonomy", optional=True),
    )


def load(path: str | Path) -> PromptSet:
    """Read a prompt-set YAML file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no prompt set at {path}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from exc
    return parse(doc, where=path.name)


def save(prompts: PromptSet, path: str | Path) -> Path:
    """Write a prompt set as YAML (atomically)."""
    from lslib.atomic import write_text

    return write_text(path, yaml.safe_dump(prompts.to_dict(), sort_keys=False, allow_unicode=True))
