"""``lslib predict``: zero-shot map of an image of any size into COGs (see ``docs/inference.md``)."""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from lslib.cli.args import MIN_TILE, finite_float, fraction, non_negative_int, nonzero_float, tile_size
from lslib.fusion import DEFAULT_MODE, DEFAULT_OFFICIAL_THR, MODES
from lslib.model.clip_knowledge import REDUCTIONS


def _prompts(args: argparse.Namespace) -> Any:
    from lslib import prompt_set

    if args.prompt_set:
        return prompt_set.load(args.prompt_set)
    if args.preset:
        if args.preset not in prompt_set.presets():
            raise ValueError(f"unknown --preset {args.preset!r}; choose one of {prompt_set.presets()}")
        return prompt_set.from_taxonomy(args.preset)
    try:  # the one prompt rule: a preset key, a YAML path or "water, forest, ..." (lslib.prompt_set.resolve)
        return prompt_set.resolve(args.prompts)
    except ValueError as exc:
        raise ValueError(f"--prompts: {exc}") from None


def _model(args: argparse.Namespace) -> Any:
    from lslib.model.build import build_model, load_model

    if args.checkpoint:
        model = load_model(args.checkpoint)
        if args.variant and model.config.variant != args.variant:
            raise ValueError(
                f"--checkpoint {args.checkpoint} holds a {model.config.variant!r} model, not --variant {args.variant!r}"
            )
        return model
    if args.variant:
        print(
            f"lslib: WARNING: --variant {args.variant} without --checkpoint builds an UNTRAINED model with random "
            "weights: the map is meaningless (use it to test the pipeline only). Pass --checkpoint <folder>, or "
            "leave out --variant for the trained default model.",
            file=sys.stderr,
        )
        return build_model(args.variant)
    from lslib.default_model import default_model

    return default_model(progress=not args.quiet)


def _cmd_predict(args: argparse.Namespace) -> int:
    from lslib.inference.colours import with_suggested_colours
    from lslib.inference.predictor import Predictor
    from lslib.inference.tiling.large_area import map_large_area

    prompts = _prompts(args)
    model = _model(args)
    predictor = Predictor(model, cache_bytes=0, mode=args.mode, clip=args.clip, reduction=args.phrases, thr=args.thr)
    # classes without a colour (free text) are drawn like their nearest product class, as in the map app
    prompts = with_suggested_colours(prompts, predictor.model)
    image, bands, sensor = args.image, args.bands, args.sensor
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = map_large_area(
            image, prompts, args.out, predictor=predictor, tile=args.tile, overlap=args.overlap,
            block=args.block, bands=bands, sensor=sensor, scale=args.scale, offset=args.offset,
            resume=not args.no_resume, overwrite=args.overwrite, progress=not args.quiet, workers=args.workers,
            protect=[args.prompt_set] if args.prompt_set else [],  # an input inside --out is never rewritten
        )  # fmt: skip
    from lslib.data.images import PixelCoordinatesWarning, RadiometryAssumedWarning

    for w in caught:
        if issubclass(w.category, PixelCoordinatesWarning | RadiometryAssumedWarning):
            print(f"lslib: warning: {w.message}", file=sys.stderr)
        elif not issubclass(w.category, DeprecationWarning | FutureWarning):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if not args.quiet:
        print(result.table())
    state = "resumed" if result.blocks_resumed else "computed"
    print(
        f"{result.pixels_mapped} pixels mapped in {result.seconds:.1f} s ({state}: {result.blocks_computed} blocks "
        f"computed, {result.blocks_resumed} reused)"
    )
    for key, path in result.paths.items():
        print(f"{key}: {path}")
    return 0


def _cmd_predict_interruptible(args: argparse.Namespace) -> int:
    """Ctrl-C: one line and exit code 130 (finished blocks are kept: the same command resumes)."""
    try:
        return _cmd_predict(args)
    except KeyboardInterrupt:
        print("\nlslib: interrupted: rerun the same command to resume", file=sys.stderr)
        return 130


def add_predict_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``lslib predict`` command (zero-shot map of an image of any size) to ``sub``."""
    p = sub.add_parser("predict", help="zero-shot map of an image of any size -> class-map + confidence COGs")
    p.add_argument("--image", required=True, help="GeoTIFF/COG/JP2, S2 band folder, STAC item JSON, PNG/JPEG")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--prompts", help='class names, comma-separated: "water, forest, cropland, built-up area"; '
                                        "or a preset key (esa_worldcover) or a prompt-set YAML path")
    what.add_argument("--prompt-set", help="a prompt-set YAML (lslib.prompt_set.save)")
    what.add_argument("--preset", help="the classes of a taxonomy, e.g. esa_worldcover")
    p.add_argument("--out", required=True, help="output folder: class_map.tif, confidence.tif, map.json, prompts.yaml")
    p.add_argument("--checkpoint", default=None, help="model folder (default: the trained default tiny model)")
    p.add_argument("--variant", default=None, help="model variant; without --checkpoint: UNTRAINED (tests only)")
    p.add_argument("--bands", default=None,
                   help="band names or µm, in file order, for files without band names: red,green,blue,nir")
    p.add_argument("--sensor", default=None,
                   help="naip|s2-l2a|landsat8|rgb: band order (unless the file names its bands) and DN convention "
                        "(S2 DN/10000 with the baseline offset, Landsat C2 DN*2.75e-5-0.2, uint8 DN/255)")
    p.add_argument("--scale", type=nonzero_float, default=None,
                   help="physical value = DN * scale + offset; overrides the file's scale tags and --sensor's "
                        "convention (e.g. 1e-4 for reflectance x 10000)")
    p.add_argument("--offset", type=finite_float, default=None, help="added after --scale (default 0), e.g. -0.1")
    p.add_argument("--tile", type=tile_size, default=512, help=f"window size in pixels, >= {MIN_TILE} (default 512)")
    p.add_argument("--overlap", type=non_negative_int, default=64,
                   help="window overlap in pixels, blended (default 64)")
    p.add_argument("--block", type=tile_size, default=2048,
                   help="output block size in pixels: bounds memory (default 2048)")
    p.add_argument("--mode", default=DEFAULT_MODE, choices=list(MODES),
                   help=f"fusion mode (docs/fusion.md; default {DEFAULT_MODE}, as the Predictor and the map app; "
                   "official = the authors' class-wise gating)")
    p.add_argument("--clip", default=None, metavar="PATH_OR_ID",
                   help="CLIP knowledge for the fusion: ProxyCLIP over the model's encoder with this CLIP (a folder of "
                   "transformers or OpenCLIP weights, an OpenCLIP .pt/.safetensors file, online a hub id); default: "
                   "the model's own alignment head (offline)")
    p.add_argument("--phrases", default="mean", choices=list(REDUCTIONS),
                   help="how a class's name and synonyms become one knowledge map: mean of embeddings (default) or "
                   "max of probabilities (ProxyCLIP)")
    p.add_argument("--thr", type=fraction, default=DEFAULT_OFFICIAL_THR,
                   help=f"threshold of --mode official (default {DEFAULT_OFFICIAL_THR})")
    p.add_argument("--workers", type=non_negative_int, default=0,
                   help="threads computing blocks in parallel (default 0: serial)")
    p.add_argument("--overwrite", action="store_true", help="replace a different map already in --out")
    p.add_argument("--no-resume", action="store_true", help="start the same map again from scratch")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or area table")
    p.set_defaults(func=_cmd_predict_interruptible)
