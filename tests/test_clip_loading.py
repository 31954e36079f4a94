"""open_clip weights: by path in every format, through the caches, and the errors when they are
missing or do not fit. Every model here is a tiny architecture built by the test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from pixengine.testing.tiny_clip import TINY_ARCH, make_tiny_clip, register_arch, save_state_dict
from omegaconf import OmegaConf

import pixengine
from pixengine import ConfigError, WeightsNotFoundError, cli
from pixengine.context import RunContext
from pixengine_plugins.clip.model import OpenClip, OpenClipOptions

TAG = "tinytag"


def make_ctx(models: dict | None = None) -> RunContext:
    return RunContext(
        device=torch.device("cpu"), width=32, height=32, steps=10, seed=0,
        config=OmegaConf.create({"models": models or {}}),
    )


def build(**options) -> OpenClip:
    return OpenClip(OpenClipOptions(**options), make_ctx())


def reference(tiny) -> torch.nn.Module:
    import open_clip

    model = open_clip.create_model(tiny.arch)
    model.load_state_dict(torch.load(tiny.path, weights_only=True))
    return model.eval()


@pytest.fixture
def isolated_caches(tmp_path, monkeypatch):
    """Empty pixengine, Hugging Face and ~/.cache/clip caches, and no downloads."""
    monkeypatch.setenv("PIXENGINE_CACHE", str(tmp_path / "pixcache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hfcache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PIXENGINE_OFFLINE", "1")
    return tmp_path


@pytest.fixture
def tagged(tiny_clip, monkeypatch):
    """The tiny architecture given a pretrained tag in open_clip's registry, hosted (nominally)
    on the Hugging Face hub with its own mean, std and QuickGELU, like the real tags."""
    import open_clip.pretrained

    cfg = {"hf_hub": "pixengine-tests/tiny-clip/", "mean": (0.5, 0.4, 0.3), "std": (0.2, 0.25, 0.3), "quick_gelu": True}
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, tiny_clip.arch, {TAG: cfg})
    return tiny_clip


@pytest.mark.parametrize("suffix", [".pt", ".bin", ".safetensors"])
def test_loads_by_path_in_every_format(tmp_path, tiny_clip, suffix):
    path = tmp_path / f"weights{suffix}"
    save_state_dict(torch.load(tiny_clip.path, weights_only=True), path)
    model = build(arch=tiny_clip.arch, pretrained=None, path=str(path))
    ref = reference(tiny_clip)
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = torch.nn.functional.normalize(ref.encode_image((images - model.mean) / model.std), dim=-1)
        assert torch.allclose(model.embed_images(images), expected, atol=1e-6)
    assert model.input_size == (32, 32)
    assert model.weights_path == str(path)


@pytest.mark.filterwarnings("ignore:`torch.jit")
def test_loads_openai_torchscript_archives_with_quickgelu(tmp_path, tiny_clip):
    """OpenAI's released .pt files are TorchScript archives with three extra integers."""
    import open_clip
    from open_clip.model import QuickGELU

    scripted_source = open_clip.create_model(tiny_clip.arch, force_quick_gelu=True)
    scripted_source.load_state_dict(torch.load(tiny_clip.path, weights_only=True))
    scripted_source.register_buffer("input_resolution", torch.tensor(32))
    path = tmp_path / "ViT-tiny.pt"
    torch.jit.save(torch.jit.script(scripted_source), str(path))
    model = build(arch=tiny_clip.arch, pretrained=None, path=str(path))
    activations = [m for m in model.clip.visual.modules() if isinstance(m, QuickGELU)]
    assert activations, "OpenAI files are QuickGELU models"
    assert torch.equal(model.clip.visual.conv1.weight, scripted_source.visual.conv1.weight)


def test_a_missing_file_names_the_model_the_place_and_the_fix(tmp_path, tiny_clip):
    missing = tmp_path / "nowhere" / "clip.safetensors"
    with pytest.raises(WeightsNotFoundError) as info:
        build(arch=tiny_clip.arch, pretrained=None, path=str(missing))
    message = str(info.value)
    assert f"weights for model '{tiny_clip.arch}' were not found" in message
    assert str(missing) in message and "no such file" in message
    assert ".path=/path/to/file" in message


