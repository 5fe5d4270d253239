"""Crosswalks between land-cover products, and label remapping through them.

A crosswalk is read from the product tables of :mod:`lslib.taxonomy.products` (its :func:`registry`); the
precedence rules are in the :mod:`lslib.taxonomy` docstring. :func:`lut` turns a crosswalk into a lookup
table, :func:`remap` applies it to a label array and :func:`class_histogram` counts pixels per class.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache, reduce
from typing import Literal

import numpy as np

from lslib.taxonomy.products import (
    HubConcept,
    LandCoverClass,
    Taxonomy,
    ancestors,
    registry,
    resolve_taxonomy,
    short_list,
)

__all__ = ["Ambiguity", "class_histogram", "crosswalk", "lut", "remap"]

Ambiguity = Literal["error", "first"]


def _code_map_path(src: str, dst: str, seen: frozenset[str] = frozenset()) -> list[dict[int, int]] | None:
    """The exact code maps chaining ``src`` to ``dst``, or None."""
    if src == dst:
        return []
    for (a, b), table in registry()[2].items():
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
        scored = [(0, i, d.code) for i, d in enumerate(dst.classes) if d.hub and primary in ancestors(d.hub[0], hub)]
    if not scored:  # broader: widen c's main concept until some dst class lists it
        for concept in ancestors(primary, hub):
            scored = [(0, i, d.code) for i, d in enumerate(dst.classes) if concept in d.hub]
            if scored:
                break
    return tuple(code for _, _, code in sorted(scored))


@lru_cache(maxsize=512)
def _crosswalk(src: Taxonomy, dst: Taxonomy) -> tuple[tuple[int, tuple[int, ...]], ...]:
    taxonomies, hub, _ = registry()
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
    return dict(_crosswalk(resolve_taxonomy(src), resolve_taxonomy(dst)))


def lut(
    src: Taxonomy | str,
    dst: Taxonomy | str,
    ambiguous: Ambiguity = "error",
    *,
    present: Iterable[int] | None = None,
) -> np.ndarray:
    """Lookup table ``table[src_code] -> dst_code`` (1-D, length max code + 1, smallest unsigned dtype).

    Nodata and classes without a counterpart map to ``dst.nodata``, and so do unused slots. With
    ``present``, only those source codes are checked (:func:`remap` passes the codes in its array).

    Args:
        src: the source taxonomy or its key.
        dst: the target taxonomy or its key.
        ambiguous: "error" (default) or "first" (the best-ranked target) for classes with several counterparts.
        present: the source codes to check (default: all of them).

    Returns:
        The lookup table, indexed by source code.

    Raises:
        ValueError: a class has several counterparts and ``ambiguous="error"`` (the message lists
            them; ``ambiguous="first"`` takes the best-ranked one), or a class has none and ``dst``
            has no nodata value.
    """
    if ambiguous not in ("error", "first"):
        raise ValueError(f"ambiguous must be 'error' or 'first', not {ambiguous!r}")
    source = resolve_taxonomy(src)
    target = resolve_taxonomy(dst)
    cw = crosswalk(source, target)
    checked = set(cw) if present is None else {int(c) for c in present}
    many = {c: v for c, v in cw.items() if len(v) > 1 and c in checked}
    if many and ambiguous == "error":
        lines = "; ".join(
            f"{c} {source.by_code(c).name!r} -> {[f'{d} {target.by_code(d).name}' for d in v]}" for c, v in many.items()
        )
        raise ValueError(
            f"{source.key} -> {target.key} is ambiguous for {len(many)} class(es): {lines}. "
            "Pass ambiguous='first' to take the first (best-ranked) target of each."
        )
    fill = target.nodata if target.nodata is not None else 0
    missing = [c for c, v in cw.items() if not v and c in checked]
    if target.nodata is None and missing:
        raise ValueError(f"{target.key} has no nodata value for {source.key} codes without counterpart: {missing}")
    table = np.full(max(cw) + 1, fill, dtype=np.min_scalar_type(max((*target.codes, fill))))
    for code, targets in cw.items():
        table[code] = targets[0] if targets else fill
    return table


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
    """Translate a label array from ``src`` codes to ``dst`` codes (vectorised through :func:`lut`).

    Args:
        array: integer label array of any shape holding ``src`` codes or ``src.nodata``.
        src: the taxonomy of ``array`` or its key.
        dst: the taxonomy to translate into or its key.
        ambiguous: "error" (default) or "first" for classes with several counterparts.

    Returns:
        array of the same shape in ``dst`` codes (dtype of the lookup table); nodata and classes without a
        counterpart become ``dst.nodata``.

    Raises:
        TypeError: a non-integer array.
        ValueError: values that are neither ``src`` codes nor its nodata (listed), or ``ambiguous="error"``
            and a class present in the array has several counterparts.
    """
    s, d = resolve_taxonomy(src), resolve_taxonomy(dst)
    a = _integer_array(array)
    present = set(_value_counts(a))
    unknown = sorted(present - set(s.codes) - {s.nodata})
    if unknown:
        raise ValueError(
            f"{len(unknown)} value(s) in the array are not {s.key} codes: {short_list(unknown, 20)}. "
            f"Valid codes: {short_list(s.codes)}; nodata: {s.nodata}. Set them to nodata first if they mean no data."
        )
    return lut(s, d, ambiguous, present=present)[a]


def class_histogram(array: np.ndarray, taxonomy: Taxonomy | str) -> dict[str, int]:
    """Pixel count per class name, in table order (zero counts included, nodata excluded).

    Values that are neither class codes nor nodata are reported as extra ``"unknown code N"`` entries.
    """
    tax = resolve_taxonomy(taxonomy)
    counts = _value_counts(_integer_array(array))
    out = {c.name: counts.get(c.code, 0) for c in tax.classes}
    for value in sorted(counts):
        if value not in tax and value != tax.nodata:
            out[f"unknown code {value}"] = counts[value]
    return out
