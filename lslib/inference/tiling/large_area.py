"""Large-area zero-shot mapping: any-size input -> class-map and confidence COGs, memory bounded by the block.

    from lslib.inference.tiling.large_area import map_large_area
    result = map_large_area("S2_folder/", "water, forest, cropland, built-up area", "out/")
    result.paths["class_map"], result.areas

How (details in ``docs/inference.md``): the raster is cut into overlapping windows
(:mod:`lslib.inference.tiling.geometry`); the output is produced block by block
(:class:`~lslib.inference.tiling.windows.WindowMapper`, run by :mod:`lslib.inference.tiling.parallel`):
each window that touches the block is read lazily, encoded and prompted through
:class:`~lslib.inference.Predictor` (``set_image`` + ``raw``), its per-class fused scores are multiplied
by its normalised blending weight and summed into the block; then argmax, thresholds and nodata give the
block's class map (:mod:`lslib.inference.codes`) and confidence, written as files of the block's own in
a hidden folder (:mod:`lslib.inference.outputs`). Imports go one way:
``large_area -> parallel -> windows -> geometry, sources`` (and :mod:`lslib.inference.codes`).
Before any block, the input's valid-data footprint is checked (:func:`~lslib.inference.tiling.sources.footprint`):
blocks without a valid pixel are never read, mapped or written, and the run says what it will cost.
Progress is recorded after each block is durably on disk, so a killed or failed run resumes to the
same bytes; the COGs get their final names only when every block is done. Memory: one block of ``K``
float32 score planes plus one window, whatever the scene size.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import numpy as np
import xarray as xr

from lslib.data.fetch import sha256sum
from lslib.inference.codes import UNKNOWN_CODE, class_map_tags, codes_doc, labels
from lslib.inference.inputs import with_scene_stretch
from lslib.inference.outputs import (
    CLASS_MAP,
    CONFIDENCE,
    PARTIAL_DIR,
    PROGRESS,
    PROMPTS,
    PROMPTS_ALT,
    SIDECAR,
    OutputLock,
    PartialWriter,
    Progress,
    clean_stale,
    fsync_dir,
    inspect_out,
    read_json,
    remove_ours,
    write_sidecar,
    writing,
)
from lslib.inference.tiling.geometry import Block, Grid, make_grid
from lslib.inference.tiling.parallel import run_blocks
from lslib.inference.tiling.sources import (
    Bands,
    Footprint,
    ImageSource,
    InputReadError,
    footprint,
    input_files,
    open_source,
    reading_input,
    source_fingerprint,
)
from lslib.inference.tiling.windows import WindowMapper

if TYPE_CHECKING:
    from affine import Affine
    from distributed import Client
    from torch import nn

    from lslib.inference.predictor import Predictor
    from lslib.inference.teach import Teaching
    from lslib.model.landsegmenter import LandSegmenter
    from lslib.prompt_set import PromptSet

__all__ = ["MapResult", "map_large_area", "model_checksum"]

log = logging.getLogger(__name__)


@dataclass
class MapResult:
    """What :func:`map_large_area` wrote and measured."""

    out: Path
    paths: dict[str, Path]
    areas: list[dict[str, Any]]  # per class + unknown: pixels, hectares, percent of valid pixels
    pixels_mapped: int
    seconds: float
    blocks_computed: int = 0
    blocks_resumed: int = 0
    windows_computed: int = 0
    sidecar: dict[str, Any] = field(default_factory=dict)
    blocks_empty: int = 0  # blocks without a valid pixel in the input's footprint: never read, mapped or written
    plan: str = ""  # what the run said it would cost before starting

    def table(self) -> str:
        """The per-class areas as a plain-text table (pixels, hectares, percent)."""
        lines = [f"{'class':<28} {'pixels':>12} {'hectares':>12} {'%':>7}"]
        for row in self.areas:
            ha = "n/a" if not np.isfinite(row["hectares"]) else f"{row['hectares']:.1f}"
            lines.append(f"{row['class']:<28} {row['pixels']:>12} {ha:>12} {row['percent']:>7.2f}")
        return "\n".join(lines)


def fusion_settings(pred: Predictor) -> dict[str, Any]:
    """What the map depends on beyond mode and alpha: the CLIP knowledge, the phrase reduction, ``thr``.

    Only settings that differ from the defaults of earlier releases are listed, so the signature of a map
    made with the defaults (and the resume of its blocks) is unchanged.
    """
    extra: dict[str, Any] = {}
    if pred.knowledge is not None:
        extra["clip_knowledge"] = pred.knowledge.name
    if pred.reduction != "mean":
        extra["phrase_reduction"] = pred.reduction
    if pred.mode == "official":
        extra["official_thr"] = pred.thr
    return extra


def model_checksum(model: nn.Module) -> str:
    """sha256 of the model's state (names, dtypes, shapes, bytes in name order): identifies the weights."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(-1).view(dtype=__import__("torch").uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _resolve_predictor(predictor: Predictor | None, model: LandSegmenter | None) -> Predictor:
    from lslib.inference.predictor import Predictor

    if predictor is not None:
        return predictor
    if model is None:
        raise TypeError("map_large_area needs predictor= or model= (the released default: "
                        "lslib.load_released(), or lslib.default_model())")
    return Predictor(model, cache_bytes=0)


