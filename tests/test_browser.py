"""The quick-start notebook in a real browser: JupyterLab + headless Chromium driven by playwright-core.

What a student on Binder does: open ``00_quickstart.ipynb``, Run > Run All Cells, see a leaflet map with
the zero-shot overlay and the prompt editor, type a new class name, press Enter, see the map re-render;
then teach: in the "inspect & teach" tab choose the click mode "teach" and a class, click the map twice
inside the overlay, see the overlay re-rendered after each click, two teaching markers and the teach
panel's "2 teaching point(s)" with its held-out accuracy.
The node script ``tests/browser/run_notebook.mjs`` does exactly that and checks the DOM; this test starts
and stops the server. Needs ``make browser-deps`` (Debian chromium + playwright-core): skipped without it,
a failure in CI (``CI=true``). The kernel uses the released default model.

A second test opens ``lslib.mapui.view(OUT)`` of a multi-tile ``lslib predict`` output (built in the test) in a
one-cell notebook: ``tests/browser/run_view.mjs`` checks the leaflet map, the class tiles served by localtileserver
through the ``/localtileserver-proxy/<port>/`` server extension (loaded, 256 px, HTTP 200) and the legend.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
BROWSER_DIR = REPO / "tests" / "browser"
NOTEBOOK = REPO / "notebooks" / "00_quickstart.ipynb"
CHROMIUM = Path(os.environ.get("LSLIB_CHROMIUM", "/usr/bin/chromium"))
# conftest.py points LSLIB_CACHE_DIR at a per-session temp folder once the session starts; the kernel
# must see the user's cache instead (where the samples were fetched).
USER_CACHE_DIR = os.environ.get("LSLIB_CACHE_DIR")
SERVER_START_S = 120
NODE_TIMEOUT_S = 1800  # generous: a cold JupyterLab on a busy 2-core machine


def _missing_tools() -> list[str]:
    missing = []
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"chromium ({CHROMIUM})")
    if shutil.which("node") is None:
        missing.append("node")
    if not (BROWSER_DIR / "node_modules" / "playwright-core" / "package.json").is_file():
        missing.append(f"playwright-core ({BROWSER_DIR / 'node_modules'})")
    return missing


def _require_tools() -> None:
    missing = _missing_tools()
    if not missing:
        return
    msg = f"real-browser test needs {', '.join(missing)}: run `make browser-deps`"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(msg)
    pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kernel_env(home: Path) -> dict[str, str]:
    """The server's (and so the kernel's) environment: small, offline, the user's model cache, isolated Jupyter dirs."""
    env = dict(os.environ)
    env.pop("LSLIB_CACHE_DIR", None)
    env.pop("MPLBACKEND", None)  # the kernel's own inline backend, as for a reader (make exports Agg)
    if USER_CACHE_DIR:
        env["LSLIB_CACHE_DIR"] = USER_CACHE_DIR
    env.update(
        LSLIB_SMALL="1",
        LSLIB_OFFLINE="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        PYTHONUNBUFFERED="1",
    )
    mirror = os.environ.get("LSLIB_DATA_MIRROR")
    if mirror:
        env["LSLIB_DATA_MIRROR"] = mirror
    return env


