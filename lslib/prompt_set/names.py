"""Class-name keys: when two names count as the same name (duplicates, product-term matching).

:func:`normalise_name` is the one key: :func:`lslib.prompt_set.validate` refuses two classes whose names or
synonyms share it, and :mod:`lslib.prompt_set.colours` matches free text to product classes with it.
"""

from __future__ import annotations

import unicodedata

# invisible characters that are not format characters (Cf): variation selectors, the combining grapheme joiner,
# Hangul and Khmer fillers, Mongolian free variation selectors (the rest of Unicode's default-ignorables)
_IGNORABLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, *range(0x180B, 0x1810), *range(0xFE00, 0xFE10),
     *range(0xE0100, 0xE01F0)]
)  # fmt: skip


def fold(name: str) -> str:
    """Case-folded ``name`` with ``&`` as ``and``, ``_``/``-``/``/`` as spaces and runs of spaces as one.

    No Unicode normalisation: two names with the same :func:`normalise_name` but a different ``fold`` differ
    only in look-alike Unicode (what :func:`lslib.prompt_set.validate` tells the user).
    """
    text = name.casefold().replace("&", " and ").replace("_", " ").replace("-", " ").replace("/", " ")
    return " ".join(text.split())


def _invisible(ch: str) -> bool:
    return unicodedata.category(ch) == "Cf" or ord(ch) in _IGNORABLE


def normalise_name(name: str) -> str:
    """Case-, space-, ``_``/``-`` and ``&``/``and``-insensitive key used to detect duplicates.

    Look-alike text gets the same key: Unicode NFKC with case folding (composed vs decomposed accents,
    full-width letters, ligatures, no-break and other spaces) and invisible characters removed (zero-width
    spaces and joiners, soft hyphens, BOM, bidi marks: category Cf; variation selectors and fillers).
    """
    text = name
    for _ in range(4):  # NFKC and case folding until stable: a few characters need a second round
        folded = unicodedata.normalize("NFKC", "".join(ch for ch in text if not _invisible(ch))).casefold()
        if folded == text:
            break
        text = folded
    return fold(text)
