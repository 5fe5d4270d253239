"""lslib.prompt_set: presets for every taxonomy, YAML round trip, validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lslib import prompt_set as ps


@pytest.mark.parametrize("key", ps.presets())
def test_every_taxonomy_has_a_valid_preset(key: str) -> None:
    from lslib.taxonomy import get_taxonomy

    preset = ps.from_taxonomy(key)
    tax = get_taxonomy(key)
    assert preset.taxonomy == key and len(preset) == len([c for c in tax.classes if c.code != tax.nodata])
    assert all(c.colour and c.code is not None for c in preset)


def test_worldcover_preset_values() -> None:
    wc = ps.from_taxonomy("esa_worldcover")
    assert wc.names[0] == "Tree cover" and wc.classes[0].code == 10 and len(wc) == 11
    assert wc.classes[0].description


def test_yaml_round_trip(tmp_path: Path) -> None:
    text = """
name: coast
threshold: 0.2
classes:
  - water
  - {name: forest, synonyms: [trees, woodland], description: closed canopy, threshold: 0.4, colour: "#2ca02c"}
  - {name: sand, color: "#e8d59e"}
"""
    (tmp_path / "p.yaml").write_text(text)
    p = ps.load(tmp_path / "p.yaml")
    assert p.names == ["water", "forest", "sand"] and p.thresholds == [0.2, 0.4, 0.2]
    assert p.colours[1] == "#2ca02c" and p.colours[0].startswith("#")
    ps.save(p, tmp_path / "q.yaml")
    assert ps.load(tmp_path / "q.yaml") == p


def test_editing() -> None:
    p = ps.from_names(["water", "vegetation"])
    split = p.without("Vegetation").with_class(ps.ClassPrompt("forest")).with_class(ps.ClassPrompt("grassland"))
    assert split.names == ["water", "forest", "grassland"]
    with pytest.raises(KeyError, match="no class 'snow'"):
        p.without("snow")


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ([], "no classes"),
        (["water", "  "], "class 2 has an empty name"),
        (["Built-up", "built up"], "duplicates 'Built-up'"),
        (["Snow & ice", "snow and ice"], "duplicates"),
        ([f"class {i}" for i in range(201)], "too many"),
    ],
)
def test_validation_errors(names: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ps.from_names(names)


def test_more_validation_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'trees' \\(class 'woods'\\) duplicates 'trees'"):
        ps.parse({"classes": ["trees", {"name": "woods", "synonyms": ["trees"]}]})
    with pytest.raises(ValueError, match="is not '#rrggbb'"):
        ps.parse({"classes": [{"name": "water", "colour": "blue"}]})
    with pytest.raises(ValueError, match="outside \\[0, 1\\]"):
        ps.parse({"classes": [{"name": "water", "threshold": 2}]})
    with pytest.raises(ValueError, match="unknown key"):
        ps.parse({"classes": [{"name": "water", "colr": "#000000"}]})
    (tmp_path / "bad.yaml").write_text("classes: [water, {name: x\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        ps.load(tmp_path / "bad.yaml")


def test_identical_names_are_duplicates() -> None:
    with pytest.raises(ValueError, match="duplicates"):
        ps.from_names(["forest", "forest"])
