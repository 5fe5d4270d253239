"""Crosswalks between land-cover products and label remapping (tables in ``lslib/resources/``).

Precedence: exact code maps (``parent`` links such as CORINE level 3 -> 2 -> 1 or NLCD -> its
generalisation, ``derived_from`` recodes such as TerraMesh -> Esri LULC, inverted for the opposite
direction), else the shared hub concepts each class lists (rules in ``crosswalks.yaml``). Re-exported
by :mod:`lslib.taxonomy`.
"""

from __future__ import annotations

from functools import lru_cache, reduce

import numpy as np

from lslib.taxonomy import (
    Ambiguity,
    HubConcept,
    LandCoverClass,
    Taxonomy,
    _ancestors,
    _registry,
    _resolve,
    _short,
)


def _code_map_path(src: str, dst: str, seen: frozenset[str] = frozenset()) -> list[dict[int, int]] | None:
    """The exact code maps chaining ``src`` to ``dst``, or None."""
    if src == dst:
        return []
    for (a, b), table in _registry()[2].items():
        if a == src and b not in seen and (rest := _code_map_path(b, dst, seen | {a})) is not None:
            return [table, *rest]
    return None


def _hub_targets(c: LandCoverClass, dst: Taxonomy, hub: dict[str, HubConcept]) -> tuple[int, ...]:
    """Dst codes corresponding to class ``c`` through hub concepts, best first (rules in crosswalks.yaml)."""
    if not c.hub:
        return ()
    primary = c.hub[0]
    scored: list[tuple[int, int, int]] = []
    for i, d in enumerate(dst.classes):
        if not d.hub:
            continue
        if d.hub[0] == primary:
            scored.append((0, i, d.code))
        elif primary in d.hub:
            scored.append((1 + d.hub.index(primary), i, d.code))
        elif d.hub[0] in c.hub:
            scored.append((100 + c.hub.index(d.hub[0]), i, d.code))
    if not scored:  # narrower: dst classes whose main concept lies below c's
        scored = [(0, i, d.code) for i, d in enumerate(dst.classes) if d.hub and primary in _ancestors(d.hub[0], hub)]
    if not scored:  # broader: widen c's main concept until some dst class lists it
        for concept in _ancestors(primary, hub):
            scored = [(0, i, d.code) for i, d in enumerate(dst.classes) if concept in d.hub]
            if scored:
                break
    return tuple(code for _, _, code in sorted(scored))


@lru_cache(maxsize=512)
def _crosswalk(src: Taxonomy, dst: Taxonomy) -> tuple[tuple[int, tuple[int, ...]], ...]:
    taxonomies, hub, _ = _registry()
    registered = taxonomies.get(src.key) == src and taxonomies.get(dst.key) == dst
    forward = _code_map_path(src.key, dst.key) if registered else None
    backward = _code_map_path(dst.key, src.key) if registered and forward is None else None
    pairs: list[tuple[int, tuple[int, ...]]]
    if forward is not None:
        pairs = [(s, (reduce(lambda code, table: table[code], forward, s),)) for s in src.codes]
    elif backward is not None:
        up = {d: reduce(lambda code, table: table[code], backward, d) for d in dst.codes}
        pairs = [(s, tuple(d for d in dst.codes if up[d] == s)) for s in src.codes]
    else:
        pairs = [(c.code, _hub_targets(c, dst, hub)) for c in src.classes]
    if src.nodata is not None:
        pairs.append((src.nodata, () if dst.nodata is None else (dst.nodata,)))
    return tuple(pairs)


def crosswalk(src: Taxonomy | str, dst: Taxonomy | str) -> dict[int, tuple[int, ...]]:
    """``{src code: (dst codes, best first)}`` for every src class and src nodata (-> dst nodata).

    An empty tuple means the class has no counterpart in ``dst`` (e.g. Esri clouds -> WorldCover).
    """
    return dict(_crosswalk(_resolve(src), _resolve(dst)))


def _integer_array(array: np.ndarray) -> np.ndarray:
    a = np.asarray(array)
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(
            f"expected an integer label array, got {a.dtype}; fill NaN first, e.g. "
            "np.nan_to_num(a, nan=taxonomy.nodata).astype(np.int32)"
        )
    return a


def _value_counts(a: np.ndarray) -> dict[int, int]:
    """{value: count} of an integer array (bincount when values are small and non-negative)."""
    if a.size == 0:
        return {}
    lo, hi = int(a.min()), int(a.max())
    if lo >= 0 and hi < 1 << 16:
        counts = np.bincount(a.ravel(), minlength=hi + 1)
        nz = np.flatnonzero(counts)
        return {int(v): int(counts[v]) for v in nz}
    values, counts = np.unique(a, return_counts=True)
    return {int(v): int(n) for v, n in zip(values, counts, strict=True)}


def remap(array: np.ndarray, src: Taxonomy | str, dst: Taxonomy | str, *, ambiguous: Ambiguity = "error") -> np.ndarray:
    """Translate a label array from ``src`` codes to ``dst`` codes (vectorised through :meth:`Taxonomy.lut`).

    Args:
        array: integer label array of any shape holding ``src`` codes or ``src.nodata``.
        src, dst: taxonomies or their keys.
        ambiguous: "error" (default) or "first" for classes with several counterparts.

    Returns:
        array of the same shape in ``dst`` codes (dtype of the lookup table); nodata and classes without a
        counterpart become ``dst.nodata``.

    Raises:
        TypeError: a non-integer array.
        ValueError: values that are neither ``src`` codes nor its nodata (listed), or ``ambiguous="error"``
            and a class present in the array has several counterparts.
    """
    s, d = _resolve(src), _resolve(dst)
    a = _integer_array(array)
    present = set(_value_counts(a))
    unknown = sorted(present - set(s.codes) - {s.nodata})
    if unknown:
        raise ValueError(
            f"{len(unknown)} value(s) in the array are not {s.key} codes: {_short(unknown, 20)}. "
            f"Valid codes: {_short(s.codes)}; nodata: {s.nodata}. Set them to nodata first if they mean no data."
        )
    return s.lut(d, ambiguous, present=present)[a]


def class_histogram(array: np.ndarray, taxonomy: Taxonomy | str) -> dict[str, int]:
    """Pixel count per class name, in table order (zero counts included, nodata excluded).

    Values that are neither class codes nor nodata are reported as extra ``"unknown code N"`` entries.
    """
    tax = _resolve(taxonomy)
    counts = _value_counts(_integer_array(array))
    out = {c.name: counts.get(c.code, 0) for c in tax.classes}
    for value in sorted(counts):
        if value not in tax and value != tax.nodata:
            out[f"unknown code {value}"] = counts[value]
    return out