def test_a_missing_tag_offline_lists_every_place_and_how_to_supply_it(isolated_caches, tiny_clip):
    with pytest.raises(WeightsNotFoundError) as info:
        build(arch="ViT-B-32", pretrained="openai")
    message = str(info.value)
    cache = isolated_caches / "pixcache" / "open_clip"
    assert "'ViT-B-32/openai'" in message
    assert f"{cache}/ViT-B-32/openai.safetensors: absent" in message
    assert f"{isolated_caches}/hfcache/models--timm--vit_base_patch32_clip_224.openai/snapshots/*/open_clip_model.safetensors" in message
    assert f"{isolated_caches}/home/.cache/clip/ViT-B-32.pt: absent" in message
    assert "download: skipped" in message
    assert "pixengine models fetch ViT-B-32/openai" in message
    assert "https://huggingface.co/timm/vit_base_patch32_clip_224.openai" in message


def test_the_error_in_a_run_names_the_models_label(isolated_caches, quick):
    with pytest.raises(WeightsNotFoundError) as info:
        pixengine.prepare("clip_pixels", width=32, height=32, **quick)
    message = str(info.value)
    assert message.startswith("models.clip: weights for model 'ViT-B-32/openai'")
    assert "models.clip.path=/path/to/file" in message


def test_found_in_pixengines_cache_with_the_tags_preprocessing(isolated_caches, tagged):
    from open_clip.model import QuickGELU

    target = isolated_caches / "pixcache" / "open_clip" / tagged.arch / f"{TAG}.pt"
    target.parent.mkdir(parents=True)
    shutil.copy(tagged.path, target)
    model = build(arch=tagged.arch, pretrained=TAG)
    assert model.weights_path == str(target)
    assert model.mean.flatten().tolist() == pytest.approx([0.5, 0.4, 0.3])
    assert model.std.flatten().tolist() == pytest.approx([0.2, 0.25, 0.3])
    assert any(isinstance(m, QuickGELU) for m in model.clip.modules())


def test_found_in_the_hugging_face_cache(isolated_caches, tagged):
    """Where open_clip itself downloads by default (hub layout: refs/main -> snapshots/REV)."""
    repo = isolated_caches / "hfcache" / "models--pixengine-tests--tiny-clip"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    save_state_dict(torch.load(tagged.path, weights_only=True), snapshot / "open_clip_model.safetensors")
    model = build(arch=tagged.arch, pretrained=TAG)
    assert model.weights_path == str(snapshot / "open_clip_model.safetensors")


def test_catalog_and_cli_show_local_availability(isolated_caches, tagged, capsys):
    entries = {e.name: e for e in OpenClip.catalog()}
    assert entries[f"{tagged.arch}/{TAG}"].local_path is None
    assert "ViT-B-32/openai" in entries and "RN50/openai" in entries
    target = isolated_caches / "pixcache" / "open_clip" / tagged.arch / f"{TAG}.safetensors"
    target.parent.mkdir(parents=True)
    save_state_dict(torch.load(tagged.path, weights_only=True), target)
    assert cli.main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    (line,) = [line for line in lines if f"{tagged.arch}/{TAG}" in line]
    assert f"local: {target}" in line
    (line,) = [line for line in lines if line.split()[:1] == ["ViT-B-32/openai"]]
    assert "not downloaded" in line
    # Each model is introduced by the first line of its docstring.
    assert f"open_clip  ({OpenClip.summary()})  [plugin clip]" in lines
    assert OpenClip.summary() and "\n" not in OpenClip.summary()


