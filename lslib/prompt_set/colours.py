"""Default colours for free-text classes: :func:`suggest_colours` matches each class to product classes.

A class without a colour gets the colour of the nearest class of a land-cover product of
:mod:`lslib.taxonomy` (``forest`` green, ``water`` blue), by text-embedding or lexical similarity of their
names and synonyms (:func:`product_terms`); free text that matches nothing gets a :data:`PALETTE` colour.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lslib.prompt_set.core import PALETTE, PromptSet
from lslib.prompt_set.names import normalise_name

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
_TERM_VECTORS: dict[bytes, np.ndarray] = {}  # embedding fingerprint -> unit vectors of product_terms()
_TERM_VECTORS_MAX = 4


@dataclass(frozen=True)
class ProductClass:
    """One class of one land-cover product: its colour and where its terms (name first) sit in the term list."""

    taxonomy: str
    name: str
    colour: str
    terms: tuple[int, ...]


@functools.cache
def product_terms() -> tuple[tuple[str, ...], tuple[ProductClass, ...]]:
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
            products.append(ProductClass(key, c.name, c.color.lower(), index))
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
    return tuple((normalise_name(t), _tokens(t)) for t in product_terms()[0])


@functools.cache
def _negated_terms() -> np.ndarray:
    """Which product terms are negations ("not cropland", "non-vegetated"): never a match for the positive."""
    return np.array([bool(words & _NEGATIONS) for _, words in _term_keys()])


def _lexical(term: str) -> np.ndarray:
    """Similarity of ``term`` to every product term.

    1 same normalised name, 0.95 same words up to plurals, else 0.9 x the word overlap (Jaccard); 0 for
    negated product terms ("not cropland").
    """
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
    the same encoder (a lambda made per call included) and never served to a different encoder.
    """
    probe = _unit(embed(list(_PROBE)), len(_PROBE))
    key = np.round(probe, 4).tobytes() + str(probe.shape).encode()
    table = _TERM_VECTORS.get(key)
    if table is None:
        terms = list(product_terms()[0])
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


def _preferred(products: tuple[ProductClass, ...], prefer: str | None) -> np.ndarray:
    """Which product classes belong to the product ``prefer`` (none for ``None``); an unknown key: ValueError."""
    keys = {p.taxonomy for p in products}
    if prefer is not None and prefer not in keys:
        raise ValueError(f"prefer={prefer!r} is not a taxonomy key; use one of {sorted(keys)}")
    return np.array([p.taxonomy == prefer for p in products])


def suggest_colours(prompts: PromptSet, embed: Embed | None = None, *, prefer: str | None = None) -> PromptSet:
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

    With ``prefer`` (the product in use: the reference shown beside the map, the preset the prompts came from)
    a class whose candidates (similarity within :data:`COLOUR_MARGIN` of its best, above the floor) include a
    class of that product takes that product class's colour exactly (``trees`` beside an Esri label: Esri's
    *Trees* green, not the colour most products agree on), so the map and the reference speak one colour
    language; classes matching none of its classes are coloured as without ``prefer``.

    Args:
        prompts: the set; returned unchanged (``embed`` not called) when every class has a colour.
        embed: ``names -> (N, D)`` vectors, e.g. :func:`lslib.inference.colours.name_embedder` of a model
            (the product terms are embedded once per process and encoder); ``None``: lexical only.
        prefer: a taxonomy key of :func:`lslib.taxonomy.list_taxonomies` whose classes' colours come first;
            ``None``: no product preferred.

    Raises:
        ValueError: ``prefer`` is not a taxonomy key.
    """
    need = [i for i, c in enumerate(prompts.classes) if c.colour is None]
    if not need:
        return prompts
    products = product_terms()[1]
    preferred = _preferred(products, prefer)
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
        first = preferred & (scores[r] >= max(floor, best - COLOUR_MARGIN))  # the preferred product's candidates
        ranked.sort(key=lambda j: not first[j])  # ... come first (a stable sort: then by similarity as before)
        colour = None
        if best >= floor:
            for j in ranked:
                if scores[r, j] < max(floor, best - COLOUR_MARGIN):
                    break
                if _distinct(products[j].colour, used):
                    colour = products[j].colour
                    break
        if colour is None:
            free = [c for c in PALETTE if _distinct(c, used)] or [c for c in PALETTE if c not in used]
            colour = free[0] if free else PALETTE[need[r] % len(PALETTE)]
        chosen[need[r]] = colour
        used.append(colour)
    classes = tuple(replace(c, colour=chosen[i]) if i in chosen else c for i, c in enumerate(prompts.classes))
    return replace(prompts, classes=classes)
