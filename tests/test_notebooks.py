"""Notebook hygiene: Pythia chapter structure, a small-run switch, outputs stripped in git, chapters numbered
uniquely, imports in the imports cell, and every chapter generated from its source in ``notebooks/src/``.

Execution itself is done by ``make notebooks`` (pytest --nbmake, LSLIB_SMALL=1)."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def _build() -> ModuleType:
    """``notebooks/src/build.py`` (the generators' driver), imported by path; it imports ``_nb`` beside it."""
    src = NOTEBOOK_DIR / "src"
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    spec = importlib.util.spec_from_file_location("_notebooks_build", src / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ has no numbered chapters"


def test_chapter_numbers_are_unique_and_consecutive() -> None:
    numbers = [p.name[:2] for p in NOTEBOOKS]
    twice = sorted(n for n, k in Counter(numbers).items() if k > 1)
    assert not twice, f"chapter numbers used twice: {twice}"
    assert [int(n) for n in numbers] == list(range(len(numbers))), "chapters are numbered 00, 01, ... in reading order"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_matches_its_source(path: Path, tmp_path: Path) -> None:
    """Regenerating the chapter from ``notebooks/src/nbNN_name.py`` gives the committed file byte for byte."""
    build = _build()
    sources = build.sources()
    assert path.stem in sources, f"{path.name} has no source: write notebooks/src/nb{path.stem}.py"
    fresh = build.write(path.stem, build.cells(sources[path.stem]), tmp_path)
    assert fresh.read_bytes() == path.read_bytes(), (
        f"{path.name} drifted from notebooks/src/nb{path.stem}.py: edit the source, then `make notebooks-build`"
    )


def test_every_source_has_its_chapter() -> None:
    missing = sorted(set(_build().sources()) - {p.stem for p in NOTEBOOKS})
    assert not missing, f"sources without a chapter (run `make notebooks-build`): {missing}"


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_imports_only_in_the_imports_cell(path: Path) -> None:
    cells = json.loads(path.read_text())["cells"]
    heading = next(i for i, c in enumerate(cells) if "".join(c["source"]).startswith("## Imports"))
    imports_cell = next(i for i, c in enumerate(cells) if i > heading and c["cell_type"] == "code")
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code" or i == imports_cell:
            continue
        source = "".join(cell["source"])
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]  # magics
        tree = ast.parse("\n".join(lines))
        found = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
        assert not found, f"cell {i} imports {found}: move them to the imports cell (cell {imports_cell})"


def test_links_between_chapters_resolve() -> None:
    names = {p.name for p in NOTEBOOKS}
    broken = []
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                links = re.findall(r"\]\(([^)\s/]+\.ipynb)\)", "".join(cell["source"]))
                broken += [f"{path.name} -> {link}" for link in links if link not in names]
    assert not broken, broken


#: chapters also executed in normal mode (not LSLIB_SMALL) by the test below, about 30-50 s each
NORMAL_MODE = ("00_quickstart.ipynb", "04_zero_shot_mapping.ipynb")


@pytest.mark.slow
@pytest.mark.parametrize("name", NORMAL_MODE)
def test_chapter_runs_in_normal_mode_and_draws_its_static_figure(name: str, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """What a student runs: the chapter top to bottom without LSLIB_SMALL; every ``map_figure(`` cell shows a PNG."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.delenv("LSLIB_SMALL", raising=False)
    monkeypatch.setenv("LSLIB_OFFLINE", "1")
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    figures = [c for c in nb.cells if c.cell_type == "code" and "map_figure(" in c.source and "import" not in c.source]
    assert figures, f"{name}: no cell draws the static figure (map_figure)"
    for cell in figures:
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), f"{name}: no image in\n{cell.source}"
