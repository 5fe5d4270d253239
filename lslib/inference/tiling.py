"""Large-area zero-shot mapping: any-size input -> class-map and confidence COGs, memory bounded by the block.

    from lslib.inference.tiling import map_large_area
    result = map_large_area("S2_folder/", "water, forest, cropland, built-up area", "out/")
    result.paths["class_map"], result.areas

How (details in ``docs/inference.md``): the raster is cut into overlapping windows
(:mod:`lslib.inference.tiling_geometry`); the output is produced block by block: each window that
touches the block is read lazily, encoded and prompted through :class:`~lslib.inference.Predictor`
(``set_image`` + ``raw``), its per-class fused scores are multiplied by its normalised blending
weight and summed into the block; then argmax, thresholds and nodata give the block's class map and
confidence, written with windowed writes into hidden tiled GTiffs (:mod:`lslib.inference.outputs`).
Progress is recorded after each block, so a killed run resumes; the COGs get their final names only
when every block is done. Memory: one block of ``K`` float32 score planes plus one window, whatever
the scene size.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from lslib.inference.inputs import with_scene_stretch
from lslib.inference.outputs import (
    CLASS_MAP,
    CONFIDENCE,
    NODATA_CODE,
    OUR_FILES,
    PROMPTS,
    SIDECAR,
    UNKNOWN_CODE,
    PartialWriter,
    Progress,
    disk_full_message,
    make_readable,
    read_json,
    write_sidecar,
)
from lslib.inference.tiling_geometry import Block, Grid, make_grid
from lslib.inference.tiling_sources import Bands, open_source, source_fingerprint

__all__ = ["MapResult", "map_large_area", "model_checksum"]


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

    def table(self) -> str:
        lines = [f"{'class':<28} {'pixels':>12} {'hectares':>12} {'%':>7}"]
        for row in self.areas:
            ha = "n/a" if not np.isfinite(row["hectares"]) else f"{row['hectares']:.1f}"
            lines.append(f"{row['class']:<28} {row['pixels']:>12} {ha:>12} {row['percent']:>7.2f}")
        return "\n".join(lines)


def model_checksum(model: Any) -> str:
    """sha256 of the model's state (names, dtypes, shapes, bytes in name order): identifies the weights."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(-1).view(dtype=__import__("torch").uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


class _ScoreCache:
    """Byte-bounded LRU of blended-window inputs ``(scores, valid)``: windows shared by neighbouring blocks."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.items: OrderedDict[tuple[int, int], tuple[np.ndarray | None, np.ndarray | None]] = OrderedDict()

    def get(self, key: tuple[int, int]) -> tuple[np.ndarray | None, np.ndarray | None] | None:
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        return None

    def put(self, key: tuple[int, int], value: tuple[np.ndarray | None, np.ndarray | None]) -> None:
        self.items[key] = value
        while self.items and self._bytes() > self.max_bytes:
            self.items.popitem(last=False)

    def _bytes(self) -> int:
        return sum(sum(a.nbytes for a in v if a is not None) for v in self.items.values())


class _Mapper:
    """Computes blocks: windows -> predictor -> weighted sum -> decision (one instance per worker)."""

    def __init__(self, da: xr.DataArray, grid: Grid, predictor: Any, prompts: Any, cache_bytes: int) -> None:
        self.da, self.grid, self.predictor, self.prompts = da, grid, predictor, prompts
        # only the column of windows shared with the next block (row-major order) is ever reused: cache that much
        column = max(len(b.row_windows) for b in grid.blocks) + 1
        window_bytes = (len(prompts) + 1) * min(grid.tile, grid.height) * min(grid.tile, grid.width) * 4
        self.cache = _ScoreCache(min(cache_bytes, column * window_bytes))
        self.thresholds = np.asarray(prompts.thresholds, dtype=np.float32)
        self.windows_computed = 0

    def window(self, i: int, j: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(weighted scores (K, h, w) float32, valid (h, w) bool)``; ``(None, None)`` for a nodata-only window."""
        cached = self.cache.get((i, j))
        if cached is not None:
            return cached
        (r0, r1), (c0, c1) = self.grid.row_windows[i], self.grid.col_windows[j]
        win = self.da.isel(y=slice(r0, r1), x=slice(c0, c1))
        values = np.asarray(win.data.compute(scheduler="synchronous") if win.chunks else win.values, np.float32)
        finite = np.isfinite(values)
        valid = finite.any(0)
        result: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        if bool(valid.any()):
            window_da = win.copy(data=np.where(finite, values, np.float32(np.nan)))
            self.predictor.set_image(window_da, key=f"tiling:{id(self)}:{r0}:{c0}")
            _, _, fused = self.predictor.raw(self.prompts)
            scores = fused.scores[0].float().cpu().numpy()
            scores *= self.grid.weight(i, j)[None]
            result = (scores, np.asarray(valid, dtype=bool))
            self.windows_computed += 1
        self.cache.put((i, j), result)
        return result

    def block(self, block: Block) -> tuple[np.ndarray, np.ndarray, int]:
        """``(codes uint8, confidence float32, valid pixel count)`` of one block."""
        (br0, br1), (bc0, bc1) = block.rows, block.cols
        k = len(self.prompts)
        acc = np.zeros((k, br1 - br0, bc1 - bc0), dtype=np.float32)
        valid = np.zeros((br1 - br0, bc1 - bc0), dtype=bool)
        for i in block.row_windows:
            for j in block.col_windows:
                scores, win_valid = self.window(i, j)
                if scores is None or win_valid is None:
                    continue
                (r0, r1), (c0, c1) = self.grid.row_windows[i], self.grid.col_windows[j]
                y0, y1, x0, x1 = max(r0, br0), min(r1, br1), max(c0, bc0), min(c1, bc1)
                acc[:, y0 - br0 : y1 - br0, x0 - bc0 : x1 - bc0] += scores[:, y0 - r0 : y1 - r0, x0 - c0 : x1 - c0]
                valid[y0 - br0 : y1 - br0, x0 - bc0 : x1 - bc0] |= win_valid[y0 - r0 : y1 - r0, x0 - c0 : x1 - c0]
        index = acc.argmax(0)
        conf = np.take_along_axis(acc, index[None], 0)[0]
        del acc
        codes = np.where(conf >= self.thresholds[index], index, UNKNOWN_CODE).astype(np.uint8)
        codes[~valid] = NODATA_CODE
        conf = np.where(valid, np.clip(conf, 0.0, 1.0), np.float32(np.nan)).astype(np.float32)
        return codes, conf, int(valid.sum())


