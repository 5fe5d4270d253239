"""Output files of large-area mapping: class-map and confidence COGs, sidecar, progress record.

Layout of an output folder (``out/``)::

    class_map.tif     uint8 COG: value k = index of the prompt (0 .. K-1), 254 = unknown (below the
                      class threshold), 255 = nodata (GeoTIFF nodata); colour table = prompt colours,
                      unknown grey (128, 128, 128), nodata transparent black
    confidence.tif    float32 COG: fused score of the winning class in [0, 1], NaN nodata
    map.json          sidecar (also in the COGs' ``LSLIB_*`` tags): prompts, thresholds, fusion mode,
                      model variant + sha256, lslib version, input, tile/overlap/block, areas. Written
                      last: its presence means the run is complete.
    prompts.yaml      the prompt set (:func:`lslib.prompt_set.save`)

While running, only hidden names exist: ``.class_map.partial.tif`` / ``.confidence.partial.tif``
(tiled GTiffs written block by block with windowed writes) and ``.progress.json`` (the run
signature and the finished blocks, replaced atomically after each block is on disk). At the end the
partial files are converted to COGs under temporary names, renamed to the final names and the
sidecar is written; a kill at any point leaves no file that looks complete.
"""

from __future__ import annotations

import errno
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from lslib.atomic import atomic_path, write_text

CLASS_MAP = "class_map.tif"
CONFIDENCE = "confidence.tif"
SIDECAR = "map.json"
PROMPTS = "prompts.yaml"
PROGRESS = ".progress.json"
PARTIAL = {CLASS_MAP: ".class_map.partial.tif", CONFIDENCE: ".confidence.partial.tif"}
UNKNOWN_CODE = 254
NODATA_CODE = 255
UNKNOWN_RGBA = (128, 128, 128, 255)
NODATA_RGBA = (0, 0, 0, 0)
OUR_FILES = (CLASS_MAP, CONFIDENCE, SIDECAR, PROMPTS, PROGRESS, *PARTIAL.values())


def colour_table(colours: Sequence[str]) -> dict[int, tuple[int, int, int, int]]:
    """``{code: rgba}`` for the class map: one entry per prompt colour, unknown and nodata."""
    from matplotlib.colors import to_rgba

    table = {i: (0, 0, 0, 255) for i in range(256)}
    for i, c in enumerate(colours):
        r, g, b, _ = to_rgba(c)
        table[i] = (round(r * 255), round(g * 255), round(b * 255), 255)
    table[UNKNOWN_CODE] = UNKNOWN_RGBA
    table[NODATA_CODE] = NODATA_RGBA
    return table


def disk_full_message(out: Path, exc: OSError) -> str:
    """The error message for a failed write: what happened, what is left, what to do."""
    what = "the disk is full" if exc.errno == errno.ENOSPC else f"a write failed ({exc})"
    return (
        f"{what} while writing the map into {out}: nothing was finalised (class_map.tif/confidence.tif/map.json "
        "do not exist; only hidden .partial files and .progress.json). Free some space (or choose another --out) "
        "and rerun the same command: finished blocks are kept and the run resumes."
    )


