"""The released default checkpoint: shipped in the package, loads instantly, documented and hash-checked."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import torch

from lslib.data.fetch import sha256sum
from lslib.default_model import COMPLETE, default_model, export_release, released_dir, retrain_default
from lslib.model.build import FORMAT_VERSION, load_model, save_model


def test_released_checkpoint_is_small_documented_and_matches_its_card() -> None:
    folder = released_dir()
    weights = folder / "model.safetensors"
    assert weights.stat().st_size <= 15 * 2**20, "the release must stay <= 15 MB"
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert sha256sum(weights) in card, "MODEL_CARD.md must give the weights' sha256"
    for words in ("LAS-mini", "configs/train/tiny.yaml", "seed", "steps", "generalization"):
        assert words in card, f"the model card should mention {words!r}"
    doc = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert doc["format_version"] == FORMAT_VERSION and doc["config"]["variant"] == "tiny"
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}
    assert torch.float16 in dtypes and torch.float32 not in dtypes  # stored in half precision


def test_default_model_loads_the_release_without_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSLIB_CACHE_DIR", str(tmp_path / "empty-cache"))  # nothing cached: must not train
    start = time.perf_counter()
    model = default_model(progress=False)
    assert time.perf_counter() - start < 10
    assert not model.training and next(model.parameters()).dtype == torch.float32
    assert not (tmp_path / "empty-cache" / "models" / "las-mini").exists()


def test_export_release_round_trip(tmp_path: Path) -> None:
    from lslib.model.build import build_model

    torch.manual_seed(0)
    model = build_model("tiny").eval()
    save_model(model, tmp_path / "best", metadata={"step": 3})
    dest = export_release(tmp_path / "best", tmp_path / "release", card="# card\n\ntrained on LAS-mini")
    card = (dest / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert re.search(r"`[0-9a-f]{64}`", card) and card.startswith("# card")
    back = load_model(dest)
    for (name, a), b in zip(model.state_dict().items(), back.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3, msg=name)  # fp16 storage


def test_a_version_1_checkpoint_is_refused_with_advice(tmp_path: Path) -> None:
    from lslib.model.build import build_model

    save_model(build_model("tiny"), tmp_path / "old")
    doc = json.loads((tmp_path / "old" / "config.json").read_text())
    doc["format_version"] = 1
    (tmp_path / "old" / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"format 1.*robust stretch.*Retrain"):
        load_model(tmp_path / "old")


def test_a_finished_retraining_is_reused_and_an_unfinished_one_is_not(tmp_path: Path) -> None:
    from lslib.model.build import build_model

    out = tmp_path / "retrain"
    save_model(build_model("tiny"), out / "best")
    (out / COMPLETE).write_text("training finished\n")
    assert retrain_default(out=out, progress=False) == out / "best"  # complete: nothing is trained
