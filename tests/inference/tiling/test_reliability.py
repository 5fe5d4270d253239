"""Reliability of ``lslib predict`` / :func:`map_large_area`: resume after any failure, read errors, who owns the
output folder, the lock, permissions, Ctrl-C, huge sparse rasters.

Failures are injected where lslib writes (block files, progress record, COGs, prompt files) and where it reads
the input (the window reads): after any of them, rerunning gives the same bytes as an uninterrupted run, in
both COGs. SIGKILL of the real CLI is tests/inference/tiling/test_kill_resume.py.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401 - the .rio accessor
import torch
import xarray as xr
from fakes import FieldPredictor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

import lslib.inference.outputs.blocks as outputs_blocks
import lslib.inference.outputs.progress as outputs_progress
import lslib.inference.tiling.large_area as tiling
from lslib.inference import Predictor
from lslib.inference.outputs import OutputInUseError, OutputLock, OutputWriteError
from lslib.inference.tiling.geometry import make_grid
from lslib.inference.tiling.large_area import map_large_area
from lslib.inference.tiling.sources import InputReadError, footprint
from lslib.inference.tiling.windows import WindowMapper
from lslib.model.build import build_model

FINAL = ["class_map.tif", "confidence.tif", "map.json", "prompts.yaml"]
KW: dict[str, Any] = {"tile": 64, "overlap": 16, "block": 64, "progress": False}
H, W = 170, 150  # 4 blocks of about 80 x 75 px, 4 x 3 windows


def scene(h: int = H, w: int = W, *, bands: int = 2, seed: int = 0, hole: bool = True) -> xr.DataArray:
    """Random scores in [0, 1] per band (FieldPredictor maps band k to class k), a NaN hole, 10 m UTM."""
    rng = np.random.default_rng(seed)
    data = rng.uniform(0, 1, (bands, h, w)).astype(np.float32)
    if hole:
        data[:, :128, :128] = np.nan  # a block without a valid pixel (skipped), windows and blocks partly empty
    names = ["red", "green", "blue", "nir"][:bands]
    waves = [0.665, 0.56, 0.49, 0.842][:bands]
    da = xr.DataArray(
        data, dims=("band", "y", "x"),
        coords={"band": names, "wavelength": ("band", waves), "y": 5e6 - 10 * (np.arange(h) + 0.5),
                "x": 4e5 + 10 * (np.arange(w) + 0.5)},
    )  # fmt: skip
    return da.rio.write_crs("EPSG:32633")


def run(out: Path, da: xr.DataArray | None = None, prompts: Any = ("a", "b"), **kw: Any) -> tiling.MapResult:
    return map_large_area(scene() if da is None else da, list(prompts), out, predictor=FieldPredictor(),
                          **{**KW, **kw})  # fmt: skip


def snapshot(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file under ``folder``: bytes, mtime and mode."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns, stat.S_IMODE(p.stat().st_mode))
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def maps(out: Path) -> dict[str, bytes]:
    return {n: (out / n).read_bytes() for n in ("class_map.tif", "confidence.tif")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The uninterrupted run: both COGs' bytes and the sidecar."""
    out = tmp_path_factory.mktemp("reference") / "map"
    res = run(out)
    return {**maps(out), "map.json": json.loads((out / "map.json").read_text()), "result": res}


