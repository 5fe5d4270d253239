"""The class-map file convention: one for every class map lslib writes (``lslib predict``, the map app's export).

A class-map GeoTIFF is single-band uint8:

* ``k`` (0 .. K-1): the index of the class in the prompt set (``prompts.yaml`` next to the map, and the
  ``LSLIB_CLASSES`` tag), the same index as :attr:`lslib.inference.Prediction.class_map`;
* :data:`UNKNOWN_CODE` = 254: valid pixel whose best score is below its class threshold (``-1`` in a
  :class:`~lslib.inference.Prediction`);
* :data:`NODATA_CODE` = 255: no valid input pixel; the GeoTIFF nodata value.

Colour table (:func:`colour_table`): the prompt colours at ``0 .. K-1``, unknown grey ``(128, 128, 128)``,
nodata transparent. Tags (:func:`class_map_tags`): ``LSLIB_CLASSES`` (JSON list of the class names, index
order), ``LSLIB_UNKNOWN`` (``"254"``), ``LSLIB_NODATA`` (``"255"``); band description
:data:`BAND_DESCRIPTION`. A prompt set has at most :data:`lslib.prompt_set.MAX_CLASSES` (200) classes, so
the class codes never reach 254.

Reading: :func:`read_class_map` returns the class index (``-1`` unknown) of any lslib class map, including
the ``classes.tif`` of map-app exports before this convention (class ``k`` stored as ``k + 1``, 0 unknown,
recognised by their ``classes`` tag ``"0=unknown;1=..."`` and no ``LSLIB_UNKNOWN`` tag).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "BAND_DESCRIPTION",
    "MAX_CODE_CLASSES",
    "NODATA_CODE",
    "NODATA_RGBA",
    "TAG_CLASSES",
    "TAG_NODATA",
    "TAG_UNKNOWN",
    "UNKNOWN_CODE",
    "UNKNOWN_RGBA",
    "ClassMap",
    "class_map_tags",
    "codes_doc",
    "colour_table",
    "decode_class_map",
    "encode_class_map",
    "is_legacy_export",
    "labels",
    "read_class_map",
]

UNKNOWN_CODE = 254
NODATA_CODE = 255
#: class codes are 0 .. MAX_CODE_CLASSES - 1; the codes above are unknown and nodata
MAX_CODE_CLASSES = UNKNOWN_CODE
UNKNOWN_RGBA = (128, 128, 128, 255)
NODATA_RGBA = (0, 0, 0, 0)
TAG_CLASSES = "LSLIB_CLASSES"
TAG_UNKNOWN = "LSLIB_UNKNOWN"
TAG_NODATA = "LSLIB_NODATA"
BAND_DESCRIPTION = f"class index into prompts.yaml ({UNKNOWN_CODE} unknown, {NODATA_CODE} nodata)"


def encode_class_map(index: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The uint8 codes of a class map: ``index`` (class index, ``-1`` unknown) where ``valid``, nodata elsewhere.

    Raises:
        ValueError: a class index of 254 or more (it would collide with unknown/nodata).
    """
    index = np.asarray(index)
    if index.size and int(index.max()) >= MAX_CODE_CLASSES:
        raise ValueError(f"class index {int(index.max())} overflows the class map ({MAX_CODE_CLASSES} classes at most)")
    codes = np.where(index >= 0, index, UNKNOWN_CODE).astype(np.uint8)
    codes[~np.asarray(valid, dtype=bool)] = NODATA_CODE
    return codes


def decode_class_map(codes: np.ndarray, tags: Mapping[str, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(index int16 with -1 unknown (and -1 at nodata), valid bool)`` of class-map codes.

    ``tags``: the file's dataset tags; a legacy map-app export (class ``k`` as ``k + 1``, 0 unknown) is
    recognised by them and decoded accordingly.
    """
    codes = np.asarray(codes)
    valid = codes != NODATA_CODE
    if tags is not None and is_legacy_export(tags):
        index = codes.astype(np.int16) - 1
    else:
        index = codes.astype(np.int16)
        index[codes == UNKNOWN_CODE] = -1
    index[~valid] = -1
    return index, valid


def is_legacy_export(tags: Mapping[str, str]) -> bool:
    """A ``classes.tif`` of a map-app export before this convention (``k + 1``, 0 unknown, 255 nodata)."""
    return TAG_UNKNOWN not in tags and str(tags.get("classes", "")).startswith("0=unknown")


def colour_table(colours: Sequence[str]) -> dict[int, tuple[int, int, int, int]]:
    """``{code: rgba}`` for all 256 codes: one entry per prompt colour, unknown grey, nodata transparent."""
    from matplotlib.colors import to_rgba

    table = {i: (0, 0, 0, 255) for i in range(256)}
    for i, c in enumerate(colours):
        r, g, b, _ = to_rgba(c)
        table[i] = (round(r * 255), round(g * 255), round(b * 255), 255)
    table[UNKNOWN_CODE] = UNKNOWN_RGBA
    table[NODATA_CODE] = NODATA_RGBA
    return table


def class_map_tags(names: Sequence[str]) -> dict[str, str]:
    """The GeoTIFF tags of the convention every class map carries: class names, unknown and nodata codes."""
    return {TAG_CLASSES: json.dumps(list(names)), TAG_UNKNOWN: str(UNKNOWN_CODE), TAG_NODATA: str(NODATA_CODE)}


def labels(names: Sequence[str]) -> dict[str, str]:
    """``{code: name}`` (codes as strings, for JSON): the classes, ``"unknown"`` and ``"nodata"``."""
    return {**{str(i): n for i, n in enumerate(names)}, str(UNKNOWN_CODE): "unknown", str(NODATA_CODE): "nodata"}


def codes_doc() -> dict[str, Any]:
    """The convention in words, as the sidecar ``map.json`` records it (``codes``)."""
    return {"classes": "0..K-1 = index into prompts", "unknown": UNKNOWN_CODE, "nodata": NODATA_CODE}


@dataclass
class ClassMap:
    """A class-map file read back: class index (``-1`` unknown or nodata), valid mask, class names."""

    index: np.ndarray  # (y, x) int16
    valid: np.ndarray  # (y, x) bool
    names: list[str]
    legacy: bool = False  # a map-app export before the one convention (k + 1, 0 unknown)


def read_class_map(path: str | os.PathLike[str]) -> ClassMap:
    """Read any class map lslib wrote (``class_map.tif``, ``classes.tif``, old exports included)."""
    import rasterio

    with rasterio.open(path) as src:
        codes = src.read(1)
        tags = src.tags()
    legacy = is_legacy_export(tags)
    index, valid = decode_class_map(codes, tags)
    if legacy:
        pairs = (p.split("=", 1) for p in str(tags.get("classes", "")).split(";") if "=" in p)
        named = {int(k): v for k, v in pairs if k.strip().isdigit()}
        names = [named[k] for k in sorted(named) if k > 0]
    else:
        try:
            loaded = json.loads(tags.get(TAG_CLASSES, "[]"))
        except ValueError:
            loaded = []
        names = [str(n) for n in loaded] if isinstance(loaded, list) else []
    return ClassMap(index, valid, names, legacy)
