"""Land-cover products as data: class codes, names, text prompts, colours, and the registry that reads them.

The tables live in ``lslib/resources/taxonomies.yaml`` (products) and ``crosswalks.yaml`` (the shared
hub vocabulary); they are parsed once and cached (:func:`registry`). Class *names* are the model's interface
(text prompts), class *codes* are what label rasters store, and ``nodata`` is a label value that is not a class.
Crosswalks between products are :mod:`lslib.taxonomy.crosswalks`, which reads this module's registry.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

__all__ = [
    "RGBA",
    "HubConcept",
    "LandCoverClass",
    "Taxonomy",
    "ancestors",
    "get_taxonomy",
    "hub_vocabulary",
    "list_taxonomies",
    "normalise_name",
    "registry",
    "resolve_taxonomy",
    "short_list",
]

RGBA = tuple[int, int, int, int]

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_TRANSPARENT: RGBA = (0, 0, 0, 0)
_CLEAR = (0.0, 0.0, 0.0, 0.0)


def normalise_name(text: str) -> str:
    """Case-, whitespace- and separator-insensitive form of a class name ("Snow & ice" == "snow_and_ice")."""
    t = text.casefold().replace("&", " and ").replace("_", " ").replace("-", " ").replace("/", " / ")
    return " ".join(t.split())


def short_list(codes: Iterable[int], limit: int = 30) -> str:
    """``codes`` joined by commas, the first ``limit`` only and then their number (for error messages)."""
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
        """Check the table: classes present, codes unique and non-negative, names, descriptions and colours valid."""
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
        """Number of classes (nodata excluded)."""
        return len(self.classes)

    def __contains__(self, code: object) -> bool:
        """Whether ``code`` is a class code (nodata is not)."""
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
                f"{code} is {what} of {self.key!r}; valid codes: {short_list(self.codes)} (nodata: {self.nodata})"
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
        """Legend patches in table order: all classes, or only the codes in ``present``.

        Nodata and unknown codes in ``present`` are ignored.
        """
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


@lru_cache(maxsize=1)
def registry() -> tuple[dict[str, Taxonomy], dict[str, HubConcept], dict[tuple[str, str], dict[int, int]]]:
    """Parse the YAML tables once: (taxonomies by key, hub vocabulary, exact code maps by (src, dst))."""
    import yaml

    folder = resources.files("lslib") / "resources"  # lslib/resources, not lslib/taxonomy/resources
    products = yaml.safe_load((folder / "taxonomies.yaml").read_text(encoding="utf-8"))["taxonomies"]
    hub_doc = yaml.safe_load((folder / "crosswalks.yaml").read_text(encoding="utf-8"))["hub"]
    hub = {k: HubConcept(k, str(v["description"]), v.get("broader")) for k, v in hub_doc.items()}
    for concept in hub:
        ancestors(concept, hub)  # raises on a broken or cyclic chain

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
    return list(registry()[0])


def hub_vocabulary() -> dict[str, HubConcept]:
    """The shared hub concepts by name (see ``lslib/resources/crosswalks.yaml``)."""
    return dict(registry()[1])


def get_taxonomy(key: str) -> Taxonomy:
    """The product table for ``key`` (case-insensitive; ``-`` and spaces read as ``_``).

    Raises:
        ValueError: unknown key; the message suggests the closest key and lists all of them.
    """
    taxonomies = registry()[0]
    k = "_".join(key.strip().lower().replace("-", " ").split())
    if k in taxonomies:
        return taxonomies[k]
    close = difflib.get_close_matches(k, list(taxonomies), n=1, cutoff=0.4)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown taxonomy {key!r}.{hint} Valid keys: {', '.join(taxonomies)}")


def resolve_taxonomy(tax: Taxonomy | str) -> Taxonomy:
    """``tax`` itself, or the product table for the key ``tax`` (see :func:`get_taxonomy`).

    Raises:
        TypeError: ``tax`` is neither a :class:`Taxonomy` nor a string.
        ValueError: an unknown key.
    """
    if isinstance(tax, Taxonomy):
        return tax
    if isinstance(tax, str):
        return get_taxonomy(tax)
    raise TypeError(f"expected a Taxonomy or its key, got {type(tax).__name__}")


def ancestors(concept: str, hub: dict[str, HubConcept]) -> list[str]:
    """Broader concepts of ``concept``, nearest first (none for concepts outside the vocabulary)."""
    out: list[str] = []
    cur = hub[concept].broader if concept in hub else None
    while cur is not None:
        if cur not in hub or cur in out or cur == concept:
            raise ValueError(f"hub concept {concept!r}: broader chain broken or cyclic at {cur!r}")
        out.append(cur)
        cur = hub[cur].broader
    return out