#: names in an output folder that lslib writes and so never shares with a file it did not write
_BLOCKING = (CLASS_MAP, CONFIDENCE, SIDECAR, PROGRESS)


def _prepare_out(out: Path, signature: str, *, resume: bool, overwrite: bool, protect: Sequence[Path] = ()
                 ) -> tuple[str, str]:  # fmt: skip
    """Check the output folder before a large-area run.

    Returns ``(state, prompts file name)``, state ``"fresh"``, ``"resume"`` or
    ``"complete"``. Only lslib's own files are ever removed; on an error nothing is changed.
    """
    if not out.exists():
        return "fresh", PROMPTS
    if not out.is_dir():
        raise FileExistsError(f"--out {out} exists and is not a folder; choose a folder path")
    inv = inspect_out(out, protect)
    blocking = [n for n in _BLOCKING if n in inv.foreign or n in inv.inputs]
    if (out / PARTIAL_DIR).exists() and not (out / PARTIAL_DIR).is_dir():
        blocking.append(PARTIAL_DIR)
    if blocking:
        what = ", ".join(blocking)
        raise FileExistsError(
            f"{out} holds {what}, which lslib did not write{' (or an input of this run)' if inv.inputs else ''}: "
            "lslib never replaces or deletes a file it did not write, even with --overwrite. Move it away or choose "
            "another --out"
        )
    if inv.prompts_name is None:
        raise FileExistsError(
            f"{out} holds {PROMPTS} and {PROMPTS_ALT} that lslib did not write (or inputs of this run), and lslib "
            "writes its copy of the prompt set under one of these names: move one away or choose another --out"
        )
    if not inv.ours:
        return "fresh", inv.prompts_name
    if inv.signature is None:  # only leftovers of a run that recorded nothing (temporaries, an empty partial folder)
        remove_ours(out, inv)
        return "fresh", inspect_out(out, protect).prompts_name or PROMPTS_ALT
    if overwrite or not resume or inv.signature != signature:
        if not overwrite and inv.signature != signature:
            present = ", ".join(sorted({p.name for p in inv.ours if p.parent == out} | (
                {PARTIAL_DIR} if (out / PARTIAL_DIR).is_dir() else set())))  # fmt: skip
            unfinished = "" if inv.sidecar else " (an unfinished run)"
            raise FileExistsError(
                f"{out} already holds a map{unfinished} ({present}) made from a different input, prompt set, model "
                "or tiling; pass --overwrite (Python: overwrite=True) to replace it (only lslib's own files are "
                "removed), or choose another --out"
            )
        remove_ours(out, inv)  # --overwrite, or --no-resume of the same map
        return "fresh", inspect_out(out, protect).prompts_name or PROMPTS_ALT
    if inv.complete:
        return "complete", inv.prompts_name
    return "resume", inv.prompts_name