def _resolve_predictor(predictor: Any, model: Any) -> Any:
    from lslib.inference.predictor import Predictor

    if predictor is not None:
        return predictor
    return Predictor(model, cache_bytes=0)


def _prepare_out(out: Path, signature: str, *, resume: bool, overwrite: bool) -> str:
    """Check the output folder; returns ``"fresh"``, ``"resume"`` or ``"complete"``. Changes nothing on error."""
    if not out.exists():
        return "fresh"
    if not out.is_dir():
        raise FileExistsError(f"--out {out} exists and is not a folder; choose a folder path")
    present = [n for n in OUR_FILES if (out / n).exists()]
    if not present:
        return "fresh"
    if overwrite:
        for name in present:
            (out / name).unlink()
        return "fresh"
    sidecar = read_json(out / SIDECAR)
    progress = read_json(out / ".progress.json")
    same = (sidecar or {}).get("signature") == signature or (progress or {}).get("signature") == signature
    if not same:
        raise FileExistsError(
            f"{out} already holds a map ({', '.join(present)}) made from a different input, prompt set, model or "
            "tiling; pass --overwrite (Python: overwrite=True) to replace it, or choose another --out"
        )
    if resume and sidecar is not None and sidecar.get("signature") == signature and (out / CLASS_MAP).exists():
        return "complete"
    if not resume:  # the same map, started again from scratch
        for name in present:
            (out / name).unlink()
        return "fresh"
    return "resume"


def _areas(names: Sequence[str], counts: np.ndarray, valid: int, px_ha: float) -> list[dict[str, Any]]:
    rows = []
    for code, name in [*enumerate(names), (UNKNOWN_CODE, "unknown")]:
        n = int(counts[code])
        rows.append({"class": name, "pixels": n, "hectares": n * px_ha, "percent": 100 * n / valid if valid else 0.0})
    return rows


def _count_classes(path: Path) -> np.ndarray:
    """Histogram of the class-map codes, read block by block (bounded memory)."""
    import rasterio

    counts = np.zeros(256, dtype=np.int64)
    with rasterio.open(path) as src:
        for _, window in src.block_windows(1):
            counts += np.bincount(src.read(1, window=window).ravel(), minlength=256)
    return counts


