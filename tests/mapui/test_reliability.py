"""Reliability of the map app's loaders and export, and of the one image contract across every door.

* Size guard from the header: a 40 000² GeoTIFF (tiled, deflate, mostly nodata: small on disk) gives a map app
  whose peak RSS grows by less than 200 MB (a subprocess, measured with ``resource.getrusage``); a 200 000²
  header-only file is refused with a clear error, never a ``MemoryError``.
* The same integer image (uint8 and uint16 GeoTIFF, 16-bit PNG, from a real mirror chip) gives the same class map
  through ``lslib predict``, :func:`~lslib.inference.tiling.large_area.map_large_area`, the Predictor and ``MapApp``.
* ``MapApp.export`` never takes over another run's folder unless ``overwrite=True``; its files follow the umask.
* The loaders' bad inputs (RGBA, multi-page TIFF, non-UTF-8 names and metadata, link loops) name the file and
  give advice that works (each piece of advice is followed here).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.transform import from_origin
from rasterio.windows import Window

from lslib.data import ImageInputError, open_image
from lslib.data.images import ImageHeader, ImageTooLargeError, image_header

pytest.importorskip("ipyleaflet")

from imagefiles import CHIP, PROMPTS, SIZE, cli_map, write_raw

REPO = Path(__file__).resolve().parents[2]
BANDS4 = ["blue", "green", "red", "nir"]


# --- fixtures ---------------------------------------------------------------------------------------------------


def sparse_tif(path: Path, side: int, patch: int = 0) -> Path:
    """A ``side``² x 4-band uint16 GeoTIFF (tiled 512, deflate, scale tags 1e-4, nodata 0) with only a ``patch``²
    block of smooth reflectance-like values in its centre: the rest has no block on disk."""
    profile = dict(driver="GTiff", width=side, height=side, count=4, dtype="uint16", nodata=0, tiled=True,
                   blockxsize=512, blockysize=512, compress="deflate", sparse_ok=True, crs="EPSG:32722",
                   transform=from_origin(700000, 7200000, 10, 10))  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        if patch:
            yy, xx = np.mgrid[0:patch, 0:patch]
            base = 400 + 1500 * ((xx // 64 + yy // 64) % 3) + (xx + yy) % 97
            data = np.stack([base + 100 * b for b in range(4)]).astype(np.uint16)
            dst.write(data, window=Window(side // 2 - patch // 2, side // 2 - patch // 2, patch, patch))
        for i, name in enumerate(BANDS4):
            dst.set_band_description(i + 1, name)
        dst.scales = (1e-4,) * 4
    return path


@pytest.fixture(scope="module")
def chip(sample) -> xr.DataArray:  # type: ignore[no-untyped-def]
    """Reflectance (12, 48, 48) of the real TerraMesh chip, with its CRS and transform (as in test_data_images)."""
    from lslib.data.readers import read_sentinel2

    return read_sentinel2(sample(CHIP)).isel(y=slice(0, SIZE), x=slice(0, SIZE)).load()


@pytest.fixture(scope="module")
def predictor():  # type: ignore[no-untyped-def]
    from lslib.inference import Predictor
    from lslib.model.build import build_model

    return Predictor(build_model("tiny"), device="cpu")


@pytest.fixture(scope="module")
def huge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 000 x 200 000 x 4 uint16, no pixel block written (about 1 MB of header)."""
    return sparse_tif(tmp_path_factory.mktemp("huge") / "huge.tif", 200_000)


# --- the size guard reads headers, not pixels ---------------------------------------------------------------------

_MEASURE = r"""
import json, resource, sys, warnings
import numpy as np, psutil, rasterio
warnings.simplefilter("ignore")
from lslib.inference import Predictor
from lslib.model.build import build_model
from lslib.mapui import MapApp

big, warm = sys.argv[1], sys.argv[2]
# a regression reads the whole raster (12.8 GB raw): fail fast with MemoryError, never swap the machine
vm = psutil.Process().memory_info().vms
resource.setrlimit(resource.RLIMIT_AS, (vm + (6 << 30), vm + (6 << 30)))

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB (Linux: KiB)

def aoi(path, side=256):
    with rasterio.open(path) as src:
        t, c = src.transform, src.height // 2 + 64
    (x0, y0), (x1, y1) = t * (c, c), t * (c + side, c + side)
    return (x0, y1, x1, y0)

predictor = Predictor(build_model("tiny"), device="cpu")
first = MapApp(image=warm, predictor=predictor, prompts="water, forest", max_pixels=1_000_000, aoi=aoi(warm))
first.run()  # warm: imports, the lazy path and one encode, as a session would have before opening a big file
assert first.error is None, first.error
del first
before = peak()
app = MapApp(image=big, predictor=predictor, prompts="water, forest", max_pixels=1_000_000)
built = peak()
app.run()  # the whole image as AOI: refused with the size message, shown in the status line
refused = app.error or ""
ok = app.set_aoi(aoi(big))
print(json.dumps({"before": before, "built": built - before, "after_aoi": peak() - before, "refused": refused,
                  "aoi_ok": ok, "aoi_shape": list(app.aoi.shape), "lazy": app.image.chunks is not None,
                  "valid": float(np.isfinite(app.aoi.values).mean()), "error": app.error}))
"""


