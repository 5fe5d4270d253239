"""Reliability of configs and numbers: checkpoint configs validated before any allocation, non-finite weights
refused, every CLI number checked at parse time, loopback STAC servers that die with their parent, a retraining
marked complete only when it is, and one fusion default for ``lslib predict``, ``lslib evaluate`` and the Predictor.

The released checkpoint is only ever read: tests that alter a checkpoint work on a copy in ``tmp_path``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lslib.model.build import load_model, released_dir

REPO = Path(__file__).resolve().parents[1]


# --- helpers ---------------------------------------------------------------------------------------------------------


@pytest.fixture()
def ckpt(tmp_path: Path) -> Path:
    """A private copy of the released checkpoint (never modify the shipped one)."""
    dest = tmp_path / "ckpt"
    shutil.copytree(released_dir(), dest)
    for f in dest.iterdir():
        f.chmod(0o644)
    return dest


def edit_config(folder: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    doc = json.loads((folder / "config.json").read_text())
    change(doc["config"])
    (folder / "config.json").write_text(json.dumps(doc))
    return folder


def rewrite_weights(
    folder: Path, change: Callable[[dict[str, torch.Tensor]], None], metadata: dict[str, str] | None = None
) -> Path:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    path = folder / "model.safetensors"
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
    state = load_file(str(path))
    change(state)
    save_file(state, str(path), metadata={**meta, **(metadata or {})})
    return folder


def cli(*argv: str) -> tuple[int, str]:
    """``lslib ARGV`` in-process: (exit code, stderr); argparse's SystemExit becomes its code."""
    from lslib.cli.main import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(list(argv))
        except SystemExit as exc:
            rc = int(exc.code or 0)
    return rc, err.getvalue()


# --- 1. checkpoint configs: validated at load, before the model is built ---------------------------------------------

BAD_CONFIGS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("absurd decoder_dim (a model of gigabytes)", lambda c: c.update(decoder_dim=200_000),
     r"field 'decoder_dim' is 200000; it must be an integer in \[16, 4096\]"),
    ("decoder_dim as a string", lambda c: c.update(decoder_dim="128"), r"field 'decoder_dim' is '128'"),
    ("decoder_depth as a float", lambda c: c.update(decoder_depth=2.5), r"field 'decoder_depth' is 2.5"),
    ("decoder_heads as a bool", lambda c: c.update(decoder_heads=True), r"field 'decoder_heads' is True"),
    ("negative wave_dim", lambda c: c.update(wave_dim=-32), r"field 'wave_dim' is -32"),
    ("odd wave_dim", lambda c: c.update(wave_dim=33), r"field 'wave_dim' is 33.*multiple of 2"),
    ("heads not dividing the decoder", lambda c: c.update(decoder_heads=3), r"'decoder_heads' is 3.*divisible"),
    ("zero heads (was ZeroDivisionError)", lambda c: c.update(decoder_heads=0), r"'decoder_heads' is 0"),
    ("unknown text encoder", lambda c: c.update(text_encoder="clip-vit-h"),
     r"field 'text_encoder' is 'clip-vit-h'.*choose one of \['minilm'\]"),
    ("text_dim of another encoder", lambda c: c.update(text_dim=512), r"'text_dim' is 512.*'minilm' gives 384"),
    ("unknown variant", lambda c: c.update(variant="huge"), r"field 'variant' is 'huge'; choose one of"),
    ("config naming another variant", lambda c: c.update(variant="base"),
     r"'variant' is 'base' but the backbone \('hiera'\) is that of variant 'tiny'"),
    ("absurd backbone", lambda c: c["hiera"].update(hidden_size=1_000_000),
     r"'hiera' is not the backbone of variant 'tiny' \(hiera.hidden_size is 1000000"),
    ("hiera not a mapping", lambda c: c.update(hiera=[32, 64]), r"field 'hiera' must be a mapping"),
    ("unknown field", lambda c: c.update(decoder_width=3), r"unknown config field\(s\) \['decoder_width'\]"),
    ("missing variant", lambda c: c.pop("variant"), r"config field 'variant' is missing"),
    ("notes not a string", lambda c: c.update(notes=3), r"field 'notes' must be a string"),
]  # fmt: skip


