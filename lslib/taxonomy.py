"""Land-cover products as data: class codes, names, text prompts, colours and crosswalks.

The tables live in ``lslib/resources/taxonomies.yaml`` (products) and ``crosswalks.yaml`` (the shared
hub vocabulary); they are parsed once and cached. Class *names* are the model's interface (text
prompts), class *codes* are what label rasters store, and ``nodata`` is a label value that is not a class.

Crosswalks between products come from, in order of precedence: exact code maps (``parent`` links such as
CORINE level 3 -> 2 -> 1 or NLCD -> its 8-class generalisation, and ``derived_from`` recodes such as
TerraMesh -> Esri LULC, inverted for the opposite direction), else the hub concepts each class lists
(see ``crosswalks.yaml`` for the matching rules). A source class may map to several target classes;
:func:`remap` and :meth:`Taxonomy.lut` then raise or take the best-ranked one (``ambiguous="first"``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache, reduce
from importlib import resources
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

Ambiguity = Literal["error", "first"]
RGBA = tuple[int, int, int, int]
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_TRANSPARENT: RGBA = (0, 0, 0, 0)
_CLEAR = (0.0, 0.0, 0.0, 0.0)


def normalise_name(text: str) -> str:
    """Case-, whitespace- and separator-insensitive form of a class name ("Snow & ice" == "snow_and_ice")."""
    t = text.casefold().replace("&", " and ").replace("_", " ").replace("-", " ").replace("/", " / ")
    return " ".join(t.split())


def _short(codes: Iterable[int], limit: int = 30) -> str:
    items = [str(c) for c in codes]
    return ", ".join(items[:limit]) + (f", ... ({len(items)} in all)" if len(items) > limit else "")


@dataclass(frozen=True)
class HubConcept:
    """A concept of the shared hub vocabulary; ``broader`` is its parent concept (or None)."""

    name: str
    description: str
    broader: str | None = None


@dataclass(frozen=True)
class LandCoverClass:
    """One class of a product: ``code`` as stored in rasters, ``color`` as ``"#rrggbb"``.

    ``hub`` lists the hub concepts the class covers, main one first; ``parent`` is the class code in the
    taxonomy's parent taxonomy (e.g. CORINE 211 -> 21); ``note`` flags e.g. "Alaska only".
    """

    code: int
    name: str
    description: str
    color: str
    synonyms: tuple[str, ...] = ()
    hub: tuple[str, ...] = ()
    parent: int | None = None
    note: str = ""

    @property
    def rgba(self) -> RGBA:
        """Opaque colour as (r, g, b, a) integers in 0..255."""
        c = self.color
        return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16), 255


@dataclass(frozen=True)
class Taxonomy:
    """A product's class table with metadata; ``nodata`` is the label value meaning "no data" (not a class)."""

    key: str
    title: str
    classes: tuple[LandCoverClass, ...]
    nodata: int | None
    gsd_m: float | None
    licence: str
    url: str
    note: str
    citation: str = ""
    parent: str | None = None

    def __post_init__(self) -> None:
        if not self.classes:
            raise ValueError(f"taxonomy {self.key!r} has no classes")
        codes = [c.code for c in self.classes]
        if len(set(codes)) != len(codes):
            raise ValueError(f"taxonomy {self.key!r} has duplicate codes: {sorted(codes)}")
        if min(codes) < 0 or (self.nodata is not None and self.nodata < 0):
            raise ValueError(f"taxonomy {self.key!r}: codes and nodata must be non-negative integers")
        if self.nodata is not None and self.nodata in codes:
            raise ValueError(f"taxonomy {self.key!r}: nodata {self.nodata} is also a class code")
        for c in self.classes:
            if not c.name.strip() or not c.description.strip():
                raise ValueError(f"taxonomy {self.key!r}: class {c.code} needs a name and a description")
            if not _HEX.match(c.color):
                raise ValueError(f"taxonomy {self.key!r}: class {c.code} colour {c.color!r} is not '#rrggbb'")
        _ = self._name_index  # raises on clashing names or synonyms

    @property
    def codes(self) -> tuple[int, ...]:
        """Class codes in table order (nodata excluded)."""
        return tuple(c.code for c in self.classes)

    @property
    def names(self) -> tuple[str, ...]:
        """Class names in table order (nodata excluded)."""
        return tuple(c.name for c in self.classes)

    def __len__(self) -> int:
        return len(self.classes)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    @cached_property
    def _by_code(self) -> dict[int, LandCoverClass]:
        return {c.code: c for c in self.classes}

    @cached_property
    def _name_index(self) -> dict[str, LandCoverClass]:
        index: dict[str, LandCoverClass] = {}
        for c in self.classes:
            for label in (c.name, *c.synonyms):
                k = normalise_name(label)
                if k in index and index[k] is not c:
                    raise ValueError(f"taxonomy {self.key!r}: {label!r} names both {index[k].name!r} and {c.name!r}")
                index[k] = c
        return index

    def by_code(self, code: int) -> LandCoverClass:
        """The class stored as ``code``; KeyError (listing the valid codes) for nodata or unknown codes."""
        try:
            return self._by_code[int(code)]
        except KeyError:
            what = "the nodata value, not a class," if code == self.nodata else "not a class code"
            raise KeyError(
                f"{code} is {what} of {self.key!r}; valid codes: {_short(self.codes)} (nodata: {self.nodata})"
            ) from None

    def by_name(self, name: str) -> LandCoverClass:
        """The class called ``name`` or one of its synonyms, ignoring case, spaces, ``_``, ``-`` and ``&``/and."""
        try:
            return self._name_index[normalise_name(name)]
        except KeyError:
            close = difflib.get_close_matches(normalise_name(name), list(self._name_index), n=1, cutoff=0.6)
            hint = f" Did you mean {self._name_index[close[0]].name!r}?" if close else ""
            raise KeyError(f"no class {name!r} in {self.key!r}.{hint} Classes: {', '.join(self.names)}") from None

    def colormap(self) -> dict[int, RGBA]:
        """``{code: (r, g, b, a)}`` in 0..255 for every class, nodata transparent (for ``write_colormap``)."""
        cmap = {c.code: c.rgba for c in self.classes}
        if self.nodata is not None:
            cmap[self.nodata] = _TRANSPARENT
        return cmap

    def mpl_cmap_norm(self) -> tuple[ListedColormap, BoundaryNorm]:
        """A colormap and norm for ``imshow(label, cmap=cmap, norm=norm, interpolation="nearest")``.

        Every code gets its class colour; nodata, codes between classes and codes out of range are transparent.
        """
        from matplotlib.colors import BoundaryNorm, ListedColormap

        table = self.colormap()
        lo, hi = min(table), max(table)
        colors = np.zeros((hi - lo + 1, 4))  # transparent where no class
        for code, rgba in table.items():
            colors[code - lo] = np.asarray(rgba) / 255
        cmap = ListedColormap(colors, name=self.key).with_extremes(bad=_CLEAR, under=_CLEAR, over=_CLEAR)
        assert isinstance(cmap, ListedColormap)
        return cmap, BoundaryNorm(np.arange(lo - 0.5, hi + 1.0), ncolors=len(colors))

    def legend_handles(self, present: Iterable[int] | None = None) -> list[Patch]:
        """Legend patches in table order: all classes, or only the codes in ``present`` (nodata and unknown
        codes in ``present`` are ignored)."""
        from matplotlib.patches import Patch

        wanted = None if present is None else {int(c) for c in present}
        return [
            Patch(facecolor=c.color, edgecolor="0.3", linewidth=0.5, label=c.name)
            for c in self.classes
            if wanted is None or c.code in wanted
        ]

    def prompts(self, template: str = "{}") -> list[str]:
        """Text prompts, one per class in table order (nodata excluded).

        ``template`` is formatted with the class name as ``{}``/``{name}`` and ``{description}``,
        e.g. ``"a satellite image of {}"``.
        """
        return [template.format(c.name, name=c.name, description=c.description) for c in self.classes]

    def lut(
        self, dst: Taxonomy | str, ambiguous: Ambiguity = "error", *, present: Iterable[int] | None = None
    ) -> np.ndarray:
        """Lookup table ``table[src_code] -> dst_code`` (1-D, length max code + 1, smallest unsigned dtype).

        Nodata and classes without a counterpart map to ``dst.nodata``, and so do unused slots. With
        ``present``, only those source codes are checked (:func:`remap` passes the codes in its array).

        Raises:
            ValueError: a class has several counterparts and ``ambiguous="error"`` (the message lists
                them; ``ambiguous="first"`` takes the best-ranked one), or a class has none and ``dst``
                has no nodata value.
        """
        if ambiguous not in ("error", "first"):
            raise ValueError(f"ambiguous must be 'error' or 'first', not {ambiguous!r}")
        target = _resolve(dst)
        cw = crosswalk(self, target)
        checked = set(cw) if present is None else {int(c) for c in present}
        many = {c: v for c, v in cw.items() if len(v) > 1 and c in checked}
        if many and ambiguous == "error":
            lines = "; ".join(
                f"{c} {self.by_code(c).name!r} -> {[f'{d} {target.by_code(d).name}' for d in v]}"
                for c, v in many.items()
            )
            raise ValueError(
                f"{self.key} -> {target.key} is ambiguous for {len(many)} class(es): {lines}. "
                "Pass ambiguous='first' to take the first (best-ranked) target of each."
            )
        fill = target.nodata if target.nodata is not None else 0
        missing = [c for c, v in cw.items() if not v and c in checked]
        if target.nodata is None and missing:
            raise ValueError(f"{target.key} has no nodata value for {self.key} codes without counterpart: {missing}")
        table = np.full(max(cw) + 1, fill, dtype=np.min_scalar_type(max((*target.codes, fill))))
        for code, targets in cw.items():
            table[code] = targets[0] if targets else fill
        return table