def test_fetch_without_a_network_fails_cleanly(isolated_caches, tiny_clip, capsys):
    assert cli.main(["models", "fetch", "ViT-B-32/openai"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: weights for model 'ViT-B-32/openai' were not found")
    assert "Traceback" not in err


def test_fetch_of_a_cached_entry_returns_its_path(isolated_caches, tagged, capsys):
    target = isolated_caches / "pixcache" / "open_clip" / tagged.arch / f"{TAG}.pt"
    target.parent.mkdir(parents=True)
    shutil.copy(tagged.path, target)
    assert cli.main(["models", "fetch", f"{tagged.arch}/{TAG}"]) == 0
    assert str(target) in capsys.readouterr().out


def test_weights_of_another_architecture_are_refused(tmp_path, tiny_clip):
    wide = make_tiny_clip(tmp_path, name="pixengine-tiny-clip-wider", width=96)
    with pytest.raises(ConfigError) as info:
        build(arch=tiny_clip.arch, pretrained=None, path=str(wide.path))
    assert info.value.key == "path"
    assert "does not fit open_clip" in str(info.value) and "size mismatch" in str(info.value)


def test_missing_and_unexpected_keys_are_listed(tmp_path, tiny_clip):
    state = torch.load(tiny_clip.path, weights_only=True)
    del state["visual.proj"]
    state["visual.extra_head.weight"] = torch.zeros(3)
    path = tmp_path / "broken.pt"
    torch.save(state, path)
    with pytest.raises(ConfigError) as info:
        build(arch=tiny_clip.arch, pretrained=None, path=str(path))
    message = str(info.value)
    assert "1 missing key(s): visual.proj" in message
    assert "1 unexpected key(s): visual.extra_head.weight" in message


def test_not_a_state_dict_is_refused(tmp_path, tiny_clip):
    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(ConfigError, match="not a state dict"):
        build(arch=tiny_clip.arch, pretrained=None, path=str(path))


@pytest.mark.parametrize(
    "overrides, key, words",
    [
        ({"models.clip.arch": "ViT-B-31"}, "models.clip.arch", "did you mean 'ViT-B-32'"),
        ({"models.clip.pretrained": "openia"}, "models.clip.pretrained", "did you mean 'openai'"),
        ({"models.clip.pretrained": None}, "models.clip.pretrained", "never runs CLIP with random weights"),
    ],
)
def test_options_are_checked_before_anything_loads(overrides, key, words):
    with pytest.raises(ConfigError) as info:
        pixengine.resolve("clip_pixels", **overrides)
    assert info.value.key == key
    assert words in str(info.value)
    assert info.value.source == "command line"


def test_tags_are_spelt_as_open_clip_spells_them():
    spec = pixengine.resolve("clip_pixels", **{"models.clip.arch": "ViT-B-32", "models.clip.pretrained": "LAION2B-S34B-B79K"})
    assert spec.config.models.clip.pretrained == "laion2b_s34b_b79k"


def test_the_tiny_fixture_registers_a_real_open_clip_architecture(tiny_clip):
    import open_clip

    assert tiny_clip.arch == TINY_ARCH in open_clip.list_models()
    assert Path(tiny_clip.path).is_file()
    assert register_arch  # the helper other tests use to add more sizes


def test_weights_for_another_image_size_load_with_a_warning(tiny_clip, tmp_path, capsys):
    # The same tiny ViT registered for 48-pixel images: its position embeddings have 9 rows
    # where the 32-pixel file has 4 (plus the class token). open_clip interpolates them; the
    # user is told, since a wrong `arch` is the usual cause.
    wider = register_arch(tmp_path, "pixengine-tiny-clip-48px", image_size=48)
    model = build(arch=wider, pretrained=None, path=str(tiny_clip.path))
    assert model.input_size == (48, 48)
    err = capsys.readouterr().err
    assert "holds position embeddings for 4 image patches and open_clip 'pixengine-tiny-clip-48px' has 9" in err
    build(arch=tiny_clip.arch, pretrained=None, path=str(tiny_clip.path))
    assert "position embeddings" not in capsys.readouterr().err


def test_loading_weights_does_not_warn_that_the_model_is_random(tiny_clip, caplog):
    # open_clip warns "initialized randomly" when it builds the architecture; the weights are
    # loaded right after, so the warning would only mislead the user.
    import logging

    with caplog.at_level(logging.INFO):
        build(arch=tiny_clip.arch, pretrained=None, path=str(tiny_clip.path))
    assert not [r for r in caplog.records if "initialized randomly" in r.getMessage()]
    logging.warning("No pretrained weights loaded for this message, which is not open_clip's")  # the filter is gone again
    assert any("which is not open_clip's" in r.getMessage() for r in caplog.records)


def test_a_model_built_by_hand_finds_its_label_for_the_how_to(isolated_caches, tiny_clip):
    # The label comes from the run's models section: the unbuilt open_clip section of this arch.
    ctx = make_ctx({"small": {"type": "open_clip", "arch": tiny_clip.arch}, "big": {"arch": "ViT-B-32", "type": "open_clip"}})
    ctx.models["small"] = object()  # already built
    with pytest.raises(WeightsNotFoundError) as info:
        OpenClip(OpenClipOptions(arch="ViT-B-32", pretrained="openai"), ctx)
    assert "models.big.path=/path/to/file" in str(info.value)
    with pytest.raises(WeightsNotFoundError) as info:
        OpenClip(OpenClipOptions(arch="RN50", pretrained="openai"), ctx)  # no section of this arch
    assert "models.LABEL.path=/path/to/file" in str(info.value)