def test_big_sparse_file_reads_only_its_header_preview_and_aoi(tmp_path: Path) -> None:
    """40 000² x 4 bands (12.8 GB of uint16 if read; before the fix MapApp raised MemoryError after +440 MB,
    and a 6 000² file cost +2.1 GB): the map app builds, refuses the whole image as AOI and maps a drawn AOI."""
    big = sparse_tif(tmp_path / "big.tif", 40_000, patch=1024)
    warm = sparse_tif(tmp_path / "warm.tif", 1_500, patch=1024)
    assert big.stat().st_size < 20 << 20
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    run = subprocess.run([sys.executable, "-c", _MEASURE, str(big), str(warm)], capture_output=True, text=True,
                         env=env, cwd=REPO, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["lazy"] and got["aoi_ok"] and got["error"] is None, got
    assert "40,000 x 40,000" in got["refused"] and "max_pixels" in got["refused"] and "lslib predict" in got["refused"]
    assert got["aoi_shape"] == [4, 256, 256] and got["valid"] == 1.0
    grew = f"peak RSS grew by {got['built']:.0f} MB (built) / {got['after_aoi']:.0f} MB (AOI mapped)"
    assert got["built"] < 200 and got["after_aoi"] < 200, grew


def test_header_only_giant_is_refused_clearly(huge: Path, predictor) -> None:  # type: ignore[no-untyped-def]
    from lslib.mapui import MapApp
    from lslib.mapui.imagery import load_image

    header = image_header(huge)
    assert header is not None and (header.height, header.width, header.count) == (200_000, 200_000, 4)
    with pytest.raises(ImageTooLargeError, match=r"200,000 x 200,000 px x 4 bands .*no overviews.*rio overview"):
        MapApp(image=huge, predictor=predictor)
    for door in (open_image, load_image):  # an eager read: refused from the header, before any pixel
        with pytest.raises(ImageTooLargeError, match=r"reading it into memory takes about 1,6\d\d\.\d GiB.*chunks="):
            door(huge)


def test_overviews_make_a_giant_previewable() -> None:
    header = ImageHeader(Path("x.tif"), 4, 200_000, 200_000, "uint16", (2, 4, 8, 16, 32, 64, 128, 256, 512))
    assert header.decoded_values(1024) == 1563 * 1563 * 4  # the 128x overview: 1 563² per band
    assert ImageHeader(Path("x.tif"), 4, 200_000, 200_000, "uint16", ()).decoded_values(1024) == 4 * 200_000**2


def test_lazy_scene_stretch_and_aoi_match_the_eager_image(chip: xr.DataArray, tmp_path: Path, predictor) -> None:  # type: ignore[no-untyped-def]
    """An image above max_pixels is lazy with a preview-based stretch close to ``lslib predict``'s; an image below
    it is read as before (same array, same stretch)."""
    from lslib.inference import with_scene_stretch
    from lslib.mapui import MapApp

    dn = np.tile(np.round(np.nan_to_num(chip.values) * 1e4).astype(np.uint16), (1, 24, 24))  # 1152², 12 bands
    path = write_raw(tmp_path / "tiled.tif", dn, chip, descriptions=list(chip["band"].values), scales=1e-4)
    small = MapApp(image=path, predictor=predictor, prompts=PROMPTS)  # 1.3 Mpx <= max_pixels: read whole
    eager = with_scene_stretch(open_image(path))
    assert small.image.chunks is None and small._preview is None
    assert small.image.attrs["norm_stats"] == eager.attrs["norm_stats"]
    lazy = MapApp(image=path, predictor=predictor, prompts=PROMPTS, max_pixels=100_000)
    assert lazy.image.chunks is not None and lazy._preview is not None and lazy._preview.sizes["x"] == 576
    cli = with_scene_stretch(open_image(path, chunks=512))  # what lslib predict uses
    np.testing.assert_allclose(lazy.image.attrs["norm_stats"], cli.attrs["norm_stats"], rtol=0.05, atol=2e-3)
    x0, y1 = chip.rio.transform() * (0, 0)
    box = (x0, y1 - 200 * 10, x0 + 200 * 10, y1)  # 200 x 200 px from the corner
    assert lazy.set_aoi(box) and small.set_aoi(box)
    np.testing.assert_array_equal(lazy.aoi.values, small.aoi.values)
    agree = float(np.mean(lazy.prediction.class_map.values == small.prediction.class_map.values))
    assert agree >= 0.99, agree


# --- one integer image, one map, every door ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def integer_inputs(chip: xr.DataArray, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    """uint8 (display) and uint16 (reflectance x 10 000, ``--scale 1e-4``) GeoTIFFs and a 16-bit PNG without
    georeferencing (``--bands red,green,blue --scale 1e-4``), from the real chip."""
    root = tmp_path_factory.mktemp("int")
    rgbn = chip.sel(band=["B04", "B03", "B02", "B08"])
    refl = np.nan_to_num(rgbn.values, nan=0.0)
    lo, hi = np.percentile(refl, [2, 98])
    u8 = np.round(np.clip((refl - lo) / (hi - lo), 0, 1) * 254 + 1).astype(np.uint8)
    u16 = np.round(refl * 1e4).astype(np.uint16)
    names = ["red", "green", "blue", "nir"]
    png = root / "rgb16.png"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(png, "w", driver="PNG", width=u16.shape[2], height=u16.shape[1], count=3,
                           dtype="uint16") as dst:  # fmt: skip
            dst.write(u16[:3])
    return {
        "uint8": (write_raw(root / "u8.tif", u8, rgbn, descriptions=names), {}),
        "uint16": (write_raw(root / "u16.tif", u16, rgbn, descriptions=names), {"scale": 1e-4}),
        "png16": (png, {"bands": "red,green,blue", "scale": 1e-4}),
    }


def _tiler_map(path: Path, out: Path, predictor: Any, kw: dict[str, Any]) -> np.ndarray:
    from lslib.inference.tiling.large_area import map_large_area

    map_large_area(path, PROMPTS, out, predictor=predictor, progress=False, **kw)
    with rasterio.open(out / "class_map.tif") as src:
        codes = src.read(1).astype(np.int16)
    return np.where(codes >= 254, -1, codes)


@pytest.mark.slow
def test_integer_images_give_one_map_through_every_door(integer_inputs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Released model; ``lslib predict``, ``map_large_area``, the Predictor (``open_image``) and ``MapApp``
    (georeferenced inputs; a PNG without CRS is refused by the map with the reason)."""
    from lslib.default_model import default_model
    from lslib.inference import Predictor
    from lslib.mapui import MapApp

    predictor = Predictor(default_model(progress=False), device="cpu")
    for name, (path, kw) in integer_inputs.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the PNG's pixel-coordinates warning
            predictor.set_image(open_image(path, **kw))
            reference = np.asarray(predictor.predict(PROMPTS).class_map.values)
            maps = {"cli": cli_map(path, tmp_path / f"{name}-cli", kw),
                    "map_large_area": _tiler_map(path, tmp_path / f"{name}-tiler", predictor, kw)}  # fmt: skip
            if name == "png16":
                with pytest.raises(ValueError, match="no CRS"):
                    MapApp(image=path, predictor=predictor, prompts=PROMPTS, **kw)
            else:
                app = MapApp(image=path, predictor=predictor, prompts=PROMPTS, **kw)
                pred = app.run()
                assert pred is not None
                maps["mapapp"] = np.asarray(pred.class_map.values)
                if name == "uint8":  # a real `lslib predict` folder is not the map app's to take over
                    run = tmp_path / f"{name}-cli"
                    before = _snapshot(run)
                    with pytest.raises(FileExistsError, match=r"map\.json of an lslib predict map"):
                        app.export(run)
                    assert _snapshot(run) == before
                    app.export(run, overwrite=True)
                    assert not (run / "map.json").exists() and not (run / "class_map.tif").exists()
        assert len(np.unique(reference)) >= 2, name
        for door, m in maps.items():
            agree = float(np.mean(m == reference))
            assert agree >= 0.99, f"{name} through {door}: {agree:.4f} of pixels agree with the Predictor's map"


def test_16bit_png_needs_a_stated_scale_on_every_door(integer_inputs, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from lslib.cli.main import main

    png, _ = integer_inputs["png16"]
    with pytest.warns(UserWarning), pytest.raises(ImageInputError, match=r"does not guess.*--scale 1e-4"):
        open_image(png, bands="red,green,blue")
    out = tmp_path / "out"
    assert main(["predict", "--image", str(png), "--bands", "red,green,blue", "--prompts", PROMPTS, "--out",
                 str(out), "-q"]) == 2  # fmt: skip
    assert "does not guess" in capsys.readouterr().err and not (out / "class_map.tif").exists()
    with pytest.warns(UserWarning):
        display = open_image(png, sensor="rgb", scale=1 / 65535)  # the other reading the message offers
    assert display.attrs["radiometry"] == "display"


# --- export owns only its own files ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mapped(chip: xr.DataArray, predictor):  # type: ignore[no-untyped-def]
    from lslib.mapui import MapApp

    app = MapApp(image=chip, predictor=predictor, prompts=PROMPTS)
    app.run()
    return app


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir()) if p.is_file()}


