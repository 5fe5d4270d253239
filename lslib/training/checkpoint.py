"""Training state on disk without pickles: model, optimizer, scheduler, step and RNG.

A state folder holds ``config.json`` + ``model.safetensors`` (as :func:`lslib.model.build.save_model`),
``optimizer.safetensors`` (every tensor of the optimizer state, flattened), ``rng.safetensors`` (torch
CPU/CUDA generator states) and ``state.json`` (step, epoch, position in the epoch, optimizer
param-group settings, scheduler counters, Python/NumPy RNG, best metric). A folder is replaced
atomically (written beside it, then swapped), so a kill during a save keeps the previous state.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch

STATE_VERSION = 1


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in state["state"].items():
        for name, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{pid}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    for pid, values in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_state(
    folder: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    progress: dict[str, Any],
    train_config: dict[str, Any],
) -> Path:
    """Write the full training state to ``folder`` (replaced atomically)."""
    from safetensors.torch import save_file

    from lslib.model.build import save_model

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        save_model(model, tmp, metadata={"train_config": train_config})  # type: ignore[arg-type]
        opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
        save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            for i, s in enumerate(torch.cuda.get_rng_state_all()):
                rng[f"cuda{i}"] = s
        save_file(rng, str(tmp / "rng.safetensors"))
        np_state: Any = np.random.get_state()  # noqa: NPY002  (the legacy global RNG users may seed)
        doc = {
            "version": STATE_VERSION,
            "progress": progress,
            "optimizer": opt_meta,
            "scheduler": {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"},
            "python_rng": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
            "numpy_rng": [np_state[0], np_state[1].tolist(), *np_state[2:]],
            "train_config": train_config,
        }
        (tmp / "state.json").write_text(json.dumps(doc), encoding="utf-8")
        old = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:8]}")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load_state(
    folder: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
) -> dict[str, Any]:
    """Restore a state written by :func:`save_state`.

    Loads it into ``model``/``optimizer``/``scheduler`` and the global RNGs.

    Returns:
        The ``progress`` dict.

    Raises:
        ValueError: for another variant or a damaged state.
    """
    from safetensors.torch import load_file

    from lslib.model.build import load_model
    from lslib.model.image_encoder import load_strict

    folder = Path(folder)
    try:
        doc = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        saved = load_model(folder)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"training state {folder} is damaged or incomplete ({exc}); delete it to start over") from exc
    if saved.config != getattr(model, "config", None):
        raise ValueError(
            f"training state {folder} is for variant {saved.config.variant!r}, the run builds "
            f"{getattr(getattr(model, 'config', None), 'variant', '?')!r}: use another output folder"
        )
    load_strict(model, saved.state_dict(), what=f"training state {folder}")
    optimizer.load_state_dict(_unflatten_optimizer(load_file(str(folder / "optimizer.safetensors")), doc["optimizer"]))
    scheduler.load_state_dict({**scheduler.state_dict(), **doc["scheduler"]})
    rng = load_file(str(folder / "rng.safetensors"))
    torch.set_rng_state(rng["torch"])
    if torch.cuda.is_available():
        torch.cuda.set_rng_state_all([rng[k] for k in sorted(rng) if k.startswith("cuda")])
    py = doc["python_rng"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npr = doc["numpy_rng"]
    np.random.set_state((npr[0], np.asarray(npr[1], dtype=np.uint32), *npr[2:]))  # noqa: NPY002
    progress: dict[str, Any] = doc["progress"]
    return progress
