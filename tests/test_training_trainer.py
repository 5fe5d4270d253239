"""Training end to end on real LAS-mini chips: loss falls, checkpoints, resume to the identical result."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from lslib.model.build import load_model
from lslib.training.config import DataConfig, LossConfig, OptimConfig, TrainConfig, load_config, parse_config
from lslib.training.trainer import train


@pytest.fixture(scope="module")
def las_root(sample: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from lslib.data.las_build import build_las
    from lslib.data.recipes import load_recipe
    from lslib.data.stac_local import local_stac

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
    )


def test_configs_in_the_repo_parse() -> None:
    for name in ["tiny", "base", "paper"]:
        cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "train" / f"{name}.yaml")
        assert cfg.variant == name
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