@lru_cache(maxsize=1)
def _registry() -> tuple[dict[str, Taxonomy], dict[str, HubConcept], dict[tuple[str, str], dict[int, int]]]:
    """Parse the YAML tables once: (taxonomies by key, hub vocabulary, exact code maps by (src, dst))."""
    import yaml

    folder = resources.files(__name__.rpartition(".")[0]) / "resources"
    products = yaml.safe_load((folder / "taxonomies.yaml").read_text(encoding="utf-8"))["taxonomies"]
    hub_doc = yaml.safe_load((folder / "crosswalks.yaml").read_text(encoding="utf-8"))["hub"]
    hub = {k: HubConcept(k, str(v["description"]), v.get("broader")) for k, v in hub_doc.items()}
    for concept in hub:
        _ancestors(concept, hub)  # raises on a broken or cyclic chain

    taxonomies: dict[str, Taxonomy] = {}
    code_maps: dict[tuple[str, str], dict[int, int]] = {}
    for key, spec in products.items():
        if "derived_from" in spec:
            base = taxonomies[spec["derived_from"]]
            recode = {int(k): int(v) for k, v in spec["recode"].items()}
            if sorted(recode) != sorted(base.codes):
                raise ValueError(f"{key}: recode must cover exactly the codes of {base.key}: {base.codes}")
            classes = tuple(
                sorted((replace(base.by_code(old), code=new) for old, new in recode.items()), key=lambda c: c.code)
            )
            code_maps[(key, base.key)] = {new: old for old, new in recode.items()}
        else:
            classes = tuple(
                LandCoverClass(**{**c, "synonyms": tuple(c.get("synonyms", ())), "hub": tuple(c.get("hub", ()))})
                for c in spec["classes"]
            )
        meta = {k: v for k, v in spec.items() if k not in ("classes", "derived_from", "recode")}
        taxonomies[key] = Taxonomy(key=key, classes=classes, **meta)
    for tax in taxonomies.values():
        unknown = {h for c in tax.classes for h in c.hub} - set(hub)
        if unknown or not all(c.hub for c in tax.classes):
            raise ValueError(f"{tax.key}: every class needs hub concepts from crosswalks.yaml (unknown: {unknown})")
        if tax.parent is not None:
            parent = taxonomies[tax.parent]
            bad = [c.code for c in tax.classes if c.parent not in parent]
            if bad:
                raise ValueError(f"{tax.key}: classes {bad} have no valid parent code in {parent.key}")
            code_maps[(tax.key, parent.key)] = {c.code: int(c.parent) for c in tax.classes if c.parent is not None}
    return taxonomies, hub, code_maps


