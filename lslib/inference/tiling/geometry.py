"""Window and block geometry of large-area mapping, and the blending weights (pure NumPy, no I/O).

Along each axis of length ``n`` the model sees windows of ``tile`` pixels that start every
``stride = tile - overlap`` pixels; the last window is clamped inside the raster (it starts at
``n - tile``), so no window reads past the edge. A raster smaller than a tile is one window of its
own size.

Blending: each window has a separable weight ``w(y, x) = a(y) * b(x)``; the 1-D profile is 1 in the
window's middle and a raised-cosine ramp ``0.5 - 0.5 cos(pi (j + 0.5) / overlap)`` over the
``overlap`` pixels at a side shared with another window (no ramp at the raster's edge). The profiles
are then divided, per axis, by their sum over the windows, so at every pixel the 2-D weights of the
windows covering it sum to 1 (to float64 rounding): blending a constant field gives it back and the
fused scores change smoothly across tile borders (no seams).

Blocks: the output is produced block by block (blend in memory, write, record progress). Block
borders sit in the middle of a window's un-overlapped part, so only one window per border and axis
is needed by two blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

__all__ = ["Block", "Grid", "axis_blocks", "axis_weights", "axis_windows", "make_grid", "ramp"]


def axis_windows(n: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of the windows along an axis of ``n`` pixels (last one clamped inside).

    Raises:
        ValueError: ``n < 1``, ``tile < 1`` or ``overlap`` not in ``[0, tile // 2]``.
    """
    if n < 1 or tile < 1:
        raise ValueError(f"raster size {n} and tile {tile} must be >= 1")
    if not 0 <= overlap <= tile // 2:
        raise ValueError(f"overlap {overlap} must be between 0 and tile // 2 = {tile // 2}")
    if n <= tile:
        return [(0, n)]
    stride = tile - overlap
    starts = list(range(0, n - tile, stride))
    starts.append(n - tile)
    return [(s, s + tile) for s in dict.fromkeys(starts)]


def ramp(length: int) -> np.ndarray:
    """Raised-cosine ramp of ``length`` samples from just above 0 to just below 1 (strictly positive)."""
    j = np.arange(length, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(np.pi * (j + 0.5) / max(length, 1))


def axis_weights(n: int, windows: list[tuple[int, int]], overlap: int) -> list[np.ndarray]:
    """Per window, its normalised 1-D weight profile (length ``stop - start``); the sum over windows is 1."""
    raw = []
    for start, stop in windows:
        w = np.ones(stop - start, dtype=np.float64)
        if start > 0 and overlap > 0:
            w[:overlap] = ramp(overlap)
        if stop < n and overlap > 0:
            w[-overlap:] = np.minimum(w[-overlap:], ramp(overlap)[::-1])
        raw.append(w)
    total = np.zeros(n, dtype=np.float64)
    for (start, stop), w in zip(windows, raw, strict=True):
        total[start:stop] += w
    return [w / total[start:stop] for (start, stop), w in zip(windows, raw, strict=True)]


def axis_blocks(n: int, windows: list[tuple[int, int]], block: int) -> list[tuple[int, int]]:
    """Split ``[0, n)`` into blocks of about ``block`` pixels, borders in a window's un-overlapped middle."""
    if n <= block or len(windows) < 3:
        return [(0, n)]
    borders = [0]
    for i in range(1, len(windows) - 1):
        prev_stop, next_start = windows[i - 1][1], windows[i + 1][0]
        mid = (prev_stop + next_start) // 2 if next_start > prev_stop else (windows[i][0] + windows[i][1]) // 2
        if mid - borders[-1] >= block and n - mid >= block // 2:
            borders.append(mid)
    if len(borders) == 1:
        return [(0, n)]
    borders.append(n)
    return list(pairwise(borders))


@dataclass(frozen=True)
class Block:
    """One output block: its id (row-major), pixel bounds and the windows (indices) that touch it."""

    index: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    row_windows: tuple[int, ...]
    col_windows: tuple[int, ...]

    @property
    def shape(self) -> tuple[int, int]:
        """The block's ``(rows, cols)`` in pixels."""
        return self.rows[1] - self.rows[0], self.cols[1] - self.cols[0]


@dataclass(frozen=True)
class Grid:
    """Windows, weights and blocks of a ``height x width`` raster."""

    height: int
    width: int
    tile: int
    overlap: int
    row_windows: list[tuple[int, int]]
    col_windows: list[tuple[int, int]]
    row_weights: list[np.ndarray]
    col_weights: list[np.ndarray]
    blocks: list[Block]

    @property
    def n_windows(self) -> int:
        """The number of windows covering the raster."""
        return len(self.row_windows) * len(self.col_windows)

    def weight(self, i: int, j: int) -> np.ndarray:
        """2-D normalised weight of window ``(i, j)`` (row ``i``, column ``j``), float32."""
        return np.outer(self.row_weights[i], self.col_weights[j]).astype(np.float32)

    def weight_sum(self) -> np.ndarray:
        """Sum of the windows' 2-D weights at every pixel (a check: all ones). Allocates ``(H, W)``."""
        total = np.zeros((self.height, self.width), dtype=np.float64)
        for i, (r0, r1) in enumerate(self.row_windows):
            for j, (c0, c1) in enumerate(self.col_windows):
                total[r0:r1, c0:c1] += np.outer(self.row_weights[i], self.col_weights[j])
        return total


def _touching(windows: list[tuple[int, int]], lo: int, hi: int) -> tuple[int, ...]:
    return tuple(i for i, (s, e) in enumerate(windows) if s < hi and e > lo)


def make_grid(height: int, width: int, *, tile: int = 512, overlap: int = 64, block: int = 2048) -> Grid:
    """Windows, normalised weights and output blocks for a ``height x width`` raster.

    Raises:
        ValueError: invalid sizes (see :func:`axis_windows`) or ``block < tile``.
    """
    if block < tile:
        raise ValueError(f"block ({block}) must be at least the tile size ({tile})")
    rw, cw = axis_windows(height, tile, overlap), axis_windows(width, tile, overlap)
    rb, cb = axis_blocks(height, rw, block), axis_blocks(width, cw, block)
    blocks = [
        Block(bi * len(cb) + bj, rows, cols, _touching(rw, *rows), _touching(cw, *cols))
        for bi, rows in enumerate(rb)
        for bj, cols in enumerate(cb)
    ]
    return Grid(
        height, width, tile, overlap, rw, cw, axis_weights(height, rw, overlap), axis_weights(width, cw, overlap),
        blocks,
    )
