"""The CLIP-knowledge branch: proxy attention, sliding windows, phrase reduction, loading CLIPs offline.

Quality with real CLIP weights cannot be measured here (no CLIP weights are reachable offline); these
tests check the mechanics with randomly initialised CLIPs written to a folder and loaded through the same
path a user's downloaded weights take, the real CLIP BPE vocabulary (from the ``open-clip-torch`` wheel,
installed without its dependencies) and the real OpenCLIP model code for the weight conversion.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch

from lslib.model.clip_knowledge import (
    AlignmentKnowledge,
    ClipUnavailableError,
    ProxyClipKnowledge,
    load_clip,
    load_clip_knowledge,
    proxy_attention_weights,
    reduce_phrases,
)
from lslib.model.clip_knowledge.loading import VOCAB_SIZE, bpe_tokenizer, bpe_vocabulary_file
from lslib.model.clip_knowledge.phrases import mean_embeddings, phrase_owner
from lslib.model.clip_knowledge.proxyclip import rgb_of, to_decoder_grid, windows

CHIP = "terramesh-examples-s2-esri-lulc/S2L2A/433D_629L_3_1.tif"
MAJORTOM = (
    "majortom-core-s2l2a-sample/S2L2A/199U/199U_1099R/S2B_MSIL2A_20200223T032739_N9999_R018_T48QUE_20230924T183543"
)
HAVE_OPEN_CLIP = importlib.util.find_spec("open_clip") is not None
needs_vocab = pytest.mark.skipif(not HAVE_OPEN_CLIP, reason="`pip install --no-deps open-clip-torch` (make install)")


def tiny_clip_config(width: int = 128, patch: int = 16) -> object:
    from transformers import CLIPConfig

    common = {"hidden_size": width, "intermediate_size": 2 * width, "num_hidden_layers": 2,
              "num_attention_heads": width // 64}
    text = common | {"vocab_size": VOCAB_SIZE, "max_position_embeddings": 77, "bos_token_id": 49406,
                     "eos_token_id": 49407, "pad_token_id": 49407}
    vision = common | {"image_size": 64, "patch_size": patch}
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=32)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised transformers CLIP saved as a user's downloaded folder (no tokenizer files)."""
    from transformers import CLIPModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("clip") / "my-clip"
    CLIPModel(tiny_clip_config()).save_pretrained(folder)  # type: ignore[arg-type]
    return folder


@pytest.fixture(scope="module")
def released():  # type: ignore[no-untyped-def]
    from lslib.model.build import load_released

    return load_released()


# --- pure parts, checked by hand --------------------------------------------------------------------
def test_proxy_attention_by_hand() -> None:
    """Patches 1, 2 alike, 3 different: S = [[1,1,0],[1,1,0],[0,0,1]], mean 5/9; (S - 1.2 mean) * 3 =
    [[1,1,-2],[1,1,-2],[-2,-2,1]]; negatives masked -> rows [.5,.5,0], [.5,.5,0], [0,0,1]."""
    proxy = torch.tensor([[[2.0, 1.0, 0.0], [0.0, 0.0, 5.0]]])  # (B=1, C=2, N=3), scale does not matter
    a = proxy_attention_weights(proxy, beta=1.2, gamma=3.0)
    torch.testing.assert_close(a[0], torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]))


def test_proxy_attention_never_empties_a_row() -> None:
    """All patches alike: every similarity is below beta x mean; each patch keeps attending to itself."""
    a = proxy_attention_weights(torch.ones(1, 4, 5))
    torch.testing.assert_close(a[0], torch.eye(5))
    assert a.isfinite().all()


def test_windows_cover_the_image_on_the_proxy_grid() -> None:
    assert list(windows(512, 256, 256)) == [(0, 256), (256, 512)]
    assert list(windows(300, 256, 256)) == [(0, 256), (32, 300)]  # last moved back, start on the 16-px grid
    assert list(windows(200, 256, 256)) == [(0, 200)]
    for size in (17, 255, 257, 700):
        covered = torch.zeros(size, dtype=torch.bool)
        for a, b in windows(size, 256, 256):
            assert a % 16 == 0 and b - a <= 256 + 15
            covered[a:b] = True
        assert covered.all()


def test_phrase_reduction_by_hand() -> None:
    flat, owner = phrase_owner([["water", "lake"], ["forest"], ["crops", "fields", "orchard"]])
    assert flat == ["water", "lake", "forest", "crops", "fields", "orchard"] and owner.tolist() == [0, 0, 1, 2, 2, 2]
    probs = torch.tensor([0.1, 0.3, 0.2, 0.05, 0.25, 0.1]).view(1, 6, 1, 1)
    torch.testing.assert_close(reduce_phrases(probs, owner, 3).flatten(), torch.tensor([0.3, 0.2, 0.25]))
    vecs = torch.eye(6)
    mean = mean_embeddings(vecs, owner, 3)
    torch.testing.assert_close(mean[0], torch.tensor([1.0, 1.0, 0, 0, 0, 0]) / 2**0.5)
    with pytest.raises(ValueError, match="no phrase"):
        phrase_owner([["water"], []])