class PartialWriter:
    """Tiled GTiffs under hidden names, written block by block (open, write, close: on disk before progress)."""

    def __init__(
        self,
        out: Path,
        *,
        height: int,
        width: int,
        crs: CRS | None,
        transform: Affine,
        colours: Sequence[str],
        tags: Mapping[str, str],
    ) -> None:
        self.out = out
        self.paths = {k: out / v for k, v in PARTIAL.items()}
        self.height, self.width = height, width
        self.crs, self.transform = crs, transform
        self.colours = list(colours)
        self.tags = dict(tags)

    def _profile(self, dtype: str, nodata: float) -> dict[str, Any]:
        tile = 256 if min(self.height, self.width) >= 16 else 16
        return {
            "driver": "GTiff", "width": self.width, "height": self.height, "count": 1, "dtype": dtype,
            "crs": self.crs, "transform": self.transform, "nodata": nodata, "tiled": True,
            "blockxsize": tile, "blockysize": tile, "compress": "deflate", "zlevel": 1, "sparse_ok": True,
            "bigtiff": "if_safer",
        }  # fmt: skip

    def create(self) -> None:
        """Create both partial files (every pixel nodata until written)."""
        import warnings

        from rasterio.errors import NotGeoreferencedWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            for key, dtype, nodata in ((CLASS_MAP, "uint8", NODATA_CODE), (CONFIDENCE, "float32", math.nan)):
                profile = self._profile(dtype, nodata)
                with atomic_path(self.paths[key]) as tmp, rasterio.open(tmp, "w", **profile) as dst:
                    dst.update_tags(**self.tags)
                    if key == CLASS_MAP:
                        dst.write_colormap(1, colour_table(self.colours))
                        dst.set_band_description(1, "class index into prompts.yaml (254 unknown, 255 nodata)")
                    else:
                        dst.set_band_description(1, "fused score of the winning class")

    def exists(self) -> bool:
        return all(p.exists() for p in self.paths.values())

    def write_block(self, rows: tuple[int, int], cols: tuple[int, int], codes: np.ndarray, conf: np.ndarray) -> None:
        """Windowed write of one block into both partial files (closed afterwards: the data is on disk)."""
        import warnings

        from rasterio.errors import NotGeoreferencedWarning
        from rasterio.windows import Window

        window = Window(cols[0], rows[0], cols[1] - cols[0], rows[1] - rows[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            for key, data in ((CLASS_MAP, codes), (CONFIDENCE, conf)):
                with rasterio.open(self.paths[key], "r+") as dst:
                    dst.write(data[None], window=window)

    def finalise(self, tags: Mapping[str, str]) -> dict[str, Path]:
        """Convert both partial files to COGs (temporary names), then rename them to the final names."""
        import warnings

        from rasterio.errors import NotGeoreferencedWarning
        from rasterio.shutil import copy as rio_copy

        finals: dict[str, Path] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            for key, resampling in ((CONFIDENCE, "average"), (CLASS_MAP, "nearest")):
                with rasterio.open(self.paths[key], "r+") as src:
                    src.update_tags(**tags)
                target = self.out / key
                with atomic_path(target) as tmp:
                    rio_copy(
                        self.paths[key], tmp, driver="COG", compress="deflate", blocksize=512,
                        overview_resampling=resampling, predictor="yes" if key == CONFIDENCE else "no",
                        bigtiff="if_safer",
                    )  # fmt: skip
                    _check_cog(tmp, colour=key == CLASS_MAP)
                    make_readable(tmp)
                finals[key] = target
        return finals

    def remove(self) -> None:
        for p in self.paths.values():
            p.unlink(missing_ok=True)


def make_readable(path: Path) -> None:
    """Give a temporary file (mkstemp: 0600) the usual permissions (0666 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _check_cog(path: Path, *, colour: bool) -> None:
    with rasterio.open(path) as src:
        if colour:
            src.colormap(1)  # raises if the colour table was lost


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's content, or None when missing or unreadable (a torn file never counts)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


class Progress:
    """``.progress.json``: the run's signature and the ids of finished blocks, replaced atomically."""

    def __init__(self, out: Path, signature: str) -> None:
        self.path = out / PROGRESS
        self.signature = signature
        self.done: set[int] = set()
        self.valid_pixels = 0

    def load(self) -> bool:
        """Adopt a previous record with the same signature; False when there is none or it differs."""
        doc = read_json(self.path)
        if not doc or doc.get("signature") != self.signature:
            return False
        self.done = {int(b) for b in doc.get("done", [])}
        self.valid_pixels = int(doc.get("valid_pixels", 0))
        return True

    def record(self, block: int, valid: int) -> None:
        self.done.add(block)
        self.valid_pixels += valid
        self.save()

    def save(self) -> None:
        doc = {"signature": self.signature, "done": sorted(self.done), "valid_pixels": self.valid_pixels}
        write_text(self.path, json.dumps(doc))


def write_sidecar(out: Path, doc: Mapping[str, Any]) -> Path:
    """Write ``map.json`` atomically (the completion marker)."""
    with atomic_path(out / SIDECAR) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
        make_readable(tmp)
    return out / SIDECAR


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (renames) to disk where the OS allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
