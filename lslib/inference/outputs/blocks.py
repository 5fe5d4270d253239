"""The block store: each finished block as files of its own in ``out/.lslib-partial/``, and the COGs built from them.

A block is durable once :meth:`PartialWriter.write_block` returns (written under a temporary name, read
back and compared, flushed, renamed); no file is shared between blocks. :meth:`PartialWriter.finalise`
mosaics the block files with a VRT per output and copies each into a COG, under temporary names first.
"""

from __future__ import annotations

import errno
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from lslib.atomic import atomic_path, fsync_path
from lslib.inference.codes import BAND_DESCRIPTION, NODATA_CODE, colour_table
from lslib.inference.outputs.files import GdalError
from lslib.inference.outputs.layout import CLASS_MAP, CONFIDENCE, LEGACY_PARTIAL, PARTIAL_DIR
from lslib.inference.outputs.ownership import lslib_tags, remove_partial_dir

_BlockRect = tuple[int, tuple[int, int], tuple[int, int]]  # (block index, (row0, row1), (col0, col1))



class PartialWriter:
    """Finished blocks as files of their own in ``out/.lslib-partial/``; the COGs are built from them at the end.

    Each block is two small tiled GTiffs (``b{index:06d}.class.tif`` uint8 and ``.conf.tif`` float32),
    written under a temporary name, read back and compared, flushed to disk and renamed: once
    :meth:`write_block` returns, the block is durable and no later write touches it. A block without
    a valid pixel has no file (it is nodata in the COGs).
    """

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
        """A block store in ``out``, for a map of ``height`` x ``width`` pixels on ``crs``/``transform``."""
        self.out = out
        self.dir = out / PARTIAL_DIR
        self.paths = {CLASS_MAP: self.dir / "class.vrt", CONFIDENCE: self.dir / "conf.vrt"}
        self.height, self.width = height, width
        self.crs, self.transform = crs, transform
        self.colours = list(colours)
        self.tags = dict(tags)

    def block_paths(self, index: int) -> tuple[Path, Path]:
        """The two files of block ``index``: ``(class, confidence)``."""
        return self.dir / f"b{index:06d}.class.tif", self.dir / f"b{index:06d}.conf.tif"

    def create(self) -> None:
        """Start empty: the partial folder exists and holds no block (leftovers of another run are removed)."""
        remove_partial_dir(self.out)
        self.dir.mkdir(parents=True, exist_ok=True)

    def exists(self) -> bool:
        """Whether the partial folder exists (a run started here)."""
        return self.dir.is_dir()

    def has(self, index: int) -> bool:
        """Whether both files of block ``index`` are in place."""
        return all(p.is_file() for p in self.block_paths(index))

    def write_block(self, rows: tuple[int, int], cols: tuple[int, int], codes: np.ndarray, conf: np.ndarray,
                    *, index: int) -> None:  # fmt: skip
        """Write one block (both outputs) durably; a block with no valid pixel writes nothing."""
        if not (codes != NODATA_CODE).any():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        for path, data, nodata in zip(self.block_paths(index), (codes, conf), (NODATA_CODE, math.nan), strict=True):
            _write_block_file(path, data, nodata)
        fsync_path(self.dir)

    def read_block(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, confidence)`` of a block with data, from its files."""
        from rasterio.errors import NotGeoreferencedWarning

        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            for path in self.block_paths(index):
                with rasterio.open(path) as src:
                    out.append(src.read(1))
        return out[0], out[1]

    def finalise(self, blocks: Sequence[_BlockRect], tags: Mapping[str, str]) -> dict[str, Path]:
        """Build both COGs from the blocks with data (VRT mosaic), temporary names first, then rename both."""
        from rasterio.errors import NotGeoreferencedWarning
        from rasterio.shutil import copy as rio_copy

        all_tags = {**self.tags, **tags}
        self.dir.mkdir(parents=True, exist_ok=True)
        for key, dtype, nodata in ((CLASS_MAP, "Byte", NODATA_CODE), (CONFIDENCE, "Float32", math.nan)):
            self._write_vrt(self.paths[key], key, dtype, nodata, blocks, all_tags)
        finals = {key: self.out / key for key in (CONFIDENCE, CLASS_MAP)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with atomic_path(finals[CONFIDENCE], fsync=True) as conf_tmp, \
                    atomic_path(finals[CLASS_MAP], fsync=True) as class_tmp:  # fmt: skip
                for key, tmp, resampling in ((CONFIDENCE, conf_tmp, "average"), (CLASS_MAP, class_tmp, "nearest")):
                    rio_copy(
                        self.paths[key], tmp, driver="COG", compress="deflate", blocksize=512,
                        overview_resampling=resampling, predictor="yes" if key == CONFIDENCE else "no",
                        bigtiff="if_safer", sparse_ok=True,
                    )  # fmt: skip
                    _check_cog(tmp, colour=key == CLASS_MAP)
        return finals

    def _write_vrt(self, path: Path, key: str, dtype: str, nodata: float, blocks: Sequence[_BlockRect],
                   tags: Mapping[str, str]) -> None:  # fmt: skip
        root = ET.Element("VRTDataset", rasterXSize=str(self.width), rasterYSize=str(self.height))
        if self.crs is not None:
            ET.SubElement(root, "SRS", dataAxisToSRSAxisMapping="1,2").text = self.crs.to_wkt()
        if self.crs is not None or self.transform != Affine.identity():
            ET.SubElement(root, "GeoTransform").text = ", ".join(repr(float(v)) for v in self.transform.to_gdal())
        meta = ET.SubElement(root, "Metadata")
        for k in sorted(tags):
            ET.SubElement(meta, "MDI", key=k).text = tags[k]
        band = ET.SubElement(root, "VRTRasterBand", dataType=dtype, band="1")
        if key == CLASS_MAP:
            ET.SubElement(band, "Description").text = BAND_DESCRIPTION
        else:
            ET.SubElement(band, "Description").text = "fused score of the winning class"
        ET.SubElement(band, "NoDataValue").text = "nan" if math.isnan(nodata) else str(int(nodata))
        if key == CLASS_MAP:
            ET.SubElement(band, "ColorInterp").text = "Palette"
            table = ET.SubElement(band, "ColorTable")
            for _, rgba in sorted(colour_table(self.colours).items()):
                ET.SubElement(table, "Entry", c1=str(rgba[0]), c2=str(rgba[1]), c3=str(rgba[2]), c4=str(rgba[3]))
        which = 0 if key == CLASS_MAP else 1
        for index, (r0, r1), (c0, c1) in blocks:
            src = ET.SubElement(band, "SimpleSource")
            ET.SubElement(src, "SourceFilename", relativeToVRT="1").text = self.block_paths(index)[which].name
            ET.SubElement(src, "SourceBand").text = "1"
            xs, ys = str(c1 - c0), str(r1 - r0)
            ET.SubElement(src, "SrcRect", xOff="0", yOff="0", xSize=xs, ySize=ys)
            ET.SubElement(src, "DstRect", xOff=str(c0), yOff=str(r0), xSize=xs, ySize=ys)
        with atomic_path(path) as tmp:
            ET.ElementTree(root).write(tmp, encoding="utf-8")

    def remove(self) -> None:
        """Remove the block store and the partial files of older lslib versions (those with lslib's tags)."""
        remove_partial_dir(self.out)
        for name in LEGACY_PARTIAL:
            path = self.out / name
            if path.exists() and lslib_tags(path) is not None:
                path.unlink()


def _write_block_file(path: Path, data: np.ndarray, nodata: float) -> None:
    """One block file: written under a temporary name, read back and compared, fsynced, renamed."""
    from rasterio.errors import NotGeoreferencedWarning, RasterioError

    h, w = data.shape
    tile = 256 if min(h, w) >= 256 else 16 * max(1, min(h, w) // 16)
    profile = {
        "driver": "GTiff", "width": w, "height": h, "count": 1, "dtype": data.dtype.name, "nodata": nodata,
        "tiled": True, "blockxsize": tile, "blockysize": tile, "compress": "deflate", "zlevel": 1,
    }  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with atomic_path(path, fsync=True) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                dst.write(data[None])
            try:  # what is on disk is what was computed: GDAL can report a failed flush on close as a warning only
                with rasterio.open(tmp) as src:
                    back = src.read(1)
            except (OSError, RasterioError, GdalError) as exc:
                raise OSError(errno.EIO, f"{path.name} cannot be read back after writing it: the write failed") from exc
            if not np.array_equal(back, data, equal_nan=data.dtype.kind == "f"):
                raise OSError(errno.EIO, f"{path.name} reads back different data: the write failed")


def _check_cog(path: Path, *, colour: bool) -> None:
    with rasterio.open(path) as src:
        if colour:
            src.colormap(1)  # raises if the colour table was lost