# --- failure injection ---------------------------------------------------------------------------------------------


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, nothing catches it."""


class Faults:
    """Numbers lslib's writes (block files, records, COGs, prompt files) and input window reads; fails one.

    ``arm(kind, n)``: the first matching operation at or after the n-th fails: ``enospc`` (a write: OSError
    ENOSPC), ``read`` (a window read: GDAL's read error), ``kill`` (any: :class:`Killed`, leaving the temporary
    files a kill mid-write leaves).
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.n, self.armed, self.written = 0, None, []  # type: ignore[var-annotated]
        self.fired: str | None = None
        self.only: str | None = None
        block_file, write_text = outputs_blocks._write_block_file, outputs_progress.write_text
        finalise, commit, read = outputs_blocks.PartialWriter.finalise, tiling._commit, WindowMapper._read

        def wrap(fn: Callable[..., Any], what: str) -> Callable[..., Any]:
            def op(*args: Any, **kwargs: Any) -> Any:
                self.step(what, args)
                if what == "block":
                    self.written.append(Path(args[0]).name)
                return fn(*args, **kwargs)

            return op

        monkeypatch.setattr(outputs_blocks, "_write_block_file", wrap(block_file, "block"))
        monkeypatch.setattr(outputs_progress, "write_text", wrap(write_text, "record"))
        monkeypatch.setattr(outputs_blocks.PartialWriter, "finalise", wrap(finalise, "cog"))
        monkeypatch.setattr(tiling, "_commit", wrap(commit, "prompts"))
        monkeypatch.setattr(WindowMapper, "_read", staticmethod(wrap(read, "read")))

    def arm(self, kind: str, n: int, what: str | None = None) -> None:
        """Fail the first ``kind``-matching operation from the n-th on (counting only ``what`` operations if given)."""
        self.n, self.armed, self.fired, self.only = 0, (kind, n), None, what

    def step(self, what: str, args: tuple[Any, ...]) -> None:
        if self.only is not None and what != self.only:
            return
        self.n += 1
        if self.armed is None or self.n < self.armed[1]:
            return
        kind = self.armed[0]
        if (kind == "read") != (what == "read") and kind != "kill":
            return
        self.armed, self.fired = None, kind
        if kind == "read":
            raise RasterioIOError("Read failed. See previous exception for details.")
        if kind == "enospc":
            raise OSError(errno.ENOSPC, "No space left on device")
        # a kill leaves what it was writing under a temporary name
        if what == "block":
            Path(args[0]).with_name(f".{Path(args[0]).stem}.killed00.part.tif").write_bytes(b"II*\x00half")
        elif what == "record":
            Path(args[0]).with_name(f".{Path(args[0]).stem}.killed00.part{Path(args[0]).suffix}").write_text("{")
        raise Killed


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Faults:
    return Faults(monkeypatch)


EXPECTED = {"enospc": OutputWriteError, "read": InputReadError, "kill": Killed}


def run_with_failures(out: Path, faults: Faults, failures: list[tuple[str, int]]) -> None:
    for kind, n in failures:
        faults.arm(kind, n)
        try:
            run(out)
        except EXPECTED[kind] as exc:  # type: ignore[misc]
            assert faults.fired == kind
            if kind == "enospc":
                assert "disk is full" in str(exc) and "rerun the same command" in str(exc)
            if kind == "read":
                assert "cannot read the input" in str(exc) and "free some space" not in str(exc)
            assert not (out / "map.json").exists()
        else:
            assert faults.fired is None  # the failure point lay beyond the end of the run
    faults.armed = None
    run(out)


# --- 1. resume after a failure equals an uninterrupted run ---------------------------------------------------------


