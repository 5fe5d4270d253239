"""The default checkpoint: ``tiny`` trained on LAS-mini with the generalising recipe, released inside the package.

``default_model()`` loads the released checkpoint (``lslib/resources/models/tiny-lasmini-v2``: fp16
safetensors + ``config.json`` + ``MODEL_CARD.md`` with data, recipe, steps, seed, benchmark and sha256)
instantly, offline. ``default_model(retrain=True)`` (``make default-model-retrain``) reproduces it from
the real samples: LAS-mini built from the loopback STAC API over the sample mirror, then
``configs/train/tiny.yaml`` (about half an hour on 2 CPU cores), into ``<lslib cache>/models/``. A
retraining that was interrupted resumes where it stopped; an unfinished one is never taken as the
result (``COMPLETE`` is written only when training ended).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lslib.data.fetch import sha256sum
from lslib.model.build import RELEASED_NAME as DEFAULT_NAME
from lslib.model.build import released_dir

COMPLETE = "COMPLETE"
__all__ = ["COMPLETE", "DEFAULT_NAME", "default_model", "export_release", "released_dir", "retrain_default"]


def default_dir() -> Path:
    """Where :func:`default_model` with ``retrain=True`` trains (``<cache>/models/tiny-lasmini-v2``)."""
    from lslib.data.fetch import cache_dir

    return cache_dir() / "models" / DEFAULT_NAME


def las_mini_dir() -> Path:
    """Where LAS-mini is built for retraining and the benchmarks (``<cache>/models/las-mini``)."""
    return default_dir().parent / "las-mini"


def _tiny_config_path() -> Path | None:
    from lslib.data.fetch import manifest_dir

    try:
        path = manifest_dir().parent / "configs" / "train" / "tiny.yaml"
    except FileNotFoundError:
        return None
    return path if path.exists() else None


def build_las_mini(root: Path, *, progress: bool = True) -> Path:
    """Build (or resume) all ``mini-*`` LAS subsets under ``root`` from the loopback STAC API."""
    from lslib.data.las.build import build_las, dask_client
    from lslib.data.las.recipes import list_recipes, load_recipe
    from lslib.data.las.report import las_report
    from lslib.data.local_stac.catalog import local_stac

    with local_stac() as server, dask_client(2) as client:
        for name in [n for n in list_recipes() if n.startswith("mini-")]:
            build_las(load_recipe(name), root, stac_url=server.url, client=client, progress=progress)
    las_report(root)
    return root


def ensure_las_mini(*, progress: bool = True) -> Path:
    """LAS-mini under :func:`las_mini_dir`, built once (about a minute; later calls only check it)."""
    root = las_mini_dir()
    if not (root / "report.json").exists():
        build_las_mini(root, progress=progress)
    return root


def _completed_steps(out: Path) -> int | None:
    """Steps of the schedule a finished retraining in ``out`` ran (``COMPLETE``), 0 if unknown, None if unfinished."""
    import json

    marker = out / COMPLETE
    if not marker.is_file() or not (out / "best" / "config.json").is_file():
        return None
    try:
        doc = json.loads(marker.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return 0  # an older marker ("training finished"): finished, schedule unknown
    steps = doc.get("max_steps") if isinstance(doc, dict) else None
    return steps if isinstance(steps, int) else 0


def retrain_default(*, progress: bool = True, out: Path | None = None, max_steps: int | None = None) -> Path:
    """Reproduce the released checkpoint from the real samples; returns the folder of its best weights.

    Resumes an interrupted run; ``COMPLETE`` in ``out`` marks a finished one (then nothing is done). It is
    written (atomically, with the schedule's length) only after training reached the last step, and removed
    before a run that continues training, so an interrupted or shortened run is never taken as finished.
    ``max_steps`` shortens the schedule (a smoke test; the release used the config's value); a finished smoke
    test is not reused for a longer schedule.

    Raises:
        ValueError: ``max_steps`` below 1.
    """
    from dataclasses import replace

    from lslib.atomic import write_text
    from lslib.training.config import TrainConfig, load_config
    from lslib.training.trainer import train

    if max_steps is not None and (not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1):
        raise ValueError(f"max_steps must be a whole number >= 1 (or None: the config's schedule), got {max_steps!r}")
    out = Path(out) if out is not None else default_dir()
    cfg_path = _tiny_config_path()
    config = load_config(cfg_path) if cfg_path else TrainConfig()
    if max_steps is not None:
        config = replace(config, optim=replace(config.optim, max_steps=max_steps))
    done = _completed_steps(out)
    if done is not None and (done >= config.optim.max_steps or (done == 0 and max_steps is None)):
        return out / "best"
    (out / COMPLETE).unlink(missing_ok=True)  # from here until training ends, the folder holds an unfinished run
    las = ensure_las_mini(progress=progress)
    config = replace(config, out=str(out), data=replace(config.data, roots=(str(las),)))
    result = train(config, progress=progress)
    if result.steps < config.optim.max_steps or not (out / "best" / "config.json").is_file():
        raise RuntimeError(
            f"the retraining in {out} stopped at step {result.steps} of {config.optim.max_steps}; run it again to "
            "resume (it is not marked complete)"
        )
    import json

    doc = {"finished": True, "steps": result.steps, "max_steps": config.optim.max_steps}
    write_text(out / COMPLETE, json.dumps(doc) + "\n")
    return out / "best"


def default_model(*, progress: bool = True, retrain: bool = False) -> Any:
    """The default ``tiny`` LandSegmenter: the released checkpoint (instant, offline).

    ``retrain=True`` trains it again from LAS-mini (see :func:`retrain_default`) and returns that model.

    Raises:
        FileNotFoundError: the package lacks the released weights (a broken install) — reinstall lslib,
            or call ``default_model(retrain=True)``.
    """
    from lslib.model.build import load_model, load_released

    if retrain:
        return load_model(retrain_default(progress=progress))
    return load_released()


def export_release(best: Path, dest: Path | None = None, *, card: str = "") -> Path:
    """Write a trained checkpoint as the released default: fp16 safetensors + config.json + MODEL_CARD.md.

    ``best``: a checkpoint folder (``save_model``); ``card``: the model card's body (Markdown: data, recipe,
    benchmark); the weights' sha256 and size are appended. Returns ``dest`` (default :func:`released_dir`).
    """
    import json

    from lslib.atomic import write_text
    from lslib.model.build import load_model, save_model

    dest = Path(dest) if dest is not None else released_dir()
    doc = json.loads((Path(best) / "config.json").read_text(encoding="utf-8"))
    meta = dict(doc.get("metadata") or {})
    meta["released_as"] = DEFAULT_NAME
    save_model(load_model(best), dest, metadata=meta, half=True)
    weights = dest / "model.safetensors"
    size_mb = weights.stat().st_size / 2**20
    tail = (
        f"\n\n## Files\n\n| file | sha256 | size |\n|---|---|---|\n"
        f"| model.safetensors (float16) | `{sha256sum(weights)}` | {size_mb:.1f} MB |\n"
    )
    write_text(dest / "MODEL_CARD.md", card.rstrip() + tail)
    return dest
