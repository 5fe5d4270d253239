"""Encode an image once, prompt it many times: the engine of the interactive map and of tiled mapping.

    predictor = Predictor(load_released())       # the released default (lslib.model.build)
    predictor.set_image(da)                      # encoder + adapter once (cached, LRU-bounded in bytes)
    pred = predictor.predict(["water", "forest", "cropland", "built-up area"])
    pred.class_map, pred.confidence              # georeferenced DataArrays on da's grid

:meth:`Predictor.predict` runs only the text encoder (one cached vector per prompt: editing one
class's name encodes one new prompt), the decoder and the fusion (:mod:`lslib.fusion`).
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import xarray as xr

from lslib.fusion import DEFAULT_MODE, DEFAULT_OFFICIAL_THR, UNKNOWN, FusionResult, Mode, decide, fused_scores
from lslib.inference import teach as T
from lslib.inference.inputs import image_tensor
from lslib.model.clip_knowledge import REDUCTIONS, ClipKnowledge, Reduction, load_clip_knowledge
from lslib.model.landsegmenter import ImageEmbedding, LandSegmenter, SegmenterOutput, upsample_to
from lslib.model.spectral_adapter import normalise_bands, robust_band_stats
from lslib.prompt_set import ClassPrompt, PromptSet, resolve

DEFAULT_CACHE_BYTES = 1 << 30
PromptKey = tuple[str, str | None, tuple[str, ...]]
#: image key, prompt keys, mode, alpha, reduction, thr, id of the CLIP knowledge
_ZeroShotKey = tuple[str | None, tuple[PromptKey, ...], Mode, float, Reduction, float, int]
#: decoder outputs, fused scores at stride 4, class confidences, fused scores upsampled to the image
_ZeroShot = tuple[SegmenterOutput, torch.Tensor, torch.Tensor, torch.Tensor]


def resolve_prompts(prompts: PromptSet | Sequence[str] | str) -> PromptSet:
    """The one prompt rule, :func:`lslib.prompt_set.resolve` (kept under this name).

    A PromptSet, a YAML path,
    a preset key (``"esa_worldcover"``: its 11 classes), ``"water, forest, ..."`` or names -> a validated set.
    """
    return resolve(prompts)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` -> the accelerator's choice (a GPU when present, else CPU)."""
    if device is not None:
        return torch.device(device)
    try:
        from accelerate import PartialState

        return torch.device(PartialState(cpu=not torch.cuda.is_available()).device)
    except Exception:  # accelerate state conflicts: fall back to a plain choice
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class Prediction:
    """A zero-shot map on the image's grid. ``class_map``: index into ``prompts`` (``-1`` unknown)."""

    prompts: PromptSet
    class_map: xr.DataArray  # (y, x) int16
    confidence: xr.DataArray  # (y, x) float32 in [0, 1]
    probabilities: xr.DataArray | None = None  # (class, y, x) fused scores, on request
    class_confidence: dict[str, float] = field(default_factory=dict)

    def to_dataset(self) -> xr.Dataset:
        """The map as an xarray Dataset: ``class_map``, ``confidence`` (and ``probabilities``), ``attrs["classes"]``."""
        data = {"class_map": self.class_map, "confidence": self.confidence}
        if self.probabilities is not None:
            data["probabilities"] = self.probabilities
        ds = xr.Dataset(data)
        ds.attrs["classes"] = list(self.prompts.names)
        return ds

    def areas(self) -> list[dict[str, Any]]:
        """Per class (and unknown): pixel count, area in hectares (projected CRS) and percentage of valid pixels."""
        values = np.asarray(self.class_map.values)
        valid = self.confidence.notnull().values
        total = int(valid.sum())
        try:
            rx, ry = self.class_map.rio.resolution()
            crs = self.class_map.rio.crs
            px_ha = abs(rx * ry) / 1e4 if crs is not None and crs.is_projected else float("nan")
        except Exception:  # no georeferencing: areas in pixels only
            px_ha = float("nan")
        rows = []
        for i, name in [*enumerate(self.prompts.names), (UNKNOWN, "unknown")]:
            n = int(((values == i) & valid).sum())
            share = 100 * n / total if total else 0.0
            rows.append({"class": name, "pixels": n, "hectares": n * px_ha, "percent": share})
        return rows


