"""SIGKILL a LAS build and a training run at seeded random points, resume, compare with a straight run.

Extends ``tests/data/las/test_build.py::test_killed_build_resumes_to_the_identical_result`` (one kill after the
first chip, Dask workers, Zion/NLCD): here the build runs in-process (``--workers 0``) on the SAR subset,
is killed twice at seeded random chip counts, and while it runs every chip the store lists is checked
to be complete (image.tif, label.tif, meta.json, readable). Training: ``lslib train`` killed after a
seeded random step, then resumed; weights, metrics and the best checkpoint must equal a straight
run's, and a leftover half-written state folder is never loaded.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import xarray as xr

from lslib.data.las.chips import list_chips, list_records, read_chip

SEED = 20240611
SUBSET = "mini-terramesh-s1-esri"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _kill_when(cmd: list[str], ready: Callable[[], bool], check: Callable[[], None] | None = None,
               timeout: float = 300) -> bool:
    """Start ``cmd`` in its own session, SIGKILL the whole group once ``ready()``; returns True if killed.

    ``check`` runs at every poll while the job runs (invariants that must hold at any moment).
    """
    proc = subprocess.Popen(cmd, env=ENV, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and proc.poll() is None:
            if check:
                check()
            if ready():
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.02)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"{cmd[3:5]} did not reach the kill point within {timeout} s")
        err = proc.stderr.read().decode() if proc.stderr else ""
        assert proc.returncode == 0, err[-2000:]
        return False
    finally:
        if proc.stderr:
            proc.stderr.close()


# --- LAS build ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stac_url(sample: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from lslib.data.local_stac.catalog import local_stac

    with local_stac(tmp_path_factory.mktemp("stac")) as server:
        yield server.url


def _build_cmd(url: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "lslib", "las", "build", "--subset", SUBSET, "--stac-url", url, "--workers", "0",
            "-q", "--out", str(out)]


def _signature(root: Path) -> dict[str, Any]:
    out = {}
    for path in list_chips(root, SUBSET):
        chip = read_chip(path)
        meta = json.dumps(chip.meta, sort_keys=True)
        out[path.name] = (chip.image.values.tobytes(), chip.label.values.tobytes(), meta)
    return out


def _listed_chips_are_complete(root: Path) -> None:
    for path in list_chips(root, SUBSET):
        try:
            names = {p.name for p in path.iterdir()}
        except FileNotFoundError:  # pragma: no cover - chips are never removed
            raise AssertionError(f"listed chip {path} vanished") from None
        assert {"image.tif", "label.tif", "meta.json"} <= names, f"incomplete chip listed: {path} ({names})"


def test_las_build_killed_twice_resumes_to_the_identical_result(stac_url: str, tmp_path: Path) -> None:
    ref = tmp_path / "reference"
    subprocess.run(_build_cmd(stac_url, ref), check=True, env=ENV, capture_output=True, timeout=600)
    total = len(list_chips(ref, SUBSET))
    assert total >= 6, f"{SUBSET} has too few chips ({total}) for this test"

    rng = random.Random(SEED)
    first, second = sorted(rng.sample(range(1, total - 1), 2))
    killed = tmp_path / "killed"
    seen: list[int] = []
    for at in (first, second):
        done = _kill_when(_build_cmd(stac_url, killed), lambda at=at: len(list_chips(killed, SUBSET)) >= at,
                          check=lambda: _listed_chips_are_complete(killed))
        assert done, "the build finished before the kill point"
        seen.append(len(list_chips(killed, SUBSET)))
        for path in list_chips(killed, SUBSET):  # whatever is listed after a kill reads back
            read_chip(path)
    assert seen[0] < total and seen[1] < total, seen

    # a kill can leave a hidden temporary chip folder; it is not a chip, and the resume removes it
    from lslib.training.dataset import LASDataset

    partial = LASDataset(roots=killed, subsets=[SUBSET])
    assert len(partial) == len(list_chips(killed, SUBSET)) and not partial.skipped
    subprocess.run(_build_cmd(stac_url, killed), check=True, env=ENV, capture_output=True, timeout=600)
    assert not list((killed / SUBSET / "chips").glob(".*")), "a temporary chip folder was left behind"
    assert _signature(killed) == _signature(ref)
    rej = lambda root: sorted((r["point_id"], r["reason"]) for r in list_records(root, "rejected"))  # noqa: E731
    assert rej(killed) == rej(ref)
    assert not list_records(killed, "failed")


# --- training ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def las_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten small real chip folders (synthetic scenes through :func:`write_chip`): fast to train on."""
    from lslib.data.las.chips import chip_path, write_chip
    from lslib.data.synthetic import make_scene

    root = tmp_path_factory.mktemp("las-syn")
    for i in range(10):
        img, lab = make_scene(height=32, width=32, seed=i, classes=[10, 20, 30, 40, 50, 80])
        lab.attrs["nodata"] = int(lab.rio.nodata)
        ds = xr.Dataset({"image": img, "label": lab})
        ds.attrs = {"crs": "EPSG:32632", "transform": list(img.rio.transform())[:6], "subset": "syn",
                    "sensor": "sentinel2_l2a", "point_id": f"syn-{i:03d}", "taxonomy": "esa_worldcover", "gsd": 10.0}
        write_chip(ds, chip_path(root, "syn", f"syn-{i:03d}"))
    return root


