"""The pure parts of ``bench/generalization.py`` and ``bench/augmentation.py``: views, band matching, the
reference rule, scoring on a 2x2 chip checked by hand, the ablation variants (no data, no training)."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import augmentation
import generalization as gen

S2_WL = (0.4427, 0.4927, 0.5598, 0.6646, 0.7041, 0.7405, 0.7828, 0.8328, 0.8647, 0.9451, 1.6137, 2.2024)
S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")


def chip(image: np.ndarray, label: np.ndarray, *, bands: tuple[str, ...], waves: tuple[float, ...],
         valid: np.ndarray | None = None, taxonomy: str = "terramesh_lulc") -> dict[str, Any]:
    return {"image": torch.from_numpy(image.astype(np.float32)), "wavelengths": torch.tensor(waves),
            "band_names": list(bands), "label": torch.from_numpy(label.astype(np.int64)),
            "valid": torch.from_numpy(np.ones(label.shape, bool) if valid is None else valid),
            "taxonomy": taxonomy, "subset": "s", "point_id": "p"}


def test_select_bands_and_display_export() -> None:
    rng = np.random.default_rng(0)
    img = rng.uniform(0.0, 0.4, (12, 8, 8))
    img[3, 0, 0] = np.nan
    s = chip(img, np.ones((8, 8)), bands=S2_BANDS, waves=S2_WL)
    rgb = gen.select_bands(s, gen.RGB)
    assert rgb["band_names"] == ["B04", "B03", "B02"]
    np.testing.assert_allclose(rgb["wavelengths"].numpy(), [0.6646, 0.5598, 0.4927], rtol=1e-6)
    np.testing.assert_array_equal(rgb["image"][1].numpy(), img[2].astype(np.float32))
    with pytest.raises(KeyError, match="B99"):
        gen.select_bands(s, ["B99"])
    d = gen.display_rgb(s)
    v = d["image"].numpy()
    assert d["radiometry"] == "display" and v.shape == (3, 8, 8)
    assert np.isnan(v[0, 0, 0]) and np.isfinite(v).sum() == 3 * 64 - 1
    k = v[np.isfinite(v)] * 255
    np.testing.assert_allclose(k, np.round(k), atol=1e-3)  # 8-bit levels
    assert np.nanmin(v) == 0.0 and np.nanmax(v) == 1.0


def test_downsample_block_mean_and_label_mode() -> None:
    img = np.arange(36, dtype=np.float32).reshape(1, 6, 6)
    label = np.array([[1, 1, 2, 4, 4, 4],
                      [1, 2, 2, 4, 4, 4],
                      [2, 2, 2, 4, 4, 4],
                      [9, 9, 9, 1, 1, 1],
                      [9, 9, 9, 1, 5, 5],
                      [9, 9, 9, 1, 5, 5]])
    valid = np.ones((6, 6), bool)
    valid[3:, :3] = False  # the lower-left block: no valid pixel
    valid[3, 3:] = False  # lower-right: 6 of 9 valid -> still valid, mode among valid pixels
    s = gen.downsample(chip(img, label, bands=("B04",), waves=(0.665,), valid=valid), 3)
    np.testing.assert_allclose(s["image"][0].numpy(), [[7, 10], [25, 28]])  # block means
    assert s["label"].tolist()[0] == [2, 4] and s["label"][1, 1] == 5
    assert s["valid"].tolist() == [[True, True], [False, True]]


def test_match_bands_landsat_to_sentinel2_and_sar() -> None:
    landsat = (0.4825, 0.5625, 0.655, 0.865)
    pairs = gen.match_bands(landsat, S2_WL)
    assert [S2_BANDS[j] for _, j in pairs] == ["B02", "B03", "B04", "B8A"]  # B08 loses to B8A for Landsat B5
    assert [i for i, _ in pairs] == [0, 1, 2, 3]
    assert gen.match_bands((55465.8, 55465.8), S2_WL) == []


def test_reference_follows_the_zero_shot_rule() -> None:
    # terramesh Water 1 -> WorldCover 80; Crops 4 -> 40; Trees 2 (tree cover or mangroves) and Rangeland 9
    # (grassland or shrubland) have two counterparts: not scored
    label = np.array([[1, 2], [4, 9]])
    ref, valid = gen.reference(chip(np.zeros((1, 2, 2)), label, bands=("B04",), waves=(0.665,)), "esa_worldcover")
    assert ref[valid].tolist() == [80, 40] and valid.tolist() == [[True, False], [True, False]]
    ref, valid = gen.reference(chip(np.zeros((1, 2, 2)), label, bands=("B04",), waves=(0.665,)), "terramesh_lulc",
                               keep=frozenset({1, 9}))
    assert valid.tolist() == [[True, False], [False, True]] and ref.tolist() == [[1, 2], [4, 9]]


def test_loso_scored_classes_of_scl() -> None:
    keep = gen.loso_scored_classes("s2_scl", ["terramesh_lulc", "nlcd"])
    # water, snow and the cloud classes (-> Esri clouds) have one counterpart; vegetation has several
    assert {6, 11, 8, 9, 10} <= keep and 4 not in keep and 3 not in keep


@dataclass
class _Out:
    mask_logits: torch.Tensor


class _WaterModel:
    """Predicts the prompt called "Permanent water bodies" everywhere (decoder masks only)."""

    def eval(self) -> _WaterModel:
        return self

    def encode_prompts(self, names: list[str], descriptions: Any = None) -> torch.Tensor:
        self.names = names
        return torch.zeros(len(names), 4)

    def __call__(self, image: torch.Tensor, waves: Any, text: torch.Tensor, band_names: Any = None) -> _Out:
        logits = torch.zeros(1, len(self.names), *image.shape[-2:])
        logits[:, self.names.index("Permanent water bodies")] = 1.0
        return _Out(logits)


def test_score_case_by_hand() -> None:
    # reference in WorldCover: [[80, -], [40, -]] (see above) plus a second chip [[80, 80], [-, -]]
    a = chip(np.zeros((1, 2, 2)), np.array([[1, 2], [4, 9]]), bands=("B04",), waves=(0.665,))
    b = chip(np.zeros((1, 2, 2)), np.array([[1, 1], [9, 9]]), bands=("B04",), waves=(0.665,))
    case = gen.Case("cross-sensor", "toy", "s", "esa_worldcover", [a, b], ("s",))
    crops = gen.Baseline("s", "terramesh_lulc", majority=4, forest=None, pairs=[])
    row = gen.score_case(case, _WaterModel(), [crops], fusion=None)
    # LS: water right 3x, crops pixel wrong -> IoU(80) = 3/4, IoU(40) = 0; majority (crops): IoU(40) = 1/4
    assert row["chips"] == 2
    assert row["LS mIoU"] == pytest.approx(0.375) and row["LS OA"] == pytest.approx(0.75)
    assert row["majority mIoU"] == pytest.approx(0.125) and row["majority OA"] == pytest.approx(0.25)
    assert row["RF mIoU"] is None and row["ratio"] == pytest.approx(3.0)
    summary, targets, baselines = gen.summarise([row, {**row, "split": "cross-sensor (control)"}])
    assert [s["split"] for s in summary] == ["cross-sensor", "cross-sensor (control)"]
    assert [t["met"] for t in targets] == [True, True] and targets[-1]["measured"] == pytest.approx(3.0)
    assert len(baselines) == 1 and baselines[0]["baseline_value"] == pytest.approx(0.125)
    assert math.isnan(gen.best_baseline({"majority mIoU": math.nan, "RF mIoU": None}))


def test_ablation_variants_switch_one_family_each(tmp_path: Path) -> None:
    configs = {name: gen.recipe(tmp_path, 5, **over) for name, over in augmentation.VARIANTS.items()}
    assert configs["all-on"].augment.enabled and not configs["all-off"].augment.enabled
    for fam in augmentation.FAMILIES:
        a = configs[f"no-{fam}"].augment
        assert a.enabled and not getattr(a, fam)
        assert all(getattr(a, g) for g in augmentation.FAMILIES if g != fam)
    assert all(c.optim.max_steps == 5 and c.eval_every == 5 for c in configs.values())
    hashes = {gen.config_hash(c) for c in configs.values()}
    assert len(hashes) == len(configs)  # each variant trains into its own folder
