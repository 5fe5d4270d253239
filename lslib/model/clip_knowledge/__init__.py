"""CLIP knowledge for the zero-shot fusion: dense class probabilities from an image-text model.

The paper's zero-shot map fuses LandSegmenter's own masks with *CLIP knowledge*: a dense probability map
per class from a model that aligns images and text. The official evaluation computes it with ProxyCLIP
whose proxy vision model is LandSegmenter's encoder (``docs/fusion.md``). Two implementations sit behind
one interface, :class:`ClipKnowledge`:

* :class:`AlignmentKnowledge` (the offline default): LandSegmenter's own dense alignment head
  (:mod:`lslib.model.dense_alignment`) in the space of its text encoder (all-MiniLM-L6-v2). Needs nothing
  but the released checkpoint.
* :class:`ProxyClipKnowledge`: ProxyCLIP over our encoder with any CLIP the user has
  (:func:`load_clip_knowledge`: a local folder or file of transformers ``CLIPModel`` or OpenCLIP weights,
  e.g. GeoRSCLIP or RemoteCLIP, or online a hub id). CLIP sees the image's red, green and blue bands.

Every implementation returns ``(B, K, h, w)`` probabilities on the decoder's stride-4 grid (the grid the
fusion runs on) for ``K`` classes, each class given as a list of phrases, reduced either by the maximum of
the per-phrase probabilities (``"max"``, as ProxyCLIP) or by the mean of the phrase embeddings (``"mean"``,
CLIP prompt ensembling, as LandSegmenter's decoder). Modules: :mod:`~.phrases` (the reduction),
:mod:`~.alignment`, :mod:`~.proxyclip` (the proxy attention and the sliding window), :mod:`~.loading`
(weights, tokenizer, the OpenCLIP -> transformers conversion).
"""

from __future__ import annotations

from lslib.model.clip_knowledge.alignment import AlignmentKnowledge
from lslib.model.clip_knowledge.loading import ClipUnavailableError, load_clip, load_clip_knowledge
from lslib.model.clip_knowledge.phrases import REDUCTIONS, ClipKnowledge, Reduction, reduce_phrases
from lslib.model.clip_knowledge.proxyclip import ProxyClipKnowledge, proxy_attention_weights

__all__ = [
    "REDUCTIONS",
    "AlignmentKnowledge",
    "ClipKnowledge",
    "ClipUnavailableError",
    "ProxyClipKnowledge",
    "Reduction",
    "load_clip",
    "load_clip_knowledge",
    "proxy_attention_weights",
    "reduce_phrases",
]