def test_disk_full_then_resume_real_model_is_byte_identical(tmp_path: Path, faults: Faults) -> None:
    """The issue's case with the real (tiny) model: ENOSPC between a block's two files, free space, rerun."""
    torch.manual_seed(0)
    model = build_model("tiny").eval()
    da = scene(160, 150, bands=4, hole=False)

    def go(out: Path) -> tiling.MapResult:
        return map_large_area(da, "water, forest, cropland", out, predictor=Predictor(model, device="cpu"), **KW)

    ref = tmp_path / "ref"
    go(ref)
    faults.written.clear()
    out = tmp_path / "out"
    faults.arm("enospc", 6, what="block")  # block files: 0 class, 0 conf, 1 class, 1 conf, 2 class, *2 conf*
    with pytest.raises(OutputWriteError, match="disk is full") as info:
        go(out)
    assert info.value.__cause__.errno == errno.ENOSPC  # type: ignore[union-attr]
    done = json.loads((out / ".progress.json").read_text())["done"]
    assert done == [0, 1]
    assert stat.S_IMODE((out / ".progress.json").stat().st_mode) & 0o044  # others can read it (umask 022)
    first = list(faults.written)
    faults.written.clear()
    res = go(out)
    assert res.blocks_resumed == 2
    # a block recorded as done is never written again: no file is shared between blocks
    assert not {n for n in faults.written if n.startswith(("b000000.", "b000001."))}
    assert len(first) == len(set(first)) and len(faults.written) == len(set(faults.written))
    assert maps(out) == maps(ref)  # byte for byte, both files
    assert json.loads((out / "map.json").read_text()) == json.loads((ref / "map.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == FINAL
    with rasterio.open(out / "confidence.tif") as src:
        conf = src.read(1)
    assert not np.isnan(conf).any()  # the issue: tens of thousands of NaN pixels after a resume


@pytest.mark.parametrize("kind", ["enospc", "read", "kill"])
@pytest.mark.parametrize("n", [1, 3, 6, 11, 21, 22, 23, 24])
def test_each_failure_point_resumes_to_the_same_bytes(tmp_path: Path, faults: Faults, reference: dict[str, Any],
                                                      kind: str, n: int) -> None:  # fmt: skip
    out = tmp_path / "map"
    run_with_failures(out, faults, [(kind, n)])
    assert maps(out) == {k: reference[k] for k in ("class_map.tif", "confidence.tif")}
    assert json.loads((out / "map.json").read_text()) == reference["map.json"]
    assert sorted(p.name for p in out.iterdir()) == FINAL  # no temporary left over, not even a kill's


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["enospc", "read", "kill"]), st.integers(1, 32)), min_size=1, max_size=3))
def test_property_resume_after_injected_failures_equals_uninterrupted(
    tmp_path_factory: pytest.TempPathFactory, faults: Faults, reference: dict[str, Any], failures: list[Any]
) -> None:
    out = tmp_path_factory.mktemp("prop") / "map"
    run_with_failures(out, faults, failures)
    assert maps(out) == {k: reference[k] for k in ("class_map.tif", "confidence.tif")}
    assert json.loads((out / "map.json").read_text()) == reference["map.json"]
    assert sorted(p.name for p in out.iterdir()) == FINAL


@pytest.mark.parametrize(("which", "limit"), [("class", 600), ("conf", 4096)])
def test_gdal_write_failing_mid_file_resumes_to_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               which: str, limit: int) -> None:  # fmt: skip
    """A real failed write inside GDAL (the file size limit hit halfway through block 1's file), then resume."""
    import resource
    import signal

    da = scene(hole=False)
    ref = run(tmp_path / "ref", da=da)
    write = outputs_blocks._write_block_file

    def limited(path: Path, *args: Any) -> None:
        if path.name != f"b000001.{which}.tif":
            return write(path, *args)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
        try:
            return write(path, *args)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, old)

    monkeypatch.setattr(outputs_blocks, "_write_block_file", limited)
    out = tmp_path / "map"
    with pytest.raises(OutputWriteError, match="rerun the same command"):
        run(out, da=da)
    assert json.loads((out / ".progress.json").read_text())["done"] == [0]
    monkeypatch.setattr(outputs_blocks, "_write_block_file", write)
    res = run(out, da=da)
    assert res.blocks_resumed == 1 and maps(out) == maps(ref.out)


def test_blocks_without_valid_pixel_write_nothing_without_a_footprint(tmp_path: Path, faults: Faults,
                                                                     reference: dict[str, Any]) -> None:  # fmt: skip
    """A Dask input has no footprint: its empty block is read, found empty and recorded, but no file is written."""
    res = run(tmp_path / "map", da=scene().chunk({"y": 64, "x": 64}))
    assert res.blocks_empty == 0 and res.blocks_computed == 4
    assert len(faults.written) == 2 * 3
    for key in ("class_map", "confidence"):
        with rasterio.open(res.paths[key]) as a, rasterio.open(reference["result"].paths[key]) as b:
            np.testing.assert_array_equal(a.read(), b.read())