@pytest.mark.parametrize("change, match", [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_a_bad_config_is_refused_naming_file_and_field_before_any_weight_is_read(
    ckpt: Path, change: Callable[[dict[str, Any]], None], match: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safetensors.torch

    edit_config(ckpt, change)

    def no_read(*_: Any, **__: Any) -> Any:
        raise AssertionError("weights were read before the config was validated")

    monkeypatch.setattr(safetensors.torch, "load_file", no_read)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=match) as info:
        load_model(ckpt)
    assert str(ckpt / "config.json") in str(info.value)
    assert time.perf_counter() - start < 5  # nothing of gigabytes was built


def test_a_config_that_does_not_fit_its_weights_is_caught_from_the_header(
    ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A valid config (decoder_dim 256 is a legal size) that is not what the weights were saved with: refused from
    the safetensors header (names, shapes), before the weights are read or the model is built for real."""
    import safetensors.torch

    import lslib.model.build as build

    edit_config(ckpt, lambda c: c.update(decoder_dim=256))
    monkeypatch.setattr(safetensors.torch, "load_file", lambda *a, **k: pytest.fail("weights read"))
    real = build.build_from_config

    def meta_only(config: Any, **kw: Any) -> Any:
        assert torch.empty(0).device.type == "meta", "a real model was built before the header check"
        return real(config, **kw)

    monkeypatch.setattr(build, "build_from_config", meta_only)
    with pytest.raises(ValueError, match=r"do not match .*config.json: 0 missing, 0 unexpected, \d+ \[.*\(128,\) vs "
                                         r"\(256,\).* with another shape"):  # fmt: skip
        load_model(ckpt)


def test_weights_saved_from_another_variant_or_with_a_wrong_dtype_are_refused(ckpt: Path, tmp_path: Path) -> None:
    rewrite_weights(ckpt, lambda s: None, metadata={"variant": "base"})
    with pytest.raises(ValueError, match=r"says variant 'tiny' but its weights .* were saved from a 'base' model"):
        load_model(ckpt)
    other = tmp_path / "dtype"
    shutil.copytree(released_dir(), other)
    rewrite_weights(other, lambda s: s.update({"decoder.class_type": s["decoder.class_type"].to(torch.int32)}))
    with pytest.raises(ValueError, match=r"1 \[decoder.class_type I32\] with an unusable dtype"):
        load_model(other)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")], ids=["nan", "inf", "-inf"])
def test_non_finite_weights_of_a_diverged_run_are_refused(ckpt: Path, value: float) -> None:
    def poison(state: dict[str, torch.Tensor]) -> None:
        state["decoder.class_type"] = state["decoder.class_type"].clone()
        state["decoder.class_type"][3] = value

    rewrite_weights(ckpt, poison)
    with pytest.raises(ValueError, match=r"1 \[decoder.class_type\] weight tensors hold NaN or infinite values.*"
                                         r"diverged.*earlier checkpoint"):  # fmt: skip
        load_model(ckpt)


def test_cli_predict_with_a_diverged_checkpoint_fails_and_writes_no_map(ckpt: Path, tmp_path: Path) -> None:
    from lslib.data.readers import write_geotiff
    from lslib.data.synthetic import make_scene

    rewrite_weights(ckpt, lambda s: s["alignment.logit_scale"].fill_(float("nan")))
    image = write_geotiff(make_scene(height=64, width=64, seed=0)[0], tmp_path / "scene.tif")
    rc, err = cli("predict", "--image", str(image), "--prompts", "water, trees", "--out", str(tmp_path / "map"),
                  "--checkpoint", str(ckpt), "--tile", "64", "--overlap", "8", "-q")  # fmt: skip
    assert rc == 2 and "NaN or infinite" in err and "Traceback" not in err, err
    assert not (tmp_path / "map" / "class_map.tif").exists()


def test_the_released_checkpoint_and_fresh_saves_still_load(ckpt: Path, tmp_path: Path) -> None:
    from lslib.model.build import build_model, save_model, with_overrides

    model = load_model(ckpt)
    assert model.config.variant == "tiny" and not model.training
    save_model(build_model("tiny"), tmp_path / "fresh", half=True)
    assert load_model(tmp_path / "fresh").config.variant == "tiny"
    assert with_overrides("tiny", decoder_dim=64).decoder_dim == 64  # head sizes may differ from the registry
    with pytest.raises(ValueError, match=r"with_overrides\('tiny'\): field 'decoder_dim' is -1"):
        with_overrides("tiny", decoder_dim=-1)
    with pytest.raises(ValueError, match=r"unknown model config field\(s\) \['width'\]"):
        with_overrides("tiny", width=3)


# --- 2. every CLI number is checked when it is parsed -------------------------------------------------------------

_IMG = ["--image", "x.tif", "--prompts", "water", "--out", "o"]
_EVAL = ["evaluate", "--checkpoint", "c", "--data", "d"]
BAD_NUMBERS: list[tuple[list[str], str]] = [
    (["las", "build", "--out", "o", "--workers", "-1"], r"--workers: must be a whole number >= 0, got -1"),
    (["las", "build", "--out", "o", "--limit", "-1"], r"--limit: must be a whole number >= 1, got -1"),
    (["las", "build", "--out", "o", "--limit", "0"], r"--limit: must be a whole number >= 1, got 0"),
    (["las", "build", "--out", "o", "--workers", "two"], r"--workers: 'two' is not a whole number"),
    (["las", "sample", "--subset", "mini-zion-landsat-nlcd", "--out", "o", "--n", "0"], r"--n: must be .* >= 1"),
    (["las", "sample", "--subset", "mini-zion-landsat-nlcd", "--out", "o", "--seed", "-5"], r"--seed: must be .*>= 0"),
    (["las", "serve-local", "--port", "0"], r"--port: must be a TCP port from 1 to 65535, got 0"),
    (["las", "serve-local", "--port", "70000"], r"--port: must be a TCP port"),
    (["predict", *_IMG, "--tile", "1"], r"--tile: must be a whole number >= 64, got 1: .*65 536 calls"),
    (["predict", *_IMG, "--tile", "63"], r"--tile: must be a whole number >= 64"),
    (["predict", *_IMG, "--block", "0"], r"--block: must be a whole number >= 64"),
    (["predict", *_IMG, "--overlap", "-8"], r"--overlap: must be a whole number >= 0"),
    (["predict", *_IMG, "--workers", "-1"], r"--workers: must be a whole number >= 0"),
    (["predict", *_IMG, "--scale", "0"], r"--scale: must not be 0"),
    (["predict", *_IMG, "--scale", "nan"], r"--scale: 'nan' is not a finite number"),
    (["predict", *_IMG, "--offset", "inf"], r"--offset: 'inf' is not a finite number"),
    ([*_EVAL, "--val-fraction", "0"], r"--val-fraction: must be a fraction between 0 and 1 \(exclusive\)"),
    ([*_EVAL, "--val-fraction", "1"], r"--val-fraction: must be a fraction between 0 and 1"),
    ([*_EVAL, "--val-fraction", "nan"], r"--val-fraction: 'nan' is not a finite number"),
    ([*_EVAL, "--limit", "0"], r"--limit: must be a whole number >= 1, got 0"),
    (["train", "--config", "c.yaml", "--max-steps", "0"], r"--max-steps: must be a whole number >= 1"),
    (["finetune", "--checkpoint", "c", "--data", "d", "--out", "o", "--max-steps", "-3"], r"--max-steps: must be"),
    (["finetune", "--checkpoint", "c", "--data", "d", "--out", "o", "--lr", "0"], r"--lr: must be a learning rate"),
    (["finetune", "--checkpoint", "c", "--data", "d", "--out", "o", "--lr=-inf"], r"--lr: '-inf' is not a finite"),
]


@pytest.mark.parametrize("argv, match", BAD_NUMBERS, ids=[" ".join(a[:2] + a[-2:]) for a, _ in BAD_NUMBERS])
def test_bad_numbers_are_refused_at_parse_time(
    argv: list[str], match: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    rc, err = cli(*argv)
    assert rc == 2, err
    assert re.search(r"error: argument " + match, err), err
    assert time.perf_counter() - start < 5  # refused at once: no server, no cluster, no model
    assert list(tmp_path.iterdir()) == []  # nothing written


def _chips(root: Path, n: int) -> None:
    import xarray as xr

    from lslib.data.las.chips import chip_path, write_chip
    from lslib.data.synthetic import make_scene

    for i in range(n):
        img, lab = make_scene(height=32, width=32, seed=i)
        lab.attrs["nodata"] = int(lab.rio.nodata)
        ds = xr.Dataset({"image": img, "label": lab})
        ds.attrs = {"crs": "EPSG:32632", "transform": list(img.rio.transform())[:6], "subset": "syn", "gsd": 10.0,
                    "sensor": "sentinel2_l2a", "point_id": f"p{i}", "taxonomy": "esa_worldcover"}  # fmt: skip
        write_chip(ds, chip_path(root, "syn", f"p{i}"))


def test_evaluate_refuses_to_write_nan_metrics(ckpt: Path, tmp_path: Path) -> None:
    """A split without chips used to print and write ``NaN`` (invalid JSON) and exit 0."""
    from lslib.training.dataset import LASDataset
    from lslib.training.evaluate import evaluate_weak_agreement, evaluate_zero_shot

    _chips(tmp_path / "las", 2)
    fraction = next(f for f in (0.01, 0.05, 0.1) if len(LASDataset(roots=tmp_path / "las", split="val",
                                                                        val_fraction=f)) == 0)  # fmt: skip
    out = tmp_path / "metrics.json"
    rc, err = cli("evaluate", "--checkpoint", str(ckpt), "--data", str(tmp_path / "las"), "--split", "val",
                  "--val-fraction", str(fraction), "--out", str(out))  # fmt: skip
    assert rc == 2 and "no chip was scored (the val split has 0 chips" in err, err
    assert not out.exists()
    rc, err = cli("evaluate", "--checkpoint", str(ckpt), "--data", str(tmp_path / "las"), "--split", "all",
                  "--limit", "1", "--out", str(out))  # fmt: skip
    assert rc == 0, err
    doc = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the metrics JSON"))
    assert doc["chips"] == 1
    data = LASDataset(roots=tmp_path / "las", split="all")
    with pytest.raises(ValueError, match=r"limit must be None \(all chips\) or a whole number >= 1, got 0"):
        evaluate_weak_agreement(load_model(ckpt), data, limit=0)
    with pytest.raises(ValueError, match=r"unknown fusion 'best'"):
        evaluate_zero_shot(load_model(ckpt), data, target_taxonomy="esa_worldcover", fusion="best")


# --- 3. the loopback STAC server dies with the process that started it ---------------------------------------------


@pytest.fixture(scope="module")
def zion_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not os.environ.get("LSLIB_DATA_MIRROR") or not Path(os.environ["LSLIB_DATA_MIRROR"]).is_dir():
        pytest.skip("the real-sample mirror is missing: set LSLIB_DATA_MIRROR")
    from lslib.data.local_stac.catalog import build_local_catalog

    folder = tmp_path_factory.mktemp("stac")
    build_local_catalog(folder, collections=["zion-nlcd-2011"])
    return folder


def _gone(pid: int, within: float) -> bool:
    psutil = pytest.importorskip("psutil")
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:  # dead, waiting for its new parent to reap it
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


_SERVE = """
import sys
from pathlib import Path
from lslib.data.local_stac.server import serve_local
server = serve_local(Path(sys.argv[1]))
print(server.pid, server.port, flush=True)
import time
time.sleep(300)
"""


def test_the_server_dies_when_its_parent_is_killed(zion_catalog: Path) -> None:
    """SIGKILL runs no ``finally`` and no ``atexit``: the kernel's parent-death signal must end the server."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux-only (elsewhere: atexit and a SIGTERM handler)")
    psutil = pytest.importorskip("psutil")
    parent = subprocess.Popen([sys.executable, "-c", _SERVE, str(zion_catalog)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid, port = map(int, parent.stdout.readline().split())
        assert psutil.pid_exists(pid) and "rustac" in " ".join(psutil.Process(pid).cmdline())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        assert _gone(pid, within=5), f"rustac serve (pid {pid}) outlived its killed parent and holds port {port}"
    finally:
        parent.kill()
        with contextlib.suppress(ProcessLookupError, NameError):
            os.kill(pid, signal.SIGKILL)


def test_a_later_run_does_not_trip_over_a_server_left_behind(
    zion_catalog: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that outlived its run (e.g. of an older lslib) holds its port: a later run picks another free port;
    asking for the taken port explicitly is refused naming the holder, as ``lslib las serve-local`` shows."""
    pytest.importorskip("psutil")
    import lslib.data.local_stac.catalog as stac_local
    from lslib.data.local_stac.server import PortInUseError, serve_local

    monkeypatch.setattr(stac_local, "build_local_catalog", lambda out: zion_catalog)  # not the whole mirror

    with serve_local(zion_catalog) as stale:
        with serve_local(zion_catalog) as fresh:
            assert fresh.port != stale.port and fresh.running
        with pytest.raises(PortInUseError, match=rf"port is in use by pid {stale.pid} .*rustac.*left behind.*"
                                                 rf"kill {stale.pid}"):  # fmt: skip
            serve_local(zion_catalog, port=stale.port)
        rc, err = cli("las", "serve-local", "--catalog", str(zion_catalog), "--port", str(stale.port))
        assert rc == 2 and f"lslib: error: cannot start rustac serve on 127.0.0.1:{stale.port}" in err, err


def test_stop_ends_the_process_group(zion_catalog: Path) -> None:
    from lslib.data.local_stac.server import serve_local

    with serve_local(zion_catalog) as server:
        if os.name == "posix":
            assert os.getpgid(server.pid) == server.pid  # its own group: Ctrl-C reaches Python, which stops it
        pid = server.pid
    assert _gone(pid, within=5)


# --- 4. an interrupted (re)training of the default model never becomes the default --------------------------------


def test_retraining_is_marked_complete_only_when_finished_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lslib.default_model as default
    import lslib.training.trainer as trainer
    from lslib.model.build import build_model, save_model

    out = tmp_path / "retrain"
    calls: list[tuple[int, bool]] = []

    def fake_train(config: Any, *, resume: bool = True, progress: bool = True) -> Any:
        calls.append((config.optim.max_steps, resume))
        save_model(build_model("tiny"), Path(config.out) / "best")
        if len(calls) == 1:
            raise KeyboardInterrupt  # the first run is killed half-way
        return trainer.TrainResult(out=Path(config.out), steps=config.optim.max_steps, best_miou=None, last_loss=None,
                                   seconds=0.0, resumed_from=0, history=[])  # fmt: skip

    monkeypatch.setattr(trainer, "train", fake_train)
    monkeypatch.setattr(default, "ensure_las_mini", lambda progress=True: tmp_path / "las")
    with pytest.raises(KeyboardInterrupt):
        default.retrain_default(out=out, progress=False, max_steps=3)
    assert not (out / default.COMPLETE).exists()  # best/ exists but the run is not finished
    assert default.retrain_default(out=out, progress=False, max_steps=3) == out / "best"
    assert calls == [(3, True), (3, True)]  # the second call resumed the same schedule
    assert json.loads((out / default.COMPLETE).read_text())["max_steps"] == 3
    default.retrain_default(out=out, progress=False, max_steps=3)
    assert len(calls) == 2  # finished: reused
    default.retrain_default(out=out, progress=False, max_steps=5)
    assert calls[-1] == (5, True)  # a short smoke run is not taken for a longer schedule
    with pytest.raises(ValueError, match="max_steps must be a whole number >= 1"):
        default.retrain_default(out=out, progress=False, max_steps=0)


def test_default_model_is_the_release_even_beside_an_unfinished_retraining(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lslib.default_model import COMPLETE, default_dir, default_model
    from lslib.model.build import build_model, save_model

    monkeypatch.setenv("LSLIB_CACHE_DIR", str(tmp_path / "cache"))
    save_model(build_model("tiny"), default_dir() / "best")  # an interrupted retraining: no COMPLETE
    assert not (default_dir() / COMPLETE).exists()
    model = default_model(progress=False)
    released = load_model(released_dir())
    for (name, a), b in zip(model.state_dict().items(), released.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


# --- 5. one fusion default for lslib predict, lslib evaluate and the Predictor ----------------------------------------


def test_fusion_default_is_defined_once() -> None:
    import inspect

    from lslib.cli.main import build_parser
    from lslib.fusion import DEFAULT_MODE
    from lslib.inference.predictor import Predictor
    from lslib.training.evaluate import evaluate_zero_shot

    parser = build_parser()
    assert parser.parse_args(["predict", *_IMG]).mode == DEFAULT_MODE
    assert parser.parse_args(_EVAL).fusion == DEFAULT_MODE
    assert inspect.signature(Predictor.__init__).parameters["mode"].default == DEFAULT_MODE
    assert inspect.signature(evaluate_zero_shot).parameters["fusion"].default == DEFAULT_MODE


def test_lslib_predict_and_the_predictor_give_the_same_map_by_default(ckpt: Path, tmp_path: Path) -> None:
    import rasterio

    from lslib.data import open_image
    from lslib.data.readers import write_geotiff
    from lslib.data.synthetic import make_scene
    from lslib.inference import Predictor

    prompts = "water, trees, grass, crops, built area, bare ground"
    image = write_geotiff(make_scene(height=96, width=96, seed=3)[0], tmp_path / "scene.tif")
    rc, err = cli("predict", "--image", str(image), "--prompts", prompts, "--out", str(tmp_path / "map"),
                  "--checkpoint", str(ckpt), "--tile", "128", "--overlap", "16", "-q")  # fmt: skip
    assert rc == 0, err
    with rasterio.open(tmp_path / "map" / "class_map.tif") as src:
        codes = src.read(1).astype(np.int16)
    cli_map = np.where(codes >= 254, -1, codes)
    model = load_model(ckpt)
    maps = {}
    for mode in (None, "classwise", "global"):
        predictor = Predictor(model, device="cpu") if mode is None else Predictor(model, device="cpu", mode=mode)
        predictor.set_image(open_image(image))
        maps[mode] = predictor.predict(prompts).class_map.values
    assert not np.array_equal(maps["classwise"], maps["global"]), "the modes must differ here for the test to bite"
    np.testing.assert_array_equal(cli_map, maps[None])
