"""The ``lslib`` command line: one module per command group (:mod:`~lslib.cli.main` dispatches)."""

from __future__ import annotations

from lslib.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
