"""Number types for the ``lslib`` command line: every numeric option is checked when it is parsed.

Each function is an ``argparse`` ``type=``: it turns the option's text into a number or raises
:class:`argparse.ArgumentTypeError`, which argparse prints as ``lslib <command>: error: argument --x: <why>``
(exit code 2) before any work starts. A bad number never reaches the code that would hang on it (``--workers
-1``), loop on it (``--tile 1``) or write nonsense from it (``--n 0``, ``--val-fraction 0``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = [
    "MIN_TILE",
    "finite_float",
    "fraction",
    "int_at_least",
    "learning_rate",
    "non_negative_int",
    "nonzero_float",
    "port",
    "positive_int",
    "tile_size",
]

#: smallest ``lslib predict --tile``: the backbone reduces a window 32-fold, so smaller windows give it almost no
#: context, and the number of model calls grows with 1/tile² (``--tile 1`` on a 256 x 256 image: 65 536 calls)
MIN_TILE = 64


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def int_at_least(minimum: int, why: str = "") -> Callable[[str], int]:
    """A type accepting whole numbers ``>= minimum``; ``why`` is appended to the refusal."""

    def parse(text: str) -> int:
        value = _int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {value}{why}")
        return value

    parse.__name__ = f"int >= {minimum}"
    return parse


#: a count of things to make or steps to run: 1 or more
positive_int = int_at_least(1)
#: a count where 0 means "none" (e.g. worker processes, 0 = in this process) or a seed
non_negative_int = int_at_least(0)
#: ``lslib predict --tile``
tile_size = int_at_least(
    MIN_TILE,
    f": windows under {MIN_TILE} px give the model almost no context (its coarsest features are 32 px apart) and "
    "multiply the model calls (--tile 1 maps a 256 x 256 image with 65 536 calls); the default is 512",
)


def port(text: str) -> int:
    """A TCP port, 1-65535 (leave the option out to pick a free one)."""
    value = _int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(
            f"must be a TCP port from 1 to 65535, got {value} (leave --port out to pick a free one)"
        )
    return value


def fraction(text: str) -> float:
    """A fraction strictly between 0 and 1 (e.g. ``--val-fraction 0.2``)."""
    value = _float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1 (exclusive), e.g. 0.2; got {text}")
    return value


def finite_float(text: str) -> float:
    """Any finite number (no nan/inf)."""
    return _float(text)


def nonzero_float(text: str) -> float:
    """A finite number other than 0 (a scale factor: 0 would make every pixel the same value)."""
    value = _float(text)
    if value == 0.0:
        raise argparse.ArgumentTypeError("must not be 0 (every pixel would get the same value)")
    return value


def learning_rate(text: str) -> float:
    """A learning rate: finite, in (0, 1]."""
    value = _float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a learning rate in (0, 1], e.g. 3e-4; got {text}")
    return value