def _pixel_hectares(da: xr.DataArray, pixel: bool) -> float:
    crs = None if pixel else da.rio.crs
    if crs is None or not crs.is_projected:
        return float("nan")
    rx, ry = da.rio.resolution()
    return abs(rx * ry) * float(crs.linear_units_factor[1]) ** 2 / 1e4


def _map_large_area(
    source: Any,
    prompts: Any,
    out: str | Path,
    *,
    predictor: Any = None,
    model: Any = None,
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
    client: Any = None,
    cache_bytes: int = 256 << 20,
) -> MapResult:
    """Map ``source`` with ``prompts`` into ``out/`` (class-map COG, confidence COG, ``map.json``, ``prompts.yaml``).

    Args:
        source: a Sentinel-2 band folder, a GeoTIFF/COG/JP2 (PNG/JPEG: pixel coordinates), a STAC item
            (pystac Item, dict or JSON path) or a ``(band, y, x)`` DataArray (NumPy or Dask) of any size.
        prompts: a :class:`~lslib.prompt_set.PromptSet`, a prompt-set YAML path, a preset key
            (``"esa_worldcover"``), ``"water, forest, ..."`` or a list of names (:func:`lslib.prompt_set.resolve`).
        out: output folder.
        predictor: a :class:`~lslib.inference.Predictor` (its fusion mode/alpha are used); default one
            around ``model`` (default: the released default, :func:`lslib.model.build.load_released`).
        tile, overlap: window size and overlap in pixels (``overlap <= tile // 2``).
        block: output block size in pixels (memory: ``K * block² * 4`` bytes for the scores).
        bands, sensor: band names/wavelengths or a sensor preset for files without band metadata.
        scale, offset: physical value = DN * scale + offset, overriding the file's tags and the sensor's
            convention (see :func:`lslib.data.open_image`).
        resume: continue an unfinished run of the same input, prompts, model and tiling.
        overwrite: replace the outputs of another run in ``out`` (only lslib's own files are removed).
        progress: a tqdm progress bar over blocks.
        workers: >0 computes blocks in that many threads (each with its own predictor on the shared model).
        client: a ``dask.distributed.Client``: blocks are computed as tasks on its workers.
        cache_bytes: budget of the cache of window scores shared by neighbouring blocks.

    Raises:
        ValueError: empty prompt set, bad bands/tiling, no CRS, or an input with no valid pixel.
        FileExistsError: ``out`` holds another map (use ``overwrite=True``).
        OSError: a failed write (e.g. disk full): the message says what is left and how to resume.
    """
    from lslib import __version__
    from lslib.prompt_set import resolve

    start = time.perf_counter()
    out = Path(out)
    ps = resolve(prompts)  # the one prompt rule (an empty set: ValueError saying what to pass)
    da, pixel, described = open_source(
        source, bands=bands, sensor=sensor, chunk=max(tile, 512), scale=scale, offset=offset
    )
    da = with_scene_stretch(da.transpose("band", "y", "x"))
    height, width = da.sizes["y"], da.sizes["x"]
    grid = make_grid(height, width, tile=tile, overlap=overlap, block=block)
    pred = _resolve_predictor(predictor, model)
    checksum = model_checksum(pred.model)
    from lslib.inference.teach import check_compatible, save_taught, teaching_of

    teaching = teaching_of(ps)  # a taught prompt set: its head is loaded and checked before any pixel is mapped
    if teaching is not None:
        check_compatible(teaching.head, ps.names, [str(b) for b in da["band"].values],
                         np.asarray(da["wavelength"].values, dtype=float).tolist(), pred.fingerprint())
    settings = {
        "input": described, "input_fingerprint": source_fingerprint(source, da), "prompts": ps.to_dict(),
        "thresholds": ps.thresholds, "fusion_mode": pred.mode, "alpha": pred.alpha,
        "radiometry": da.attrs.get("radiometry"), "radiometry_source": da.attrs.get("radiometry_source"),
        "scale": da.attrs.get("scale"), "offset": da.attrs.get("offset"), "norm_stats": da.attrs.get("norm_stats"),
        "model_variant": getattr(getattr(pred.model, "config", None), "variant", type(pred.model).__name__),
        "model_sha256": checksum, "teaching": None if teaching is None else teaching.summary(),
        "tile": tile, "overlap": overlap, "block": block, "shape": [height, width],
    }  # fmt: skip
    signature = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
    state = _prepare_out(out, signature, resume=resume, overwrite=overwrite)
    paths = {"class_map": out / CLASS_MAP, "confidence": out / CONFIDENCE, "sidecar": out / SIDECAR,
             "prompts": out / PROMPTS}  # fmt: skip
    if state == "complete":
        doc = read_json(out / SIDECAR) or {}
        return MapResult(out, paths, doc.get("areas", []), int(doc.get("pixels_mapped", 0)),
                         time.perf_counter() - start, blocks_resumed=len(grid.blocks), sidecar=doc)  # fmt: skip
    meta = {"lslib_version": __version__, **settings, "signature": signature, "labels": {
        **{str(i): n for i, n in enumerate(ps.names)}, str(UNKNOWN_CODE): "unknown", str(NODATA_CODE): "nodata"}}
    tags = {"LSLIB_SIDECAR": json.dumps(meta, default=str), "LSLIB_CLASSES": json.dumps(ps.names),
            "LSLIB_UNKNOWN": str(UNKNOWN_CODE), "LSLIB_NODATA": str(NODATA_CODE), "LSLIB_VERSION": __version__,
            "LSLIB_MODEL_SHA256": checksum}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    writer = PartialWriter(
        out, height=height, width=width, crs=None if pixel else da.rio.crs,
        transform=_transform(da, pixel), colours=ps.colours, tags=tags,
    )  # fmt: skip
    record = Progress(out, signature)
    try:
        if not (state == "resume" and record.load() and writer.exists()):
            record.done, record.valid_pixels = set(), 0
            writer.create()
            record.save()
        resumed = len(record.done)
        todo = [b for b in grid.blocks if b.index not in record.done]
        from lslib.inference.tiling_parallel import run_blocks

        windows = run_blocks(da, grid, pred, ps, todo, writer, record, workers=workers, client=client,
                             cache_bytes=cache_bytes, progress=progress)  # fmt: skip
        if record.valid_pixels == 0:
            writer.remove()
            (out / ".progress.json").unlink(missing_ok=True)
            raise ValueError(
                f"the input has no valid pixel (every band is nodata/NaN everywhere in {described}): check the "
                "file, its nodata value or the area; nothing was written"
            )
        counts = _count_classes(writer.paths[CLASS_MAP])
        areas = _areas(ps.names, counts, record.valid_pixels, _pixel_hectares(da, pixel))
        from lslib.prompt_set import save as save_prompts

        if teaching is not None:  # the taught prompt set travels with its head: the map can be reproduced
            make_readable(save_taught(ps, out / PROMPTS))
            make_readable(out / Path(PROMPTS).with_suffix(".safetensors").name)
        else:
            make_readable(save_prompts(ps, out / PROMPTS))
        writer.finalise({"LSLIB_AREAS": json.dumps(areas)})
        seconds = time.perf_counter() - start
        doc = {**meta, "pixels_mapped": record.valid_pixels, "areas": areas, "crs": str(writer.crs or ""),
               "pixel_coordinates": pixel, "files": {k: p.name for k, p in paths.items()},
               "codes": {"classes": "0..K-1 = index into prompts", "unknown": UNKNOWN_CODE, "nodata": NODATA_CODE}}
        write_sidecar(out, doc)  # the completion marker: written last
    except OSError as exc:
        if isinstance(exc, FileExistsError | FileNotFoundError):
            raise
        raise OSError(disk_full_message(out, exc)) from exc  # no errno: the CLI prints this message as is
    writer.remove()
    (out / ".progress.json").unlink(missing_ok=True)
    return MapResult(out, paths, areas, record.valid_pixels, seconds, len(todo), resumed, windows, doc)


#: GDAL's block cache while mapping (MB) unless $GDAL_CACHEMAX is set. GDAL's default (5 % of RAM, 1.2 GB
#: here) fills with decoded input blocks as the windows sweep a large scene (peak RSS 2.3 GB for 8192²);
#: 96 MB: 1.2 GB there, and JP2 inputs still decode once (bench/inference.py).
GDAL_CACHE_MB = 96


@functools.wraps(_map_large_area)
def map_large_area(*args: Any, **kwargs: Any) -> MapResult:
    import rasterio

    if os.environ.get("GDAL_CACHEMAX"):
        return _map_large_area(*args, **kwargs)
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB << 20):  # bytes: rasterio passes an int to GDALSetCacheMax64
        return _map_large_area(*args, **kwargs)


def _transform(da: xr.DataArray, pixel: bool) -> Any:
    from affine import Affine

    return Affine.identity() if pixel else da.rio.transform()

