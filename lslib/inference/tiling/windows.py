"""The block mapper of large-area mapping: windows -> predictor -> blended scores -> a block's class codes.

:class:`WindowMapper` computes one output block of :func:`lslib.inference.tiling.large_area.map_large_area` at a
time: each window of the :class:`~lslib.inference.tiling.geometry.Grid` that touches the block is read
(only where the input's footprint may hold data), prompted through the predictor (``set_image`` +
``raw``), weighted by its blending weight and summed into the block; argmax, thresholds and the valid
mask then give the block's codes (:func:`lslib.inference.codes.encode_class_map`) and confidence.
Windows shared with the next block are kept in a byte-bounded cache (:class:`ScoreCache`).

Both the serial run (:mod:`lslib.inference.tiling.large_area`) and the workers (:mod:`lslib.inference.tiling.parallel`)
build their mappers from here: ``large_area -> parallel -> windows``, no arrow back.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import numpy as np
import xarray as xr

from lslib.inference.codes import encode_class_map
from lslib.inference.tiling.geometry import Block, Grid
from lslib.inference.tiling.sources import Footprint, reading_input

__all__ = ["ScoreCache", "WindowMapper"]


class ScoreCache:
    """Byte-bounded LRU of blended-window inputs ``(scores, valid)``: windows shared by neighbouring blocks."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.items: OrderedDict[tuple[int, int], tuple[np.ndarray | None, np.ndarray | None]] = OrderedDict()

    def get(self, key: tuple[int, int]) -> tuple[np.ndarray | None, np.ndarray | None] | None:
        """The cached inputs of window ``key`` (marked as recently used), or None."""
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        return None

    def put(self, key: tuple[int, int], value: tuple[np.ndarray | None, np.ndarray | None]) -> None:
        """Cache the inputs of window ``key``, evicting the least recently used beyond the byte budget."""
        self.items[key] = value
        while self.items and self._bytes() > self.max_bytes:
            self.items.popitem(last=False)

    def _bytes(self) -> int:
        return sum(sum(a.nbytes for a in v if a is not None) for v in self.items.values())


class WindowMapper:
    """Computes blocks: windows -> predictor -> weighted sum -> decision (one instance per worker).

    ``footprint``: windows with no valid cell are nodata without being read; ``source_name``: the
    input, named by read errors (:class:`~lslib.inference.tiling.sources.InputReadError`).
    """

    def __init__(self, da: xr.DataArray, grid: Grid, predictor: Any, prompts: Any, cache_bytes: int,
                 footprint: Footprint | None = None, source_name: str = "image") -> None:  # fmt: skip
        self.da, self.grid, self.predictor, self.prompts = da, grid, predictor, prompts
        self.footprint, self.source_name = footprint, source_name
        # only the column of windows shared with the next block (row-major order) is ever reused: cache that much
        column = max(len(b.row_windows) for b in grid.blocks) + 1
        window_bytes = (len(prompts) + 1) * min(grid.tile, grid.height) * min(grid.tile, grid.width) * 4
        self.cache = ScoreCache(min(cache_bytes, column * window_bytes))
        self.thresholds = np.asarray(prompts.thresholds, dtype=np.float32)
        self.windows_computed = 0
        self.model_seconds = 0.0

    def window(self, i: int, j: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(weighted scores (K, h, w) float32, valid (h, w) bool)``; ``(None, None)`` for a nodata-only window."""
        cached = self.cache.get((i, j))
        if cached is not None:
            return cached
        (r0, r1), (c0, c1) = self.grid.row_windows[i], self.grid.col_windows[j]
        result: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        if self.footprint is not None and not self.footprint.any((r0, r1), (c0, c1)):
            self.cache.put((i, j), result)  # certainly nodata: never read
            return result
        win = self.da.isel(y=slice(r0, r1), x=slice(c0, c1))
        with reading_input(self.source_name, f" (rows {r0}-{r1}, columns {c0}-{c1})"):
            values = self._read(win)
        finite = np.isfinite(values)
        valid = finite.any(0)
        if bool(valid.any()):
            t0 = time.perf_counter()
            window_da = win.copy(data=np.where(finite, values, np.float32(np.nan)))
            self.predictor.set_image(window_da, key=f"tiling:{id(self)}:{r0}:{c0}")
            _, _, fused = self.predictor.raw(self.prompts)
            scores = fused.scores[0].float().cpu().numpy()
            scores *= self.grid.weight(i, j)[None]
            result = (scores, np.asarray(valid, dtype=bool))
            self.windows_computed += 1
            self.model_seconds += time.perf_counter() - t0
        self.cache.put((i, j), result)
        return result

    @staticmethod
    def _read(win: xr.DataArray) -> np.ndarray:
        """The window's pixels, float32 (the one place the input is read while mapping)."""
        return np.asarray(win.data.compute(scheduler="synchronous") if win.chunks else win.values, np.float32)

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
        codes = encode_class_map(np.where(conf >= self.thresholds[index], index, -1), valid)
        conf = np.where(valid, np.clip(conf, 0.0, 1.0), np.float32(np.nan)).astype(np.float32)
        return codes, conf, int(valid.sum())