def test_rgb_bands_by_wavelength_and_a_clear_error_without_them() -> None:
    bands = torch.arange(4.0).view(1, 4, 1, 1) / 4
    rgb = rgb_of(bands, [0.49, 0.56, 0.665, 0.842])  # blue, green, red, nir
    assert rgb.flatten().tolist() == [0.5, 0.25, 0.0]
    with pytest.raises(ValueError, match="red band"):
        rgb_of(torch.zeros(1, 2, 1, 1), [55_000.0, 55_000.0])  # SAR


# --- tokenizer ----------------------------------------------------------------------------------------
@needs_vocab
def test_the_real_clip_bpe_vocabulary_from_the_open_clip_wheel() -> None:
    path = bpe_vocabulary_file()
    assert path.name == "bpe_simple_vocab_16e6.txt.gz" and "open_clip" in str(path)
    tok = bpe_tokenizer(path)
    assert len(tok) == VOCAB_SIZE == 49408
    # OpenAI CLIP's ids for this sentence (49406 start, 49407 end)
    assert tok("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]


# --- loading --------------------------------------------------------------------------------------------
@needs_vocab
def test_a_local_transformers_folder_loads_and_maps(clip_folder: Path, released, sample_dir) -> None:  # type: ignore[no-untyped-def]
    """ProxyCLIP on a 300 x 280 crop (two sliding windows each way, the last moved back) through the Predictor."""
    from lslib.data.readers import read_sentinel2
    from lslib.inference import Predictor
    from lslib.prompt_set import ClassPrompt, PromptSet

    knowledge = load_clip_knowledge(clip_folder)
    assert isinstance(knowledge, ProxyClipKnowledge) and knowledge.name == str(clip_folder)
    image = read_sentinel2(sample_dir(MAJORTOM)).isel(y=slice(100, 400), x=slice(100, 380))
    phrases = [["water", "lake"], ["trees"], ["crops", "fields"]]
    prompts = PromptSet(classes=tuple(ClassPrompt(name=p[0], synonyms=tuple(p[1:])) for p in phrases))
    predictor = Predictor(released, clip=knowledge, mode="official", reduction="max")
    predictor.set_image(image)
    emb = predictor.embedding
    bands = predictor._bands[predictor.current_key]  # the stretched bands the fusion uses
    probs = knowledge.probabilities(released, emb, bands[0], bands[2], phrases, reduction="mean")
    assert probs.shape == (1, 3, *emb.pixels.shape[-2:])
    assert torch.allclose(probs.sum(1), torch.ones(()), atol=1e-4)  # mean: a softmax over the classes
    maxed = knowledge.probabilities(released, emb, bands[0], bands[2], phrases, reduction="max")
    assert maxed.shape == probs.shape and bool((maxed >= 0).all() and (maxed <= 1).all())
    torch.testing.assert_close(predictor.knowledge_probabilities(prompts), maxed)  # what the fusion receives
    pred = predictor.predict(prompts)
    assert pred.class_map.shape == (300, 280) and set(pred.class_map.values.ravel().tolist()) <= {-1, 0, 1, 2}


def test_the_alignment_knowledge_with_one_phrase_is_the_decoders_similarity(released, sample) -> None:  # type: ignore[no-untyped-def]
    from lslib.data.readers import read_sentinel2
    from lslib.fusion import similarity_probabilities
    from lslib.inference import Predictor

    predictor = Predictor(released)
    predictor.set_image(read_sentinel2(sample(CHIP)).isel(y=slice(0, 96), x=slice(0, 96)))
    names = ["water", "trees", "crops"]
    with torch.inference_mode():  # as the Predictor (the embedding is an inference tensor)
        text = released.encode_prompts(names, batch_size=16)
        out = released.decode(predictor.embedding, text, upsample=False)
        expected = similarity_probabilities(out.similarity, scale=released.alignment.scale())
    got = AlignmentKnowledge().probabilities(released, predictor.embedding, torch.zeros(1), [], [[n] for n in names],
                                             reduction="max")
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def _real_openclip_module() -> types.ModuleType:
    """``open_clip.model`` from the installed wheel without running ``open_clip/__init__`` (torchvision)."""
    spec = importlib.util.find_spec("open_clip")
    assert spec is not None and spec.submodule_search_locations
    saved = {k: sys.modules.get(k) for k in ("torchvision", "torchvision.ops", "torchvision.ops.misc", "open_clip",
                                             "open_clip.hf_model", "open_clip.timm_model")}
    misc = types.ModuleType("torchvision.ops.misc")
    misc.FrozenBatchNorm2d = torch.nn.BatchNorm2d  # type: ignore[attr-defined]  # only ResNet towers use it
    pkg = types.ModuleType("open_clip")
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg.__spec__ = spec
    stubs = {"torchvision": types.ModuleType("torchvision"), "torchvision.ops": types.ModuleType("torchvision.ops"),
             "torchvision.ops.misc": misc, "open_clip": pkg}
    for name, attr in (("hf_model", "HFTextEncoder"), ("timm_model", "TimmModel")):  # not used by ViT CLIPs
        stub = types.ModuleType(f"open_clip.{name}")
        setattr(stub, attr, None)
        stubs[f"open_clip.{name}"] = stub
    sys.modules.update(stubs)
    try:
        return importlib.import_module("open_clip.model")
    finally:
        for k, v in saved.items():
            if k.startswith("torchvision") or v is not None:
                sys.modules.pop(k, None)
                if v is not None:
                    sys.modules[k] = v


@needs_vocab
def test_openclip_weights_convert_exactly(tmp_path: Path) -> None:
    """A real OpenCLIP ViT (the wheel's model code, random weights, QuickGELU as OpenAI/RemoteCLIP) saved as
    ``open_clip_pytorch_model.bin``: the converted transformers CLIP gives the same text and image features."""
    oc = _real_openclip_module()
    torch.manual_seed(1)
    model = oc.CLIP(embed_dim=32, quick_gelu=True,
                    vision_cfg=oc.CLIPVisionCfg(layers=2, width=128, head_width=64, image_size=64, patch_size=16),
                    text_cfg=oc.CLIPTextCfg(context_length=77, vocab_size=VOCAB_SIZE, width=128, heads=2,
                                            layers=2)).eval()
    for name in list(sys.modules):
        if name.startswith("open_clip."):
            sys.modules.pop(name)
    torch.save(model.state_dict(), tmp_path / "open_clip_pytorch_model.bin")
    hf, tok, _ = load_clip(tmp_path)
    ids = tok(["a satellite image of a river.", "forest"], padding="max_length", max_length=77, return_tensors="pt")
    with torch.no_grad():
        ours = hf.text_projection(hf.text_model(input_ids=ids["input_ids"],
                                                attention_mask=ids["attention_mask"]).pooler_output)
        torch.testing.assert_close(ours, model.encode_text(ids["input_ids"]), atol=1e-5, rtol=1e-4)
        x = torch.randn(2, 3, 64, 64)
        ours = hf.visual_projection(hf.vision_model(pixel_values=x).pooler_output)
        torch.testing.assert_close(ours, model.encode_image(x), atol=1e-5, rtol=1e-4)


def test_an_offline_hub_id_fails_at_once_with_the_download_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ClipUnavailableError, match="hf download openai/clip-vit-base-patch16 --local-dir"):
        load_clip("openai/clip-vit-base-patch16")
    with pytest.raises(ClipUnavailableError, match="hf download chendelong/RemoteCLIP"):
        load_clip_knowledge("hf-hub:chendelong/RemoteCLIP")
    with pytest.raises(ClipUnavailableError, match="no such file"):
        load_clip("./no/such/clip")


