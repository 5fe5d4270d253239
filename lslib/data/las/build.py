"""Running a LAS build: points for a subset, then chips in parallel with Dask, resumable.

``build_las`` is what ``lslib las build`` runs. Points come from ``<root>/<subset>/points.parquet``
(written by :func:`sample_subset` / ``lslib las sample``); each point is built once: points whose
chip or rejection record exists are skipped, failed ones are retried. Workers are a Dask
``LocalCluster`` by default, or any ``dask.distributed`` scheduler address (a Dask Gateway
cluster on a Pangeo hub, a cluster you started with ``dask scheduler``).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lslib.data.las.chips import clean_partial, point_status
from lslib.data.las.cut import build_chip, build_point, check_stac
from lslib.data.las.recipes import Recipe
from lslib.data.las.search import label_items, stac_client

POINTS_FILE = "points.parquet"


@dataclass
class BuildSummary:
    """What one run did: counts per status, rejection/failure reasons, timing."""

    subset: str
    total_points: int
    already_done: int
    results: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        """Number of points of this run per status (``written``, ``rejected``, ...)."""
        return dict(Counter(r["status"] for r in self.results))

    @property
    def reasons(self) -> dict[str, int]:
        """Number of points not written per ``"<status>: <reason>"``."""
        return dict(Counter(f"{r['status']}: {r['reason']}" for r in self.results if r["status"] != "written"))

    @property
    def chips_per_second(self) -> float:
        """Points processed per second of this run (0 when nothing took time)."""
        return len(self.results) / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())) or "nothing to do"
        lines = [
            f"{self.subset}: {self.total_points} points, {self.already_done} done before; this run: {counts} "
            f"in {self.seconds:.1f} s ({self.chips_per_second:.1f} points/s)"
        ]
        lines += [f"  {k}: {v}" for k, v in sorted(self.reasons.items())]
        return "\n".join(lines)


def resolve_url(recipe: Recipe, stac_url: str | None) -> str:
    """The STAC API to use: ``stac_url`` if given, else the recipe's (a local recipe needs one)."""
    if stac_url:
        return stac_url.rstrip("/")
    if recipe.is_local:
        raise ValueError(
            f"{recipe.name} reads the loopback STAC API over the mirror: pass its URL (--stac-url, from "
            "`lslib las serve-local`), or run `lslib las build` without --stac-url to start one"
        )
    return recipe.stac_url


def _href_to_path(href: str) -> str:
    parsed = urlparse(href)
    return unquote(parsed.path) if parsed.scheme == "file" else href


def sample_subset(recipe: Recipe, *, url: str, n: int | None = None, seed: int | None = None) -> Any:
    """Sample the points of a subset with the recipe's design; returns a GeoDataFrame (EPSG:4326).

    ``global``: land points stratified by continent x climate zone (optionally inside ``region``).
    ``label``: class-frequency strata inside each label item found on the STAC API (points per
    item in proportion to n / items), so rare classes of every item get chips.
    ``footprints``: uniform inside the label items' footprints, shrunk so a chip fits.
    ``within_label`` (with ``global``): only where one label item holds the whole chip.
    Label items for ``footprints`` and ``within_label`` are those in ``label.datetime`` passing
    ``label.query`` (:func:`~lslib.data.las.search.label_items`).
    """
    import geopandas as gpd
    import pandas as pd

    from lslib.data.las import sampling
    from lslib.data.readers import read_label

    spec = recipe.sampling
    n = spec.n if n is None else n
    seed = spec.seed if seed is None else seed
    if spec.strategy == "global":
        within = _label_footprints(recipe, url) if spec.within_label else None
        pts = sampling.sample_global(
            n, seed=seed, min_distance_km=spec.min_distance_km, region=spec.region, allocation=spec.allocation,
            within=within,
        )  # fmt: skip
    elif spec.strategy == "footprints":
        items = _found_label_items(recipe, url)
        pts = sampling.sample_in_footprints(
            [_item_shape(i) for i in items],
            n,
            seed=seed,
            min_distance_m=spec.min_distance_km * 1000,
            margin_m=sampling.chip_margin_m(recipe.chip.size, recipe.chip.gsd),
        )
    else:
        items = sorted(
            stac_client(url, recipe.sign).search(collections=[recipe.label.collection]).items(), key=lambda i: i.id
        )
        if not items:
            raise ValueError(f"no items in {recipe.label.collection} at {url}; cannot sample {recipe.name}")
        parts = []
        per_item = max(1, round(n / len(items)))
        for k, item in enumerate(items):
            href = _href_to_path(item.assets[recipe.label.band.split(".")[0]].href)
            label = read_label(href, taxonomy=recipe.label.taxonomy)
            part = sampling.sample_in_label(
                label,
                per_item,
                seed=seed + k,
                min_distance_m=spec.min_distance_km * 1000,
                chip_size_px=recipe.chip.size,
                chip_gsd_m=float(recipe.chip.gsd),
                allocation=spec.allocation,
                taxonomy=recipe.label.taxonomy,
            )
            part["label_item"] = item.id
            parts.append(part)
        pts = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
    pts = pts.copy()
    pts["point_id"] = [f"{recipe.name}-{seed}-{i:05d}" for i in range(len(pts))]
    pts["subset"] = recipe.name
    return pts


