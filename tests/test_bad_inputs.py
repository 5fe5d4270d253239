"""Bad inputs across the public API and the CLI: one table of cases, each checked the same way.

Every case names the exact error type, a key phrase of the message that says what to do, and runs
against a folder snapshot: whatever was on disk before the call (the case's inputs, earlier outputs)
must be byte-for-byte and mtime-for-mtime unchanged afterwards. Cases with ``error=None`` must work.

Zarr: no public lslib API reads Zarr (chips are GeoTIFF, see :mod:`lslib.data.las.chips`), so there is
no corrupt-Zarr case.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import pickle
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import torch
import xarray as xr

from lslib.data.fetch import DataNotFoundError, HashMismatchError
from lslib.data.images import ImageInputError
from lslib.data.las.chips import CorruptChipError
from lslib.data.readers.common import RasterReadError
from lslib.data.synthetic import make_scene
from lslib.mapui.aoi import AoiError
from lslib.model.image_encoder import OfflineWeightsError
from lslib.prompt_set import DuplicateNameError

REPO = Path(__file__).resolve().parents[1]


class CliError(Exception):
    """``lslib.cli.main.main`` returned exit code 2 (a user error); the message is what it printed."""


@dataclass
class Ctx:
    """What a case gets: ``work`` (watched: inputs and earlier outputs live here), ``scratch`` (not watched)."""

    work: Path
    scratch: Path
    monkeypatch: pytest.MonkeyPatch
    request: pytest.FixtureRequest
    data: dict[str, Any] = field(default_factory=dict)

    def fixture(self, name: str) -> Any:
        return self.request.getfixturevalue(name)


@dataclass(frozen=True)
class Case:
    id: str
    run: Callable[[Ctx], Any]
    error: type[BaseException] | None  # None: must succeed
    match: str = ""  # regex searched in the message (what to do)
    setup: Callable[[Ctx], None] | None = None  # writes inputs into ctx.work before the snapshot
    check: Callable[[Ctx, Any], None] | None = None  # extra assertions afterwards (result or exception)
    root_skip: bool = False  # chmod does not restrict root


# --- helpers ---------------------------------------------------------------------------------------
def snapshot(folder: Path) -> dict[str, tuple[str, int, int]]:
    """``{relative path: (sha256 or 'dir', mtime_ns, mode)}`` of everything under ``folder``."""
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        if p.is_dir():  # a folder's mtime moves when a temporary file comes and goes: compare its mode only
            out[str(p.relative_to(folder))] = ("dir", 0, st.st_mode)
        else:
            out[str(p.relative_to(folder))] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mtime_ns, st.st_mode)
    return out


def changes(before: dict[str, tuple[str, int, int]], after: dict[str, tuple[str, int, int]]) -> list[str]:
    """Entries modified or removed, and new files (new empty folders, e.g. a created ``--out``, do not count)."""
    gone_or_changed = [k for k in before if before[k] != after.get(k)]
    new_files = [k for k in after if k not in before and after[k][0] != "dir"]
    return sorted(gone_or_changed + new_files)


def cli(*args: str) -> str:
    """Run ``lslib ARGS`` in-process; CliError(stderr) on exit code 2, AssertionError on a crash/other code."""
    from lslib.cli.main import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(list(args))
    if rc == 2:
        text = err.getvalue()
        errors = [line for line in text.splitlines() if line.startswith("lslib: error:")]
        assert len(errors) == 1 and "Traceback" not in text, text  # one clear line (warnings may precede it)
        raise CliError(errors[0])
    assert rc == 0, f"exit code {rc}: {err.getvalue()}"
    return err.getvalue()


def rgb(h: int = 8, w: int = 8, crs: str | None = "EPSG:32632") -> xr.DataArray:
    """A small S2 scene with its band table (wavelengths), optionally without CRS."""
    img, _ = make_scene(height=h, width=w, seed=1)
    if crs is None:
        img = xr.DataArray(img.values, dims=img.dims, coords={"band": img["band"].values,
                                                              "wavelength": ("band", img["wavelength"].values)})
    return img


def plain(c: int = 3, h: int = 8, w: int = 8) -> xr.DataArray:
    """A georeferenced image without band metadata, as read from a plain GeoTIFF."""
    da = xr.DataArray(np.random.default_rng(0).random((c, h, w), dtype=np.float32), dims=("band", "y", "x"),
                      coords={"band": [str(i + 1) for i in range(c)], "y": 5e6 - np.arange(h) * 10.0 - 5,
                              "x": 5e5 + np.arange(w) * 10.0 + 5})
    return da.rio.write_crs("EPSG:32632")


def label(x0: float = 500_000.0, crs: str = "EPSG:32632") -> xr.DataArray:
    lab = xr.DataArray(np.full((8, 8), 10, np.uint8), dims=("y", "x"),
                       coords={"y": 5e6 - np.arange(8) * 10.0 - 5, "x": x0 + np.arange(8) * 10.0 + 5})
    return lab.rio.write_crs(crs).rio.write_nodata(0, encoded=False)


def predictor(ctx: Ctx) -> Any:
    from lslib.inference import Predictor

    return Predictor(ctx.fixture("tiny_model"), device="cpu")


def predict(ctx: Ctx, da: xr.DataArray, prompts: Any = ("water", "forest")) -> Any:
    p = predictor(ctx)
    ctx.data["predictor"] = p
    p.set_image(da)
    return p.predict(list(prompts) if not isinstance(prompts, str) else prompts)


def write_tif(path: Path, data: np.ndarray, crs: str | None = "EPSG:32632") -> Path:
    from affine import Affine

    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "width": data.shape[-1], "height": data.shape[-2], "count": data.shape[0],
               "dtype": data.dtype.name, "transform": Affine(10, 0, 5e5, 0, -10, 5e6)}
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def synthetic_chips(root: Path, n: int = 3, subset: str = "syn") -> list[Path]:
    """``n`` real chip folders (write_chip) from synthetic scenes."""
    from lslib.data.las.chips import chip_path, write_chip

    paths = []
    for i in range(n):
        img, lab = make_scene(height=32, width=32, seed=i)
        lab.attrs["nodata"] = int(lab.rio.nodata)
        ds = xr.Dataset({"image": img, "label": lab})
        ds.attrs = {"crs": "EPSG:32632", "transform": list(img.rio.transform())[:6], "subset": subset,
                    "sensor": "sentinel2_l2a", "point_id": f"p{i}", "taxonomy": "esa_worldcover", "gsd": 10.0}
        paths.append(write_chip(ds, chip_path(root, subset, f"p{i}")))
    return paths


def saved_tiny(ctx: Ctx) -> Path:
    from lslib.model.build import save_model

    return save_model(ctx.fixture("tiny_model"), ctx.work / "ckpt")


class _Payload:
    """A pickle that creates ``marker`` when unpickled: proves a loader never unpickles."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def armed_pickle(ctx: Ctx, path: Path) -> Path:
    probe = ctx.scratch / "probe-marker"
    pickle.loads(pickle.dumps(_Payload(probe)))
    assert probe.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(_Payload(ctx.scratch / "marker")))
    return path


