"""The default checkpoint: ``tiny`` trained on LAS-mini from the real samples, offline, in minutes.

``default_model()`` returns it, training it once (LAS-mini built from the loopback STAC API over the
sample mirror, then ``configs/train/tiny.yaml``) and caching it under ``<lslib cache>/models/``; later
calls load the cached checkpoint. Its validation agreement with the weak labels is stored in the
checkpoint's ``config.json`` metadata and the training log (``metrics.csv``) next to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEFAULT_NAME = "tiny-lasmini-v1"


def default_dir() -> Path:
    from lslib.data.fetch import cache_dir

    return cache_dir() / "models" / DEFAULT_NAME


def _tiny_config_path() -> Path | None:
    from lslib.data.fetch import manifest_dir

    try:
        path = manifest_dir().parent / "configs" / "train" / "tiny.yaml"
    except FileNotFoundError:
        return None
    return path if path.exists() else None


def build_las_mini(root: Path, *, progress: bool = True) -> Path:
    """Build (or resume) all ``mini-*`` LAS subsets under ``root`` from the loopback STAC API."""
    from lslib.data.las_build import build_las, dask_client
    from lslib.data.las_report import las_report
    from lslib.data.recipes import list_recipes, load_recipe
    from lslib.data.stac_local import local_stac

    with local_stac() as server, dask_client(2) as client:
        for name in [n for n in list_recipes() if n.startswith("mini-")]:
            build_las(load_recipe(name), root, stac_url=server.url, client=client, progress=progress)
    las_report(root)
    return root


def default_model(*, progress: bool = True, retrain: bool = False) -> Any:
    """The default ``tiny`` LandSegmenter (trained on first use, ~3 minutes on 2 CPU cores)."""
    from dataclasses import replace

    from lslib.model.build import load_model
    from lslib.training.config import TrainConfig, load_config
    from lslib.training.trainer import train

    out = default_dir()
    if (out / "best" / "config.json").exists() and not retrain:
        return load_model(out / "best")
    las = out.parent / "las-mini"
    build_las_mini(las, progress=progress)
    cfg_path = _tiny_config_path()
    config = load_config(cfg_path) if cfg_path else TrainConfig()
    config = replace(config, out=str(out), data=replace(config.data, roots=(str(las),)))
    train(config, progress=progress)
    return load_model(out / "best")