def _app_settings(folder: Path) -> Path:
    """``overrides.json`` in the server's app settings dir (JupyterLab reads ``<app_settings_dir>/overrides.json``).

    Start the notebook's kernel without a dialog, render every cell (no virtual windowing, so all outputs
    are in the DOM), and no news/update pop-ups over the page."""
    folder.mkdir(parents=True)
    overrides = {
        "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True, "windowingMode": "none"},
        "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    }
    (folder / "overrides.json").write_text(json.dumps(overrides, indent=2))
    return folder


def _wait_for_server(url: str, token: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"JupyterLab did not answer within {SERVER_START_S} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (server + kernels), then SIGKILL what is left."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


@contextlib.contextmanager
def _jupyterlab(tmp_path: Path, root: Path) -> Iterator[tuple[str, str, Path]]:
    """JupyterLab on 127.0.0.1 (a free port, a random token) serving ``root``: yields (url, token, server log)."""
    home = tmp_path / "jupyter"
    port, token = _free_port(), secrets.token_hex(16)
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.app_settings_dir={_app_settings(home / 'app-settings')}",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
    ]  # fmt: skip
    server_log = tmp_path / "jupyterlab.log"
    with server_log.open("wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=root, env=_kernel_env(home), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_for_server(url, token, proc, server_log)
        yield url, token, server_log
    finally:
        _stop(proc)


def _run_node(script: str, tmp_path: Path, config: dict[str, Any], server_log: Path) -> None:
    """``node tests/browser/<script> <config.json>``; fails with its output and the server log's tail."""
    config = {**config, "chromium": str(CHROMIUM)}
    (tmp_path / "browser.json").write_text(json.dumps(config))
    node = subprocess.run(
        ["node", str(BROWSER_DIR / script), str(tmp_path / "browser.json")],
        cwd=BROWSER_DIR, capture_output=True, text=True, timeout=NODE_TIMEOUT_S,
    )  # fmt: skip
    print(node.stdout)
    print(f"screenshots: {config['out']}")
    assert node.returncode == 0, (
        f"browser check failed:\n{node.stdout[-4000:]}\n{node.stderr[-4000:]}\n"
        f"server log (tail):\n{server_log.read_text()[-3000:]}\nscreenshots: {config['out']}"
    )


@pytest.mark.slow
def test_quickstart_notebook_in_a_real_browser(tmp_path: Path) -> None:
    _require_tools()
    assert NOTEBOOK.is_file(), NOTEBOOK
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    out = tmp_path / "browser-output"
    with _jupyterlab(tmp_path, root) as (url, token, server_log):
        config = {"url": url, "token": token, "notebook": NOTEBOOK.name, "out": str(out)}
        _run_node("run_notebook.mjs", tmp_path, config, server_log)

    result = json.loads((out / "result.json").read_text())
    assert result["ok"] is True
    before, after = result["before"], result["after"]
    loaded = [i for i in before["overlays"] if i["src_head"].startswith("data:image/png") and i["naturalWidth"] > 0]
    assert loaded, before["overlays"]
    assert before["name_inputs"] >= 2, "the default prompt list has several classes"
    assert f"rendered {before['rendered'] + 1}" in after["status"]
    assert after["name"] != after["old_name"]
    changed = {(i["src_hash"], i["src_len"]) for i in after["overlays"]} - {
        (i["src_hash"], i["src_len"]) for i in before["overlays"]
    }
    assert changed, "the overlay image did not change after the edit"

    teach = result["teach"]
    assert teach["class"] in teach["classes"] and teach["class"] in teach["panel"].replace("\xa0", " ")
    n_before = int(teach["before"]["status"].split("rendered ", 1)[1].split()[0])
    assert f"rendered {n_before + 2}" in teach["after"]["status"], "one render per teach click"
    keys = [{(i["src_hash"], i["src_len"]) for i in state["overlays"]} for state in (teach["before"], teach["after"])]
    assert keys[1] - keys[0], "the overlay image did not change after the teach clicks"
    (x1, y1), (x2, y2) = ((c["x"], c["y"]) for c in teach["clicks"])
    assert abs(x1 - x2) + abs(y1 - y2) > 20, "the two teach clicks must be at different points"
    assert teach["before"]["paths"]["teach_markers"] == 0
    assert teach["after"]["paths"]["teach_markers"] == 2, teach["after"]["paths"]
    assert teach["after"]["paths"]["interactive"] == teach["before"]["paths"]["interactive"] + 2
    assert "2 teaching point(s)" in teach["panel"] and "held-out accuracy" in teach["panel"], teach["panel"]
    for name in ("01-opened.png", "02-map.png", "03-edited.png", "04-taught.png"):
        assert (out / name).stat().st_size > 10_000, name


VIEW_BANDS = ["B02", "B03", "B04", "B8A"]
VIEW_MIN_TILES = 2  # class tiles loaded (HTTP 200) in the browser: the COG is 2 x 2 blocks of 256 px


def _multi_tile_output(tmp_path: Path, sample_dir: Any) -> Path:
    """``lslib predict`` of a 640 x 576 px crop of a real Sentinel-2 scene with an untrained tiny model (as
    tests/mapui/test_view.py): tiles of 128 px, 3 x 3 blocks, a class COG of 2 x 2 internal tiles with overviews."""
    import rasterio
    import torch

    from lslib.data.images import open_image
    from lslib.data.readers.geotiff import write_geotiff
    from lslib.inference import Predictor
    from lslib.inference.tiling.large_area import map_large_area
    from lslib.model.build import build_model

    folder = sample_dir("s2-l2a-scl-T29UNU-ireland")
    da = open_image(folder).sel(band=VIEW_BANDS).isel(y=slice(600, 1240), x=slice(500, 1076)).compute()
    scene = tmp_path / "scene" / "t29unu-crop.tif"
    scene.parent.mkdir()
    write_geotiff(da, scene)
    torch.manual_seed(0)
    model = build_model("tiny").eval()
    out = tmp_path / "predict-out"
    map_large_area(scene, "water, forest, cropland, built-up area", out, predictor=Predictor(model, device="cpu"),
                   tile=128, overlap=16, block=256, progress=False)  # fmt: skip
    with rasterio.open(out / "class_map.tif") as src:
        assert src.width > src.block_shapes[0][1] and src.height > src.block_shapes[0][0], "a multi-tile COG"
        assert src.overviews(1), "the COG has overviews"
    return out


@pytest.mark.slow
def test_view_of_a_multi_tile_output_in_a_real_browser(tmp_path: Path, sample_dir: Any) -> None:
    """``lslib.mapui.view(OUT)`` in JupyterLab: the class COG as localtileserver tiles through the
    ``/localtileserver-proxy/<port>/`` server extension, loaded in Chromium, and the legend."""
    _require_tools()
    from lslib.mapui.result_view import legend_rows, open_output, read_colour_table

    out_dir = _multi_tile_output(tmp_path, sample_dir)
    _, doc, class_path, _ = open_output(out_dir)
    names = [name for name, _, _ in legend_rows(doc, read_colour_table(class_path))]
    assert names, "the view's legend is empty"
    root = tmp_path / "lab"
    root.mkdir()
    cell = f"from lslib.mapui import view\nv = view({str(out_dir)!r})\nv"
    notebook = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "view", "metadata": {}, "outputs": [],
                   "source": cell}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }  # fmt: skip
    (root / "view.ipynb").write_text(json.dumps(notebook))
    out = tmp_path / "browser-output"
    with _jupyterlab(tmp_path, root) as (url, token, server_log):
        config = {"url": url, "token": token, "notebook": "view.ipynb", "out": str(out), "legend": names,
                  "min_tiles": VIEW_MIN_TILES}  # fmt: skip
        _run_node("run_view.mjs", tmp_path, config, server_log)

    result = json.loads((out / "result.json").read_text())
    assert result["ok"] is True
    tiles = result["tiles"]
    assert tiles["http200"] >= VIEW_MIN_TILES, tiles
    assert all("/localtileserver-proxy/" in t["src"] and t["naturalWidth"] == 256 for t in tiles["results"]), tiles
    assert any("class_map" in t["src"] for t in tiles["results"]), tiles  # the classes layer, not confidence
    assert all(name in result["legend"] for name in names), (names, result["legend"])
    for name in ("11-view.png", "11-view-map.png"):
        assert (out / name).stat().st_size > 10_000, name