def no_marker(ctx: Ctx, _: Any) -> None:
    assert not (ctx.scratch / "marker").exists(), "a pickle was unpickled"


def mirror_env(ctx: Ctx, mirror: Path | None) -> None:
    ctx.monkeypatch.setenv("LSLIB_CACHE_DIR", str(ctx.scratch / "cache"))
    ctx.monkeypatch.setenv("LSLIB_OFFLINE", "1")
    if mirror is None:
        ctx.monkeypatch.delenv("LSLIB_DATA_MIRROR", raising=False)
    else:
        ctx.monkeypatch.setenv("LSLIB_DATA_MIRROR", str(mirror))


SMALL_KEY = "landsat8-nlcd2011-zion/nlcd2011.tif"


def tampered_mirror(ctx: Ctx) -> None:
    real = Path(os.environ.get("LSLIB_DATA_MIRROR", REPO.parent / "shared" / "data")) / SMALL_KEY
    if not real.exists():
        pytest.skip("the real-sample mirror is missing")
    copy = ctx.work / "mirror" / SMALL_KEY
    copy.parent.mkdir(parents=True)
    data = bytearray(real.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    copy.write_bytes(bytes(data))


def enospc(*_: Any, **__: Any) -> Any:
    raise OSError(errno.ENOSPC, "No space left on device")


def no_partials(ctx: Ctx, _: Any) -> None:
    """Nothing half-written anywhere under work: no temporary files or folders."""
    leftovers = [p for p in ctx.work.rglob("*") if ".part" in p.name or ".tmp-" in p.name or p.name.endswith(".tmp")]
    assert not leftovers, leftovers


def disk_full_geotiff(ctx: Ctx) -> Any:
    from lslib.data.readers import write_geotiff

    for cls in (rasterio.io.DatasetWriter, rasterio.io.BufferedDatasetWriter):  # GTiff, COG
        ctx.monkeypatch.setattr(cls, "write", enospc)
    return write_geotiff(rgb(), ctx.work / "out.tif")


def half_then_full(self: Path, data: str, *_: Any, **__: Any) -> int:
    """``Path.write_text`` on a full disk: half the bytes land, then ENOSPC."""
    with open(self, "w", encoding="utf-8") as f:
        f.write(data[: len(data) // 2])
    raise OSError(errno.ENOSPC, "No space left on device")


def disk_full_chip(ctx: Ctx) -> Any:
    ctx.monkeypatch.setattr(Path, "write_text", half_then_full)  # meta.json, the last file of a chip
    return synthetic_chips(ctx.work / "las", n=1, subset="full")


def disk_full_state(ctx: Ctx) -> Any:
    from lslib.training.checkpoint import save_state

    model = ctx.fixture("tiny_model")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    ctx.monkeypatch.setattr("safetensors.torch.save_file", enospc)
    return save_state(ctx.work / "train" / "last", model=model, optimizer=opt, scheduler=sched,
                      progress={"step": 99}, train_config={})


def state_setup(ctx: Ctx) -> None:
    from lslib.training.checkpoint import save_state

    model = ctx.fixture("tiny_model")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    save_state(ctx.work / "train" / "last", model=model, optimizer=opt, scheduler=sched,
               progress={"step": 4}, train_config={})


def state_kept(ctx: Ctx, _: Any) -> None:
    from lslib.training.checkpoint import load_state

    model = ctx.fixture("tiny_model")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    assert load_state(ctx.work / "train" / "last", model=model, optimizer=opt, scheduler=sched)["step"] == 4
    no_partials(ctx, None)


def readonly(ctx: Ctx) -> None:
    (ctx.work / "ro").mkdir()
    (ctx.work / "ro" / "keep.txt").write_text("x")
    os.chmod(ctx.work / "ro", 0o555)


def tiny_config(ctx: Ctx, out: Path, variant: str = "tiny") -> Path:
    cfg = ctx.scratch / f"{variant}.yaml"
    cfg.write_text(f"variant: {variant}\nout: {out}\ndata: {{roots: [{ctx.work / 'las'}], batch_size: 2}}\n"
                   "optim: {max_steps: 1, warmup_steps: 1}\n")
    return cfg


def other_variant_state(ctx: Ctx) -> None:
    """A training folder whose ``last`` state is a tiny model; the config then asks for ``base``."""
    synthetic_chips(ctx.work / "las", n=4)
    state_setup(ctx)


def corrupt(path: Path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if how == "truncate" else b"II*\x00" + b"\x5a" * 300)


def two_chips_one_bad(ctx: Ctx) -> None:
    paths = synthetic_chips(ctx.work / "las", n=3)
    corrupt(paths[1] / "image.tif", "garbage")


def dataset_skips_bad_chip(ctx: Ctx) -> Any:
    from lslib.training.dataset import LASDataset

    with pytest.warns(UserWarning, match=r"skipping LAS chip .*p1"):
        ds = LASDataset(roots=ctx.work / "las")
    return ds


def ok_dataset(ctx: Ctx, ds: Any) -> None:
    assert len(ds) == 2 and [p.name for p, _ in ds.skipped] == ["p1"]
    assert ds[0]["image"].shape[-2:] == (32, 32)


def success_1px(ctx: Ctx, pred: Any) -> None:
    assert pred.class_map.shape == (1, 1) and pred.class_map.rio.crs is not None
    assert int(pred.class_map.values[0, 0]) in (-1, 0, 1)
    assert 0.0 <= float(pred.confidence.values[0, 0]) <= 1.0


def success_nonsquare(ctx: Ctx, pred: Any) -> None:
    assert pred.class_map.shape == (13, 70)
    assert set(np.unique(pred.class_map.values)) <= {-1, 0, 1}


def success_nocrs(ctx: Ctx, pred: Any) -> None:
    assert pred.class_map.shape == (16, 16) and pred.class_map.rio.crs is None
    area = pred.areas()[0]
    assert np.isnan(area["hectares"]) and area["pixels"] + pred.areas()[-1]["pixels"] <= 256  # no made-up area


def no_text_encoded(ctx: Ctx, _: Any) -> None:
    assert ctx.data["predictor"].stats["text_encodes"] == 0


def nodata_only(ctx: Ctx) -> Any:
    da = rgb()
    return predict(ctx, da.copy(data=np.zeros_like(da.values)).rio.write_nodata(0, encoded=False))


def pickle_named_safetensors(ctx: Ctx) -> None:
    ck = saved_tiny(ctx)
    (ck / "model.safetensors").unlink()
    armed_pickle(ctx, ck / "model.safetensors")


def ckpt_truncated(ctx: Ctx) -> None:
    ck = saved_tiny(ctx)
    corrupt(ck / "model.safetensors", "truncate")


# --- thin wrappers (imports inside: a failing import is a failure of that case only) -------------------
def _read_label(path: Path) -> Any:
    from lslib.data.readers import read_label

    return read_label(path)


def _read_geotiff(path: Path) -> Any:
    from lslib.data.readers import read_geotiff

    return read_geotiff(path).load()


def _read_s2(path: Path) -> Any:
    from lslib.data.readers import read_sentinel2

    return read_sentinel2(path).load()


def _reproject(lab: xr.DataArray, like: xr.DataArray) -> Any:
    from lslib.data.readers import reproject_label

    return reproject_label(lab, like)


def _write(da: xr.DataArray, path: Path) -> Any:
    from lslib.data.readers import write_geotiff

    return write_geotiff(da, path)


def _assign(da: xr.DataArray, **kw: Any) -> Any:
    from lslib.inference import assign_bands

    return assign_bands(da, **kw)


def _tensor(da: xr.DataArray) -> Any:
    from lslib.inference import image_tensor

    return image_tensor(da)


def _waves(sensor: str, names: Any) -> Any:
    from lslib.data.bands import wavelengths

    return wavelengths(sensor, names)


def _names(names: list[str]) -> Any:
    from lslib.prompt_set import from_names

    return from_names(names)


def _load_prompts(path: Path) -> Any:
    from lslib.prompt_set import load

    return load(path)


def _from_tax(key: str) -> Any:
    from lslib.prompt_set import from_taxonomy

    return from_taxonomy(key)


def _remap(a: np.ndarray, src: str, dst: str) -> Any:
    from lslib.taxonomy import remap

    return remap(a, src, dst)


def _read_chip(path: Path) -> Any:
    from lslib.data.las.chips import read_chip

    return read_chip(path)


def _dataset(root: Path) -> Any:
    from lslib.training.dataset import LASDataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LASDataset(roots=root)


def _fetch(key: str) -> Any:
    from lslib.data.fetch import fetch

    return fetch(key)


def _not_cached(ctx: Ctx) -> None:
    assert not (ctx.scratch / "cache" / SMALL_KEY).exists(), "a rejected file reached the cache"


def _hub_offline(ctx: Ctx) -> Any:
    from lslib.model.build import build_model

    ctx.monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ctx.monkeypatch.setenv("HF_HOME", str(ctx.scratch / "hf"))  # an empty hub cache
    return build_model("base", pretrained_backbone=True)


def _build(variant: str, ckpt: Path) -> Any:
    from lslib.model.build import build_model

    return build_model(variant, checkpoint=ckpt)


def _load_model(path: Path) -> Any:
    from lslib.model.build import load_model

    return load_model(path)


def _no_chip(ctx: Ctx) -> None:
    from lslib.data.las.chips import list_chips

    assert not list_chips(ctx.work / "las"), "a chip without meta.json is listed as complete"


def evaluate_setup(ctx: Ctx) -> None:
    synthetic_chips(ctx.work / "las", n=1)
    saved_tiny(ctx)
    (ctx.work / "metrics.json").write_text('{"miou": 0.5}')  # an earlier result


def _cli_disk_full(ctx: Ctx) -> Any:
    ctx.monkeypatch.setattr(Path, "write_text", half_then_full)
    return cli("evaluate", "--checkpoint", str(ctx.work / "ckpt"), "--data", str(ctx.work / "las"), "--split", "all",
               "--limit", "1", "--out", str(ctx.work / "metrics.json"))


CASES: list[Case] = [
    # --- CRS --------------------------------------------------------------------------------------
    Case("read_label: GeoTIFF without CRS", lambda c: _read_label(c.work / "nocrs.tif"), ValueError,
         r"has no CRS.*write_crs",
         setup=lambda c: write_tif(c.work / "nocrs.tif", np.ones((1, 4, 4), np.uint8), None)),
    Case("read_geotiff: GeoTIFF without CRS", lambda c: _read_geotiff(c.work / "nocrs.tif"), ValueError,
         r"has no CRS.*write_crs",
         setup=lambda c: write_tif(c.work / "nocrs.tif", np.ones((2, 4, 4), np.float32), None)),
    Case("reproject_label: label without CRS",
         lambda c: _reproject(xr.DataArray(label().values, dims=("y", "x")), rgb()), ValueError,
         r"the label has no CRS.*write_crs"),
    Case("reproject_label: CRS mismatch (label lands elsewhere)", lambda c: _reproject(label(crs="EPSG:32633"), rgb()),
         ValueError, r"does not overlap.*check that both CRSs are right"),
    Case("write_geotiff: no CRS", lambda c: _write(xr.DataArray(np.zeros((2, 2), np.float32), dims=("y", "x")),
                                                   c.work / "x.tif"), ValueError, r"no CRS.*write_crs"),
    Case("Predictor: image without CRS works, areas not invented", lambda c: predict(c, rgb(16, 16, crs=None)), None,
         check=success_nocrs),
    # --- bands / wavelengths / dtype ----------------------------------------------------------------
    Case("assign_bands: unknown band name", lambda c: _assign(plain(), bands="red,green,purple"), ValueError,
         r"unknown band 'purple'.*give band names such as"),
    Case("assign_bands: a band missing", lambda c: _assign(plain(), bands="red,green"), ValueError,
         r"3 bands but 2 were named.*name every band"),
    Case("assign_bands: band duplicated", lambda c: _assign(plain(), bands="red,red,blue"), ValueError,
         r"band names repeat.*named once"),
    Case("assign_bands: unknown sensor", lambda c: _assign(plain(), sensor="sentinel9"), ValueError,
         r"unknown sensor 'sentinel9'; choose one of"),
    Case("assign_bands: wavelength out of range", lambda c: _assign(plain(), bands=[0.665, 0.56, 0.0001]), ValueError,
         r"out of range: give central wavelengths in µm"),
    Case("bands.wavelengths: unknown band", lambda c: _waves("sentinel2_l2a", ["B99"]), ValueError,
         r"has no band 'B99'; valid bands: B01"),
    Case("bands.wavelengths: a string, not a list", lambda c: _waves("sentinel2_l2a", "B04"), TypeError,
         r"sequence of band names"),
    Case("image_tensor: wavelengths missing", lambda c: _tensor(plain()), ValueError,
         r"no 'wavelength' coordinate.*assign_bands"),
    Case("image_tensor: one wavelength NaN", lambda c: _tensor(rgb().assign_coords(
        wavelength=("band", [np.nan, *rgb()["wavelength"].values[1:]]))), ValueError,
         r"bands \['B01'\] have no wavelength: set them with assign_bands"),
    Case("image_tensor: duplicated band", lambda c: _tensor(xr.concat([rgb(), rgb().isel(band=[0])], "band")),
         ValueError, r"band names repeat.*drop_duplicates"),
    Case("image_tensor: non-numeric dtype", lambda c: _tensor(rgb().astype(str)), TypeError, r"is not numeric"),
    Case("Predictor: plain GeoTIFF without band metadata", lambda c: predict(c, _read_geotiff(c.work / "plain.tif")),
         ValueError, r"have no wavelength: set them with assign_bands",
         setup=lambda c: write_tif(c.work / "plain.tif", np.ones((3, 8, 8), np.float32))),
    # --- pixel values and sizes ---------------------------------------------------------------------
    Case("Predictor: all NaN", lambda c: predict(c, rgb() * np.nan), ValueError, r"no valid pixel.*nodata value"),
    Case("Predictor: all inf", lambda c: predict(c, rgb() * np.inf), ValueError, r"no valid pixel.*nodata value"),
    Case("Predictor: nodata only", nodata_only, ValueError, r"no valid pixel.*nodata value"),
    Case("Predictor: zero-size raster", lambda c: predict(c, rgb().isel(x=slice(0, 0))), ValueError,
         r"empty image"),
    Case("Predictor: 1-pixel raster works", lambda c: predict(c, rgb(1, 1)), None, check=success_1px),
    Case("Predictor: non-square raster works", lambda c: predict(c, rgb(13, 70)), None, check=success_nonsquare),
    # --- prompt sets and taxonomies -------------------------------------------------------------------
    Case("prompts: empty", lambda c: _names([]), ValueError, r"no classes; add at least one"),
    Case("prompts: blank name", lambda c: _names(["water", "   "]), ValueError, r"empty name; type a class name"),
    Case("prompts: duplicate after normalisation", lambda c: _names(["Built-up", "built up"]), DuplicateNameError,
         r"duplicates 'Built-up'.*must be distinct ignoring case"),
    Case("prompts: 500 classes", lambda c: _names([f"class {i}" for i in range(500)]), ValueError,
         r"500 classes is too many \(at most 200\); split the set"),
    Case("Predictor: 500 prompts refused before any encoding",
         lambda c: predict(c, rgb(), [f"class {i}" for i in range(500)]), ValueError, r"too many.*split the set",
         check=no_text_encoded),
    Case("prompt_set.load: broken YAML file", lambda c: _load_prompts(c.work / "p.yaml"), ValueError,
         r"is not valid YAML", setup=lambda c: (c.work / "p.yaml").write_text("classes: [water, {name: forest\n")),
    Case("prompt_set.load: unknown key", lambda c: _load_prompts(c.work / "p.yaml"), ValueError,
         r"unknown key\(s\) \['colr'\]; valid:",
         setup=lambda c: (c.work / "p.yaml").write_text("classes:\n  - {name: water, colr: '#0000ff'}\n")),
    Case("prompt_set.from_taxonomy: unknown taxonomy", lambda c: _from_tax("worldcover"), ValueError,
         r"unknown taxonomy 'worldcover'.*Valid keys:"),
    Case("taxonomy.remap: unknown taxonomy", lambda c: _remap(np.zeros(3, np.uint8), "nlcd", "corine"), ValueError,
         r"unknown taxonomy 'corine'.*Valid keys:"),
    # --- corrupt files ------------------------------------------------------------------------------
    Case("read_label: corrupt GeoTIFF", lambda c: _read_label(c.work / "bad.tif"), RasterReadError,
         r"damaged or incomplete.*fetch or export it again",
         setup=lambda c: (c.work / "bad.tif").write_bytes(b"II*\x00" + b"\x5a" * 300)),
    Case("read_sentinel2: corrupt JP2 band", lambda c: _read_s2(c.work / "s2"), RasterReadError,
         r"damaged or incomplete.*fetch or export it again",
         setup=lambda c: (c.work / "s2").mkdir() or (c.work / "s2" / "T29UNU_20220101T000000_B04_10m.jp2")
         .write_bytes(b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"x" * 200)),
    Case("read_chip: corrupt image.tif", lambda c: _read_chip(c.work / "las" / "syn" / "chips" / "p0"),
         CorruptChipError, r"damaged.*run `lslib las build` again",
         setup=lambda c: corrupt(synthetic_chips(c.work / "las", n=1)[0] / "image.tif", "garbage")),
    Case("read_chip: truncated label.tif", lambda c: _read_chip(c.work / "las" / "syn" / "chips" / "p0"),
         CorruptChipError, r"damaged.*run `lslib las build` again",
         setup=lambda c: corrupt(synthetic_chips(c.work / "las", n=1)[0] / "label.tif", "truncate")),
    Case("read_chip: folder without meta.json is not a chip",
         lambda c: _read_chip(c.work / "las" / "syn" / "chips" / "p9"), FileNotFoundError,
         r"no chip at .*expected image.tif, label.tif, meta.json",
         setup=lambda c: (c.work / "las" / "syn" / "chips" / "p9").mkdir(parents=True)),
    Case("LASDataset: a corrupt chip is skipped with a warning", dataset_skips_bad_chip, None,
         setup=two_chips_one_bad, check=ok_dataset),
    Case("LASDataset: every chip corrupt", lambda c: _dataset(c.work / "las"), ValueError,
         r"none of the 2 chip folders .* is readable",
         setup=lambda c: [corrupt(p / "label.tif", "garbage") for p in synthetic_chips(c.work / "las", n=2)]),
    # --- data fetch ---------------------------------------------------------------------------------
    Case("fetch: mirror copy with a wrong hash", lambda c: (mirror_env(c, c.work / "mirror"), _fetch(SMALL_KEY))[1],
         HashMismatchError, r"Rejected \(hash mismatch\).*To fix: set LSLIB_DATA_MIRROR", setup=tampered_mirror,
         check=lambda c, _: _not_cached(c)),
    Case("fetch: mirror missing, offline", lambda c: (mirror_env(c, c.work / "no-mirror"), _fetch(SMALL_KEY))[1],
         DataNotFoundError, r"offline .*To fix: set LSLIB_DATA_MIRROR", check=lambda c, _: _not_cached(c)),
    Case("CLI data fetch: no mirror, offline", lambda c: (mirror_env(c, None), cli("data", "fetch", "--offline", "-q",
                                                                                   SMALL_KEY))[1],
         CliError, r"LSLIB_DATA_MIRROR unset.*To fix: set LSLIB_DATA_MIRROR"),
    # --- model weights and checkpoints --------------------------------------------------------------
    Case("hub weights requested offline", lambda c: _hub_offline(c), OfflineWeightsError,
         r"not available here .*HF_HUB_OFFLINE.*pretrained_backbone=False"),
    Case("checkpoint of another variant", lambda c: _build("base", c.work / "ckpt"), ValueError,
         r"is a 'tiny' model, not 'base'", setup=lambda c: saved_tiny(c) and None),
    Case("truncated checkpoint", lambda c: _load_model(c.work / "ckpt"), ValueError, r"truncated or corrupt",
         setup=ckpt_truncated),
    Case("pickle offered as a checkpoint (.pt)", lambda c: _load_model(c.work / "evil.pt"), ValueError,
         r"never unpickles.*Convert it to safetensors", setup=lambda c: armed_pickle(c, c.work / "evil.pt") and None,
         check=no_marker),
    Case("pickle disguised as model.safetensors", lambda c: _load_model(c.work / "ckpt"), ValueError,
         r"cannot be read \(truncated or corrupt\?\)", setup=pickle_named_safetensors, check=no_marker),
    Case("CLI evaluate: pickle checkpoint", lambda c: cli("evaluate", "--checkpoint", str(c.work / "evil.pth"),
                                                          "--data", str(c.work)),
         CliError, r"never unpickles", setup=lambda c: armed_pickle(c, c.work / "evil.pth") and None,
         check=no_marker),
    # --- outputs: existing, read-only, disk full ----------------------------------------------------
    Case("write_chip: chip exists already", lambda c: synthetic_chips(c.work / "las", n=1), FileExistsError,
         r"exists already; delete it to rebuild", setup=lambda c: synthetic_chips(c.work / "las", n=1) and None),
    Case("CLI las build: --out is a file", lambda c: cli("las", "build", "--subset", "mini-zion-landsat-nlcd",
                                                         "--out", str(c.work / "out"), "--workers", "0", "-q"),
         CliError, r"a file is in the way.*choose another --out", setup=lambda c: (c.work / "out").write_text("x")),
    Case("CLI train: --out is a file", lambda c: cli("train", "--config", str(REPO / "configs/train/tiny.yaml"),
                                                     "--out", str(c.work / "out"), "-q"),
         CliError, r"a file is in the way.*choose another --out", setup=lambda c: (c.work / "out").write_text("x")),
    Case("CLI train: --out holds another variant's run",
         lambda c: cli("train", "--config", str(tiny_config(c, c.work / "train", "base")), "-q"), CliError,
         r"for variant 'tiny'.*use another output folder", setup=other_variant_state),
    Case("write_geotiff: read-only folder", lambda c: _write(rgb(), c.work / "ro" / "x.tif"), PermissionError,
         r"Permission denied", setup=readonly, root_skip=True),
    Case("CLI train: read-only --out", lambda c: cli("train", "--config", str(tiny_config(c, c.work / "ro" / "t")),
                                                     "-q"),
         CliError, r"no permission to write there: choose a folder", setup=readonly, root_skip=True),
    Case("disk full: write_geotiff", disk_full_geotiff, OSError, r"No space left", check=no_partials),
    Case("disk full: write_chip", disk_full_chip, OSError, r"No space left",
         check=lambda c, _: (no_partials(c, _), _no_chip(c))),
    Case("disk full: training state keeps the previous one", disk_full_state, OSError, r"No space left",
         setup=state_setup, check=state_kept),
    Case("CLI evaluate --out: disk full says what to do, keeps the old file", _cli_disk_full, CliError,
         r"the disk is full: free some space or write to another disk", setup=evaluate_setup, check=no_partials),
    # --- added once the map UI and ``lslib predict`` existed ------------------------------------------
    Case("map UI: huge raster refused before any pixel is read", lambda c: _huge_aoi(), AoiError,
         r"more than max_pixels=2,000,000 .*lslib predict"),
    Case("CLI predict: --out holds a different map", lambda c: _predict(c, "water, cropland"), CliError,
         r"already holds a map .*pass --overwrite .*or choose another --out",
         setup=lambda c: _predict(c, "water, forest") and None),
]


def _huge_aoi() -> Any:
    """A 100 000 x 100 000 px raster (lazy: 40 GB if read) through the map UI's AOI guard."""
    import dask.array

    from lslib.mapui.aoi import clip_bounds

    n = 100_000
    da = xr.DataArray(dask.array.zeros((3, n, n), dtype=np.float32, chunks=(3, 4096, 4096)), dims=("band", "y", "x"),
                      coords={"y": 5e6 - np.arange(n) * 10.0 - 5, "x": 5e5 + np.arange(n) * 10.0 + 5})
    da = da.rio.write_crs("EPSG:32632")
    return clip_bounds(da, da.rio.bounds(), max_pixels=2_000_000)


def _predict(ctx: Ctx, prompts: str) -> Any:
    from lslib.data.readers import write_geotiff

    image = ctx.scratch / "image.tif"
    if not image.exists():
        write_geotiff(make_scene(height=40, width=40)[0], image)
    return cli("predict", "--image", str(image), "--prompts", prompts, "--out", str(ctx.work / "map"), "--variant",
               "tiny", "--tile", "64", "--overlap", "8", "-q")




# --- one image-input contract (issue 12 §1): every door refuses the same bad image the same way ----------------
FOUR = ["red", "green", "blue", "nir"]


def _described_tif(path: Path, data: np.ndarray, descriptions: list[str] | None = None) -> Path:
    write_tif(path, data)
    if descriptions:
        with rasterio.open(path, "r+") as dst:
            for i, d in enumerate(descriptions):
                dst.set_band_description(i + 1, d)
    return path


def _bright_uint16(ctx: Ctx) -> None:
    data = np.full((4, 16, 16), 40000, np.uint16)
    data[:, ::2] = 52000
    _described_tif(ctx.work / "dn.tif", data, FOUR)


def _float_450(ctx: Ctx) -> None:
    _described_tif(ctx.work / "f450.tif", np.full((4, 16, 16), 450, np.float32), FOUR)


def _linear_sar(ctx: Ctx) -> None:
    lin = np.random.default_rng(0).uniform(0.001, 0.4, (2, 16, 16)).astype(np.float32)
    _described_tif(ctx.work / "s1.tif", lin, ["VV", "VH"])


def _landsat6(ctx: Ctx, names: list[str] | None = None) -> None:
    refl = np.random.default_rng(0).uniform(0.02, 0.4, (6, 16, 16))
    _described_tif(ctx.work / "lc08.tif", np.round((refl + 0.2) / 2.75e-5).astype(np.uint16), names)


def _s2_dn(ctx: Ctx) -> None:
    dn = np.random.default_rng(0).integers(200, 4000, (4, 16, 16)).astype(np.uint16)
    _described_tif(ctx.work / "s2dn.tif", dn, FOUR)


def _open(path: Path, **kw: Any) -> Any:
    from lslib.data import open_image

    return open_image(path, **kw)


def _map_ui(path: Path, **kw: Any) -> Any:
    from lslib.mapui.imagery import load_image

    return load_image(path, **kw)


def _tiling(path: Path, **kw: Any) -> Any:
    from lslib.inference.tiling.sources import open_source

    return open_source(path, **kw)


def _cli_map(ctx: Ctx, image: Path, *flags: str) -> Any:
    return cli("predict", "--image", str(image), "--prompts", "water, forest", "--out", str(ctx.scratch / "map"),
               "--variant", "tiny", "--tile", "64", "--overlap", "8", "-q", *flags)


def _dn_array_to_predictor(ctx: Ctx) -> Any:
    from lslib.inference import assign_bands

    dn = plain(4, 16, 16).copy(data=np.full((4, 16, 16), 9800, np.uint16))
    return predict(ctx, assign_bands(dn, sensor="naip"))


def _mapped(ctx: Ctx, _: Any) -> None:
    assert (ctx.scratch / "map" / "class_map.tif").exists()


_DN = r"uint16 values up to 52000 .*not reflectance.*--scale S \[--offset O\].*--sensor"
CASES.extend([
    Case("open_image: uint16 DN, no hint, implausible", lambda c: _open(c.work / "dn.tif"), ImageInputError, _DN,
         setup=_bright_uint16),
    Case("open_source (CLI): uint16 DN, no hint, implausible", lambda c: _tiling(c.work / "dn.tif"), ImageInputError,
         _DN, setup=_bright_uint16),
    Case("map UI load_image: uint16 DN, no hint, implausible", lambda c: _map_ui(c.work / "dn.tif"), ImageInputError,
         _DN, setup=_bright_uint16),
    Case("CLI predict: uint16 DN, no hint, implausible", lambda c: _cli_map(c, c.work / "dn.tif"), CliError, _DN,
         setup=_bright_uint16),
    Case("Predictor: uint16 DN named with assign_bands only", _dn_array_to_predictor, ImageInputError,
         r"up to 9800 .*stored as uint16.*lslib.data.open_image"),
    Case("open_image: float reflectance of 450", lambda c: _open(c.work / "f450.tif"), ImageInputError,
         r"values up to 450 .*not reflectance.*integer DN.*--scale 1e-4", setup=_float_450),
    Case("CLI predict: float reflectance of 450", lambda c: _cli_map(c, c.work / "f450.tif"), CliError,
         r"values up to 450 .*not reflectance.*--scale 1e-4", setup=_float_450),
    Case("map UI load_image: linear SAR", lambda c: _map_ui(c.work / "s1.tif"), ImageInputError,
         r"linear power.*10 \* log10", setup=_linear_sar),
    Case("CLI predict: linear SAR", lambda c: _cli_map(c, c.work / "s1.tif"), CliError,
         r"linear power.*10 \* log10", setup=_linear_sar),
    Case("CLI predict: --sensor landsat8 on 6 unnamed bands", lambda c: _cli_map(c, c.work / "lc08.tif", "--sensor",
                                                                                 "landsat8"),
         CliError, r"6 bands but sensor 'landsat8' has 7 .*--bands blue,green,red,nir,swir16,swir22",
         setup=_landsat6),
    Case("map UI load_image: 3 --bands for 4 bands", lambda c: _map_ui(c.work / "dn.tif", bands="red,green,blue"),
         ValueError, r"4 bands but 3 were named.*--bands", setup=_bright_uint16),
    Case("CLI predict: uint16 DN with --scale 1e-4 works", lambda c: _cli_map(c, c.work / "s2dn.tif", "--scale",
                                                                              "1e-4"),
         None, setup=_s2_dn, check=_mapped),
    Case("CLI predict: Landsat C2 stack named blue..swir22 with --sensor landsat8 works",
         lambda c: _cli_map(c, c.work / "lc08.tif", "--sensor", "landsat8"), None,
         setup=lambda c: _landsat6(c, ["blue", "green", "red", "nir", "swir16", "swir22"]), check=_mapped),
])  # fmt: skip

@pytest.fixture(scope="module")
def tiny_model() -> torch.nn.Module:
    from lslib.model.build import build_model

    torch.manual_seed(0)
    return build_model("tiny").eval()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    if case.root_skip and os.geteuid() == 0:
        pytest.skip("running as root: chmod 0o555 does not stop root from writing, so read-only cannot be tested")
    ctx = Ctx(work=tmp_path / "work", scratch=tmp_path / "scratch", monkeypatch=monkeypatch, request=request)
    ctx.work.mkdir()
    ctx.scratch.mkdir()
    if case.setup:
        case.setup(ctx)
    before = snapshot(ctx.work)
    try:
        if case.error is None:
            result: Any = case.run(ctx)
        else:
            with pytest.raises(case.error) as info:
                case.run(ctx)
            assert type(info.value) is case.error, f"{type(info.value).__name__} is a subclass, not {case.error}"
            message = str(info.value)
            assert re.search(case.match, message, re.S), f"message does not say {case.match!r}: {message}"
            result = info.value
        after = snapshot(ctx.work)
        changed = changes(before, after)
        assert not changed, f"files changed by a failed/guarded call: {sorted(changed)}"
        if case.check:
            case.check(ctx, result)
    finally:
        monkeypatch.undo()
        for p in [ctx.work / "ro"]:
            if p.exists():
                os.chmod(p, 0o755)


def test_the_matrix_is_large_enough() -> None:
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)


def test_json_is_unchanged_by_a_failed_cli(tmp_path: Path) -> None:
    """A failing CLI call does not clobber an existing metrics file (the ``--out`` of evaluate)."""
    out = tmp_path / "metrics.json"
    out.write_text(json.dumps({"miou": 0.5}))
    before = snapshot(tmp_path)
    with pytest.raises(CliError, match="no lslib checkpoint"):
        cli("evaluate", "--checkpoint", str(tmp_path / "none"), "--data", str(tmp_path), "--out", str(out))
    assert snapshot(tmp_path) == before