def test_a_folder_without_clip_weights_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ClipUnavailableError, match="neither a transformers CLIP"):
        load_clip(tmp_path)


def test_knowledge_is_padded_to_the_decoder_grid_by_replicating_the_border() -> None:
    emb = types.SimpleNamespace(pixels=torch.zeros(1, 8, 4, 3))  # the padded input's stride-4 grid
    probs = torch.arange(2 * 3 * 2, dtype=torch.float32).view(1, 2, 3, 2)  # ceil(H/4) x ceil(W/4) of the image
    grid = to_decoder_grid(probs, emb)  # type: ignore[arg-type]
    assert grid.shape == (1, 2, 4, 3)
    torch.testing.assert_close(grid[..., :3, :2], probs)
    torch.testing.assert_close(grid[..., 3, :2], probs[..., 2, :])  # last row repeated
    torch.testing.assert_close(grid[..., 2], grid[..., 1])  # last column repeated


def test_sliding_window_logits_average_overlapping_windows_on_the_stride_4_grid(clip_folder: Path) -> None:
    """300 x 280 px: rows (0, 256), (32, 300) and columns (0, 256), (16, 280) overlap; the result covers
    ceil(H/4) x ceil(W/4) cells, and equals the first window alone where only it reaches (rows < 32, cols < 16)."""
    from transformers import CLIPModel

    model = CLIPModel.from_pretrained(str(clip_folder), local_files_only=True)
    knowledge = ProxyClipKnowledge(model, tokenizer=None)
    torch.manual_seed(0)
    rgb, proxy = torch.rand(1, 3, 300, 280), torch.randn(1, 8, 19, 18)
    text = torch.nn.functional.normalize(torch.randn(3, 32), dim=1)
    out = knowledge.logits(rgb, proxy, text)
    assert out.shape == (1, 3, 75, 70) and out.isfinite().all() and float(out.abs().max()) <= 1.0 + 1e-5
    first = knowledge.image_features(rgb[:, :, :256, :256], proxy[:, :, :16, :16])
    sim = torch.nn.functional.interpolate(torch.einsum("bdhw,qd->bqhw", first, text), size=(64, 64),
                                          mode="bilinear", align_corners=False)
    torch.testing.assert_close(out[:, :, :8, :4], sim[:, :, :8, :4])  # top-left: only the first window
    assert not torch.allclose(out[:, :, 8:16, 4:8], sim[:, :, 8:16, 4:8])  # the overlap is an average
