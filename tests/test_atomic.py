"""lslib.atomic: a failed write never replaces or half-writes the target."""

from __future__ import annotations

from pathlib import Path

import pytest

from lslib.atomic import atomic_path, write_bytes, write_text


def test_write_text_and_bytes(tmp_path: Path) -> None:
    assert write_text(tmp_path / "a" / "b.txt", "héllo").read_text(encoding="utf-8") == "héllo"
    assert write_bytes(tmp_path / "c.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["b.txt", "c.bin"]


def test_failure_keeps_previous_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.tif"
    target.write_text("previous")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert tmp.suffix == ".tif" and tmp.parent == tmp_path
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]
