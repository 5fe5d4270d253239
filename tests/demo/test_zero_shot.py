"""The zero-shot part of ``make demo`` on the real scenes, with an untrained ``tiny`` model (fast)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from lslib.demo.zero_shot import demo_prompt_set, format_results, run_zero_shot


@pytest.fixture(scope="module")
def results(sample, tmp_path_factory):  # type: ignore[no-untyped-def]
    from lslib.model.build import build_model

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("demo")
    return out, run_zero_shot(out, build_model("tiny").eval(), quiet=True)


def test_prompt_set_is_a_users_own(results) -> None:  # type: ignore[no-untyped-def]
    ps = demo_prompt_set()
    assert ps.names[0] == "river or pond" and len(ps) == 5
    assert ps.taxonomy is None  # not a product preset


def test_outputs_per_scene(results) -> None:  # type: ignore[no-untyped-def]
    _, res = results
    assert [r.scene for r in res] == ["majortom-vietnam", "terramesh-chile-worldcover"]
    for r in res:
        folder = Path(r.folder)
        for name in ("class_map.tif", "confidence.tif", "map.json", "prompts.yaml", "map.png", "map.html"):
            assert (folder / name).stat().st_size > 0, name
        with rasterio.open(folder / "class_map.tif") as src:
            assert src.colormap(1)[0][:3] != (0, 0, 0)  # the first prompt's colour is embedded
            assert src.crs is not None
            assert src.overviews(1) or src.width <= 512  # a COG with overviews unless tiny
        html = (folder / "map.html").read_text()
        assert html.count("data:image/png;base64,") >= 2 and "leaflet" in html.lower()
        assert r.prompts[0] in html  # legend
        shares = [a["percent"] for a in r.areas]
        assert sum(shares) == pytest.approx(100.0, abs=1e-6)
    majortom = res[0]
    with rasterio.open(Path(majortom.folder) / "class_map.tif") as src:
        assert (src.height, src.width) == (1068, 1068) and src.crs.to_epsg() == 32648
    assert majortom.agreement is None


def test_agreement_with_reference(results) -> None:  # type: ignore[no-untyped-def]
    _, res = results
    g = res[1].agreement
    assert g is not None and 0.0 <= g["miou"] <= 1.0 and 0.0 <= g["oa"] <= 1.0
    assert g["scored_pixels"] > 10_000  # most of the 224² chip has an unambiguous WorldCover counterpart
    assert set(g["iou"]) <= {"Tree cover", "Shrubland", "Grassland", "Cropland", "Built-up", "Bare / sparse vegetation",
                             "Snow and ice", "Permanent water bodies", "Herbaceous wetland", "Mangroves",
                             "Moss and lichen"}


def test_report_lists_areas(results) -> None:  # type: ignore[no-untyped-def]
    _, res = results
    text = format_results(res)
    assert "river or pond" in text or "forest" in text
    assert "mIoU" in text and np.isfinite(res[0].areas[0]["hectares"])