def test_export_refuses_another_runs_folder(mapped, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = tmp_path / "predict-run"
    run.mkdir()
    sidecar = {"lslib_version": "0", "signature": "ab" * 32, "input": "scene.tif", "files": {"class_map": "x.tif"}}
    (run / "map.json").write_text(json.dumps(sidecar), encoding="utf-8")
    for name in ("class_map.tif", "confidence.tif", "prompts.yaml"):
        (run / name).write_bytes(b"another run's " + name.encode())
    before = _snapshot(run)
    with pytest.raises(FileExistsError, match=r"another run's outputs: map.json of an lslib predict.*overwrite=True"):
        mapped.export(run)
    assert _snapshot(run) == before  # nothing written, nothing removed
    paths = mapped.export(run, overwrite=True)
    left = {p.name for p in run.iterdir()}
    assert "map.json" not in left and "class_map.tif" not in left  # no stale sidecar next to the export
    assert {p.name for p in paths.values()} <= left and "export.json" in left
    # a user's own file that the export would replace
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "confidence.tif").write_bytes(b"my own raster")
    (mine / "export.json").write_text('{"my": "notes"}', encoding="utf-8")
    with pytest.raises(FileExistsError, match=r"confidence.tif \(not written by an earlier export here\)"):
        mapped.export(mine)
    assert (mine / "confidence.tif").read_bytes() == b"my own raster"
    (mine / "confidence.tif").unlink()
    with pytest.raises(FileExistsError, match=r"export.json \(not an lslib export record\)"):
        mapped.export(mine)


