"""``lslib las ...``: sample points, serve the loopback STAC API, build LAS chips, report."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from lslib.cli.args import non_negative_int, port, positive_int


@contextlib.contextmanager
def _stac_for(recipes: list[object], stac_url: str | None, quiet: bool) -> Iterator[str | None]:
    """Yield the STAC URL to use; starts the loopback API when a local recipe has no URL."""
    from lslib.data.las.recipes import Recipe

    needs_local = any(isinstance(r, Recipe) and r.is_local for r in recipes)
    if stac_url or not needs_local:
        yield stac_url
        return
    from lslib.data.local_stac.catalog import local_stac

    with local_stac() as server:
        if not quiet:
            print(f"loopback STAC API over the sample mirror: {server.url}")
        yield server.url


def _cmd_sample(args: argparse.Namespace) -> int:
    from lslib.data.las.build import points_path, resolve_url, sample_subset
    from lslib.data.las.recipes import load_recipe
    from lslib.data.las.sampling import write_points

    recipes = [load_recipe(s) for s in args.subset]
    with _stac_for(list(recipes), args.stac_url, args.quiet) as url:
        for recipe in recipes:
            pts = sample_subset(recipe, url=resolve_url(recipe, url), n=args.n, seed=args.seed)
            path = points_path(Path(args.out), recipe.name)
            if path.exists() and not args.force:
                raise FileExistsError(f"{path} exists; a build uses it. Pass --force to resample (chips stay).")
            files = write_points(pts, path.parent, name="points", title=recipe.title)  # points.parquet: build input
            print(f"{recipe.name}: {len(pts)} points -> {', '.join(str(p) for p in files.values())}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from lslib.data.fetch import cache_dir
    from lslib.data.local_stac.catalog import build_local_catalog, serve_local

    out = Path(args.catalog) if args.catalog else cache_dir() / "stac-local"
    catalog = build_local_catalog(out)
    server = serve_local(catalog, port=args.port)
    print(f"STAC API over the sample mirror at {server.url} ({len(catalog)} collections: {', '.join(catalog)})")
    print("Use it with: lslib las build --subset mini-... --stac-url " + server.url + "   (Ctrl-C stops it)")
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from lslib.data.las.build import build_las, dask_client
    from lslib.data.las.recipes import list_recipes, load_recipe
    from lslib.data.las.report import las_report

    names = args.subset or [n for n in list_recipes() if n.startswith("mini-")]
    recipes = [load_recipe(s) for s in names]
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(_stac_for(list(recipes), args.stac_url, args.quiet))
        client = None
        if args.workers > 0 or args.scheduler:  # one cluster for all subsets (start-up takes seconds)
            client = stack.enter_context(dask_client(args.workers, args.scheduler))
        for recipe in recipes:
            summary = build_las(
                recipe, args.out, stac_url=url, workers=args.workers, client=client, limit=args.limit,
                progress=not args.quiet,
            )
            print(summary)
    report = las_report(args.out)
    print(
        f"report: {Path(args.out).resolve() / 'report.md'} ({sum(r['written'] for r in report['subsets'].values())} "
        "chips in total)"
    )
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from lslib.data.las.report import las_report

    rep = las_report(args.out)  # refuses (exit 2, files untouched) a folder that is not a LAS build
    print((Path(args.out) / "report.md").read_text(encoding="utf-8"))
    if not rep["subsets"]:
        print(
            f"lslib: no chips and no rejected or failed points in {args.out} yet: run "
            f"`lslib las build --out {args.out}` to build them",
            file=sys.stderr,
        )
        return 1
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from lslib.data.las.build import resolve_url
    from lslib.data.las.check import NeedsInternetError, check_recipe, format_check
    from lslib.data.las.recipes import load_recipe

    recipes = [load_recipe(s) for s in args.subset]
    failed = False
    with _stac_for(list(recipes), args.stac_url, True) as url:
        for recipe in recipes:
            try:
                report = check_recipe(recipe, resolve_url(recipe, url))
            except NeedsInternetError as exc:
                print(f"lslib: {exc}", file=sys.stderr)
                return 2
            print(format_check(recipe, report))
            failed |= any("error" in col for col in report)
    return 1 if failed else 0


def _cmd_list(args: argparse.Namespace) -> int:
    from lslib.data.las.recipes import list_recipes, load_recipe

    for name in list_recipes():
        r = load_recipe(name)
        where = "loopback (mirror)" if r.is_local else r.stac_url
        print(
            f"{name:28s} {r.image.collection} + {r.label.collection} [{r.label.taxonomy}], "
            f"{r.chip.size}px @ {r.chip.gsd:g} m — {where}"
        )
    return 0


def add_las_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``lslib las`` command and its subcommands (list, sample, serve-local, build, check, report)."""
    las = sub.add_parser("las", help="LAS weak-label dataset: sample, serve-local, build, report")
    lsub = las.add_subparsers(dest="las_command", required=True)
    p = lsub.add_parser("list", help="list the LAS subsets (data_manifests/las/*.yaml)")
    p.set_defaults(func=_cmd_list)

    p = lsub.add_parser("sample", help="sample chip locations of subsets (GeoParquet + GeoJSON + PNG map)")
    p.add_argument("--subset", nargs="+", required=True, help="recipe names (lslib las list)")
    p.add_argument("--out", required=True, help="build folder; points go to <out>/<subset>/points.*")
    p.add_argument("--n", type=positive_int, default=None, help="number of points (default: the recipe's)")
    p.add_argument("--seed", type=non_negative_int, default=None, help="random seed (default: the recipe's)")
    p.add_argument("--stac-url", default=None, help="STAC API (default: the recipe's; local recipes start one)")
    p.add_argument("--force", action="store_true", help="replace existing points")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_sample)

    p = lsub.add_parser("serve-local", help="serve the sample mirror as a STAC API on loopback (rustac)")
    p.add_argument("--port", type=port, default=None, help="port (default: a free one)")
    p.add_argument("--catalog", default=None, help="folder for the generated catalog (default: in the cache)")
    p.set_defaults(func=_cmd_serve)

    p = lsub.add_parser("build", help="build (or resume) LAS chips; then write the report")
    p.add_argument("--subset", nargs="+", default=None, help="recipe names (default: all mini-* = LAS-mini)")
    p.add_argument("--out", required=True, help="build folder")
    p.add_argument("--stac-url", default=None, help="STAC API (default: the recipe's; local recipes start one)")
    p.add_argument("--workers", type=non_negative_int, default=2, help="Dask worker processes (0: no Dask)")
    p.add_argument("--scheduler", default=None, help="address of a running dask.distributed scheduler")
    p.add_argument("--limit", type=positive_int, default=None, help="build at most N more chips per subset")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_build)

    p = lsub.add_parser("check", help="sign and load one item per collection of subsets; report bands/dtype/CRS")
    p.add_argument("--subset", nargs="+", required=True, help="recipe names (lslib las list)")
    p.add_argument("--stac-url", default=None, help="STAC API (default: the recipe's; local recipes start one)")
    p.set_defaults(func=_cmd_check)

    p = lsub.add_parser("report", help="(re)write report.md/json/png and index.parquet of a build folder")
    p.add_argument("--out", required=True, help="build folder")
    p.set_defaults(func=_cmd_report)
