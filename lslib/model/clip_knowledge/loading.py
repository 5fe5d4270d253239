"""Loading a CLIP for :class:`~.proxyclip.ProxyClipKnowledge`: a folder, a file of OpenCLIP weights, a hub id.

Where the weights may come from (``spec``):

* a folder written by transformers (``CLIPModel.save_pretrained``; ``config.json`` + weights, e.g.
  ``openai/clip-vit-base-patch16`` downloaded with ``hf download openai/clip-vit-base-patch16 --local-dir DIR``);
* an OpenCLIP checkpoint (a ``.pt``/``.bin``/``.safetensors`` file, or a folder holding
  ``open_clip_model.safetensors`` / ``open_clip_pytorch_model.bin``): GeoRSCLIP and RemoteCLIP are
  distributed this way. Its state dict is converted to a transformers ``CLIPModel``
  (:func:`openclip_to_transformers`), so neither open_clip nor torchvision has to be importable;
* online only, a hub id: a transformers CLIP repository (``openai/clip-vit-base-patch16``) or an OpenCLIP
  one (``hf-hub:<owner>/<repo>``). Offline (``HF_HUB_OFFLINE=1`` or ``LSLIB_OFFLINE=1``) a hub id fails at
  once with :class:`ClipUnavailableError` naming the command that downloads it.

The tokenizer is the folder's own when it has one, else the CLIP BPE vocabulary
(``bpe_simple_vocab_16e6.txt.gz``) from the folder or from an installed ``open-clip-torch`` wheel
(``pip install --no-deps open-clip-torch``: only its vocabulary file is used), converted to a
transformers ``CLIPTokenizer``.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch

from lslib.model.clip_knowledge.alignment import AlignmentKnowledge
from lslib.model.clip_knowledge.phrases import ClipKnowledge
from lslib.model.text_encoder import hub_offline

if TYPE_CHECKING:
    from transformers import CLIPModel

BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
VOCAB_SIZE = 49408  # 256 bytes x 2 (with/without </w>) + 48894 merges + 2 special tokens
OPENCLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")


class ClipUnavailableError(OSError):
    """The CLIP asked for cannot be loaded here (offline hub id, missing file, unknown layout)."""


def _offline() -> bool:
    """The hub is off limits: ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` (:func:`hub_offline`) or ``LSLIB_OFFLINE``."""
    return hub_offline() or os.environ.get("LSLIB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}


# --- tokenizer -----------------------------------------------------------------------------------
def bpe_vocabulary_file(folder: Path | None = None) -> Path:
    """The CLIP BPE vocabulary: ``folder``'s own, else the one inside an installed ``open-clip-torch``.

    The package is located without importing it (its ``__init__`` imports torchvision).

    Raises:
        ClipUnavailableError: neither exists.
    """
    if folder is not None and (folder / BPE_FILE).is_file():
        return folder / BPE_FILE
    try:
        spec = importlib.util.find_spec("open_clip")
    except ValueError:  # a half-imported open_clip in sys.modules without a spec
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / BPE_FILE).is_file():
            return Path(location) / BPE_FILE
    raise ClipUnavailableError(
        f"no CLIP tokenizer: the weights come without one and {BPE_FILE} was not found; install the vocabulary "
        "with `pip install --no-deps open-clip-torch` (only its vocabulary file is used) or put the file next "
        "to the weights"
    )


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from bytes to printable unicode characters."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars = keep[:]
    n = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(keep, (chr(c) for c in chars), strict=True))


def tokenizer_files(bpe: Path, out: Path) -> tuple[Path, Path]:
    """Write transformers' ``vocab.json`` + ``merges.txt`` for CLIP's BPE vocabulary ``bpe`` into ``out``.

    The order is CLIP's own (``open_clip.tokenizer.SimpleTokenizer``): the 256 byte characters, the same
    with ``</w>``, the 48,894 merges, then ``<|startoftext|>`` and ``<|endoftext|>``: 49,408 tokens.
    """
    lines = gzip.decompress(bpe.read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1: 49152 - 256 - 2 + 1]]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    out.mkdir(parents=True, exist_ok=True)
    vocab_file, merges_file = out / "vocab.json", out / "merges.txt"
    vocab_file.write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False), encoding="utf-8")
    merges_file.write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8")
    return vocab_file, merges_file


def bpe_tokenizer(bpe: Path) -> Any:
    """A transformers ``CLIPTokenizer`` on CLIP's BPE vocabulary file (cached files under the lslib cache)."""
    from transformers import CLIPTokenizer

    digest = hashlib.sha256(bpe.read_bytes()).hexdigest()[:16]
    root = Path(os.environ.get("LSLIB_CACHE_DIR", Path.home() / ".cache" / "lslib")) / "clip-tokenizer" / digest
    if not (root / "merges.txt").is_file():
        tokenizer_files(bpe, root)
    return CLIPTokenizer(str(root / "vocab.json"), str(root / "merges.txt"), pad_token="<|endoftext|>")


# --- OpenCLIP checkpoints ------------------------------------------------------------------------
def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: Any = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    return {re.sub(r"^module\.", "", k): v for k, v in state.items()}


def _blocks(state: dict[str, torch.Tensor], prefix: str) -> int:
    found = {int(m.group(1)) for k in state if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
    return max(found) + 1 if found else 0


def openclip_config(state: dict[str, torch.Tensor], *, activation: str = "quick_gelu") -> Any:
    """A transformers ``CLIPConfig`` read from the shapes of an OpenCLIP ViT state dict (64-dim heads).

    ``activation``: ``"quick_gelu"`` for OpenAI CLIP and models fine-tuned from it (RemoteCLIP,
    GeoRSCLIP ViT-B/32), ``"gelu"`` for models trained by OpenCLIP from scratch (LAION).
    """
    from transformers import CLIPConfig

    if "visual.conv1.weight" not in state or "token_embedding.weight" not in state:
        raise ClipUnavailableError(
            "not an OpenCLIP ViT checkpoint (no visual.conv1 / token_embedding): ResNet, timm and HF-text "
            "towers are not supported; use a ViT CLIP (ViT-B/16, ViT-B/32, ViT-L/14)"
        )
    conv = state["visual.conv1.weight"]
    v_width, patch = conv.shape[0], conv.shape[-1]
    grid = round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    t_vocab, t_width = state["token_embedding.weight"].shape
    vision = {
        "hidden_size": v_width, "patch_size": patch, "image_size": grid * patch,
        "num_hidden_layers": _blocks(state, "visual.transformer.resblocks."), "num_attention_heads": v_width // 64,
        "intermediate_size": state["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
        "hidden_act": activation, "layer_norm_eps": 1e-5,
    }
    text = {
        "hidden_size": t_width, "vocab_size": t_vocab,
        "max_position_embeddings": state["positional_embedding"].shape[0],
        "num_hidden_layers": _blocks(state, "transformer.resblocks."), "num_attention_heads": t_width // 64,
        "intermediate_size": state["transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
        "hidden_act": activation, "layer_norm_eps": 1e-5,
        "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 49407,
    }
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=state["visual.proj"].shape[1])


def _block_keys(src: str, dst: str) -> list[tuple[str, str]]:
    return [(f"{src}.ln_1", f"{dst}.layer_norm1"), (f"{src}.ln_2", f"{dst}.layer_norm2"),
            (f"{src}.attn.out_proj", f"{dst}.self_attn.out_proj"), (f"{src}.mlp.c_fc", f"{dst}.mlp.fc1"),
            (f"{src}.mlp.c_proj", f"{dst}.mlp.fc2")]


def openclip_to_transformers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an OpenCLIP ViT state dict to transformers ``CLIPModel`` keys (split qkv, transpose projections)."""
    out: dict[str, torch.Tensor] = {
        "vision_model.embeddings.class_embedding": state["visual.class_embedding"],
        "vision_model.embeddings.patch_embedding.weight": state["visual.conv1.weight"],
        "vision_model.embeddings.position_embedding.weight": state["visual.positional_embedding"],
        "visual_projection.weight": state["visual.proj"].T.contiguous(),
        "text_model.embeddings.token_embedding.weight": state["token_embedding.weight"],
        "text_model.embeddings.position_embedding.weight": state["positional_embedding"],
        "text_projection.weight": state["text_projection"].T.contiguous(),
        "logit_scale": state["logit_scale"].reshape(()),
    }
    pairs = [("visual.ln_pre", "vision_model.pre_layrnorm"), ("visual.ln_post", "vision_model.post_layernorm"),
             ("ln_final", "text_model.final_layer_norm")]
    towers = (("visual.transformer.resblocks", "vision_model.encoder.layers"),
              ("transformer.resblocks", "text_model.encoder.layers"))
    for src_root, dst_root in towers:
        for i in range(_blocks(state, src_root + ".")):
            src, dst = f"{src_root}.{i}", f"{dst_root}.{i}"
            pairs += _block_keys(src, dst)
            for kind in ("weight", "bias"):
                q, k, v = state[f"{src}.attn.in_proj_{kind}"].chunk(3, dim=0)
                out |= {f"{dst}.self_attn.q_proj.{kind}": q, f"{dst}.self_attn.k_proj.{kind}": k,
                        f"{dst}.self_attn.v_proj.{kind}": v}
    for src, dst in pairs:
        for kind in ("weight", "bias"):
            out[f"{dst}.{kind}"] = state[f"{src}.{kind}"]
    return out


def load_openclip(path: Path, *, activation: str = "quick_gelu") -> CLIPModel:
    """A transformers ``CLIPModel`` holding the weights of an OpenCLIP ViT checkpoint file."""
    from transformers import CLIPModel

    state = _read_state_dict(path)
    model = CLIPModel(openclip_config(state, activation=activation))
    missing, unexpected = model.load_state_dict(openclip_to_transformers(state), strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ClipUnavailableError(f"{path}: OpenCLIP weights do not fit: missing {missing[:5]}, "
                                   f"unexpected {unexpected[:5]}")
    return _eval(model)


def _eval(model: CLIPModel) -> CLIPModel:
    """``model.eval()``, typed: transformers leaves ``PreTrainedModel.eval`` unannotated (it returns the model)."""
    set_eval = cast("Callable[[], CLIPModel]", model.eval)
    return set_eval()


# --- any spec --------------------------------------------------------------------------------------
def _openclip_file(folder: Path) -> Path | None:
    for name in OPENCLIP_FILES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and "open_clip" in p.name)
    return found[0] if found else None


def _from_folder(folder: Path, activation: str) -> tuple[CLIPModel, Any]:
    from transformers import CLIPModel, CLIPTokenizer

    if (folder / "config.json").is_file() and not _openclip_file(folder):
        model = _eval(CLIPModel.from_pretrained(str(folder), local_files_only=True))
        if (folder / "vocab.json").is_file() or (folder / "tokenizer.json").is_file():
            return model, CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
        return model, bpe_tokenizer(bpe_vocabulary_file(folder))
    weights = _openclip_file(folder)
    if weights is None:
        raise ClipUnavailableError(
            f"{folder} holds neither a transformers CLIP (config.json + weights) nor OpenCLIP weights "
            f"({', '.join(OPENCLIP_FILES)})"
        )
    return load_openclip(weights, activation=activation), bpe_tokenizer(bpe_vocabulary_file(folder))


def _from_hub(spec: str, activation: str) -> tuple[CLIPModel, Any]:
    if _offline():
        raise ClipUnavailableError(
            f"{spec!r} is not a local folder or file and lslib is offline (HF_HUB_OFFLINE/LSLIB_OFFLINE): on a "
            f"machine with internet run `hf download {spec.removeprefix('hf-hub:')} --local-dir DIR` and pass DIR"
        )
    from huggingface_hub import hf_hub_download, snapshot_download

    if spec.startswith("hf-hub:"):
        repo = spec.removeprefix("hf-hub:")
        for name in OPENCLIP_FILES:
            try:
                path = Path(hf_hub_download(repo, name))
            except OSError:  # not on the hub under this name (HTTP errors are OSErrors): try the next
                continue
            return load_openclip(path, activation=activation), bpe_tokenizer(bpe_vocabulary_file(path.parent))
        raise ClipUnavailableError(f"{repo}: none of {OPENCLIP_FILES} on the hub")
    return _from_folder(Path(snapshot_download(spec)), activation)


def load_clip(spec: str | os.PathLike[str], *, activation: str = "quick_gelu") -> tuple[CLIPModel, Any, str]:
    """``(CLIPModel, tokenizer, name)`` from a folder, an OpenCLIP weights file or (online) a hub id.

    Args:
        spec: see the module docstring.
        activation: for OpenCLIP checkpoints only (:func:`openclip_config`); transformers folders say theirs.

    Raises:
        ClipUnavailableError: offline hub id, missing path, unknown layout, no tokenizer.
    """
    path = Path(spec).expanduser()
    if path.is_dir():
        model, tok = _from_folder(path, activation)
    elif path.is_file():
        if path.suffix not in WEIGHT_SUFFIXES:
            raise ClipUnavailableError(f"{path}: expected OpenCLIP weights ({', '.join(WEIGHT_SUFFIXES)})")
        model, tok = load_openclip(path, activation=activation), bpe_tokenizer(bpe_vocabulary_file(path.parent))
    elif str(spec).startswith((".", "/", "~")) or str(spec).removeprefix("hf-hub:").count("/") != 1:
        raise ClipUnavailableError(f"{spec}: no such file or folder (a hub id is owner/name)")
    else:
        model, tok = _from_hub(str(spec), activation)
    return model, tok, str(spec)


def load_clip_knowledge(
    spec: ClipKnowledge | str | os.PathLike[str] | None = None, **options: Any
) -> ClipKnowledge:
    """The CLIP knowledge for ``spec``, ready for the fusion.

    None -> :class:`AlignmentKnowledge` (the offline default); a :class:`ClipKnowledge` -> itself; a path
    or hub id -> :class:`~.proxyclip.ProxyClipKnowledge`.

    ``options`` go to :class:`~.proxyclip.ProxyClipKnowledge` (``crop``, ``stride``, ``beta``, ``gamma``,
    ``logit_scale``, ``templates``) and ``activation`` to :func:`load_clip`.
    """
    from lslib.model.clip_knowledge.proxyclip import ProxyClipKnowledge

    if spec is None or spec == "alignment":
        return AlignmentKnowledge()
    if hasattr(spec, "probabilities") and not isinstance(spec, (str, os.PathLike)):  # duck-typed ClipKnowledge
        return spec
    activation = options.pop("activation", "quick_gelu")
    clip, tokenizer, name = load_clip(spec, activation=activation)
    return ProxyClipKnowledge(clip, tokenizer, name=name, **options)
