"""The run's records: ``.progress.json`` (finished blocks, for resuming) and ``map.json`` (the completion marker)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lslib.atomic import write_text
from lslib.inference.outputs.files import read_json
from lslib.inference.outputs.layout import PROGRESS, PROGRESS_FORMAT, SIDECAR
from lslib.inference.outputs.ownership import is_lslib_progress

if TYPE_CHECKING:
    from lslib.inference.outputs.blocks import PartialWriter


class Progress:
    """``.progress.json``: the run's signature, the finished blocks and their valid pixels, replaced atomically.

    A block is added only after its files are durable (:meth:`PartialWriter.write_block`); the record is
    flushed to disk too. ``written``: sha256 of the prompt files lslib wrote (how it recognises them).
    """

    def __init__(self, out: Path, signature: str) -> None:
        """An empty record of the run ``signature`` in ``out`` (:meth:`load` adopts a previous one)."""
        self.path = out / PROGRESS
        self.signature = signature
        self.blocks: dict[int, int] = {}
        self.written: dict[str, str] = {}

    @property
    def done(self) -> set[int]:
        """The indices of the finished blocks."""
        return set(self.blocks)

    @property
    def valid_pixels(self) -> int:
        """Valid pixels of the finished blocks, all together."""
        return sum(self.blocks.values())

    def load(self, writer: PartialWriter | None = None) -> bool:
        """Adopt a previous record with the same signature and format; False when there is none or it differs.

        With ``writer``, a block recorded with valid pixels whose files are missing is dropped (recomputed).
        """
        doc = read_json(self.path)
        if doc is None or not is_lslib_progress(doc) or doc.get("signature") != self.signature:
            return False
        if doc.get("format") != PROGRESS_FORMAT or not isinstance(doc.get("valid"), dict):
            return False
        valid = {int(k): int(v) for k, v in doc["valid"].items()}
        self.blocks = {int(b): valid.get(int(b), 0) for b in doc.get("done", [])}
        if writer is not None:
            self.blocks = {b: n for b, n in self.blocks.items() if n == 0 or writer.has(b)}
        self.written = {str(k): str(v) for k, v in (doc.get("written") or {}).items()}
        return True

    def record(self, block: int, valid: int) -> None:
        """Add a finished block (its files are durable) with its valid-pixel count, and save."""
        self.blocks[int(block)] = int(valid)
        self.save()

    def save(self) -> None:
        """Replace the record atomically and flush it to disk."""
        doc = {"signature": self.signature, "format": PROGRESS_FORMAT, "done": sorted(self.blocks),
               "valid": {str(b): n for b, n in sorted(self.blocks.items())}, "valid_pixels": self.valid_pixels,
               "written": self.written}  # fmt: skip
        write_text(self.path, json.dumps(doc), fsync=True)


def write_sidecar(out: Path, doc: Mapping[str, Any]) -> Path:
    """Write ``map.json`` atomically and durably (the completion marker)."""
    return write_text(out / SIDECAR, json.dumps(doc, indent=1, default=str), fsync=True)
