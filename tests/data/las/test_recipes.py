"""lslib.data.las.recipes: every LAS recipe loads; bad recipes give errors that say which field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lslib.data.las.recipes import list_recipes, load_recipe, parse_recipe

ONLINE = ["landsat-lcmap", "landsat-nrcan", "naip-chesapeake", "s1rtc-worldcover", "s2l2a-cdl", "s2l2a-esri-lulc",
          "s2l2a-scl", "s2l2a-worldcover"]
MINI = ["mini-t29unu-s2-scl", "mini-terramesh-s1-esri", "mini-terramesh-s2-esri", "mini-worldcereal-s2",
        "mini-zion-landsat-nlcd"]


def test_recipe_set() -> None:
    assert set(ONLINE + MINI) <= set(list_recipes())


@pytest.mark.parametrize("name", ONLINE + MINI)
def test_recipe_loads(name: str) -> None:
    r = load_recipe(name)
    assert r.name == name and r.licence and r.attribution
    assert r.image.bands and r.chip.size >= 8
    if name in MINI:
        assert r.is_local
    else:
        assert r.stac_url.startswith("https://") and r.sign == "planetary_computer"


def test_recipe_values() -> None:
    wc = load_recipe("s2l2a-worldcover")
    assert wc.image.collection == "sentinel-2-l2a" and wc.label.collection == "esa-worldcover"
    assert wc.image.mask is not None and wc.image.mask.invalid == (3, 8, 9, 10)
    zion = load_recipe("mini-zion-landsat-nlcd")
    assert zion.image.scale == pytest.approx(2.75e-5) and zion.image.offset == -0.2 and zion.chip.gsd == 30
    lcmap = load_recipe("landsat-lcmap")
    assert lcmap.sampling.region == (-125.0, 24.5, -66.9, 49.4)
    assert lcmap.image.mask is not None and lcmap.image.mask.kind == "bits"


def _doc() -> dict[str, object]:
    path = Path(__file__).resolve().parents[3] / "data_manifests" / "las" / "mini-zion-landsat-nlcd.yaml"
    return dict(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"colour": 1}, r"unknown key\(s\) \['colour'\]"),
        ({"image": {**_doc()["image"], "bands": {"B99": "x"}}}, r"\['B99'\] are not landsat8 bands"),  # type: ignore[dict-item]
        ({"label": {**_doc()["label"], "taxonomy": "nlcdd"}}, "Did you mean 'nlcd'"),  # type: ignore[dict-item]
        ({"quality": {"max_cloud_fraction": 5}}, r"must be a fraction in \[0, 1\]"),
        ({"chip": {"size": 2}}, "size must be >= 8"),
        ({"sampling": {"strategy": "global", "nn": 3}}, r"sampling: unknown key"),
    ],
)
def test_bad_recipes(patch: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_recipe({**_doc(), **patch})


def test_unknown_recipe_lists_known() -> None:
    with pytest.raises(ValueError, match="mini-zion-landsat-nlcd"):
        load_recipe("mini-nowhere")