def _areas(names: Sequence[str], counts: np.ndarray, valid: int, px_ha: float) -> list[dict[str, Any]]:
    rows = []
    for code, name in [*enumerate(names), (UNKNOWN_CODE, "unknown")]:
        n = int(counts[code])
        rows.append({"class": name, "pixels": n, "hectares": n * px_ha, "percent": 100 * n / valid if valid else 0.0})
    return rows


def _count_classes(writer: PartialWriter, blocks: Sequence[Block]) -> np.ndarray:
    """Histogram of the class-map codes over the blocks with data, one block file at a time (bounded memory)."""
    counts = np.zeros(256, dtype=np.int64)
    for block in blocks:
        codes, _ = writer.read_block(block.index)
        counts += np.bincount(codes.ravel(), minlength=256)
    return counts


def _pixel_hectares(da: xr.DataArray, pixel: bool) -> float:
    crs = None if pixel else da.rio.crs
    if crs is None or not crs.is_projected:
        return float("nan")
    rx, ry = da.rio.resolution()
    hectares: float = abs(rx * ry) * float(crs.linear_units_factor[1]) ** 2 / 1e4
    return hectares


def _scene_stretch(da: xr.DataArray, fp: Footprint | None, *, region: int = 2048) -> xr.DataArray:
    """:func:`with_scene_stretch`, reading only the parts of its subsample where ``fp`` says data may be.

    The subsample (same pixels as :func:`with_scene_stretch`'s) is NaN elsewhere, as the input is there:
    the stretch is the same, without reading the empty parts of a sparse scene.
    """
    if "norm_stats" in da.attrs or fp is None or bool(fp.cells.all()):
        return with_scene_stretch(da)
    h, w = da.sizes["y"], da.sizes["x"]
    max_pixels = 1 << 20  # with_scene_stretch's default subsample size, same step below
    step = max(1, int(np.ceil(np.sqrt(h * w / max_pixels))))
    ys, xs = np.arange(step // 2, h, step), np.arange(step // 2, w, step)
    sub = np.full((da.sizes["band"], len(ys), len(xs)), np.nan, dtype=np.float32)
    for r in range(0, h, region):
        yi = np.flatnonzero((ys >= r) & (ys < r + region))
        for c in range(0, w, region):
            xi = np.flatnonzero((xs >= c) & (xs < c + region))
            if yi.size and xi.size and fp.any((r, min(r + region, h)), (c, min(c + region, w))):
                part = da.isel(y=ys[yi], x=xs[xi])
                sub[:, yi[0] : yi[-1] + 1, xi[0] : xi[-1] + 1] = np.asarray(
                    part.data.compute() if part.chunks else part.values, dtype=np.float32
                )
    sub_da = xr.DataArray(sub, dims=("band", "y", "x"), coords={"band": da["band"].values}, attrs=dict(da.attrs))
    nodata = da.rio.nodata if hasattr(da, "rio") else None
    if nodata is not None:
        sub_da = sub_da.rio.write_nodata(nodata, encoded=False)
    stats = with_scene_stretch(sub_da, max_pixels=max(1, sub.shape[1] * sub.shape[2])).attrs["norm_stats"]
    return da.assign_attrs(norm_stats=stats)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds // 3600:.0f} h {seconds % 3600 / 60:02.0f} min"


def _plan(grid: Grid, fp: Footprint | None, todo: Sequence[Block], n_empty: int, n_done: int, out: Path,
          seconds_per_window: float | None, parallel: int) -> str:  # fmt: skip
    """The line said before mapping: size, footprint, blocks and windows to map, an estimate, disk space."""
    windows = {(i, j) for b in todo for i in b.row_windows for j in b.col_windows}
    if fp is not None:
        windows = {(i, j) for i, j in windows if fp.any(grid.row_windows[i], grid.col_windows[j])}
    n = len(grid.blocks)
    parts = [f"{grid.height} x {grid.width} px in {n} block{'s' * (n != 1)}"]
    if fp is not None:
        parts.append(f"valid data in at most {100 * fp.fraction:.3g} % of it")
    if n_empty:
        parts.append(f"{n_empty} block{'s' * (n_empty != 1)} without valid pixel skipped")
    if n_done:
        parts.append(f"{n_done} already done")
    line = f"mapping {len(todo)} block{'s' * (len(todo) != 1)} ({', '.join(parts)}): {len(windows)} windows"
    if seconds_per_window is not None and windows:
        line += f", about {_duration(seconds_per_window * len(windows) / max(1, parallel))}"
        line += f" at {seconds_per_window:.2g} s per window (measured)"
    raw = grid.height * grid.width * 5
    try:
        free = shutil.disk_usage(out).free
        line += f"; outputs at most {raw / 1e9:.3g} GB before compression, {free / 1e9:.3g} GB free in {out}"
    except OSError:
        pass
    return line


def _measure(mapper: WindowMapper, block: Block) -> float | None:
    """Seconds per window, timed on the first window of ``block`` with data (cached: not computed twice)."""
    for i in block.row_windows:
        for j in block.col_windows:
            before = mapper.windows_computed
            mapper.window(i, j)
            if mapper.windows_computed > before:
                return mapper.model_seconds / mapper.windows_computed
    return None


def _stage_prompts(staging: Path, name: str, ps: PromptSet, teaching: Teaching | None, record: Progress) -> list[Path]:
    """Write lslib's copy of the prompt set as ``staging/name`` (+ its taught head) and record its sha256.

    Recorded before the files get their final names: a prompt file under a final name is always
    recognisable as lslib's (:func:`~lslib.inference.outputs.ownership.inspect_out`).
    """
    from lslib.inference.teach import save_taught
    from lslib.prompt_set import save as save_prompts

    staging.mkdir(parents=True, exist_ok=True)
    yaml_path = staging / name
    files = [yaml_path]
    if teaching is not None:  # the taught prompt set travels with its head: the map can be reproduced
        save_taught(ps, yaml_path)
        files.insert(0, yaml_path.with_suffix(".safetensors"))
    else:
        save_prompts(ps, yaml_path)
    record.written = {f.name: sha256sum(f) for f in files}
    record.save()
    return files


def _commit(out: Path, staged: Sequence[Path]) -> None:
    for f in staged:  # the head before its YAML
        os.replace(f, out / f.name)
    fsync_dir(out)


#: GDAL's block cache while mapping (MB) unless $GDAL_CACHEMAX is set. GDAL's default (5 % of RAM, 1.2 GB
#: here) fills with decoded input blocks as the windows sweep a large scene (peak RSS 2.3 GB for 8192²);
#: 96 MB: 1.2 GB there, and JP2 inputs still decode once (bench/inference.py).
GDAL_CACHE_MB = 96
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _bounded_gdal_cache(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` with GDAL's block cache at :data:`GDAL_CACHE_MB` (unless $GDAL_CACHEMAX is set).

    The wrapper keeps ``fn``'s signature for readers, ``help()`` and type checkers.
    """

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        import rasterio

        if os.environ.get("GDAL_CACHEMAX"):
            return fn(*args, **kwargs)
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB << 20):  # bytes: rasterio passes an int to GDALSetCacheMax64
            return fn(*args, **kwargs)

    return wrapper


@_bounded_gdal_cache
def map_large_area(
    source: ImageSource,
    prompts: PromptSet | Sequence[str] | str | os.PathLike[str],
    out: str | Path,
    *,
    predictor: Predictor | None = None,
    model: LandSegmenter | None = None,
    tile: int = 512,
    overlap: int = 64,
    block: int = 2048,
    bands: Bands = None,
    sensor: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
    resume: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    workers: int = 0,
    client: Client | None = None,
    cache_bytes: int = 256 << 20,
    protect: Sequence[str | os.PathLike[str]] = (),
) -> MapResult:
    """Map ``source`` with ``prompts`` into ``out/`` (class-map COG, confidence COG, ``map.json``, ``prompts.yaml``).

    Args:
        source: a Sentinel-2 band folder, a GeoTIFF/COG/JP2 (PNG/JPEG: pixel coordinates), a STAC item
            (pystac Item, dict or JSON path) or a ``(band, y, x)`` DataArray (NumPy or Dask) of any size.
        prompts: a :class:`~lslib.prompt_set.PromptSet`, a prompt-set YAML path, a preset key
            (``"esa_worldcover"``), ``"water, forest, ..."`` or a list of names (:func:`lslib.prompt_set.resolve`).
        out: output folder.
        predictor: a :class:`~lslib.inference.Predictor` (its fusion mode/alpha are used); default one
            around ``model``.
        model: the model of the default predictor (default: the released default,
            :func:`lslib.model.build.load_released`); ignored when ``predictor`` is given.
        tile: window size in pixels.
        overlap: window overlap in pixels (``overlap <= tile // 2``).
        block: output block size in pixels (memory: ``K * block² * 4`` bytes for the scores).
        bands: band names/wavelengths for files without band metadata.
        sensor: a sensor preset for files without band metadata.
        scale: physical value = DN * scale + offset, overriding the file's tags and the sensor's
            convention (see :func:`lslib.data.open_image`).
        offset: see ``scale``.
        resume: continue an unfinished run of the same input, prompts, model and tiling.
        overwrite: replace the map of another run in ``out`` (only lslib's own files are removed).
        progress: a tqdm progress bar over blocks, and the plan (blocks, windows, estimate) on stderr.
        workers: >0 computes blocks in that many threads (each with its own predictor on the shared model).
        client: a ``dask.distributed.Client``: blocks are computed as tasks on its workers.
        cache_bytes: budget of the cache of window scores shared by neighbouring blocks.
        protect: more input files lslib must never touch, e.g. the prompt-set file the caller loaded
            (a prompt-set path given as ``prompts`` and the input image are protected anyway).

    Who owns what in ``out``: lslib owns only the files it wrote and can recognise: COGs with ``LSLIB_*``
    tags, a ``map.json`` with lslib's signature and version, prompt files whose sha256 its sidecar or
    progress record lists as written by lslib, ``.progress.json``, ``.lslib.lock`` and the block files in
    ``.lslib-partial/``. ``overwrite=True`` and ``resume=False`` remove only those; a file under one of
    lslib's output names that lslib did not write is never replaced or deleted (the run is refused,
    except for ``prompts.yaml``: lslib's copy then goes to ``prompts.lslib.yaml``); an input inside
    ``out`` (the image, the prompt set) is never rewritten or deleted. One run at a time writes into a
    folder (``flock`` on ``out/.lslib.lock``; a crashed run never holds it). New files get the usual
    permissions (``0o666`` minus the umask).

    Raises:
        ValueError: empty prompt set, bad bands/tiling, no CRS, or an input with no valid pixel.
        FileExistsError: ``out`` holds another map (use ``overwrite=True``), or a file lslib did not write
            under one of its output names.
        InputReadError: the input cannot be read (truncated, damaged): names the input; finished blocks are kept.
        OutputInUseError: another run is writing into ``out``.
        OutputWriteError: a failed write (e.g. disk full): the message says what is left and how to resume.
    """
    from lslib import __version__
    from lslib.prompt_set import resolve

    start = time.perf_counter()
    out = Path(out)
    ps = resolve(prompts)  # the one prompt rule (an empty set: ValueError saying what to pass)
    name = str(Path(source).expanduser()) if isinstance(source, str | os.PathLike) else "the input"
    with reading_input(name):
        da, pixel, described = open_source(
            source, bands=bands, sensor=sensor, chunk=max(tile, 512), scale=scale, offset=offset
        )
        da = da.transpose("band", "y", "x")
        fp = footprint(source, da)
        da = _scene_stretch(da, fp)
    height, width = da.sizes["y"], da.sizes["x"]
    grid = make_grid(height, width, tile=tile, overlap=overlap, block=block)
    pred = _resolve_predictor(predictor, model)
    checksum = model_checksum(pred.model)
    from lslib.inference.teach import check_compatible, teaching_of

    teaching = teaching_of(ps)  # a taught prompt set: its head is loaded and checked before any pixel is mapped
    if teaching is not None:
        check_compatible(teaching.head, ps.names, [str(b) for b in da["band"].values],
                         np.asarray(da["wavelength"].values, dtype=float).tolist(), pred.fingerprint())
    settings = {
        "input": described, "input_fingerprint": source_fingerprint(source, da, exclude=out), "prompts": ps.to_dict(),
        "thresholds": ps.thresholds, "fusion_mode": pred.mode, "alpha": pred.alpha,
        "radiometry": da.attrs.get("radiometry"), "radiometry_source": da.attrs.get("radiometry_source"),
        "scale": da.attrs.get("scale"), "offset": da.attrs.get("offset"), "norm_stats": da.attrs.get("norm_stats"),
        "model_variant": getattr(getattr(pred.model, "config", None), "variant", type(pred.model).__name__),
        "model_sha256": checksum, "teaching": None if teaching is None else teaching.summary(),
        "tile": tile, "overlap": overlap, "block": block, "shape": [height, width], **fusion_settings(pred),
    }  # fmt: skip
    signature = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
    paths = {"class_map": out / CLASS_MAP, "confidence": out / CONFIDENCE, "sidecar": out / SIDECAR,
             "prompts": out / PROMPTS}  # fmt: skip
    prompt_files = [Path(p) for p in (*protect, ps.extra.get("path") or "",
                                      prompts if isinstance(prompts, str | os.PathLike) else "") if str(p)]
    protect_paths = input_files(source) + prompt_files + [p.with_suffix(".safetensors") for p in prompt_files]
    out.mkdir(parents=True, exist_ok=True)
    lock = OutputLock(out)
    lock.acquire()  # one run per folder: a second one fails at once, saying who holds it
    try:
        state, prompts_name = _prepare_out(out, signature, resume=resume, overwrite=overwrite, protect=protect_paths)
        if state == "complete":
            doc = read_json(out / SIDECAR) or {}
            paths["prompts"] = out / doc.get("files", {}).get("prompts", PROMPTS)
            return MapResult(out, paths, doc.get("areas", []), int(doc.get("pixels_mapped", 0)),
                             time.perf_counter() - start, blocks_resumed=len(grid.blocks), sidecar=doc)  # fmt: skip
        empty = [] if fp is None else [b for b in grid.blocks if not fp.any(b.rows, b.cols)]
        if len(empty) == len(grid.blocks):
            raise ValueError(_no_valid_pixel(described))
        return _run(
            da, grid, pred, ps, teaching, out, paths, prompts_name, protect_paths, signature, settings, fp, empty,
            state=state, pixel=pixel, described=described, checksum=checksum, version=__version__, start=start,
            progress=progress, workers=workers, client=client, cache_bytes=cache_bytes,
        )  # fmt: skip
    finally:
        lock.release()


def _no_valid_pixel(described: str) -> str:
    return (
        f"the input has no valid pixel (every band is nodata/NaN everywhere in {described}): check the file, its "
        "nodata value or the area; nothing was written"
    )


def _run(da: xr.DataArray, grid: Grid, pred: Predictor, ps: PromptSet, teaching: Teaching | None, out: Path,
         paths: dict[str, Path], prompts_name: str, protect: Sequence[Path], signature: str,
         settings: dict[str, Any], fp: Footprint | None, empty: Sequence[Block], *, state: str, pixel: bool,
         described: str, checksum: str, version: str, start: float, progress: bool, workers: int,
         client: Client | None, cache_bytes: int) -> MapResult:  # fmt: skip
    """The mapping itself, under the folder's lock: blocks, then COGs, prompt files and sidecar."""
    meta = {"lslib_version": version, **settings, "signature": signature, "labels": labels(ps.names)}
    # the class map's convention tags (LSLIB_CLASSES, LSLIB_UNKNOWN, LSLIB_NODATA) come from lslib.inference.codes
    tags = {"LSLIB_SIDECAR": json.dumps(meta, default=str), **class_map_tags(ps.names), "LSLIB_VERSION": version,
            "LSLIB_MODEL_SHA256": checksum}  # fmt: skip
    writer = PartialWriter(
        out, height=grid.height, width=grid.width, crs=None if pixel else da.rio.crs,
        transform=_transform(da, pixel), colours=ps.colours, tags=tags,
    )  # fmt: skip
    record = Progress(out, signature)
    with writing(out):
        clean_stale(out)  # temporaries a killed run left: never complete, never someone else's
        if not (state == "resume" and writer.exists() and record.load(writer)):
            record.blocks = {}
            writer.create()
            record.save()
    resumed = len(record.done)
    skip = {b.index for b in empty}
    todo = [b for b in grid.blocks if b.index not in record.done and b.index not in skip]
    mapper = WindowMapper(da, grid, pred, ps, cache_bytes, fp, described)
    parallel = workers if client is None else max(1, len(client.scheduler_info().get("workers", {})))
    seconds_per_window = _measure(mapper, todo[0]) if todo else None
    calibration = mapper.windows_computed  # computed before the first block: added to the blocks' count
    plan = _plan(grid, fp, todo, len(empty), resumed, out, seconds_per_window, parallel)
    log.info(plan)
    if progress:
        print(f"lslib: {plan}", file=sys.stderr, flush=True)
    try:
        windows = run_blocks(da, grid, pred, ps, todo, writer, record, workers=workers, client=client,
                             cache_bytes=cache_bytes, progress=progress, footprint=fp, source_name=described,
                             mapper=mapper)  # fmt: skip
    except InputReadError as exc:
        done = len(record.done)
        raise InputReadError(
            f"{exc}. The {done} finished block{'s' * (done != 1)} of {len(grid.blocks) - len(skip)} stay in {out}: "
            "rerunning the same command resumes once the input reads; if you replace the file, add --overwrite"
        ) from exc.__cause__
    windows += calibration
    if record.valid_pixels == 0:
        writer.remove()
        (out / PROGRESS).unlink(missing_ok=True)
        raise ValueError(_no_valid_pixel(described))
    data_blocks = [b for b in grid.blocks if record.blocks.get(b.index, 0) > 0]
    with writing(out):
        counts = _count_classes(writer, data_blocks)
        areas = _areas(ps.names, counts, record.valid_pixels, _pixel_hectares(da, pixel))
        inv = inspect_out(out, protect)  # the prompt file name chosen at the start may have been taken since
        name = prompts_name if prompts_name == inv.prompts_name or (out / prompts_name) in inv.ours else (
            inv.prompts_name)  # fmt: skip
        if name is None:
            raise FileExistsError(f"{out / PROMPTS} and {out / PROMPTS_ALT} appeared during the run; move one away")
        staged = _stage_prompts(writer.dir, name, ps, teaching, record)
        writer.finalise([(b.index, b.rows, b.cols) for b in data_blocks], {"LSLIB_AREAS": json.dumps(areas)})
        _commit(out, staged)
        seconds = time.perf_counter() - start
        paths["prompts"] = out / name
        doc = {**meta, "pixels_mapped": record.valid_pixels, "areas": areas, "crs": str(writer.crs or ""),
               "pixel_coordinates": pixel, "files": {k: p.name for k, p in paths.items()},
               "written": dict(record.written), "codes": codes_doc()}  # fmt: skip
        write_sidecar(out, doc)  # the completion marker: written last
        writer.remove()
        (out / PROGRESS).unlink(missing_ok=True)
    return MapResult(out, paths, areas, record.valid_pixels, seconds, len(todo), resumed, windows, doc,
                     blocks_empty=len(empty), plan=plan)  # fmt: skip


def _transform(da: xr.DataArray, pixel: bool) -> Affine:
    from affine import Affine

    return Affine.identity() if pixel else cast(Affine, da.rio.transform())

