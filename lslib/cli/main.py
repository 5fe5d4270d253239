"""``lslib`` command line: ``lslib data list|fetch``, ``lslib demo``.

Later layers add ``las``, ``train``, ``predict`` and ``evaluate`` subcommands here.
Errors that a user can fix are printed as one clear line (exit code 2), without a traceback.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence

from lslib import __version__


def _cmd_data_list(args: argparse.Namespace) -> int:
    from lslib.data.fetch import cache_dir, load_manifests, mirror_dir, status

    manifests = load_manifests()
    names = args.dataset or sorted(manifests)
    unknown = [n for n in names if n not in manifests]
    if unknown:
        raise KeyError(f"unknown dataset(s) {unknown}; known: {sorted(manifests)}")
    print(f"cache: {cache_dir()}   mirror: {mirror_dir() or '(LSLIB_DATA_MIRROR unset)'}")
    for name in names:
        m = manifests[name]
        states = [status(e) for e in m.files.values()]
        size = sum(e.size for e in m.files.values()) / 1e6
        counts = ", ".join(f"{s} {states.count(s)}" for s in ("cached", "mirror", "remote") if states.count(s))
        print(f"\n{name}  ({len(m.files)} files, {size:.1f} MB; {counts})")
        print(f"  {m.title}")
        print(f"  licence: {m.licence}")
        print(f"  labels: {m.taxonomy or '-'}")
        if args.files:
            for e, s in zip(m.files.values(), states, strict=True):
                crs = f"  {e.crs}" if e.crs else ""
                print(f"    [{s:6}] {e.key}  {e.size / 1e3:.0f} kB{crs}")
    return 0


def _cmd_data_fetch(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from lslib.data.fetch import fetch, find_keys

    patterns = args.patterns or ["*"]
    keys: list[str] = []
    for pat in patterns:
        # a bare dataset name fetches the whole dataset
        found = find_keys(pat if ("/" in pat or "*" in pat) else f"{pat}/*")
        if not found:
            raise KeyError(f"no manifest file matches {pat!r}; run `lslib data list --files` to see the keys")
        keys += [k for k in found if k not in keys]
    for key in tqdm(keys, desc="fetch", disable=args.quiet):
        fetch(key, offline=True if args.offline else None)
    print(f"{len(keys)} files verified (sha256) and available")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from lslib.demo.main import run_demo

    run_demo(args.out, sites=args.sites, quiet=args.quiet, model=not args.no_model)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``lslib`` argument parser with all its subcommands."""
    parser = argparse.ArgumentParser(prog="lslib", description="LandSegmenter: text-prompted land-cover mapping.")
    parser.add_argument("--version", action="version", version=f"lslib {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="sample data: list manifests, fetch files (cache -> mirror -> origin)")
    dsub = data.add_subparsers(dest="data_command", required=True)
    p_list = dsub.add_parser("list", help="list datasets of data_manifests/ and where each file is")
    p_list.add_argument("dataset", nargs="*", help="dataset names (default: all)")
    p_list.add_argument("--files", action="store_true", help="list every file with its status")
    p_list.set_defaults(func=_cmd_data_list)
    p_fetch = dsub.add_parser("fetch", help="fetch and verify files: dataset names or key globs (default: all)")
    p_fetch.add_argument("patterns", nargs="*", help="e.g. landsat8-nlcd2011-zion or 'terramesh-*/LULC/*'")
    p_fetch.add_argument("--offline", action="store_true", help="never download (mirror/cache only)")
    p_fetch.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p_fetch.set_defaults(func=_cmd_data_fetch)

    from lslib.cli.las import add_las_parser
    from lslib.cli.train import add_train_parsers

    add_las_parser(sub)
    add_train_parsers(sub)
    from lslib.cli.predict import add_predict_parser
    add_predict_parser(sub)

    demo = sub.add_parser("demo", help="run the main job on the embedded default data")
    demo.add_argument("--out", default="outputs/demo", help="output folder (default: outputs/demo)")
    demo.add_argument("--sites", nargs="*", default=None, help="TerraMesh site ids (default: all five)")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    demo.add_argument("--no-model", action="store_true", help="data summary and figures only (no model)")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lslib`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (KeyError, ValueError, OSError, ImportError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        hint = _OS_HINTS.get(exc.errno) if isinstance(exc, OSError) and exc.errno is not None else None
        print(f"lslib: error: {msg}{f' -- {hint}' if hint else ''}", file=sys.stderr)
        return 2


#: what to do about bare operating-system errors (their own message names only the path)
_OS_HINTS: dict[int, str] = {
    errno.ENOSPC: "the disk is full: free some space or write to another disk (--out); unfinished files were removed",
    errno.EDQUOT: "the disk quota is exhausted: free some space or write elsewhere (--out)",
    errno.EACCES: "no permission to write there: choose a folder you can write to (--out) or fix its permissions",
    errno.EPERM: "no permission to write there: choose a folder you can write to (--out) or fix its permissions",
    errno.EROFS: "the file system is read-only: choose a writable output folder (--out)",
    errno.EEXIST: "a file is in the way of an output folder: choose another --out or move that file",
    errno.ENOTDIR: "a file is in the way of an output folder: choose another --out or move that file",
}


if __name__ == "__main__":
    raise SystemExit(main())
