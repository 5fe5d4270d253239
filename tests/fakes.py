"""A model-free predictor for the tiling tests (``tests/inference/tiling/``): exact, fast, reproducible.

Importable from every test folder (``tests/conftest.py`` puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from lslib.fusion import FusionResult
from lslib.inference import Predictor
from lslib.model.build import build_model


class FieldPredictor(Predictor):
    """The fused score of class k is band k of the window (tests the blending and the block machinery).

    It still holds a (randomly initialised, seeded) ``tiny`` model, built once, because a
    :class:`~lslib.inference.Predictor` needs one; the model is never run.
    """

    _model: torch.nn.Module | None = None

    def __init__(self) -> None:
        if FieldPredictor._model is None:
            torch.manual_seed(0)
            FieldPredictor._model = build_model("tiny")
        super().__init__(FieldPredictor._model, device="cpu", cache_bytes=0)  # type: ignore[arg-type]
        self._window: torch.Tensor | None = None
        self.calls = 0
        self.keys: list[str] = []

    def set_image(self, da: xr.DataArray, *, key: str | None = None) -> str:
        self._window = torch.from_numpy(np.asarray(da.values, dtype=np.float32))
        self.calls += 1
        self.keys.append(key or "")
        return key or "w"

    def raw(self, prompts):  # type: ignore[no-untyped-def]
        from lslib.inference.predictor import resolve_prompts

        ps = resolve_prompts(prompts)
        assert self._window is not None
        scores = torch.nan_to_num(self._window[: len(ps)])[None]
        conf, idx = scores.max(1)
        return ps, None, FusionResult(scores, idx, conf, torch.ones(1, len(ps)))
