"""Notebook hygiene: Pythia chapter structure, a small-run switch, outputs stripped in git.

Execution itself is done by ``make notebooks`` (pytest --nbmake, LSLIB_SMALL=1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ has no numbered chapters"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_structure(path: Path) -> None:
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "strip outputs"
    md = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    assert md[0].startswith("# "), "first cell is the H1 title"
    text = "\n".join(md)
    for heading in ("## Overview", "## Prerequisites", "## Imports", "## Summary", "## Resources"):
        assert heading in text, heading
    assert any("LSLIB_SMALL" in "".join(c["source"]) for c in code), "a parameters cell with the small-run switch"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
