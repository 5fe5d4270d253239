"""Training end to end on real LAS-mini chips: loss falls, checkpoints, resume to the identical result."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from lslib.model.build import load_model
from lslib.training.config import (
    AugmentConfig,
    DataConfig,
    LossConfig,
    OptimConfig,
    TrainConfig,
    load_config,
    parse_config,
)
from lslib.training.trainer import train


@pytest.fixture(scope="module")
def las_root(sample: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from lslib.data.las.build import build_las
    from lslib.data.las.recipes import load_recipe
    from lslib.data.local_stac.catalog import local_stac

    root = tmp_path_factory.mktemp("las-train")
    with local_stac(tmp_path_factory.mktemp("stac-train")) as server:
        for name in ["mini-zion-landsat-nlcd", "mini-terramesh-s2-esri"]:
            build_las(load_recipe(name), root, stac_url=server.url, workers=0, progress=False, limit=10)
    yield root


def _config(root: Path, out: Path, steps: int) -> TrainConfig:
    return TrainConfig(
        variant="tiny",
        out=str(out),
        seed=0,
        checkpoint_every=2,
        eval_every=3,
        data=DataConfig(
            roots=(str(root),), val_fraction=0.25, max_classes=6, negatives=2, foreign_negatives=1, batch_size=2
        ),
        optim=OptimConfig(lr=1e-3, max_steps=steps, warmup_steps=1),
        loss=LossConfig(),
        augment=AugmentConfig(enabled=True),  # the default recipe's augmentations: resume must stay identical
    )


def test_configs_in_the_repo_parse() -> None:
    for name in ["tiny", "base", "paper"]:
        cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "train" / f"{name}.yaml")
        assert cfg.variant == name
    assert load_config(Path(__file__).resolve().parents[2] / "configs" / "train" / "tiny.yaml").augment.enabled
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['lrr'\]"):
        parse_config({"optim": {"lrr": 1}})
    with pytest.raises(ValueError, match="unknown model variant"):
        parse_config({"variant": "huge"})


def test_train_resume_identical(las_root: Path, tmp_path: Path) -> None:
    straight = train(_config(las_root, tmp_path / "a", 6), progress=False)
    assert straight.steps == 6 and (tmp_path / "a" / "best" / "model.safetensors").exists()
    rows = list(csv.DictReader((tmp_path / "a" / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert any(r.get("val_miou") for r in rows)
    assert all(float(r["loss"]) == float(r["loss"]) for r in rows)  # finite

    first = train(_config(las_root, tmp_path / "b", 6), progress=False, stop_at=4)  # an interrupted run
    assert first.steps == 4
    resumed = train(_config(las_root, tmp_path / "b", 6), progress=False)
    assert resumed.resumed_from == 4 and resumed.steps == 6
    a = load_model(tmp_path / "a" / "last").state_dict()
    b = load_model(tmp_path / "b" / "last").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed training diverged from the straight run"
    rows_b = list(csv.DictReader((tmp_path / "b" / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows_b] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in rows_b] == [r["loss"] for r in rows]


def test_wrong_variant_state_is_refused(las_root: Path, tmp_path: Path) -> None:
    train(_config(las_root, tmp_path / "c", 2), progress=False)
    with pytest.raises(ValueError, match=r"another output folder|is a 'tiny' model"):
        train(replace(_config(las_root, tmp_path / "c", 3), variant="base"), progress=False)


def test_zero_shot_and_light_finetune(las_root: Path, tmp_path: Path) -> None:
    from lslib.cli.main import main
    from lslib.training.dataset import LASDataset
    from lslib.training.evaluate import evaluate_zero_shot

    train(_config(las_root, tmp_path / "base", 3), progress=False)
    model = load_model(tmp_path / "base" / "best")
    data = LASDataset(roots=[las_root], subsets=["mini-terramesh-s2-esri"], split="all")
    zs = evaluate_zero_shot(model, data, target_taxonomy="esa_worldcover", limit=3)
    assert 0.0 < zs["scored_fraction"] <= 1.0 and 0.0 <= zs["oa"] <= 1.0 and zs["chips"] > 0
    assert set(zs["iou"]) <= {
        c.name for c in __import__("lslib.taxonomy").taxonomy.get_taxonomy("esa_worldcover").classes
    }
    assert zs["metric"].startswith("one confusion matrix over all scored pixels of all chips")
    # the official rule and the phrase-list knowledge (max over each class's name + synonyms) run on the protocol
    official = evaluate_zero_shot(model, data, target_taxonomy="esa_worldcover", limit=3, fusion="official", thr=0.3,
                                  reduction="max")
    assert official["chips"] == zs["chips"] and 0.0 <= official["oa"] <= 1.0
    out = tmp_path / "eval.json"
    assert main(["evaluate", "--checkpoint", str(tmp_path / "base" / "best"), "--data", str(las_root), "--subsets",
                 "mini-terramesh-s2-esri", "--split", "all", "--protocol", "zero-shot", "--target-taxonomy",
                 "esa_worldcover", "--fusion", "official", "--thr", "0.3", "--phrases", "mean", "--limit", "2",
                 "--out", str(out)]) == 0
    assert "one confusion matrix" in __import__("json").loads(out.read_text())["metric"]

    assert (
        main(
            [
                "finetune",
                "--checkpoint",
                str(tmp_path / "base" / "best"),
                "--data",
                str(las_root),
                "--subsets",
                "mini-zion-landsat-nlcd",
                "--mode",
                "light",
                "--max-steps",
                "3",
                "--out",
                str(tmp_path / "ft"),
                "-q",
            ]
        )
        == 0
    )
    before, after = model.state_dict(), load_model(tmp_path / "ft" / "last").state_dict()
    enc = [k for k in before if k.startswith("image_encoder.")]
    dec = [k for k in before if k.startswith("decoder.")]
    assert all(torch.equal(before[k], after[k]) for k in enc), "light fine-tuning must freeze the backbone"
    assert any(not torch.equal(before[k], after[k]) for k in dec)
