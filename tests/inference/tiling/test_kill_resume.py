"""SIGKILL a ``lslib predict`` run mid-way, resume it: the outputs equal an uninterrupted run's, and the final
COG names never exist before the run completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
import rioxarray  # noqa: F401 - the .rio accessor
import torch
import xarray as xr

from lslib.data.readers import write_geotiff
from lslib.model.build import build_model, save_model

REPO = Path(__file__).resolve().parents[3]


def _cmd(img: Path, out: Path, ckpt: Path) -> list[str]:
    args = ["--image", img, "--prompts", "water, forest, cropland", "--out", out, "--checkpoint", ckpt]
    tiling = ["--tile", "64", "--overlap", "16", "--block", "64", "-q"]
    return [sys.executable, "-m", "lslib", "predict", *map(str, args), *tiling]


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ckpt = save_model(build_model("tiny"), tmp_path / "ckpt")
    rng = np.random.default_rng(3)
    size = 448
    data = rng.uniform(0.02, 0.4, (4, size, size)).astype(np.float32)
    da = xr.DataArray(
        data, dims=("band", "y", "x"),
        coords={"band": ["red", "green", "blue", "nir"], "wavelength": ("band", [0.665, 0.56, 0.49, 0.842]),
                "y": 5e6 - 10 * (np.arange(size) + 0.5), "x": 4e5 + 10 * (np.arange(size) + 0.5)},
    ).rio.write_crs("EPSG:32633")  # fmt: skip
    img = write_geotiff(da, tmp_path / "scene.tif")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}

    out = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(img, out, ckpt), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done: list[int] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        # the final names must never appear while blocks are still being computed
        assert not (out / "class_map.tif").exists() and not (out / "map.json").exists()
        progress = out / ".progress.json"
        if progress.exists():
            try:
                done = json.loads(progress.read_text())["done"]
            except (ValueError, OSError):
                done = []
            if len(done) >= 3:
                os.kill(proc.pid, signal.SIGKILL)
                break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (out / "class_map.tif").exists() and not (out / "confidence.tif").exists()
    assert not (out / "map.json").exists()
    killed_done = json.loads((out / ".progress.json").read_text())["done"]
    n_blocks = 25  # make_grid(448, 448, tile=64, overlap=16, block=64)
    assert 3 <= len(killed_done) < n_blocks

    resumed = subprocess.run(_cmd(img, out, ckpt), env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{n_blocks - len(killed_done)} blocks computed, {len(killed_done)} reused" in resumed.stdout

    ref = tmp_path / "ref"
    full = subprocess.run(_cmd(img, ref, ckpt), env=env, capture_output=True, text=True, timeout=600)
    assert full.returncode == 0, full.stderr
    for name in ("class_map.tif", "confidence.tif"):
        with rasterio.open(out / name) as a, rasterio.open(ref / name) as b:
            np.testing.assert_array_equal(a.read(), b.read())
            assert a.tags() == b.tags() and a.colormap(1) if name == "class_map.tif" else True
        assert (out / name).read_bytes() == (ref / name).read_bytes()
    assert json.loads((out / "map.json").read_text()) == json.loads((ref / "map.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == ["class_map.tif", "confidence.tif", "map.json", "prompts.yaml"]
