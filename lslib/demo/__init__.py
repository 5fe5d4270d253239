"""The main job on the embedded default (``make demo`` / ``lslib demo``): :func:`run_demo`.

:mod:`~lslib.demo.main` evaluates the released model on LAS-mini's held-out sites;
:mod:`~lslib.demo.zero_shot` maps two real scenes with class names the model never trained with.
"""

from __future__ import annotations

from lslib.demo.main import run_demo

__all__ = ["run_demo"]
