"""Tiny helpers for the notebook generators: markdown/code cells from dedented strings, deterministic cell
ids, outputs stripped, written with nbformat (validated) only when the content changed."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.notebooknode import NotebookNode

NOTEBOOKS = Path(__file__).resolve().parents[1]


def md(text: str) -> NotebookNode:
    return nbformat.v4.new_markdown_cell(dedent(text).strip("\n"))


def code(text: str) -> NotebookNode:
    return nbformat.v4.new_code_cell(dedent(text).strip("\n"))


def render(name: str, cells: list[NotebookNode]) -> str:
    """The ``.ipynb`` text of chapter ``name``: python3 kernel, no outputs, ids derived from the content.

    Deterministic (same cells, same text) and leaves ``cells`` untouched."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    cells = copy.deepcopy(cells)
    seen: set[str] = set()
    for i, cell in enumerate(cells):
        digest = hashlib.sha1(f"{name}:{i}:{cell.source}".encode()).hexdigest()[:8]
        while digest in seen:
            digest = hashlib.sha1(digest.encode()).hexdigest()[:8]
        seen.add(digest)
        cell["id"] = digest
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells = cells
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def write(name: str, cells: list[NotebookNode], folder: Path = NOTEBOOKS) -> Path:
    """``<folder>/<name>.ipynb`` (default ``notebooks/``) from ``cells``, rewritten only when it changed."""
    path = Path(folder) / f"{name}.ipynb"
    text = render(name, cells)
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(".ipynb.tmp")
        tmp.write_text(text)
        tmp.replace(path)
        print(f"wrote {path}")
    return path