def test_block_files_are_durable_before_the_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Order of operations per block: both files renamed into place, then the record; never the record first."""
    events: list[str] = []
    replace = os.replace

    def spy_replace(src: Any, dst: Any) -> None:
        events.append(Path(dst).name)
        replace(src, dst)

    monkeypatch.setattr(os, "replace", spy_replace)
    run(tmp_path / "map")
    blocks = [e for e in events if e.startswith("b") or e == ".progress.json"]
    for i, e in enumerate(blocks):
        if e.endswith(".class.tif"):
            assert blocks[i + 1] == e.replace(".class.", ".conf.") and blocks[i + 2] == ".progress.json"


# --- 8. a read error names the input, never a disk problem ---------------------------------------------------------


def test_truncated_geotiff_names_the_input_and_leaves_nothing(tmp_path: Path, sample, capsys) -> None:  # type: ignore[no-untyped-def]
    from lslib.cli.main import main

    real = sample("terramesh-examples-s2-esri-lulc/S2L2A/433D_629L_3_1.tif")
    bad = tmp_path / "scene.tif"
    bad.write_bytes(real.read_bytes()[: int(real.stat().st_size * 0.6)])  # an interrupted download
    out = tmp_path / "map"
    with pytest.raises(RasterioIOError) as info:  # InputReadError / RasterReadError: both name the input
        map_large_area(bad, ["water", "forest"], out, predictor=FieldPredictor(), sensor="s2-l2a", **KW)
    msg = str(info.value)
    assert str(bad) in msg and "free some space" not in msg and "disk is full" not in msg
    assert not isinstance(info.value, OutputWriteError)
    assert not out.exists() or not any(out.rglob("*"))  # no hidden partial file that would block a rerun
    rc = main(["predict", "--image", str(bad), "--sensor", "s2-l2a", "--prompts", "water, forest", "--out", str(out),
               "--variant", "tiny", "-q", "--tile", "64", "--overlap", "16", "--block", "64"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and str(bad) in err and "free some space" not in err and "Traceback" not in err
    # the file fetched again: the same command works (nothing left over blocks it)
    shutil.copyfile(real, bad)
    res = map_large_area(bad, ["water", "forest"], out, predictor=FieldPredictor(), sensor="s2-l2a", **KW)
    assert res.pixels_mapped == 224 * 224 and sorted(p.name for p in out.iterdir()) == FINAL


def test_window_read_error_names_input_keeps_blocks_and_resumes(tmp_path: Path, faults: Faults,
                                                                reference: dict[str, Any]) -> None:  # fmt: skip
    out = tmp_path / "map"
    faults.arm("read", 15)
    with pytest.raises(InputReadError) as info:
        run(out)
    msg = str(info.value)
    assert "cannot read the input" in msg and "rows" in msg and "columns" in msg
    assert "not a disk-space problem" in msg and "free some space" not in msg
    done = json.loads((out / ".progress.json").read_text())["done"]
    assert done and f"{len(done)} finished block" in msg
    res = run(out)
    assert res.blocks_resumed == len(done)
    assert maps(out) == {k: reference[k] for k in ("class_map.tif", "confidence.tif")}


# --- ownership of the output folder -------------------------------------------------------------------------------


def test_user_files_under_lslib_names_are_never_touched(tmp_path: Path) -> None:
    out = tmp_path / "map"
    out.mkdir()
    (out / "map.json").write_text('{"my": "web map config"}')
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match="did not write"):
            run(out, overwrite=overwrite)
        assert snapshot(out) == before
    (out / "map.json").unlink()
    (out / "prompts.yaml").write_text("classes: [mine]\n")  # the user's own prompt file: kept, lslib writes beside
    before = snapshot(out)
    res = run(out)
    assert {k: v for k, v in snapshot(out).items() if k in before} == before
    assert res.paths["prompts"].name == "prompts.lslib.yaml" and res.sidecar["files"]["prompts"] == "prompts.lslib.yaml"
    # --overwrite with other prompts: lslib's files go, the user's stay
    res2 = run(out, da=scene(bands=3), prompts=("x", "y", "z"), overwrite=True)
    assert [r["class"] for r in res2.areas] == ["x", "y", "z", "unknown"]
    assert {k: v for k, v in snapshot(out).items() if k in before} == before
    assert sorted(p.name for p in out.iterdir()) == ["class_map.tif", "confidence.tif", "map.json", "notes.txt",
                                                     "prompts.lslib.yaml", "prompts.yaml"]  # fmt: skip


def test_prompt_set_inside_out_is_never_rewritten_or_deleted(tmp_path: Path) -> None:
    out = tmp_path / "map"
    run(out)
    assert (out / "prompts.yaml").exists()  # lslib's own copy
    mine = out / "prompts.yaml"
    before = (mine.read_bytes(), mine.stat().st_mtime_ns)
    # the saved prompt set maps again into the same folder with other tiling and --overwrite: it is an input now
    res = map_large_area(scene(), mine, out, predictor=FieldPredictor(), overwrite=True,
                         **{**KW, "tile": 96, "block": 128})  # fmt: skip
    assert (mine.read_bytes(), mine.stat().st_mtime_ns) == before
    assert res.sidecar["files"]["prompts"] == "prompts.lslib.yaml" and (out / "prompts.lslib.yaml").exists()
    # loaded by the caller (as `lslib predict --prompt-set` does): protect= names it
    from lslib.prompt_set import load

    res = map_large_area(scene(), load(mine), out, predictor=FieldPredictor(), overwrite=True, protect=[mine], **KW)
    assert (mine.read_bytes(), mine.stat().st_mtime_ns) == before


def test_input_image_inside_out_is_never_touched(tmp_path: Path) -> None:
    from lslib.data.readers import write_geotiff

    out = tmp_path / "map"
    out.mkdir()
    image = write_geotiff(scene(hole=False), out / "scene.tif")
    before = snapshot(out)
    run(out, da=image)  # type: ignore[arg-type]
    run(out, da=image, overwrite=True, prompts=("c", "d"))  # type: ignore[arg-type]
    assert snapshot(out)["scene.tif"] == before["scene.tif"]
    # a map lslib wrote, used as the input of another run into the same folder: never replaced
    with pytest.raises(FileExistsError, match="input of this run"):
        map_large_area(out / "confidence.tif", ["a"], out, predictor=FieldPredictor(), bands="red",
                       overwrite=True, **KW)  # fmt: skip


NAMES = ["class_map.tif", "confidence.tif", "map.json", "prompts.yaml", "prompts.safetensors", "prompts.lslib.yaml",
         ".progress.json", ".lslib.lock", "notes.txt", "scene.tif", ".class_map.partial.tif"]  # fmt: skip


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.dictionaries(st.sampled_from(NAMES), st.binary(min_size=1, max_size=64), max_size=5),
    json_like=st.booleans(), overwrite=st.booleans(), earlier=st.booleans(),
)
def test_property_files_lslib_did_not_write_survive(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes], json_like: bool, overwrite: bool, earlier: bool
) -> None:
    out = tmp_path_factory.mktemp("own") / "map"
    if earlier:  # a map lslib made before, with other prompts
        run(out, da=scene(bands=3), prompts=("p", "q", "r"))
    out.mkdir(exist_ok=True)
    for name, data in files.items():
        if json_like and name.endswith(".json"):  # looks like a map/progress, was not written by lslib
            data = json.dumps({"signature": "0" * 64, "done": [], "note": data.hex()}).encode()
        if name == ".lslib.lock":
            data = b"user lock " + data
        (out / name).unlink(missing_ok=True)
        (out / name).write_bytes(data)
    theirs = snapshot(out)
    theirs = {k: v for k, v in theirs.items() if k in files}
    try:
        res = run(out, overwrite=overwrite)
    except FileExistsError as exc:
        assert "did not write" in str(exc) or "already holds a map" in str(exc)
    else:
        assert res.sidecar["files"]["prompts"] in ("prompts.yaml", "prompts.lslib.yaml")
        assert all((out / n).exists() for n in res.sidecar["files"].values())
    after = snapshot(out)
    assert {k: after.get(k) for k in theirs} == theirs  # never deleted, never rewritten
    assert not (out / ".lslib.lock").exists() or ".lslib.lock" in files


# --- one run per folder, permissions -------------------------------------------------------------------------------


class Gate(FieldPredictor):
    """Holds its run inside the first window until released."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.release = threading.Event(), threading.Event()

    def raw(self, prompts):  # type: ignore[no-untyped-def]
        self.entered.set()
        assert self.release.wait(60)
        return super().raw(prompts)


