"""Prompt sets: the ordered class list a user maps with (names, synonyms, descriptions, colours, thresholds).

A prompt set is what the map UI edits and what ``lslib predict`` reads: YAML on disk, a preset for every
product in :mod:`lslib.taxonomy`, and validation that refuses what would make a map ambiguous (blank or
duplicate names after normalisation, too many classes, bad colours or thresholds).

.. code-block:: yaml

    name: my classes
    classes:
      - {name: water, colour: "#419bdf"}
      - {name: forest, synonyms: [trees, woodland], description: closed tree canopy, threshold: 0.3}

**One prompt rule.** Every door (``Predictor.predict``, ``map_large_area``, the map app, ``lslib predict
--prompts``) turns what it is given into a prompt set with :func:`resolve`:

1. a :class:`PromptSet` is used as it is (validated);
2. an ``os.PathLike`` (``Path``) is a prompt-set file: :func:`load`;
3. a string is stripped, then
   a. ending in ``.yaml``/``.yml`` (any case): the prompt-set file at that path (:func:`load`);
      FileNotFoundError if there is no such file;
   b. equal, ignoring case, to a taxonomy preset key (:func:`presets`, e.g. ``"esa_worldcover"``): that
      preset with its official names, synonyms, colours and codes (:func:`from_taxonomy`);
   c. otherwise comma-separated class names (``"water, forest"``); blank entries are dropped, so a single
      name such as ``"forest"`` is a one-class set;
4. a list or tuple holds class names, one per class (every element must be a string; a preset key in a
   list is a class name, not a preset).

Nothing left (``""``, ``" , "``, ``[]``, ``None``) is a ValueError saying what to pass; duplicate or blank
names are refused by :func:`validate`.

**Default colours.** Classes without a colour are drawn in palette colours (:attr:`PromptSet.colours`);
:func:`suggest_colours` gives them instead the colour of the nearest class of a land-cover product
(``forest`` green, ``water`` blue), by text-embedding or lexical similarity.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lslib.yaml_config import load_yaml, short, shorten

#: more classes than this is refused: the decoder's cost grows with K and maps become unreadable
MAX_CLASSES = 200
#: longer class names or synonyms are refused: a name is embedded inside a prompt template, and the default text
#: encoder (all-MiniLM-L6-v2) keeps 256 word pieces, so two long names sharing a prefix would get the same
#: vector (CLIP-style encoders keep only 77 tokens: keep names short there)
MAX_NAME_CHARS = 200
#: longer descriptions are refused: the encoder would silently drop their end
MAX_DESCRIPTION_CHARS = 1000
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


def _fold(name: str) -> str:
    text = name.casefold().replace("&", " and ").replace("_", " ").replace("-", " ").replace("/", " ")
    return " ".join(text.split())


# invisible characters that are not format characters (Cf): variation selectors, the combining grapheme joiner,
# Hangul and Khmer fillers, Mongolian free variation selectors (the rest of Unicode's default-ignorables)
_IGNORABLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, *range(0x180B, 0x1810), *range(0xFE00, 0xFE10),
     *range(0xE0100, 0xE01F0)]
)  # fmt: skip


def _invisible(ch: str) -> bool:
    return unicodedata.category(ch) == "Cf" or ord(ch) in _IGNORABLE


def normalise_name(name: str) -> str:
    """Case-, space-, ``_``/``-`` and ``&``/``and``-insensitive key used to detect duplicates.

    Look-alike text gets the same key: Unicode NFKC with case folding (composed vs decomposed accents,
    full-width letters, ligatures, no-break and other spaces) and invisible characters removed (zero-width
    spaces and joiners, soft hyphens, BOM, bidi marks: category Cf; variation selectors and fillers)."""
    text = name
    for _ in range(4):  # NFKC and case folding until stable: a few characters need a second round
        folded = unicodedata.normalize("NFKC", "".join(ch for ch in text if not _invisible(ch))).casefold()
        if folded == text:
            break
        text = folded
    return _fold(text)


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
            raise KeyError(f"no class {short(name)} in the prompt set; it has {short(self.names, 400)}")
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
    # normalised term -> (term, its class name, its class index, whether it is the class name)
    seen: dict[str, tuple[str, str, int, bool]] = {}
    for i, c in enumerate(classes):
        if not isinstance(c.name, str) or not normalise_name(c.name):
            raise ValueError(f"class {i + 1} has an empty name; type a class name such as 'water'")
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
                other, owner, k, other_is_name = seen[key]
                lookalike = _fold(term) != _fold(other)  # equal only after Unicode normalisation: show the codes
                shown = (shorten(ascii(term)), shorten(ascii(other))) if lookalike else (short(term), short(other))
                raise DuplicateNameError(
                    f"{shown[0]} (class {short(c.name)}) duplicates {shown[1]} (class {short(owner)}); names and "
                    "synonyms must be distinct ignoring case, spaces and punctuation"
                    + ("; these two differ only in look-alike Unicode (invisible characters, accents typed as "
                       "separate marks, full-width letters or special spaces)" if lookalike else ""),
                    term=term, index=i, other=other, other_index=k, names=t == 0 and other_is_name,
                )  # fmt: skip
            seen[key] = (term, c.name, i, t == 0)
        if c.description is not None and len(c.description) > MAX_DESCRIPTION_CHARS:
            raise ValueError(
                f"class {short(c.name)}: the description has {len(c.description)} characters (at most "
                f"{MAX_DESCRIPTION_CHARS}): the text encoder would cut it; shorten it"
            )
        if c.colour is not None and not _HEX.match(c.colour):
            raise ValueError(f"class {short(c.name)}: colour {short(c.colour)} is not '#rrggbb'")
        if c.threshold is not None and not 0.0 <= c.threshold <= 1.0:
            raise ValueError(f"class {short(c.name)}: threshold {c.threshold} is outside [0, 1]")
    if not 0.0 <= prompts.threshold <= 1.0:
        raise ValueError(f"threshold {prompts.threshold} is outside [0, 1]")


class DuplicateNameError(ValueError):
    """Two classes share a name or synonym after :func:`normalise_name` (raised by :func:`validate`).

    ``index`` / ``other_index``: the 0-based classes of ``term`` / ``other``; ``names``: both terms are class
    names (not synonyms), so a UI can say "same name" and point at the two rows."""

    def __init__(self, message: str, *, term: str, index: int, other: str, other_index: int, names: bool) -> None:
        super().__init__(message)
        self.term, self.index, self.other, self.other_index, self.names = term, index, other, other_index, names


#: what every door says when it is given no class at all
EMPTY_HINT = "give at least one class name, e.g. 'water, forest', or a preset such as esa_worldcover"
_YAML_SUFFIXES = (".yaml", ".yml")


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
        text = prompts.strip()
        if text.casefold().endswith(_YAML_SUFFIXES):
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


# --- default colours for free-text classes --------------------------------------------------------
Embed = Callable[[list[str]], Any]
"""``names -> (N, D)`` text embeddings (a NumPy array or a CPU tensor), one row per name, in order."""

#: below this similarity (cosine with ``embed``, lexical score without) a class gets a palette colour
MIN_SIMILARITY = {"embedding": 0.6, "lexical": 0.25}
#: a next-best product colour is taken (to avoid a colour used already) only this close to the best match
COLOUR_MARGIN = 0.1
#: two colours nearer than this (Euclidean distance in 0..255 RGB) count as the same colour
MIN_COLOUR_DISTANCE = 40.0
_STOPWORDS = frozenset({"a", "an", "and", "of", "or", "the", "with", "in", "on", "other"})
_NEGATIONS = frozenset({"not", "no", "non"})
_PROBE = ("water", "forest")  # identifies an embedding function by its vectors (see _term_vectors)
_TERM_VECTORS: dict[bytes, np.ndarray] = {}  # embedding fingerprint -> unit vectors of _product_terms()
_TERM_VECTORS_MAX = 4


@dataclass(frozen=True)
class _Product:
    """One class of one land-cover product: its colour and where its terms (name first) sit in the term list."""

    taxonomy: str
    name: str
    colour: str
    terms: tuple[int, ...]


@functools.cache
def _product_terms() -> tuple[tuple[str, ...], tuple[_Product, ...]]:
    """The distinct names and synonyms of every class of every taxonomy, and the classes (taxonomy order)."""
    from lslib.taxonomy import get_taxonomy, list_taxonomies

    terms: dict[str, int] = {}
    products = []
    for key in list_taxonomies():
        tax = get_taxonomy(key)
        for c in tax.classes:
            if c.code == tax.nodata:
                continue
            index = tuple(terms.setdefault(t, len(terms)) for t in dict.fromkeys((c.name, *c.synonyms)))
            products.append(_Product(key, c.name, c.color.lower(), index))
    return tuple(terms), tuple(products)


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _tokens(term: str) -> frozenset[str]:
    """Content words of a term, singular: ``"Beaches, dunes, sands"`` -> {beach, dune, sand}."""
    return frozenset(_stem(w) for w in re.split(r"\W+", normalise_name(term)) if w and w not in _STOPWORDS)


@functools.cache
def _term_keys() -> tuple[tuple[str, frozenset[str]], ...]:
    return tuple((normalise_name(t), _tokens(t)) for t in _product_terms()[0])


@functools.cache
def _negated_terms() -> np.ndarray:
    """Which product terms are negations ("not cropland", "non-vegetated"): never a match for the positive."""
    return np.array([bool(words & _NEGATIONS) for _, words in _term_keys()])


def _lexical(term: str) -> np.ndarray:
    """Similarity of ``term`` to every product term: 1 same normalised name, 0.95 same words up to plurals,
    else 0.9 x the word overlap (Jaccard); 0 for negated product terms ("not cropland")."""
    key, words = normalise_name(term), _tokens(term)
    out = np.zeros(len(_term_keys()), dtype=np.float32)
    for j, (other, other_words) in enumerate(_term_keys()):
        if key == other:
            out[j] = 1.0
        elif words and words == other_words:
            out[j] = 0.95
        elif (other_words & _NEGATIONS) - words:
            continue  # "not cropland" is no match for "cropland"
        elif words & other_words:
            out[j] = 0.9 * len(words & other_words) / len(words | other_words)
    return out


def _unit(vectors: Any, rows: int) -> np.ndarray:
    array = np.asarray(vectors.cpu() if hasattr(vectors, "cpu") else vectors, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] != rows:
        raise ValueError(f"embed must return one vector per name, shape ({rows}, D); got {array.shape}")
    return array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)


def _term_vectors(embed: Embed) -> np.ndarray:
    """Unit vectors of every product term, computed once per process and embedding function.

    The cache key is the embedding of two fixed probe words, so the table is shared by every adapter around
    the same encoder (a lambda made per call included) and never served to a different encoder."""
    probe = _unit(embed(list(_PROBE)), len(_PROBE))
    key = np.round(probe, 4).tobytes() + str(probe.shape).encode()
    table = _TERM_VECTORS.get(key)
    if table is None:
        terms = list(_product_terms()[0])
        table = _unit(embed(terms), len(terms))
        while len(_TERM_VECTORS) >= _TERM_VECTORS_MAX:
            _TERM_VECTORS.pop(next(iter(_TERM_VECTORS)))
        _TERM_VECTORS[key] = table
    return table


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float32)


def _distinct(colour: str, used: list[str]) -> bool:
    rgb = _rgb(colour)
    return all(float(np.linalg.norm(rgb - _rgb(u))) >= MIN_COLOUR_DISTANCE for u in used)


def suggest_colours(prompts: PromptSet, embed: Embed | None = None) -> PromptSet:
    """Give every class without a colour the colour of the nearest product class (all of :mod:`lslib.taxonomy`).

    A class's similarity to a product class is the best over their terms (name and synonyms of both):
    the cosine of ``embed``'s vectors when ``embed`` is given (a normalised exact match counts 1), else the
    lexical score (same normalised name 1, same words up to plurals 0.95, else 0.9 x word overlap). Among
    equally similar product classes (e.g. every product's water class) the colour they agree on most comes
    first (the RGB medoid: ``cropland`` gets the tan of three products, not WorldCover's lone pink), then the
    taxonomy order of :func:`lslib.taxonomy.list_taxonomies`. Classes are served most similar first; a
    colour already in the set (given or chosen; nearer than :data:`MIN_COLOUR_DISTANCE` counts as the same)
    is skipped for the next-best product class within :data:`COLOUR_MARGIN` of the best. A class whose best
    similarity is under :data:`MIN_SIMILARITY` (free text like "solar panels"), or that finds no free product
    colour, gets the first palette colour unlike those in use (else the first unused one). Colours given
    explicitly are never changed.

    Args:
        prompts: the set; returned unchanged (``embed`` not called) when every class has a colour.
        embed: ``names -> (N, D)`` vectors, e.g. :func:`lslib.inference.colours.name_embedder` of a model
            (the product terms are embedded once per process and encoder); ``None``: lexical only.
    """
    need = [i for i, c in enumerate(prompts.classes) if c.colour is None]
    if not need:
        return prompts
    products = _product_terms()[1]
    asked = [list(dict.fromkeys((prompts.classes[i].name, *prompts.classes[i].synonyms))) for i in need]
    lexical = {t: _lexical(t) for t in {t for ts in asked for t in ts}}
    if embed is None:
        sims = lexical
        floor = MIN_SIMILARITY["lexical"]
    else:
        unique = list(dict.fromkeys(t for ts in asked for t in ts))
        cosine = _unit(embed(unique), len(unique)) @ _term_vectors(embed).T
        # an exact normalised match counts 1 whatever the encoder's rounding: the same tie-break as lexical
        sims = {
            t: np.where(lexical[t] >= 1.0, 1.0, np.where(_negated_terms() & (not _tokens(t) & _NEGATIONS), 0.0, row))
            for t, row in zip(unique, cosine, strict=True)
        }
        floor = MIN_SIMILARITY["embedding"]
    rgb = np.stack([_rgb(p.colour) for p in products])
    scores = np.zeros((len(need), len(products)), dtype=np.float32)
    for r, ts in enumerate(asked):
        per_term = np.max([sims[t] for t in ts], axis=0)  # (n_terms,)
        for j, p in enumerate(products):
            scores[r, j] = per_term[list(p.terms)].max()
    used = [c.colour.lower() for c in prompts.classes if c.colour is not None]
    chosen: dict[int, str] = {}
    for r in sorted(range(len(need)), key=lambda r: -float(scores[r].max())):  # most confident first (stable)
        tier = np.round(scores[r], 3)
        spread = np.zeros(len(products), dtype=np.float32)  # summed RGB distance to the equally similar
        for value in np.unique(tier[tier >= floor]):
            members = np.flatnonzero(tier == value)
            spread[members] = np.linalg.norm(rgb[members, None] - rgb[None, members], axis=-1).sum(1)
        ranked = sorted(range(len(products)), key=lambda j: (-float(tier[j]), float(spread[j]), j))
        best = float(scores[r, ranked[0]])
        colour = None
        if best >= floor:
            for j in ranked:
                if scores[r, j] < max(floor, best - COLOUR_MARGIN):
                    break
                if _distinct(products[j].colour, used):
                    colour = products[j].colour
                    break
        if colour is None:
            free = [c for c in _PALETTE if _distinct(c, used)] or [c for c in _PALETTE if c not in used]
            colour = free[0] if free else _PALETTE[need[r] % len(_PALETTE)]
        chosen[need[r]] = colour
        used.append(colour)
    classes = tuple(replace(c, colour=chosen[i]) if i in chosen else c for i, c in enumerate(prompts.classes))
    return replace(prompts, classes=classes)


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


def parse(doc: Any, *, where: str = "prompt set") -> PromptSet:
    """Build from a mapping (as read from YAML); errors (always ValueError) say which entry is wrong."""
    if isinstance(doc, list):
        doc = {"classes": doc}
    if not isinstance(doc, dict) or "classes" not in doc:
        raise ValueError(f"{where}: expected a mapping with a 'classes' list")
    if not isinstance(doc["classes"] or [], list):
        raise ValueError(f"{where}: 'classes' must be a list of names or mappings, got {short(doc['classes'])}")
    allowed = {"name", "synonyms", "description", "colour", "color", "threshold", "code"}
    classes = []
    for i, entry in enumerate(doc["classes"] or []):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: class {i + 1} must be a name or a mapping, got {short(entry)}")
        unknown = sorted(set(map(str, entry)) - allowed)
        if unknown:
            raise ValueError(f"{where}: class {i + 1} has unknown key(s) {short(unknown)}; valid: {sorted(allowed)}")
        what = f"{where}: class {i + 1}"
        synonyms = entry.get("synonyms") or ()
        if isinstance(synonyms, str):
            synonyms = (synonyms,)
        if not isinstance(synonyms, list | tuple):
            raise ValueError(f"{what}: synonyms must be a list of names, got {short(synonyms)}")
        code = entry.get("code")
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
            raise ValueError(f"{what}: code must be an integer product code, got {short(code)}")
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
