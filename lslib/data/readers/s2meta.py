"""Sentinel-2 product metadata: band ids in file names and the DN offset of processing baselines.

From processing baseline 04.00 (product names ``..._N0400_...``, January 2022 on) ESA adds 1000 to
every DN (``BOA_ADD_OFFSET`` = -1000 in ``MTD_MSIL2A.xml``, ``RADIO_ADD_OFFSET`` in
``MTD_MSIL1C.xml``). :func:`detect_boa_offset` finds the offset of a file from, in this order, an
``MTD_MSIL2A.xml``/``MTD_MSIL1C.xml`` in its folder or up to five folders above, a
``metadata.json`` next to it (``PROCESSING_BASELINE``/``PRODUCT_ID``, SSL4EO-S12), and an
``_Nxxxx_`` baseline in the file or folder names. ``N9999`` marks reprocessed products
(BigEarthNet v2, Major-TOM) whose DNs carry no offset, so it maps to 0.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from lslib.data.bands import S2_L1C_ORDER

__all__ = ["BAND_RE", "detect_boa_offset", "s2_band_id"]

BAND_RE = re.compile(r"(?:^|[_\-.\s])B(0?[1-9]|1[0-2]|8A)(?:_(\d{2})m)?$", re.IGNORECASE)
_BASELINE_RE = re.compile(r"_N(\d{4})(?:_|$)")
_OFFSET = 1000


def s2_band_id(text: str) -> str | None:
    """Canonical Sentinel-2 band id in a name ending with it (``"..._B4"``, ``"B8a"``, ``"..._B04_60m"``)."""
    m = BAND_RE.search(text.strip())
    if m is None:
        return None
    code = m.group(1).upper()
    return "B8A" if code == "8A" else f"B{int(code):02d}"


def _baseline_offset(baseline: str) -> int:
    """Offset for a baseline like ``"0400"``, ``"04.00"``, ``"N0214"``: 1000 from 04.00 on; N9999 -> 0."""
    digits = re.sub(r"\D", "", baseline)
    if len(digits) != 4 or digits == "9999":
        return 0
    return _OFFSET if int(digits) >= 400 else 0


def _offsets_from_mtd(path: Path) -> dict[str, int]:
    """Per-band DN offsets (positive, to subtract) from ``MTD_MSIL2A.xml`` / ``MTD_MSIL1C.xml``."""
    root = ET.parse(path).getroot()
    physical: dict[str, str] = {}
    for el in root.iter():
        if el.tag.endswith("Spectral_Information") and "bandId" in el.attrib:
            physical[el.attrib["bandId"]] = el.attrib.get("physicalBand", "")
    offsets: dict[str, int] = {}
    for el in root.iter():
        if el.tag.endswith(("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET")) and el.text:
            band = s2_band_id(physical.get(el.attrib.get("band_id", ""), ""))
            if band is not None:
                offsets[band] = -int(float(el.text))
    if not offsets:
        baselines = [el.text for el in root.iter() if el.tag.endswith("PROCESSING_BASELINE") and el.text]
        value = _baseline_offset(baselines[0]) if baselines else 0
        offsets = dict.fromkeys(S2_L1C_ORDER, value)
    return offsets


def detect_boa_offset(path: str | Path) -> tuple[dict[str, int], str]:
    """Detect the DN offset of a Sentinel-2 file (see the module docstring for the rules).

    Returns:
        ``(offsets, how)``: per-band offsets (DN to subtract; ``{}`` means 0 for every band) and a
        short description of the evidence used.
    """
    path = Path(path).resolve()
    for folder in [path.parent, *path.parents][:6]:
        for name in ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml"):
            if (folder / name).is_file():
                return _offsets_from_mtd(folder / name), str(folder / name)
    meta = path.parent / "metadata.json"
    if meta.is_file():
        info = json.loads(meta.read_text(encoding="utf-8"))
        baseline = info.get("PROCESSING_BASELINE") or ""
        if not baseline and (m := _BASELINE_RE.search(str(info.get("PRODUCT_ID", "")))):
            baseline = m.group(1)
        if baseline:
            return dict.fromkeys(S2_L1C_ORDER, _baseline_offset(baseline)), f"{meta} baseline {baseline}"
    for part in [path.stem, *(p.name for p in path.parents)]:
        if m := _BASELINE_RE.search(part):
            return dict.fromkeys(S2_L1C_ORDER, _baseline_offset(m.group(1))), f"product name N{m.group(1)}"
    return {}, "no product metadata found: assumed offset-free DNs"
