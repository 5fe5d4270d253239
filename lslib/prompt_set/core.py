"""The prompt-set types: :class:`ClassPrompt`, :class:`PromptSet`, their validation, and the presets.

A :class:`PromptSet` validates itself on construction (:func:`validate`): no classes, too many, blank or
duplicate names after :func:`~lslib.prompt_set.names.normalise_name` (:class:`DuplicateNameError`), names,
synonyms or descriptions the text encoder would cut, bad colours or thresholds are refused. Classes without a
colour are drawn in :data:`PALETTE` colours. :func:`from_names` and :func:`from_taxonomy` build sets from
plain names and from the products of :mod:`lslib.taxonomy` (:func:`presets`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from lslib.prompt_set.names import fold, normalise_name
from lslib.yaml_config import short, shorten

#: more classes than this is refused: the decoder's cost grows with K and maps become unreadable
MAX_CLASSES = 200
#: longer class names or synonyms are refused: a name is embedded inside a prompt template, and the default text
#: encoder (all-MiniLM-L6-v2) keeps 256 word pieces, so two long names sharing a prefix would get the same
#: vector (CLIP-style encoders keep only 77 tokens: keep names short there)
MAX_NAME_CHARS = 200
#: longer descriptions are refused: the encoder would silently drop their end
MAX_DESCRIPTION_CHARS = 1000
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
#: a qualitative palette for classes without a colour (Tableau 20)
PALETTE = (
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
    """An ordered, validated list of class prompts (see :mod:`lslib.prompt_set` for the YAML layout)."""

    classes: tuple[ClassPrompt, ...]
    name: str = "prompts"
    threshold: float = 0.0
    taxonomy: str | None = None  # the preset it came from, if any
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Validate the new set (:func:`validate`)."""
        validate(self)

    def __len__(self) -> int:
        """The number of classes."""
        return len(self.classes)

    def __iter__(self) -> Iterator[ClassPrompt]:
        """The classes, in order."""
        return iter(self.classes)

    @property
    def names(self) -> list[str]:
        """Every class's name, in order."""
        return [c.name for c in self.classes]

    @property
    def colours(self) -> list[str]:
        """Every class's colour (a palette colour where none was given)."""
        return [c.colour or PALETTE[i % len(PALETTE)] for i, c in enumerate(self.classes)]

    @property
    def thresholds(self) -> list[float]:
        """Every class's threshold (the set's where the class has none)."""
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
            raise KeyError(f"no class {short(name)} in the prompt set; it has {short(self.names, 400)}")
        return replace(self, classes=kept)

    def to_dict(self) -> dict[str, Any]:
        """The set as the mapping its YAML file holds (empty fields left out)."""
        out: dict[str, Any] = {"name": self.name, "threshold": self.threshold}
        if self.taxonomy:
            out["taxonomy"] = self.taxonomy
        out["classes"] = [
            {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(c).items() if v not in (None, ())}
            for c in self.classes
        ]
        return out


#: normalised term -> (term, its class name, its class index, whether it is the class name)
_Seen = dict[str, tuple[str, str, int, bool]]


def validate(prompts: PromptSet) -> None:
    """Raise ValueError naming the problem: no classes, too many, blank or duplicate names, bad colours/thresholds."""
    classes = prompts.classes
    if not classes:
        raise ValueError("the prompt set has no classes; add at least one class name")
    if len(classes) > MAX_CLASSES:
        raise ValueError(f"{len(classes)} classes is too many (at most {MAX_CLASSES}); split the set or merge classes")
    seen: _Seen = {}
    for i, c in enumerate(classes):
        if not isinstance(c.name, str) or not normalise_name(c.name):
            raise ValueError(f"class {i + 1} has an empty name; type a class name such as 'water'")
        _check_terms(c, i, seen)
        _check_fields(c)
    if not 0.0 <= prompts.threshold <= 1.0:
        raise ValueError(f"threshold {prompts.threshold} is outside [0, 1]")


def _check_terms(c: ClassPrompt, i: int, seen: _Seen) -> None:
    """Check the name and synonyms of class ``i`` against each other and every earlier class (``seen``)."""
    for t, term in enumerate((c.name, *c.synonyms)):
        if len(term) > MAX_NAME_CHARS:
            what = "name" if t == 0 else f"synonym {short(term, 60)}"
            raise ValueError(
                f"class {short(c.name, 60)}: the {what} has {len(term)} characters (at most {MAX_NAME_CHARS}): the "
                "text encoder would cut it; name the class in a few words and put the rest in its description"
            )
        key = normalise_name(term)
        if not key:
            raise ValueError(f"class {short(c.name)} has a blank synonym")
        if key in seen and seen[key][2] == i:
            continue  # a synonym that only restates its own class name: harmless
        if key in seen:
            raise _duplicate(c, i, t, term, seen[key])
        seen[key] = (term, c.name, i, t == 0)


def _duplicate(c: ClassPrompt, i: int, t: int, term: str, first: tuple[str, str, int, bool]) -> DuplicateNameError:
    """The error for ``term`` (term ``t`` of class ``i``) that duplicates the earlier ``first``."""
    other, owner, k, other_is_name = first
    lookalike = fold(term) != fold(other)  # equal only after Unicode normalisation: show the codes
    shown = (shorten(ascii(term)), shorten(ascii(other))) if lookalike else (short(term), short(other))
    return DuplicateNameError(
        f"{shown[0]} (class {short(c.name)}) duplicates {shown[1]} (class {short(owner)}); names and "
        "synonyms must be distinct ignoring case, spaces and punctuation"
        + ("; these two differ only in look-alike Unicode (invisible characters, accents typed as "
           "separate marks, full-width letters or special spaces)" if lookalike else ""),
        term=term, index=i, other=other, other_index=k, names=t == 0 and other_is_name,
    )  # fmt: skip


def _check_fields(c: ClassPrompt) -> None:
    """Check a class's description length, colour and threshold."""
    if c.description is not None and len(c.description) > MAX_DESCRIPTION_CHARS:
        raise ValueError(
            f"class {short(c.name)}: the description has {len(c.description)} characters (at most "
            f"{MAX_DESCRIPTION_CHARS}): the text encoder would cut it; shorten it"
        )
    if c.colour is not None and not _HEX.match(c.colour):
        raise ValueError(f"class {short(c.name)}: colour {short(c.colour)} is not '#rrggbb'")
    if c.threshold is not None and not 0.0 <= c.threshold <= 1.0:
        raise ValueError(f"class {short(c.name)}: threshold {c.threshold} is outside [0, 1]")


class DuplicateNameError(ValueError):
    """Two classes share a name or synonym after :func:`normalise_name` (raised by :func:`validate`).

    ``index`` / ``other_index``: the 0-based classes of ``term`` / ``other``; ``names``: both terms are class
    names (not synonyms), so a UI can say "same name" and point at the two rows.
    """

    def __init__(self, message: str, *, term: str, index: int, other: str, other_index: int, names: bool) -> None:
        """Keep the two terms and their classes next to the message."""
        super().__init__(message)
        self.term, self.index, self.other, self.other_index, self.names = term, index, other, other_index, names


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