def _found_label_items(recipe: Recipe, url: str) -> list[Any]:
    items = label_items(recipe, url, recipe.sampling.region)
    if not items:
        raise ValueError(
            f"no {recipe.label.collection} items in {recipe.label.datetime or 'any time'} matching "
            f"{recipe.label.query or 'any properties'} in {recipe.sampling.region or 'the world'} at {url}; "
            f"cannot sample {recipe.name}"
        )
    return items


def _label_footprints(recipe: Recipe, url: str) -> list[Any]:
    """The label items' footprints shrunk so that a chip centred inside one lies in that item."""
    from lslib.data.las import sampling

    margin = sampling.chip_margin_m(recipe.chip.size, recipe.chip.gsd)
    shapes = sampling.shrink_in_degrees([_item_shape(i) for i in _found_label_items(recipe, url)], margin)
    if not shapes:
        raise ValueError(f"every {recipe.label.collection} item is narrower than a chip ({margin:.0f} m margin)")
    return shapes


def _item_shape(item: Any) -> Any:
    from shapely.geometry import shape

    return shape(item.geometry)


def points_path(root: Path, subset: str) -> Path:
    """The sampled points file of ``subset`` in the build folder ``root``."""
    return Path(root) / subset / POINTS_FILE


@contextlib.contextmanager
def dask_client(workers: int = 2, scheduler: str | None = None) -> Iterator[Any]:
    """A ``dask.distributed`` client for the build, closed on exit.

    Connects to ``scheduler`` if given, else starts a LocalCluster of ``workers``
    single-threaded processes (no dashboard). Share one across subsets: a cluster
    takes seconds to start.
    """
    from dask.distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield client


def build_las(
    recipe: Recipe,
    root: str | Path,
    *,
    stac_url: str | None = None,
    workers: int = 2,
    scheduler: str | None = None,
    client: Any = None,
    limit: int | None = None,
    progress: bool = True,
) -> BuildSummary:
    """Build (or resume) one subset under ``root``.

    Args:
        recipe: the subset.
        root: build folder; ``<root>/<subset>/points.parquet`` must exist (``lslib las sample``),
            or is sampled now with the recipe's design.
        stac_url: STAC API (required for ``local`` recipes: the loopback API URL).
        workers: Dask worker processes of the LocalCluster (1 thread each); 0 = in this process,
            no Dask (debugging).
        scheduler: address of an existing ``dask.distributed`` scheduler; overrides ``workers``. The
            build folder must then be on a file system the workers share.
        client: an open ``dask.distributed.Client`` to use (see :func:`dask_client`); overrides both.
        limit: build at most this many of the remaining points (a quick look).
        progress: one tqdm.auto bar.

    Raises:
        StacUnreachableError: the API cannot be opened (nothing is written then).
    """
    from tqdm.auto import tqdm

    from lslib.data.las.sampling import read_points, write_points

    root = Path(root)
    url = resolve_url(recipe, stac_url)
    check_stac(
        url, recipe.sign, [recipe.image.collection, *([] if recipe.label.same_item else [recipe.label.collection])]
    )
    ppath = points_path(root, recipe.name)
    if ppath.exists():
        points = read_points(ppath)
    else:
        points = sample_subset(recipe, url=url)
        write_points(points, ppath.parent, name=ppath.stem, title=recipe.title)
    clean_partial(root, recipe.name)
    rows = [
        {"point_id": r.point_id, "lon": float(r.lon), "lat": float(r.lat), "stratum": getattr(r, "stratum", "")}
        for r in points.itertuples()
    ]
    todo = [r for r in rows if point_status(root, recipe.name, r["point_id"]) is None]
    summary = BuildSummary(recipe.name, len(rows), len(rows) - len(todo))
    if limit is not None:
        todo = todo[:limit]
    t0 = time.perf_counter()
    bar = tqdm(total=len(todo), desc=f"LAS {recipe.name}", disable=not progress or not todo)
    if client is None and workers == 0 and scheduler is None:
        for row in todo:
            summary.results.append(build_chip(recipe, row, url=url, root=str(root)))
            bar.update()
    elif todo:
        with contextlib.ExitStack() as stack:
            if client is None:
                client = stack.enter_context(dask_client(workers, scheduler))
            from dask.distributed import as_completed

            futures = client.map(build_point, todo, recipe=recipe, url=url, root=str(root), pure=False)
            for fut in as_completed(futures):
                summary.results.append(fut.result())
                bar.update()
    bar.close()
    summary.seconds = time.perf_counter() - t0
    return summary