def test_export_again_into_its_own_folder_and_respects_the_umask(mapped, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "export"
    old = os.umask(0o027)
    try:
        first = mapped.export(out)
        modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
        assert modes and set(modes.values()) == {0o640}, modes  # 0666 minus the umask, not mkstemp's 0600
        again = mapped.export(out)  # its own files: replaced without asking
        assert again == first
        with open(first["classes"], "ab") as f:
            f.write(b"\0")  # changed by someone since
        with pytest.raises(FileExistsError, match=r"classes.tif \(not written by an earlier export here, or changed"):
            mapped.export(out)
        mapped.export(out, overwrite=True)
    finally:
        os.umask(old)
    record = json.loads((out / "export.json").read_text(encoding="utf-8"))
    assert set(record["files"]) == {"classes.tif", "confidence.tif", "prompts.yaml", "polygons.gpkg"}


# --- the loaders' bad inputs: the file named, advice that works ---------------------------------------------------


def _doors(path: Any, predictor: Any, **kw: Any) -> list[Any]:
    """Call ``open_image`` and ``MapApp(image=...)`` on ``path``: a list of what each raised."""
    from lslib.mapui import MapApp

    raised = []
    for door in (lambda: open_image(path, **kw), lambda: MapApp(image=path, predictor=predictor, **kw)):
        with warnings.catch_warnings(), pytest.raises(Exception) as info:
            warnings.simplefilter("ignore")
            door()
        raised.append(info.value)
    return raised


def _rgb_tif(path: Path, count: int = 3, descriptions: list[str] | None = None, **profile: Any) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=16, height=16, count=count, dtype="uint8", crs="EPSG:32722",
                       transform=from_origin(700000, 7200000, 10, 10), **profile) as dst:  # fmt: skip
        dst.write(np.full((count, 16, 16), 90, np.uint8))
        for i, d in enumerate(descriptions or []):
            dst.set_band_description(i + 1, d)
    return path