class Predictor:
    """Cached image embeddings + cached prompt vectors around a :class:`~lslib.model.landsegmenter.LandSegmenter`.

    Args:
        model: a LandSegmenter, required: the engine never picks one. Callers choose the default (``lslib
            predict`` and the demo: :func:`lslib.default_model.default_model`; ``MapApp``/``quick_map``:
            :func:`lslib.model.build.load_released`); ``Predictor(load_released())`` is the released default.
        device: ``None`` picks a GPU when present (through accelerate), else CPU.
        cache_bytes: budget of the image-embedding LRU cache (embeddings of several tiles/AOIs).
        mode, alpha: fusion design (:func:`lslib.fusion.fuse`); ``"global"`` measured best on the
            zero-shot protocol (``bench/fusion.py``, ``docs/fusion.md``).
        clip: the CLIP knowledge the fusion uses (:func:`lslib.model.clip_knowledge.load_clip_knowledge`):
            None, the model's own dense alignment head (offline); a folder or file of CLIP weights, or online
            a hub id: ProxyCLIP over this model's encoder; or a ready
            :class:`~lslib.model.clip_knowledge.ClipKnowledge`.
        reduction: how a class's phrases (its name and synonyms) become one knowledge map: ``"mean"`` of their
            embeddings or ``"max"`` of their probabilities (ProxyCLIP). The decoder always uses the mean.
        thr: threshold of the ``"official"`` fusion rule (:func:`lslib.fusion.official_weights`).
    """

    def __init__(
        self,
        model: LandSegmenter,
        *,
        device: str | torch.device | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        mode: Mode = DEFAULT_MODE,
        alpha: float = 1.0,
        clip: ClipKnowledge | str | os.PathLike[str] | None = None,
        reduction: Reduction = "mean",
        thr: float = DEFAULT_OFFICIAL_THR,
    ) -> None:
        if model is None:
            raise TypeError(
                "Predictor needs a model: pass one, e.g. Predictor(load_released()) with "
                "lslib.model.build.load_released (the released default) or a checkpoint from load_model(path)"
            )
        self.device = pick_device(device)
        self.model = model.to(self.device).eval()
        self.cache_bytes = int(cache_bytes)
        self.mode: Mode = mode
        self.alpha = alpha
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction: Reduction = reduction
        self.thr = float(thr)
        #: None: the decoder's own similarity (the model's alignment head, class = mean of its phrases)
        self.knowledge: ClipKnowledge | None = None if clip is None else load_clip_knowledge(clip)
        self._embeddings: OrderedDict[str, tuple[ImageEmbedding, xr.DataArray]] = OrderedDict()
        self._bands: dict[str, tuple[torch.Tensor, tuple[str, ...], tuple[float, ...]]] = {}  # unit bands
        self._text: dict[PromptKey, torch.Tensor] = {}
        self._key: str | None = None
        self._zero_shot: tuple[_ZeroShotKey, _ZeroShot] | None = None
        self._features: tuple[str, T.ImageFeatures] | None = None
        self._fingerprint: str | None = None
        self.stats = {"image_encodes": 0, "text_encodes": 0, "predicts": 0}

    def sibling(self, *, cache_bytes: int = 0) -> Predictor:
        """A predictor sharing this one's model, for another worker thread.

        Same model, device and fusion, with a copy of the encoded prompts and its own
        image cache: one per worker thread (an image cache is not thread-safe, the model in eval mode is).
        """
        other = Predictor(self.model, device=self.device, cache_bytes=cache_bytes, mode=self.mode, alpha=self.alpha,
                          clip=self.knowledge, reduction=self.reduction, thr=self.thr)
        other._text.update(self._text)
        return other

    @property
    def current_key(self) -> str | None:
        """Key (:meth:`image_key`) of the current image, the one :meth:`predict` maps; None before :meth:`set_image`."""
        return self._key

    # --- image -----------------------------------------------------------------------------------
    @staticmethod
    def image_key(da: xr.DataArray) -> str:
        """Content hash of the pixels, band set and grid: the same AOI is never encoded twice."""
        h = hashlib.blake2b(digest_size=16)
        h.update(np.ascontiguousarray(np.asarray(da.values, dtype=np.float32)).tobytes())
        h.update(repr([str(b) for b in da["band"].values]).encode())
        h.update(repr(np.asarray(da["wavelength"].values).tolist()).encode() if "wavelength" in da.coords else b"")
        h.update(repr(da.attrs.get("norm_stats")).encode())
        for dim in ("y", "x"):
            if dim in da.coords:
                h.update(np.asarray(da[dim].values, dtype=np.float64).tobytes())
        return h.hexdigest()

    @torch.inference_mode()
    def set_image(self, da: xr.DataArray, *, key: str | None = None) -> str:
        """Encode ``da`` (``(band, y, x)`` with a ``wavelength`` coordinate) unless cached; make it current.

        The model stretches each band robustly per image (:func:`lslib.model.spectral_adapter.normalise_bands`).
        ``da.attrs["norm_stats"]`` (``[[low, high], ...]`` per band, e.g. from
        :func:`lslib.inference.with_scene_stretch` over a whole scene) replaces the stretch of ``da``
        itself, so windows or AOIs of one scene share one stretch.
        """
        image, waves, names = image_tensor(da)
        stats = da.attrs.get("norm_stats")
        norm_stats = None
        if stats is not None:
            norm_stats = torch.as_tensor(np.asarray(stats, dtype=np.float32))
            if tuple(norm_stats.shape) != (image.shape[1], 2):
                raise ValueError(
                    f"da.attrs['norm_stats'] must hold [low, high] for each of the {image.shape[1]} bands, got shape "
                    f"{tuple(norm_stats.shape)}: drop the attribute to stretch the image on its own"
                )
        key = key or self.image_key(da)
        if key in self._embeddings:
            self._embeddings.move_to_end(key)
        else:
            emb = self.model.encode_image(image.to(self.device), waves.to(self.device), names, norm_stats=norm_stats)
            self._bands[key] = (self._unit_bands(image, waves, norm_stats), tuple(names), tuple(waves.tolist()))
            template = da.isel(band=0, drop=True)
            template = template.drop_vars([c for c in template.coords if c not in ("y", "x", "spatial_ref")])
            valid = xr.DataArray(np.isfinite(image[0].numpy()).any(0), dims=("y", "x"))
            self._embeddings[key] = (emb, template.copy(data=valid.values))
            self.stats["image_encodes"] += 1
            self._evict(keep=key)
        self._key = key
        return key

    def _evict(self, keep: str) -> None:
        while len(self._embeddings) > 1 and self.cached_bytes() > self.cache_bytes:
            oldest = next(iter(self._embeddings))
            if oldest == keep:
                self._embeddings.move_to_end(oldest)
                continue
            del self._embeddings[oldest]
            self._bands.pop(oldest, None)

    @staticmethod
    def _unit_bands(image: torch.Tensor, waves: torch.Tensor, norm_stats: torch.Tensor | None) -> torch.Tensor:
        """The robust-stretched bands as the encoder sees them, ``(1, C, H, W)`` in [0, 1] (teaching features)."""
        stats = robust_band_stats(image.float()) if norm_stats is None else norm_stats
        return normalise_bands(image.float(), waves, stats)

    def cached_bytes(self) -> int:
        """Bytes held by the image cache: the embeddings and the stretched bands kept for teaching."""
        bands = sum(t.numel() * t.element_size() for t, _, _ in self._bands.values())
        return sum(e.nbytes() for e, _ in self._embeddings.values()) + bands

    @property
    def embedding(self) -> ImageEmbedding:
        """The cached embedding of the current image.

        Raises:
            RuntimeError: no image was set (:meth:`set_image`).
        """
        if self._key is None:
            raise RuntimeError("no image set: call predictor.set_image(da) first")
        return self._embeddings[self._key][0]

    # --- text ------------------------------------------------------------------------------------
    @staticmethod
    def prompt_key(prompt: ClassPrompt) -> PromptKey:
        """The cache key of a prompt's text embedding: name, description and synonyms."""
        return (prompt.name, prompt.description, tuple(prompt.synonyms))

    def text_embeddings(self, prompts: PromptSet) -> torch.Tensor:
        """``(K, D)`` unit vectors; each prompt is encoded once per predictor, then reused."""
        vectors = []
        for p in prompts:
            key = self.prompt_key(p)
            if key not in self._text:
                # one padded batch per class: ~3x faster than one string at a time (interactive edits)
                vec = self.model.encode_prompts(
                    [p.name], descriptions=[p.description], synonyms=[list(p.synonyms)], batch_size=16
                )
                self._text[key] = vec[0].to(self.device)
                self.stats["text_encodes"] += 1
            vectors.append(self._text[key])
        if not vectors:
            return torch.zeros(0, self.model.config.text_dim, device=self.device)
        return torch.stack(vectors)

    # --- prediction ------------------------------------------------------------------------------
    def _zero_shot_low(self, ps: PromptSet) -> tuple[SegmenterOutput, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The zero-shot outputs for the current image (cached).

        Decoder outputs, fused scores at stride 4, class confidences and the fused scores upsampled to the
        image (read-only) for the current image; the last one is cached: teaching re-uses it on every click.
        """
        key = (self._key, tuple(self.prompt_key(p) for p in ps), self.mode, self.alpha, self.reduction, self.thr,
               id(self.knowledge))
        if self._zero_shot is not None and self._zero_shot[0] == key:
            return self._zero_shot[1]
        out = self.model.decode(self.embedding, self.text_embeddings(ps), upsample=False)
        low, conf = fused_scores(
            out.mask_logits, out.presence_logits, out.similarity, scale=self.model.alignment.scale(),
            alpha=self.alpha, mode=self.mode, knowledge=self.knowledge_probabilities(ps), thr=self.thr,
        )
        full = upsample_to(low, self.embedding).clamp_(0.0, 1.0)
        self._zero_shot = (key, (out, low, conf, full))
        return out, low, conf, full

    def knowledge_probabilities(self, ps: PromptSet) -> torch.Tensor | None:
        """The CLIP knowledge's ``(1, K, h, w)`` class probabilities on the decoder's grid for the current image.

        None when the fusion uses the decoder's own similarity (no ``clip`` and ``reduction="mean"``: the
        exact path of every release so far) or does not use any knowledge (``mode="decoder"``).
        """
        if self.mode == "decoder" or (self.knowledge is None and self.reduction == "mean"):
            return None
        knowledge = self.knowledge if self.knowledge is not None else load_clip_knowledge(None)
        bands = self._bands[self._key]  # type: ignore[index]
        phrases = [[p.name, *p.synonyms] for p in ps]
        return knowledge.probabilities(self.model, self.embedding, bands[0].to(self.device), bands[2], phrases,
                                       reduction=self.reduction)

    @torch.inference_mode()
    def raw(self, prompts: PromptSet | Sequence[str] | str) -> tuple[PromptSet, SegmenterOutput, FusionResult]:
        """Decoder outputs (at stride 4) and the fused decision at full resolution, as tensors (tiling uses this).

        The fusion runs at the decoder's resolution and only the fused scores are upsampled (bilinear)
        to the image: 16x fewer pixels to fuse and one upsampling instead of two. Bilinear
        interpolation of the scores is a convex combination per pixel, so they stay in [0, 1].
        A taught prompt set (:meth:`adapt`, ``docs/teach.md``) corrects the stride-4 scores with its head.
        """
        ps = resolve_prompts(prompts)
        emb = self.embedding
        out, _, conf, scores = self._zero_shot_low(ps)
        teaching = T.teaching_of(ps)
        if teaching is not None and teaching.head.taught:
            bands = self._bands[self._key]  # type: ignore[index]
            T.check_compatible(teaching.head, ps.names, bands[1], bands[2], self.fingerprint())
            scores = teaching.head.apply(scores, self.image_features(), lambda x: upsample_to(x, emb))
        index, confidence = decide(scores, ps.thresholds)
        self.stats["predicts"] += 1
        return ps, out, FusionResult(scores=scores, class_index=index, confidence=confidence, class_confidence=conf)

    # --- teaching --------------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """Content hash of the model's weights (:func:`lslib.inference.teach.model_fingerprint`), once per predictor."""
        if self._fingerprint is None:
            self._fingerprint = T.model_fingerprint(self.model)
        return self._fingerprint

    def image_features(self) -> T.ImageFeatures:
        """Teaching features of the current image (:class:`lslib.inference.teach.ImageFeatures`), once per image."""
        if self._features is not None and self._features[0] == self._key:
            return self._features[1]
        _, template = self._embeddings[self._key]  # type: ignore[index]
        feats = T.ImageFeatures.build(self.embedding.pixels, self._bands[self._key][0], template.values)  # type: ignore[index]
        self._features = (str(self._key), feats)
        return feats

    def _labelled(self, ps: PromptSet, points: Sequence[T.Point]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                          list[str], torch.Tensor]:
        """Points -> (rows, cols, labels, notes, zero-shot scores (N, K) at them) on the current image."""
        template = self._embeddings[self._key][1]  # type: ignore[index]
        rows, cols, labels, notes = T.to_cells(
            points, template.rio.transform(), (template.shape[0], template.shape[1]), template.values.astype(bool),
            ps.names,
        )
        full = self._zero_shot_low(ps)[3]
        prior = full[0][:, torch.as_tensor(rows), torch.as_tensor(cols)].T
        return rows, cols, labels, notes, prior

    @torch.inference_mode()
    def adapt(
        self,
        prompts: PromptSet | Sequence[str] | str,
        points: Sequence[T.Point | tuple[float, float, str]],
        *,
        strength: float = T.DEFAULT_STRENGTH,
        gamma: float = T.DEFAULT_GAMMA,
        features: Sequence[str] = T.FEATURES,
        crs: Any = None,  # anything pyproj.CRS.from_user_input accepts (str, EPSG int, pyproj/rasterio CRS, dict)
    ) -> PromptSet:
        """Teach the current image's map from labelled pixels; returns the *taught* prompt set.

        Args:
            prompts: the classes (names, ``"a, b"``, a preset key or a :class:`PromptSet`).
            points: ``(x, y, class name)`` in the image's CRS (or :class:`~lslib.inference.teach.Point`);
                classes without points stay zero-shot; points of classes not in ``prompts`` are ignored
                (noted in ``teaching.notes``).
            strength: penalty on the correction (smaller: each click moves more; ``docs/teach.md``).
            gamma: kernel width (larger: a click moves only pixels that look more like it).
            features: what the head reads: ``"pixels"`` (decoder features) and/or ``"bands"``.
            crs: the points' CRS when it is not the image's (they are transformed to it).

        ``predictor.predict(taught)`` maps with the correction (on this or any image of the same band set
        and model), ``lslib.inference.teach.save_taught(taught, "taught.yaml")`` writes it for ``lslib predict``.
        Never re-encodes the image.

        Raises:
            TeachError: points outside the image or on nodata, an empty class name, too many points.
        """
        ps = resolve_prompts(prompts)
        emb_key = self._key
        if emb_key is None:
            raise RuntimeError("no image set: call predictor.set_image(da) first")
        template = self._embeddings[emb_key][1]
        img_crs = template.rio.crs if hasattr(template, "rio") else None
        pts = [p if isinstance(p, T.Point) else T.Point(float(p[0]), float(p[1]), str(p[2])) for p in points]
        if crs is not None and img_crs is not None and str(crs) != str(img_crs):
            from pyproj import Transformer

            tr = Transformer.from_crs(crs, img_crs, always_xy=True)
            pts = [T.Point(*tr.transform(p.x, p.y), p.name) for p in pts]
        rows, cols, labels, notes, prior = self._labelled(ps, pts)
        feats = self.image_features()
        bands = self._bands[emb_key]
        head = T.fit_head(
            feats.at(rows, cols, features), labels, prior, ps.names, stats=feats.stats, features=tuple(features),
            strength=strength, gamma=gamma, bands=bands[1], wavelengths=bands[2], model=self.fingerprint(),
        )
        kept = [p for p in pts if p.name in ps.names]
        teaching = T.Teaching(head, tuple(kept), None if img_crs is None else img_crs.to_string(), notes)
        return replace(ps, extra={**{k: v for k, v in ps.extra.items() if k != "path"}, "teaching": teaching})

    def held_out_accuracy(self, taught: PromptSet, *, loo_below: int = 30) -> dict[str, Any]:
        """Leave-one-out (or 5-fold) accuracy of the teaching of ``taught`` at its own points.

        On the current image, every point predicted by a head fitted without it
        (:func:`lslib.inference.teach.held_out_accuracy`).
        """
        teaching = T.teaching_of(taught)
        if teaching is None:
            raise T.TeachError("this prompt set is not taught")
        head = teaching.head
        with torch.inference_mode():
            rows, cols, labels, _, prior = self._labelled(taught, teaching.points)
            feats = self.image_features()
        return T.held_out_accuracy(
            feats.at(rows, cols, head.features), labels, prior, taught.names, stats=feats.stats,
            features=head.features, strength=head.strength, gamma=head.gamma, loo_below=loo_below,
        )

    def predict(self, prompts: PromptSet | Sequence[str] | str, *, probabilities: bool = False) -> Prediction:
        """Zero-shot map of the current image for ``prompts`` (names, ``"a, b, c"`` or a :class:`PromptSet`).

        Returns a :class:`Prediction` whose DataArrays share the image's grid and CRS; nodata pixels
        (NaN in every band) are ``-1`` in ``class_map`` and NaN in ``confidence``.
        """
        ps, _, result = self.raw(prompts)
        _, template = self._embeddings[self._key]  # type: ignore[index]
        valid = template.values.astype(bool)
        index = result.class_index[0].cpu().numpy().astype(np.int16)
        index[~valid] = UNKNOWN
        conf = result.confidence[0].float().cpu().numpy()
        conf[~valid] = np.nan
        class_map = template.copy(data=index).rename("class_map")
        class_map.attrs = {"classes": list(ps.names), "unknown": UNKNOWN, "long_name": "zero-shot land cover"}
        class_map = class_map.rio.write_nodata(UNKNOWN, encoded=False) if hasattr(class_map, "rio") else class_map
        confidence = template.copy(data=conf.astype(np.float32)).rename("confidence")
        confidence.attrs = {"long_name": "fused class score of the winning class"}
        probs = None
        if probabilities:
            scores = result.scores[0].float().cpu().numpy()
            scores[:, ~valid] = np.nan
            probs = xr.DataArray(
                scores,
                dims=("class", "y", "x"),
                coords={"class": list(ps.names), "y": template["y"], "x": template["x"]},
                name="probabilities",
            )
            if "spatial_ref" in template.coords:
                probs = probs.assign_coords(spatial_ref=template["spatial_ref"])
        cc = {n: float(v) for n, v in zip(ps.names, result.class_confidence[0].tolist(), strict=True)}
        return Prediction(ps, class_map, confidence, probs, cc)