def test_second_concurrent_run_fails_at_once_with_a_clear_message(tmp_path: Path) -> None:
    out = tmp_path / "map"
    gate, errors = Gate(), []

    def first() -> None:
        try:
            map_large_area(scene(), ["a", "b"], out, predictor=gate, **KW)
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert gate.entered.wait(60)
        t0 = time.perf_counter()
        with pytest.raises(OutputInUseError, match=r"another lslib run is writing into .*pid \d+"):
            run(out)
        assert time.perf_counter() - t0 < 20
        with pytest.raises(OutputInUseError):
            run(out, overwrite=True)  # not even --overwrite breaks in
    finally:
        gate.release.set()
        thread.join(120)
    assert not errors and (out / "map.json").exists() and not (out / ".lslib.lock").exists()


def test_stale_lock_of_a_crashed_run_does_not_block(tmp_path: Path) -> None:
    out = tmp_path / "map"
    out.mkdir()
    (out / ".lslib.lock").write_text("lslib run: pid 999999 on gone since 2020-01-01T00:00:00\n")
    run(out)
    assert not (out / ".lslib.lock").exists()
    with OutputLock(out):  # the lock works as a context manager too, and is released
        assert (out / ".lslib.lock").exists()
    assert not (out / ".lslib.lock").exists()


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_new_files_respect_the_umask(tmp_path: Path, faults: Faults, mask: int) -> None:
    from lslib.atomic import write_text

    out = tmp_path / "map"
    with umask(mask):
        faults.arm("enospc", 5, what="block")
        with pytest.raises(OutputWriteError):
            run(out)
        partial = [p for p in out.rglob("*") if p.is_file()]
        assert partial and {stat.S_IMODE(p.stat().st_mode) for p in partial} == {0o666 & ~mask}
        run(out)
        assert {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {0o666 & ~mask}
        assert stat.S_IMODE(write_text(tmp_path / "x.txt", "x").stat().st_mode) == 0o666 & ~mask


# --- Ctrl-C -----------------------------------------------------------------------------------------------------


def test_ctrl_c_says_how_to_resume_and_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from lslib.cli.main import main
    from lslib.data.readers import write_geotiff
    from lslib.model.build import save_model

    torch.manual_seed(0)
    ckpt = save_model(build_model("tiny"), tmp_path / "ckpt")
    image = write_geotiff(scene(128, 128, bands=4, hole=False).clip(0.02, 0.4), tmp_path / "scene.tif")
    out = tmp_path / "map"
    args = ["predict", "--image", str(image), "--prompts", "water, forest", "--out", str(out), "--checkpoint",
            str(ckpt), "-q", "--tile", "64", "--overlap", "16", "--block", "64"]  # fmt: skip
    write, calls = outputs_blocks.PartialWriter.write_block, {"n": 0}

    def interrupted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:  # Ctrl-C while the third block is being written
            raise KeyboardInterrupt
        return write(self, *args, **kwargs)

    monkeypatch.setattr(outputs_blocks.PartialWriter, "write_block", interrupted)
    assert main(args) == 130
    captured = capsys.readouterr()
    assert "interrupted: rerun the same command to resume" in captured.err and "Traceback" not in captured.err
    assert not (out / ".lslib.lock").exists() and not (out / "map.json").exists()
    assert main(args) == 0
    assert "2 blocks computed, 2 reused" in capsys.readouterr().out


# --- scale: a huge sparse raster -------------------------------------------------------------------------------


def sparse_geotiff(path: Path, n: int, patches: list[tuple[int, int]]) -> Path:
    """An ``n x n`` 3-band uint8 GeoTIFF, nodata 0 everywhere but a few 30 x 40 patches (tiled, compressed)."""
    profile = {"driver": "GTiff", "width": n, "height": n, "count": 3, "dtype": "uint8", "nodata": 0,
               "crs": "EPSG:32633", "transform": rasterio.transform.from_origin(4e5, 5e6, 10, 10), "tiled": True,
               "blockxsize": 512, "blockysize": 512, "compress": "deflate"}  # fmt: skip
    rng = np.random.default_rng(1)
    with rasterio.open(path, "w", **profile) as dst:
        for r, c in patches:
            dst.write(rng.integers(20, 200, (3, 30, 40)).astype(np.uint8), window=Window(c, r, 40, 30))
    return path


@pytest.mark.slow
def test_huge_sparse_raster_maps_only_its_data(tmp_path: Path, faults: Faults, capsys) -> None:  # type: ignore[no-untyped-def]
    """20 000 x 20 000 px with three small patches of data: checked up front, empty blocks never read or written."""
    n, patches = 20_000, [(100, 100), (9_000, 15_000), (19_960, 19_950)]
    path = sparse_geotiff(tmp_path / "sparse.tif", n, patches)
    assert path.stat().st_size < 5e6
    torch.manual_seed(0)
    pred = Predictor(build_model("tiny").eval(), device="cpu")
    t0 = time.perf_counter()
    res = map_large_area(path, ["water", "forest"], tmp_path / "map", predictor=pred, sensor="rgb",
                         progress=True)  # fmt: skip
    seconds = time.perf_counter() - t0
    grid = make_grid(n, n)
    assert res.blocks_computed == 3 and res.blocks_empty == len(grid.blocks) - 3
    assert res.windows_computed <= 12 and res.pixels_mapped == len(patches) * 30 * 40
    err = capsys.readouterr().err
    assert len(faults.written) == 2 * 3  # block files only for the blocks with data
    assert f"in {len(grid.blocks)} blocks" in err and f"{len(grid.blocks) - 3} blocks without valid pixel" in err
    assert "lslib: mapping 3 blocks (20000 x 20000 px" in err
    assert re.search(r"windows, about \d+ (s|min) at", err) and "GB free" in err and res.plan in err
    with rasterio.open(res.paths["class_map"]) as src:
        for r, c in patches:
            codes = src.read(1, window=Window(c - 2, r - 2, 44, 34))
            assert (codes[2:-2, 2:-2] != 255).all() and (codes[:2] == 255).all()
        assert src.overviews(1)
    assert seconds < 120


def test_footprint_is_exact_and_the_stretch_unchanged(tmp_path: Path) -> None:
    """A single valid pixel is found (no decimation); the sparse stretch equals the full one."""
    from lslib.inference.inputs import with_scene_stretch
    from lslib.inference.tiling.sources import open_source

    path = sparse_geotiff(tmp_path / "s.tif", 3000, [(1500, 700)])
    with rasterio.open(path, "r+") as dst:
        dst.write(np.full((3, 1, 1), 99, np.uint8), window=Window(2999, 17, 1, 1))  # one lone pixel
    da, _, _ = open_source(path, sensor="rgb", chunk=512)
    fp = footprint(path, da)
    assert fp is not None and fp.any((17, 18), (2999, 3000)) and fp.any((1500, 1530), (700, 740))
    assert not fp.any((0, 1000), (0, 600)) and fp.cells.sum() <= 4
    full = with_scene_stretch(da).attrs["norm_stats"]
    assert tiling._scene_stretch(da, fp).attrs["norm_stats"] == full
    arr = scene(hole=False)
    arr[:, :128, :128] = np.nan
    arr[0, 5, 5] = np.inf  # not finite either: no valid pixel
    fp2 = footprint(arr, arr)
    assert fp2 is not None and fp2.cells.tolist() == [[False, False, True], [False, False, True], [True, True, True]]
