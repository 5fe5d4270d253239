"""Running the blocks of :func:`lslib.inference.tiling.large_area.map_large_area`: in order, in threads, or on Dask.

Each block is computed by a :class:`~lslib.inference.tiling.windows.WindowMapper` (the serial run's own,
one per thread, or one per Dask task); imports go one way: ``large_area -> parallel -> windows``.

Whatever computes a block, the calling process writes it and records it (one writer; a block is
recorded only after its files are durable, progress replaced atomically), and at most ``2 x workers``
finished-but-unwritten blocks are held in memory. A failed write raises
:class:`~lslib.inference.outputs.files.OutputWriteError` (what to do); a read error of the input passes as
:class:`~lslib.inference.tiling.sources.InputReadError` (names the input).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol, cast

import numpy as np
import xarray as xr

from lslib.inference.outputs import PartialWriter, Progress, writing
from lslib.inference.tiling.geometry import Block, Grid
from lslib.inference.tiling.sources import Footprint
from lslib.inference.tiling.windows import WindowMapper

BlockResult = tuple[np.ndarray, np.ndarray, int, int]


class _AsCompleted(Protocol):
    """What :func:`_dask_bounded` uses of ``distributed.as_completed`` (unannotated there); futures are Dask's."""

    def __iter__(self) -> Iterator[Any]: ...

    def add(self, future: Any) -> None:
        """Also yield ``future`` when it finishes."""


class _Holder:
    """Hides a (possibly Dask-backed) DataArray from Dask's argument traversal: it is sent, not computed."""

    def __init__(self, da: xr.DataArray, footprint: Footprint | None = None, source_name: str = "image") -> None:
        self.da, self.footprint, self.source_name = da, footprint, source_name


def _compute(mapper: WindowMapper, block: Block) -> BlockResult:
    before = mapper.windows_computed
    codes, conf, valid = mapper.block(block)
    return codes, conf, valid, mapper.windows_computed - before


def _remote_block(holder: _Holder, grid: Grid, model: Any, fusion: tuple[str, float], prompts: Any,
                  block: Block, cache_bytes: int) -> BlockResult:  # fmt: skip
    """A Dask task: one block with a predictor built on the worker (small caches)."""
    from lslib.inference.predictor import Predictor

    pred = Predictor(model, device="cpu", cache_bytes=0, mode=fusion[0], alpha=fusion[1])  # type: ignore[arg-type]
    mapper = WindowMapper(holder.da, grid, pred, prompts, cache_bytes, holder.footprint, holder.source_name)
    return _compute(mapper, block)


def _bounded(submit: Callable[[Block], Future[BlockResult]], blocks: Sequence[Block], limit: int
             ) -> Iterator[tuple[Block, BlockResult]]:  # fmt: skip
    """Submit blocks keeping at most ``limit`` in flight; yield them as they finish."""
    pending: dict[Future[BlockResult], Block] = {}
    queue = list(blocks)
    while queue or pending:
        while queue and len(pending) < limit:
            b = queue.pop(0)
            pending[submit(b)] = b
        done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        for f in done:
            yield pending.pop(f), f.result()


def _dask_bounded(client: Any, make: Callable[[Block], Any], blocks: Sequence[Block], limit: int
                  ) -> Iterator[tuple[Block, BlockResult]]:  # fmt: skip
    from distributed import as_completed

    queue = list(blocks)
    futures = {}
    for _ in range(min(limit, len(queue))):
        b = queue.pop(0)
        futures[make(b)] = b
    ac = cast("Callable[[list[Any]], _AsCompleted]", as_completed)(list(futures))
    for fut in ac:
        block = futures.pop(fut)
        yield block, fut.result()
        fut.release()
        if queue:
            b = queue.pop(0)
            nxt = make(b)
            futures[nxt] = b
            ac.add(nxt)


def run_blocks(
    da: xr.DataArray,
    grid: Grid,
    predictor: Any,
    prompts: Any,
    blocks: Sequence[Block],
    writer: PartialWriter,
    record: Progress,
    *,
    workers: int = 0,
    client: Any = None,
    cache_bytes: int = 256 << 20,
    progress: bool = True,
    footprint: Footprint | None = None,
    source_name: str = "image",
    mapper: WindowMapper | None = None,
) -> int:
    """Compute, write and record ``blocks``; returns the number of windows computed for them.

    ``mapper``: the serial path's :class:`~lslib.inference.tiling.windows.WindowMapper` (e.g. one that
    already timed a window); ``footprint``: windows without valid cells are never read.
    """
    from tqdm.auto import tqdm

    bar = tqdm(total=len(grid.blocks), initial=len(grid.blocks) - len(blocks), desc="map blocks", unit="block",
               disable=not progress)  # fmt: skip
    windows = 0
    old_cache = predictor.cache_bytes
    predictor.cache_bytes = 0  # tiling never revisits a window's embedding: keep one
    try:
        if client is not None:
            holder = client.scatter(_Holder(da, footprint, source_name), broadcast=True)
            model = client.scatter(predictor.model, broadcast=True)
            fusion = (predictor.mode, predictor.alpha)

            def make(b: Block) -> Any:
                return client.submit(_remote_block, holder, grid, model, fusion, prompts, b, cache_bytes, pure=False)

            results: Iterator[tuple[Block, BlockResult]] = _dask_bounded(
                client, make, blocks, 2 * max(1, len(client.scheduler_info().get("workers", {})))
            )
        elif workers > 0:
            local = threading.local()

            def thread_mapper() -> WindowMapper:
                if not hasattr(local, "mapper"):
                    local.mapper = WindowMapper(
                        da, grid, predictor.sibling(), prompts, cache_bytes // workers, footprint, source_name
                    )
                mapper: WindowMapper = local.mapper
                return mapper

            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lslib-map")
            results = _bounded(lambda b: pool.submit(lambda: _compute(thread_mapper(), b)), blocks, 2 * workers)
        else:
            serial = mapper or WindowMapper(da, grid, predictor, prompts, cache_bytes, footprint, source_name)
            results = ((b, _compute(serial, b)) for b in blocks)
        for block, (codes, conf, valid, n_windows) in results:
            with writing(writer.out):  # the block's files are durable before it is recorded
                writer.write_block(block.rows, block.cols, codes, conf, index=block.index)
                record.record(block.index, valid)
            windows += n_windows
            bar.update(1)
    finally:
        predictor.cache_bytes = old_cache
        bar.close()
        if client is None and workers > 0:
            pool.shutdown(wait=True, cancel_futures=True)
    return windows