def test_alpha_band_is_named_with_advice_that_works(tmp_path: Path, predictor) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    png = tmp_path / "rgba.png"
    Image.fromarray(np.full((16, 16, 4), 200, np.uint8), "RGBA").save(png)
    tif = _rgb_tif(tmp_path / "rgba.tif", 4, photometric="RGB", alpha="YES")
    for path, fix in ((png, r"PIL.Image.open\(path\).convert\('RGB'\)"), (tif, r"rio stack --bidx 1,2,3 rgba.tif")):
        for kw in ({}, {"sensor": "rgb"}):
            for exc in _doors(path, predictor, **kw):
                assert type(exc) is ValueError and "band 4 is alpha" in str(exc), exc
                assert f"{path.name} has 4 bands" in str(exc) and "--bands red,green,blue,nir" in str(exc)
                assert re.search(fix, str(exc)), exc
    Image.open(png).convert("RGB").save(tmp_path / "no_alpha.png")
    stacked = tmp_path / "no_alpha.tif"
    subprocess.run([str(Path(sys.executable).parent / "rio"), "stack", "--bidx", "1,2,3", str(tif), "-o",
                    str(stacked)], check=True, capture_output=True)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert open_image(tmp_path / "no_alpha.png", sensor="rgb").shape == (3, 16, 16)
        assert open_image(stacked, sensor="rgb").shape == (3, 16, 16)
        assert open_image(png, bands="red,green,blue,nir").shape == (4, 16, 16)  # the other way out


def test_multi_page_tiff_names_a_command_that_works(tmp_path: Path, predictor) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    pages = [Image.fromarray(np.full((16, 16, 3), 40 * (i + 1), np.uint8)) for i in range(3)]
    path = tmp_path / "pages.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    for exc in _doors(path, predictor, sensor="rgb"):
        assert type(exc) is ValueError and "pages.tif holds 3 images" in str(exc), exc
        assert f"rio convert GTIFF_DIR:1:{path} page.png --driver PNG" in str(exc), exc  # not georeferenced
        assert f"GTIFF_DIR:3:{path}" in str(exc)
    page = tmp_path / "page.png"
    subprocess.run([str(Path(sys.executable).parent / "rio"), "convert", f"GTIFF_DIR:2:{path}", str(page), "--driver",
                    "PNG"], check=True, capture_output=True)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(open_image(page, sensor="rgb").values, 80 / 255, rtol=1e-6)


def test_non_utf8_names_and_metadata_name_the_file(tmp_path: Path, predictor) -> None:  # type: ignore[no-untyped-def]
    raw = os.fsencode(tmp_path) + b"/for\xeat.tif"
    os.rename(_rgb_tif(tmp_path / "written.tif"), raw)  # GDAL cannot even create such a name
    for source in (raw, os.fsdecode(raw)):
        for exc in _doors(source, predictor, sensor="rgb"):
            assert type(exc) is ValueError, exc
            assert r"for\xeat.tif" in str(exc) and "not UTF-8" in str(exc) and "os.rename(" in str(exc), exc
    os.rename(raw, os.fsencode(tmp_path) + "/forêt.tif".encode())  # the advice
    assert open_image(tmp_path / "forêt.tif", sensor="rgb").shape == (3, 16, 16)
    # metadata written as latin-1: GDAL reads it as UTF-8
    tagged = _rgb_tif(tmp_path / "tags.tif", descriptions=["forQQt", "green", "blue"])
    assert tagged.read_bytes().count(b"QQ") == 1
    tagged.write_bytes(tagged.read_bytes().replace(b"QQ", b"\xea\xea"))  # same length: the TIFF stays whole
    for exc in _doors(tagged, predictor, sensor="rgb"):
        assert type(exc) is ValueError and str(exc).startswith("tags.tif: its text metadata"), exc
        assert "not UTF-8 (byte 0xea" in str(exc) and "rio convert tags.tif clean.tif" in str(exc)
    clean = tmp_path / "clean.tif"
    subprocess.run([str(Path(sys.executable).parent / "rio"), "convert", str(tagged), str(clean)], check=True,
                   capture_output=True)  # fmt: skip
    assert open_image(clean, bands="red,green,blue").shape == (3, 16, 16)


def test_symlink_loop_and_broken_link_are_said_so(tmp_path: Path, predictor) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a.tif").symlink_to("b.tif")
    (tmp_path / "b.tif").symlink_to("a.tif")
    (tmp_path / "gone.tif").symlink_to("moved-away.tif")
    for exc in _doors(tmp_path / "a.tif", predictor):
        assert type(exc) is FileNotFoundError and "symbolic link loop" in str(exc), exc
        assert f"{tmp_path / 'a.tif'} -> {tmp_path / 'b.tif'} -> {tmp_path / 'a.tif'}" in str(exc)
        assert "does not exist" not in str(exc)
    for exc in _doors(tmp_path / "gone.tif", predictor):
        assert type(exc) is FileNotFoundError and f"symbolic link to {tmp_path / 'moved-away.tif'}" in str(exc), exc