def list_taxonomies() -> list[str]:
    """Keys of all products, in the order of ``taxonomies.yaml``."""
    return list(_registry()[0])


def hub_vocabulary() -> dict[str, HubConcept]:
    """The shared hub concepts by name (see ``lslib/resources/crosswalks.yaml``)."""
    return dict(_registry()[1])


def get_taxonomy(key: str) -> Taxonomy:
    """The product table for ``key`` (case-insensitive; ``-`` and spaces read as ``_``).

    Raises:
        ValueError: unknown key; the message suggests the closest key and lists all of them.
    """
    taxonomies = _registry()[0]
    k = "_".join(key.strip().lower().replace("-", " ").split())
    if k in taxonomies:
        return taxonomies[k]
    close = difflib.get_close_matches(k, list(taxonomies), n=1, cutoff=0.4)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown taxonomy {key!r}.{hint} Valid keys: {', '.join(taxonomies)}")


def _resolve(tax: Taxonomy | str) -> Taxonomy:
    if isinstance(tax, Taxonomy):
        return tax
    if isinstance(tax, str):
        return get_taxonomy(tax)
    raise TypeError(f"expected a Taxonomy or its key, got {type(tax).__name__}")


def _ancestors(concept: str, hub: dict[str, HubConcept]) -> list[str]:
    """Broader concepts of ``concept``, nearest first (none for concepts outside the vocabulary)."""
    out: list[str] = []
    cur = hub[concept].broader if concept in hub else None
    while cur is not None:
        if cur not in hub or cur in out or cur == concept:
            raise ValueError(f"hub concept {concept!r}: broader chain broken or cyclic at {cur!r}")
        out.append(cur)
        cur = hub[cur].broader
    return out


# --- crosswalks and remapping -----------------------------------------------------------------------------------
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
