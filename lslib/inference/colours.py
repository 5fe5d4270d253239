"""Default colours of free-text classes from a model's own text encoder: one adapter for every door.

:func:`lslib.prompt_set.suggest_colours` takes any ``names -> (N, D)`` embedding function; the map app
(:class:`lslib.mapui.MapApp`) and ``lslib predict`` both pass :func:`name_embedder` of their model, so a
prompt set gets the same colours in both::

    ps = with_suggested_colours(resolve("water, forest, sand"), predictor.model)   # blue, green, sand-grey
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from lslib.prompt_set import PromptSet, suggest_colours

_BATCH = 64


def name_embedder(model: Any) -> Callable[[list[str]], np.ndarray]:
    """``names -> (N, D)`` float32 unit vectors of the bare names from ``model``'s frozen text encoder.

    The names are embedded as they are (no remote-sensing templates: word-to-word similarity is what
    matters here, and it is 4x fewer strings) and *around* the encoder's LRU cache, so the prompt vectors
    the predictor computes afterwards are bit for bit the ones it computes without colour suggestions.
    A model without a :class:`~lslib.model.text_encoder.TextEncoder` falls back to ``model.encode_prompts``.
    """
    encoder = getattr(model, "text_encoder", None)
    embed_batch = getattr(encoder, "embed_uncached", None)

    def embed(names: list[str]) -> np.ndarray:
        names = list(names)
        if embed_batch is None:
            out = model.encode_prompts(names, batch_size=16)
        elif not names:
            return np.zeros((0, int(getattr(encoder, "dim", 0))), dtype=np.float32)
        else:
            out = torch.cat([embed_batch(names[i : i + _BATCH]) for i in range(0, len(names), _BATCH)])
        return np.asarray(out.detach().float().cpu().numpy(), dtype=np.float32)

    return embed


def with_suggested_colours(prompts: PromptSet, model: Any, *, prefer: str | None = None) -> PromptSet:
    """``prompts`` with a suggested colour for every class that has none.

    A class without colour is coloured like its nearest product class
    (:func:`lslib.prompt_set.suggest_colours` with :func:`name_embedder` of ``model``); given colours stay.

    Args:
        prompts: the prompt set.
        model: the model whose text encoder compares the names.
        prefer: the taxonomy key of the product in use (the reference beside the map): a class matching one
            of its classes takes that class's colour exactly; ``None``: no product preferred.
    """
    if all(c.colour is not None for c in prompts):
        return prompts  # nothing to colour: the text encoder is not even loaded
    return suggest_colours(prompts, name_embedder(model), prefer=prefer)