STEPS = 8


def _train_cmd(config: Path) -> list[str]:
    return [sys.executable, "-m", "lslib", "train", "--config", str(config), "-q"]


def _config(tmp: Path, las: Path, out: Path) -> Path:
    cfg = tmp / f"{out.name}.yaml"
    cfg.write_text(
        f"variant: tiny\nout: {out}\nseed: 3\ncheckpoint_every: 2\neval_every: 4\n"
        f"data: {{roots: [{las}], val_fraction: 0.3, max_classes: 4, negatives: 1, foreign_negatives: 1, "
        "batch_size: 2}\n"
        f"optim: {{lr: 0.001, max_steps: {STEPS}, warmup_steps: 2}}\n"
    )
    return cfg


def _steps_logged(out: Path) -> int:
    try:
        with (out / "metrics.csv").open(newline="") as f:
            return max((int(r["step"]) for r in csv.DictReader(f)), default=0)
    except (OSError, ValueError, KeyError):
        return 0


def _state_is_whole(out: Path) -> None:
    """At any moment ``last`` is either absent or a complete state (a kill mid-save keeps the old one)."""
    last = out / "last"
    if last.exists():
        try:
            names = {p.name for p in last.iterdir()}
        except FileNotFoundError:  # swapped at this instant by os.replace: the next poll sees the new one
            return
        want = {"config.json", "model.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json"}
        assert want <= names, f"half-written training state under the final name: {names}"


def test_training_killed_resumes_to_the_identical_result(las_root: Path, tmp_path: Path) -> None:
    from lslib.model.build import load_model
    from lslib.training.config import load_config
    from lslib.training.trainer import train

    straight = tmp_path / "straight"
    train(load_config(_config(tmp_path, las_root, straight)), progress=False)  # the same code, uninterrupted

    killed = tmp_path / "killed"
    cfg = _config(tmp_path, las_root, killed)
    at = random.Random(SEED).randrange(3, STEPS - 1)  # after a checkpoint (every 2 steps) or between two
    done = _kill_when(_train_cmd(cfg), lambda: _steps_logged(killed) >= at, check=lambda: _state_is_whole(killed))
    assert done, "training finished before the kill point"
    # a half-written state left by a kill during a save (simulated: a truncated copy beside ``last``) is ignored
    junk = killed / ".last.tmp-deadbeef"
    junk.mkdir(exist_ok=True)
    (junk / "state.json").write_text('{"progress": {"step": 999')
    resumed = subprocess.run(_train_cmd(cfg), check=True, env=ENV, capture_output=True, text=True, timeout=600)
    assert "resumed from 0)" not in resumed.stdout, resumed.stdout  # it did resume

    for name in ("last", "best"):
        a, b = load_model(straight / name).state_dict(), load_model(killed / name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), f"{name}: the resumed run diverged from the straight run"
    rows = lambda out: list(csv.DictReader((out / "metrics.csv").open(newline="")))  # noqa: E731
    ra, rb = rows(straight), rows(killed)
    assert [int(r["step"]) for r in rb] == list(range(1, STEPS + 1)), "metrics.csv lost or repeated steps"
    assert [r["loss"] for r in rb] == [r["loss"] for r in ra]
    assert [r.get("val_miou") for r in rb] == [r.get("val_miou") for r in ra]
    state = json.loads((killed / "last" / "state.json").read_text())
    assert state["progress"]["step"] == STEPS
